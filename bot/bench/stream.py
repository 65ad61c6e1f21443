"""`tandem bench stream`: how soon a customer in the widget sees the first words of an answer.

Each question of the brand's QA set is sent over the widget's own channel (socket.io,
WebSocket), as the first message of a new conversation, and timed from the send:

- **first words**: the first draft of a generated answer (``bot_stream``, streamed while the
  voice model writes it), or the first reply when nothing is streamed (an extractive
  answer, a flow, a clarification);
- **whole answer**: the first reply with text (``bot_uttered``): the checked answer.

Only knowledge turns are counted in the percentiles (the route comes with the reply). The
answer cache is emptied first, so answers are timed being written, not read back.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from bot.bench.report import OUT_DIR, percentile, provenance, write_report
from bot.core.settings import Settings, current_brand, get_settings
from bot.stack.client import require_running


class Turn:
    """One question over socket.io: the times of its first draft, first text and route."""

    def __init__(self) -> None:
        self.sent = 0.0
        self.first_draft: float | None = None
        self.first_text: float | None = None
        self.route: str | None = None
        self.mode: str | None = None
        self.drafts = 0
        self.done = threading.Event()


def ask(settings: Settings, question: str, timeout: float = 60.0) -> Turn:
    import socketio

    turn = Turn()
    session: dict[str, str] = {}
    ready = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("session_confirm")
    def confirmed(data):
        session["id"] = data["session_id"]
        ready.set()

    @client.on("bot_stream")
    def drafted(data):
        turn.drafts += 1
        if turn.first_draft is None:
            turn.first_draft = time.perf_counter() - turn.sent

    @client.on("bot_uttered")
    def uttered(data):
        if data.get("text") and turn.first_text is None:
            turn.first_text = time.perf_counter() - turn.sent
        custom = data.get("custom") if isinstance(data.get("custom"), dict) else {}
        if custom.get("route"):
            turn.route, turn.mode = custom["route"], custom.get("mode")
        if turn.first_text is not None and turn.route:
            turn.done.set()

    client.connect(settings.rasa_url, transports=["websocket"], socketio_path="/socket.io")
    try:
        client.emit("session_request", {"session_id": None})
        if not ready.wait(10):
            raise RuntimeError("no session_confirm from the widget channel")
        turn.sent = time.perf_counter()
        client.emit("user_uttered", {"message": question, "session_id": session["id"]})
        turn.done.wait(timeout)  # a flow sends no route: its first reply is all there is
        if turn.route is None and turn.first_text is not None:
            turn.route = "flow"
    finally:
        client.disconnect()
    return turn


def main(args: argparse.Namespace) -> int:
    settings = get_settings()
    require_running(settings)
    rows = [json.loads(line) for line in current_brand().qa_file.read_text().splitlines() if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    from actions.services import redis_client
    from knowledge.answer_cache import AnswerCache

    print(f"cleared {AnswerCache(redis_client()).clear()} cached answer keys", flush=True)
    turns = []
    for row in rows:
        turn = ask(settings, row["question"], timeout=args.timeout)
        turns.append((row["question"], turn))
    knowledge = [t for _, t in turns if t.route == "knowledge" and t.first_text is not None]
    first_words = [t.first_draft if t.first_draft is not None else t.first_text for t in knowledge]
    whole = [t.first_text for t in knowledge]
    streamed = [t for t in knowledge if t.first_draft is not None]

    def ms(values: list[float], p: int) -> int | None:
        return round(1000 * percentile(values, p)) if values else None

    summary = {
        "questions": len(turns),
        "knowledge_turns": len(knowledge),
        "streamed": len(streamed),
        "generated": sum(t.mode == "generated" for t in knowledge),
        "first_words_p50_ms": ms(first_words, 50),
        "first_words_p95_ms": ms(first_words, 95),
        "first_draft_p95_ms": ms([t.first_draft for t in streamed], 95),
        "whole_answer_p50_ms": ms(whole, 50),
        "whole_answer_p95_ms": ms(whole, 95),
        "unanswered": sum(t.first_text is None for _, t in turns),
    }
    print(json.dumps(summary, indent=2))
    if args.save:
        report = {
            **provenance(),
            "summary": summary,
            "turns": [
                {
                    "question": q,
                    "route": t.route,
                    "mode": t.mode,
                    "drafts": t.drafts,
                    "first_draft_ms": None if t.first_draft is None else round(1000 * t.first_draft),
                    "first_text_ms": None if t.first_text is None else round(1000 * t.first_text),
                }
                for q, t in turns
            ],
        }
        write_report("stream", markdown(report), report, OUT_DIR)
    return 0


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    return "\n".join(
        [
            "# First words in the widget",
            "",
            f"`tandem bench stream --save` on {report['machine']}, commit {report['commit']}, {report['date']}: "
            f"the {s['questions']} questions of the brand's QA set over the widget's socket.io channel, "
            "each the first message of a new conversation, the answer cache emptied first.",
            "",
            "| measure (knowledge turns) | value |",
            "|---|---|",
            f"| knowledge turns / written by the voice model / streamed | {s['knowledge_turns']} / {s['generated']} / {s['streamed']} |",
            f"| first words (first draft, or the reply when nothing streams) p50 / p95 | {s['first_words_p50_ms']} / {s['first_words_p95_ms']} ms |",
            f"| first draft p95 (streamed turns) | {s['first_draft_p95_ms']} ms |",
            f"| whole checked answer p50 / p95 | {s['whole_answer_p50_ms']} / {s['whole_answer_p95_ms']} ms |",
            f"| questions with no reply within the timeout | {s['unanswered']} |",
            "",
        ]
    )


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "stream", help="first words of an answer in the widget (socket.io): drafts and whole answers, timed"
    )
    q.add_argument("--limit", type=int, default=0, help="only the first N questions (default: all)")
    q.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a reply (default 60)")
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/stream.md and .json")
    q.set_defaults(func=main)
