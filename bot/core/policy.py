"""The store's policy rules over an order, with the facts of the brand's policy.yml.

Flows decide with these values and the knowledge base publishes the same file, so one
edit changes both. Read on every call (the file is tiny), so an edit applies at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot.core.orders import Order
from bot.core.settings import current_brand


def load_policy() -> dict[str, Any]:
    return current_brand().policy()


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
