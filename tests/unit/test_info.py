"""Scripted policy answers: every question intent has one, and policy edits show at once."""

from __future__ import annotations

import copy

import pytest

from actions.info import ActionAnswerInfo, render_answer
from bot.core import policy
from bot.core.settings import current_brand
from bot.seed.rules import info_intents
from tests.unit.conftest import replay


@pytest.mark.parametrize("intent", info_intents(current_brand()))
def test_every_question_intent_has_a_complete_answer(intent):
    answer = render_answer(intent)
    assert answer is not None, f"answers.yml has no answer for {intent}"
    assert "{" not in answer["text"] and "}" not in answer["text"]


def test_one_policy_edit_changes_the_answer_and_the_flow(monkeypatch, orders):
    edited = copy.deepcopy(policy.load_policy())
    edited["returns"]["window_days"] = 90
    monkeypatch.setattr(policy, "load_policy", lambda: edited)
    assert "within 90 days of delivery" in render_answer("check_refund_policy")["text"]
    # BB-100043 was delivered 59 days ago: closed under 30 days, open under 90
    assert policy.can_return(orders.find("BB-100043"))


async def test_question_mid_form_is_answered(dispatcher, domain):
    tracker = replay("question_mid_form", "action_answer_info")
    await ActionAnswerInfo().run(dispatcher, tracker, domain)
    assert "Standard delivery takes 3 to 5 business days" in dispatcher.messages[0]["text"]


def test_answers_file_only_names_known_intents():
    assert set(current_brand().answers()) == set(info_intents(current_brand()))
