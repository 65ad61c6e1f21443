"""Validation of the order forms: the order must exist, the email must match it, and the
store's policy (bot/brand/policy.yml) must allow what the customer asks for."""

from __future__ import annotations

import logging
from abc import abstractmethod
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services import orders_db
from bot import policy
from bot.orders import Order, find_email, normalise_order_number

logger = logging.getLogger(__name__)

# A message with one of these intents starts something else: never read it as a slot value.
OTHER_FLOW_INTENTS = {
    "cancel_order",
    "change_shipping_address",
    "get_refund",
    "recover_password",
    "contact_human_agent",
    "stop",
    "track_order",
}


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def item_list(order: Order) -> str:
    return ", ".join(item.name for item in order.items)


class EmailExtraction(FormValidationAction):
    """Reads an email address out of any reply to the email question."""

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    async def extract_email(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "email":
            return {}
        email = find_email(tracker.latest_message.get("text") or "")
        return {"email": email} if email else {}


class OrderFormValidation(EmailExtraction):
    """Shared steps of every order form: find the order, verify the email, check policy."""

    trigger_intent = ""  # the intent that starts this form

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        # policy said no: end the form now (the validator has told the customer why)
        return [] if tracker.get_slot("flow_blocked") else domain_slots

    def allowed(self, order: Order, dispatcher: CollectingDispatcher) -> bool:
        """Whether policy allows this flow for the order; when not, say why. Default: yes."""
        return True

    def on_verified(self, order: Order) -> dict[str, Any]:
        """Slots a form may fill as soon as the order is verified."""
        return {}

    def _verified(self, order: Order, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        if not self.allowed(order, dispatcher):
            return {"flow_blocked": True}
        return self.on_verified(order)

    async def extract_order_number(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        """Pick an order number out of any reply to the question, whatever its intent."""
        if tracker.get_slot("requested_slot") != "order_number":
            return {}
        if _intent(tracker) in OTHER_FLOW_INTENTS - {self.trigger_intent}:
            return {}
        number = normalise_order_number(tracker.latest_message.get("text") or "")
        return {"order_number": number} if number else {}

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = normalise_order_number(str(value or ""))
        if number is None:
            dispatcher.utter_message(response="utter_order_number_malformed")
            return {"order_number": None}
        order = orders_db().get(number)
        if order is None:
            dispatcher.utter_message(response="utter_order_not_found", order_number=number)
            return {"order_number": None}
        email = find_email(str(tracker.get_slot("email") or ""))
        if email is None:
            return {"order_number": number}
        if email != order.email.lower():
            # an email from earlier in the conversation, for another order: ask again
            return {"order_number": number, "email": None}
        return {"order_number": number, "email": email, **self._verified(order, dispatcher)}

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = find_email(str(value or ""))
        if email is None:
            dispatcher.utter_message(response="utter_email_malformed")
            return {"email": None}
        number = tracker.get_slot("order_number")
        order = orders_db().get(number) if number else None
        if order is None:
            return {"email": email}
        if email != order.email.lower():
            dispatcher.utter_message(response="utter_email_mismatch", order_number=order.number)
            return {"email": None}
        return {"email": email, **self._verified(order, dispatcher)}


class ValidateTrackOrderForm(OrderFormValidation):
    trigger_intent = "track_order"

    def name(self) -> str:
        return "validate_track_order_form"


class ValidateCancelOrderForm(OrderFormValidation):
    trigger_intent = "cancel_order"

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
            window_days=rules["returns"]["window_days"],
        )
        return False


class ValidateChangeAddressForm(OrderFormValidation):
    trigger_intent = "change_shipping_address"

    def name(self) -> str:
        return "validate_change_address_form"

    def allowed(self, order: Order, dispatcher: CollectingDispatcher) -> bool:
        if policy.can_change_address(order):
            return True
        dispatcher.utter_message(
            response="utter_cannot_change_address", order_number=order.number, status=order.status_text
        )
        return False

    def validate_new_address(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        address = " ".join(str(value or "").split())
        # a street number, a street and a town at least: "12 Oak Street, Portland ME 04101"
        if len(address) < 10 or len(address) > 200 or not any(c.isdigit() for c in address):
            dispatcher.utter_message(response="utter_address_incomplete")
            return {"new_address": None}
        return {"new_address": address}


class ValidateReturnForm(OrderFormValidation):
    trigger_intent = "get_refund"

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

    def on_verified(self, order: Order) -> dict[str, Any]:
        # one item only: nothing to ask
        return {"return_item": order.items[0].name} if len(order.items) == 1 else {}

    def validate_return_item(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        order = orders_db().get(tracker.get_slot("order_number") or "")
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
        if email is None:
            dispatcher.utter_message(response="utter_email_malformed")
        return {"email": email}
