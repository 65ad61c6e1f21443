"""The web widget's socket.io channel: Rasa's own, with structured messages kept whole.

Runs inside the Rasa server (Python 3.10, rasa 3.6); credentials.yml names it instead of
the stock ``socketio`` channel, with the same settings and the same name, so the URL
(``/socket.io``) and the session protocol (``session_request`` / ``session_confirm`` /
``user_uttered`` / ``bot_uttered``) do not change. Two things differ:

- Rasa 3.6 sends a custom payload as ``emit(event, **payload)``, which fails for any
  payload (the keys become keyword arguments of ``emit``). Here it arrives as
  ``{"custom": {...}}``: the route, citations and handoff flag the widget shows.
- A text is sent as one message; Rasa splits it at blank lines, which would separate a
  knowledge answer from the citations that follow it.
- The checks of guard.py (see :class:`WidgetSocketIO`): signed conversation ids, the
  message size limit, the allowed origins, malformed payloads.

Import nothing from the rest of ``bot/`` but this folder: that code runs on the other venv.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.events import SlotSet
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.core import privacy
from bot.rasa_side import guard, shared_redis

logger = logging.getLogger(__name__)


class WidgetOutput(SocketIOOutput):
    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"text": text.strip()})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        quick_replies = [
            {"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in buttons
        ]
        await self._send_message(recipient_id, {"text": text.strip(), "quick_replies": quick_replies})

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


class WidgetSocketIO(SocketIOInput):
    """Rasa's socket.io input channel, answering through :class:`WidgetOutput`, with the
    checks of guard.py on every event:

    - ``session_request``: a token signed by this install continues its conversation;
      anything else (none, forged, an id without its signature) starts a new one, whose
      token ``session_confirm`` returns as ``{"session_id": token, "max_message_chars": n}``.
    - ``user_uttered``: only from a socket that joined that conversation with its token;
      a message over the size limit is answered at once and never reaches Rasa; a payload
      that is not ``{"message": str, "session_id": str}`` gets a short reply, not a traceback.
    - connecting from a browser page whose origin is not allowed ($TANDEM_CORS) is refused,
      and socket.io's frame limit is lowered to a few times the message limit.
    """

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WidgetSocketIO:
        channel = super().from_credentials(credentials)
        channel.credentials = credentials or {}
        return channel

    credentials: dict[str, Any] = {}
    agent: Any = None  # Rasa's agent (its tracker and lock stores), once the server runs

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return super().get_output_channel()  # None, with Rasa's warning
        return WidgetOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        signer = guard.SessionSigner.from_environment()  # fail at start-up, not on a message
        checks = guard.MessageGuard(self.credentials, shared_redis.client())
        limit = checks.limit
        # python-socketio's own CORS stays off, as in Rasa; the origin is checked on connect
        # instead. WebSocket only: one connection stays with the worker (or replica) that
        # holds its session, where long polling's separate requests would reach others.
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=[],
            max_http_buffer_size=max(16_384, 8 * limit + 1024),
            transports=["websocket"],
        )
        webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        joined: dict[str, str] = {}  # socket id -> the conversation it joined with a valid token
        clients: dict[str, str] = {}  # socket id -> the client's address (rate limits)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
            origin = environ.get("HTTP_ORIGIN")
            if not guard.origin_allowed(origin, environ.get("HTTP_HOST")):
                logger.warning("refused a socket.io connection from origin %r (not in TANDEM_CORS)", origin)
                return False
            clients[sid] = guard.client_address(environ)
            return True

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str) -> None:
            joined.pop(sid, None)
            clients.pop(sid, None)

        async def tell(sid: str, text: str) -> None:
            await sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=self.namespace)

        async def refuse(sid: str) -> None:  # the socket has not joined that conversation
            reason = {"reason": "send session_request first"}
            await sio.emit("session_refused", reason, room=sid, namespace=self.namespace)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            token = data.get("session_id") if isinstance(data, dict) else None
            conversation_id = signer.verify(token)
            if conversation_id is None:
                if token:
                    logger.warning(
                        "socket.io: a session_request with an unsigned or forged id; new conversation"
                    )
                conversation_id, token = signer.issue()
            previous = joined.get(sid)
            if previous and previous != conversation_id:
                sio.leave_room(sid, previous, namespace=self.namespace)
            sio.enter_room(sid, conversation_id, namespace=self.namespace)
            joined[sid] = conversation_id
            confirm = {"session_id": token, "max_message_chars": limit}
            await sio.emit("session_confirm", confirm, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            if not isinstance(data, dict):
                logger.warning(
                    "socket.io: a %s payload that is not an object; ignored", self.user_message_evt
                )
                await tell(sid, guard.UNREADABLE_REPLY)
                return
            conversation_id = signer.verify(data.get("session_id"))
            if conversation_id is None or joined.get(sid) != conversation_id:
                logger.warning("socket.io: a message for a conversation this socket has not joined; refused")
                await refuse(sid)
                return
            text = data.get("message")
            if not isinstance(text, str):
                logger.warning("socket.io: a message that is not text (%s); ignored", type(text).__name__)
                await tell(sid, guard.UNREADABLE_REPLY)
                return
            text, replies = checks.screen(text, conversation_id, clients.get(sid))
            for reply in replies:
                await tell(sid, reply)
            if text is None:
                return
            message = UserMessage(
                text,
                WidgetOutput(sio, self.bot_message_evt),
                conversation_id,
                input_channel=self.name(),
                metadata=_metadata(data.get(self.metadata_key)),
            )
            try:
                await on_new_message(message)
            except (asyncio.CancelledError, Exception) as error:  # a part of the stack is down: say so
                logger.error("socket.io: the message of %s failed: %s", conversation_id, guard.failure(error))
                await tell(sid, checks.trouble_reply)

        @sio.on("feedback", namespace=self.namespace)
        async def feedback(sid: str, data: Any = None) -> None:
            conversation_id = signer.verify(data.get("session_id")) if isinstance(data, dict) else None
            if conversation_id is None or joined.get(sid) != conversation_id:
                await refuse(sid)
                return
            rating = read_feedback(data, limit)
            if rating is None:
                logger.warning("socket.io: unreadable feedback from %s; ignored", conversation_id)
                return
            agent = self.agent
            if agent is None:
                return
            try:
                await record_feedback(agent, conversation_id, *rating)
            except Exception as error:  # feedback is a courtesy: never an error for the customer
                logger.warning("feedback of %s not recorded: %s", conversation_id, guard.failure(error))

        @webhook.listener("after_server_start")
        async def start_relay(app, _loop) -> None:
            self.agent = getattr(app.ctx, "agent", None)
            # held here: the event loop keeps only a weak reference to a task
            _relays.add(asyncio.get_running_loop().create_task(relay_drafts(sio, self.namespace)))

        return webhook


_relays: set[asyncio.Task] = set()


async def relay_drafts(sio: AsyncServer, namespace: str | None) -> None:
    """Drafts of generated answers, published by the action server on Redis
    (``tandem:stream:<conversation>``, {"text": the answer so far}), are sent to the sockets
    that joined that conversation as ``bot_stream``; the checked answer follows as a normal
    ``bot_uttered`` through Rasa. What an agent says from the console and the hand-back
    (``tandem:say:<conversation>``, {"text", "agent" or "handback"}; already in the tracker)
    are sent as ``bot_uttered``. Every worker and replica relays, and each reaches only its
    own sockets. Without Redis there is nothing to relay; when Redis goes away the relay
    waits and subscribes again."""
    while True:
        client = shared_redis.async_client()
        if client is None:
            return
        try:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            await pubsub.psubscribe(shared_redis.STREAM_CHANNEL + "*", shared_redis.SAY_CHANNEL + "*")
            async for message in pubsub.listen():
                if message.get("type") != "pmessage":
                    continue
                channel = (
                    message["channel"].decode()
                    if isinstance(message["channel"], bytes)
                    else message["channel"]
                )
                try:
                    draft = json.loads(message["data"])
                except (TypeError, ValueError):
                    continue
                if not isinstance(draft, dict) or not isinstance(draft.get("text"), str):
                    continue
                if channel.startswith(shared_redis.SAY_CHANNEL):  # a person, or the hand-back
                    room = channel[len(shared_redis.SAY_CHANNEL) :]
                    said = {k: draft[k] for k in ("text", "agent", "handback") if k in draft}
                    await sio.emit("bot_uttered", said, room=room, namespace=namespace)
                else:
                    room = channel[len(shared_redis.STREAM_CHANNEL) :]
                    await sio.emit("bot_stream", {"text": draft["text"]}, room=room, namespace=namespace)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Redis restarted or unreachable: drafts pause, answers do not
            logger.warning("draft relay: %s; subscribing again in 2 s", error)
            await asyncio.sleep(2)
        finally:
            try:
                await client.close()
            except Exception:
                pass


def _metadata(value: Any) -> dict[str, Any]:
    """A message's metadata: an object, or JSON text of one; anything else is dropped."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            logger.warning("socket.io: metadata that is not JSON; dropped")
            return {}
    return value if isinstance(value, dict) else {}


FEEDBACK_SLOT = "feedback"
FEEDBACK_VALUES = ("up", "down")


def read_feedback(data: dict[str, Any], limit: int) -> tuple[str, str, str] | None:
    """(the rated answer's text, "up" or "down", the comment) of a ``feedback`` payload
    ``{"session_id", "text", "value", "comment"?}``, or None when it is not one."""
    text, value, comment = data.get("text"), data.get("value"), data.get("comment") or ""
    if not isinstance(text, str) or not text.strip() or value not in FEEDBACK_VALUES:
        return None
    if not isinstance(comment, str):
        return None
    return text.strip()[: 4 * limit], value, comment.strip()[:limit]


async def record_feedback(agent: Any, conversation_id: str, text: str, value: str, comment: str) -> bool:
    """Store a rating with the turn it rates: a ``feedback`` slot event
    ``{"turn": the rated bot message's timestamp, "value", "comment"}`` on the conversation's
    tracker, which Rasa's event broker passes on to analytics. The rated message is the
    latest bot message with that text (compared masked: the tracker keeps it masked).
    False when the conversation has no such message."""
    wanted = {text, privacy.mask(text)}
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.tracker_store.retrieve(conversation_id)
        if tracker is None:
            return False
        rated = next(
            (
                event
                for event in reversed(tracker.events)
                if getattr(event, "type_name", None) == "bot" and (event.text or "").strip() in wanted
            ),
            None,
        )
        if rated is None:
            return False
        tracker.update(
            SlotSet(
                FEEDBACK_SLOT,
                {"turn": rated.timestamp, "value": value, "comment": privacy.mask(comment)},
            )
        )
        await agent.tracker_store.save(tracker)
    return True
