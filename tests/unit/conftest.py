"""Fixtures of the unit tests: recorded trackers, the domain, a fresh orders database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import current_brand

TRACKERS = Path(__file__).parent / "trackers"


def replay(name: str, before_action: str, occurrence: int = 1) -> Tracker:
    """The tracker of recorded conversation `name` as it was when `before_action` ran for
    the `occurrence`-th time (the events up to that action, state rebuilt from them)."""
    events = json.loads((TRACKERS / f"{name}.json").read_text())["events"]
    seen = 0
    for index, event in enumerate(events):
        if event["event"] == "action" and event["name"] == before_action:
            seen += 1
            if seen == occurrence:
                before = events[:index]
                if before_action.endswith("_form"):
                    before += form_candidates(before)
                return tracker_from_events(before)
    raise AssertionError(f"{name} has no {occurrence}th {before_action}")


def form_candidates(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rasa's FormAction sends the validation action the slots extracted from the latest
    message again, at the end of the events: rasa-sdk validates exactly those."""
    last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
    return [dict(e) for e in events[last_user:] if e["event"] == "slot"]


def tracker_from_events(events: list[dict[str, Any]], sender: str = "test-user") -> Tracker:
    slots: dict[str, Any] = {}
    latest_message: dict[str, Any] = {}
    active_loop: dict[str, Any] = {}
    paused = False
    for event in events:
        kind = event["event"]
        if kind == "slot":
            slots[event["name"]] = event["value"]
        elif kind == "user":
            latest_message = {"text": event.get("text"), **event.get("parse_data", {})}
        elif kind == "active_loop":
            active_loop = {"name": event["name"]} if event["name"] else {}
        elif kind == "pause":
            paused = True
        elif kind == "resume":
            paused = False
        elif kind == "session_started":
            slots, active_loop = {}, {}
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": slots,
            "latest_message": latest_message,
            "events": events,
            "paused": paused,
            "followup_action": None,
            "active_loop": active_loop,
            "latest_action_name": next((e["name"] for e in reversed(events) if e["event"] == "action"), None),
        }
    )


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(current_brand().domain.glob("*.yml")):
        for key, value in yaml.safe_load(path.read_text()).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            elif isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = value
    return merged


@pytest.fixture
def orders(tmp_path, monkeypatch) -> SQLiteOrders:
    """A fresh sample store from the brand's committed seed, used by every action."""
    path = tmp_path / "orders.sqlite"
    monkeypatch.setenv("TANDEM_ORDERS_DB", str(path))
    services.order_backend.cache_clear()
    db = SQLiteOrders(path, current_brand().orders_seed)
    db.reset()
    yield db
    services.order_backend.cache_clear()


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}

    def hset(self, key: str, field: str, value: str) -> None:
        self.hashes.setdefault(key, {})[field] = value


@pytest.fixture
def fake_redis(monkeypatch) -> FakeRedis:
    fake = FakeRedis()
    monkeypatch.setattr("actions.handoff.redis_client", lambda: fake)
    return fake


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def responses(dispatcher: CollectingDispatcher) -> list[str | None]:
    """The response names (or texts) the action sent, in order."""
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
