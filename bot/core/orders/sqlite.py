"""The sample store's order back end: orders, customers and returns in one SQLite file.

It stands in for the shop system a real support team would call (the ``http`` back end).
The database is rebuilt from the brand's orders.json by `tandem orders reset`; the seed's
dates are days ago, so the database always holds recent orders.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.core.orders.base import Item, Order, OrderBackend, OrderBackendError

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE orders (
    number TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    placed_on TEXT NOT NULL, shipped_on TEXT, delivered_on TEXT, eta TEXT,
    address TEXT NOT NULL, carrier TEXT, tracking_number TEXT, updated_at TEXT
);
CREATE TABLE order_items (
    order_number TEXT NOT NULL REFERENCES orders(number), sku TEXT NOT NULL,
    name TEXT NOT NULL, price REAL NOT NULL, qty INTEGER NOT NULL
);
CREATE TABLE returns (
    return_number TEXT PRIMARY KEY, order_number TEXT NOT NULL REFERENCES orders(number),
    sku TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE password_resets (email TEXT NOT NULL, created_at TEXT NOT NULL);
"""


class OrdersDBError(OrderBackendError):
    """The orders database is missing or unusable; the message says how to fix it."""


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class SQLiteOrders(OrderBackend):
    """The sample store over one SQLite file. Cheap to build: opens a connection per call."""

    def __init__(self, path: Path, seed: Path | None = None) -> None:
        self.path = Path(path)
        self.seed = seed  # the brand's orders.json, which `reset` loads

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            raise OrdersDBError(
                f"orders database {self.path} does not exist; create it with `tandem orders reset`"
            )
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def reset(self, today: date | None = None) -> int:
        """(Re)build the database from the committed seed; dates become relative to today."""
        today = today or date.today()
        if self.seed is None or not self.seed.exists():
            raise OrdersDBError(f"no order seed at {self.seed}: the brand has no orders.json to load")
        orders = json.loads(self.seed.read_text())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)

        def ago(days: int | None) -> str | None:
            return None if days is None else (today - timedelta(days=days)).isoformat()

        with conn:
            conn.executescript(SCHEMA)
            for o in orders:
                eta = None if o["eta_days"] is None else (today + timedelta(days=o["eta_days"]))
                conn.execute(
                    "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL)",
                    (
                        o["number"],
                        o["email"],
                        o["name"],
                        o["status"],
                        ago(o["placed_days_ago"]),
                        ago(o["shipped_days_ago"]),
                        ago(o["delivered_days_ago"]),
                        eta.isoformat() if eta else None,
                        o["address"],
                        o["carrier"],
                        o["tracking_number"],
                    ),
                )
                conn.executemany(
                    "INSERT INTO order_items VALUES (?,?,?,?,?)",
                    [(o["number"], i["sku"], i["name"], i["price"], i["qty"]) for i in o["items"]],
                )
        conn.close()
        tmp.replace(self.path)  # atomic: a crash mid-reset leaves the old database
        logger.info("orders database %s reset with %d orders", self.path, len(orders))
        return len(orders)

    def find(self, number: str) -> Order | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM orders WHERE number = ?", (number,)).fetchone()
            if row is None:
                return None
            items = conn.execute(
                "SELECT sku, name, price, qty FROM order_items WHERE order_number = ?", (number,)
            ).fetchall()
        return Order(
            number=row["number"],
            email=row["email"],
            name=row["name"],
            status=row["status"],
            placed_on=_day(row["placed_on"]),
            shipped_on=_day(row["shipped_on"]),
            delivered_on=_day(row["delivered_on"]),
            eta=_day(row["eta"]),
            address=row["address"],
            carrier=row["carrier"],
            tracking_number=row["tracking_number"],
            items=tuple(Item(**dict(i)) for i in items),
        )

    def orders_with_status(self, status: str) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT number FROM orders WHERE status = ? ORDER BY number", (status,)
            ).fetchall()
        return [r["number"] for r in rows]

    def customer_exists(self, email: str) -> bool:
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM orders WHERE email = ? LIMIT 1", (email,)).fetchone()
        return row is not None

    def email_matches(self, number: str, email: str) -> bool:
        order = self.find(number)
        return order is not None and order.email.lower() == (email or "").lower()

    def cancel(self, number: str) -> None:
        self.set_status(number, "cancelled")

    def change_address(self, number: str, address: str) -> None:
        self.set_address(number, address)

    def request_password_reset(self, email: str) -> None:
        if email and self.customer_exists(email):
            self.record_password_reset(email)

    def set_status(self, number: str, status: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE orders SET status = ?, updated_at = ? WHERE number = ?",
                (status, _now(), number),
            )

    def set_address(self, number: str, address: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE orders SET address = ?, updated_at = ? WHERE number = ?",
                (address, _now(), number),
            )

    def create_return(self, number: str, sku: str, reason: str) -> str:
        with self._connect() as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM returns").fetchone()
            return_number = f"RMA-{700001 + count}"
            conn.execute(
                "INSERT INTO returns VALUES (?,?,?,?,?)",
                (return_number, number, sku, reason, _now()),
            )
        return return_number

    def record_password_reset(self, email: str) -> None:
        with self._connect() as conn:
            conn.execute("INSERT INTO password_resets VALUES (?, ?)", (email, _now()))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
