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
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from bot.bench.report import latency_ms
from bot.core.settings import ROOT, current_brand
from knowledge.loaders import SourceDocument, load_sources
from knowledge.ranking import (
    fit_dense_weight,
    index_sources,
    mean_reciprocal_rank,
    query_text,
    ranks,
    read_jsonl,
)
from knowledge.store import KnowledgeStore
from knowledge.tune import TuneOptions

DATASETS = ROOT.parent / "shared" / "datasets"
MODES = ("dense", "sparse", "hybrid")


@dataclass
class Corpus:
    name: str
    documents: list[dict[str, Any]]
    questions: list[dict[str, Any]]


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
    return Corpus("brand", docs, read_jsonl(current_brand().qa_file))


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
                # an entry of another source that asks the paraphrase word for word answers it too
                verbatim = by_question.get(" ".join(row["question_2"].split()).lower(), [])
                also = [doc for doc in [*targets[1:], *verbatim] if doc != targets[0]]
                question = {"question": row["question_2"], "doc_id": targets[0]}
                if also:
                    question["also"] = list(dict.fromkeys(also))
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
    sources = [
        SourceDocument(
            path=doc["id"], title=doc.get("title") or doc["id"], kind="text", text=doc["text"], modified=""
        )
        for doc in corpus.documents
    ]
    return index_sources(sources, embeddings, chunk_size, overlap)


def summarize(found: list[int | None], latencies: list[float]) -> dict[str, float]:
    n = len(found)
    return {
        "recall@1": round(sum(rank == 1 for rank in found) / n, 3),
        "recall@5": round(sum(rank is not None and rank <= 5 for rank in found) / n, 3),
        "mrr": round(mean_reciprocal_rank(found), 3),
        **latency_ms(latencies),
    }


def evaluate(
    store: KnowledgeStore, questions: list[dict[str, Any]], mode: str, with_history: bool, depth: int = 20
) -> dict[str, float]:
    return summarize(*ranks(store, questions, mode, with_history, depth))


def run(
    name: str,
    embeddings: Embeddings,
    with_history: bool = False,
    limit: int | None = None,
    seed: int = 7,
    tune: CrossValidation | None = None,
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
    if tune is not None:
        results["tuned"] = tune.run(corpus, store, questions, with_history)
    return results


@dataclass
class CrossValidation:
    """The embedding model tuned on labelled questions (knowledge/tune.py), measured by
    k-fold cross-validation: each fold's questions are asked of a model tuned on the other
    folds' questions only, over a store re-embedded by that model."""

    base: str  # the untuned model's name or path
    folds: int = 4
    options: TuneOptions = field(default_factory=TuneOptions)
    batch_size: int = 32
    seed: int = 7
    progress: Callable[[str], None] = print

    def tuned_folds(
        self, corpus: Corpus, base_store: KnowledgeStore, questions: list[dict[str, Any]], with_history: bool
    ) -> Iterator[TunedFold]:
        """Per fold: the store re-embedded by the model tuned on the other folds, and the
        fold's own questions to ask it. The store is closed once the next fold is asked for."""
        from knowledge.embeddings import load_embedding_model
        from knowledge.tune import mine_examples, tune

        if len(questions) < 2 * self.folds:
            raise ValueError(f"{self.folds}-fold cross-validation needs {2 * self.folds}+ questions")
        order = list(range(len(questions)))
        random.Random(self.seed).shuffle(order)
        for fold in range(self.folds):
            held_out = set(order[fold :: self.folds])
            train = [
                {**q, "question": query_text(q, with_history)}
                for i, q in enumerate(questions)
                if i not in held_out
            ]
            test = [q for i, q in enumerate(questions) if i in held_out]
            examples, _ = mine_examples(base_store, train, self.options.hard_negatives)
            weight, _ = fit_dense_weight(base_store, train)  # by the untuned model, on the training folds
            with tempfile.TemporaryDirectory(prefix="tandem-tune-") as folder:
                record = tune(self.base, examples, Path(folder) / "model", self.options)
                store, _ = build_store(
                    corpus, load_embedding_model(str(Path(folder) / "model"), self.batch_size)
                )
                store.dense_weight = weight
                try:
                    yield TunedFold(fold, store, train, test, weight, record)
                finally:
                    store.client.close()
            self.progress(
                f"  fold {fold + 1}/{self.folds}: tuned on {len(examples)} questions in {record['seconds']} s, "
                f"dense weight {weight}, scored {len(test)}"
            )

    def run(
        self, corpus: Corpus, base_store: KnowledgeStore, questions: list[dict[str, Any]], with_history: bool
    ) -> dict[str, Any]:
        found: dict[str, list[int | None]] = {mode: [] for mode in MODES}
        latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
        weights: list[float] = []
        started = time.monotonic()
        for fold in self.tuned_folds(corpus, base_store, questions, with_history):
            weights.append(fold.weight)
            for mode in MODES:
                ranked, seconds = ranks(fold.store, fold.test, mode, with_history)
                found[mode] += ranked
                latencies[mode] += seconds
        return {
            "folds": self.folds,
            "options": asdict(self.options),
            "seconds": round(time.monotonic() - started, 1),
            "dense_weights": weights,
            **{mode: summarize(found[mode], latencies[mode]) for mode in MODES},
        }


@dataclass
class TunedFold:
    index: int
    store: KnowledgeStore  # embedded by the model tuned on `train`
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    weight: float  # the dense weight fitted on `train`
    record: dict[str, Any]  # what tune() wrote
