"""Rasa's Redis tracker store, keeping personal data only while a flow needs it.

endpoints.yml names it (``type: bot.rasa_side.tracker_store.PrivateRedisTrackerStore``).
A conversation is stored as Rasa stores it, except that every text in it (what the
customer typed, what the bot answered, entity values, metadata) has its personal data
masked (bot/core/privacy.py), and so has every slot value but the current one of each
slot. A flow that is filling its form still finds its email and address in the slots;
when the flow ends it clears them (actions/order_flows.py), and the next save keeps
nothing of them.

The turn itself runs on the conversation in memory, unmasked: the customer's email is
checked against the order before it is ever saved masked.
"""

from __future__ import annotations

import json
from typing import Any

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from bot.core import privacy

TEXT_FIELDS = {"user": ("text", "parse_data", "metadata"), "bot": ("text", "data", "metadata")}


def private_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with their personal data masked, but each slot's current value."""
    current = {event.get("name"): index for index, event in enumerate(events) if event.get("event") == "slot"}
    private = []
    for index, event in enumerate(events):
        kind = event.get("event")
        if kind in TEXT_FIELDS:
            event = {
                key: privacy.mask_value(value) if key in TEXT_FIELDS[kind] else value
                for key, value in event.items()
            }
        elif kind == "slot" and current.get(event.get("name")) != index:
            event = {**event, "value": privacy.mask_value(event.get("value"))}
        private.append(event)
    return private


class PrivateRedisTrackerStore(RedisTrackerStore):
    """:class:`RedisTrackerStore` whose stored conversations are masked (see above)."""

    def __init__(self, *args: Any, record_exp: Any = None, **kwargs: Any) -> None:
        # endpoints.yml fills it from the environment, as text
        super().__init__(*args, record_exp=int(float(record_exp)) if record_exp else None, **kwargs)

    @staticmethod
    def serialise_tracker(tracker: DialogueStateTracker) -> str:
        dialogue = tracker.as_dialogue().as_dict()
        dialogue["events"] = private_events(dialogue.get("events") or [])
        return json.dumps(dialogue)
