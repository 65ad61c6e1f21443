"""A client of the running assistant: send a message over REST, read a tracker, print replies."""

from __future__ import annotations

import json
import queue
import time
from urllib.parse import quote

import requests
import socketio

from bot.core.settings import Settings


def require_running(settings: Settings) -> None:
    """Stop with the fix when the assistant's Rasa server does not answer."""
    try:
        requests.get(f"{settings.rasa_url}/version", timeout=3).raise_for_status()
    except requests.RequestException:
        raise SystemExit(
            "error: the assistant is not running; start it with `tandem up` (or `make run`)"
        ) from None


def rest_headers(settings: Settings) -> dict[str, str]:
    """The REST channel's token (needed where Rasa listens beyond loopback)."""
    return {"Authorization": f"Bearer {settings.rest_token_file.read_text().strip()}"}


def send(settings: Settings, sender: str, text: str, timeout: float = 60) -> list[dict]:
    response = requests.post(
        f"{settings.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        headers=rest_headers(settings),
        timeout=timeout,
    )
    response.raise_for_status()
    return response.json()


def tracker(settings: Settings, sender: str) -> dict:
    """The conversation's tracker from Rasa's HTTP API (events, slots, active form)."""
    response = requests.get(
        f"{settings.rasa_url}/conversations/{quote(sender, safe='')}/tracker",
        params={"token": settings.rasa_token},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def refresh_knowledge(settings: Settings, timeout: float = 600) -> dict:
    """Have the running action server refresh the knowledge base; its report."""
    response = requests.post(
        f"{settings.actions_url}/kb/refresh",
        json={},
        headers={"Authorization": f"Bearer {settings.rasa_token}"},
        timeout=timeout,
    )
    response.raise_for_status()
    return response.json()


def render(messages: list[dict]) -> tuple[str, list[dict]]:
    """Text to print for the bot's messages, and the buttons offered (numbered)."""
    lines, buttons = [], []
    for message in messages:
        if message.get("text"):
            lines.append(f"bot> {message['text']}")
        if message.get("custom"):
            lines.append(f"     [data] {json.dumps(message['custom'])}")
        for button in message.get("buttons") or []:
            buttons.append(button)
            lines.append(f"     [{len(buttons)}] {button.get('title')}")
    return "\n".join(lines), buttons


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

    def rate(self, text: str, value: str, comment: str = "") -> None:
        """Thumbs up or down on the bot's message `text`, as the widget sends it."""
        self.sio.emit(
            "feedback", {"session_id": self.session_id, "text": text, "value": value, "comment": comment}
        )

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
