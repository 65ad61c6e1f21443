"""`tandem report [--since 7d] [--json] [--gaps-csv FILE] [--no-gaps]`: the dashboard's
figures in the terminal (bot/console/analytics.py), from the event broker's database."""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import requests

from bot.console import analytics
from bot.core.settings import get_settings
from bot.tandem.kb import _server_up

logger = logging.getLogger(__name__)

Embed = Callable[[list[str]], np.ndarray]
Closest = Callable[[str], tuple[str, float] | None]


def _closest_through_the_server() -> Closest:
    """The knowledge base's best document for a question, asked of the running action
    server (it owns the store); a question it cannot answer has none."""
    settings = get_settings()

    def closest(text: str) -> tuple[str, float] | None:
        try:
            answer = requests.get(
                f"{settings.actions_url}/kb/search",
                params={"q": text, "k": 1, "mode": "dense"},
                headers={"Authorization": f"Bearer {settings.rasa_token}"},
                timeout=30,
            )
            hits = answer.json() if answer.ok else []
        except (requests.RequestException, ValueError):
            hits = []
        return (hits[0]["metadata"]["source"], float(hits[0]["score"])) if hits else None

    return closest


def _local_knowledge_base():
    """The knowledge store of this machine when no server holds it and it was built, else None."""
    from knowledge.base import knowledge_base
    from knowledge.config import KnowledgeSettings
    from knowledge.store import StoreError

    settings = KnowledgeSettings()
    if not settings.qdrant_url and not settings.qdrant_path.is_dir():
        return None  # never built: opening it would make an empty one
    try:
        kb = knowledge_base()
    except (StoreError, RuntimeError) as error:
        logger.warning("no closest documents: %s", error)
        return None
    atexit.register(kb.store.client.close)  # release the local store's lock cleanly
    return kb


def _embedder() -> Embed:
    from knowledge.config import KnowledgeSettings
    from knowledge.embeddings import load_embedding_model

    model = load_embedding_model(KnowledgeSettings().embedding_model)
    return lambda texts: np.asarray(model.embed_documents(texts))


def search_tools() -> tuple[Embed, Closest | None]:
    """The embedding model for the gaps, and the closest document of a question: through the
    running action server (Qdrant's local store allows one process), else from this
    machine's store, else none."""
    if _server_up():
        return _embedder(), _closest_through_the_server()
    kb = _local_knowledge_base()
    if kb is None:
        return _embedder(), None

    def closest(text: str) -> tuple[str, float] | None:
        hits = kb.search(text, k=1, mode="dense")
        return (hits[0].source, float(hits[0].score)) if hits else None

    return (lambda texts: np.asarray(kb.embeddings.embed_documents(texts))), closest


def _line(label: str, items: list[str]) -> None:
    """One figure: its label, then its values, wrapped between values (never inside one)."""
    text = ", ".join(item.replace(" ", "\xa0") for item in items) or "none"
    wrapped = textwrap.fill(text, width=100, initial_indent=f"  {label:<24} ", subsequent_indent=" " * 27,
                            break_long_words=False, break_on_hyphens=False)  # fmt: skip
    print(wrapped.replace("\xa0", " "))


def print_figures(numbers: analytics.Figures, found: list[analytics.Gap], period: str) -> None:
    print(f"Since {period}: {numbers.conversations} conversations")
    if numbers.containment is not None:
        print(f"  {'ended without a person:':<24} {numbers.containment:.1%}")
    _line("per day:", [f"{day} {n}" for day, n in numbers.per_day.items()])
    _line("route of each bot turn:", [f"{r} {n}" for r, n in numbers.routes.items()])
    _line("handed to a person:", [f"{r} {n}" for r, n in numbers.handoff_reasons.items()])
    _line("feedback (up/down):", [f"{r} +{v['up']}/-{v['down']}" for r, v in numbers.feedback.items()])
    _line("latency p50/p95 ms:", [f"{r} {v['p50']:g}/{v['p95']:g}" for r, v in numbers.latency_ms.items()])
    _line("documents cited:", [f"{d} {n}" for d, n in numbers.cited.items()])
    _line("documents never cited:", numbers.never_cited)
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
    from knowledge.config import KnowledgeSettings

    documents = analytics.document_names(KnowledgeSettings().sources)
    embed, closest = (None, None) if args.no_gaps else search_tools()
    try:
        numbers, found = analytics.report(get_settings().events_db_url, documents, embed, closest, since)
    except analytics.EventsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.gaps_csv:
        Path(args.gaps_csv).write_text(analytics.gaps_csv(found))
    if args.json:
        shown = {"since": since, "figures": numbers.to_dict(), "gaps": [g.to_dict() for g in found]}
        print(json.dumps(shown, indent=2))
    else:
        print_figures(numbers, found, args.since)
        if found and closest is None:
            print("(no knowledge store to search: the gaps have no closest document)", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="how the assistant is doing: conversations, routes, containment, handoffs, feedback, gaps",
        description=(
            "The console dashboard's figures, from the event broker's database "
            "($TANDEM_EVENTS_DB_URL, default $TANDEM_HOME/events.db). Knowledge gaps: the declined, "
            "clarified and thumbs-down questions grouped by meaning (loads the embedding model), each "
            "with the closest document: asked of the running action server, else of this machine's "
            "knowledge store, else none."
        ),
    )
    p.add_argument(
        "--since", default="30d", help="a duration (7d, 24h, 30m) or a UTC date (2026-12-01); default 30d"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--gaps-csv", metavar="FILE", help="also write the knowledge gaps as CSV")
    p.add_argument("--no-gaps", action="store_true", help="skip the gaps (no embedding model is loaded)")
    p.set_defaults(func=cmd_report)
