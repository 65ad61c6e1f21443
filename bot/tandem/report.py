"""`tandem report [--since 7d] [--json] [--gaps-csv FILE] [--no-gaps]`: the dashboard's
figures in the terminal (bot/console/analytics.py), from the event broker's database."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bot.console import analytics
from bot.core.settings import get_settings
from bot.tandem.kb import _call, _server_up


def _closest_through_the_server():
    """The knowledge base's best document for a question, asked of the running action
    server (it owns the store); None when it is not running."""
    if not _server_up():
        return None

    def closest(text: str):
        hits = _call("GET", "/kb/search", timeout=30, params={"q": text, "k": 1, "mode": "dense"})
        return (hits[0]["metadata"]["source"], hits[0]["score"]) if hits else None

    return closest


def _embedder():
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import load_embedding_model

    model = load_embedding_model(KnowledgeSettings().embedding_model)
    return lambda texts: np.asarray(model.embed_documents(texts), dtype=np.float32)


def print_figures(numbers: analytics.Figures, found: list[analytics.Gap], period: str) -> None:
    print(f"Since {period}: {numbers.conversations} conversations")
    if numbers.containment is not None:
        print(f"  ended without a person:  {numbers.containment:.1%}")
    print("  per day:                 " + ", ".join(f"{day} {n}" for day, n in numbers.per_day.items()))
    print("  route of each bot turn:  " + ", ".join(f"{r} {n}" for r, n in numbers.routes.items()))
    print(
        "  handed to a person:      "
        + (", ".join(f"{r} {n}" for r, n in numbers.handoff_reasons.items()) or "none")
    )
    print(
        "  feedback:                "
        + (", ".join(f"{r} +{v['up']}/-{v['down']}" for r, v in numbers.feedback.items()) or "none")
    )
    print(
        "  latency p50/p95 ms:      "
        + ", ".join(f"{r} {v['p50']:g}/{v['p95']:g}" for r, v in numbers.latency_ms.items())
    )
    print("  documents never cited:   " + (", ".join(numbers.never_cited) or "none"))
    if found:
        print("Knowledge gaps (declined, clarified or thumbs-down questions, by meaning):")
        for rank, gap in enumerate(found[:10], 1):
            closest = (
                f"; closest {gap.closest_document} ({gap.closest_score:g})" if gap.closest_document else ""
            )
            print(f'  {rank:>2}. {gap.size} x "{gap.examples[0]}"{closest}')
            for example in gap.examples[1:3]:
                print(f'        "{example}"')


def cmd_report(args: argparse.Namespace) -> int:
    try:
        since = analytics.parse_since(args.since)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = get_settings()
    from knowledge.config import KnowledgeSettings

    documents = analytics.document_names(KnowledgeSettings().sources)
    embed = None if args.no_gaps else _embedder()
    closest = None if args.no_gaps else _closest_through_the_server()
    numbers, found = analytics.report(settings.events_db_url, documents, embed, closest, since)
    if args.gaps_csv:
        Path(args.gaps_csv).write_text(analytics.gaps_csv(found))
    if args.json:
        print(
            json.dumps(
                {"since": since, "figures": numbers.to_dict(), "gaps": [g.to_dict() for g in found]}, indent=2
            )
        )
    else:
        print_figures(numbers, found, args.since)
        if closest is None and not args.no_gaps:
            print("(the assistant is not running: gaps have no closest document)", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="how the assistant is doing: conversations, routes, containment, handoffs, feedback, gaps",
        description=(
            "The console dashboard's figures, from the event broker's database "
            "($TANDEM_EVENTS_DB_URL, default $TANDEM_HOME/events.db). Knowledge gaps: the declined, "
            "clarified and thumbs-down questions grouped by meaning (loads the embedding model)."
        ),
    )
    p.add_argument(
        "--since", default="30d", help="a duration (7d, 24h, 30m) or a date (2026-12-01); default 30d"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--gaps-csv", metavar="FILE", help="also write the knowledge gaps as CSV")
    p.add_argument("--no-gaps", action="store_true", help="skip the gaps (no embedding model is loaded)")
    p.set_defaults(func=cmd_report)
