"""`tandem bench retrieval`: print and save retrieval quality per mode."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime

from bot.settings import ROOT

OUT_DIR = ROOT / "docs" / "benchmarks"


def table(results: list[dict]) -> str:
    lines = [
        "| corpus | questions | mode | recall@1 | recall@5 | MRR | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        label = r["corpus"] + (" (with history)" if r["history"] else "")
        for mode in ("dense", "sparse", "hybrid"):
            m = r[mode]
            lines.append(
                f"| {label} | {r['questions']} | {mode} | {m['recall@1']} | {m['recall@5']} | {m['mrr']} | {m['p50_ms']} | {m['p95_ms']} |"
            )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from knowledge.config import KnowledgeSettings, model_label
    from knowledge.embeddings import embedding_model
    from knowledge.evaluation import run

    settings = KnowledgeSettings()
    embeddings = embedding_model(settings.embedding_model, settings.embedding_batch_size)
    results = []
    for name in args.corpus:
        print(f"{name} ...", flush=True)
        results.append(run(name, embeddings, limit=args.limit))
        if args.history and results[-1]["has_history"]:
            print(f"{name} with history ...", flush=True)
            results.append(run(name, embeddings, with_history=True, limit=args.limit))
    print(table(results))
    if args.save:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        (OUT_DIR / "retrieval.json").write_text(
            json.dumps(
                {
                    "date": stamp,
                    "model": model_label(settings.embedding_model),
                    "results": results,
                },
                indent=2,
            )
            + "\n"
        )
        text = [
            "# Retrieval benchmark",
            "",
            f"`tandem bench retrieval --corpus {' '.join(args.corpus)}{' --history' if args.history else ''}"
            f"{f' --limit {args.limit}' if args.limit else ''} --save`, {stamp}, embedding model "
            f"{model_label(settings.embedding_model)}, {os.cpu_count()}-core CPU. A question counts as found at the",
            "rank of the best-ranked document that answers it (its `doc_id`, or one of `also`: COVID-QA's entries",
            "that ask the very same question); latency is one query (embedding + search) on an in-memory local",
            "Qdrant.",
            "",
            table(results),
            "",
            "Index sizes: "
            + "; ".join(
                f"{r['corpus']}: {r['documents']} documents, {r['chunks']} chunks, indexed in {r['index_seconds']} s"
                for r in results
                if not r["history"]
            )
            + ".",
        ]
        (OUT_DIR / "retrieval.md").write_text("\n".join(text) + "\n")
    return 0


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "retrieval", help="recall@1/@5 and MRR for dense, sparse and hybrid retrieval, and query latency"
    )
    q.add_argument(
        "--corpus",
        nargs="+",
        default=["brand"],
        help="brand, covid_qa, doc2dial, or a folder with documents.jsonl and questions.jsonl",
    )
    q.add_argument(
        "--history",
        action="store_true",
        help="also run with the dialogue history in the query (questions that have one)",
    )
    q.add_argument("--limit", type=int, help="sample at most this many questions per corpus (fixed seed)")
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/retrieval.md and .json")
    q.set_defaults(func=main)
