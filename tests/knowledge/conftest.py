"""Knowledge-base fixtures: an in-memory Qdrant and deterministic fake embeddings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient

from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.store import KnowledgeStore


class FakeEmbeddings(Embeddings):
    """Bag of hashed words, normalised: texts sharing words are close. Counts calls."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.embedded = 0

    def _vector(self, text: str) -> list[float]:
        vector = np.zeros(self.size)
        for word in text.lower().split():
            vector[int(hashlib.md5(word.strip(".,?!").encode()).hexdigest(), 16) % self.size] += 1.0
        norm = np.linalg.norm(vector)
        return list(vector / norm) if norm else list(np.ones(self.size) / np.sqrt(self.size))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture
def sources(tmp_path) -> Path:
    folder = tmp_path / "sources"
    write(
        folder,
        "returns.md",
        "# Returns\n\n## Window\n\nReturn items within {{policy.returns.window_days}} days of delivery.\n\n## Refunds\n\nRefunds take {{policy.returns.refund_days}}.\n",
    )
    write(
        folder, "shipping.md", "# Shipping\n\n## Countries\n\nWe deliver to {{policy.shipping.countries}}.\n"
    )
    write(
        folder,
        "faq.yml",
        "faq:\n  - question: Do you sell gift cards?\n    answer: Yes, gift cards from $10 to $500.\n  - question: Can I pay with PayPal?\n    answer: Yes, PayPal is accepted at checkout.\n",
    )
    return folder


@pytest.fixture(params=["local-index", "qdrant-sparse"])
def make_kb(sources, request):
    """Every knowledge test runs twice: with the in-memory sparse index (local mode's default)
    and with Qdrant's own sparse search (what a Qdrant server does)."""

    def make(embeddings: Embeddings | None = None, client: QdrantClient | None = None) -> KnowledgeBase:
        settings = KnowledgeSettings(
            sources=sources, embedding_model="fake", qdrant_path=sources.parent / "q"
        )
        store = KnowledgeStore(
            client or QdrantClient(":memory:"),
            embeddings or FakeEmbeddings(),
            "kb",
            manifest_ttl=0,
            local_index=request.param == "local-index",
        )
        return KnowledgeBase(store, settings)

    return make
