"""Fallback counting and human handoff."""

from __future__ import annotations

import json

from actions.handoff import HANDOFF_KEY, ActionFallback, ActionHandoff, consecutive_failed_turns
from tests.unit.conftest import TRACKERS, replay, responses


def test_failed_turns_are_counted_in_a_row():
    assert consecutive_failed_turns(replay("fallback_twice", "action_fallback", 1).events) == 1
    assert consecutive_failed_turns(replay("fallback_twice", "action_fallback", 2).events) == 2


def test_a_successful_turn_or_a_hand_back_resets_the_count():
    events = json.loads((TRACKERS / "fallback_twice.json").read_text())["events"]
    assert consecutive_failed_turns(events + [{"event": "resume"}, {"event": "user"}]) == 1
    tracked = replay("track_pending", "action_track_order").events
    assert consecutive_failed_turns(tracked + [{"event": "user"}]) == 1


async def test_first_failure_says_out_of_scope(dispatcher, domain, fake_redis):
    events = await ActionFallback().run(dispatcher, replay("fallback_twice", "action_fallback", 1), domain)
    assert events == []
    assert responses(dispatcher) == ["utter_out_of_scope"]


async def test_second_failure_in_a_row_hands_over_and_pauses(dispatcher, domain, fake_redis):
    tracker = replay("fallback_twice", "action_fallback", 2)
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert [e["event"] for e in events] == ["pause"]
    assert responses(dispatcher) == ["utter_handoff_after_failures"]
    assert dispatcher.messages[0]["custom"] == {"handoff": True, "reason": "failed_turns"}
    assert tracker.sender_id in fake_redis.hashes[HANDOFF_KEY]


async def test_core_fallback_forgets_the_message(dispatcher, domain, fake_redis):
    """No confident next action (not an NLU fallback): revert, so it does not loop."""
    tracker = replay("track_pending", "track_order_form", 2)  # an "inform" message
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert [e["event"] for e in events] == ["rewind"]
    assert responses(dispatcher) == ["utter_rephrase"]


async def test_requested_handoff_pauses_and_lists_the_conversation(dispatcher, domain, fake_redis):
    tracker = replay("handoff_requested", "action_handoff")
    events = await ActionHandoff().run(dispatcher, tracker, domain)
    assert [e["event"] for e in events] == ["pause"]
    assert responses(dispatcher) == ["utter_handoff"]
    assert fake_redis.hashes[HANDOFF_KEY][tracker.sender_id].endswith("requested")


async def test_handoff_still_pauses_when_redis_is_down(dispatcher, domain, monkeypatch):
    def broken():
        raise ConnectionError("redis is down")

    monkeypatch.setattr("actions.handoff.redis_client", broken)
    events = await ActionHandoff().run(dispatcher, replay("handoff_requested", "action_handoff"), domain)
    assert [e["event"] for e in events] == ["pause"]
