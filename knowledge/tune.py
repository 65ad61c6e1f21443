"""Tune the embedding model on a team's labelled questions (`tandem kb tune`).

all-MiniLM-L6-v2 learnt general English paraphrases. A team's customers ask in their own
words ("corona" for COVID-19, "how does the virus diffuse" for how it spreads) about near
neighbours ("Should I wear a mask?" beside "Should travellers wear facemasks?"). A few
hundred labelled questions, each with the document that answers it, teach the model that
phrasing: contrastive training where a question must pick its answering passage among the
other passages of its batch and the passage of another document that the untuned model
ranked highest (its hard negative). On a CPU it takes minutes; nothing is downloaded.

The tuned model is a sentence-transformers folder with `tandem-tuned.json` beside it (what
it was trained on). Point `TANDEM_EMBEDDING_MODEL` at it and refresh: the store's vectors
were made by another model, so it is rebuilt.

Its worth is measured by cross-validation only (`tandem bench retrieval --tune K`): a
question is never scored by a model that was trained on it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.config import MARKER

if TYPE_CHECKING:  # the CLI reads TuneOptions' defaults without loading the store
    from knowledge.store import KnowledgeStore

SCALE = 20.0  # cosine similarities times this are the logits (sentence-transformers' default)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TuneOptions:
    epochs: int = 3
    learning_rate: float = 2e-5
    batch_size: int = 32
    max_seq_length: int = 128  # tokens; questions and headings are short, passages are cut
    hard_negatives: int = 1  # per question: the best passages of other documents (0: in-batch only)
    seed: int = 0


@dataclass
class Example:
    """One labelled question, with the texts that stand for its answer: the best chunk of an
    answering document (its passage, and its question heading when it has one: the store's
    vector of a chunk is the sum of both) and the same for the best chunks of other documents."""

    question: str
    doc: str
    positive: list[str]
    negatives: dict[str, list[str]] = field(default_factory=dict)  # document -> its texts


def _texts(text: str) -> list[str]:
    from knowledge.store import heading_of

    heading = heading_of(text)
    return [text, heading] if heading else [text]


def mine_examples(
    store: KnowledgeStore, questions: list[dict[str, Any]], negatives: int = 1, depth: int = 20
) -> tuple[list[Example], list[str]]:
    """Training examples from labelled questions ({question, doc_id, also?}) against a
    store built with the untuned model: the answering documents' best chunk, and the best
    chunks of the `negatives` best-ranked other documents. Returns the examples and the
    questions skipped (their documents are not in the store)."""
    examples, skipped = [], []
    for row in questions:
        answering = [row["doc_id"], *row.get("also", [])]
        best = store.search(row["question"], k=1, mode="dense", sources=answering)
        if not best:
            skipped.append(row["question"])
            continue
        example = Example(row["question"], best[0].source, _texts(best[0].text))
        for hit in store.search(row["question"], k=depth, mode="dense") if negatives else []:
            if hit.source not in answering and hit.source not in example.negatives:
                example.negatives[hit.source] = _texts(hit.text)
                if len(example.negatives) == negatives:
                    break
        examples.append(example)
    return examples, skipped


def _batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches in which no two questions share an answering document: another
    question's passage is a negative, so it must not be the right answer."""
    pending = examples[:]
    rng.shuffle(pending)
    batches: list[list[Example]] = []
    while pending:
        batch, docs, rest = [], set(), []
        for example in pending:
            if len(batch) < size and example.doc not in docs:
                batch.append(example)
                docs.add(example.doc)
            else:
                rest.append(example)
        batches.append(batch)
        pending = rest
    return batches


def _loss(model: Any, batch: list[Example], rng: random.Random) -> Any:
    import torch

    candidates: dict[str, list[str]] = {e.doc: e.positive for e in batch}
    for e in batch:
        for doc, texts in e.negatives.items():
            candidates.setdefault(doc, texts)
    docs = list(candidates)
    texts = [rng.choice(candidates[d]) for d in docs]  # the passage or its question heading

    prepare = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 5

    def encode(strings: list[str]) -> Any:
        features = prepare(strings)
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    logits = encode([e.question for e in batch]) @ encode(texts).T * SCALE
    labels = torch.tensor([docs.index(e.doc) for e in batch])
    return torch.nn.functional.cross_entropy(logits, labels)


def fingerprint(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.question, e.doc, e.positive], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def tune(
    base: str,
    examples: list[Example],
    out: Path,
    options: TuneOptions = TuneOptions(),
    progress: Progress | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a copy of the `base` model on `examples` and save it to `out` (replaced only
    once the new model is written whole). Returns what `tandem-tuned.json` records, with
    `extra` (the hybrid fusion's dense weight fitted on the same questions)."""
    if len(examples) < 2:
        raise ValueError(f"tuning needs at least 2 labelled questions, got {len(examples)}")
    if options.epochs < 1 or options.batch_size < 2 or options.learning_rate <= 0:
        raise ValueError(
            f"tuning needs epochs >= 1, batches of 2 or more and a positive learning rate: {options}"
        )
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    model = SentenceTransformer(base, device="cuda" if torch.cuda.is_available() else "cpu")
    serving_length = model.max_seq_length
    model.max_seq_length = min(serving_length or options.max_seq_length, options.max_seq_length)
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate)
    plan = [_batches(examples, options.batch_size, rng) for _ in range(options.epochs)]
    total, done = sum(map(len, plan)), 0
    losses: list[list[float]] = []
    started = time.monotonic()
    model.train()
    for epoch in plan:
        losses.append([])
        for batch in epoch:
            loss = _loss(model, batch, rng)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses[-1].append(float(loss.detach()))
            done += 1
            if progress:
                progress(done, total)
    model.eval()
    record = {
        "base": base,
        "questions": len(examples),
        "data": fingerprint(examples),
        "options": asdict(options),
        "steps": total,
        "loss_per_epoch": [round(sum(epoch) / len(epoch), 4) for epoch in losses],
        "seconds": round(time.monotonic() - started, 1),
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.max_seq_length = serving_length  # serve whole passages, as the base model does
    model.save(str(partial))
    (partial / MARKER).write_text(json.dumps(record, indent=2) + "\n")
    previous = out.with_name(
        out.name + ".previous"
    )  # the old model stays whole until the new one is in place
    shutil.rmtree(previous, ignore_errors=True)
    if out.exists():
        out.rename(previous)
    partial.rename(out)
    shutil.rmtree(previous, ignore_errors=True)
    return record
