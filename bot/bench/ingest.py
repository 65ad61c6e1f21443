"""`tandem bench ingest`: ingestion speed, full and one-document refresh, and query latency
in on-disk stores of a given size (generated documents, the default embedding model).

For each size (in chunks) it writes that many chunks' worth of Markdown documents to a
scratch folder, then, on a local Qdrant store on disk (the default deployment):
1. a full refresh from empty (chunks/s),
2. a refresh with nothing changed (the fixed cost of a sync),
3. a refresh after editing one paragraph of one document,
4. a refresh after adding one document and deleting another,
5. hybrid, dense and sparse query latency (p50/p95) over the full store.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.bench.report import latency_ms, provenance, write_report

SECTIONS_PER_DOCUMENT = 10  # one section is written to fill one chunk

NOUNS = (
    "order parcel refund voucher warranty battery charger cable kettle blender jacket backpack tent "
    "lamp speaker headset keyboard monitor printer courier invoice receipt account password address "
    "discount promotion subscription delivery pickup locker exchange repair replacement filter"
).split()
ADJECTIVES = (
    "express standard damaged faulty unopened recycled waterproof wireless portable compact annual "
    "monthly international domestic refurbished premium basic"
).split()
VERBS = "ships arrives covers includes excludes requires allows replaces refunds charges".split()


def sentence(rng: random.Random) -> str:
    return (
        f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)} "
        f"within {rng.randint(1, 90)} days for {rng.randint(1, 500)}.{rng.randint(0, 99):02d} EUR "
        f"(code {rng.choice(NOUNS)[:3].upper()}-{rng.randint(1000, 9999)})."
    )


def section_text(rng: random.Random) -> str:
    """One to six sentences (130 to 800 characters): sections of real help pages vary."""
    return " ".join(sentence(rng) for _ in range(rng.randint(1, 6)))


def write_document(folder: Path, index: int, seed: int = 0) -> Path:
    rng = random.Random(index * 7919 + seed)
    lines = [f"# Generated guide {index}", ""]
    for s in range(SECTIONS_PER_DOCUMENT):
        lines += [f"## {rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} {s}", "", section_text(rng), ""]
    path = folder / f"guide-{index:05d}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def measure_size(chunks: int, queries: int, embeddings: Any, model: str) -> dict[str, Any]:
    from knowledge.base import KnowledgeBase
    from knowledge.chunking import split_document
    from knowledge.config import KnowledgeSettings
    from knowledge.loaders import load_sources
    from knowledge.store import KnowledgeStore, open_client

    scratch = Path(tempfile.mkdtemp(prefix="tandem-bench-ingest-"))
    try:
        sources = scratch / "sources"
        sources.mkdir()
        documents = max(1, chunks // SECTIONS_PER_DOCUMENT)
        for index in range(documents):
            write_document(sources, index)
        settings = replace(
            KnowledgeSettings(), sources=sources, qdrant_path=scratch / "qdrant", qdrant_url=None
        )
        store = KnowledgeStore(open_client(settings), embeddings, "bench", local_index=True)
        kb = KnowledgeBase(store, settings)

        def timed_refresh(label: str) -> dict[str, Any]:
            started = time.perf_counter()
            report = kb.refresh()
            seconds = time.perf_counter() - started
            print(
                f"  {label}: {seconds:.2f} s, {report.chunks_embedded} embedded, "
                f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed",
                flush=True,
            )
            return {
                "seconds": round(seconds, 3),
                "chunks_embedded": report.chunks_embedded,
                "added": len(report.added),
                "updated": len(report.updated),
                "removed": len(report.removed),
            }

        print(f"{chunks} chunks ({documents} documents):", flush=True)
        full = timed_refresh("full refresh")
        full["chunks_per_second"] = round(full["chunks_embedded"] / full["seconds"], 1)
        lengths = [len(c.text) for doc in load_sources(sources, 10**8)[0] for c in split_document(doc, "")]
        full["mean_chunk_chars"] = round(sum(lengths) / len(lengths))
        nothing = timed_refresh("nothing changed")

        edited = sources / "guide-00000.md"
        edited.write_text(
            edited.read_text(encoding="utf-8").replace(" days ", " working days ", 1), encoding="utf-8"
        )
        one_edit = timed_refresh("one document edited")

        write_document(sources, documents, seed=1)
        (sources / f"guide-{documents - 1:05d}.md").unlink()
        add_delete = timed_refresh("one added, one deleted")

        rng = random.Random(3)
        latencies: dict[str, dict[str, float]] = {}
        for mode in ("hybrid", "dense", "sparse"):
            times = []
            for _ in range(queries):
                question = (
                    f"how many days does the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} take "
                    f"for a {rng.choice(NOUNS)}"
                )
                started = time.perf_counter()
                hits = kb.search(question, k=5, mode=mode)
                times.append(time.perf_counter() - started)
                assert hits, "a search of a full store found nothing"
            latencies[mode] = latency_ms(times)
            print(f"  {mode} query: p50 {latencies[mode]['p50_ms']} ms, p95 {latencies[mode]['p95_ms']} ms")
        return {
            "chunks": store.count(),
            "documents": documents,
            "full_refresh": full,
            "nothing_changed": nothing,
            "one_document_edited": one_edit,
            "one_added_one_deleted": add_delete,
            "query": latencies,
            "model": model,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| chunks | documents | mean chunk chars | full refresh s | chunks/s | nothing changed s | one edited s (embedded) "
        "| one added + one deleted s | hybrid p50/p95 ms | dense p50/p95 ms | sparse p50/p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        q = r["query"]
        lines.append(
            f"| {r['chunks']} | {r['documents']} | {r['full_refresh']['mean_chunk_chars']} | {r['full_refresh']['seconds']} "
            f"| {r['full_refresh']['chunks_per_second']} | {r['nothing_changed']['seconds']} "
            f"| {r['one_document_edited']['seconds']} ({r['one_document_edited']['chunks_embedded']}) "
            f"| {r['one_added_one_deleted']['seconds']} "
            + " ".join(f"| {q[m]['p50_ms']} / {q[m]['p95_ms']}" for m in ("hybrid", "dense", "sparse"))
            + " |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from knowledge.config import KnowledgeSettings, model_label
    from knowledge.embeddings import embedding_model

    settings = KnowledgeSettings()
    embeddings = embedding_model(settings.embedding_model, settings.embedding_batch_size)
    model = model_label(settings.embedding_model)
    results = [measure_size(size, args.queries, embeddings, model) for size in args.sizes]
    print(table(results))
    if args.save:
        stamp = provenance()["date"]
        command = (
            f"tandem bench ingest --sizes {' '.join(map(str, args.sizes))} --queries {args.queries} --save"
        )
        write_report(
            "ingest",
            "\n".join(
                [
                    "# Ingestion and refresh benchmark",
                    "",
                    f"`{command}`, {stamp}, embedding model {model}, Qdrant local mode on disk,",
                    "this 2-core CPU. Generated Markdown documents of 10 sections (one chunk each). Each",
                    "refresh is the real `tandem kb refresh` path: read and hash every source, diff",
                    "against the manifest, embed only new chunks, publish, sweep.",
                    "",
                    table(results),
                    "",
                ]
            ),
            {"date": stamp, "results": results},
        )
    return 0


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "ingest",
        help="ingestion chunks/s, full and one-document refresh, and query latency at given store sizes",
    )
    q.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=[1000, 10000],
        help="store sizes in chunks (default 1000 10000)",
    )
    q.add_argument("--queries", type=int, default=100, help="queries per retrieval mode (default 100)")
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/ingest.md and .json")
    q.set_defaults(func=main)
