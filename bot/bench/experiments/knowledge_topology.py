"""Run: .venv/bin/python -m bot.bench.experiments.knowledge_topology [--save] [--sizes brand 10000] [--queries 200]

Experiment, not in the product: how the knowledge base should be shared when several processes
need it (several Rasa replicas, possibly several action servers). Qdrant local mode locks its
folder to one process, so either one process serves the knowledge base to the others, or each
process keeps a read-only copy refreshed from one writer, or a Qdrant server (QDRANT_URL) is
used. On the same chunks and the same query vectors (embedded once, before any timing: no
figure below includes the embedding model), it measures:

a. the in-memory mirror (knowledge/local_index.py) in the process that owns the local Qdrant
   store, as the action server runs it today: the time to open the store and load the mirror,
   their memory (RSS delta), `KnowledgeStore.search(mode="hybrid")` p50/p95 (the product's
   path: live-revision check, dense and sparse search on the mirror, z-score fusion, the
   texts of the kept chunks read from the store), each side alone, and how long the owner
   takes to see a one-document change. Also the mirror alone, loaded from an exported file
   (a copy per replica without Qdrant local mode): load time and RSS.
b. qdrant-edge-py (the embedded Qdrant engine, one "shard" folder per copy): the time to
   build a shard from the same points (upsert, flush, optimize), a reader's load time and
   RSS, dense / sparse (Modifier.Idf) / hybrid (both sides in one query_batch, fused with
   the product's z-score fusion, then the top texts retrieved) p50/p95, and Qdrant's own
   RRF fusion (prefetch + Fusion.Rrf) for reference. Refresh: a writer process changes one
   document (delete its chunks, upsert new ones), flushes, publishes a copy of its shard
   folder as a new generation (cp --sparse=always) and points a file at it; a reader in
   another process polls that file every 10 ms, loads the new generation and reports when
   a query finds the new chunk. Also two other ways for a reader to catch up: the edge
   snapshot API (a tar of the writer's folder, EdgeShard.update_from_snapshot) and a
   change feed (the reader applies the same update operations to its own copy).
c. one process serving the others over HTTP on loopback: a sanic app in a subprocess (the
   action server is sanic) owning the store and the mirror, GET /kb/search?q=..&k=5 run in
   its executor as actions/server.py does; clients use requests.Session, 1 and 4 threads:
   per-request p50/p95 and requests/s.
d. agreement: top-5 ids of the mirror and of qdrant-edge (dense, sparse, hybrid),
   overlap@5 and identical top-5 lists, and the largest score differences.

Corpora: `brand` is the brand's own documents (bot/brands/<brand>/sources, chunked as a
refresh does) with the brand's qa.jsonl questions; a number N is N chunks of the generated
help pages of bot/bench/ingest.py (10 sections per document) with its generated questions.
Chunk vectors are made as the product makes them (knowledge.store.chunk_vectors, the
configured model, all-MiniLM-L6-v2 by default), cached under --work-dir between runs.

Measured roles run in subprocesses of their own (`--role`), so each memory figure is one
process's. The CPU time other processes took during each timing is reported (cores busy
outside the measured process) as a noise indicator. A Qdrant server is not measured: there is
no Qdrant server binary on this machine. With --save, writes
docs/benchmarks/experiments/knowledge_topology.md and .json. About 5 minutes on 2 cores
(10,000 chunks to embed on the first run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.bench.experiments.cpu_load import CpuOthers
from bot.bench.report import OUT_DIR, latency_ms, provenance, write_report

MODULE = "bot.bench.experiments.knowledge_topology"
COLLECTION = "bench"
K = 5
FETCH = 40  # each side's depth that hybrid fuses (knowledge.store.HYBRID_DEPTH)
REFRESH_ROUNDS = 5
POLL_SECONDS = 0.01
RESULT = "RESULT "


# --- measuring ------------------------------------------------------------------------------
def memory_mb() -> dict[str, float]:
    """This process's resident memory: RSS, its anonymous part (heap, not file pages) and PSS
    (file pages shared with other processes counted once in all), in MB."""
    values: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Anonymous"):
            values[key.lower()] = round(int(rest.split()[0]) / 1024, 1)
    return values


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: round(after[key] - before[key], 1) for key in after}


def timed_loop(calls: list, warmup: int = 3) -> tuple[dict[str, float], list[Any], float]:
    """Run each call once (after `warmup` untimed ones): p50/p95, the results, other cores."""
    for call in calls[:warmup]:
        call()
    times, results = [], []
    with CpuOthers() as others:
        for call in calls:
            started = time.perf_counter()
            results.append(call())
            times.append(time.perf_counter() - started)
    return latency_ms(times), results, round(others.cores, 2)


def emit(data: dict[str, Any]) -> None:
    print(RESULT + json.dumps(data, default=str), flush=True)


def run_role(role: str, scratch: Path, *extra: str, timeout: float = 300) -> dict[str, Any]:
    """Run a measured role in a subprocess of its own; its RESULT line."""
    done = subprocess.run(
        [sys.executable, "-m", MODULE, "--role", role, "--scratch", str(scratch), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not lines:
        raise RuntimeError(f"role {role} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1][len(RESULT) :])


# --- the corpus ------------------------------------------------------------------------------
class Lookup(Embeddings):
    """Query vectors embedded ahead: searches time everything but the embedding model."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        self.table = {t: v.tolist() for t, v in zip(texts, vectors, strict=True)}
        self.size = vectors.shape[1]

    def embed_query(self, text: str) -> list[float]:
        return self.table[text] if text in self.table else [0.0] * self.size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


def chunks_of(size: str, scratch: Path) -> tuple[list[Any], list[str]]:
    """The chunks of a corpus (as a refresh makes them) and its questions."""
    from bot.bench.ingest import ADJECTIVES, NOUNS, SECTIONS_PER_DOCUMENT, write_document
    from bot.core.settings import current_brand
    from knowledge.chunking import split_document
    from knowledge.config import KnowledgeSettings
    from knowledge.loaders import load_sources

    if size == "brand":
        sources = KnowledgeSettings().sources
        questions = [
            json.loads(line)["question"]
            for line in current_brand().qa_file.read_text().splitlines()
            if line.strip()
        ]
    else:
        sources = scratch / "sources"
        sources.mkdir(parents=True, exist_ok=True)
        for index in range(max(1, int(size) // SECTIONS_PER_DOCUMENT)):
            write_document(sources, index)
        rng = random.Random(3)
        questions = [
            f"how many days does the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} take for a {rng.choice(NOUNS)}"
            for _ in range(200)
        ]
    documents = load_sources(sources, 10**8)[0]
    chunks = [chunk for doc in documents for chunk in split_document(doc, "")]
    revisions = {doc.path: doc.revision for doc in documents}
    for chunk in chunks:
        chunk.metadata["doc_revisions"] = [revisions[chunk.metadata["source"]]]
    return chunks, questions


def sparse_arrays(vectors: list[Any]) -> dict[str, np.ndarray]:
    lengths = [len(v.indices) for v in vectors]
    return {
        "indptr": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "indices": np.concatenate([np.asarray(v.indices, dtype=np.int64) for v in vectors]),
        "values": np.concatenate([np.asarray(v.values, dtype=np.float32) for v in vectors]),
    }


def sparse_rows(data: Any, prefix: str) -> list[tuple[list[int], list[float]]]:
    indptr, indices, values = (data[f"{prefix}_{k}"] for k in ("indptr", "indices", "values"))
    return [
        (indices[a:b].tolist(), values[a:b].tolist()) for a, b in zip(indptr[:-1], indptr[1:], strict=True)
    ]


def prepare(size: str, queries: int, scratch: Path, work: Path, model: Embeddings) -> dict[str, Any]:
    """Chunks, their dense (cached) and sparse vectors, the questions' vectors, written to
    scratch/corpus.npz and corpus.json; the local Qdrant store written at scratch/qdrant."""
    from knowledge.sparse import BM25SparseEmbeddings
    from knowledge.store import chunk_vectors

    chunks, questions = chunks_of(size, scratch)
    questions = [questions[i % len(questions)] for i in range(queries)]
    texts = [c.text for c in chunks]
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    cache = work / f"dense-{digest}.npy"
    started = time.perf_counter()
    if cache.exists():
        dense = np.load(cache)
    else:
        dense = np.concatenate(
            [
                np.asarray(chunk_vectors(model, texts[i : i + 512]), dtype=np.float32)
                for i in range(0, len(texts), 512)
            ]
        )
        np.save(cache, dense)
    embed_seconds = time.perf_counter() - started
    distinct = list(dict.fromkeys(questions))
    query_dense = np.asarray(model.embed_documents(distinct), dtype=np.float32)
    bm25 = BM25SparseEmbeddings()
    arrays = {"dense": dense, "query_dense": query_dense}
    arrays.update({f"sparse_{k}": v for k, v in sparse_arrays(bm25.embed_documents(texts)).items()})
    query_sparse = [bm25.embed_query(q) for q in distinct]
    arrays.update({f"qsparse_{k}": v for k, v in sparse_arrays(query_sparse).items()})
    np.savez(scratch / "corpus.npz", **arrays)
    (scratch / "corpus.json").write_text(
        json.dumps(
            {
                "ids": [c.id for c in chunks],
                "texts": texts,
                "metadatas": [c.metadata for c in chunks],
                "questions": questions,
                "distinct_questions": distinct,
            }
        )
    )
    started = time.perf_counter()
    write_qdrant(scratch)
    documents = len({c.metadata["source"] for c in chunks})
    print(
        f"{size}: {len(chunks)} chunks of {documents} documents, {len(distinct)} distinct questions; "
        f"vectors {embed_seconds:.1f} s, local store written in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return {
        "size": size,
        "chunks": len(chunks),
        "documents": documents,
        "mean_chunk_chars": round(sum(map(len, texts)) / len(texts)),
        "queries": len(questions),
        "distinct_queries": len(distinct),
        "dense_vectors_seconds": round(embed_seconds, 1),
        "dense_vectors_cached": embed_seconds < 1 and len(texts) > 100,
        "local_store_write_seconds": round(time.perf_counter() - started, 1),
    }


class Corpus:
    """What a role reads back from scratch/corpus.npz and .json."""

    def __init__(self, scratch: Path):
        data = np.load(scratch / "corpus.npz")
        meta = json.loads((scratch / "corpus.json").read_text())
        self.ids: list[str] = meta["ids"]
        self.texts: list[str] = meta["texts"]
        self.metadatas: list[dict] = meta["metadatas"]
        self.questions: list[str] = meta["questions"]
        self.distinct: list[str] = meta["distinct_questions"]
        self.dense: np.ndarray = data["dense"]
        self.sparse = sparse_rows(data, "sparse")
        self.query_dense = dict(zip(self.distinct, data["query_dense"], strict=True))
        self.query_sparse = dict(zip(self.distinct, sparse_rows(data, "qsparse"), strict=True))
        self.embeddings = Lookup(self.distinct, data["query_dense"])

    def changed_document(self, round_: int) -> tuple[list[str], list[int], list[str]]:
        """A one-document change: the ids of a document's chunks, the rows whose vectors and
        texts its new version takes (another document's), and the new chunk ids."""
        sources = list(dict.fromkeys(m["source"] for m in self.metadatas))
        old = sources[round_ % len(sources)]
        donor = sources[(round_ + len(sources) // 2) % len(sources)]
        gone = [i for i, m in zip(self.ids, self.metadatas, strict=True) if m["source"] == old]
        rows = [r for r, m in enumerate(self.metadatas) if m["source"] == donor]
        new = [hashlib.md5(f"{round_}-{r}".encode()).hexdigest() for r in rows]
        return gone, rows, [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in new]


def write_qdrant(scratch: Path) -> None:
    """The local Qdrant store as a refresh leaves it: chunks (payload as langchain-qdrant
    writes it) and the manifest of live revisions."""
    from qdrant_client import QdrantClient, models

    from knowledge.store import DENSE, SPARSE, KnowledgeStore

    corpus = Corpus(scratch)
    client = QdrantClient(path=str(scratch / "qdrant"))
    store = KnowledgeStore(client, corpus.embeddings, COLLECTION)
    store.ensure_collections()
    for start in range(0, len(corpus.ids), 256):
        rows = range(start, min(start + 256, len(corpus.ids)))
        client.upsert(
            COLLECTION,
            points=[
                models.PointStruct(
                    id=corpus.ids[r],
                    vector={
                        DENSE: corpus.dense[r].tolist(),
                        SPARSE: models.SparseVector(indices=corpus.sparse[r][0], values=corpus.sparse[r][1]),
                    },
                    payload={"page_content": corpus.texts[r], "metadata": corpus.metadatas[r]},
                )
                for r in rows
            ],
        )
    for meta in {m["source"]: m for m in corpus.metadatas}.values():
        store.publish(meta["source"], {"revision": meta["doc_revisions"][0]})
    client.close()


# --- a. the mirror in the owning process -------------------------------------------------------
def role_mirror(scratch: Path) -> None:
    from qdrant_client import QdrantClient, models

    from knowledge.store import DENSE, SPARSE, KnowledgeStore

    corpus = Corpus(scratch)
    base = memory_mb()
    started = time.perf_counter()
    client = QdrantClient(path=str(scratch / "qdrant"))
    store = KnowledgeStore(client, corpus.embeddings, COLLECTION, local_index=True)
    store.ensure_collections()
    open_seconds = time.perf_counter() - started
    opened = memory_mb()
    started = time.perf_counter()
    index = store._local_index()
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store.search(corpus.questions[0], k=K)  # compiles the mirror's matrices, reads the manifest
    first_search_seconds = time.perf_counter() - started
    loaded = memory_mb()

    hybrid, hybrid_hits, hybrid_others = timed_loop(
        [lambda q=q: store.search(q, k=K, mode="hybrid") for q in corpus.questions]
    )
    dense, dense_found, dense_others = timed_loop(
        [lambda q=q: index.search_dense(corpus.query_dense[q], FETCH) for q in corpus.questions]
    )
    sparse, sparse_found, sparse_others = timed_loop(
        [lambda q=q: index.search_sparse(*corpus.query_sparse[q], FETCH) for q in corpus.questions]
    )
    # the same searches from 4 threads at once (the action server's executor runs them so)
    per_thread = [corpus.questions[i::4] for i in range(4)]
    thread_times: list[float] = []

    def worker(questions: list[str]) -> None:
        for q in questions:
            started = time.perf_counter()
            store.search(q, k=K, mode="hybrid")
            thread_times.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(qs,)) for qs in per_thread]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    threaded = {
        **latency_ms(thread_times),
        "per_second": round(len(thread_times) / (time.perf_counter() - started), 1),
    }

    # the owner sees a one-document change: the store written, then the next search
    refresh = []
    for round_ in range(REFRESH_ROUNDS):
        gone, rows, new_ids = corpus.changed_document(round_)
        started = time.perf_counter()
        store.delete_chunks(gone)
        client.upsert(
            COLLECTION,
            points=[
                models.PointStruct(
                    id=i,
                    vector={
                        DENSE: corpus.dense[r].tolist(),
                        SPARSE: models.SparseVector(indices=corpus.sparse[r][0], values=corpus.sparse[r][1]),
                    },
                    payload={"page_content": corpus.texts[r], "metadata": corpus.metadatas[r]},
                )
                for i, r in zip(new_ids, rows, strict=True)
            ],
        )
        index.add(
            new_ids,
            corpus.dense[rows],
            [corpus.sparse[r] for r in rows],
            [corpus.metadatas[r]["doc_revisions"] for r in rows],
            [corpus.metadatas[r]["source"] for r in rows],
        )
        written = time.perf_counter() - started
        seen = [i for i, _ in index.search_dense(corpus.dense[rows[0]], K)]
        assert new_ids[0] in seen, "the owner's mirror missed its own write"
        refresh.append({"write_s": written, "seen_s": time.perf_counter() - started})
    emit(
        {
            "open_store_seconds": round(open_seconds, 3),
            "mirror_load_seconds": round(load_seconds, 3),
            "first_search_seconds": round(first_search_seconds, 3),
            "store_memory_mb": delta(opened, base),
            "mirror_memory_mb": delta(loaded, opened),
            "hybrid": {**hybrid, "others_cores": hybrid_others},
            "hybrid_4_threads": threaded,
            "dense": {**dense, "others_cores": dense_others},
            "sparse": {**sparse, "others_cores": sparse_others},
            "refresh_one_document_ms": {
                "write": round(1000 * statistics.median(r["write_s"] for r in refresh), 1),
                "seen": round(1000 * statistics.median(r["seen_s"] for r in refresh), 1),
            },
            "top": {
                "hybrid": [[h.metadata["_id"] for h in hits] for hits in hybrid_hits],
                "dense": [found[:K] for found in dense_found],
                "sparse": [found[:K] for found in sparse_found],
            },
        }
    )


def role_mirror_copy(scratch: Path) -> None:
    """The mirror alone, loaded from an exported file (corpus.npz/.json), as a read-only copy
    per replica would be: no Qdrant local store in this process."""
    from knowledge.local_index import LocalIndex

    base = memory_mb()
    started = time.perf_counter()
    corpus = Corpus(scratch)
    index = LocalIndex()
    index.add(
        corpus.ids,
        corpus.dense,
        corpus.sparse,
        [m["doc_revisions"] for m in corpus.metadatas],
        [m["source"] for m in corpus.metadatas],
    )
    index.search_dense(corpus.query_dense[corpus.questions[0]], K)  # compiles
    seconds = time.perf_counter() - started
    emit({"load_seconds": round(seconds, 3), "memory_mb": delta(memory_mb(), base)})


# --- b. qdrant-edge ------------------------------------------------------------------------------
def edge_points(corpus: Corpus, rows: list[int] | range, ids: list[str] | None = None) -> list[Any]:
    import qdrant_edge as qe

    from knowledge.store import DENSE, SPARSE

    ids = ids or [corpus.ids[r] for r in rows]
    return [
        qe.Point(
            i,
            {DENSE: corpus.dense[r].tolist(), SPARSE: qe.SparseVector(*corpus.sparse[r])},
            {"page_content": corpus.texts[r], "metadata": corpus.metadatas[r]},
        )
        for i, r in zip(ids, rows, strict=True)
    ]


def edge_build(corpus: Corpus, path: Path) -> tuple[Any, dict[str, float]]:
    """A shard of every chunk at `path`: upserted, flushed, optimised (its HNSW index)."""
    import qdrant_edge as qe

    from knowledge.store import DENSE, SPARSE

    config = qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=corpus.dense.shape[1], distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        wal_enabled=False,  # the writer flushes before it publishes
    )
    timings = {}
    started = time.perf_counter()
    shard = qe.EdgeShard.create(str(path), config)
    for start in range(0, len(corpus.ids), 512):
        shard.update(
            qe.UpdateOperation.upsert_points(
                edge_points(corpus, range(start, min(start + 512, len(corpus.ids))))
            )
        )
    shard.flush()
    timings["upsert_flush_seconds"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    shard.optimize()
    shard.flush()
    timings["optimize_seconds"] = round(time.perf_counter() - started, 3)
    info = shard.info()
    timings["segments"] = info.segments_count
    timings["indexed_vectors"] = info.indexed_vectors_count
    return shard, timings


class EdgeSearch:
    """The product's hybrid search over an edge shard: both sides in one batch, the product's
    z-score fusion (KnowledgeStore._fuse), the kept chunks' texts retrieved."""

    def __init__(self, shard: Any, corpus: Corpus):
        import qdrant_edge as qe

        from knowledge.store import KnowledgeStore

        self.qe, self.shard, self.corpus = qe, shard, corpus
        self.fuser = KnowledgeStore(None, corpus.embeddings, COLLECTION)  # type: ignore[arg-type]

    def dense_request(self, question: str, limit: int) -> Any:
        return self.qe.QueryRequest(
            limit=limit,
            query=self.qe.Query.Nearest(self.corpus.query_dense[question].tolist(), using="dense"),
        )

    def sparse_request(self, question: str, limit: int) -> Any:
        vector = self.qe.SparseVector(*self.corpus.query_sparse[question])
        return self.qe.QueryRequest(limit=limit, query=self.qe.Query.Nearest(vector, using="sparse"))

    def dense(self, question: str, limit: int = FETCH) -> list[tuple[str, float]]:
        return [(str(p.id), p.score) for p in self.shard.query(self.dense_request(question, limit))]

    def sparse(self, question: str, limit: int = FETCH) -> list[tuple[str, float]]:
        return [(str(p.id), p.score) for p in self.shard.query(self.sparse_request(question, limit))]

    def hybrid(self, question: str, k: int = K) -> list[Any]:
        from knowledge.store import Hit

        sides = self.shard.query_batch(
            self.qe.QueryBatchRequest(
                [self.dense_request(question, FETCH), self.sparse_request(question, FETCH)]
            )
        )
        lists = [
            [
                Hit("", p.score, {"_id": str(p.id)}, **{side: p.score, f"{side}_rank": rank})
                for rank, p in enumerate(found, start=1)
            ]
            for side, found in zip(("dense", "sparse"), sides, strict=True)
        ]
        fused = self.fuser._fuse(lists[0], lists[1], k)
        records = {str(r.id): r for r in self.shard.retrieve([h.metadata["_id"] for h in fused], True, False)}
        return [
            (h.metadata["_id"], h.score, records[h.metadata["_id"]].payload["page_content"])
            for h in fused
            if h.metadata["_id"] in records
        ]

    def rrf(self, question: str, k: int = K) -> list[str]:
        """Qdrant's own hybrid: both sides prefetched, fused by RRF inside the engine."""
        qe = self.qe
        request = qe.QueryRequest(
            limit=k,
            prefetches=[
                qe.Prefetch(limit=FETCH, query=self.dense_request(question, FETCH).query),
                qe.Prefetch(limit=FETCH, query=self.sparse_request(question, FETCH).query),
            ],
            query=qe.Fusion.Rrf(k=2),
            with_payload=True,
        )
        return [str(p.id) for p in self.shard.query(request)]

    def has(self, point_id: str) -> bool:
        return bool(self.shard.retrieve([point_id], False, False))


def role_edge_reader(scratch: Path) -> None:
    """A replica's read-only copy: load the current generation, search, then follow the
    writer's generations (printing when a new chunk becomes visible) until told to stop."""
    import qdrant_edge as qe

    import knowledge.store  # noqa: F401  (imported before the baseline: not the copy's memory)

    corpus = Corpus(scratch)
    pointer = scratch / "edge" / "CURRENT"
    base = memory_mb()
    started = time.perf_counter()
    generation = pointer.read_text().strip()
    shard = qe.EdgeShard.load(str(scratch / "edge" / generation))
    load_seconds = time.perf_counter() - started
    loaded = memory_mb()
    search = EdgeSearch(shard, corpus)
    hybrid, hybrid_hits, hybrid_others = timed_loop([lambda q=q: search.hybrid(q) for q in corpus.questions])
    dense, dense_found, dense_others = timed_loop([lambda q=q: search.dense(q) for q in corpus.questions])
    sparse, sparse_found, sparse_others = timed_loop([lambda q=q: search.sparse(q) for q in corpus.questions])
    rrf, rrf_found, rrf_others = timed_loop([lambda q=q: search.rrf(q) for q in corpus.questions])
    exact_dense = [
        [
            (str(p.id), p.score)
            for p in shard.query(
                qe.QueryRequest(
                    limit=K,
                    query=search.dense_request(q, K).query,
                    params=qe.SearchParams(exact=True),
                )
            )
        ]
        for q in corpus.questions
    ]
    searched = memory_mb()
    emit(
        {
            "load_seconds": round(load_seconds, 3),
            "memory_mb_loaded": delta(loaded, base),
            "memory_mb_after_searches": delta(searched, base),
            "hybrid": {**hybrid, "others_cores": hybrid_others},
            "dense": {**dense, "others_cores": dense_others},
            "sparse": {**sparse, "others_cores": sparse_others},
            "rrf_in_engine": {**rrf, "others_cores": rrf_others},
            "top": {
                "hybrid": [[i for i, _, _ in hits] for hits in hybrid_hits],
                "dense": [found[:K] for found in dense_found],
                "dense_exact": exact_dense,
                "sparse": [found[:K] for found in sparse_found],
            },
        }
    )
    # follow the writer: a new generation in CURRENT, the chunk id to look for in WATCH
    watch = scratch / "edge" / "WATCH"
    while True:
        current = pointer.read_text().strip()
        if current == "STOP":
            break
        if current != generation:
            started = time.perf_counter()
            fresh = qe.EdgeShard.load(str(scratch / "edge" / current))
            loaded_in = time.perf_counter() - started
            old, shard, generation = shard, fresh, current
            old.close()
            wanted = watch.read_text().strip()
            print(
                "SEEN "
                + json.dumps(
                    {
                        "generation": current,
                        "at": time.time(),
                        "load_s": loaded_in,
                        "found": EdgeSearch(shard, corpus).has(wanted),
                    }
                ),
                flush=True,
            )
        time.sleep(POLL_SECONDS)
    shard.close()


def measure_edge(scratch: Path) -> dict[str, Any]:
    """Build the writer's shard, publish generation 0, start a reader; then one-document
    changes published as new generations, by snapshot, and by change feed."""
    import qdrant_edge as qe

    corpus = Corpus(scratch)
    folder = scratch / "edge"
    folder.mkdir()
    writer, build = edge_build(corpus, folder / "writer")
    size = subprocess.run(
        ["du", "-sm", str(folder / "writer")], capture_output=True, text=True
    ).stdout.split()[0]
    build["folder_mb"] = int(size)

    def publish(name: str) -> float:
        started = time.perf_counter()
        subprocess.run(
            ["cp", "-r", "--sparse=always", str(folder / "writer"), str(folder / f"{name}.tmp")], check=True
        )
        os.rename(folder / f"{name}.tmp", folder / name)
        tmp = folder / "CURRENT.tmp"
        tmp.write_text(name)
        os.replace(tmp, folder / "CURRENT")
        return time.perf_counter() - started

    build["publish_seconds"] = round(publish("gen-0"), 3)
    (folder / "WATCH").write_text("")
    reader = subprocess.Popen(
        [sys.executable, "-m", MODULE, "--role", "edge-reader", "--scratch", str(scratch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = reader.stdout.readline()
        while line and not line.startswith(RESULT):
            line = reader.stdout.readline()
        if not line:
            raise RuntimeError(f"the edge reader failed: {reader.stderr.read()[-2000:]}")
        result = json.loads(line[len(RESULT) :])

        rounds = []
        for round_ in range(REFRESH_ROUNDS):
            gone, rows, new_ids = corpus.changed_document(round_)
            (folder / "WATCH").write_text(new_ids[0])
            t0 = time.time()
            started = time.perf_counter()
            writer.update(qe.UpdateOperation.delete_points(gone))
            writer.update(qe.UpdateOperation.upsert_points(edge_points(corpus, rows, new_ids)))
            writer.flush()
            written = time.perf_counter() - started
            published = publish(f"gen-{round_ + 1}")
            line = reader.stdout.readline()
            if not line.startswith("SEEN "):
                raise RuntimeError(f"the edge reader stopped: {line} {reader.stderr.read()[-2000:]}")
            seen = json.loads(line[5:])
            shutil.rmtree(folder / f"gen-{round_}", ignore_errors=True)  # the reader closed it
            rounds.append(
                {
                    "write": written,
                    "publish": published,
                    "load": seen["load_s"],
                    "total": seen["at"] - t0,
                    "found": seen["found"],
                }
            )
        (folder / "CURRENT").write_text("STOP")
        reader.wait(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
    result["build"] = build
    result["refresh_generation_ms"] = {
        key: round(1000 * statistics.median(r[key] for r in rounds), 1)
        for key in ("write", "publish", "load", "total")
    }
    result["refresh_generation_found"] = all(r["found"] for r in rounds)

    # the edge snapshot API: a tar of the writer's folder, applied to a reader's own copy
    import tarfile

    subprocess.run(
        ["cp", "-r", "--sparse=always", str(folder / f"gen-{REFRESH_ROUNDS}"), str(folder / "snap-reader")],
        check=True,
    )
    snap_reader = qe.EdgeShard.load(str(folder / "snap-reader"))
    (folder / "snap-tmp").mkdir()
    feed_reader_path = folder / "feed-reader"
    subprocess.run(
        ["cp", "-r", "--sparse=always", str(folder / f"gen-{REFRESH_ROUNDS}"), str(feed_reader_path)],
        check=True,
    )
    feed_reader = qe.EdgeShard.load(str(feed_reader_path))
    snapshots, feeds = [], []
    for round_ in range(REFRESH_ROUNDS, REFRESH_ROUNDS + 3):
        gone, rows, new_ids = corpus.changed_document(round_)
        operations = [
            qe.UpdateOperation.delete_points(gone),
            qe.UpdateOperation.upsert_points(edge_points(corpus, rows, new_ids)),
        ]
        for operation in operations:
            writer.update(operation)
        writer.flush()
        started = time.perf_counter()
        tar = folder / "snapshot.tar"
        with tarfile.open(tar, "w") as archive:
            archive.add(folder / "writer", arcname=".")
        packed = time.perf_counter() - started
        started = time.perf_counter()
        snap_reader.update_from_snapshot(str(tar), str(folder / "snap-tmp"))
        applied = time.perf_counter() - started
        snapshots.append(
            {
                "tar": packed,
                "apply": applied,
                "mb": tar.stat().st_size / 1e6,
                "found": EdgeSearch(snap_reader, corpus).has(new_ids[0]),
            }
        )
        tar.unlink()
        started = time.perf_counter()
        for operation in [
            qe.UpdateOperation.delete_points(gone),
            qe.UpdateOperation.upsert_points(edge_points(corpus, rows, new_ids)),
        ]:
            feed_reader.update(operation)
        feed_reader.flush()
        found = EdgeSearch(feed_reader, corpus).has(new_ids[0])
        feeds.append({"apply": time.perf_counter() - started, "found": found})
    result["refresh_snapshot_ms"] = {
        "tar": round(1000 * statistics.median(s["tar"] for s in snapshots), 1),
        "update_from_snapshot": round(1000 * statistics.median(s["apply"] for s in snapshots), 1),
        "tar_mb": round(statistics.median(s["mb"] for s in snapshots), 1),
        "found": all(s["found"] for s in snapshots),
    }
    result["refresh_feed_ms"] = {
        "apply": round(1000 * statistics.median(f["apply"] for f in feeds), 1),
        "found": all(f["found"] for f in feeds),
    }
    for shard in (snap_reader, feed_reader, writer):
        shard.close()
    return result


# --- c. one process serving the others over HTTP ----------------------------------------------
def role_serve(scratch: Path, port: int) -> None:
    """The store's owner serving searches on loopback, as the action server's /kb/search."""
    import asyncio
    import logging

    from qdrant_client import QdrantClient
    from sanic import Sanic, response

    from knowledge.store import KnowledgeStore

    logging.getLogger("sanic").setLevel(logging.WARNING)
    corpus = Corpus(scratch)
    client = QdrantClient(path=str(scratch / "qdrant"))
    store = KnowledgeStore(client, corpus.embeddings, COLLECTION, local_index=True)
    store.ensure_collections()
    store.search(corpus.questions[0], k=K)
    app = Sanic("knowledge_topology")

    @app.get("/kb/search")
    async def search(request):
        query, k = request.args.get("q", ""), int(request.args.get("k", K))
        hits = await asyncio.get_running_loop().run_in_executor(
            None, lambda: store.search(query, k, "hybrid")
        )
        return response.json([asdict(hit) for hit in hits])

    @app.after_server_start
    async def ready(app, _):
        print("READY", flush=True)

    app.run(host="127.0.0.1", port=port, single_process=True, access_log=False, motd=False)


def http_client(url: str, questions: list[str], times: list[float]) -> None:
    """One client thread: its own connection (one untimed request first), then each question."""
    import requests

    session = requests.Session()
    for i, q in enumerate([questions[0], *questions]):
        started = time.perf_counter()
        reply = session.get(url, params={"q": q, "k": K}, timeout=30)
        reply.raise_for_status()
        assert reply.json(), "the server found nothing"
        if i:
            times.append(time.perf_counter() - started)


def measure_http(scratch: Path) -> dict[str, Any]:
    corpus = Corpus(scratch)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", MODULE, "--role", "serve", "--scratch", str(scratch), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = time.monotonic()
        while (line := server.stdout.readline()) and "READY" not in line:
            if time.monotonic() - started > 120:
                raise RuntimeError("the search server did not start")
        if not line:
            raise RuntimeError("the search server failed to start")
        url = f"http://127.0.0.1:{port}/kb/search"
        results: dict[str, Any] = {}
        for threads in (1, 4):
            times: list[float] = []
            pool = [
                threading.Thread(target=http_client, args=(url, corpus.questions[i::threads], times))
                for i in range(threads)
            ]
            with CpuOthers() as others:
                started = time.perf_counter()
                for t in pool:
                    t.start()
                for t in pool:
                    t.join()
                wall = time.perf_counter() - started
            results[f"threads_{threads}"] = {
                **latency_ms(times),
                "per_second": round(len(times) / wall, 1),
                "others_cores": round(others.cores, 2),  # includes the server: it is another process
            }
        return results
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


# --- d. agreement ------------------------------------------------------------------------------
def agreement(mirror: dict[str, Any], edge: dict[str, Any]) -> dict[str, Any]:
    def ids(found: list) -> list[str]:
        return [f[0] if isinstance(f, list | tuple) else f for f in found]

    out = {}
    for side, other in (
        ("dense", "dense"),
        ("dense_exact", "dense"),
        ("sparse", "sparse"),
        ("hybrid", "hybrid"),
    ):
        a_lists, b_lists = mirror["top"][other], edge["top"][side]
        overlaps = [
            len(set(ids(a)) & set(ids(b))) / max(1, len(ids(a)))
            for a, b in zip(a_lists, b_lists, strict=True)
        ]
        same = sum(ids(a) == ids(b) for a, b in zip(a_lists, b_lists, strict=True))
        entry = {
            "overlap_at_5": round(statistics.mean(overlaps), 4),
            "identical_top5": f"{same}/{len(a_lists)}",
        }
        if side != "hybrid":
            diffs = [
                abs(sa - dict(b)[ia])
                for a, b in zip(a_lists, b_lists, strict=True)
                for ia, sa in a
                if ia in dict(b)
            ]
            entry["max_score_difference"] = float(f"{max(diffs, default=0.0):.2g}")
        out[side] = entry
    return out


# --- the report --------------------------------------------------------------------------------
def measure_size(size: str, args: argparse.Namespace, model: Embeddings, work: Path) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="tandem-knowledge-topology-"))
    try:
        result = prepare(size, args.queries, scratch, work, model)
        result["mirror"] = run_role("mirror", scratch)
        print(f"  mirror: hybrid p50 {result['mirror']['hybrid']['p50_ms']} ms", flush=True)
        result["mirror_copy"] = run_role("mirror-copy", scratch)
        result["edge"] = measure_edge(scratch)
        print(f"  edge: hybrid p50 {result['edge']['hybrid']['p50_ms']} ms", flush=True)
        result["http"] = measure_http(scratch)
        print(f"  http: 1 thread p50 {result['http']['threads_1']['p50_ms']} ms", flush=True)
        result["agreement"] = agreement(result["mirror"], result["edge"])
        for part in ("mirror", "edge"):
            result[part].pop("top")
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def pct(entry: dict[str, Any]) -> str:
    return f"{entry['p50_ms']} / {entry['p95_ms']}"


def markdown(data: dict[str, Any]) -> str:
    lines = [
        "# Sharing the knowledge base between processes: mirror, qdrant-edge copies, HTTP",
        "",
        f"`{data['command']}`, {data['date']}, commit {data['commit']}, {data['machine']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in data["versions"].items())
        + f". Embedding model {data['model']} (query and chunk vectors made before any timing: no "
        "figure includes the model). Hybrid: dense and sparse lists of 40, the product's z-score "
        "fusion, top 5 with their texts. p50 / p95 in ms over the questions (nearest rank).",
        "",
        "| corpus | chunks | topology | start: load s | memory per copy MB (RSS / anon) | hybrid ms | dense ms | sparse ms | sees a one-document change |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        m, c, e, h = r["mirror"], r["mirror_copy"], r["edge"], r["http"]
        name = f"{r['size']} | {r['chunks']}"
        store_mem, mirror_mem = m["store_memory_mb"], m["mirror_memory_mb"]
        lines += [
            f"| {name} | a. mirror in the store's owner (today) | {m['open_store_seconds']} open + "
            f"{m['mirror_load_seconds']} mirror + {m['first_search_seconds']} first search "
            f"| store {store_mem['rss']} / {store_mem['anonymous']}, mirror {mirror_mem['rss']} / {mirror_mem['anonymous']} "
            f"| {pct(m['hybrid'])} | {pct(m['dense'])} | {pct(m['sparse'])} "
            f"| {m['refresh_one_document_ms']['seen']} ms (in the owner only) |",
            f"| {name} | a'. mirror copy from an exported file | {c['load_seconds']} "
            f"| {c['memory_mb']['rss']} / {c['memory_mb']['anonymous']} | as a. | as a. | as a. | (a feed, as a.; or a reload: {c['load_seconds']} s) |",
            f"| {name} | b. qdrant-edge copy per replica | {e['load_seconds']} load (writer builds in "
            f"{e['build']['upsert_flush_seconds']} + {e['build']['optimize_seconds']} optimize) "
            f"| {e['memory_mb_after_searches']['rss']} / {e['memory_mb_after_searches']['anonymous']} "
            f"| {pct(e['hybrid'])} | {pct(e['dense'])} | {pct(e['sparse'])} "
            f"| {e['refresh_generation_ms']['total']} ms (new generation), {e['refresh_feed_ms']['apply']} ms (change feed) |",
            f"| {name} | c. HTTP to the owner, 1 client thread | (the owner's: a.) | none in the replicas "
            f"| {pct(h['threads_1'])} ({h['threads_1']['per_second']}/s) | | | as a. |",
            f"| {name} | c. HTTP to the owner, 4 client threads | | | {pct(h['threads_4'])} ({h['threads_4']['per_second']}/s) | | | |",
        ]
    lines += [
        "",
        "Memory: RSS delta of the measured process (anon: its anonymous part, the heap; the rest "
        "is file pages, for qdrant-edge its mmap'ed segment files, shared by the processes that map "
        "the same files). For a.: `store` is Qdrant local mode's own in-memory copy of every "
        "point (QdrantClient(path=...)), `mirror` the mirror's on top of it. The embedding "
        f"model, which every process that embeds questions also holds: {data['model_memory_mb']['rss']} MB RSS "
        "when loaded in this run's parent process.",
        "",
        "## Details",
        "",
    ]
    for r in data["results"]:
        m, e, h, agree = r["mirror"], r["edge"], r["http"], r["agreement"]
        lines += [
            f"### {r['size']}: {r['chunks']} chunks, {r['documents']} documents, mean {r['mean_chunk_chars']} "
            f"characters, {r['queries']} questions ({r['distinct_queries']} distinct)",
            "",
            f"- a. mirror: hybrid {pct(m['hybrid'])} ms from 1 thread, {pct(m['hybrid_4_threads'])} ms from 4 "
            f"threads ({m['hybrid_4_threads']['per_second']}/s). A one-document change in the owner: store "
            f"and mirror written in {m['refresh_one_document_ms']['write']} ms, found by the next search "
            f"after {m['refresh_one_document_ms']['seen']} ms (mirror recompiled). Other cores busy during "
            f"the hybrid timing: {m['hybrid']['others_cores']}.",
            f"- b. qdrant-edge: build {e['build']['upsert_flush_seconds']} s upsert + flush, "
            f"{e['build']['optimize_seconds']} s optimize ({e['build']['segments']} segments, "
            f"{e['build']['indexed_vectors']} indexed vectors, folder {e['build']['folder_mb']} MB on disk); "
            f"a reader loads it in {e['load_seconds']} s (RSS {e['memory_mb_loaded']['rss']} MB loaded, "
            f"{e['memory_mb_after_searches']['rss']} MB after the searches). Qdrant's own RRF hybrid "
            f"(prefetch + Fusion.Rrf, in the engine): {pct(e['rrf_in_engine'])} ms. Other cores busy: "
            f"{e['hybrid']['others_cores']}.",
            f"- b. refresh, one document changed ({REFRESH_ROUNDS} rounds, median): writer update + flush "
            f"{e['refresh_generation_ms']['write']} ms, publish (cp of the shard folder) "
            f"{e['refresh_generation_ms']['publish']} ms, reader load {e['refresh_generation_ms']['load']} ms; "
            f"from the change to a reader's query finding it: {e['refresh_generation_ms']['total']} ms "
            f"(reader polls every {int(POLL_SECONDS * 1000)} ms; found: {e['refresh_generation_found']}). "
            f"Edge snapshot API: tar of the writer's folder {e['refresh_snapshot_ms']['tar']} ms "
            f"({e['refresh_snapshot_ms']['tar_mb']} MB), update_from_snapshot "
            f"{e['refresh_snapshot_ms']['update_from_snapshot']} ms (found: {e['refresh_snapshot_ms']['found']}). "
            f"Change feed (the reader applies the writer's operations): {e['refresh_feed_ms']['apply']} ms "
            f"(found: {e['refresh_feed_ms']['found']}).",
            f"- c. HTTP: 1 thread {pct(h['threads_1'])} ms ({h['threads_1']['per_second']}/s), 4 threads "
            f"{pct(h['threads_4'])} ms ({h['threads_4']['per_second']}/s).",
            "- d. agreement with the mirror (top 5): "
            + "; ".join(
                f"{side} overlap@5 {v['overlap_at_5']}, identical {v['identical_top5']}"
                + (
                    f", max score difference {v['max_score_difference']}"
                    if "max_score_difference" in v
                    else ""
                )
                for side, v in agree.items()
            )
            + " (dense_exact: edge with SearchParams(exact=True), no HNSW).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--sizes", nargs="+", default=["brand", "10000"], help="brand and/or chunk counts")
    parser.add_argument("--queries", type=int, default=200, help="questions per timing (cycled)")
    parser.add_argument("--save", action="store_true", help="write the report (md and json)")
    parser.add_argument("--work-dir", default="/tmp/knowledge-topology", help="cached chunk vectors")
    parser.add_argument("--out-dir", default=str(OUT_DIR / "experiments"))
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        scratch = Path(args.scratch)
        {
            "mirror": lambda: role_mirror(scratch),
            "mirror-copy": lambda: role_mirror_copy(scratch),
            "edge-reader": lambda: role_edge_reader(scratch),
            "serve": lambda: role_serve(scratch, args.port),
        }[args.role]()
        return
    from importlib.metadata import version

    from knowledge.config import KnowledgeSettings, model_label
    from knowledge.embeddings import embedding_model

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    settings = KnowledgeSettings()
    before = memory_mb()
    model = embedding_model(settings.embedding_model, settings.embedding_batch_size)
    model.embed_query("load the model")
    model_memory = delta(memory_mb(), before)
    started = time.perf_counter()
    results = [measure_size(size, args, model, work) for size in args.sizes]
    data = {
        **provenance(),
        "command": f".venv/bin/python -m {MODULE} --sizes {' '.join(args.sizes)} --queries {args.queries}"
        + (" --save" if args.save else ""),
        "model": model_label(settings.embedding_model),
        "model_memory_mb": model_memory,
        "versions": {
            p: version(p) for p in ("qdrant-edge-py", "qdrant-client", "numpy", "scipy", "sanic", "requests")
        },
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    text = markdown(data)
    print(text)
    if args.save:
        write_report("knowledge_topology", text, data, Path(args.out_dir))


if __name__ == "__main__":
    main()
