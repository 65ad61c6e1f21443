"""What an agent reads before answering: the transcript, each bot turn's evidence, a summary.

Built from a conversation's tracker events (Rasa's HTTP API, or rasa-sdk's ``tracker.events``:
the same dicts). The action server attaches a ``custom`` message to the bot's reply of each
turn the gate decided: its route, reason and scores, and for a knowledge answer the
passages' citations (actions/knowledge_answer.py); a handoff carries ``{"handoff": true,
"reason": ...}``; an agent's reply carries ``metadata.agent``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# the slots worth showing an agent first: what the customer is working on
ORDER_SLOTS = ("order_number", "email", "return_item", "return_reason", "new_address")
# the assistant's own bookkeeping, not what the customer is working on
INTERNAL_SLOTS = {"requested_slot", "gate_flow", "feedback", "session_started_metadata", "flow_blocked"}
REASONS = {
    "requested": "the customer asked for a person",
    "failed_turns": "the assistant failed to help several times in a row",
    "complaint": "the customer complained",
}


@dataclass
class Entry:
    """One message of the transcript, and for the bot's, what it was based on."""

    speaker: str  # customer, bot, agent
    text: str
    time: float
    agent: str | None = None
    route: str | None = None
    reason: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    citations: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)


@dataclass
class Evidence:
    transcript: list[Entry]
    slots: dict[str, Any]
    active_form: str | None
    handoff_reason: str | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def custom_of(event: dict[str, Any]) -> dict[str, Any]:
    """The structured payload the action server attached to a bot event (or {})."""
    custom = (event.get("data") or {}).get("custom")
    return custom if isinstance(custom, dict) else {}


def agent_of(event: dict[str, Any]) -> str | None:
    """The person who said a bot event from the console, or None for the assistant."""
    return (event.get("metadata") or {}).get("agent") or custom_of(event).get("agent")


def transcript(events: list[dict[str, Any]]) -> tuple[list[Entry], str | None]:
    """The messages in order, each bot text with its turn's route and citations; and the
    reason of the last handoff."""
    entries: list[Entry] = []
    turn: list[Entry] = []  # the bot's texts since the last customer message
    decision: dict[str, Any] = {}
    handoff_reason = None
    for event in events:
        kind = event.get("event")
        if kind == "user":
            entries.append(Entry("customer", shown_text(event), float(event.get("timestamp") or 0)))
            turn, decision = [], {}
        elif kind == "bot":
            custom = custom_of(event)
            agent = agent_of(event)
            if custom.get("handoff"):
                handoff_reason = custom.get("reason") or "requested"
            if custom.get("route"):
                decision = custom
                for entry in turn:
                    _attach(entry, decision)
            text = event.get("text")
            if not text:
                continue
            entry = Entry("agent" if agent else "bot", text, float(event.get("timestamp") or 0), agent)
            entry.buttons = [b.get("title", "") for b in (event.get("data") or {}).get("buttons") or []]
            if not agent:
                _attach(entry, decision)
                turn.append(entry)
            entries.append(entry)
    return entries, handoff_reason


def _attach(entry: Entry, decision: dict[str, Any]) -> None:
    if not decision:
        return
    entry.route = decision.get("route")
    entry.reason = decision.get("reason")
    entry.scores = decision.get("scores") or {}
    entry.citations = decision.get("citations") or []


def summary(entries: list[Entry], slots: dict[str, Any], form: str | None, reason: str | None) -> str:
    """One paragraph: what the customer asked, what the bot did, what is in hand, why a person."""
    said = [e.text for e in entries if e.speaker == "customer" and not e.text.startswith("(pressed:")]
    if not said:
        return "The customer has not written anything yet."
    parts = [f'The customer first wrote "{_clip(said[0])}"']
    if len(said) > 1:
        parts[0] += f' and last "{_clip(said[-1])}" ({len(said)} messages)'
    parts[0] += "."
    routes: dict[str, int] = {}
    cited: list[str] = []
    for entry in entries:
        if entry.speaker == "bot" and entry.route:
            routes[entry.route] = routes.get(entry.route, 0) + 1
        for citation in entry.citations:
            source = citation.get("source")
            if source and source not in cited:
                cited.append(source)
    if routes:
        done = ", ".join(f"{count} {route}" for route, count in sorted(routes.items(), key=lambda r: -r[1]))
        parts.append(f"The assistant's replies: {done}.")
    if cited:
        parts.append(f"It answered from {', '.join(cited[:3])}.")
    held = {name: slots[name] for name in ORDER_SLOTS if slots.get(name)}
    if held:
        parts.append(
            "In hand: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in held.items()) + "."
        )
    if form:
        parts.append(f"A flow was under way ({form.replace('_', ' ')}).")
    if reason:
        parts.append(f"Handed over because {REASONS.get(reason, reason)}.")
    return " ".join(parts)


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evidence(state: dict[str, Any]) -> Evidence:
    """The evidence pack of a tracker state (Rasa's ``/conversations/<id>/tracker``)."""
    entries, reason = transcript(state.get("events") or [])
    slots = {k: v for k, v in (state.get("slots") or {}).items() if v is not None and k not in INTERNAL_SLOTS}
    form = (state.get("active_loop") or {}).get("name")
    return Evidence(entries, slots, form, reason, summary(entries, slots, form, reason))


def shown_text(event: dict[str, Any]) -> str:
    """What the customer wrote, or for a button they pressed (its payload, "/intent"), which."""
    text = event.get("text") or ""
    if text.startswith("/"):
        return f"(pressed: {text[1:].split('{')[0].replace('_', ' ')})"
    return text


def last_customer_message(events: list[dict[str, Any]]) -> str:
    for event in reversed(events):
        if event.get("event") == "user":
            return shown_text(event)
    return ""
