"""The retrieval benchmark's metrics and corpus format."""

from __future__ import annotations

import json

import pytest

from bot.bench.evaluation import build_store, evaluate, load_corpus, query_text
from tests.knowledge.conftest import FakeEmbeddings


@pytest.fixture
def corpus_dir(tmp_path):
    docs = [
        {"id": "kettles", "title": "Kettles", "text": "Our kettles boil water on induction hobs."},
        {"id": "tents", "title": "Tents", "text": "The tent sleeps two people and is waterproof."},
        {"id": "socks", "title": "Socks", "text": "Merino socks come in three sizes."},
    ]
    questions = [
        {"question": "does the kettle work on induction", "doc_id": "kettles"},
        {"question": "how many people sleep in the tent", "doc_id": "tents"},
        {"question": "what sizes are the merino socks", "doc_id": "socks", "history": ["I like wool"]},
        {"question": "completely unrelated words zebra", "doc_id": "kettles"},
    ]
    for name, rows in (("documents", docs), ("questions", questions)):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return tmp_path


def test_metrics_count_ranks_of_documents(corpus_dir):
    corpus = load_corpus(corpus_dir)
    store, _ = build_store(corpus, FakeEmbeddings())
    result = evaluate(store, corpus.questions, "sparse", with_history=False)
    # three questions share words with their document only; the zebra one finds nothing
    assert result["recall@1"] == 0.75 and result["recall@5"] == 0.75
    assert result["mrr"] == 0.75
    assert result["p95_ms"] >= result["p50_ms"] > 0


def test_history_is_added_to_the_query_when_asked():
    question = {"question": "and for shoes?", "history": ["what is the return window", "hi"]}
    assert query_text(question, with_history=False) == "and for shoes?"
    assert query_text(question, with_history=True) == "and for shoes? what is the return window hi"


def test_a_question_answered_by_several_documents_counts_the_best_ranked(corpus_dir):
    corpus = load_corpus(corpus_dir)
    store, _ = build_store(corpus, FakeEmbeddings())
    question = {"question": "what sizes are the merino socks", "doc_id": "tents"}
    assert evaluate(store, [question], "sparse", with_history=False)["recall@1"] == 0.0
    question["also"] = ["kettles", "socks"]
    assert evaluate(store, [question], "sparse", with_history=False)["recall@1"] == 1.0


def test_covid_qa_counts_an_entry_that_asks_the_very_question_as_an_answer():
    from bot.bench.evaluation import DATASETS, covid_qa_corpus

    if not (DATASETS / "covid_qa").is_dir():
        pytest.skip("../shared/datasets/covid_qa is not here")
    corpus = covid_qa_corpus()
    title = {d["id"]: d["title"] for d in corpus.documents}
    masks = [q for q in corpus.questions if q["question"] == "Should I wear a mask?"]
    assert [title[masks[0]["doc_id"]]] == ["Should travelers wear facemasks?"]  # the dataset's label
    assert [title[d] for d in masks[0]["also"]] == ["Should I wear a mask?"]  # asked word for word
    assert len(corpus.questions) == 244
