"""Follow-ups on doc2dial: how each way of reading a turn against its dialogue finds the
document the agent answered from.

    .venv/bin/python -m bot.bench.experiments.followup_doc2dial [--limit 1000] [--save]

doc2dial (shared/datasets/doc2dial, CC BY 3.0) has goal-oriented dialogues grounded in
government help pages; every user turn comes with the dialogue before it. Readings
compared, all searched hybrid (the product's mode) on the same index:

- ``last turn``: the user's turn alone (what the gate read before knowledge/followup.py);
- ``last + 2 turns``: the turn and the two turns before it, user's and agent's, concatenated
  (`tandem bench retrieval --history`);
- ``standalone``: knowledge/followup.py's reading against the user's earlier turns (newest
  first), with the embedding model and the index's plausibility, as the action server reads;
- ``standalone + previous document``: the same, and when the document the previous user
  turn's search put first is among this search's hits, it is moved to the top (the
  conversation stays on its page unless the question clearly leaves it);
- ``standalone + previous user turn``: the standalone question and the user's turn before it,
  concatenated (the agent's turns left out);
- ``standalone fused with last + 2 turns``: the two searches' rankings fused by reciprocal
  ranks (the gate would still decide on the standalone question).

Reported per reading: recall@1, recall@5 and MRR of the answering document (doc_key), and
how many turns each kind of reading (as_is, ellipsis, reference, record) took.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from typing import Any

from bot.bench.evaluation import build_store, doc2dial_corpus, summarize
from bot.bench.report import provenance, publish
from bot.core.settings import ROOT
from knowledge.answer import embedding_scorer
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import embedding_model
from knowledge.followup import Context, resolve
from knowledge.ranking import read_jsonl

DEPTH = 20


def user_turns(row: dict[str, Any]) -> list[str]:
    """The dialogue's user turns before this one, newest first."""
    turns = row["history_newest_first"].split("\t")[1:]
    return [t.split(":", 1)[1].strip() for t in turns if t.startswith("user:")]


def rank_of(hits: list[Any], doc: str) -> int | None:
    ranked = list(dict.fromkeys(h.source for h in hits))
    return ranked.index(doc) + 1 if doc in ranked else None


def fuse(*lists: list[Any], k: int = 60) -> list[Any]:
    """Reciprocal rank fusion of hit lists, by document."""
    scores: dict[str, float] = {}
    first: dict[str, Any] = {}
    for hits in lists:
        for rank, source in enumerate(dict.fromkeys(h.source for h in hits), 1):
            scores[source] = scores.get(source, 0.0) + 1.0 / (k + rank)
        for h in hits:
            first.setdefault(h.source, h)
    return [first[s] for s in sorted(scores, key=lambda s: -scores[s])]


def main(limit: int, seed: int, save: bool) -> dict:
    corpus = doc2dial_corpus()
    rows = read_jsonl(ROOT.parent / "shared" / "datasets" / "doc2dial" / "questions.jsonl")
    pairs = list(zip(corpus.questions, rows, strict=True))
    if limit and len(pairs) > limit:
        pairs = random.Random(seed).sample(pairs, limit)
    embeddings = embedding_model(KnowledgeSettings().embedding_model)
    store, seconds = build_store(corpus, embeddings)
    print(f"indexed {len(corpus.documents)} documents in {seconds:.0f} s", flush=True)
    similarity = embedding_scorer(embeddings)

    def plausibility(questions: list[str]) -> list[float]:
        return [
            max((h.dense or 0.0 for h in store.search(q, k=1, mode="dense")), default=0.0) for q in questions
        ]

    found: dict[str, list[int | None]] = {
        k: [] for k in ("last", "concat", "standalone", "previous_doc", "concat_user", "fused")
    }
    kinds: Counter[str] = Counter()
    for number, (question, row) in enumerate(pairs, 1):
        doc = question["doc_id"]
        found["last"].append(rank_of(store.search(question["question"], k=DEPTH), doc))
        concat = " ".join([question["question"], *question["history"][:2]])
        found["concat"].append(rank_of(store.search(concat, k=DEPTH), doc))
        earlier = user_turns(row)
        resolved = resolve(
            question["question"], Context(earlier[:1]), similarity=similarity, plausibility=plausibility
        )
        kinds[resolved.kind] += 1
        hits = store.search(resolved.text, k=DEPTH)
        found["standalone"].append(rank_of(hits, doc))
        if earlier:
            before = store.search(earlier[0], k=1)
            previous = before[0].source if before else None
            if previous and previous in {h.source for h in hits}:
                hits = [h for h in hits if h.source == previous] + [h for h in hits if h.source != previous]
        found["previous_doc"].append(rank_of(hits, doc))
        with_user = " ".join([resolved.text, *earlier[:1]])
        found["concat_user"].append(rank_of(store.search(with_user, k=DEPTH), doc))
        found["fused"].append(
            rank_of(fuse(store.search(resolved.text, k=DEPTH), store.search(concat, k=DEPTH)), doc)
        )
        if number % 100 == 0:
            print(f"  {number}/{len(pairs)}", flush=True)
    labels = {
        "last": "last turn",
        "concat": "last + 2 turns",
        "standalone": "standalone",
        "previous_doc": "standalone + previous document",
        "concat_user": "standalone + previous user turn",
        "fused": "standalone fused with last + 2 turns (reciprocal ranks)",
    }
    results = {labels[k]: summarize(v, [0.0] * len(v)) for k, v in found.items()}
    data = {
        "provenance": provenance(),
        "questions": len(pairs),
        "with_earlier_user_turn": sum(bool(user_turns(r)) for _, r in pairs),
        "readings": dict(kinds),
        "results": results,
    }
    lines = [
        "# Follow-ups on doc2dial: which reading of a turn finds its document",
        "",
        f"`.venv/bin/python -m bot.bench.experiments.followup_doc2dial --limit {limit} --save`, "
        f"{data['provenance']['date']}, commit {data['provenance']['commit']}, {data['provenance']['machine']}: "
        f"{len(pairs)} user turns ({data['with_earlier_user_turn']} with an earlier user turn), hybrid search, "
        f"{len(corpus.documents)} documents.",
        "",
        "| reading | recall@1 | recall@5 | MRR |",
        "|---|---|---|---|",
    ]
    lines += [f"| {k} | {v['recall@1']} | {v['recall@5']} | {v['mrr']} |" for k, v in results.items()]
    lines += ["", "Readings of knowledge/followup.py: " + json.dumps(dict(kinds))]
    publish("experiments/followup_doc2dial", "\n".join(lines) + "\n", data, save)
    return data


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1000, help="user turns sampled (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--save", action="store_true", help="write docs/benchmarks/experiments/followup_doc2dial.*"
    )
    args = parser.parse_args()
    main(args.limit, args.seed, args.save)
