"""Grounded answers and the gate on the real stack: real Rasa, action server, Redis, Qdrant
store and embedding model."""

from __future__ import annotations

import uuid

from tests.integration.conversation import rest, texts


def custom(messages: list[dict]) -> dict:
    found = [m["custom"] for m in messages if isinstance(m.get("custom"), dict) and "route" in m["custom"]]
    assert found, messages
    return found[-1]


def test_a_policy_question_gets_a_cited_answer_with_the_fact(kb_stack):
    reply = rest(kb_stack, f"kb-{uuid.uuid4().hex[:8]}", "how many days do I have to send an item back?")
    meta = custom(reply)
    assert meta["route"] == "knowledge", meta
    assert "30" in texts(reply)
    assert any(c["source"] == "policies/returns-and-refunds.md" for c in meta["citations"]), meta
    assert all(c["url"].startswith("https://") for c in meta["citations"])
    assert meta["scores"]["dense_top"] > 0


def test_a_question_nlu_calls_out_of_scope_is_still_answered_from_the_documents(kb_stack):
    meta = custom(rest(kb_stack, f"kb-{uuid.uuid4().hex[:8]}", "how do I set up the ridge tent?"))
    assert meta["route"] == "knowledge", meta
    assert any("tent" in c["source"] for c in meta["citations"]), meta


def test_out_of_scope_is_said_politely_with_the_route(kb_stack):
    reply = rest(kb_stack, f"kb-{uuid.uuid4().hex[:8]}", "what's the capital of peru")
    assert custom(reply)["route"] == "out_of_scope"
    assert "not something I can help with" in texts(reply)


def test_a_knowledge_question_mid_form_is_answered_and_the_form_resumes(kb_stack):
    sender = f"kb-{uuid.uuid4().hex[:8]}"
    assert "order number" in texts(rest(kb_stack, sender, "I want to cancel my order"))
    reply = rest(kb_stack, sender, "how long do refunds take?")
    assert custom(reply)["route"] in ("knowledge", "flow")
    assert "business days" in texts(reply)
    assert "order number" in texts(reply)  # the form asks again
