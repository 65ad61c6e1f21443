"""Validation of the order forms: the order must exist, the email must match it, and the
store's policy (the brand's policy.yml) must allow what the customer asks for.

The order back end (bot/core/orders/) may be a team's own API: when it does not answer,
the customer is told so and the flow ends cleanly (nothing half done, nothing to retype
into a broken form); they can ask again, or for a person.
"""

from __future__ import annotations

import logging
import re
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import identity
from actions.services import order_backend
from bot.core import policy
from bot.core.brand import singular
from bot.core.orders import Order, OrderBackendError, OrderRefused, find_email
from bot.core.settings import current_brand
from bot.gate.evidence import QUESTION

logger = logging.getLogger(__name__)

T = TypeVar("T")
STOP_INTENT = "stop"  # "never mind": ends a form (flows.yml's chit-chat answers it)


class BackendFailed(Exception):
    """The order back end failed; the customer has been told (utter_orders_unavailable)."""


def ask_backend(dispatcher: CollectingDispatcher, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` on the order back end (a change's first argument is the order number);
    on failure, tell the customer which (refused, or not answering) and raise BackendFailed:
    the caller ends the flow."""
    try:
        return call(*args)
    except OrderRefused as error:
        logger.warning("order back end refused: %s", error)
        dispatcher.utter_message(response="utter_order_change_refused", order_number=args[0])
        raise BackendFailed from error
    except OrderBackendError as error:
        logger.warning("order back end failed: %s", error)
        dispatcher.utter_message(response="utter_orders_unavailable")
        raise BackendFailed from error


def interrupting_intents(form: str) -> frozenset[str]:
    """Intents that start something other than `form` (another flow, or stopping): a message
    with one is never read as one of the form's slot values. One read of flows.yml."""
    flows = current_brand().flows()
    return (flows.intents | {STOP_INTENT}) - {flows.intent_of_form(form)}


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


# never a free-text answer (a new address, the item to return): they stop the form, hand over,
# or are answered by the gate (the domain's not_intent for these slots before this check)
NOT_AN_ANSWER = frozenset({STOP_INTENT, "deny", "contact_human_agent", "out_of_scope"})
# intents whose messages no mid-form rule answers (bot/seed/rules.py): a question read as one
# of these is still taken as the answer, or the form would wait without a reply
NO_RULE = frozenset({"inform", "affirm", "greet", "thank"})


def free_text_answer(tracker: Tracker, slot: str) -> dict[str, Any]:
    """The message as the value of a free-text `slot` while the form asks for it, unless it
    is a question: "wait, can i still change it after it ships?" asked for the new address
    is not an address. Left unfilled, the form declines the turn and its mid-form rules
    answer the question through the gate, then ask again (a value has a number in it, an
    address or not, and is taken as it is)."""
    if tracker.get_slot("requested_slot") != slot or _intent(tracker) in NOT_AN_ANSWER:
        return {}
    text = " ".join((tracker.latest_message.get("text") or "").split())
    if not text or text.startswith("/"):
        return {}
    asked = QUESTION.search(text) is not None and not re.search(r"\d", text)
    return {} if asked and _intent(tracker) not in NO_RULE else {slot: text}


def item_list(order: Order) -> str:
    return ", ".join(item.name for item in order.items)


class EmailExtraction(FormValidationAction):
    """Reads an email address out of any reply to the email question, and forgets a
    verified order that has waited too long (actions/identity.py)."""

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    async def run(self, dispatcher, tracker: Tracker, domain) -> list[dict[str, Any]]:
        forgotten: list[dict[str, Any]] = []
        if identity.expired(tracker):
            # what this very message gives is checked as usual; what came before is not trusted
            forgotten = identity.forget(domain, set(tracker.slots_to_validate()), tracker)
            tracker.add_slots(forgotten)
            if forgotten:
                logger.info(
                    "identity of %s expired after %.0f s idle",
                    tracker.sender_id,
                    identity.idle_seconds(tracker),
                )
        return [*forgotten, *await super().run(dispatcher, tracker, domain)]

    async def extract_email(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "email":
            return {}
        email = find_email(tracker.latest_message.get("text") or "")
        return {"email": email} if email else {}


class OrderFormValidation(EmailExtraction):
    """Shared steps of every order form: find the order, verify the email, check policy."""

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        # policy said no: end the form now (the validator has told the customer why)
        return [] if tracker.get_slot("flow_blocked") else domain_slots

    def allowed(self, order: Order, dispatcher: CollectingDispatcher) -> bool:
        """Whether policy allows this flow for the order; when not, say why. Default: yes."""
        return True

    def on_verified(self, order: Order, tracker: Tracker) -> dict[str, Any]:
        """Slots a form may fill as soon as the order is verified (from the order, or from what
        the customer said earlier in the conversation)."""
        return {}

    def _verified(self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        if not self.allowed(order, dispatcher):
            return {"flow_blocked": True}
        return self.on_verified(order, tracker)

    async def extract_order_number(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        """Pick an order number out of any reply to the question, whatever its intent."""
        if tracker.get_slot("requested_slot") != "order_number":
            return {}
        if _intent(tracker) in interrupting_intents(self.form_name()):
            return {}
        number = current_brand().order_numbers().find(tracker.latest_message.get("text") or "")
        return {"order_number": number} if number else {}

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:  # cleared (actions/identity.py), not answered: the form asks for it
            return {"order_number": None}
        number = current_brand().order_numbers().find(str(value or ""))
        if number is None:
            # an email given first is kept (its own slot) and a reply with no number at all ("I
            # don't know it") is not told off: the question, asked again, says where to find it
            said = tracker.latest_message.get("text") or str(value or "")
            if not find_email(said) and re.search(r"\d", str(value or "")):
                dispatcher.utter_message(response="utter_order_number_malformed")
            return {"order_number": None}
        try:
            order = ask_backend(dispatcher, order_backend().find, number)
            if order is None:
                dispatcher.utter_message(response="utter_order_not_found", order_number=number)
                return {"order_number": None}
            email = find_email(str(tracker.get_slot("email") or ""))
            if email is None:
                return {"order_number": number}
            if not ask_backend(dispatcher, order_backend().email_matches, number, email):
                # an email from earlier in the conversation, for another order: ask again
                return {"order_number": number, "email": None}
        except BackendFailed:
            return {"order_number": None, "flow_blocked": True}
        return {"order_number": number, "email": email, **self._verified(order, dispatcher, tracker)}

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = find_email(str(value or ""))
        if email is None:
            said = tracker.latest_message.get("text") or ""
            # None: cleared (actions/identity.py), not answered; an order number instead ("sorry,
            # wrong one: it's BB-100001") is a correction its own slot takes
            if value is not None and not current_brand().order_numbers().mentioned(said):
                dispatcher.utter_message(response="utter_email_malformed")
            return {"email": None}
        number = tracker.get_slot("order_number")
        try:
            order = ask_backend(dispatcher, order_backend().find, number) if number else None
            if order is None:
                return {"email": email}
            if not ask_backend(dispatcher, order_backend().email_matches, number, email):
                dispatcher.utter_message(response="utter_email_mismatch", order_number=order.number)
                return {"email": None}
        except BackendFailed:
            return {"email": None, "flow_blocked": True}
        return {"email": email, **self._verified(order, dispatcher, tracker)}


class ValidateTrackOrderForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_track_order_form"


class ValidateCancelOrderForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_cancel_order_form"

    def allowed(self, order: Order, dispatcher: CollectingDispatcher) -> bool:
        if policy.can_cancel(order):
            return True
        rules = policy.load_policy()
        dispatcher.utter_message(
            response="utter_cannot_cancel",
            order_number=order.number,
            status=order.status_text,
            cancellable=" or ".join(
                s.replace("_", " ") for s in rules["cancellation"]["cancellable_statuses"]
            ),
            window_days=(rules.get("returns") or {}).get("window_days", ""),  # a store without returns
        )
        return False


class ValidateChangeAddressForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_change_address_form"

    def allowed(self, order: Order, dispatcher: CollectingDispatcher) -> bool:
        if policy.can_change_address(order):
            return True
        dispatcher.utter_message(
            response="utter_cannot_change_address", order_number=order.number, status=order.status_text
        )
        return False

    async def extract_new_address(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        return free_text_answer(tracker, "new_address")

    def validate_new_address(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        address = " ".join(str(value or "").split())
        # a street number, a street and a town at least: "12 Oak Street, Portland ME 04101"
        if len(address) < 10 or len(address) > 200 or not any(c.isdigit() for c in address):
            dispatcher.utter_message(response="utter_address_incomplete")
            return {"new_address": None}
        return {"new_address": address}


class ValidateReturnForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_return_form"

    def allowed(self, order: Order, dispatcher: CollectingDispatcher) -> bool:
        rules = policy.load_policy()
        if order.status not in rules["returns"]["returnable_statuses"]:
            dispatcher.utter_message(
                response="utter_return_not_delivered", order_number=order.number, status=order.status_text
            )
            return False
        if not policy.can_return(order, policy=rules):
            dispatcher.utter_message(
                response="utter_return_window_closed",
                order_number=order.number,
                delivered_on=order.delivered_on.isoformat(),
                window_days=rules["returns"]["window_days"],
                deadline=policy.return_deadline(order, rules).isoformat(),
            )
            return False
        return True

    def on_verified(self, order: Order, tracker: Tracker) -> dict[str, Any]:
        """The item: the only one, or the one the customer named before ("my lamp arrived
        broken" then the order number); the reason, when they said it ("broken": damaged)."""
        said = customer_said(tracker)
        item = order.items[0].name if len(order.items) == 1 else mentioned_item(order, said)
        slots: dict[str, Any] = {"return_item": item} if item else {}
        reason = mentioned_reason(said)
        if item and reason and not tracker.get_slot("return_reason"):
            slots["return_reason"] = reason
        return slots

    async def extract_return_item(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        return free_text_answer(tracker, "return_item")

    def validate_return_item(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        try:
            order = ask_backend(dispatcher, order_backend().find, tracker.get_slot("order_number") or "")
        except BackendFailed:
            return {"return_item": None, "flow_blocked": True}
        if order is None:
            return {"return_item": None}
        item = match_item(order, str(value or ""))
        if item is None:
            dispatcher.utter_message(
                response="utter_return_item_unknown", order_number=order.number, items=item_list(order)
            )
            return {"return_item": None}
        return {"return_item": item}

    def validate_return_reason(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        reason = " ".join(str(value or "").split())[:200]
        return {"return_reason": reason or None}


# what the customer said is wrong with an item, as the return reason's buttons say it
REASONS = (
    ("damaged", re.compile(r"\b(?:broken|broke|damaged|cracked|smashed|shattered|dented|in pieces)\b", re.I)),
    ("wrong item", re.compile(r"\bwrong\b(?! (?:address|email|number))|\bnot what i ordered\b", re.I)),
)
SAID_TURNS = 6  # customer messages back that may name the item or the reason


def customer_said(tracker: Tracker) -> list[str]:
    """The customer's messages in this conversation, newest first (the last few)."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") in ("session_started", "restart"):
            break
        if event.get("event") == "user" and event.get("text") and not event["text"].startswith("/"):
            texts.append(event["text"])
    return texts[:SAID_TURNS]


def mentioned_item(order: Order, texts: list[str]) -> str | None:
    """The one item of the order the newest message naming any of them names ("my lamp
    arrived broken": the Beacon Table Lamp), or None when none or several are named."""
    for text in texts:
        words = {singular(w) for w in re.findall(r"[a-z]+", text.lower())} - ITEM_FILLER
        scores = {
            i.name: len(words & {singular(w) for w in re.findall(r"[a-z]+", i.name.lower())})
            for i in order.items
        }
        best = max(scores.values(), default=0)
        if best:
            named = [name for name, score in scores.items() if score == best]
            return named[0] if len(named) == 1 else None
    return None


def mentioned_reason(texts: list[str]) -> str | None:
    """The return reason the customer's messages give, newest first, or None."""
    for text in texts:
        for reason, pattern in REASONS:
            if pattern.search(text):
                return reason
    return None


ITEM_FILLER = frozenset({"the", "a", "my", "it", "one", "set", "pack", "of"})


def match_item(order: Order, text: str) -> str | None:
    """The order's item that the customer means, by name words, or None."""
    words = {w.strip(".,!?'\"").lower() for w in text.split()} - {"the", "a", "my", "it", "one"}
    best, best_score = None, 0
    for item in order.items:
        name_words = {w.strip("()").lower() for w in item.name.split()}
        score = len(words & name_words)
        if text.strip().lower() == item.name.lower():
            score += 10
        if score > best_score:
            best, best_score = item.name, score
    return best


class ValidatePasswordForm(EmailExtraction):
    def name(self) -> str:
        return "validate_password_form"

    def validate_email(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        email = find_email(str(value or ""))
        if email is None and value is not None:  # None: cleared, not answered
            dispatcher.utter_message(response="utter_email_malformed")
        return {"email": email}
