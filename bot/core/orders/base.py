"""The order back end's interface and data: what every implementation provides."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date

ORDER_STATUSES = (
    "pending",
    "processing",
    "shipped",
    "out_for_delivery",
    "delivered",
    "cancelled",
    "returned",
)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class OrderBackendError(Exception):
    """The order back end could not do what was asked; the message says why (for the logs)."""


class OrdersUnavailable(OrderBackendError):
    """The back end did not answer (down, timed out, a server error): try again later."""


class OrderRefused(OrderBackendError):
    """The back end refused a change (an unknown order, or a state that no longer allows it)."""


def find_email(text: str) -> str | None:
    match = EMAIL_RE.search(text or "")
    return match.group(0).lower() if match else None


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    price: float
    qty: int


@dataclass(frozen=True)
class Order:
    number: str
    email: str  # "" when the back end does not disclose it (an HTTP API need not)
    name: str
    status: str  # one of ORDER_STATUSES
    placed_on: date
    shipped_on: date | None
    delivered_on: date | None
    eta: date | None
    address: str
    carrier: str | None
    tracking_number: str | None
    items: tuple[Item, ...]

    @property
    def status_text(self) -> str:
        return self.status.replace("_", " ")


class OrderBackend(ABC):
    """Find an order, check the customer's email, cancel, change the address, open a return,
    and request a password reset. Order numbers are in the brand's canonical form."""

    @abstractmethod
    def find(self, number: str) -> Order | None:
        """The order, or None when there is no such order."""

    @abstractmethod
    def email_matches(self, number: str, email: str) -> bool:
        """Whether `email` is the address the order was placed with (case-insensitive)."""

    @abstractmethod
    def cancel(self, number: str) -> None:
        """Cancel the order (the flow has checked the policy; the back end may still refuse)."""

    @abstractmethod
    def change_address(self, number: str, address: str) -> None:
        """Deliver the order to `address`."""

    @abstractmethod
    def create_return(self, number: str, sku: str, reason: str) -> str:
        """Open a return of one item; the return's number."""

    @abstractmethod
    def request_password_reset(self, email: str) -> None:
        """Send a reset link when `email` is a customer's; nothing otherwise (the caller says
        the same words either way, so nobody learns who is a customer)."""
