"""The gate's nearest-training-example signal (bot/neighbours.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.neighbours import Neighbours, read_examples, strip_annotations


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
