"""The in-memory mirror scores exactly as Qdrant's own dense and sparse search do."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient
from qdrant_client.hybrid.fusion import reciprocal_rank_fusion
from qdrant_client.models import ScoredPoint

from bot.bench.ingest import write_document
from knowledge.local_index import LocalIndex
from knowledge.store import Hit, KnowledgeStore
from tests.knowledge.conftest import FakeEmbeddings

QUERIES = [
    "how many days does the express parcel take",
    "refund for a damaged kettle",
    "waterproof tent warranty code",
    "gift cards paypal",
    "zzz nothing matches this",
]


@pytest.fixture
def both(make_kb, sources):
    for index in range(12):
        write_document(sources, index)
    client = QdrantClient(":memory:")
    kb = make_kb(client=client)
    kb.refresh()
    native = KnowledgeStore(client, FakeEmbeddings(), "kb", manifest_ttl=0, local_index=False)
    indexed = KnowledgeStore(client, FakeEmbeddings(), "kb", manifest_ttl=0, local_index=True)
    return kb, native, indexed


def ranking(store: KnowledgeStore, query: str, **kwargs) -> list[tuple[str, float]]:
    return [(h.metadata["_id"], round(h.score, 4)) for h in store.search(query, k=8, **kwargs)]


def same(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """Same scores in the same order; the same ids above the cut-off score (tied points
    at the cut-off may be either)."""
    if [s for _, s in a] != [s for _, s in b]:
        return False
    cut = a[-1][1] if a else None
    return sorted(i for i, s in a if s != cut) == sorted(i for i, s in b if s != cut)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
@pytest.mark.parametrize("query", QUERIES)
def test_same_ids_same_order_same_scores_as_qdrant(both, query, mode):
    _, native, indexed = both
    assert same(ranking(indexed, query, mode=mode), ranking(native, query, mode=mode))


@pytest.mark.parametrize("query", QUERIES)
def test_hybrid_fusion_is_qdrants_reciprocal_rank_fusion(both, query):
    _, _, store = both
    dense, lexical = store._dense(query, 8, None, None, None), store._sparse(query, 8, None, None, None)
    as_points = [
        [ScoredPoint(id=h.metadata["_id"], version=0, score=h.score) for h in hits]
        for hits in (dense, lexical)
    ]
    expected = [(str(p.id), round(p.score, 6)) for p in reciprocal_rank_fusion(as_points, limit=8)]
    store.fusion = "rrf"
    try:
        assert [(h.metadata["_id"], round(h.score, 6)) for h in store._fuse(dense, lexical, 8)] == expected
    finally:
        store.fusion = "zscore"
    fused = store.search(query, k=8)
    assert all(h.dense is not None or h.sparse is not None for h in fused)
    assert all((h.dense is None) == (h.dense_rank is None) for h in fused)


def test_source_filter_and_live_revision_filter_agree(both, sources):
    kb, native, indexed = both
    query = QUERIES[0]
    only = ["guide-00003.md", "guide-00007.md"]
    for mode in ("dense", "sparse"):
        assert same(
            ranking(indexed, query, mode=mode, sources=only), ranking(native, query, mode=mode, sources=only)
        )
    assert {h.source for h in indexed.search(query, k=8, sources=only)} <= set(only)
    # an unpublished revision (a refresh in flight) is invisible to both
    indexed.add_chunks(
        ["Generated guide 3\n\nexpress parcel days express parcel days"],
        [{"source": "guide-00003.md", "doc_revisions": ["not-live"]}],
        ["00000000-0000-0000-0000-000000000001"],
    )
    for store in (native, indexed):
        store.begin_changes()
    for mode in ("dense", "sparse"):
        assert same(ranking(indexed, query, mode=mode), ranking(native, query, mode=mode))
    assert "00000000-0000-0000-0000-000000000001" not in [
        i for i, _ in ranking(indexed, query, mode="sparse")
    ]


def test_index_follows_writes_revisions_and_deletes():
    index = LocalIndex()
    index.add(
        ["a", "b"],
        [[1.0, 0.0], [0.0, 3.0]],
        [([1, 2], [1.0, 1.0]), ([2, 3], [1.0, 2.0])],
        [["r1"], ["r2"]],
        ["x.md", "y.md"],
    )
    assert [i for i, _ in index.search_sparse([3], [1.0], k=5)] == ["b"]
    assert index.search_dense([0.0, 2.0], k=1) == [("b", 1.0)]  # cosine: vectors are normalised
    assert index.search_sparse([3], [1.0], k=5, live_revisions={"r1"}) == []
    assert [i for i, _ in index.search_dense([0.0, 1.0], k=5, live_revisions={"r1"})] == ["a"]
    assert [i for i, _ in index.search_dense([0.0, 1.0], k=5, sources=["x.md"])] == ["a"]
    index.set_revisions(["b"], ["r1"])
    assert [i for i, _ in index.search_sparse([3], [1.0], k=5, live_revisions={"r1"})] == ["b"]
    index.delete(["b"])
    assert index.search_sparse([3], [1.0], k=5) == [] and len(index) == 1
    assert index.search_sparse([9], [1.0], k=5) == []  # no shared term: nothing, as in Qdrant


def test_zscore_fusion_standardises_each_side_and_fills_a_missing_side_with_its_lowest(both):
    _, _, store = both

    def hit(key, side, score):
        return Hit(key, score, {"_id": key, "source": key}, **{side: score, f"{side}_rank": 1})

    dense = [hit("a", "dense", 0.9), hit("b", "dense", 0.6), hit("c", "dense", 0.3)]
    lexical = [hit("c", "sparse", 12.0), hit("d", "sparse", 4.0)]
    fused = {h.metadata["_id"]: h.score for h in store._fuse(dense, lexical, 10)}
    z = 0.3 / (0.06**0.5)  # dense: mean 0.6, standard deviation sqrt(0.06)
    # a: dense +z, missing from sparse (sparse's lowest, -1); c: dense -z, sparse +1
    assert fused["a"] == pytest.approx(z - 1.0) and fused["c"] == pytest.approx(-z + 1.0)
    assert fused["b"] == pytest.approx(0.0 - 1.0) and fused["d"] == pytest.approx(-z - 1.0)
    assert list(fused) == ["a", "c", "b", "d"]
