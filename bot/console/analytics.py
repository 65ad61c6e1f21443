"""How the assistant is doing, from Rasa's event broker: the dashboard's and `tandem report`'s
figures, and the knowledge gaps.

The Rasa server writes every conversation event to the SQL table ``events`` (``id``,
``sender_id``, ``data`` = the event as JSON, masked; bot/rasa_side/event_broker.py). A
conversation is cut into user turns; a turn's route is the one the gate attached to the
bot's reply (``custom.route``); a turn with only a handoff is "handoff"; a bot reply without
a route (a form's question) is "flow"; a message while a person holds the conversation is
"agent" and is not a bot turn. Feedback (a ``feedback`` slot event) belongs to the turn
whose bot message it rates.

Knowledge gaps: the questions the assistant declined (out of scope), asked to clarify, or
whose answer got a thumbs down, clustered by meaning (MiniLM cosine similarity), largest
first, each with examples and the closest document; and the documents no answer cited.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.console.evidence import agent_of, custom_of
from bot.core.stats import percentile
from bot.stack import events_db

GAP_ROUTES = ("out_of_scope", "clarify")  # turns the assistant could not answer
NOT_BOT_TURNS = ("agent", "none")


@dataclass
class Turn:
    """One customer message and what the assistant did with it."""

    sender: str
    time: float
    text: str
    route: str  # flow, knowledge, clarify, out_of_scope, handoff, agent, none
    latency: float | None = None  # seconds to the first bot message
    citations: list[str] = field(default_factory=list)
    bot_times: list[float] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)  # {"value", "comment"}


@dataclass
class Conversation:
    sender: str
    started: float
    turns: list[Turn]
    handoff: str | None  # the reason of the (first) handoff, if any


class EventsError(Exception):
    """The event broker's database cannot be read."""


def read_events(url: str, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """The events of the broker's database, in the order written, within [since, until).
    Rows that are not a JSON object are skipped; a database with nothing written yet (no
    SQLite file, no ``events`` table) holds no events.

    Raises:
        EventsError: the database cannot be reached or read.
    """
    import sqlalchemy
    import sqlalchemy.exc

    engine = None
    try:
        engine = events_db.engine(url)
        if engine is None:
            return []
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text("SELECT sender_id, data FROM events ORDER BY id"))
            return [e for sender, data in rows if (e := _event(sender, data, since, until)) is not None]
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as error:
        raise EventsError(
            f"cannot read the events of {_shown(url)} ({type(error).__name__}: {str(error).splitlines()[0]}); "
            "check $TANDEM_EVENTS_DB_URL and that the database is running"
        ) from None
    finally:
        if engine is not None:
            engine.dispose()


def _shown(url: str) -> str:
    """The URL without its password."""
    import sqlalchemy.exc

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return repr(url)


def _event(sender: Any, data: Any, since: float | None, until: float | None) -> dict[str, Any] | None:
    """One row's event, or None when it is unreadable or outside [since, until)."""
    try:
        event = json.loads(data)
        stamp = float(event.get("timestamp") or 0)
    except (TypeError, ValueError, AttributeError):
        return None
    if (since is not None and stamp < since) or (until is not None and stamp >= until):
        return None
    event.setdefault("sender_id", sender)
    return event


def conversations(events: list[dict[str, Any]]) -> list[Conversation]:
    """The events cut into conversations (one per sender) and their user turns."""
    by_sender: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_sender.setdefault(str(event.get("sender_id")), []).append(event)
    return [_conversation(sender, evs) for sender, evs in by_sender.items()]


def _conversation(sender: str, events: list[dict[str, Any]]) -> Conversation:
    turns: list[Turn] = []
    paused, handoff, routed = False, None, False
    ratings: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        stamp = float(event.get("timestamp") or 0)
        if kind == "pause":
            paused = True
        elif kind in ("resume", "restart"):
            paused = False
        elif kind == "user":
            turns.append(Turn(sender, stamp, event.get("text") or "", "agent" if paused else "none"))
            routed = False
        elif kind == "slot" and event.get("name") == "feedback" and isinstance(event.get("value"), dict):
            ratings.append(event["value"])
        elif kind == "bot" and turns and turns[-1].route != "agent":
            custom = custom_of(event)
            if agent_of(event):
                continue  # a person's reply is not the bot's turn
            if custom.get("handoff"):
                handoff = handoff or custom.get("reason") or "requested"
            routed = _bot_event(turns[-1], event, custom, stamp, routed)
    for rating in ratings:
        _attach_rating(turns, rating)
    started = float(events[0].get("timestamp") or 0) if events else 0.0
    return Conversation(sender, started, turns, handoff)


def _bot_event(turn: Turn, event: dict[str, Any], custom: dict[str, Any], stamp: float, routed: bool) -> bool:
    """Add one bot event to its turn; True once the turn has the gate's route. The gate's
    first route wins; the route message may come after the reply's text (the sample shows
    text first), so a text alone only makes "flow" provisionally."""
    if custom.get("route") and not routed:
        turn.route, routed = custom["route"], True
    elif custom.get("handoff") and not routed:
        turn.route = "handoff"
    turn.citations += [c.get("source") for c in custom.get("citations") or [] if c.get("source")]
    if event.get("text"):
        if turn.route == "none":
            turn.route = "flow"
        turn.bot_times.append(stamp)
    if turn.latency is None:
        turn.latency = max(0.0, stamp - turn.time)
    return routed


def _attach_rating(turns: list[Turn], rating: dict[str, Any]) -> None:
    """A rating goes to the turn of the bot message nearest its time (within 1 ms), else to
    the last bot turn before it."""
    try:
        rated = float(rating.get("turn"))
    except (TypeError, ValueError):
        return
    entry = {"value": rating.get("value"), "comment": rating.get("comment") or ""}
    distance, nearest = min(
        ((abs(stamp - rated), turn) for turn in turns for stamp in turn.bot_times),
        key=lambda pair: pair[0],
        default=(None, None),
    )
    if nearest is not None and distance <= 1e-3:
        nearest.feedback.append(entry)
        return
    before = [t for t in turns if t.bot_times and t.time <= rated]
    if before:
        before[-1].feedback.append(entry)


@dataclass
class Figures:
    conversations: int
    per_day: dict[str, int]
    routes: dict[str, int]
    containment: float | None  # share of conversations that ended without a person
    handoff_reasons: dict[str, int]
    feedback: dict[str, dict[str, int]]  # route -> {"up": n, "down": n}
    latency_ms: dict[str, dict[str, float]]  # route -> {"p50", "p95", "turns"}
    cited: dict[str, int]
    never_cited: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(talks: list[Conversation], documents: Sequence[str] = ()) -> Figures:
    """The dashboard's figures of these conversations; `documents`: every source the
    knowledge base holds (for the never-cited list)."""
    with_turns = [c for c in talks if any(t.route not in NOT_BOT_TURNS for t in c.turns)]
    turns = [t for c in talks for t in c.turns if t.route not in NOT_BOT_TURNS]
    per_day = Counter(time.strftime("%Y-%m-%d", time.gmtime(c.started)) for c in with_turns)
    feedback: dict[str, dict[str, int]] = {}
    for turn in turns:
        for rating in turn.feedback:
            if rating["value"] in ("up", "down"):
                feedback.setdefault(turn.route, {"up": 0, "down": 0})[rating["value"]] += 1
    latency: dict[str, dict[str, float]] = {}
    for route in sorted({t.route for t in turns}):
        seconds = [t.latency for t in turns if t.route == route and t.latency is not None]
        if seconds:
            latency[route] = {
                "p50": round(percentile(seconds, 50) * 1000, 1),
                "p95": round(percentile(seconds, 95) * 1000, 1),
                "turns": len(seconds),
            }
    cited = Counter(source for t in turns for source in dict.fromkeys(t.citations))
    handed = [c for c in with_turns if c.handoff]
    return Figures(
        conversations=len(with_turns),
        per_day=dict(sorted(per_day.items())),
        routes=dict(Counter(t.route for t in turns).most_common()),
        containment=round(1 - len(handed) / len(with_turns), 3) if with_turns else None,
        handoff_reasons=dict(Counter(c.handoff for c in handed).most_common()),
        feedback=dict(sorted(feedback.items())),
        latency_ms=latency,
        cited=dict(cited.most_common()),
        never_cited=sorted(set(documents) - set(cited)),
    )


@dataclass
class Gap:
    """Questions of one meaning the assistant could not (or did not well) answer."""

    size: int
    examples: list[str]
    routes: dict[str, int]
    closest_document: str | None
    closest_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gap_turns(talks: list[Conversation]) -> list[Turn]:
    """The questions that make gaps: declined, clarified, or rated thumbs down."""
    return [
        t
        for c in talks
        for t in c.turns
        if t.text
        and not t.text.startswith("/")
        and (t.route in GAP_ROUTES or any(r["value"] == "down" for r in t.feedback))
    ]


# Two questions mean the same when their average MiniLM cosine similarity is at least this.
# Measured on the sample brand's NLU examples (36 intents, 8 examples each): pairs of one
# intent average 0.50, pairs of different intents 0.15; 0.30 separates them best (balanced
# accuracy: 84% of same-intent pairs above, 89% of different-intent pairs below).
GAP_SIMILARITY = 0.30


def gaps(
    turns: list[Turn],
    embed: Callable[[list[str]], np.ndarray],
    closest: Callable[[str], tuple[str, float] | None] | None = None,
    threshold: float = GAP_SIMILARITY,
    examples: int = 5,
) -> list[Gap]:
    """Cluster the questions by meaning (average-linkage: two groups join while their
    questions' mean cosine similarity is at least `threshold`), largest first; a cluster's
    closest document is that of the question nearest its centre."""
    if not turns:
        return []
    from scipy.cluster.hierarchy import fcluster, linkage

    texts = [t.text for t in turns]
    vectors = np.asarray(embed(texts), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    if len(texts) == 1:
        labels = np.array([1])
    else:
        distances = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)[np.triu_indices(len(texts), 1)]
        labels = fcluster(linkage(distances, method="average"), t=1.0 - threshold, criterion="distance")
    found = []
    for label in sorted(set(labels.tolist())):
        group = [i for i in range(len(texts)) if labels[i] == label]
        centre = vectors[group].mean(axis=0)
        order = sorted(group, key=lambda i: -float(vectors[i] @ centre))
        document = closest(texts[order[0]]) if closest is not None else None
        found.append(
            Gap(
                size=len(group),
                examples=list(dict.fromkeys(texts[i] for i in order))[:examples],
                routes=dict(
                    Counter(turns[i].route if turns[i].route in GAP_ROUTES else "thumbs_down" for i in group)
                ),
                closest_document=document[0] if document else None,
                closest_score=round(float(document[1]), 3) if document else None,
            )
        )
    return sorted(found, key=lambda gap: (-gap.size, gap.examples[0]))


def gaps_csv(found: list[Gap]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "questions", "routes", "closest_document", "closest_score", "examples"])
    for rank, gap in enumerate(found, 1):
        routes = " ".join(f"{route}:{count}" for route, count in gap.routes.items())
        writer.writerow(
            [
                rank,
                gap.size,
                routes,
                gap.closest_document or "",
                gap.closest_score or "",
                " | ".join(gap.examples),
            ]
        )
    return out.getvalue()


def document_names(root: Path) -> list[str]:
    """The knowledge base's documents as answers cite them: paths under the sources folder."""
    from knowledge.loaders import FAQ_TYPES, TEXT_TYPES, candidate_files

    usable = set(TEXT_TYPES) | set(FAQ_TYPES) | {".pdf"}
    if not root.is_dir():
        return []
    return [
        path.relative_to(root).as_posix() for path in candidate_files(root) if path.suffix.lower() in usable
    ]


def parse_since(text: str, now: float | None = None) -> float:
    """`7d`, `24h`, `30m` before now, or a date `2026-12-01` (UTC): unix time. ValueError."""
    now = time.time() if now is None else now
    text = text.strip()
    units = {"d": 86400, "h": 3600, "m": 60}
    if text and text[-1] in units:
        try:
            amount = float(text[:-1])
        except ValueError:
            amount = -1
        if amount >= 0:
            return now - amount * units[text[-1]]
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%d")))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a duration like 7d, 24h, 30m or a date like 2026-12-01"
        ) from None


def report(
    url: str,
    documents: Sequence[str],
    embed: Callable[[list[str]], np.ndarray] | None,
    closest: Callable[[str], tuple[str, float] | None] | None = None,
    since: float | None = None,
) -> tuple[Figures, list[Gap]]:
    """The figures and the gaps of what the database holds since `since` (no `embed`: no
    gaps)."""
    talks = conversations(read_events(url, since))
    found = gaps(gap_turns(talks), embed, closest) if embed is not None else []
    return figures(talks, documents), found
