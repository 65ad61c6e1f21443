"""Form validation actions, run on trackers recorded from the real bot."""

from __future__ import annotations

import pytest

from actions.order_forms import (
    ValidateCancelOrderForm,
    ValidateChangeAddressForm,
    ValidatePasswordForm,
    ValidateReturnForm,
    ValidateTrackOrderForm,
)
from tests.unit.conftest import replay, responses, slot_events, tracker_from_events


async def test_order_number_is_accepted_and_email_asked_next(orders, dispatcher, domain):
    tracker = replay("track_pending", "track_order_form", occurrence=2)
    events = await ValidateTrackOrderForm().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"order_number": "BB-100001"}
    assert dispatcher.messages == []


async def test_matching_email_verifies_the_order(orders, dispatcher, domain):
    tracker = replay("track_pending", "track_order_form", occurrence=3)
    events = await ValidateTrackOrderForm().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"email": "kemi.doyle@example.com"}
    assert dispatcher.messages == []


@pytest.mark.parametrize(
    ("occurrence", "expected_slots", "expected_responses"),
    [
        # "hmm I don't know": asked again (the question says where the number is), not told off
        (2, {"order_number": None}, []),
        (3, {"order_number": None}, ["utter_order_not_found"]),  # BB-999999
        (5, {"email": None}, ["utter_email_mismatch"]),  # another customer's email
    ],
)
async def test_unhappy_answers_are_rejected_with_a_reason(
    orders, dispatcher, domain, occurrence, expected_slots, expected_responses
):
    tracker = replay("track_unknown_then_wrong_email", "track_order_form", occurrence=occurrence)
    events = await ValidateTrackOrderForm().run(dispatcher, tracker, domain)
    assert slot_events(events) == expected_slots
    assert responses(dispatcher) == expected_responses


def test_a_number_that_is_not_an_order_number_is_told_so(orders, dispatcher, domain):
    tracker = tracker_from_events([{"event": "user", "text": "it's 12345"}])
    result = ValidateTrackOrderForm().validate_order_number("it's 12345", dispatcher, tracker, domain)
    assert result == {"order_number": None} and responses(dispatcher) == ["utter_order_number_malformed"]


def test_an_email_given_for_the_order_number_or_a_number_for_the_email_is_not_told_off(
    orders, dispatcher, domain
):
    tracker = tracker_from_events([{"event": "user", "text": "ines.doyle@example.com"}])
    result = ValidateTrackOrderForm().validate_order_number(
        "ines.doyle@example.com", dispatcher, tracker, domain
    )
    assert result == {"order_number": None} and responses(dispatcher) == []  # the email slot keeps it
    tracker = tracker_from_events([{"event": "user", "text": "sorry wrong one, it's BB-100001"}])
    result = ValidateTrackOrderForm().validate_email(
        "sorry wrong one, it's BB-100001", dispatcher, tracker, domain
    )
    assert result == {"email": None} and responses(dispatcher) == []  # the order number slot takes it
    tracker = tracker_from_events([{"event": "user", "text": "not sure"}])
    ValidateTrackOrderForm().validate_email("not sure", dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_email_malformed"]


async def test_shipped_order_cannot_be_cancelled_and_form_ends(orders, dispatcher, domain):
    tracker = replay("cancel_shipped", "cancel_order_form", occurrence=2)
    events = await ValidateCancelOrderForm().run(dispatcher, tracker, domain)
    assert slot_events(events) == {
        "email": "tariq.laurent@example.com",
        "flow_blocked": True,
        "requested_slot": None,
    }
    assert responses(dispatcher) == ["utter_cannot_cancel"]
    assert dispatcher.messages[0]["cancellable"] == "pending or processing"


async def test_return_window_closed_ends_the_form(orders, dispatcher, domain):
    tracker = replay("return_window_closed", "return_form", occurrence=3)
    events = await ValidateReturnForm().run(dispatcher, tracker, domain)
    assert slot_events(events)["flow_blocked"] is True
    assert responses(dispatcher) == ["utter_return_window_closed"]


async def test_return_item_is_matched_by_name_words(orders, dispatcher, domain):
    tracker = replay("return_multi_item", "return_form", occurrence=4)  # "the folding chair"
    events = await ValidateReturnForm().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"return_item": "Meadow Folding Chair"}


def test_item_not_in_the_order_is_refused(orders, dispatcher, domain):
    tracker = replay("return_multi_item", "return_form", occurrence=4)
    result = ValidateReturnForm().validate_return_item("a tent", dispatcher, tracker, domain)
    assert result == {"return_item": None}
    assert responses(dispatcher) == ["utter_return_item_unknown"]


def test_single_item_order_needs_no_item_question(orders, dispatcher, domain):
    tracker = tracker_from_events([{"event": "slot", "name": "order_number", "value": "BB-100031"}])
    result = ValidateReturnForm().validate_email("noor.okafor@example.com", dispatcher, tracker, domain)
    assert result == {"email": "noor.okafor@example.com", "return_item": "Estuary Leather Wallet"}


def test_email_from_an_earlier_flow_is_dropped_for_another_order(orders, dispatcher, domain):
    tracker = tracker_from_events([{"event": "slot", "name": "email", "value": "kemi.doyle@example.com"}])
    result = ValidateTrackOrderForm().validate_order_number("BB-100019", dispatcher, tracker, domain)
    assert result == {"order_number": "BB-100019", "email": None}


def test_incomplete_address_is_refused(orders, dispatcher, domain):
    tracker = replay("address_change", "change_address_form", occurrence=4)
    form = ValidateChangeAddressForm()
    assert form.validate_new_address("Portland", dispatcher, tracker, domain) == {"new_address": None}
    assert responses(dispatcher) == ["utter_address_incomplete"]
    assert form.validate_new_address(" 12  Oak Street, Portland ", dispatcher, tracker, domain) == {
        "new_address": "12 Oak Street, Portland"
    }


def _asked_for(slot: str, text: str, intent: str) -> object:
    return tracker_from_events(
        [
            {"event": "slot", "name": "requested_slot", "value": slot},
            {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.9}}},
        ]
    )


@pytest.mark.parametrize(
    ("text", "intent", "taken"),
    [
        ("88 Harbour Road, Halifax, NS B3H 1A1", "inform", True),
        ("Harbour Road Halifax", "set_up_shipping_address", True),  # incomplete: validation says so
        # a question is not an address: the form declines the turn and its rules answer it
        ("wait, can i still change it after it ships?", "check_cancellation_fee", False),
        ("how long does that take", "delivery_period", False),
        ("is 12 Oak Street ok?", "check_cancellation_fee", True),  # a number: an address asked about
        ("what?", "inform", True),  # no rule answers "inform" mid-form: the form must reply
        ("never mind", "stop", False),
    ],
)
async def test_a_free_text_slot_takes_the_message_unless_it_is_a_question(
    orders, dispatcher, domain, text, intent, taken
):
    form = ValidateChangeAddressForm()
    got = await form.extract_new_address(dispatcher, _asked_for("new_address", text, intent), domain)
    assert got == ({"new_address": text} if taken else {})
    other = await form.extract_new_address(dispatcher, _asked_for("email", text, intent), domain)
    assert other == {}  # only while the form asks for it
    item = await ValidateReturnForm().extract_return_item(
        dispatcher, _asked_for("return_item", text, intent), domain
    )
    assert item == ({"return_item": text} if taken else {})


async def test_password_form_rejects_a_non_email(orders, dispatcher, domain):
    tracker = replay("password", "password_form", occurrence=2)  # "not an email"
    events = await ValidatePasswordForm().run(dispatcher, tracker, domain)
    assert slot_events(events) == {"email": None}
    assert responses(dispatcher) == ["utter_email_malformed"]


async def test_order_number_is_read_from_any_reply_even_misclassified(orders, dispatcher, domain):
    """A bare number classified as another intent is still read as the answer."""
    tracker = replay("track_pending", "track_order_form", occurrence=2)
    tracker.latest_message["text"] = "it's 100001 I think"
    tracker.latest_message["intent"] = {"name": "nlu_fallback", "confidence": 0.4}
    extracted = await ValidateTrackOrderForm().extract_order_number(dispatcher, tracker, domain)
    assert extracted == {"order_number": "BB-100001"}


def test_the_item_and_reason_the_customer_gave_before_the_form_are_not_asked_again(
    orders, dispatcher, domain
):
    # BB-100040 holds a Harbor Stainless Kettle and a Beacon Table Lamp
    said = [{"event": "user", "text": "my lamp arrived broken, what do I do?"}]
    tracker = tracker_from_events([*said, {"event": "slot", "name": "order_number", "value": "BB-100040"}])
    result = ValidateReturnForm().validate_email("chloe.adeyemi@example.com", dispatcher, tracker, domain)
    assert result == {
        "email": "chloe.adeyemi@example.com",
        "return_item": "Beacon Table Lamp",
        "return_reason": "damaged",
    }
    # an item named without a reason: the reason is still asked
    said = [{"event": "user", "text": "i want to send back the kettles"}]
    tracker = tracker_from_events([*said, {"event": "slot", "name": "order_number", "value": "BB-100040"}])
    result = ValidateReturnForm().validate_email("chloe.adeyemi@example.com", dispatcher, tracker, domain)
    assert result == {"email": "chloe.adeyemi@example.com", "return_item": "Harbor Stainless Kettle"}
    # nothing of the order named (or both): the item is asked
    for text in ["something arrived broken", "the kettle and the lamp are wrong"]:
        said = [{"event": "user", "text": text}]
        tracker = tracker_from_events(
            [*said, {"event": "slot", "name": "order_number", "value": "BB-100040"}]
        )
        result = ValidateReturnForm().validate_email("chloe.adeyemi@example.com", dispatcher, tracker, domain)
        assert result == {"email": "chloe.adeyemi@example.com"}
