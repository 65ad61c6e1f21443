"""Cached factories for what actions use, so importing an action module does no work
and tests can swap each one (``order_backend.cache_clear()`` or monkeypatching)."""

from __future__ import annotations

import logging
from functools import lru_cache

import redis

from bot.core.orders import OrderBackend
from bot.core.orders import order_backend as build_order_backend
from bot.core.settings import get_settings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def order_backend() -> OrderBackend:
    """The brand's order back end (brand.yml `orders`): the sample SQLite store or its API."""
    return build_order_backend(get_settings())


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url, socket_timeout=2, decode_responses=True)
