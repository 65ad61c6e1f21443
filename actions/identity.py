"""Identity checks expire, so a conversation id is never a key to a customer's orders.

A verified order (its number and the email that matches it) is what unlocks an order's
status, address and changes. It lives on the conversation only while one flow needs it:

- each flow starts without it (unless the message that starts the flow gives it): cancel,
  address change and return always re-check the email, and an abandoned form leaves
  nothing behind for the next flow;
- the end of every flow clears it (actions/order_flows.py: ``end_of_flow``);
- a form left idle longer than ``TANDEM_IDENTITY_IDLE_MINUTES`` (default 15) forgets it
  before it reads the next answer, and asks again.

Someone who later reuses a conversation id (a shared computer, a leaked id) finds no
verified order on it.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from bot.core.settings import get_settings

# The slots that together prove who the customer is to the order back end.
IDENTITY_SLOTS = ("order_number", "email")


def declared(domain: dict[str, Any] | None, slots: tuple[str, ...] = IDENTITY_SLOTS) -> list[str]:
    """The ones of `slots` the brand's domain has (setting an undeclared slot is an error)."""
    have = (domain or {}).get("slots") or {}
    return [slot for slot in slots if slot in have]


def given_now(tracker: Tracker) -> set[str]:
    """Identity slots the latest message itself gives (entities of the message)."""
    entities = tracker.latest_message.get("entities") or []
    return {e.get("entity") for e in entities if e.get("entity") in IDENTITY_SLOTS}


def forget(
    domain: dict[str, Any] | None,
    keep: set[str] | frozenset[str] = frozenset(),
    tracker: Tracker | None = None,
) -> list[dict]:
    """Events that clear the verified identity, except the slots in `keep` (and, given the
    tracker, the slots that are empty already)."""
    slots = [slot for slot in declared(domain) if slot not in keep]
    if tracker is not None:
        slots = [slot for slot in slots if tracker.get_slot(slot) is not None]
    return [SlotSet(slot, None) for slot in slots]


def idle_seconds(tracker: Tracker) -> float:
    """How long the conversation was quiet before the latest message: the time between
    the latest user message and the event before it (0 when there is none)."""
    events = tracker.events or []
    latest = next((i for i in range(len(events) - 1, -1, -1) if events[i].get("event") == "user"), None)
    if latest is None or latest == 0:
        return 0.0
    now, before = events[latest].get("timestamp"), events[latest - 1].get("timestamp")
    if not isinstance(now, (int, float)) or not isinstance(before, (int, float)):
        return 0.0
    return max(0.0, float(now) - float(before))


def expired(tracker: Tracker) -> bool:
    """Whether the verified identity on the conversation is too old to trust."""
    return idle_seconds(tracker) > get_settings().identity_idle_minutes * 60
