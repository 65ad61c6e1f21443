"""The sample brand's end-to-end conversations (its tests/conversations/) on the real stack,
one test each: the same runner as `tandem test`."""

from __future__ import annotations

import pytest

from bot.core.settings import Settings
from bot.stack import conversation_tests as ct

CONVERSATIONS = ct.load([Settings().brand.conversations_dir])

pytestmark = pytest.mark.stack


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[c.name for c in CONVERSATIONS])
def test_conversation(kb_stack, conversation):
    result = ct.Runner(kb_stack).run(conversation)
    assert result.passed, "\n" + ct.summary([result])


def test_the_sample_brand_covers_what_the_issue_lists():
    steps = [step for c in CONVERSATIONS for step in c.steps]
    expected_routes = {s.expect.get("route") for s in steps}
    assert {"flow", "knowledge", "out_of_scope", "handoff"} <= expected_routes
    assert any(s.kind == "edit" for s in steps), "a knowledge refresh conversation"
    assert any(s.kind == "click" for s in steps), "a conversation that presses buttons"
    forms = {s.expect.get("active_form") for s in steps}
    domain_forms = {
        "track_order_form",
        "cancel_order_form",
        "change_address_form",
        "return_form",
        "password_form",
    }
    assert domain_forms <= forms, domain_forms - forms
