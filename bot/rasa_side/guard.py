"""Checks every customer message passes before Rasa reads it, and the widget's signed ids.

Runs inside the Rasa server (the channels of credentials.yml); standard library only, so
the project's tests import it too. Settings come from the environment that `tandem up`
gives the Rasa process (bot/core/settings.py: ``Settings.env``).

- **Size**: NLU's first stages grow faster than linearly with a message's length (a 100 KB
  message took Rasa to 9.7 GB), so a message longer than ``TANDEM_MAX_MESSAGE_CHARS``
  (default 2000) is answered at once with a request to shorten it; it is never parsed,
  stored or logged beyond a short preview.
- **Sessions**: a widget conversation id is issued by the server and signed with the
  install's key (``TANDEM_SESSION_KEY_FILE``): the token the widget keeps is
  ``<id>.<signature>``; the conversation (tracker, handoff list, logs) is named by the id
  alone, so knowing a conversation's id is not enough to join it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_CHARS = 2000
TOO_LONG_REPLY = (
    "That message is too long for me to read ({length} characters; the most I can take is "
    "{limit}). Could you shorten it, or send it in a few parts?"
)
UNREADABLE_REPLY = "Sorry, I could not read that message. Could you type it again?"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class GuardError(Exception):
    """The guard is misconfigured; the message says how to fix it."""


def max_message_chars() -> int:
    value = os.environ.get("TANDEM_MAX_MESSAGE_CHARS", "")
    try:
        limit = int(value) if value else DEFAULT_MAX_MESSAGE_CHARS
    except ValueError:
        raise GuardError(f"TANDEM_MAX_MESSAGE_CHARS={value!r} is not a whole number of characters") from None
    if limit <= 0:
        raise GuardError(f"TANDEM_MAX_MESSAGE_CHARS={value!r} must be positive")
    return limit


def preview(text: str, chars: int = 40) -> str:
    """What a log may say of a refused message: its start and its length, never all of it."""
    start = text[:chars].replace("\n", " ")
    return f"{start!r}... ({len(text)} characters)" if len(text) > chars else repr(start)


def too_long(text: str, template: str = TOO_LONG_REPLY) -> str | None:
    """The reply to a message over the limit, or None when the message may go on."""
    limit = max_message_chars()
    if len(text) <= limit:
        return None
    return template.format(length=len(text), limit=limit)


def allowed_origins() -> list[str]:
    """Browser origins allowed to open the widget's socket ($TANDEM_CORS, as `tandem up`
    passes it to Rasa's --cors; '*' allows every origin)."""
    return os.environ.get("TANDEM_CORS", "").replace(",", " ").split()


def origin_allowed(origin: str | None, host: str | None = None) -> bool:
    """A browser's Origin may connect when configured; a client without one (no browser),
    or one whose origin is the server itself (`host`, same origin), may."""
    if not origin or (host and origin.rstrip("/").split("://", 1)[-1] == host):
        return True
    allowed = allowed_origins()
    return "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}


class SessionSigner:
    """Issues and checks the widget's signed conversation ids (HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise GuardError("the session key is too short (16 bytes at least)")
        self._key = key

    @classmethod
    def from_environment(cls) -> SessionSigner:
        path = os.environ.get("TANDEM_SESSION_KEY_FILE")
        if not path:
            raise GuardError(
                "TANDEM_SESSION_KEY_FILE is not set: start Rasa with `tandem up`, which makes the "
                "key ($TANDEM_HOME/session-key) and passes its path"
            )
        try:
            return cls(Path(path).read_bytes().strip())
        except OSError as error:
            raise GuardError(f"cannot read the session key {path}: {error}; `tandem up` makes it") from None

    def _signature(self, conversation_id: str) -> str:
        digest = hmac.new(self._key, f"tandem-session:{conversation_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self) -> tuple[str, str]:
        """A new conversation: its id, and the token the widget keeps."""
        conversation_id = uuid.uuid4().hex
        return conversation_id, f"{conversation_id}.{self._signature(conversation_id)}"

    def verify(self, token: object) -> str | None:
        """The conversation id of a genuine token, else None."""
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 200:
            return None
        conversation_id, signature = token.split(".")
        if not conversation_id or not hmac.compare_digest(signature, self._signature(conversation_id)):
            return None
        return conversation_id
