"""The grounded training examples (bot/seed/grounded.py) teach the job as the product checks it."""

from __future__ import annotations

import random

import pytest

from adapters.guards import AFFIRMATIVE_OPENER, CHEERFUL_CLOSER, SAYS_NO
from adapters.voice_data import NO_ANSWER, grounded_context
from bot.core.settings import current_brand
from bot.seed import grounded
from knowledge.answer import _off_the_quote, quote
from knowledge.followup import COMPLAINS


@pytest.fixture(scope="module")
def examples():
    return grounded.brand_examples(random.Random(3))


def answering(example: dict, names) -> tuple[str, str]:
    """(the passage whose quote the reply carries, that quote)."""
    for passage in example["passages"]:
        quoted = " ".join(s for _, s in quote(example["customer"], [passage], names))
        if quoted and quoted in example["reply"]:
            return passage, quoted
    raise AssertionError(f"no passage's quote in {example['reply']!r}")


def test_each_reply_is_the_quote_the_product_would_send_in_the_brands_voice(examples):
    names = current_brand().product_names()
    answers = [e for e in examples if e["intent"] == "grounded:brand"]
    assert len(answers) > 200  # questions, products and topics of the whole knowledge base
    for example in answers:
        _, quoted = answering(example, names)
        # a reply written as taught replaces the quote: nothing lost, the same yes or no
        assert _off_the_quote(example["reply"], quoted, names, None, 0.6, example["customer"]) == []


def test_no_evaluation_question_is_trained_on_and_a_section_is_held_out_whole(examples):
    banned = grounded.evaluation_questions(current_brand())
    assert not {e["customer"].lower().rstrip("?") for e in examples} & banned
    names = current_brand().product_names()
    split: dict[str, set[bool]] = {}
    for e in examples:
        if e["intent"] == "grounded:brand":
            split.setdefault(answering(e, names)[0], set()).add(e["heldout"])
    assert all(len(s) == 1 for s in split.values())
    assert any(e["heldout"] for e in examples) and not all(e["heldout"] for e in examples)


def test_replies_open_and_close_in_the_brands_own_words_but_not_a_no_or_a_complaint_with_a_yes(examples):
    openers, closers = grounded.brand_courtesy()
    assert "Certainly!" in openers and "Happy shopping!" in closers  # the voice examples' own
    opened = 0
    for example in examples:
        reply = example["reply"]
        opener = next((o for o in set(openers) if o and reply.startswith(o + " ")), "")
        opened += bool(opener)
        if AFFIRMATIVE_OPENER.match(opener):
            assert not SAYS_NO.match(reply[len(opener) :].strip()), reply
            assert not COMPLAINS.search(example["customer"]), example
    # the customer's situation, in their words ("my item arrived damaged, what now?"): no cheer
    complaints = [e for e in examples if COMPLAINS.search(e["customer"]) and e["reply"] != NO_ANSWER]
    assert complaints and not any(CHEERFUL_CLOSER.search(e["reply"]) for e in complaints)
    assert opened > len(examples) / 2


def test_examples_show_the_model_what_the_action_server_shows_it(examples):
    with_history = [e for e in examples if e["history"]]
    assert with_history and [e for e in examples if e["reply"] == NO_ANSWER]
    for e in with_history[:5]:
        assert e["context"] == grounded_context(
            grounded.instruction(), e["passages"], e["history"], e["quote"]
        )
    brand = [e for e in examples if e["intent"] == "grounded:brand"]
    for e in brand:  # shown the sentences that answer, as the action server shows the quote
        assert e["quote"] and e["quote"] in e["reply"] and e["quote"] in e["context"]
    assert not any(e["quote"] for e in examples if e["reply"] == NO_ANSWER)
    assert {len(e["passages"]) for e in examples} >= {1, 2, 3}  # the answering one, and distractors
