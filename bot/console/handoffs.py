"""Conversations handed to a person: the queue, claims, an agent's replies, the hand-back.

What lives where:

- the queue: the Redis hash ``tandem:handoffs`` (conversation id -> "time reason"), written by
  the handoff action (actions/handoff.py) when it pauses the conversation;
- claims: the hash ``tandem:handoff:claims`` (id -> "agent time"). A claim is taken by one
  atomic script that also checks the conversation is still waiting, so two agents cannot
  both hold one;
- what an agent says is a ``bot`` event appended to the conversation's tracker through
  Rasa's HTTP API (``metadata.agent`` names the person), so the history, REST clients and
  tests see it; it is also published on Redis (``tandem:say:<id>``), and every Rasa worker
  relays it to the customer's open widget (bot/rasa_side/widget_channel.py);
- the hand-back resumes the conversation (a new session that carries its slots over, so the
  bot's predictions start afresh but the order in hand is kept), has Rasa say the brand's
  ``utter_handback`` and relays it to the widget.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import redis
import requests

from bot.core.settings import Settings
from bot.stack.retention import HANDOFF_KEY, redis_for

CLAIMS_KEY = "tandem:handoff:claims"
SAY_CHANNEL = "tandem:say:"  # the same name as bot/rasa_side/shared_redis.SAY_CHANNEL
HANDBACK_RESPONSE = "utter_handback"
# slots a new session does not carry over: they belong to the flow that was running
NOT_CARRIED = {"requested_slot", "gate_flow", "feedback"}

# claim only a conversation that is waiting and not yet claimed: 1 taken, 0 held by
# someone, -1 not waiting
_CLAIM = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local holder = redis.call('HGET', KEYS[2], ARGV[1])
if holder and string.match(holder, '^(.-) [%d.]+$') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return 1
"""


class ConsoleError(Exception):
    """What an agent asked cannot be done (the message says why); `status` is the HTTP one."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Waiting:
    """A conversation in the queue."""

    sender: str
    since: float
    reason: str
    claimed_by: str | None

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {**asdict(self), "waiting_seconds": round(max(0.0, now - self.since), 1)}


def _parse_entry(value: str) -> tuple[float, str]:
    since, _, reason = value.partition(" ")
    try:
        return float(since), reason or "requested"
    except ValueError:
        return 0.0, reason or "requested"


def _holder(value: str | None) -> str | None:
    return value.rpartition(" ")[0] if value else None


def queue(store: redis.Redis) -> list[Waiting]:
    """Every conversation waiting for a person, longest wait first."""
    claims = store.hgetall(CLAIMS_KEY)
    waiting = []
    for sender, value in store.hgetall(HANDOFF_KEY).items():
        since, reason = _parse_entry(value)
        waiting.append(Waiting(sender, since, reason, _holder(claims.get(sender))))
    return sorted(waiting, key=lambda w: (w.since, w.sender))


def claim(store: redis.Redis, sender: str, agent: str) -> None:
    """`agent` takes the conversation; ConsoleError when another agent holds it or it is
    not waiting. Claiming one's own again is fine."""
    taken = store.eval(_CLAIM, 2, HANDOFF_KEY, CLAIMS_KEY, sender, agent, f"{time.time():.0f}")
    if taken == -1:
        raise ConsoleError("this conversation is not waiting for a person", 404)
    if taken == 0:
        raise ConsoleError(f"{holder(store, sender)} already holds this conversation")


def holder(store: redis.Redis, sender: str) -> str | None:
    return _holder(store.hget(CLAIMS_KEY, sender))


def release(store: redis.Redis, sender: str, agent: str) -> None:
    """Put a claimed conversation back in the queue, unclaimed."""
    _require_holder(store, sender, agent)
    store.hdel(CLAIMS_KEY, sender)


def _require_holder(store: redis.Redis, sender: str, agent: str) -> None:
    held_by = holder(store, sender)
    if held_by != agent:
        raise ConsoleError(
            "claim the conversation first" if held_by is None else f"{held_by} holds this conversation"
        )


def _rasa(
    settings: Settings,
    method: str,
    sender: str,
    what: str,
    payload: Any = None,
    timeout: float = 15,
    **params,
) -> Any:
    """Rasa's HTTP API on /conversations/<sender>/<what>."""
    response = requests.request(
        method,
        f"{settings.rasa_url}/conversations/{quote(sender, safe='')}/{what}",
        params={"token": settings.rasa_token, **params},
        json=payload,
        timeout=timeout,
    )
    if not response.ok:
        raise ConsoleError(f"Rasa answered {response.status_code}: {response.text[:200]}", 502)
    return response.json()


def tracker(settings: Settings, sender: str) -> dict[str, Any]:
    """The conversation's whole tracker (every session), from Rasa's HTTP API."""
    return _rasa(settings, "GET", sender, "tracker", include_events="ALL")


def publish(store: redis.Redis, sender: str, message: dict[str, Any]) -> None:
    """Send a message to the customer's open widget, through every Rasa worker's relay."""
    store.publish(SAY_CHANNEL + sender, json.dumps(message))


def reply(settings: Settings, store: redis.Redis, sender: str, agent: str, text: str) -> dict[str, Any]:
    """The agent's message: into the tracker, then to the widget. The event appended."""
    text = text.strip()
    if not text:
        raise ConsoleError("the message is empty", 400)
    if len(text) > settings.max_message_chars:
        raise ConsoleError(f"the message is longer than {settings.max_message_chars} characters", 400)
    _require_holder(store, sender, agent)
    event = {
        "event": "bot",
        "timestamp": time.time(),
        "text": text,
        "data": {"custom": {"agent": agent}},
        "metadata": {"agent": agent},
    }
    _rasa(settings, "POST", sender, "tracker/events", [event])
    publish(store, sender, {"text": text, "agent": agent})
    return event


def carried_slots(tracker_state: dict[str, Any]) -> list[dict[str, Any]]:
    """SlotSet events that give a new session the slots set now (but the flow's own)."""
    slots = tracker_state.get("slots") or {}
    return [
        {"event": "slot", "name": name, "value": value}
        for name, value in sorted(slots.items())
        if value is not None and name not in NOT_CARRIED
    ]


def hand_back(settings: Settings, store: redis.Redis, sender: str, agent: str | None = None) -> list[dict]:
    """Return the conversation to the bot, which greets the customer again; the messages
    the customer was sent. `agent` None: anyone may (the `tandem handoff back` command)."""
    if agent is not None:
        _require_holder(store, sender, agent)
    state = _rasa(settings, "GET", sender, "tracker")
    # resume, in a new session: what the customer and the agent said meanwhile stays in the
    # history but does not steer the bot's next predictions; the slots come along
    _rasa(
        settings,
        "POST",
        sender,
        "tracker/events",
        [
            {"event": "resume"},
            {"event": "session_started"},
            *carried_slots(state),
            {"event": "action", "name": "action_listen"},
        ],
    )
    said = _rasa(settings, "POST", sender, "execute", {"name": HANDBACK_RESPONSE}, timeout=30)
    # Rasa listens after an action of its own choosing, not after one executed for it
    _rasa(settings, "POST", sender, "tracker/events", [{"event": "action", "name": "action_listen"}])
    messages = [m for m in said.get("messages") or [] if m.get("text")]
    for message in messages:
        publish(store, sender, {"text": message["text"], "handback": True})
    store.hdel(HANDOFF_KEY, sender)
    store.hdel(CLAIMS_KEY, sender)
    return messages


def store_for(settings: Settings) -> redis.Redis:
    return redis_for(settings, 0)
