"""Helpers to talk to a running stack over REST and socket.io, as a client would."""

from __future__ import annotations

import json
import queue
import uuid

import requests
import socketio

from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import Settings
from bot.stack.client import tracker  # noqa: F401  (the tests' helper, re-exported)


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


class SocketClient:
    """A socket.io client of Rasa's socketio channel with session persistence."""

    def __init__(self, settings: Settings, session_id: str | None = None) -> None:
        self.settings = settings
        self.session_id = session_id or uuid.uuid4().hex
        self.replies: queue.Queue[dict] = queue.Queue()
        self.confirmed: queue.Queue[str] = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("bot_uttered", self.replies.put)
        self.sio.on("session_confirm", lambda data: self.confirmed.put(json.dumps(data)))

    def __enter__(self) -> SocketClient:
        self.sio.connect(
            self.settings.rasa_url, socketio_path="/socket.io", transports=["websocket"], wait_timeout=10
        )
        self.sio.emit("session_request", {"session_id": self.session_id})
        self.confirmed.get(timeout=10)
        return self

    def __exit__(self, *exc) -> None:
        self.sio.disconnect()

    def say(self, text: str, expect: int = 1, timeout: float = 60) -> list[dict]:
        """Send a message and collect `expect` bot messages (then any that follow at once)."""
        self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})
        messages = [self.replies.get(timeout=timeout) for _ in range(expect)]
        while True:
            try:
                messages.append(self.replies.get(timeout=1.0))
            except queue.Empty:
                return messages
