"""A client of the running assistant: send a message over REST, read a tracker, print replies."""

from __future__ import annotations

import json
from urllib.parse import quote

import requests

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
