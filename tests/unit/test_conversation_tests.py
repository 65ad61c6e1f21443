"""The conversation test format and its checks, on made-up turns (no stack)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot.stack import conversation_tests as ct


def turn(**kwargs) -> ct.Turn:
    base = dict(
        said="hi",
        messages=[{"text": "Hello there"}],
        route="flow",
        intent="greet",
        slots={},
        active_form=None,
        paused=False,
    )
    return ct.Turn(**{**base, **kwargs})


KNOWLEDGE = turn(
    said="how long is a gift card valid?",
    messages=[
        {"text": "Five years from purchase."},
        {
            "custom": {
                "route": "knowledge",
                "citations": [{"source": "policies/gift-cards.md", "url": "https://x"}],
            }
        },
    ],
    route="knowledge",
    intent="nlu_fallback",
)


def test_a_turn_that_meets_every_expectation_has_no_problem():
    expect = {"route": "knowledge", "cites": "policies/gift-cards.md", "text_contains": ["FIVE years"]}
    assert ct.check(KNOWLEDGE, expect) == []


def test_each_kind_of_difference_is_reported():
    expect = {
        "route": "flow",
        "intent": "greet",
        "slots": {"order_number": "BB-1"},
        "active_form": "track_order_form",
        "text_contains": "seven years",
        "text_not_contains": "purchase",
        "cites": "policies/returns-and-refunds.md",
        "buttons": ["Yes"],
        "handoff": True,
    }
    problems = ct.check(KNOWLEDGE, expect)
    assert len(problems) == len(expect), problems
    assert "route: expected flow, got knowledge" in problems
    assert any("policies/gift-cards.md" in p for p in problems)  # what was cited instead


def test_the_route_comes_from_the_custom_payload_and_a_handoff_wins():
    assert ct.route_of([{"text": "scripted"}]) == "flow"
    assert ct.route_of(KNOWLEDGE.messages) == "knowledge"
    handoff = [{"custom": {"route": "clarify"}}, {"text": "passing you on", "custom": {"handoff": True}}]
    assert ct.route_of(handoff) == "handoff"


def test_parse_reads_steps_and_rejects_mistakes_with_the_place():
    good = """
conversations:
  - name: one
    steps:
      - user: hi
        expect: {intent: greet}
      - click: Track an order
      - edit: {document: a.md, replace: x, with: y}
"""
    [conversation] = ct.parse(good, "good.yml")
    assert [s.kind for s in conversation.steps] == ["user", "click", "edit"]
    bad = {
        "conversations: 3": "top-level `conversations:` list",
        "conversations:\n  - name: x\n    steps:\n      - user: a\n        expect: {colour: red}": "colour",
        "conversations:\n  - name: x\n    steps:\n      - user: a\n        click: b": "exactly one",
        "conversations:\n  - name: x\n    steps:\n      - edit: {document: a.md}": "replace and with",
        "conversations:\n  - steps: []": "needs a `name`",
        "conversations: [": "not valid YAML",
    }
    for text, message in bad.items():
        with pytest.raises(ct.ConversationFileError, match="bad.yml") as error:
            ct.parse(text, "bad.yml")
        assert message in str(error.value)


def test_the_summary_of_a_failure_shows_the_whole_conversation_and_junit_has_it():
    conversation = ct.Conversation("gift cards", "knowledge.yml", [])
    failed = ct.Result(conversation, failures=["step 1: route: expected flow, got knowledge"])
    failed.transcript = KNOWLEDGE.lines()
    passed = ct.Result(ct.Conversation("hello", "flows.yml", []))
    text = ct.summary([failed, passed])
    assert "FAIL gift cards" in text and "PASS hello" in text
    assert "you: how long is a gift card valid?" in text
    assert "cites=policies/gift-cards.md" in text
    assert text.endswith("conversations: 1 passed, 1 failed")
    root = ET.fromstring(ct.junit([ct.junit_suite([failed, passed])]))
    suite = root.find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    assert "Five years" in suite.find("testcase/failure").text


def test_an_edit_outside_the_sources_or_of_missing_text_fails_the_conversation(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\nFive years.\n")
    runner = ct.Runner.__new__(ct.Runner)
    runner.sources = tmp_path
    runner.refresh = lambda: {"updated": ["a.md"]}
    edited: dict = {}
    with pytest.raises(ct.ConversationFileError, match="not a document"):
        runner._edit({"document": "../etc/passwd", "replace": "x", "with": "y"}, edited)
    with pytest.raises(ct.ConversationFileError, match="does not occur"):
        runner._edit({"document": "a.md", "replace": "Ten years", "with": "y"}, edited)
    assert "refresh updated a.md" in runner._edit(
        {"document": "a.md", "replace": "Five", "with": "Six"}, edited
    )
    assert (tmp_path / "a.md").read_text() == "# A\n\nSix years.\n"
    assert list(edited.values()) == ["# A\n\nFive years.\n"]  # what run() puts back
