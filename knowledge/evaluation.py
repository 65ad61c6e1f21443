"""Retrieval quality and speed on any corpus in one generic format.

A corpus folder holds ``documents.jsonl`` (``id``, ``title``, ``text``) and
``questions.jsonl`` (``question``, optional ``history`` (earlier turns, newest first),
``doc_id`` of the document that answers it, optional ``also``: other documents that answer
it as well). Documents are chunked and indexed like the brand's own sources; a question is
answered by document: the rank of the best-ranked answering document among the distinct
documents of the retrieved chunks gives recall@1, recall@5 and MRR, per retrieval mode.

    tandem bench retrieval --corpus brand|covid_qa|doc2dial|PATH [--history] [--limit N]
"""

from __future__ import annotations

import csv
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient

from bot.settings import ROOT
from knowledge.chunking import split_document
from knowledge.loaders import SourceDocument, load_sources
from knowledge.refresh import RefreshReport, _publish_document
from knowledge.store import KnowledgeStore

DATASETS = ROOT.parent / "shared" / "datasets"
MODES = ("dense", "sparse", "hybrid")


@dataclass
class Corpus:
    name: str
    documents: list[dict[str, Any]]
    questions: list[dict[str, Any]]


def answering_documents(question: dict[str, Any]) -> list[str]:
    """The documents that answer a benchmark question: its `doc_id`, then any of `also`."""
    return [question["doc_id"], *question.get("also", [])]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_corpus(folder: Path) -> Corpus:
    return Corpus(folder.name, read_jsonl(folder / "documents.jsonl"), read_jsonl(folder / "questions.jsonl"))


def brand_corpus() -> Corpus:
    from knowledge.config import KnowledgeSettings

    settings = KnowledgeSettings()
    documents, _ = load_sources(settings.sources, settings.max_file_bytes)
    docs = [
        {"id": d.path, "title": d.title, "text": d.text or "\n\n".join(f"## {q}\n\n{a}" for q, a in d.faq)}
        for d in documents
    ]
    return Corpus("brand", docs, read_jsonl(ROOT / "knowledge" / "eval" / "brand_qa.jsonl"))


def covid_qa_corpus() -> Corpus:
    """FAQ entries as documents; paraphrased questions (similar=1) must find their entry."""
    folder = DATASETS / "covid_qa"
    with open(folder / "faq_covidbert.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    docs, by_question = [], {}
    for index, row in enumerate(rows):
        doc_id = f"faq-{index}"
        docs.append({"id": doc_id, "title": row["question"].strip(), "text": row["answer"].strip()})
        # several sources ask the very same question: each of their entries answers it
        by_question.setdefault(" ".join(row["question"].split()).lower(), []).append(doc_id)
    questions = []
    with open(folder / "eval_question_similarity_en.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            targets = by_question.get(" ".join(row["question_1"].split()).lower())
            if row["similar"] == "1" and targets:
                question = {"question": row["question_2"], "doc_id": targets[0]}
                if len(targets) > 1:
                    question["also"] = targets[1:]
                questions.append(question)
    return Corpus("covid_qa", docs, questions)


def doc2dial_corpus() -> Corpus:
    folder = DATASETS / "doc2dial"
    docs = [
        {"id": d["doc_key"], "title": d["title"], "text": d["text"]}
        for d in read_jsonl(folder / "documents.jsonl")
    ]
    questions = []
    for row in read_jsonl(folder / "questions.jsonl"):
        turns = [t.split(":", 1)[-1].strip() for t in row["history_newest_first"].split("\t")]
        questions.append({"question": turns[0], "history": turns[1:], "doc_id": row["doc_key"]})
    return Corpus("doc2dial", docs, questions)


NAMED = {"brand": brand_corpus, "covid_qa": covid_qa_corpus, "doc2dial": doc2dial_corpus}


def corpus_by_name(name: str) -> Corpus:
    return NAMED[name]() if name in NAMED else load_corpus(Path(name))


def build_store(
    corpus: Corpus, embeddings: Embeddings, chunk_size: int = 900, overlap: int = 120
) -> tuple[KnowledgeStore, float]:
    store = KnowledgeStore(QdrantClient(":memory:"), embeddings, "bench", manifest_ttl=3600, local_index=True)
    store.ensure_collections()
    started = time.monotonic()
    report = RefreshReport()
    for doc in corpus.documents:
        source = SourceDocument(
            path=doc["id"], title=doc.get("title") or doc["id"], kind="text", text=doc["text"], modified=""
        )
        _publish_document(
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


def evaluate(
    store: KnowledgeStore, questions: list[dict[str, Any]], mode: str, with_history: bool, depth: int = 20
) -> dict[str, float]:
    hits_at_1 = hits_at_5 = 0
    reciprocal: list[float] = []
    latencies: list[float] = []
    forget = getattr(store.embeddings, "forget", lambda: None)  # time the model, not a memory
    for question in questions:
        forget()
        started = time.perf_counter()
        chunks = store.search(query_text(question, with_history), k=depth, mode=mode)
        latencies.append(time.perf_counter() - started)
        ranked = list(dict.fromkeys(hit.source for hit in chunks))
        rank = min(
            (ranked.index(doc) + 1 for doc in answering_documents(question) if doc in ranked), default=None
        )
        hits_at_1 += rank == 1
        hits_at_5 += rank is not None and rank <= 5
        reciprocal.append(1 / rank if rank else 0.0)
    latencies.sort()
    n = len(questions)
    return {
        "recall@1": round(hits_at_1 / n, 3),
        "recall@5": round(hits_at_5 / n, 3),
        "mrr": round(statistics.mean(reciprocal), 3),
        "p50_ms": round(latencies[n // 2] * 1000, 1),
        "p95_ms": round(latencies[min(n - 1, int(n * 0.95))] * 1000, 1),
    }


def run(
    name: str, embeddings: Embeddings, with_history: bool = False, limit: int | None = None, seed: int = 7
) -> dict[str, Any]:
    corpus = corpus_by_name(name)
    questions = corpus.questions
    if limit and len(questions) > limit:
        questions = random.Random(seed).sample(questions, limit)
    store, seconds = build_store(corpus, embeddings)
    results: dict[str, Any] = {
        "corpus": corpus.name,
        "documents": len(corpus.documents),
        "chunks": store.count(),
        "questions": len(questions),
        "history": with_history,
        "has_history": any(q.get("history") for q in questions),
        "index_seconds": round(seconds, 1),
    }
    for mode in MODES:
        results[mode] = evaluate(store, questions, mode, with_history)
    return results
