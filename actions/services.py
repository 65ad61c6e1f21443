"""Cached factories for what actions use, so importing an action module does no work
and tests can swap each one (``orders_db.cache_clear()`` or monkeypatching)."""

from __future__ import annotations

import logging
from functools import lru_cache

import redis

from bot.orders import OrdersDB
from bot.settings import get_settings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def orders_db() -> OrdersDB:
    return OrdersDB(get_settings().orders_db_path)


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=2, decode_responses=True)
