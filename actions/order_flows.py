"""What each order form does once it has everything: look up, cancel, re-address, return.

Each action asks the order back end (bot/core/orders/) once more: the order may have
moved on since the form checked it. A back end that fails or refuses is reported to the
customer; the flow ends either way, its slots cleared.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.identity import IDENTITY_SLOTS
from actions.order_forms import BackendFailed, ask_backend, item_list
from actions.services import order_backend
from bot.core import policy
from bot.core.orders import Order

logger = logging.getLogger(__name__)

# Slots that belong to one run of a flow, the verified order among them: the next flow
# asks for it again (actions/identity.py).
FLOW_SLOTS = (
    *IDENTITY_SLOTS,
    "confirm_cancel",
    "confirm_address",
    "new_address",
    "return_item",
    "return_reason",
    "flow_blocked",
)


def end_of_flow(domain: dict[str, Any]) -> list[dict[str, Any]]:
    """Clear the slots of this run of a flow, those the brand's domain has (a brand that
    only tracks and cancels has no address or return slots: setting one is an error)."""
    declared = (domain or {}).get("slots") or {}
    return [SlotSet(slot, None) for slot in FLOW_SLOTS if slot in declared]


def verified_order(tracker: Tracker, dispatcher: CollectingDispatcher) -> Order | None:
    """The form's order, or None when the flow was blocked, the order vanished or the back
    end failed (the customer has been told)."""
    if tracker.get_slot("flow_blocked"):
        return None
    number = tracker.get_slot("order_number")
    try:
        return ask_backend(dispatcher, order_backend().find, number) if number else None
    except BackendFailed:
        return None


def change(dispatcher: CollectingDispatcher, call, *args) -> bool:
    """Make a change through the back end; False when it failed or refused (the customer
    has been told which)."""
    try:
        ask_backend(dispatcher, call, *args)
    except BackendFailed:
        return False
    return True


def order_total(order: Order) -> str:
    return f"{sum(i.price * i.qty for i in order.items):.2f}"


class ActionTrackOrder(Action):
    def name(self) -> str:
        return "action_track_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        order = verified_order(tracker, dispatcher)
        if order is not None:
            dispatcher.utter_message(
                response=f"utter_order_status_{order.status}",
                order_number=order.number,
                items=item_list(order),
                placed_on=order.placed_on.isoformat(),
                shipped_on=order.shipped_on.isoformat() if order.shipped_on else "",
                delivered_on=order.delivered_on.isoformat() if order.delivered_on else "",
                eta=order.eta.isoformat() if order.eta else "soon",
                carrier=order.carrier or "",
                tracking_number=order.tracking_number or "",
                address=order.address,
            )
        return end_of_flow(domain)


class ActionCancelOrder(Action):
    def name(self) -> str:
        return "action_cancel_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        order = verified_order(tracker, dispatcher)
        if order is None:
            return end_of_flow(domain)
        if not tracker.get_slot("confirm_cancel"):
            dispatcher.utter_message(response="utter_cancel_kept", order_number=order.number)
        elif not policy.can_cancel(order):  # shipped since the form checked
            dispatcher.utter_message(
                response="utter_cannot_cancel_now", order_number=order.number, status=order.status_text
            )
        elif change(dispatcher, order_backend().cancel, order.number):
            logger.info("cancelled order %s for %s", order.number, tracker.sender_id)
            dispatcher.utter_message(
                response="utter_cancelled",
                order_number=order.number,
                total=order_total(order),
                refund_days=(policy.load_policy().get("returns") or {}).get("refund_days", ""),
            )
        return end_of_flow(domain)


class ActionChangeAddress(Action):
    def name(self) -> str:
        return "action_change_address"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        order = verified_order(tracker, dispatcher)
        if order is None:
            return end_of_flow(domain)
        address = tracker.get_slot("new_address")
        if not tracker.get_slot("confirm_address"):
            dispatcher.utter_message(
                response="utter_address_kept", order_number=order.number, address=order.address
            )
        elif not policy.can_change_address(order):
            dispatcher.utter_message(
                response="utter_cannot_change_address", order_number=order.number, status=order.status_text
            )
        elif change(dispatcher, order_backend().change_address, order.number, address):
            logger.info("changed address of %s for %s", order.number, tracker.sender_id)
            dispatcher.utter_message(
                response="utter_address_changed", order_number=order.number, address=address
            )
        return end_of_flow(domain)


class ActionStartReturn(Action):
    def name(self) -> str:
        return "action_start_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        order = verified_order(tracker, dispatcher)
        if order is None:
            return end_of_flow(domain)
        item = next((i for i in order.items if i.name == tracker.get_slot("return_item")), None)
        if item is None or not policy.can_return(order):
            dispatcher.utter_message(response="utter_return_failed", order_number=order.number)
            return end_of_flow(domain)
        rules = policy.load_policy()
        try:
            return_number = ask_backend(
                dispatcher,
                order_backend().create_return,
                order.number,
                item.sku,
                tracker.get_slot("return_reason") or "",
            )
        except BackendFailed:
            return end_of_flow(domain)
        logger.info("return %s opened on %s for %s", return_number, order.number, tracker.sender_id)
        dispatcher.utter_message(
            response="utter_return_started",
            return_number=return_number,
            item=item.name,
            order_number=order.number,
            email=tracker.get_slot("email") or order.email,
            refund_days=rules["returns"]["refund_days"],
        )
        return end_of_flow(domain)


class ActionAskReturnItem(Action):
    """Ask which item to return, with the order's items as buttons."""

    def name(self) -> str:
        return "action_ask_return_item"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        try:
            order = order_backend().find(tracker.get_slot("order_number") or "")
        except Exception:  # the question is still worth asking; the answer is checked later
            logger.warning("could not list the items of the order", exc_info=True)
            order = None
        buttons = [{"title": i.name, "payload": i.name} for i in order.items] if order else []
        dispatcher.utter_message(response="utter_ask_return_item", buttons=buttons)
        return []


class ActionRecoverPassword(Action):
    def name(self) -> str:
        return "action_recover_password"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        email = tracker.get_slot("email")
        try:
            if email:
                ask_backend(dispatcher, order_backend().request_password_reset, email)
        except BackendFailed:
            return end_of_flow(domain)
        # the same words whether or not the account exists: nobody learns who is a customer
        dispatcher.utter_message(
            response="utter_password_reset_sent",
            email=email,
            hours=policy.load_policy()["password_reset"]["link_valid_hours"],
        )
        return end_of_flow(domain)
