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

Saving does what Rasa's ``RedisTrackerStore.save`` does (hand the turn's new events to the
event broker, merge the stored earlier sessions back in, write), but reads and rebuilds the
stored conversation once where Rasa does it twice (once to find the new events, once to
merge), and tells "nothing to merge" from a prefix of the events instead of replaying them:
``tandem bench cost`` found a scripted turn's save replaying the conversation four times.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core import events as rasa_events
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
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

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        key = self.key_prefix + tracker.sender_id
        stored = self.red.get(key)
        prior = self.deserialise_tracker(tracker.sender_id, stored) if stored is not None else None
        if self.event_broker is not None:
            # Rasa retrieves the stored conversation's last session and sends the events past
            # its length (TrackerEventDiffEngine); the length is all it needs
            new_events = list(itertools.islice(tracker.events, last_session_length(prior), None))
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        if prior is not None:
            tracker = self._merge_trackers(prior, tracker)
        if not timeout and self.record_exp:
            timeout = self.record_exp
        self.red.set(key, self.serialise_tracker(tracker), ex=timeout)

    @staticmethod
    def _merge_trackers(
        prior_tracker: DialogueStateTracker, tracker: DialogueStateTracker
    ) -> DialogueStateTracker:
        # Rasa replays the turn's conversation up to the stored one's last event and merges
        # when the two differ; the replay's events are the prefix up to that time
        if prior_tracker.events and tracker._max_event_history is None:
            last = prior_tracker.events[-1].timestamp
            past = list(itertools.takewhile(lambda event: event.timestamp <= last, tracker.events))
            if past == list(prior_tracker.events):
                return tracker
        return RedisTrackerStore._merge_trackers(prior_tracker, tracker)


def last_session_length(tracker: DialogueStateTracker | None) -> int:
    """How many events Rasa's ``retrieve`` returns for a stored conversation: those of its last
    session (all of them when it has one session or none)."""
    if tracker is None:
        return 0
    sessions = rasa_events.split_events(
        tracker.events,
        rasa_events.ActionExecuted,
        {"action_name": ACTION_SESSION_START_NAME},
        include_splitting_event=True,
    )
    length = len(tracker.events) if len(sessions) <= 1 else len(sessions[-1])
    limit = tracker._max_event_history
    return min(length, limit) if limit else length
