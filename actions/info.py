"""Scripted answers to account, payment and policy questions (the brand's answers.yml).

Answers are templates over the brand's brand.yml and policy.yml: a policy edit
shows in the next answer, with nothing retrained.
"""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.core import policy
from bot.core.settings import current_brand

logger = logging.getLogger(__name__)


def render_answer(intent: str) -> dict | None:
    """The answer (text and buttons) for an intent, or None when there is none."""
    answers = current_brand().answers()
    answer = answers.get(intent)
    if answer is None:
        return None
    text = answer["text"].format(brand=current_brand().facts(), policy=policy.load_policy())
    return {"text": text, "buttons": answer.get("buttons", [])}


class ActionAnswerInfo(Action):
    def name(self) -> str:
        return "action_answer_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        answer = render_answer(intent)
        if answer is None:
            logger.warning("no scripted answer for intent %r", intent)
            dispatcher.utter_message(response="utter_rephrase")
        else:
            dispatcher.utter_message(text=answer["text"], buttons=answer["buttons"])
        return []
