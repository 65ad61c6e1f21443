"""The sample store's database, the brand's order numbers and the policy rules."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import pytest

from bot.core import policy
from bot.core.brand import OrderNumbers, brand_from
from bot.core.orders import ORDER_STATUSES, find_email
from bot.core.orders.sqlite import OrdersDBError, SQLiteOrders

BRAND = brand_from("brightbay")
SEED_FILE = BRAND.orders_seed


def sample_store(path) -> SQLiteOrders:
    return SQLiteOrders(path, SEED_FILE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BB-100042", "BB-100042"),
        ("bb 100042", "BB-100042"),
        ("my order is #100042.", "BB-100042"),
        ("BB100042", "BB-100042"),
        ("order 42", None),
        ("1000421", None),
        ("", None),
    ],
)
def test_order_numbers_are_found_in_free_text(text, expected):
    assert BRAND.order_numbers().find(text) == expected


def test_another_brand_writes_its_order_numbers_its_own_way():
    numbers = OrderNumbers(pattern=r"(?:PL[\s-]?)?(\d{5})", format="PL-{}")
    assert numbers.find("plate order pl 12345 please") == "PL-12345"
    assert numbers.find("BB-100042") is None and not numbers.mentioned("BB-100042")


def test_email_is_found_and_lowercased():
    assert find_email("it's Ana.Silva@Example.com thanks") == "ana.silva@example.com"
    assert find_email("ana at example dot com") is None


def test_seed_has_50_plus_orders_in_every_state():
    counts = Counter(o["status"] for o in json.loads(SEED_FILE.read_text()))
    assert sum(counts.values()) >= 50
    assert set(counts) == set(ORDER_STATUSES)
    assert min(counts.values()) >= 5


def test_reset_makes_dates_relative_to_today(tmp_path):
    db = sample_store(tmp_path / "o.sqlite")
    db.reset(today=date(2030, 1, 31))
    order = db.find("BB-100031")  # delivered 15 days before "today" in the seed
    assert order.delivered_on == date(2030, 1, 16)


def test_reset_restores_changed_orders(tmp_path):
    db = sample_store(tmp_path / "o.sqlite")
    db.reset()
    db.set_status("BB-100001", "cancelled")
    db.reset()
    assert db.find("BB-100001").status == "pending"


def test_missing_database_says_how_to_create_it(tmp_path):
    with pytest.raises(OrdersDBError, match="tandem orders reset"):
        sample_store(tmp_path / "none.sqlite").find("BB-100001")


def test_return_window_edges(tmp_path):
    db = sample_store(tmp_path / "o.sqlite")
    db.reset()
    order = db.find("BB-100031")
    window = policy.load_policy()["returns"]["window_days"]
    last_day = order.delivered_on + timedelta(days=window)
    assert policy.can_return(order, today=last_day)
    assert not policy.can_return(order, today=last_day + timedelta(days=1))
    assert not policy.can_return(db.find("BB-100017"))  # shipped, not delivered


def test_cancel_and_address_rules_follow_policy_file(tmp_path):
    db = sample_store(tmp_path / "o.sqlite")
    db.reset()
    for number in db.orders_with_status("processing"):
        assert policy.can_cancel(db.find(number)) and policy.can_change_address(db.find(number))
    for number in db.orders_with_status("shipped"):
        assert not policy.can_cancel(db.find(number)) and not policy.can_change_address(db.find(number))
