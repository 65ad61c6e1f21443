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
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient, models

from knowledge.config import KnowledgeSettings
from knowledge.sparse import BM25SparseEmbeddings

logger = logging.getLogger(__name__)

DENSE, SPARSE = "dense", "sparse"
Mode = Literal["hybrid", "dense", "sparse"]
MANIFEST_NAMESPACE = uuid.UUID("0c3f6a57-7f0e-4d55-8d59-0e0d3e4b2a61")


class StoreError(Exception):
    """The store cannot be used as configured; the message says how to fix it."""


@dataclass(frozen=True)
class Hit:
    text: str
    score: float
    metadata: dict[str, Any]

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


class KnowledgeStore:
    def __init__(
        self,
        client: QdrantClient,
        embeddings: Embeddings,
        collection: str,
        manifest_ttl: float = 2.0,
        payload_indexes: bool = False,  # only a Qdrant server uses them
    ):
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
        for name in (self.collection, self.manifest_collection):
            if self.client.collection_exists(name):
                self.client.delete_collection(name)
        self._live = None

    def vector_store(self, mode: Mode) -> QdrantVectorStore:
        return QdrantVectorStore(
            client=self.client,
            collection_name=self.collection,
            embedding=self.embeddings,
            sparse_embedding=self.sparse,
            retrieval_mode={
                "hybrid": RetrievalMode.HYBRID,
                "dense": RetrievalMode.DENSE,
                "sparse": RetrievalMode.SPARSE,
            }[mode],
            vector_name=DENSE,
            sparse_vector_name=SPARSE,
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
        return {r.payload["source"]: r.payload for r in records}

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
    def add_chunks(
        self, texts: list[str], metadatas: list[dict], ids: list[str], batch_size: int = 32
    ) -> None:
        self.vector_store("hybrid").add_texts(texts, metadatas=metadatas, ids=ids, batch_size=batch_size)

    def chunk_revisions(self) -> dict[str, list[str]]:
        """Every chunk id in the store and the document revisions it belongs to."""
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

    def delete_chunks(self, ids: list[str]) -> None:
        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=ids))

    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    # --- search ---------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 5, mode: Mode = "hybrid", sources: list[str] | None = None
    ) -> list[Hit]:
        """The best chunks of live documents for `query`; `sources` restricts to some documents."""
        live = self.live_revisions()
        if not live or not query.strip():
            return []
        conditions = []
        if self._must_filter():
            revisions = sorted(set(live.values()))
            conditions.append(
                models.FieldCondition(key="metadata.doc_revisions", match=models.MatchAny(any=revisions))
            )
        if sources:
            conditions.append(
                models.FieldCondition(key="metadata.source", match=models.MatchAny(any=sources))
            )
        query_filter = models.Filter(must=conditions) if conditions else None
        results = self.vector_store(mode).similarity_search_with_score(query, k=k, filter=query_filter)
        return [
            Hit(text=doc.page_content, score=float(score), metadata=doc.metadata) for doc, score in results
        ]
