"""Helpers to talk to a running stack over REST and socket.io, as a client would."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from bot.console import analytics
from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import Settings
from bot.stack.client import SocketClient, tracker  # noqa: F401  (the tests' helpers, re-exported)


def rest(settings: Settings, sender: str, text: str) -> list[dict]:
    response = requests.post(
        f"{settings.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def texts(messages: list[dict]) -> str:
    return " | ".join(m.get("text", "") for m in messages if m.get("text"))


def email_of(settings: Settings, number: str) -> str:
    return SQLiteOrders(settings.orders_db_path).find(number).email


def recorded_events(
    url: str, sender: str, enough: Callable[[list[dict]], bool] = bool, timeout: float = 10.0
) -> list[dict]:
    """The conversation's analytics events once `enough` of them are there (or the timeout):
    Rasa's event broker writes them from a thread of its own, a moment after the turn."""
    deadline = time.monotonic() + timeout
    while True:
        events = [event for event in analytics.read_events(url) if event.get("sender_id") == sender]
        if enough(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.05)
