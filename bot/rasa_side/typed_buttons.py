"""Typing a button's title is clicking it.

A customer who types "changed my mind" under the return-reason buttons means the button
"Changed my mind", not the NLU's reading of the words (which is "stop": the return would
end). Rasa parses a message before it predicts anything; here, just before, a text that is
the title (or the plain payload) of a button of the assistant's last reply is parsed as
that button's payload, as a click would send it.

Rasa side only (Python 3.10, Rasa's classes); the matching is plain Python and tested on
its own (tests/unit/test_typed_buttons.py).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

_original: dict[str, Any] = {}


def _norm(text: str) -> str:
    return " ".join(text.casefold().replace("’", "'").strip(" .!?").split())


def pressed(text: str, buttons: Iterable[dict[str, Any]]) -> str | None:
    """The payload of the button whose title (or payload, when that is not an intent) `text`
    is, ignoring case, spaces and end punctuation; None when it is none of them."""
    typed = _norm(text or "")
    if not typed or typed.startswith("/"):
        return None
    for button in buttons:
        payload = str(button.get("payload") or "")
        if not payload:
            continue
        if _norm(str(button.get("title") or "")) == typed:
            return payload
        if not payload.startswith("/") and _norm(payload) == typed:
            return payload
    return None


def last_buttons(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The buttons of the assistant's messages since the customer last spoke (Rasa events)."""
    found: list[dict[str, Any]] = []
    for event in reversed(list(events)):
        kind = getattr(event, "type_name", None)
        if kind == "user":
            break
        if kind == "bot":
            found = [*((getattr(event, "data", None) or {}).get("buttons") or []), *found]
    return found


async def parse_message(self: Any, message: Any, tracker: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``MessageProcessor.parse_message``, with a typed button title read as its payload."""
    if tracker is not None and getattr(message, "text", None):
        payload = pressed(message.text, last_buttons(tracker.events))
        if payload is not None and payload != message.text:
            message = copy.copy(message)
            message.text = payload
    return await _original["parse_message"](self, message, tracker, *args, **kwargs)


def install() -> None:
    from rasa.core.processor import MessageProcessor

    if "parse_message" not in _original:
        _original["parse_message"] = MessageProcessor.parse_message
        MessageProcessor.parse_message = parse_message
