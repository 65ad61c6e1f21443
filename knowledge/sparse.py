"""BM25-like sparse vectors computed locally, for Qdrant's sparse index.

Documents get BM25's saturated term frequency with length normalisation; queries get
one per distinct term. Qdrant multiplies in the IDF (the collection's sparse vectors use
``Modifier.IDF``), so together the score is BM25. Terms are hashed into 2^24 dimensions,
so no vocabulary has to be stored or kept in sync.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

from langchain_qdrant.sparse_embeddings import SparseEmbeddings, SparseVector

TOKEN = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from has have how i if in into is it its me my no not "
    "of on or our so that the their them then there these they this to was we what when where which "
    "who why will with you your".split()
)
DIMENSIONS = 1 << 24
K1, B, AVERAGE_LENGTH = 1.2, 0.75, 120.0


def tokens(text: str) -> list[str]:
    words = TOKEN.findall(re.sub(r"'s\b", "", text.lower()))
    return [
        w[:-1] if w.endswith("s") and len(w) > 3 and not w.endswith("ss") else w
        for w in words
        if w not in STOPWORDS
    ]


def _index(term: str) -> int:
    return zlib.crc32(term.encode()) % DIMENSIONS


def _vector(weights: dict[int, float]) -> SparseVector:
    indices = sorted(weights)
    return SparseVector(indices=indices, values=[weights[i] for i in indices])


class BM25SparseEmbeddings(SparseEmbeddings):
    """langchain-qdrant's sparse embedding interface over the local BM25 weighting."""

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        vectors = []
        for text in texts:
            terms = tokens(text)
            norm = K1 * (1 - B + B * len(terms) / AVERAGE_LENGTH)
            weights: dict[int, float] = {}
            for term, tf in Counter(terms).items():
                index = _index(term)
                weights[index] = weights.get(index, 0.0) + tf * (K1 + 1) / (tf + norm)
            vectors.append(_vector(weights))
        return vectors

    def embed_query(self, text: str) -> SparseVector:
        return _vector({_index(term): 1.0 for term in set(tokens(text))})
