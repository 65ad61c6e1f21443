"""The REST channel with the checks of guard.py: Rasa's ``rest`` (same name, same URL
``POST /webhooks/rest/webhook``, same reply: a JSON list of messages), stricter on input.

- The body must be ``{"sender": str, "message": str}`` (``metadata`` an object, optional):
  anything else is a 400 that says what is expected, never a traceback. Rasa's own
  channel puts a request without ``sender`` into one shared ``default`` conversation,
  where one client could read what another typed; here there is no such conversation.
- A message over the size limit is answered at once and never reaches Rasa.
- A message Rasa fails on (Redis or the action server down) gets a short "having
  trouble" reply, not an empty list.
- ``GET /webhooks/rest/health`` (and ``/webhooks/rest/``) is 200 only while a message can
  be served: model loaded, Redis and the action server answering (health.py); else 503.
- Where the channel is reachable beyond this machine (Rasa bound to another interface
  than loopback, or ``TANDEM_REST_REQUIRE_TOKEN=1``), a request needs the channel token
  (``Authorization: Bearer <token>`` or ``?token=``; the file ``TANDEM_REST_TOKEN_FILE``).

Runs inside the Rasa server; imports nothing of the project but this folder.
"""

from __future__ import annotations

import hmac
import logging
import os
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.rasa_side import guard, health, shared_redis

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 512


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def token_required() -> bool:
    forced = os.environ.get("TANDEM_REST_REQUIRE_TOKEN", "").lower() in ("1", "true", "yes")
    return forced or os.environ.get("TANDEM_HOST", "127.0.0.1") not in guard.LOOPBACK


def channel_token() -> str:
    path = os.environ.get("TANDEM_REST_TOKEN_FILE")
    if not path:
        raise guard.GuardError(
            "the REST channel needs a token here but TANDEM_REST_TOKEN_FILE is not set: start Rasa "
            "with `tandem up`, which makes $TANDEM_HOME/rest-token"
        )
    return Path(path).read_text().strip()


class GuardedRestInput(RestInput):
    """Rasa's REST channel behind the input checks above."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GuardedRestInput:
        channel = cls()
        channel.credentials = credentials or {}
        return channel

    credentials: dict[str, Any] = {}

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # a bad setting stops Rasa at start-up
        checks = guard.MessageGuard(self.credentials, shared_redis.client())
        expected_token = channel_token() if token_required() else None
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        checked = health.Health()

        async def healthy(request: Request) -> HTTPResponse:
            ok, parts = await checked.report(request.app)
            return response.json(
                {"status": "ok" if ok else "unavailable", **parts}, status=200 if ok else 503
            )

        webhook.add_route(healthy, "/", methods=["GET"], name="health_root")
        webhook.add_route(healthy, "/health", methods=["GET"], name="health")

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if expected_token is not None:
                given = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                given = given or request.args.get("token", "")
                if not given or not hmac.compare_digest(given, expected_token):
                    return _error(401, "this channel needs its token: Authorization: Bearer <token>")
            try:
                body = request.json
            except Exception:  # Sanic raises its own error for a body that is not JSON
                body = None
            if not isinstance(body, dict):
                return _error(400, 'the body must be a JSON object: {"sender": "...", "message": "..."}')
            sender, text, metadata = body.get("sender"), body.get("message"), body.get("metadata")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
                return _error(
                    400,
                    f"`sender` must name the conversation: a non-empty string of at most {MAX_SENDER_CHARS} characters",
                )
            if not isinstance(text, str):
                return _error(400, "`message` must be a string")
            if metadata is not None and not isinstance(metadata, dict):
                return _error(400, "`metadata` must be a JSON object")
            text, replies = checks.screen(text, sender, request.remote_addr or request.ip)
            notes = [{"recipient_id": sender, "text": reply} for reply in replies]
            if text is None:
                return response.json(notes)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
                )
            except (CancelledError, Exception) as error:  # a part of the stack is down: say so
                logger.error("rest: the message of %s failed: %s", sender, guard.failure(error))
                collector.messages.append({"recipient_id": sender, "text": checks.trouble_reply})
            return response.json(notes + collector.messages)

        return webhook
