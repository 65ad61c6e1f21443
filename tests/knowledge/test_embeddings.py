"""The embedding model remembers the vectors of recent texts (knowledge/embeddings.py)."""

from __future__ import annotations

from knowledge.embeddings import Remembered


class Counting:
    def __init__(self):
        self.seen: list[str] = []

    def embed_documents(self, texts):
        self.seen += texts
        return [[float(len(t)), float(t.count("a"))] for t in texts]


def test_a_text_is_embedded_once_while_it_is_remembered():
    model = Counting()
    remembered = Remembered(model, size=2)
    assert remembered.embed_query("banana") == [6.0, 3.0]
    assert remembered.embed_documents(["banana", "kiwi", "banana"]) == [[6.0, 3.0], [4.0, 0.0], [6.0, 3.0]]
    assert model.seen == ["banana", "kiwi"]  # the repeat and the earlier query came from memory
    remembered.embed_documents(["fig"])  # the least recently used (banana) is forgotten
    remembered.embed_query("banana")
    assert model.seen == ["banana", "kiwi", "fig", "banana"]


def test_callers_cannot_change_what_is_remembered():
    remembered = Remembered(Counting())
    vector = remembered.embed_query("apple")
    vector[0] = 99.0
    assert remembered.embed_query("apple") == [5.0, 1.0]


def test_forget_makes_the_next_call_use_the_model():
    model = Counting()
    remembered = Remembered(model)
    remembered.embed_query("plum")
    remembered.forget()
    remembered.embed_query("plum")
    assert model.seen == ["plum", "plum"]
