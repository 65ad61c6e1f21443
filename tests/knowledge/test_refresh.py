"""Ingest and refresh: incremental, atomic per document, robust to bad files."""

from __future__ import annotations

import uuid

import pytest
from qdrant_client import QdrantClient

from knowledge import base
from knowledge.store import MANIFEST_NAMESPACE, STORE_MARKER, StoreError
from tests.knowledge.conftest import FakeEmbeddings, write


def test_first_refresh_adds_everything_and_second_changes_nothing(make_kb):
    embeddings = FakeEmbeddings()
    kb = make_kb(embeddings)
    first = kb.refresh()
    assert sorted(first.added) == ["faq.yml", "returns.md", "shipping.md"]
    embedded = embeddings.embedded
    second = kb.refresh()
    assert sorted(second.unchanged) == ["faq.yml", "returns.md", "shipping.md"]
    assert second.chunks_embedded == 0 and embeddings.embedded == embedded  # nothing re-embedded
    assert kb.status()["documents"] == 3


def test_edit_reembeds_only_changed_chunks_and_next_search_sees_it(make_kb, sources):
    kb = make_kb()
    kb.refresh()
    text = (sources / "returns.md").read_text().replace("Refunds take", "Refunds always take")
    (sources / "returns.md").write_text(text)
    report = kb.refresh()
    assert report.updated == ["returns.md"] and report.chunks_embedded == 1 and report.chunks_reused == 1
    hits = kb.search("refunds always take", k=1)
    assert "Refunds always take" in hits[0].text
    texts = [h.text for h in kb.search("refunds take", k=10)]
    assert not any("Refunds take" in t and "always" not in t for t in texts)  # old version gone


def test_deleted_document_disappears(make_kb, sources):
    kb = make_kb()
    kb.refresh()
    (sources / "shipping.md").unlink()
    assert kb.refresh().removed == ["shipping.md"]
    assert all(h.source != "shipping.md" for h in kb.search("deliver countries", k=10))
    assert kb.store.count() == 4  # 2 returns sections + 2 FAQ entries


def test_policy_facts_are_filled_from_the_policy_file(make_kb):
    kb = make_kb()
    kb.refresh()
    hit = kb.search("deliver countries", k=1, sources=["shipping.md"])[0]
    assert "We deliver to the United States and Canada." in hit.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", "   \n", "empty"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "unreadable PDF"),
        ("bad.yml", "faq: [unclosed", "invalid YAML"),
        ("wrong.csv", "q,a\nhello,world\n", "question and answer"),
        ("image.png", b"\x89PNG\r\n", "unsupported file type"),
        ("unknown-fact.md", "# X\n\nWithin {{policy.returns.nope}} days.", "unknown fact"),
        (
            "zz-copy.md",
            "# Shipping\n\n## Countries\n\nWe deliver to {{policy.shipping.countries}}.\n",
            "duplicate of",
        ),
    ],
)
def test_bad_files_are_skipped_with_a_reason_and_the_rest_ingested(make_kb, sources, name, content, reason):
    write(sources, name, content)
    report = make_kb().refresh()
    assert [p.path for p in report.problems] == [name]
    assert reason in report.problems[0].reason
    assert len(report.added) == 3


def test_huge_file_is_skipped(make_kb, sources):
    write(sources, "huge.txt", "word " * 2_000_000)
    report = make_kb().refresh()
    assert report.problems[0].path == "huge.txt" and "too large" in report.problems[0].reason


def test_a_file_that_turns_bad_keeps_its_previous_version(make_kb, sources):
    kb = make_kb()
    kb.refresh()
    (sources / "shipping.md").write_bytes(b"\xff\xfe\x00broken")
    report = kb.refresh()
    assert report.removed == [] and report.problems[0].path == "shipping.md"
    assert kb.search("deliver countries", k=1, sources=["shipping.md"])  # still answerable


def test_crash_before_publishing_leaves_the_old_version_live(make_kb, sources, monkeypatch):
    kb = make_kb()
    kb.refresh()
    (sources / "returns.md").write_text((sources / "returns.md").read_text().replace("within", "WITHIN NEW"))

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(kb.store, "publish", crash)
    with pytest.raises(RuntimeError):
        kb.refresh()
    texts = [h.text for h in kb.search("return items days delivery", k=10)]
    assert any("Return items within" in t for t in texts)
    assert not any("WITHIN NEW" in t for t in texts)  # new chunks exist but are not live
    monkeypatch.undo()
    assert kb.refresh().updated == ["returns.md"]
    assert any("WITHIN NEW" in h.text for h in kb.search("return items days delivery", k=10))


class CountingEmbeddings(FakeEmbeddings):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.fail = fail

    def embed_documents(self, texts):
        if self.fail:
            raise RuntimeError("out of memory")
        self.calls.append(len(texts))
        return super().embed_documents(texts)


def test_new_chunks_of_all_documents_are_embedded_together_not_per_document(make_kb):
    embeddings = CountingEmbeddings()
    kb = make_kb(embeddings)
    report = kb.refresh()
    # one call for every new passage, one for their distinct headings
    assert len(report.added) == 3 and embeddings.calls[0] == report.chunks_embedded
    assert len(embeddings.calls) == 2


def test_crash_while_embedding_writes_nothing_and_keeps_the_old_version(make_kb, sources):
    embeddings = CountingEmbeddings()
    kb = make_kb(embeddings)
    kb.refresh()
    chunks = kb.store.count()
    (sources / "returns.md").write_text((sources / "returns.md").read_text().replace("within", "WITHIN NEW"))
    embeddings.fail = True
    with pytest.raises(RuntimeError):
        kb.refresh()
    assert kb.store.count() == chunks and kb.store._prepared == {}
    assert any("Return items within" in h.text for h in kb.search("return items days delivery", k=10))
    embeddings.fail = False
    assert kb.refresh().updated == ["returns.md"]


def test_a_store_whose_vectors_were_made_another_way_is_rebuilt_by_the_next_refresh(make_kb):
    kb = make_kb()
    kb.refresh()
    assert kb.store.scheme() == "passage+question-heading/1" and "__store__" not in kb.store.manifest()
    marker = str(uuid.uuid5(MANIFEST_NAMESPACE, STORE_MARKER))
    kb.store.client.delete(kb.store.manifest_collection, points_selector=[marker])  # as stores made before
    assert kb.store.outdated()
    report = kb.refresh()
    assert report.rebuilt and sorted(report.added) == ["faq.yml", "returns.md", "shipping.md"]
    assert not kb.store.outdated() and not kb.refresh().rebuilt


def test_store_built_with_another_embedding_size_names_the_fix(make_kb):
    client = QdrantClient(":memory:")
    make_kb(FakeEmbeddings(size=64), client).refresh()
    with pytest.raises(StoreError, match="kb refresh --rebuild"):
        make_kb(FakeEmbeddings(size=32), client).refresh()
    assert make_kb(FakeEmbeddings(size=32), client).refresh(rebuild=True).added


def test_chunks_carry_source_title_heading_hash_revision_and_link(make_kb):
    kb = make_kb()
    kb.refresh()
    meta = kb.search("refunds take", k=1, sources=["returns.md"])[0].metadata
    assert meta["source"] == "returns.md" and meta["title"] == "Returns" and meta["heading_path"] == "Refunds"
    assert meta["url"].endswith("/returns#refunds")
    assert len(meta["content_hash"]) == 16 and meta["doc_revisions"] and meta["modified"]


def test_faq_entries_are_one_chunk_each_and_searchable_by_mode(make_kb):
    kb = make_kb()
    kb.refresh()
    for mode in ("hybrid", "dense", "sparse"):
        top = kb.search("pay with paypal", k=1, mode=mode)[0]
        assert top.source == "faq.yml" and "PayPal" in top.text, mode


def test_a_store_reopened_after_a_crash_still_hides_the_unpublished_version(make_kb, sources, monkeypatch):
    client = QdrantClient(":memory:")
    kb = make_kb(client=client)
    kb.refresh()
    (sources / "returns.md").write_text((sources / "returns.md").read_text().replace("within", "WITHIN NEW"))
    monkeypatch.setattr(kb.store, "publish", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        kb.refresh()
    reopened = make_kb(client=client)  # a new process: it knows nothing of the crash
    texts = [h.text for h in reopened.search("return items days delivery", k=10)]
    assert texts and not any("WITHIN NEW" in t for t in texts)


def test_a_rebuild_is_built_beside_the_live_store_which_answers_meanwhile(make_kb, monkeypatch, tmp_path):
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    kb = make_kb(client=client)
    kb.refresh()
    searched_during: list = []
    real_refresh = base.refresh

    def refresh_then_search(store, settings, progress):
        report = real_refresh(store, settings, progress)  # the new store is full, not yet live
        searched_during.append(kb.search("gift cards", k=1))
        return report

    monkeypatch.setattr(base, "refresh", refresh_then_search)
    for _ in range(2):  # the first rebuild replaces collections, the second an alias's target
        searched_during.clear()
        report = kb.refresh(rebuild=True)
        assert report.rebuilt and searched_during and searched_during[0], "no answer during the rebuild"
        assert kb.search("gift cards", k=1)[0].metadata["source"] == "faq.yml"
    names = {c.name for c in client.get_collections().collections}
    if kb.store.local_index is not None:  # local mode: two collections, the store's names are aliases
        assert len(names) == 2 and "kb" not in names
        aliases = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
        assert set(aliases) == {"kb", "kb_manifest"} and set(aliases.values()) == names
    client.close()
    reopened = make_kb(client=QdrantClient(path=str(tmp_path / "qdrant")))
    assert reopened.search("gift cards", k=1)[0].metadata["source"] == "faq.yml"


def test_a_page_without_headings_is_split_at_its_paragraphs(make_kb, sources):
    write(
        sources,
        "terms.txt",
        "Terms of sale (summary)\n\nThese terms apply to orders from the United States and Canada.\n\n"
        "Prices are shown in US dollars for US orders and Canadian dollars for Canadian orders.\n\n"
        "Until we ship your order, we may cancel it if an item turns out to be mispriced.",
    )
    kb = make_kb()
    kb.refresh()
    passages = [h.text for h in kb.search("mispriced", k=10, sources=["terms.txt"])]
    # one chunk per paragraph; the title line stays with the paragraph after it
    assert sorted(p.partition("\n\n")[2] for p in passages) == sorted(
        [
            "Terms of sale (summary)\n\nThese terms apply to orders from the United States and Canada.",
            "Prices are shown in US dollars for US orders and Canadian dollars for Canadian orders.",
            "Until we ship your order, we may cancel it if an item turns out to be mispriced.",
        ]
    )


def test_a_change_in_how_documents_are_split_re_splits_them_on_the_next_refresh(make_kb, monkeypatch):
    from knowledge import loaders

    kb = make_kb()
    kb.refresh()
    monkeypatch.setattr(loaders, "SPLITTING", "another way")
    report = kb.refresh()
    assert sorted(report.updated) == ["faq.yml", "returns.md", "shipping.md"]
    assert report.chunks_embedded == 0  # the same passages: their vectors are kept


def test_a_first_line_that_repeats_the_title_is_not_a_passage():
    from knowledge.chunking import split_document
    from knowledge.loaders import SourceDocument

    guide = SourceDocument(
        "help/tent.pdf",
        "Ridge tent set-up guide",
        "pdf",
        "Ridge tent set-up guide\n1. Lay the footprint on flat ground.\n2. Assemble the poles.",
        "2026-12-01T00:00:00",
    )
    (chunk,) = split_document(guide, "https://kb.example")
    assert (
        chunk.text
        == "Ridge tent set-up guide\n\n1. Lay the footprint on flat ground.\n2. Assemble the poles."
    )
