"""The store's policy facts and brand details, loaded from ``bot/brand/*.yml``.

Flows decide with these values and the knowledge base publishes the same files, so one
edit changes both. Read on every call (the files are tiny), so an edit applies at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import yaml

from bot.orders import Order
from bot.settings import BRAND_DIR


def load_policy() -> dict[str, Any]:
    return yaml.safe_load((BRAND_DIR / "policy.yml").read_text())


def load_brand() -> dict[str, Any]:
    return yaml.safe_load((BRAND_DIR / "brand.yml").read_text())


def load_products() -> list[dict[str, Any]]:
    """The catalogue (bot/brand/products.yml): sku, name, category, price."""
    return yaml.safe_load((BRAND_DIR / "products.yml").read_text())


def product_names() -> list[str]:
    return [p["name"] for p in load_products()]


def can_cancel(order: Order, policy: dict[str, Any] | None = None) -> bool:
    policy = policy or load_policy()
    return order.status in policy["cancellation"]["cancellable_statuses"]


def can_change_address(order: Order, policy: dict[str, Any] | None = None) -> bool:
    policy = policy or load_policy()
    return order.status in policy["address_change"]["changeable_statuses"]


def return_deadline(order: Order, policy: dict[str, Any] | None = None) -> date | None:
    """Last day a return may be started, or None when the order was never delivered."""
    policy = policy or load_policy()
    if order.delivered_on is None:
        return None
    return order.delivered_on + timedelta(days=int(policy["returns"]["window_days"]))


def can_return(order: Order, today: date | None = None, policy: dict[str, Any] | None = None) -> bool:
    policy = policy or load_policy()
    deadline = return_deadline(order, policy)
    if order.status not in policy["returns"]["returnable_statuses"] or deadline is None:
        return False
    return (today or date.today()) <= deadline
