"""The gate's nearest-training-example signal (bot/gate/neighbours.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.gate.neighbours import Neighbours, read_examples, strip_annotations


class BagOfWords:
    """A stand-in sentence model: one dimension per known word."""

    vocabulary = ["track", "order", "refund", "money", "hello", "hi", "weather", "rain"]

    def embed_documents(self, texts):
        return [[float(w in t.lower().split()) for w in self.vocabulary] for t in texts]


def test_annotations_are_stripped_and_every_example_is_read(tmp_path):
    (tmp_path / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: track_order\n  examples: |\n'
        "    - track [BB-100019](order_number)\n    - where is my order\n"
        "- regex: order_number\n  examples: |\n    - BB-\\d{6}\n"
    )
    assert read_examples([tmp_path / "a.yml"]) == [
        ("track BB-100019", "track_order"),
        ("where is my order", "track_order"),
    ]
    assert strip_annotations("mail [a@b.c](email) now") == "mail a@b.c now"


def test_the_nearest_in_scope_example_gives_intent_and_similarity():
    examples = [("track order", "track_order"), ("refund money", "get_refund"), ("hello hi", "greet")]
    examples.append(("weather rain", "out_of_scope"))  # never a neighbour: it is not in scope
    neighbours = Neighbours(BagOfWords(), examples)
    intent, similarity = neighbours.nearest("track my order")
    assert intent == "track_order" and similarity == pytest.approx(1.0)
    far = neighbours.nearest_many(["rain weather"])[0]
    assert far[1] == pytest.approx(0.0)
    assert "out_of_scope" not in set(neighbours.intents)


def test_without_in_scope_examples_it_refuses():
    with pytest.raises(ValueError):
        Neighbours(BagOfWords(), [("weather rain", "out_of_scope")])


def test_a_cached_matrix_is_used_as_given():
    matrix = np.eye(2, 8, dtype=np.float32)
    neighbours = Neighbours(BagOfWords(), [("a", "x"), ("b", "y")], matrix)
    assert neighbours.nearest("track")[0] == "x"


def test_the_embedding_classifier_ranks_intents_and_knows_out_of_scope():
    examples = [
        ("track order", "track_order"),
        ("order track", "track_order"),
        ("refund money", "get_refund"),
        ("money refund", "get_refund"),
        ("weather rain", "out_of_scope"),
        ("rain", "out_of_scope"),
    ]
    neighbours = Neighbours(BagOfWords(), examples)
    order, rain = neighbours.opinions(["track my order", "rain today"])
    assert order.ranking[0][0] == "track_order" and order.nn_intent == "track_order"
    assert rain.ranking[0][0] == "out_of_scope"  # a class for the classifier, never a neighbour
    assert rain.nn_intent != "out_of_scope"
    assert sum(p for _, p in order.ranking) == pytest.approx(1.0, abs=1e-5)


def test_embeddings_and_classifier_are_cached_and_reloaded(tmp_path, monkeypatch):
    from bot.gate import neighbours as module

    (tmp_path / "nlu").mkdir()
    (tmp_path / "nlu" / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: track_order\n  examples: |\n    - track order\n'
        "- intent: get_refund\n  examples: |\n    - refund money\n"
    )
    monkeypatch.setattr(module, "get_settings", lambda: type("S", (), {"home": tmp_path / "home"})())
    first = module._build(BagOfWords(), "bag", tmp_path / "nlu")
    assert first.embedded and len(list((tmp_path / "home" / "cache").glob("neighbours-*.npz"))) == 1

    class NoModel(BagOfWords):  # the examples must come from the cache, not be embedded again
        calls = 0

        def embed_documents(self, texts):
            NoModel.calls += 1
            return super().embed_documents(texts)

    second = module._build(NoModel(), "bag", tmp_path / "nlu")
    assert not second.embedded and second._classifier is not None
    assert second.opinions(["refund"])[0].ranking[0][0] == "get_refund" and NoModel.calls == 1
