"""The order back end: what the scripted flows read and change, behind one small interface.

Two implementations, chosen in the brand's brand.yml (``orders: {backend: ...}``):

- ``sqlite`` (:mod:`bot.core.orders.sqlite`): the sample store, rebuilt from the brand's
  orders.json by `tandem orders reset`;
- ``http`` (:mod:`bot.core.orders.http`): a team's own REST API; the JSON it speaks is in
  bot/brands/README.md.

Flows never see which one runs. A back end that cannot answer raises
:class:`OrdersUnavailable`; one that refuses a change raises :class:`OrderRefused`; the
actions turn both into a clear reply (actions/order_forms.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bot.core.orders.base import (
    EMAIL_RE,
    ORDER_STATUSES,
    Item,
    Order,
    OrderBackend,
    OrderBackendError,
    OrderRefused,
    OrdersUnavailable,
    find_email,
)

if TYPE_CHECKING:
    from bot.core.settings import Settings

__all__ = [
    "EMAIL_RE",
    "ORDER_STATUSES",
    "Item",
    "Order",
    "OrderBackend",
    "OrderBackendError",
    "OrderRefused",
    "OrdersUnavailable",
    "find_email",
    "order_backend",
]


def order_backend(settings: Settings) -> OrderBackend:
    """The back end the brand's brand.yml chooses, built from its `orders` settings."""
    from bot.core.brand import BrandError

    spec = settings.brand.orders()
    kind = spec.get("backend", "sqlite")
    if kind == "sqlite":
        from bot.core.orders.sqlite import SQLiteOrders

        return SQLiteOrders(settings.orders_db_path, settings.brand.orders_seed)
    if kind == "http":
        from bot.core.orders.http import HTTPOrders

        url = os.environ.get("TANDEM_ORDERS_URL") or spec.get("url")
        if not url:
            raise BrandError(
                f"{settings.brand.root / 'brand.yml'}: the http order back end needs `orders.url` "
                "(or $TANDEM_ORDERS_URL)"
            )
        token_env = spec.get("token_env")
        return HTTPOrders(
            str(url),
            token=os.environ.get(token_env, "") if token_env else "",
            timeout=float(spec.get("timeout_s", 5)),
        )
    raise BrandError(
        f"{settings.brand.root / 'brand.yml'}: orders.backend is {kind!r}; it is `sqlite` or `http`"
    )
