"""Decoding that cannot invent a fact (adapters/constrained.py, adapters/decoding.py), on
hand-made texts and a fake decoder whose vocabulary is a handful of words."""

from __future__ import annotations

import numpy as np

from adapters.constrained import FactConstraint
from adapters.decoding import greedy

PASSAGE = (
    "Express delivery: 1 to 2 business days, $14.95. Returns are free within 30 days at "
    "https://brightbay.example/returns or by e-mail to help@brightbay.example. Order BB-100031."
)


def test_a_fact_is_allowed_while_it_is_being_copied_and_refused_once_it_is_not_a_copy():
    allowed = FactConstraint([PASSAGE])
    assert allowed.permits("It costs $1")  # the beginning of $14.95
    assert allowed.permits("It costs $14.9")
    assert allowed.permits("It costs $14.95.")
    assert not allowed.permits("It costs $14.959")
    assert not allowed.permits("It costs $1 and")  # "$1" finished: a price nobody gave
    assert allowed.permits("Within 30 days")
    assert not allowed.permits("Within 31")
    assert not allowed.permits("Within 3 days", final=False)  # "3" finished: not "30"
    assert allowed.permits("14.95 dollars")  # a bare number may copy a price
    assert not allowed.permits("It costs $2")  # "2" is there, but not as a price


def test_the_end_of_a_reply_needs_every_fact_whole():
    allowed = FactConstraint([PASSAGE])
    assert allowed.permits("Returns are free within 3")
    assert not allowed.permits("Returns are free within 3", final=True)
    assert allowed.permits("Returns are free within 30", final=True)


def test_urls_emails_and_order_numbers_are_copied_character_for_character():
    allowed = FactConstraint([PASSAGE])
    assert allowed.permits("See https://brightbay.example/ret")
    assert allowed.permits("See https://brightbay.example/returns.")
    assert not allowed.permits("See https://brightbay.example/refunds")
    assert allowed.permits("Write to help@brightbay.example")
    assert not allowed.permits("Write to sales@brightbay.example")
    assert allowed.permits("Order BB-10003")
    assert not allowed.permits("Order BB-100032 is")
    assert allowed.permits("A UK-based team")  # a capitalised word and a hyphen, not a code


def test_a_product_the_sources_do_not_name_may_not_be_written():
    names = ["Trail Kettle", "Trail Kettle Pro", "Summit Tent"]
    allowed = FactConstraint(["The Trail Kettle Pro has a 2 year warranty."], names)
    assert allowed.permits("The Trail Kettle Pro is covered")
    assert not allowed.permits("The Summit Tent is covered")
    assert not allowed.permits("The Trail Kettle is covered")  # the shorter name, not named
    assert allowed.invented("The Summit Tent costs $99.") == ["$99", "summit tent"]


class Words:
    """A tokenizer whose tokens are the words of a list."""

    def __init__(self, words: list[str]) -> None:
        self.words = words

    def decode(self, ids, skip_special_tokens=True) -> str:
        return "".join(self.words[i] for i in ids if self.words[i] != "<eos>")


class Scripted:
    """A decoder that prefers, at each step, the tokens of a script, best first."""

    name = "scripted"

    def __init__(self, vocabulary: int, script: list[list[int]]) -> None:
        self.vocabulary, self.script = vocabulary, script

    def open(self, ids, max_new_tokens):
        decoder = self

        class Step:
            position = 0

            @property
            def logits(self):
                scores = np.zeros(decoder.vocabulary, dtype=np.float32)
                wanted = decoder.script[min(self.position, len(decoder.script) - 1)]
                for rank, token in enumerate(wanted):
                    scores[token] = 10.0 - rank
                return scores

            def advance(self, token):
                self.position += 1

        return Step()


def test_greedy_decoding_writes_the_passage_number_where_the_model_would_invent_one():
    words = ["<eos>", "Returns", " within", " 3", "0", "1", " days", "."]
    # the model's first choice after " 3" is "1" (31 days): not in the passage
    script = [[1], [2], [3], [5, 4], [6], [7], [0]]
    model = Scripted(len(words), script)
    free = greedy(model, [1], Words(words), 10, {0})
    assert Words(words).decode(free.tokens) == "Returns within 31 days."
    allowed = FactConstraint(["Returns are accepted within 30 days."])
    held = greedy(model, [1], Words(words), 10, {0}, constraint=allowed)
    assert Words(words).decode(held.tokens) == "Returns within 30 days."
    assert held.refused == 1 and not held.stopped_by_constraint
    assert allowed.invented(Words(words).decode(free.tokens)) == ["31"]


def test_greedy_decoding_stops_when_no_candidate_keeps_the_facts_and_streams_the_text():
    words = ["<eos>", "Pay", " $1", "9", "8"]
    model = Scripted(len(words), [[1], [2], [3, 4, 0]])
    seen: list[str] = []
    allowed = FactConstraint(["Express delivery costs $14.95."])
    out = greedy(model, [1], Words(words), 10, {0}, constraint=allowed, on_text=seen.append)
    # "$19", "$18", "$1$1" and ending on "$1" all break the price: the reply stops, and the
    # half-copied price is taken back
    assert Words(words).decode(out.tokens) == "Pay" and out.stopped_by_constraint
    assert seen == ["Pay", " $1"]
    streamed: list[str] = []
    free = greedy(model, [1], Words(words), 4, {0}, on_text=streamed.append)
    assert "".join(streamed) == "Pay $199" == Words(words).decode(free.tokens)


def test_the_repetition_penalty_lowers_tokens_already_written_as_transformers_does():
    words = ["<eos>", "a", "b"]

    class Fixed(Scripted):
        def open(self, ids, max_new_tokens):
            class Step:
                logits = np.array([-5.0, 2.0, 1.5], dtype=np.float32)

                def advance(self, token):
                    pass

            return Step()

    model = Fixed(3, [])
    assert greedy(model, [0], Words(words), 3, {0}).tokens == [1, 1, 1]
    # 2.0 / 1.5 < 1.5: once "a" is written, "b" wins; then "b" is penalised too (1.0 < 1.33)
    assert greedy(model, [0], Words(words), 3, {0}, repetition_penalty=1.5).tokens == [1, 2, 1]
