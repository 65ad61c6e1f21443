"""The rephrasing examples (bot/seed/rephrase.py) teach the job as the product checks it, and
the responses marked for rephrasing are written before a customer waits for them."""

from __future__ import annotations

import json
import random

import pytest

from adapters.guards import AFFIRMATIVE_OPENER, CHEERFUL_CLOSER
from adapters.serve import check_rephrasing
from adapters.voice_data import rephrase_heldout
from bot.bench.adapter import SAMPLE_SLOTS, templates
from bot.core.settings import current_brand
from bot.seed import rephrase
from knowledge.verify import NEGATION, SENTENCE


@pytest.fixture(scope="module")
def examples():
    return rephrase.examples(random.Random(3))


def test_every_reply_keeps_its_response_whole_and_passes_the_products_checks(examples):
    assert len({e["intent"] for e in examples}) == len({name for name, _ in rephrase.responses()})
    for example in examples:
        assert example["customer"] in example["reply"]
        assert check_rephrasing(example["customer"], example["reply"], [], {}) == []


def test_no_cheer_where_it_does_not_fit(examples):
    for example in examples:
        text, reply = example["customer"], example["reply"]
        if NEGATION.search(text):
            assert not CHEERFUL_CLOSER.search(reply), reply
        if NEGATION.search(SENTENCE.split(text)[0]):  # as the action server reads it (fitting_courtesy)
            assert reply.startswith(text) or not AFFIRMATIVE_OPENER.match(reply), reply  # none added
        if text.endswith("?"):
            assert reply.endswith(text), reply  # the customer is asked last
        if rephrase.OWN_OPENING.match(text):
            assert reply.startswith(text), reply


def test_held_out_responses_are_never_trained_on_and_the_benchmark_values_are_not_used(examples):
    held = {e["intent"] for e in examples if e["heldout"]}
    trained = {e["intent"] for e in examples if not e["heldout"]}
    assert held and trained and not held & trained
    seen = " ".join(e["customer"] for e in examples)
    for name in ("order_number", "tracking_number", "email", "address"):
        assert SAMPLE_SLOTS[name] not in seen  # the benchmark's filled responses are new to the model


def test_the_committed_files_are_what_the_seed_writes():
    folder = current_brand().voice_dir
    rows = rephrase.examples(random.Random(7))  # as main() draws them, before it shuffles
    committed = [
        json.loads(line)
        for name in ("rephrase.jsonl", "rephrase_heldout.jsonl")
        for line in (folder / name).read_text().splitlines()
    ]
    assert {(r["customer"], r["intent"]) for r in committed} == {(r["customer"], r["intent"]) for r in rows}


def test_the_benchmark_names_each_response_so_held_out_ones_are_reported_apart():
    names = {name for name, _, _ in templates()}
    assert any(rephrase_heldout(n) for n in names)
    assert not all(rephrase_heldout(n) for n in names)
    assert all("$$" not in text for _, text, _ in templates())  # "${total}" takes a bare amount


def test_responses_marked_for_rephrasing_are_written_at_start(monkeypatch):
    from actions import nlg, server

    written = []
    monkeypatch.setattr(server, "_rephrase", lambda text: written.append(text) or f"Certainly! {text}")
    published = {}
    monkeypatch.setattr(server, "publish_rephrasings", published.update)
    count = server.warm_rephrasings()
    marked = [
        v["text"]
        for vs in nlg.responses().values()
        for v in vs
        if v.get("text") and (v.get("metadata") or {}).get("rephrase")
    ]
    assert count == len(written) > 0
    assert set(written) == set(marked) and any(nlg.SLOT.search(t) for t in written)  # slots too
    # published for the Rasa process, which then fills them without calling the action server
    assert published == {t: f"Certainly! {t}" for t in written} == server.REWORDED
    monkeypatch.setattr(server, "REWORDED", {})
