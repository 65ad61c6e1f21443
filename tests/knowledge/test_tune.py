"""Tuning the embedding model on labelled questions, and its cross-validated measurement."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from bot.bench import evaluation
from bot.bench.evaluation import CrossValidation, build_store, load_corpus
from knowledge import ranking, tune
from knowledge.config import KnowledgeSettings, model_identity
from knowledge.tune import Example, TuneOptions, mine_examples
from tests.knowledge.conftest import FakeEmbeddings
from tests.knowledge.test_evaluation import corpus_dir  # noqa: F401  (fixture)


def test_examples_pair_each_question_with_its_documents_best_chunk_and_another_documents(make_kb):
    kb = make_kb()
    kb.refresh()
    questions = [
        {"question": "within how many days can I return items", "doc_id": "returns.md"},
        {"question": "do you sell gift cards", "doc_id": "faq.yml"},
        {"question": "anything at all", "doc_id": "gone.md"},
    ]
    examples, skipped = mine_examples(kb.store, questions)
    assert skipped == ["anything at all"]
    returns, cards = examples
    assert returns.doc == "returns.md" and "Return items within" in returns.positive[0]
    assert list(returns.negatives) != ["returns.md"] and len(returns.negatives) == 1
    more, _ = mine_examples(kb.store, questions[:1], negatives=2)
    assert len(more[0].negatives) == 2 and "returns.md" not in more[0].negatives
    # an FAQ entry stands for itself and for its question (the store's vector is their sum)
    assert cards.doc == "faq.yml" and cards.positive[-1].endswith("Do you sell gift cards?")


def test_a_batch_never_holds_two_questions_about_one_document():
    examples = [Example(f"q{i}", f"doc{i % 3}", [f"passage {i % 3}"]) for i in range(12)]
    batches = tune._batches(examples, 4, random.Random(0))
    assert sorted(e.question for b in batches for e in b) == sorted(e.question for e in examples)
    for batch in batches:
        assert len({e.doc for e in batch}) == len(batch) <= 4


def test_cross_validation_never_scores_a_question_with_a_model_tuned_on_it(corpus_dir, monkeypatch):  # noqa: F811
    corpus = load_corpus(corpus_dir)
    corpus.questions = [
        {"question": f"{q['question']} {n}", "doc_id": q["doc_id"]}
        for n in range(3)
        for q in corpus.questions
    ]
    trained_on: list[set[str]] = []

    def fake_tune(base, examples, out, options, progress=None):
        trained_on.append({e.question for e in examples})
        return {"seconds": 0.0}

    scored: list[set[str]] = []
    real_ranks = evaluation.ranks

    def recording_ranks(store, questions, mode, with_history, depth=20, timed=True):
        if mode == "dense":
            scored.append({q["question"] for q in questions})
        return real_ranks(store, questions, mode, with_history, depth, timed)

    monkeypatch.setattr(tune, "tune", fake_tune)
    monkeypatch.setattr(evaluation, "ranks", recording_ranks)
    monkeypatch.setattr("knowledge.embeddings.load_embedding_model", lambda path, batch=32: FakeEmbeddings())
    base_store, _ = build_store(corpus, FakeEmbeddings())
    result = CrossValidation("base", folds=3, progress=lambda line: None).run(
        corpus, base_store, corpus.questions, with_history=False
    )
    assert len(trained_on) == len(scored) == 3
    everyone = {q["question"] for q in corpus.questions}
    for train, test in zip(trained_on, scored, strict=True):
        assert not train & test and train | test == everyone
    assert sum(map(len, scored)) == len(everyone)  # every question scored once
    assert set(result) >= {"dense", "sparse", "hybrid", "folds"} and len(result["dense_weights"]) == 3


def test_a_store_made_by_another_model_is_rebuilt(make_kb):
    kb = make_kb()
    kb.refresh()
    assert not kb.store.outdated("fake")
    assert kb.store.outdated("tuned copy") and not kb.refresh().rebuilt  # settings say "fake"
    kb.store.record_scheme("")  # as stores made before models were recorded: by the default
    assert not kb.store.outdated("all-MiniLM-L6-v2") and kb.store.outdated("fake")
    assert kb.refresh().rebuilt and not kb.store.outdated("fake")


def test_a_tuned_models_identity_names_its_training(tmp_path):
    assert model_identity(KnowledgeSettings().embedding_model) == "all-MiniLM-L6-v2"
    (tmp_path / tune.MARKER).write_text(json.dumps({"trained": "T", "questions": 5, "data": "abc"}))
    assert model_identity(str(tmp_path)) == f"{tmp_path} (tuned T on 5 questions, data abc)"


PAIRS = [
    ("how does the virus diffuse", "How does the virus spread?", "Where do coronaviruses come from?"),
    ("can kids catch corona", "What is the risk of my child becoming sick?", "Can adults get sick?"),
    ("is it ok to hug my pet", "Can I touch my dog or cat?", "How do I hug a friend safely?"),
    ("whats the incubation", "How long after exposure do symptoms appear?", "What are the symptoms?"),
]


@pytest.fixture(scope="module")
def tuned_model(tmp_path_factory) -> tuple[Path, dict]:
    """The real all-MiniLM-L6-v2, tuned for a few steps on the real CPU."""
    out = tmp_path_factory.mktemp("tuned") / "model"
    examples = [Example(q, f"d{i}", [p], {f"n{i}": [n]}) for i, (q, p, n) in enumerate(PAIRS)]
    options = TuneOptions(epochs=4, learning_rate=1e-4, batch_size=4)
    record = tune.tune(
        KnowledgeSettings().embedding_model, examples, out, options, extra={"dense_weight": 0.7}
    )
    return out, record


def test_tuning_the_real_model_moves_questions_towards_their_answers(tuned_model):
    """Every trained question ends closer to its own passage than to its hard negative
    than it started."""
    from knowledge.embeddings import load_embedding_model

    def margins(model) -> np.ndarray:
        q, p, n = (np.array(model.embed_documents([row[i] for row in PAIRS])) for i in range(3))
        return (q * p).sum(1) - (q * n).sum(1)

    folder, record = tuned_model
    before = margins(load_embedding_model(KnowledgeSettings().embedding_model))
    after = margins(load_embedding_model(str(folder)))
    assert (after > before).all(), (before, after)
    assert record["questions"] == 4 and record["loss_per_epoch"][-1] < record["loss_per_epoch"][0]
    assert json.loads((folder / tune.MARKER).read_text())["data"] == record["data"]
    assert not Path(str(folder) + ".partial").exists()


def test_tuning_again_replaces_the_model_whole(tuned_model, tmp_path):
    """A second run into the same folder leaves the new model there and nothing beside it."""
    out = tmp_path / "model"
    (out / "old").mkdir(parents=True)
    examples = [Example(q, f"d{i}", [p]) for i, (q, p, _) in enumerate(PAIRS)]
    record = tune.tune(str(tuned_model[0]), examples, out, TuneOptions(epochs=1, batch_size=4))
    assert json.loads((out / tune.MARKER).read_text())["data"] == record["data"]
    assert not (out / "old").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_pointing_a_real_store_at_the_tuned_model_rebuilds_it_with_its_weight(
    tuned_model, tmp_path, monkeypatch
):
    """The brand's sources in a real on-disk Qdrant store: made by the packaged model, then
    opened with the tuned one, as `TANDEM_EMBEDDING_MODEL=<folder>` does."""
    from knowledge import base
    from knowledge.base import KnowledgeBase

    monkeypatch.setenv("TANDEM_QDRANT_PATH", str(tmp_path / "qdrant"))
    monkeypatch.delenv("TANDEM_KB_DENSE_WEIGHT", raising=False)
    monkeypatch.delenv("TANDEM_EMBEDDING_MODEL", raising=False)
    base._open.cache_clear()
    kb: KnowledgeBase = base._open()
    assert not kb.refresh().rebuilt and kb.store.dense_weight == 0.5
    chunks = kb.store.count()
    kb.store.client.close()
    monkeypatch.setenv("TANDEM_EMBEDDING_MODEL", str(tuned_model[0]))
    base._open.cache_clear()
    try:
        kb = base._open()
        assert kb.store.dense_weight == 0.7  # fitted with it, read from tandem-tuned.json
        assert kb.status()["rebuild_needed"]
        report = kb.refresh()
        assert report.rebuilt and kb.store.count() == chunks
        assert "tuned" in kb.status()["embedding_model"] and not kb.status()["rebuild_needed"]
        assert any(
            "returns" in h.source for h in kb.search("how many days do I have to send something back?", k=3)
        )
        assert not kb.refresh().rebuilt
        kb.store.client.close()
    finally:
        base._open.cache_clear()


def test_tuning_needs_questions_and_sane_options(tmp_path):
    with pytest.raises(ValueError, match="at least 2"):
        tune.tune("unused", [], tmp_path / "out")
    two = [Example("a", "d1", ["x"]), Example("b", "d2", ["y"])]
    with pytest.raises(ValueError, match="epochs >= 1"):
        tune.tune("unused", two, tmp_path / "out", TuneOptions(epochs=0))
    assert not (tmp_path / "out").exists()


def test_the_dense_weight_decides_which_side_hybrid_follows(corpus_dir):  # noqa: F811
    from knowledge.store import StoreError

    corpus = load_corpus(corpus_dir)
    store, _ = build_store(corpus, FakeEmbeddings())
    question = "merino sizes induction kettle"  # dense puts the socks first, sparse the kettles
    assert (
        store.search(question, k=1, mode="dense")[0].source
        != store.search(question, k=1, mode="sparse")[0].source
    )
    for weight, side in ((1.0, "dense"), (0.0, "sparse")):
        store.dense_weight = weight
        alone = [h.source for h in store.search(question, k=3, mode=side)]
        assert [h.source for h in store.search(question, k=3, mode="hybrid")][: len(alone)] == alone
    with pytest.raises(StoreError, match="between 0 and 1"):
        type(store)(store.client, store.embeddings, "other", dense_weight=1.5)


def test_the_fitted_dense_weight_is_the_best_on_the_questions_and_is_used_with_the_tuned_model(
    corpus_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    corpus = load_corpus(corpus_dir)
    store, _ = build_store(corpus, FakeEmbeddings())
    weight, mrr = ranking.fit_dense_weight(store, corpus.questions)
    for other in ranking.WEIGHTS:
        store.dense_weight = other
        assert evaluation.evaluate(store, corpus.questions, "hybrid", False)["mrr"] <= round(mrr, 3) + 1e-9
    model = tmp_path / "tuned"
    model.mkdir()
    (model / tune.MARKER).write_text(json.dumps({"dense_weight": 0.8}))
    monkeypatch.delenv("TANDEM_KB_DENSE_WEIGHT", raising=False)
    assert KnowledgeSettings(embedding_model=str(model)).dense_weight == 0.8
    assert KnowledgeSettings(embedding_model="plain").dense_weight == 0.5
    monkeypatch.setenv("TANDEM_KB_DENSE_WEIGHT", "0.3")
    assert KnowledgeSettings(embedding_model=str(model)).dense_weight == 0.3


def test_kb_tune_names_what_is_wrong_with_the_questions_file(tmp_path, sources, monkeypatch, capsys):
    from bot.tandem.cli import main

    monkeypatch.setenv("TANDEM_KB_SOURCES", str(sources))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no document named"}\n')
    with pytest.raises(SystemExit, match='"doc_id": "path/of/the/document"'):
        main(["kb", "tune", "--questions", str(bad), "--out", str(tmp_path / "out")])
    strangers = tmp_path / "strangers.jsonl"
    strangers.write_text(
        "\n".join(json.dumps({"question": f"q{i}", "doc_id": "nowhere.md"}) for i in range(3)) + "\n"
    )
    with pytest.raises(SystemExit, match="0 usable labelled questions"):
        main(["kb", "tune", "--questions", str(strangers), "--out", str(tmp_path / "out")])
    assert "skipped questions about nowhere.md" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_a_relative_model_folder_is_read_from_the_repository(monkeypatch):
    from knowledge.config import ROOT, configured_model

    monkeypatch.delenv("TANDEM_EMBEDDING_MODEL", raising=False)
    assert configured_model("knowledge") == str(ROOT / "knowledge")  # any folder of the repository
    assert (
        configured_model("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert configured_model("") == configured_model(None) == KnowledgeSettings().embedding_model
