"""Drafts of a generated answer (actions/streaming.py): the whole text so far on the
conversation's channel, and nothing lost when Redis refuses them."""

from __future__ import annotations

import json

from actions import streaming
from bot.rasa_side import shared_redis


class Publishes:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.fail = fail

    def publish(self, channel, data):
        if self.fail:
            raise ConnectionError("Redis is away")
        self.sent.append((channel, json.loads(data)))


def test_each_draft_is_the_whole_answer_so_far_on_the_conversations_channel(monkeypatch):
    client = Publishes()
    monkeypatch.setattr(streaming, "redis_client", lambda: client)
    on_text = streaming.publisher("c0ffee")
    for delta in ["Returns", " are free", " within 30 days."]:
        on_text(delta)
    assert [c for c, _ in client.sent] == [shared_redis.STREAM_CHANNEL + "c0ffee"] * 3
    assert [d["text"] for _, d in client.sent] == [
        "Returns",
        "Returns are free",
        "Returns are free within 30 days.",
    ]


def test_a_refused_draft_stops_the_drafts_not_the_answer(monkeypatch, caplog):
    client = Publishes(fail=True)
    monkeypatch.setattr(streaming, "redis_client", lambda: client)
    on_text = streaming.publisher("c0ffee")
    on_text("Returns")  # raises nothing
    on_text(" are free")
    assert client.sent == [] and caplog.text.count("not streamed") == 1
