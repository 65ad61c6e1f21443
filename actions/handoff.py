"""Fallback and human handoff.

A failed turn is one the bot could not act on: NLU fallback (low confidence), an
out-of-scope message, or no confident next action. After `handoff.failed_turns_before_handoff` of them in a row
(the brand's policy.yml), or when the customer asks, the conversation is handed to a person:
the customer is told, the conversation is paused (Rasa stores the customer's messages
but the bot stops replying) and listed for agents (the console's inbox, /agent/, and
`tandem handoff list`), until an agent hands it back. The reason is "requested",
"complaint" (asked after a complaint) or "failed_turns"; $TANDEM_HANDOFF_WEBHOOK also
receives it (bot/console/webhook.py).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.services import redis_client
from bot.console import webhook
from bot.core import policy
from bot.core.settings import get_settings
from bot.stack.retention import HANDOFF_KEY  # hash: sender id -> "time reason"

logger = logging.getLogger(__name__)

FALLBACK_ACTION = "action_fallback"
RULE_FALLBACK_INTENTS = {"nlu_fallback", "out_of_scope"}  # intents whose rules call action_fallback


FAILED_ROUTES = {"clarify", "out_of_scope"}  # gate routes that mean the bot could not help


def consecutive_failed_turns(events: list[dict[str, Any]]) -> int:
    """Failed user turns in a row at the end of the conversation, this one included.

    Called when the current turn has failed (or may have). An earlier turn failed when the
    first action the bot took after it was action_fallback (no confident next action), or
    when the gate routed it to clarify or out of scope. A hand-back or restart starts afresh.
    """
    turns: list[dict[str, Any]] = []  # per user turn: first action, gate route
    for event in events:
        kind = event.get("event")
        if kind in ("resume", "restart", "session_started"):
            turns = []
        elif kind == "user":
            turns.append({"first": None, "route": None})
        elif not turns:
            continue
        elif kind == "action" and turns[-1]["first"] is None and event.get("name") != "action_listen":
            turns[-1]["first"] = event.get("name")
        elif kind == "bot":
            custom = (event.get("data") or {}).get("custom") or {}
            if isinstance(custom, dict) and custom.get("route"):
                turns[-1]["route"] = custom["route"]
    count = 1
    for turn in reversed(turns[:-1]):
        if turn["first"] != FALLBACK_ACTION and turn["route"] not in FAILED_ROUTES:
            break
        count += 1
    return count


COMPLAINT_INTENT = "complaint"


def complained(events: list[dict[str, Any]]) -> bool:
    """The customer complained in this session (NLU read a message as `complaint`)."""
    for event in reversed(events):
        if event.get("event") in ("session_started", "resume", "restart"):
            return False
        if event.get("event") == "user":
            if ((event.get("parse_data") or {}).get("intent") or {}).get("name") == COMPLAINT_INTENT:
                return True
    return False


def public_actions_url() -> str:
    """Where agents reach the console: $TANDEM_PUBLIC_ACTIONS_URL behind a proxy."""
    return os.environ.get("TANDEM_PUBLIC_ACTIONS_URL") or get_settings().actions_url


def hand_over(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> list[dict[str, Any]]:
    if reason == "requested" and complained(tracker.events):
        reason = "complaint"
    dispatcher.utter_message(
        response="utter_handoff_after_failures" if reason == "failed_turns" else "utter_handoff",
        json_message={"handoff": True, "reason": reason},
    )
    try:
        redis_client().hset(HANDOFF_KEY, tracker.sender_id, f"{int(time.time())} {reason}")
    except Exception:  # the handoff itself must not fail because the agents' list did
        logger.exception("could not list conversation %s for agents", tracker.sender_id)
    logger.info("conversation %s handed over to a human (%s)", tracker.sender_id, reason)
    try:
        webhook.notify(tracker.sender_id, reason, tracker.events, f"{public_actions_url()}/agent/")
    except Exception:
        logger.exception("the handoff webhook of %s was not sent", tracker.sender_id)
    return [ConversationPaused()]


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        return hand_over(dispatcher, tracker, "requested")


class ActionFallback(Action):
    """Ask to rephrase (or say it is out of scope); hand over after repeated failures."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        limit = int(policy.load_policy()["handoff"]["failed_turns_before_handoff"])
        if consecutive_failed_turns(tracker.events) >= limit:
            return hand_over(dispatcher, tracker, "failed_turns")
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        dispatcher.utter_message(
            response="utter_out_of_scope" if intent == "out_of_scope" else "utter_rephrase"
        )
        if intent in RULE_FALLBACK_INTENTS:
            return []
        # called as the core fallback (no confident next action): forget the message, so
        # the conversation goes on as before it instead of predicting the fallback again
        return [UserUtteranceReverted()]
