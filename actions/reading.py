"""How the gate reads a message: shorthand and misspellings mended (knowledge/spelling.py),
then made standalone against the conversation (knowledge/followup.py), then NLU's reading
of that standalone question asked from Rasa, when it differs from what the customer typed.

Glue only: the speller's vocabulary is the brand's own words (its documents, its responses,
and words its NLU examples use at least three times, so that a typo in one example is not
a word), the context the questions the gate resolved earlier in this conversation (each
gate turn's ``custom`` payload carries its ``standalone`` question).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from rasa_sdk import Tracker

from bot.core.settings import current_brand, get_settings
from bot.gate.evidence import nlu_ranking
from knowledge.followup import Context, Resolved, resolve
from knowledge.spelling import Speller, known_english, words_of

logger = logging.getLogger(__name__)

CONTEXT_ROUTES = ("knowledge", "clarify", "out_of_scope")  # gate turns a follow-up may point back to
CONTEXT_TURNS = 3  # a follow-up points back at most this many customer messages
NLU_ONLY_MIN_COUNT = 3
TEXT_SUFFIXES = {".md", ".txt", ".html", ".csv", ".yml", ".yaml", ".json"}


def _texts(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    return [p.read_text(encoding="utf-8", errors="ignore") for p in files]


def _stamp(*folders: Path) -> float:
    return max((p.stat().st_mtime for f in folders if f.is_dir() for p in f.rglob("*")), default=0.0)


@lru_cache(maxsize=4)
def _speller(brand_name: str, stamp: float, vocab_file: str | None) -> Speller:
    brand = current_brand()
    words = words_of(_texts(brand.path("sources")) + _texts(brand.path("domain")))
    for word, count in words_of(_texts(brand.path("data"))).items():
        if count >= NLU_ONLY_MIN_COUNT:
            words[word] += count
    known = known_english(Path(vocab_file) if vocab_file else None)
    shorthand = brand.facts().get("shorthand") or {}
    logger.info("speller for %s: %d brand words, %d known English words", brand_name, len(words), len(known))
    return Speller(words, known, {str(k): str(v) for k, v in shorthand.items()})


def speller(embedding_model_path: str | None = None) -> Speller:
    """The brand's speller, rebuilt when its documents, domain or NLU data change."""
    brand = current_brand()
    vocab = None
    if embedding_model_path and (Path(embedding_model_path) / "vocab.txt").is_file():
        vocab = str(Path(embedding_model_path) / "vocab.txt")
    stamp = _stamp(brand.path("sources"), brand.path("domain"), brand.path("data"))
    return _speller(brand.name, stamp, vocab)


def context(tracker: Tracker) -> Context:
    """The questions the gate resolved in the last few customer messages (newest first),
    the text of the newest of them when it was answered from the documents and the title of
    the document it cites, the brand's product names, and whether a form waits for a value."""
    previous: list[str] = []
    said: list[str] = []
    cited = ""
    answered_in = 0  # the turn (customer messages back) of the newest answer from the documents
    users = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind in ("restart", "session_started", "resume"):
            break
        if kind == "user":
            users += 1
            if users > CONTEXT_TURNS:
                break
        if kind != "bot" or users == 0:  # users == 0: this turn's own events
            continue
        custom = (event.get("data") or {}).get("custom") or {}
        if isinstance(custom, dict) and custom.get("route") in CONTEXT_ROUTES and custom.get("standalone"):
            if not previous and custom["route"] == "knowledge":
                answered_in = users
                cited = document_title(custom.get("citations") or [])
            previous.append(str(custom["standalone"]))
        elif users == answered_in and event.get("text"):  # the answer's text comes before its route
            said.insert(0, str(event["text"]))
    loop = (tracker.active_loop or {}).get("name")
    waiting = bool(loop) and bool(tracker.get_slot("requested_slot"))
    return Context(
        previous=previous,
        form_waiting=waiting,
        said=said,
        names=current_brand().product_names(),
        cited=cited,
    )


def document_title(citations: list[Any]) -> str:
    """The title of the document an answer cites first ("Delivery to Canada" of "Delivery to
    Canada > Do I pay duties or taxes?"), or ""."""
    first = citations[0] if citations and isinstance(citations[0], dict) else {}
    return str(first.get("title") or "").split(" > ")[0].strip()


CLAUSE = re.compile(r"(?<=[.!?;:])\s+")


def clauses(text: str) -> list[str]:
    """The sentences and clauses of a message, split after . ! ? ; and : (a message may
    say what happened and then what the customer wants)."""
    return [part for part in (p.strip() for p in CLAUSE.split(text or "")) if part]


def nlu_parse(text: str) -> dict[str, Any] | None:
    """Rasa's NLU reading of `text` (its HTTP API), or None when Rasa does not answer."""
    settings = get_settings()
    try:
        response = requests.post(
            f"{settings.rasa_url}/model/parse",
            params={"token": settings.rasa_token},
            json={"text": text},
            timeout=5,
        )
        response.raise_for_status()
        return response.json()
    except requests.RequestException as error:
        logger.warning("NLU could not read the standalone question (%s); using the message's", error)
        return None


def nlu_intents(text: str) -> list[tuple[str, float]] | None:
    """Rasa's intent ranking of `text`, best first (nlu_parse), or None when Rasa does not answer."""
    parsed = nlu_parse(text)
    if parsed is None:
        return None
    return nlu_ranking(parsed.get("intent_ranking") or [parsed.get("intent") or {}])


def read(question: str, tracker: Tracker, names_record: bool, kb: Any = None) -> tuple[str, Resolved]:
    """(the message mended, its standalone question). Blocking: run in a thread. `kb`: the
    knowledge base, whose embedding model finds what a fragment replaces and whose
    passages choose between readings; without it, the simple rules apply."""
    embeddings = getattr(kb, "embeddings", None)
    model_path = getattr(getattr(kb, "settings", None), "embedding_model", None)
    mended = speller(model_path).mend(question).text
    similarity = plausibility = None
    if embeddings is not None:
        from knowledge.answer import embedding_scorer

        similarity = embedding_scorer(embeddings)

        def plausibility(questions: list[str]) -> list[float]:
            return [
                max((h.dense or 0.0 for h in kb.search(q, k=1, mode="dense")), default=0.0) for q in questions
            ]

    resolved = resolve(mended, context(tracker), names_record, similarity, plausibility)
    return mended, resolved
