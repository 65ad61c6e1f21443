"""Sync the store with the sources folder, incrementally by content hash.

For each changed document: embed only chunks the store does not have, mark reused chunks
as belonging to the new revision too, publish the new revision (one write: searches switch
over), then remove what only the old revision used. A crash at any point leaves the
previous revision live; leftovers are swept by the next refresh. Files that cannot be read
are reported and their previous version stays; deleted files disappear.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from knowledge.chunking import Chunk, split_document
from knowledge.config import KnowledgeSettings
from knowledge.loaders import LoadProblem, SourceDocument, load_sources
from knowledge.store import KnowledgeStore

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (chunks embedded, chunks to embed, stage)


@dataclass
class RefreshReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    rebuilt: bool = False  # the store was dropped first (asked, or its vectors were outdated)

    @property
    def changed_sources(self) -> list[str]:
        return self.added + self.updated + self.removed

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "problems": [{"path": p.path, "reason": p.reason} for p in self.problems],
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "seconds": round(self.seconds, 2),
            "rebuilt": self.rebuilt,
        }


def publish_document(
    store: KnowledgeStore,
    document: SourceDocument,
    chunks: list[Chunk],
    existing: dict[str, list[str]],
    batch_size: int,
    report: RefreshReport,
) -> None:
    """Write one document's chunks (embedding only those not in `existing`: chunk id ->
    revisions) and switch the document to its new revision in one manifest write."""
    revision = document.revision
    new = [c for c in chunks if c.id not in existing]
    reused = [c for c in chunks if c.id in existing]
    if new:
        store.add_chunks(
            [c.text for c in new],
            [{**c.metadata, "doc_revisions": [revision]} for c in new],
            [c.id for c in new],
            batch_size=batch_size,
        )
    for chunk in reused:  # visible under the old and the new revision until the switch
        store.set_revisions([chunk.id], sorted(set(existing[chunk.id]) | {revision}))
    for chunk in chunks:  # keep `existing` current: the sweep reads it
        existing[chunk.id] = [revision]
    store.publish(
        document.path,
        {
            "revision": revision,
            "title": document.title,
            "kind": document.kind,
            "chunks": len(chunks),
            "modified": document.modified,
            "refreshed": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    store.set_revisions([c.id for c in reused], [revision])
    report.chunks_embedded += len(new)
    report.chunks_reused += len(reused)


def refresh(
    store: KnowledgeStore, settings: KnowledgeSettings, progress: Progress | None = None
) -> RefreshReport:
    started = time.monotonic()
    report = RefreshReport()
    documents, report.problems = load_sources(settings.sources, settings.max_file_bytes)
    manifest = store.manifest()
    existing = store.chunk_revisions()
    changed: list[tuple[SourceDocument, list[Chunk], bool]] = []
    for document in documents:
        previous = manifest.get(document.path)
        if previous and previous["revision"] == document.revision:
            report.unchanged.append(document.path)
        else:
            chunks = split_document(document, settings.base_url, settings.chunk_size, settings.chunk_overlap)
            changed.append((document, chunks, previous is not None))
    # Embed every new chunk first, in large batches across documents; nothing is written yet,
    # so a crash here changes nothing.
    new_texts = [c.text for _, chunks, _ in changed for c in chunks if c.id not in existing]
    try:
        store.embed_ahead(
            new_texts,
            block=max(settings.embedding_batch_size * 8, 64),
            progress=(lambda done, total: progress(done, total, "embedding")) if progress else None,
        )
        store.begin_changes()  # searches filter on live revisions until the sweep is done
        for document, chunks, known in changed:
            publish_document(store, document, chunks, existing, settings.embedding_batch_size, report)
            (report.updated if known else report.added).append(document.path)
    finally:
        store.forget_prepared()
    unreadable = {p.path for p in report.problems}
    present = {d.path for d in documents} | unreadable  # an unreadable file keeps its old version
    removed = sorted(set(manifest) - present)
    if removed:
        store.begin_changes()
    for source in removed:
        store.publish(source, None)
        report.removed.append(source)
    _sweep(store, existing)  # `existing` follows every write above: no second read of the store
    store.changes_done()
    report.seconds = time.monotonic() - started
    logger.info("knowledge refresh: %s", report.to_dict())
    return report


def _sweep(store: KnowledgeStore, chunks: dict[str, list[str]]) -> None:
    """Delete chunks of no live revision (old versions, removed documents, crashed runs).
    `chunks`: every chunk in the store and its revisions, as of now."""
    live = set(store.live_revisions().values())
    stale = [chunk_id for chunk_id, revisions in chunks.items() if not live & set(revisions)]
    store.delete_chunks(stale)
