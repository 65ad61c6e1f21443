"""The knowledge base as one object: store, embedding model and settings together.

Built once per process by :func:`knowledge_base` (opening the store and loading the model
take seconds); tests build their own with an in-memory client and fake embeddings.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

from knowledge.config import KnowledgeSettings, model_identity
from knowledge.embeddings import embedding_model
from knowledge.locking import LockedClient
from knowledge.outage import said_unavailable
from knowledge.refresh import Progress, RefreshReport, refresh
from knowledge.store import Hit, KnowledgeStore, Mode, open_client

logger = logging.getLogger(__name__)


class KnowledgeBase:
    def __init__(self, store: KnowledgeStore, settings: KnowledgeSettings) -> None:
        self.store = store
        self.settings = settings
        self._refresh_lock = threading.Lock()  # one refresh at a time; searches go on meanwhile
        self.last_refresh: dict[str, Any] | None = None

    def refresh(self, progress: Progress | None = None, rebuild: bool = False) -> RefreshReport:
        with self._refresh_lock:
            outdated = not rebuild and self.store.client.collection_exists(self.store.collection)
            model = model_identity(self.settings.embedding_model)
            if outdated and self.store.outdated(model):
                logger.warning(
                    "the knowledge store's vectors were made another way or by another model: rebuilding it"
                )
                rebuild = True
            if rebuild and self.store.local_index is not None and self.store.count_or_none():
                # build the new store beside the live one, which answers searches meanwhile
                target = self.store.beside()
            else:
                if rebuild:
                    self.store.drop()  # a Qdrant server: rebuilt in place
                target = self.store
            target.ensure_collections(self.settings.embedding_model)
            report = refresh(target, self.settings, progress)
            target.record_scheme(model)
            if target is not self.store:
                self.store.switch_to(target)
            report.rebuilt = rebuild
            self.last_refresh = report.to_dict()
            return report

    @property
    def embeddings(self) -> Any:
        """The dense embedding model (also used to compare sentences to a question)."""
        return self.store.embeddings

    def search(
        self, query: str, k: int = 5, mode: Mode = "hybrid", sources: list[str] | None = None
    ) -> list[Hit]:
        """The best chunks for `query`; :class:`StoreUnavailable` when the store does not answer."""
        with said_unavailable():
            return self.store.search(query, k=k, mode=mode, sources=sources)

    def status(self) -> dict[str, Any]:
        manifest = self.store.manifest()
        model = model_identity(self.settings.embedding_model)
        refreshed = max((e.get("refreshed", "") for e in manifest.values()), default=None)
        return {
            "documents": len(manifest),
            "chunks": self.store.count(),
            "last_refresh": refreshed,
            "embedding_model": model,
            # its vectors were made by another model or scheme: the next refresh rebuilds it
            "rebuild_needed": self.store.outdated(model),
            "dimensions": self.store.dimensions,
            "store": self.settings.qdrant_url or str(self.settings.qdrant_path),
            "collection": self.store.collection,
        }


_opening = threading.Lock()


def knowledge_base() -> KnowledgeBase:
    """The process's knowledge base, opened once (threads may ask at the same time: local
    mode must not open its folder twice)."""
    with _opening:
        with said_unavailable():  # a failed open is not kept: the next call tries again
            return _open()


@lru_cache(maxsize=1)
def _open() -> KnowledgeBase:
    settings = KnowledgeSettings()
    store = KnowledgeStore(
        LockedClient(open_client(settings)),
        embedding_model(settings.embedding_model, settings.embedding_batch_size),
        settings.collection,
        payload_indexes=bool(settings.qdrant_url),
        local_index=not settings.qdrant_url,
        fusion=settings.fusion,
        dense_weight=settings.dense_weight,
    )
    store.ensure_collections(settings.embedding_model)
    model = model_identity(settings.embedding_model)
    if store.outdated(model):
        logger.warning(
            "the knowledge store's vectors were made by another model than %s: answers are poor until "
            "`tandem kb refresh` rebuilds it",
            model,
        )
    return KnowledgeBase(store, settings)
