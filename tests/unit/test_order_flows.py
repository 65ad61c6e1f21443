"""The actions that finish each flow: they act on the orders database and say so."""

from __future__ import annotations

from actions.order_flows import (
    FLOW_SLOTS,
    ActionAskReturnItem,
    ActionCancelOrder,
    ActionChangeAddress,
    ActionRecoverPassword,
    ActionStartReturn,
    ActionTrackOrder,
)
from tests.unit.conftest import replay, responses, slot_events, tracker_from_events


async def test_track_reports_the_status(orders, dispatcher, domain):
    events = await ActionTrackOrder().run(dispatcher, replay("track_pending", "action_track_order"), domain)
    assert responses(dispatcher) == ["utter_order_status_pending"]
    assert dispatcher.messages[0]["order_number"] == "BB-100001"
    assert "Trail Runner Shoes" in dispatcher.messages[0]["items"]
    assert slot_events(events) == dict.fromkeys(FLOW_SLOTS)  # flow slots cleared, the verified order too


async def test_confirmed_cancellation_cancels_the_order(orders, dispatcher, domain):
    assert orders.find("BB-100010").status == "processing"
    await ActionCancelOrder().run(dispatcher, replay("cancel_processing", "action_cancel_order"), domain)
    assert responses(dispatcher) == ["utter_cancelled"]
    assert orders.find("BB-100010").status == "cancelled"


async def test_declined_cancellation_changes_nothing(orders, dispatcher, domain):
    await ActionCancelOrder().run(dispatcher, replay("cancel_denied", "action_cancel_order"), domain)
    assert responses(dispatcher) == ["utter_cancel_kept"]
    assert orders.find("BB-100011").status == "processing"


async def test_blocked_cancellation_says_nothing_more(orders, dispatcher, domain):
    await ActionCancelOrder().run(dispatcher, replay("cancel_shipped", "action_cancel_order"), domain)
    assert dispatcher.messages == []  # the form already explained why
    assert orders.find("BB-100017").status == "shipped"


async def test_order_that_shipped_during_the_form_is_not_cancelled(orders, dispatcher, domain):
    orders.set_status("BB-100010", "shipped")
    await ActionCancelOrder().run(dispatcher, replay("cancel_processing", "action_cancel_order"), domain)
    assert responses(dispatcher) == ["utter_cannot_cancel_now"]
    assert orders.find("BB-100010").status == "shipped"


async def test_address_change_is_saved(orders, dispatcher, domain):
    await ActionChangeAddress().run(dispatcher, replay("address_change", "action_change_address"), domain)
    assert responses(dispatcher) == ["utter_address_changed"]
    assert orders.find("BB-100009").address == "12 Oak Street, Portland, ME 04101"


async def test_return_issues_a_return_number(orders, dispatcher, domain):
    await ActionStartReturn().run(dispatcher, replay("return_multi_item", "action_start_return"), domain)
    assert responses(dispatcher) == ["utter_return_started"]
    assert dispatcher.messages[0]["return_number"] == "RMA-700001"
    assert dispatcher.messages[0]["item"] == "Meadow Folding Chair"


async def test_return_item_question_offers_the_order_items(orders, dispatcher, domain):
    tracker = replay("return_multi_item", "return_form", occurrence=3)  # asks right after the email
    await ActionAskReturnItem().run(dispatcher, tracker, domain)
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert titles == ["Meadow Picnic Blanket", "Meadow Folding Chair", "Harbor Glass Kettle"]


async def test_password_reset_answers_the_same_for_unknown_emails(orders, dispatcher, domain):
    await ActionRecoverPassword().run(dispatcher, replay("password", "action_recover_password"), domain)
    unknown = tracker_from_events([{"event": "slot", "name": "email", "value": "nobody@example.com"}])
    await ActionRecoverPassword().run(dispatcher, unknown, domain)
    assert responses(dispatcher) == ["utter_password_reset_sent", "utter_password_reset_sent"]
    with orders._connect() as conn:
        resets = [r[0] for r in conn.execute("SELECT email FROM password_resets")]
    assert resets == ["ana.silva@example.com"]  # only a real account gets an email


async def test_a_brand_without_some_flows_gets_only_its_own_slots_cleared(orders, dispatcher, domain):
    """A help desk that only tracks and cancels has no address or return slots: clearing one
    would be Rasa's "non existent slot" error at the end of every flow."""
    slots = {k: v for k, v in domain["slots"].items() if k not in ("new_address", "confirm_address")}
    events = await ActionTrackOrder().run(
        dispatcher, replay("track_pending", "action_track_order"), {**domain, "slots": slots}
    )
    assert set(slot_events(events)) == set(FLOW_SLOTS) - {"new_address", "confirm_address"}
