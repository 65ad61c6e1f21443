"""The help desk's own flow: lost, stolen or destroyed plates (flows.yml `report_lost_plates`).

`lost_plates_form` asks the plate's number and whether the plates were stolen;
`action_report_lost_plates` then says what to do, with the facts of
sources/lost-stolen-or-destroyed-plates.md: the police report (or MV-78B), what to bring
to a DMV office, and the fees, which come from policy.yml (the document quotes the same
values), so the flow and the knowledge base never disagree.

The reply carries a help desk reference, LP-nnnnnn, computed from the plate number and
whether the plates were stolen (the same report always gets the same reference, so a
conversation test can expect it); it is logged, so that the team can find the report.
"""

from __future__ import annotations

import logging
import re
import zlib
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.core import policy
from bot.core.settings import current_brand

logger = logging.getLogger(__name__)

FORM = "lost_plates_form"
# intents that interrupt the form (rules answer them): never read as an answer
NOT_AN_ANSWER = {
    "track_order",
    "cancel_order",
    "contact_human_agent",
    "greet",
    "goodbye",
    "thank",
    "stop",
    "bot_challenge",
    "out_of_scope",
}
# words that are not a plate however they are typed
NOT_A_PLATE = {
    "idk",
    "dunno",
    "none",
    "unknown",
    "no",
    "yes",
    "ok",
    "okay",
    "help",
    "why",
    "what",
    "ny",
    "nys",
    "dmv",
    "id",
    "usa",
    "i",
    "a",
    "the",
    "it",
    "its",
    "is",
    "my",
    "plate",
    "plates",
    "number",
}
TOKEN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
STOLEN = re.compile(r"\b(stole|stolen|steal|stealing|theft|thief|thieves|robbed|taken)\b", re.IGNORECASE)
NOT_STOLEN = re.compile(
    r"\b(not|wasn'?t|weren'?t|never|no)\s+(been\s+)?(stolen|stole|taken)\b"
    r"|\b(lost|lose|misplaced|destroyed|damaged|broken|broke|cracked|fell off|fallen off|missing|crash|accident)\b",
    re.IGNORECASE,
)


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def plate_in(text: str) -> str | None:
    """The plate number a reply gives ("it's HXP 4821" -> HXP4821), or None.

    A reply that is one word is taken as the plate; otherwise the first run of words that
    look like a plate's (with a digit, or typed in capitals) is, joined. A plate has 2 to 8
    letters and digits."""
    tokens = TOKEN.findall(text or "")
    if len(tokens) == 1 and tokens[0].lower() not in NOT_A_PLATE:
        candidate = tokens[0]
    else:
        run: list[str] = []
        for token in tokens:
            plate_like = token.lower() not in NOT_A_PLATE and (
                any(c.isdigit() for c in token) or token.isupper()
            )
            if plate_like:
                run.append(token)
            elif run:
                break
        candidate = "".join(run)
    plate = re.sub(r"[^A-Za-z0-9]", "", candidate).upper()
    return plate if 2 <= len(plate) <= 8 else None


def stolen_in(text: str) -> bool | None:
    """Whether the words say the plates were stolen (True), lost or destroyed (False), or
    neither (None)."""
    if NOT_STOLEN.search(text or ""):
        return False
    if STOLEN.search(text or ""):
        return True
    return None


def reference(plate: str, stolen: bool) -> str:
    """The help desk's reference of a report: the same plate and answer, the same reference."""
    prefix = (policy.load_policy().get("lost_plates") or {}).get("reference_prefix", "LP")
    number = zlib.crc32(f"{plate}|{'stolen' if stolen else 'lost'}".encode()) % 1_000_000
    return f"{prefix}-{number:06d}"


class ValidateLostPlatesForm(FormValidationAction):
    def name(self) -> str:
        return "validate_lost_plates_form"

    async def extract_plate_number(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        """A plate in the reply to the question, whatever the NLU made of the message
        ("my plate ABC1234 was stolen" may read as report_lost_plates)."""
        if tracker.get_slot("requested_slot") != "plate_number" or _intent(tracker) in NOT_AN_ANSWER:
            return {}
        text = tracker.latest_message.get("text") or ""
        if text.startswith("/") or current_brand().order_numbers().find(text):
            return {}  # a button, or a plate order number (validate_plate_number says so)
        plate = plate_in(text)
        return {"plate_number": plate} if plate else {}

    async def extract_plates_stolen(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        """'Someone stole my plates' answers the question before it is asked (the first
        message) or in words instead of yes or no."""
        requested = tracker.get_slot("requested_slot")
        intent = _intent(tracker)
        if tracker.get_slot("plates_stolen") is not None or intent in NOT_AN_ANSWER | {"affirm", "deny"}:
            return {}
        text = tracker.latest_message.get("text") or ""
        if requested is None and tracker.active_loop_name != FORM:
            # the message that starts the form: only a plain "stolen" is taken from it
            return {"plates_stolen": True} if stolen_in(text) is True else {}
        if requested != "plates_stolen":
            return {}
        stolen = stolen_in(text)
        return {} if stolen is None else {"plates_stolen": stolen}

    def validate_plate_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> dict[str, Any]:
        text = str(value or "")
        order_number = current_brand().order_numbers().find(text)
        if order_number and re.search(r"[A-Za-z]", text):
            dispatcher.utter_message(response="utter_plate_number_is_order", order_number=order_number)
            return {"plate_number": None}
        plate = plate_in(text)
        if plate is None:
            dispatcher.utter_message(response="utter_plate_number_invalid")
        return {"plate_number": plate}

    def validate_plates_stolen(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> dict[str, Any]:
        return {"plates_stolen": value if isinstance(value, bool) else None}


class ActionReportLostPlates(Action):
    def name(self) -> str:
        return "action_report_lost_plates"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        plate = tracker.get_slot("plate_number") or ""
        stolen = bool(tracker.get_slot("plates_stolen"))
        facts = policy.load_policy()["lost_plates"]
        ref = reference(plate, stolen)
        values = {
            "plate_number": plate,
            "reference": ref,
            "police_form": facts["police_form"],
            "application_form": facts["application_form"],
            "registration_fee": facts["registration_fee"],
            "plate_fee_set": facts["plate_fee_set"],
            "plate_fee_single": facts["plate_fee_single"],
        }
        kind = "stolen" if stolen else "lost"
        dispatcher.utter_message(response=f"utter_lost_plates_{kind}", **values)
        dispatcher.utter_message(response=f"utter_lost_plates_{kind}_bring", **values)
        logger.info(
            "lost plates report %s: plate %s, %s, conversation %s", ref, plate, kind, tracker.sender_id
        )
        # the next report asks again
        return [SlotSet("plate_number", None), SlotSet("plates_stolen", None)]
