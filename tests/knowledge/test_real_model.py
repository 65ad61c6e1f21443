"""The real default embedding model (all-MiniLM-L6-v2 from its package) on a real
on-disk Qdrant store, with the real sources of the sample brand."""

from __future__ import annotations

from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import embedding_model
from knowledge.locking import LockedClient
from knowledge.store import KnowledgeStore, open_client


def test_sample_brand_sources_ingest_and_answer_with_the_real_model(tmp_path):
    settings = KnowledgeSettings(qdrant_path=tmp_path / "qdrant")
    store = KnowledgeStore(
        LockedClient(open_client(settings)), embedding_model(settings.embedding_model), "kb"
    )
    kb = KnowledgeBase(store, settings)
    report = kb.refresh()
    assert report.added and not report.problems
    assert kb.status()["dimensions"] == 384
    top = kb.search("how many days do I have to send something back?", k=3)
    assert any("returns" in hit.source for hit in top)
    count = store.count()
    store.client.close()
    reopened = KnowledgeStore(open_client(settings), embedding_model(settings.embedding_model), "kb")
    assert reopened.count() == count  # it is on disk
    reopened.client.close()
