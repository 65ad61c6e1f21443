"""A verified order expires: at the start and the end of every flow, and after an idle spell."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rasa_sdk.events import SlotSet

from actions import identity
from actions.order_flows import end_of_flow
from actions.order_forms import ValidateCancelOrderForm
from bot.core.settings import Settings
from tests.unit.conftest import tracker_from_events

MINUTE = 60.0


@pytest.fixture
def idle_limit(monkeypatch):
    """Identity expires after 15 minutes, whatever the environment says."""
    settings = replace(Settings(), identity_idle_minutes=15)
    monkeypatch.setattr(identity, "get_settings", lambda: settings)


def verified_then_silent(seconds: float, answer: str = "yes") -> list[dict]:
    """A cancel form with a verified order, then `seconds` of silence, then `answer`."""
    return [
        {
            "event": "user",
            "text": "cancel my order",
            "timestamp": 0.0,
            "parse_data": {"intent": {"name": "cancel_order"}},
        },
        {"event": "active_loop", "name": "cancel_order_form", "timestamp": 1.0},
        {"event": "slot", "name": "order_number", "value": "BB-100010", "timestamp": 10.0},
        {"event": "slot", "name": "email", "value": "olga.mendes@example.com", "timestamp": 20.0},
        {"event": "slot", "name": "requested_slot", "value": "confirm_cancel", "timestamp": 20.0},
        {"event": "bot", "text": "Shall I cancel order BB-100010?", "timestamp": 21.0},
        {
            "event": "user",
            "text": answer,
            "timestamp": 21.0 + seconds,
            "parse_data": {"intent": {"name": "affirm"}},
        },
        {"event": "slot", "name": "confirm_cancel", "value": True, "timestamp": 21.0 + seconds},
    ]


def test_idle_time_is_the_gap_before_the_latest_message():
    assert identity.idle_seconds(tracker_from_events(verified_then_silent(5 * MINUTE))) == 5 * MINUTE
    assert (
        identity.idle_seconds(tracker_from_events([{"event": "user", "text": "hi", "timestamp": 3.0}])) == 0.0
    )
    assert identity.idle_seconds(tracker_from_events([])) == 0.0


async def test_a_form_forgets_a_verified_order_left_idle_too_long(orders, dispatcher, domain, idle_limit):
    tracker = tracker_from_events(verified_then_silent(16 * MINUTE))
    events = await ValidateCancelOrderForm().run(dispatcher, tracker, domain)
    assert events[:2] == [SlotSet("order_number", None), SlotSet("email", None)]
    assert SlotSet("confirm_cancel", True) in events  # the fresh answer is still read
    assert orders.find("BB-100010").status == "processing"


async def test_a_form_keeps_a_verified_order_while_the_customer_is_there(
    orders, dispatcher, domain, idle_limit
):
    tracker = tracker_from_events(verified_then_silent(14 * MINUTE))
    events = await ValidateCancelOrderForm().run(dispatcher, tracker, domain)
    assert SlotSet("order_number", None) not in events and SlotSet("email", None) not in events


async def test_what_the_late_message_itself_gives_is_kept(orders, dispatcher, domain, idle_limit):
    events = verified_then_silent(16 * MINUTE, answer="olga.mendes@example.com")
    events[4] = {"event": "slot", "name": "requested_slot", "value": "email", "timestamp": 20.0}
    events[-1] = {
        "event": "slot",
        "name": "email",
        "value": "olga.mendes@example.com",
        "timestamp": events[-1]["timestamp"],
    }
    result = await ValidateCancelOrderForm().run(dispatcher, tracker_from_events(events), domain)
    assert result[0] == SlotSet("order_number", None)  # the old order number is forgotten
    assert SlotSet("email", None) not in result[:1]


def test_the_end_of_every_flow_clears_the_verified_order(domain):
    cleared = {e["name"] for e in end_of_flow(domain) if e["value"] is None}
    assert {"order_number", "email"} <= cleared


def test_forget_keeps_only_what_it_is_told_and_what_the_domain_has(domain):
    assert identity.forget(domain, keep={"order_number"}) == [SlotSet("email", None)]
    assert identity.forget({"slots": {"email": {}}}) == [SlotSet("email", None)]
    assert identity.forget({}) == []


def test_slots_a_message_gives_are_read_from_its_entities():
    tracker = tracker_from_events(
        [
            {
                "event": "user",
                "text": "cancel BB-100010",
                "parse_data": {"entities": [{"entity": "order_number", "value": "BB-100010"}]},
            }
        ]
    )
    assert identity.given_now(tracker) == {"order_number"}


def test_a_cleared_slot_is_not_answered_as_a_malformed_one(orders, dispatcher, domain):
    form, tracker = ValidateCancelOrderForm(), tracker_from_events([])
    assert form.validate_order_number(None, dispatcher, tracker, domain) == {"order_number": None}
    assert form.validate_email(None, dispatcher, tracker, domain) == {"email": None}
    assert dispatcher.messages == []
