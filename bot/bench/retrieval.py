"""`tandem bench retrieval`: print and save retrieval quality per mode."""

from __future__ import annotations

import argparse
import os

from bot.bench.report import provenance, write_report


def table(results: list[dict]) -> str:
    lines = [
        "| corpus | questions | mode | recall@1 | recall@5 | MRR | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        label = r["corpus"] + (" (with history)" if r["history"] else "")
        rows = [(mode, r[mode]) for mode in ("dense", "sparse", "hybrid")]
        if "tuned" in r:
            rows += [
                (f"{mode}, tuned ({r['tuned']['folds']}-fold)", r["tuned"][mode])
                for mode in ("dense", "hybrid")
            ]
        for mode, m in rows:
            lines.append(
                f"| {label} | {r['questions']} | {mode} | {m['recall@1']} | {m['recall@5']} | {m['mrr']} | {m['p50_ms']} | {m['p95_ms']} |"
            )
    return "\n".join(lines)


def command_line(args: argparse.Namespace) -> str:
    words = ["tandem bench retrieval --corpus", *args.corpus]
    words += ["--history"] if args.history else []
    words += [f"--limit {args.limit}"] if args.limit else []
    if args.tune:
        words += [f"--tune {args.tune}"] + (["--tune-corpus", *args.tune_corpus] if args.tune_corpus else [])
    return " ".join([*words, "--save"])


def main(args: argparse.Namespace) -> int:
    from bot.bench.evaluation import CrossValidation, run
    from knowledge.config import KnowledgeSettings, model_label
    from knowledge.embeddings import embedding_model
    from knowledge.tune import TuneOptions

    settings = KnowledgeSettings()
    embeddings = embedding_model(settings.embedding_model, settings.embedding_batch_size)
    tune = None
    if args.tune:
        tune = CrossValidation(
            settings.embedding_model,
            folds=args.tune,
            options=TuneOptions(epochs=args.tune_epochs, hard_negatives=args.tune_negatives),
            batch_size=settings.embedding_batch_size,
        )
    results = []
    for name in args.corpus:
        print(f"{name} ...", flush=True)
        tuned = tune if not args.tune_corpus or name in args.tune_corpus else None
        results.append(run(name, embeddings, limit=args.limit, tune=tuned))
        if args.history and results[-1]["has_history"]:
            print(f"{name} with history ...", flush=True)
            results.append(run(name, embeddings, with_history=True, limit=args.limit, tune=tuned))
    print(table(results))
    if args.save:
        stamp = provenance()["date"]
        text = [
            "# Retrieval benchmark",
            "",
            f"`{command_line(args)}`, {stamp}, embedding model "
            f"{model_label(settings.embedding_model)}, {os.cpu_count()}-core CPU. A question counts as found at the",
            "rank of the best-ranked document that answers it (its `doc_id`, or one of `also`: COVID-QA's entries",
            "that ask the very same question as it, or ask the paraphrase word for word); latency is one query",
            "(embedding + search) on an in-memory local Qdrant.",
            *(
                [
                    "",
                    f"Rows marked tuned: the embedding model tuned on the corpus's own labelled questions "
                    f"(`tandem kb tune`, {args.tune_epochs} epochs), measured by {args.tune}-fold cross-validation: "
                    "each question is asked of a model that was tuned on the other folds' questions only.",
                ]
                if args.tune
                else []
            ),
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
        data = {"date": stamp, "model": model_label(settings.embedding_model), "results": results}
        write_report("retrieval", "\n".join(text), data)
    return 0


def add_parser(bsub: argparse._SubParsersAction) -> None:
    from knowledge.tune import TuneOptions

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
    q.add_argument(
        "--tune",
        type=int,
        metavar="K",
        help="also measure the embedding model tuned on the corpus's labelled questions "
        "(`tandem kb tune`), by K-fold cross-validation (minutes per fold on a CPU)",
    )
    q.add_argument(
        "--tune-epochs", type=int, default=TuneOptions.epochs, help="epochs of tuning (default %(default)s)"
    )
    q.add_argument(
        "--tune-negatives",
        type=int,
        default=TuneOptions.hard_negatives,
        help="hard negatives per question (default %(default)s)",
    )
    q.add_argument(
        "--tune-corpus",
        nargs="+",
        metavar="CORPUS",
        help="tune for these corpora only (default: all of --corpus)",
    )
    q.add_argument(
        "--save",
        action="store_true",
        help="write docs/benchmarks/retrieval.md and .json (notes under 'Notes:' in the .md are kept)",
    )
    q.set_defaults(func=main)
