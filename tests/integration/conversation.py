"""Helpers to talk to a running stack over REST and socket.io, as a client would."""

from __future__ import annotations

import requests

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
