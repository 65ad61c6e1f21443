"""How well a store ranks the documents that answer labelled questions, and the hybrid
fusion weight that ranks them best: what `tandem kb tune` fits and the retrieval
benchmark (bot/bench/) reports.

A labelled question is ``{"question", optional "history" (earlier turns, newest first),
"doc_id" of the document that answers it, optional "also": other documents that answer it}``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient

from knowledge.chunking import split_document
from knowledge.loaders import SourceDocument
from knowledge.refresh import RefreshReport, publish_document
from knowledge.store import KnowledgeStore


def answering_documents(question: dict[str, Any]) -> list[str]:
    """The documents that answer a benchmark question: its `doc_id`, then any of `also`."""
    return [question["doc_id"], *question.get("also", [])]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def index_sources(
    sources: list[SourceDocument], embeddings: Embeddings, chunk_size: int = 900, overlap: int = 120
) -> tuple[KnowledgeStore, float]:
    """An in-memory store of these documents, chunked as a refresh chunks them."""
    store = KnowledgeStore(QdrantClient(":memory:"), embeddings, "bench", manifest_ttl=3600, local_index=True)
    store.ensure_collections()
    started = time.monotonic()
    report = RefreshReport()
    for source in sources:
        publish_document(
            store,
            source,
            split_document(source, "https://bench.invalid", chunk_size, overlap),
            {},
            64,
            report,
        )
    store.changes_done()  # every chunk is live: no per-point revision filter needed
    return store, time.monotonic() - started


def query_text(question: dict[str, Any], with_history: bool, turns: int = 2) -> str:
    if not with_history or not question.get("history"):
        return question["question"]
    return " ".join([question["question"], *question["history"][:turns]])


def ranks(
    store: KnowledgeStore,
    questions: list[dict[str, Any]],
    mode: str,
    with_history: bool,
    depth: int = 20,
    timed: bool = True,
) -> tuple[list[int | None], list[float]]:
    """Per question: the rank of its best-ranked answering document (None: not in the top
    `depth` chunks) and the seconds its query took (embedding + search; `timed=False` lets
    the model remember query vectors: the same questions are asked again and again)."""
    found: list[int | None] = []
    latencies: list[float] = []
    forget = getattr(store.embeddings, "forget", lambda: None)  # time the model, not a memory
    for question in questions:
        if timed:
            forget()
        started = time.perf_counter()
        chunks = store.search(query_text(question, with_history), k=depth, mode=mode)
        latencies.append(time.perf_counter() - started)
        ranked = list(dict.fromkeys(hit.source for hit in chunks))
        found.append(
            min(
                (ranked.index(doc) + 1 for doc in answering_documents(question) if doc in ranked),
                default=None,
            )
        )
    return found, latencies


def mean_reciprocal_rank(found: list[int | None]) -> float:
    return statistics.mean(1 / rank if rank else 0.0 for rank in found)


WEIGHTS = [i / 20 for i in range(21)]


def fit_dense_weight(
    store: KnowledgeStore, questions: list[dict[str, Any]], with_history: bool = False
) -> tuple[float, float]:
    """The dense side's share of hybrid fusion under which labelled questions find their
    answering documents best (MRR), and that MRR. Ties go to the weight nearest the even 0.5."""
    previous, mrr = store.dense_weight, {}
    try:
        for weight in WEIGHTS:
            store.dense_weight = weight
            found, _ = ranks(store, questions, "hybrid", with_history, timed=False)
            mrr[weight] = round(mean_reciprocal_rank(found), 6)
    finally:
        store.dense_weight = previous
    best = max(WEIGHTS, key=lambda w: (mrr[w], -abs(w - 0.5)))
    return best, mrr[best]
