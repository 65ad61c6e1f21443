"""Helpers to talk to a running stack over REST and socket.io, as a client would."""

from __future__ import annotations

import queue
import time

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
    """A socket.io client of the widget's channel, as the widget is: it asks for a session
    with the token it was given (`session_id`; none starts a new conversation) and keeps
    the token the server confirms."""

    def __init__(
        self,
        settings: Settings,
        session_id: str | None = None,
        headers: dict | None = None,
        transports: tuple[str, ...] = ("websocket",),
    ) -> None:
        self.settings = settings
        self.session_id = session_id
        self.headers = headers or {}
        self.transports = list(transports)
        self.replies: queue.Queue[dict] = queue.Queue()
        self.confirmed: queue.Queue[dict] = queue.Queue()
        self.refused: queue.Queue[dict] = queue.Queue()
        # a browser's Origin: the WebSocket client sends its own unless told which
        origin = {key.lower(): value for key, value in self.headers.items()}.get("origin")
        self.headers = {key: value for key, value in self.headers.items() if key.lower() != "origin"}
        self.sio = socketio.Client(
            reconnection=False, websocket_extra_options={"origin": origin} if origin else None
        )
        self.sio.on("bot_uttered", self.replies.put)
        self.sio.on("session_confirm", self.confirmed.put)
        self.sio.on("session_refused", self.refused.put)

    def __enter__(self) -> SocketClient:
        self.sio.connect(
            self.settings.rasa_url,
            socketio_path="/socket.io",
            transports=self.transports,
            wait_timeout=10,
            headers=self.headers,
        )
        self.sio.emit("session_request", {"session_id": self.session_id})
        self.session_id = self.confirmed.get(timeout=10)["session_id"]
        return self

    @property
    def conversation_id(self) -> str:
        """The conversation's own id (the tracker's sender): the token without its signature."""
        return self.session_id.split(".")[0]

    def __exit__(self, *exc) -> None:
        self.sio.disconnect()

    def say(self, text: str, expect: int = 1, timeout: float = 60) -> list[dict]:
        """Send a message and collect `expect` bot messages (then any that follow at once)."""
        self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})
        return self.listen(expect, timeout)

    def listen(self, expect: int = 1, timeout: float = 60) -> list[dict]:
        """Collect `expect` bot messages, then any that follow at once. A turn's route data
        (a message with only `custom`) comes before its reply, which may follow it later
        than at once on a busy machine: collecting goes on until a message a customer sees
        has come too."""
        deadline = time.monotonic() + timeout
        messages = [self.replies.get(timeout=timeout) for _ in range(expect)]
        while True:
            seen = any(set(message) - {"custom"} for message in messages)
            wait = max(0.0, deadline - time.monotonic()) if not seen else 1.0
            try:
                messages.append(self.replies.get(timeout=wait))
            except queue.Empty:
                return messages
