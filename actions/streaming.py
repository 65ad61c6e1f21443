"""Drafts of a generated answer, streamed to the widget while the voice model writes it.

The action server publishes the answer so far on Redis (``tandem:stream:<conversation>``,
``{"text": ...}``); the widget's socket.io channel in the Rasa process relays it to the
conversation's sockets as ``bot_stream`` (bot/rasa_side/widget_channel.py), and the widget
shows it as a draft. The checked answer still goes through Rasa as a normal message, which
replaces the draft: the tracker, the REST channel and the tests see whole messages only.
Streaming is a courtesy: when Redis refuses a draft, the answer is sent all the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from actions.services import redis_client

logger = logging.getLogger(__name__)

CHANNEL = "tandem:stream:"  # the same name as bot/rasa_side/shared_redis.STREAM_CHANNEL


def publisher(conversation_id: str) -> Callable[[str], None]:
    """`on_text(delta)` for the voice model: publishes the whole text so far each time (a
    lost draft is made good by the next one)."""
    client = redis_client()
    channel = CHANNEL + conversation_id
    parts: list[str] = []
    failed = False

    def on_text(delta: str) -> None:
        nonlocal failed
        parts.append(delta)
        if failed:
            return
        try:
            client.publish(channel, json.dumps({"text": "".join(parts).strip()}))
        except Exception as error:
            failed = True
            logger.warning("drafts of this answer are not streamed: %s", error)

    return on_text
