"""The knowledge store: Qdrant (a local folder by default, a server with QDRANT_URL),
written and searched through langchain-qdrant.

Two collections:
- ``<name>``: one point per chunk, a dense vector (the embedding model) and a sparse one
  (local BM25, IDF applied by Qdrant). Each chunk lists the document revisions it
  belongs to (``metadata.doc_revisions``).
- ``<name>_manifest``: one point per document with its *live* revision. Searches only
  see chunks of live revisions, so a refresh switches a document over in one write.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient, models
from qdrant_client.hybrid.fusion import DEFAULT_RANKING_CONSTANT_K

from knowledge.config import PACKAGED_MODEL, KnowledgeSettings
from knowledge.local_index import LocalIndex
from knowledge.sparse import BM25SparseEmbeddings

logger = logging.getLogger(__name__)

DENSE, SPARSE = "dense", "sparse"
Mode = Literal["hybrid", "dense", "sparse"]
MANIFEST_NAMESPACE = uuid.UUID("0c3f6a57-7f0e-4d55-8d59-0e0d3e4b2a61")


class StoreError(Exception):
    """The store cannot be used as configured; the message says how to fix it."""


HYBRID_DEPTH = 40  # each side's list that hybrid search fuses (at least k)
FUSIONS = ("zscore", "rrf")


@dataclass(frozen=True)
class Hit:
    text: str
    score: float  # the mode's own score: cosine (dense), BM25 (sparse), fused (hybrid)
    metadata: dict[str, Any]
    dense: float | None = None  # cosine similarity, when dense retrieval found this chunk
    sparse: float | None = None  # BM25 score, when sparse retrieval found it
    dense_rank: int | None = None  # 1-based
    sparse_rank: int | None = None

    @property
    def source(self) -> str:
        return self.metadata["source"]


def open_client(settings: KnowledgeSettings) -> QdrantClient:
    if settings.qdrant_url:
        return QdrantClient(url=settings.qdrant_url, timeout=30)
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as error:  # local mode allows one process per folder
        if "already accessed" in str(error):
            raise StoreError(
                f"the knowledge store {settings.qdrant_path} is open in another process (the running "
                "action server owns it): `tandem kb ...` goes through it when the stack is up, or stop "
                "the stack with `tandem down`"
            ) from None
        raise


UNRECORDED_MODEL = PACKAGED_MODEL  # what made a store that recorded no model (the default then)
DENSE_SCHEME = "passage+question-heading/1"  # how chunk vectors are made; a store made otherwise is rebuilt
STORE_MARKER = "__store__"  # the manifest entry that records the scheme (not a document)


def heading_of(text: str) -> str:
    """A chunk's heading when it is a question ("Payments > Which methods do you accept?",
    an FAQ entry's question), else "": only a question heading is what customers paraphrase."""
    heading = text.split("\n\n", 1)[0] if "\n\n" in text else ""
    return heading if heading.rstrip().endswith("?") else ""


def chunk_vectors(model: Embeddings, texts: list[str]) -> list[list[float]]:
    """Dense vectors of chunks: the passage's embedding plus its question heading's, normalised.

    Questions are often paraphrases of a question heading ("## Which payment methods do you
    accept?") or an FAQ question; the heading alone matches them better than the whole
    passage, the passage better for questions about its details. The sum does both
    (COVID-QA paraphrases, recall@1: passage 0.57, heading 0.66, sum 0.68). Headings that
    are not questions are left out: they cost doc2dial's section retrieval 0.06-0.11 of
    recall@1."""
    passages = np.asarray(model.embed_documents(texts), dtype=np.float32)
    headings = sorted({h for h in map(heading_of, texts) if h})
    if headings:
        by_heading = dict(
            zip(headings, np.asarray(model.embed_documents(headings), dtype=np.float32), strict=True)
        )
        for row, text in enumerate(texts):
            heading = heading_of(text)
            if heading:
                passages[row] = passages[row] + by_heading[heading]
    norms = np.linalg.norm(passages, axis=1, keepdims=True)
    return (passages / np.where(norms == 0, 1, norms)).tolist()


class _Precomputed(Embeddings):
    """The store's model, answering from vectors embedded ahead where it has them."""

    def __init__(self, model: Embeddings, vectors: dict[str, list[float]]):
        self.model, self.vectors = model, vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, chunk_vectors(self.model, missing), strict=True))
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)


def _delete_alias(name: str) -> models.DeleteAliasOperation:
    return models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=name))


class KnowledgeStore:
    def __init__(
        self,
        client: QdrantClient,
        embeddings: Embeddings,
        collection: str,
        manifest_ttl: float = 2.0,
        payload_indexes: bool = False,  # only a Qdrant server uses them
        local_index: bool = False,  # local mode: search an in-memory mirror (see knowledge.local_index)
        rrf_k: int = DEFAULT_RANKING_CONSTANT_K,
        fusion: str = "zscore",
        dense_weight: float = 0.5,
    ):
        if fusion not in FUSIONS:
            raise StoreError(f"unknown fusion {fusion!r}: use one of {', '.join(FUSIONS)}")
        self.client = client
        self.embeddings = embeddings
        self.sparse = BM25SparseEmbeddings()
        self.collection = collection
        self.manifest_collection = f"{collection}_manifest"
        self.manifest_ttl = manifest_ttl
        self.payload_indexes = payload_indexes
        self._live: dict[str, str] | None = None
        self._live_read_at = 0.0
        # Whether a search must filter on live revisions: while a refresh switches documents
        # over, or until the store is known to hold only live chunks (a crash may have left
        # others). Local Qdrant evaluates filters in Python, point by point, so skipping it
        # in the steady state matters; a server has payload indexes and always filters.
        self._filter_needed: bool | None = None
        self._prepared: dict[str, list[float]] = {}  # text -> vector, embedded ahead of writing
        self.local_index = LocalIndex() if local_index else None
        self.rrf_k = rrf_k
        self.fusion = fusion
        if not 0.0 <= dense_weight <= 1.0:
            raise StoreError(f"the dense weight of hybrid search must be between 0 and 1, not {dense_weight}")
        self.dense_weight = dense_weight  # the dense side's share of the fused score

    # --- set-up -----------------------------------------------------------------------
    @cached_property
    def dimensions(self) -> int:
        return len(self.embeddings.embed_query("dimension probe"))

    def ensure_collections(self, model_name: str = "") -> None:
        """Create the collections, or fail fast if the store was built with another model size."""
        if self.client.collection_exists(self.collection):
            info = self.client.get_collection(self.collection)
            vectors = info.config.params.vectors
            size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
            if size != self.dimensions:
                raise StoreError(
                    f"the knowledge collection {self.collection!r} holds {size}-dimension embeddings but the "
                    f"configured model {model_name or ''} makes {self.dimensions}: rebuild it with "
                    "`tandem kb refresh --rebuild` (or use the model it was built with)"
                )
        else:
            self.client.create_collection(
                self.collection,
                vectors_config={
                    DENSE: models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            if self.payload_indexes:
                for key in ("metadata.doc_revisions", "metadata.source"):
                    self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD)
        if not self.client.collection_exists(self.manifest_collection):
            self.client.create_collection(self.manifest_collection, vectors_config={})

    def drop(self) -> None:
        aliases = self._aliases()
        for name in (self.collection, self.manifest_collection):
            target = aliases.get(name, name)
            if self.client.collection_exists(target):
                self.client.delete_collection(target)
            if name in aliases:
                self.client.update_collection_aliases([_delete_alias(name)])
        self._forget_reads()

    # --- rebuilding beside the live store (local mode) -----------------------------------
    def _aliases(self) -> dict[str, str]:
        """Alias -> collection: after a rebuild, the store's names are aliases of the
        collections that hold it."""
        return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def _forget_reads(self) -> None:
        self._live = None
        self._filter_needed = None
        if self.local_index is not None:
            self.local_index.clear()  # read again from the store on the next search

    def beside(self) -> KnowledgeStore:
        """An empty store with the same settings in collections of its own, to be filled
        while this one still answers searches, then switched to (:meth:`switch_to`)."""
        return KnowledgeStore(
            self.client,
            self.embeddings,
            f"{self.collection}__{uuid.uuid4().hex[:8]}",
            manifest_ttl=self.manifest_ttl,
            payload_indexes=self.payload_indexes,
            local_index=False,  # never searched before the switch
            rrf_k=self.rrf_k,
            fusion=self.fusion,
            dense_weight=self.dense_weight,
        )

    def switch_to(self, other: KnowledgeStore) -> None:
        """Make this store's names point at `other`'s collections, and delete the ones they
        pointed at. The names become aliases (a collection of that name, from before the
        first rebuild, is deleted just before its alias is made: searches in that instant
        find nothing)."""
        aliases = self._aliases()
        before = [aliases.get(name, name) for name in (self.collection, self.manifest_collection)]
        operations = []
        for name, target in (
            (self.collection, other.collection),
            (self.manifest_collection, other.manifest_collection),
        ):
            if name not in aliases and self.client.collection_exists(name):
                self.client.delete_collection(name)
            if name in aliases:
                operations.append(_delete_alias(name))
            operations.append(
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=target, alias_name=name)
                )
            )
        self.client.update_collection_aliases(operations)
        for name in before:
            if name not in (other.collection, other.manifest_collection) and self.client.collection_exists(
                name
            ):
                self.client.delete_collection(name)
        self._forget_reads()

    def vector_store(self, mode: Mode, embeddings: Embeddings | None = None) -> QdrantVectorStore:
        return QdrantVectorStore(
            client=self.client,
            collection_name=self.collection,
            embedding=embeddings or self.embeddings,
            sparse_embedding=self.sparse,
            retrieval_mode={
                "hybrid": RetrievalMode.HYBRID,
                "dense": RetrievalMode.DENSE,
                "sparse": RetrievalMode.SPARSE,
            }[mode],
            vector_name=DENSE,
            sparse_vector_name=SPARSE,
            # ensure_collections checked the sizes once; validating here would embed a dummy
            # text and read the collection's config on every search
            validate_collection_config=False,
        )

    # --- manifest: which revision of each document is live ------------------------------
    def manifest(self) -> dict[str, dict[str, Any]]:
        records, offset = [], None
        while True:
            page, offset = self.client.scroll(
                self.manifest_collection, limit=512, offset=offset, with_payload=True
            )
            records += page
            if offset is None:
                break
        return {r.payload["source"]: r.payload for r in records if r.payload["source"] != STORE_MARKER}

    _marker_id = str(uuid.uuid5(MANIFEST_NAMESPACE, STORE_MARKER))  # the manifest point of the marker

    def _marker(self) -> dict[str, Any] | None:
        found = self.client.retrieve(self.manifest_collection, [self._marker_id], with_payload=True)
        return found[0].payload if found else None

    def scheme(self) -> str | None:
        """How this store's chunk vectors were made (None: an empty store, or one made
        before schemes were recorded)."""
        marker = self._marker()
        return marker.get("dense_scheme") if marker else None

    def record_scheme(self, model: str = "") -> None:
        """Record how the vectors were made and by which model (`model_identity`)."""
        self.client.upsert(
            self.manifest_collection,
            points=[
                models.PointStruct(
                    id=self._marker_id,
                    vector={},
                    payload={"source": STORE_MARKER, "dense_scheme": DENSE_SCHEME, "model": model},
                )
            ],
        )

    def outdated(self, model: str = "") -> bool:
        """The store holds chunks whose vectors were made another way, or by another model
        of the same size (a tuned copy of it): rebuild it. A store that recorded no model was
        made before models were recorded, by the packaged default unless configured otherwise."""
        if self.count() == 0:
            return False
        marker = self._marker()
        if not marker or marker.get("dense_scheme") != DENSE_SCHEME:
            return True
        return bool(model) and (marker.get("model") or UNRECORDED_MODEL) != model

    def publish(self, source: str, entry: dict[str, Any] | None) -> None:
        """Make `entry` the live version of `source` (None: the document is gone)."""
        point_id = str(uuid.uuid5(MANIFEST_NAMESPACE, source))
        if entry is None:
            self.client.delete(
                self.manifest_collection, points_selector=models.PointIdsList(points=[point_id])
            )
        else:
            self.client.upsert(
                self.manifest_collection,
                points=[models.PointStruct(id=point_id, vector={}, payload={"source": source, **entry})],
            )
        self._live = None  # re-read on the next search: this process sees its own refresh at once

    def live_revisions(self) -> dict[str, str]:
        if self._live is None or time.monotonic() - self._live_read_at > self.manifest_ttl:
            self._live = {source: entry["revision"] for source, entry in self.manifest().items()}
            self._live_read_at = time.monotonic()
        return self._live

    def begin_changes(self) -> None:
        self._filter_needed = True

    def changes_done(self) -> None:
        """Called once every chunk in the store belongs to a live revision."""
        self._filter_needed = False

    def _must_filter(self) -> bool:
        if self.payload_indexes:
            return True
        if self._filter_needed is None:
            live = set(self.live_revisions().values())
            self._filter_needed = any(not live & set(r) for r in self.chunk_revisions().values())
        return self._filter_needed

    # --- chunks ---------------------------------------------------------------------------
    def embed_ahead(
        self, texts: list[str], block: int = 256, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Embed many chunks in large batches (across documents) before they are written."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._prepared]
        for start in range(0, len(todo), block):
            batch = todo[start : start + block]
            self._prepared.update(zip(batch, chunk_vectors(self.embeddings, batch), strict=True))
            if progress:
                progress(start + len(batch), len(todo))

    def forget_prepared(self) -> None:
        self._prepared.clear()

    def add_chunks(
        self, texts: list[str], metadatas: list[dict], ids: list[str], batch_size: int = 64
    ) -> None:
        writer = self.vector_store("hybrid", _Precomputed(self.embeddings, self._prepared))
        writer.add_texts(texts, metadatas=metadatas, ids=ids, batch_size=batch_size)
        if self.local_index is not None and self.local_index.loaded:
            self.local_index.add(
                ids,
                writer.embeddings.embed_documents(texts),  # embedded just above: from memory
                [(v.indices, v.values) for v in self.sparse.embed_documents(texts)],
                [m.get("doc_revisions", []) for m in metadatas],
                [m["source"] for m in metadatas],
            )

    def chunk_revisions(self) -> dict[str, list[str]]:
        """Every chunk id in the store and the document revisions it belongs to."""
        if self.local_index is not None:  # the mirror has them, without a scroll of every payload
            return self._local_index().revisions()
        found, offset = {}, None
        while True:
            page, offset = self.client.scroll(
                self.collection, limit=1024, offset=offset, with_payload=["metadata.doc_revisions"]
            )
            for record in page:
                found[str(record.id)] = (record.payload.get("metadata") or {}).get("doc_revisions", [])
            if offset is None:
                return found

    def set_revisions(self, ids: list[str], revisions: list[str]) -> None:
        if ids:
            self.client.set_payload(
                self.collection, payload={"doc_revisions": revisions}, points=ids, key="metadata"
            )
            if self.local_index is not None:
                self.local_index.set_revisions(ids, revisions)

    def delete_chunks(self, ids: list[str]) -> None:
        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=ids))
            if self.local_index is not None:
                self.local_index.delete(ids)

    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def count_or_none(self) -> int | None:
        """How many chunks the store holds, or None when it has no collection yet."""
        return self.count() if self.client.collection_exists(self.collection) else None

    # --- search ---------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 5, mode: Mode = "hybrid", sources: list[str] | None = None
    ) -> list[Hit]:
        """The best chunks of live documents for `query`; `sources` restricts to some documents.

        Hybrid runs the dense and the sparse search and fuses their ranks (RRF, as Qdrant
        does), keeping each side's score and rank on the hit for the confidence gate."""
        live = self.live_revisions()
        if not live or not query.strip():
            return []
        revisions = set(live.values()) if self._must_filter() else None
        conditions = []
        if revisions is not None:
            conditions.append(
                models.FieldCondition(
                    key="metadata.doc_revisions", match=models.MatchAny(any=sorted(revisions))
                )
            )
        if sources:
            conditions.append(
                models.FieldCondition(key="metadata.source", match=models.MatchAny(any=sources))
            )
        query_filter = models.Filter(must=conditions) if conditions else None
        # hybrid fuses deeper lists than it returns: a chunk 1st by one side and 8th by the
        # other must get credit from both (Qdrant's prefetch does the same)
        fetch = k if mode != "hybrid" else max(k, HYBRID_DEPTH)
        if mode == "hybrid" and self.local_index is not None:
            return self._hybrid_local(query, k, fetch, revisions, sources)
        dense = self._dense(query, fetch, query_filter, revisions, sources) if mode != "sparse" else []
        lexical = self._sparse(query, fetch, query_filter, revisions, sources) if mode != "dense" else []
        if mode == "dense":
            return dense
        if mode == "sparse":
            return lexical
        return self._fuse(dense, lexical, k)

    def _hybrid_local(
        self, query: str, k: int, fetch: int, revisions: set[str] | None, sources: list[str] | None
    ) -> list[Hit]:
        """Hybrid search on the in-memory mirror: both lists are fused on ids and scores, and
        only the chunks kept are read from the store."""
        index = self._local_index()
        sparse = self.sparse.embed_query(query)
        sides = (
            ("dense", index.search_dense(self.embeddings.embed_query(query), fetch, revisions, sources)),
            ("sparse", index.search_sparse(sparse.indices, sparse.values, fetch, revisions, sources)),
        )
        lists = [
            [
                Hit("", score, {"_id": i}, **{side: score, f"{side}_rank": rank})
                for rank, (i, score) in enumerate(found, start=1)
            ]
            for side, found in sides
        ]
        fused = self._fuse(lists[0], lists[1], k)
        points = {
            meta["_id"]: (text, meta)
            for text, meta, _ in self._points([(h.metadata["_id"], h.score) for h in fused])
        }
        return [
            replace(hit, text=points[hit.metadata["_id"]][0], metadata=points[hit.metadata["_id"]][1])
            for hit in fused
            if hit.metadata["_id"] in points
        ]

    def _dense(
        self,
        query: str,
        k: int,
        query_filter: models.Filter | None,
        revisions: set[str] | None,
        sources: list[str] | None,
    ) -> list[Hit]:
        if self.local_index is None:
            return self._side("dense", self._via_langchain("dense", query, k, query_filter))
        vector = self.embeddings.embed_query(query)
        return self._side(
            "dense", self._points(self._local_index().search_dense(vector, k, revisions, sources))
        )

    def _sparse(
        self,
        query: str,
        k: int,
        query_filter: models.Filter | None,
        revisions: set[str] | None,
        sources: list[str] | None,
    ) -> list[Hit]:
        if self.local_index is None:
            return self._side("sparse", self._via_langchain("sparse", query, k, query_filter))
        vector = self.sparse.embed_query(query)
        found = self._local_index().search_sparse(vector.indices, vector.values, k, revisions, sources)
        return self._side("sparse", self._points(found))

    def _via_langchain(
        self, mode: Mode, query: str, k: int, query_filter: models.Filter | None
    ) -> list[tuple[str, dict[str, Any], float]]:
        """One side of the search through langchain-qdrant (a Qdrant server's own indexes)."""
        found = self.vector_store(mode).similarity_search_with_score(query, k=k, filter=query_filter)
        return [(doc.page_content, doc.metadata, float(score)) for doc, score in found]

    @staticmethod
    def _side(side: str, results: list[tuple[str, dict[str, Any], float]]) -> list[Hit]:
        """Hits of one side (dense or sparse), with that side's score and rank kept."""
        return [
            Hit(text, score, metadata, **{side: score, f"{side}_rank": rank})
            for rank, (text, metadata, score) in enumerate(results, start=1)
        ]

    def _points(self, scored: list[tuple[str, float]]) -> list[tuple[str, dict[str, Any], float]]:
        """Text, metadata (as langchain-qdrant gives it) and score of scored point ids."""
        points = {
            str(p.id): p
            for p in self.client.retrieve(self.collection, [i for i, _ in scored], with_payload=True)
        }
        return [
            (
                points[i].payload.get("page_content", ""),
                {**points[i].payload.get("metadata", {}), "_id": i, "_collection_name": self.collection},
                score,
            )
            for i, score in scored
            if i in points  # deleted between the two reads
        ]

    def _local_index(self) -> LocalIndex:
        index = self.local_index
        assert index is not None
        if not index.loaded:
            ids, dense, sparse, revisions, sources, offset = [], [], [], [], [], None
            while True:
                page, offset = self.client.scroll(
                    self.collection,
                    limit=1024,
                    offset=offset,
                    with_payload=["metadata.doc_revisions", "metadata.source"],
                    with_vectors=[DENSE, SPARSE],
                )
                for record in page:
                    vectors = record.vector or {}
                    if DENSE not in vectors or SPARSE not in vectors:
                        continue
                    meta = (record.payload or {}).get("metadata") or {}
                    ids.append(str(record.id))
                    dense.append(vectors[DENSE])
                    sparse.append((vectors[SPARSE].indices, vectors[SPARSE].values))
                    revisions.append(meta.get("doc_revisions", []))
                    sources.append(meta.get("source", ""))
                if offset is None:
                    break
            index.add(ids, dense, sparse, revisions, sources)
        return index

    def _contributions(self, hits: list[Hit]) -> list[float]:
        """Each hit's share of the fused score, from its side's list (best first)."""
        if self.fusion == "rrf":
            return [1.0 / (rank + self.rrf_k - 1.0) for rank in range(1, len(hits) + 1)]
        scores = [hit.score for hit in hits]
        mean = sum(scores) / len(scores)
        spread = (sum((x - mean) ** 2 for x in scores) / len(scores)) ** 0.5
        return [(x - mean) / spread if spread > 0 else 0.0 for x in scores]

    def _fuse(self, dense: list[Hit], lexical: list[Hit], k: int) -> list[Hit]:
        """One ranking from the dense and the sparse list.

        ``zscore`` (default): each side's scores are standardised over its own list (mean and
        standard deviation), a chunk missing from a side gets that side's lowest standardised
        score, and the two are added, weighted by `dense_weight` and its complement (equal by
        default; `tandem kb tune` fits it on labelled questions). Unlike rank fusion it keeps how far
        ahead a side's best chunk is: a sparse hit far above the rest (a rare word matched)
        outweighs a dense list of near-equal scores, and the other way round. Measured on the
        brand, COVID-QA and doc2dial sets (docs/benchmarks/retrieval.md).
        ``rrf``: reciprocal rank fusion with Qdrant's formula, 1 / (rank + rrf_k - 1)."""
        # weights 2w and 2(1 - w): the default 0.5 adds the two sides as they are
        sides = [
            (hits, 2 * weight)
            for hits, weight in ((dense, self.dense_weight), (lexical, 1 - self.dense_weight))
            if hits
        ]
        fused: dict[str, dict[str, Any]] = {}
        for hits, _ in sides:
            for hit in hits:
                entry = fused.setdefault(hit.metadata.get("_id", hit.text), {"hit": hit, "score": 0.0})
                entry.update(
                    {
                        f: getattr(hit, f)
                        for f in ("dense", "sparse", "dense_rank", "sparse_rank")
                        if getattr(hit, f) is not None
                    }
                )
        for hits, weight in sides:
            values = self._contributions(hits)
            present = {hit.metadata.get("_id", hit.text): v for hit, v in zip(hits, values, strict=True)}
            floor = min(values) if self.fusion == "zscore" else 0.0
            for key, entry in fused.items():
                entry["score"] += weight * present.get(key, floor)
        ranked = sorted(fused.values(), key=lambda e: -e["score"])[:k]
        return [
            Hit(
                e["hit"].text,
                e["score"],
                e["hit"].metadata,
                dense=e.get("dense"),
                sparse=e.get("sparse"),
                dense_rank=e.get("dense_rank"),
                sparse_rank=e.get("sparse_rank"),
            )
            for e in ranked
        ]
