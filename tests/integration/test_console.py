"""The console's parts on the real stack and in the Rasa venv: claims are atomic under a
race, every event reaches the event broker's database masked, a feedback payload is read
or refused, and the broker's SQLite file takes writers of several processes."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid

import pytest

from bot.console import handoffs
from bot.core.settings import ROOT
from bot.stack import client
from tests.integration.conversation import recorded_events

pytestmark = pytest.mark.stack
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def test_of_eight_agents_claiming_at_once_exactly_one_gets_the_conversation(stack):
    sender = f"console-race-{uuid.uuid4().hex[:6]}"
    client.send(stack, sender, "I want to talk to a person")
    store = handoffs.store_for(stack)
    won, lost = [], []
    start = threading.Barrier(8)

    def claim(agent: str) -> None:
        start.wait()
        try:
            handoffs.claim(handoffs.store_for(stack), sender, agent)
            won.append(agent)
        except handoffs.ConsoleError:
            lost.append(agent)

    threads = [threading.Thread(target=claim, args=(f"agent{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == 7
    assert handoffs.holder(store, sender) == won[0]
    with pytest.raises(handoffs.ConsoleError, match="holds this conversation"):
        handoffs.reply(stack, store, sender, lost[0], "hello")
    with pytest.raises(handoffs.ConsoleError, match="not waiting"):
        handoffs.claim(store, "nobody-waits-here", "agent0")
    handoffs.hand_back(stack, store, sender, won[0])


def test_every_event_reaches_the_event_broker_with_personal_data_masked(stack):
    sender = f"console-events-{uuid.uuid4().hex[:6]}"
    client.send(stack, sender, "where is my order")
    client.send(stack, sender, "BB-100031")
    client.send(stack, sender, "my email is jane.doe@example.com")
    events = recorded_events(
        stack.events_db_url, sender, lambda events: sum(e["event"] == "user" for e in events) >= 3
    )
    kinds = {event["event"] for event in events}
    assert {"user", "bot", "action", "slot"} <= kinds
    users = [event["text"] for event in events if event["event"] == "user"]
    assert users == ["where is my order", "BB-100031", "my email is [email]"]
    assert "jane.doe@example.com" not in json.dumps(events)


RASA_SIDE = r"""
import json, sys, tempfile, os
from bot.rasa_side.widget_channel import read_feedback
from bot.rasa_side.event_broker import PrivateSQLEventBroker, private_event

ok = read_feedback({"text": " An answer ", "value": "down", "comment": " wrong "}, 100)
refused = [read_feedback(p, 100) for p in (
    {"text": "a", "value": "meh"}, {"text": "", "value": "up"}, {"text": "a", "value": "up", "comment": 3},
    {"value": "up"})]
long = read_feedback({"text": "a", "value": "up", "comment": "x" * 500}, 100)
masked = private_event({"event": "slot", "name": "email", "value": "jane@example.com"})
folder = tempfile.mkdtemp()
url = "sqlite:///" + os.path.join(folder, "events.db")
brokers = [PrivateSQLEventBroker(url), PrivateSQLEventBroker(url)]
for i in range(20):
    brokers[i % 2].publish({"sender_id": "s", "event": "user", "text": f"mail me at a{i}@b.example", "timestamp": i})
flushed = [broker.flush() for broker in brokers]
with brokers[0].engine.connect() as c:
    import sqlalchemy
    rows = c.execute(sqlalchemy.text("SELECT data FROM events")).fetchall()
    mode = c.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar()
bad = PrivateSQLEventBroker(url)
bad.engine.dispose()
bad.sessionmaker = None  # a broken database: publish must not raise
bad.publish({"sender_id": "s", "event": "user", "text": "x"})
flushed.append(bad.flush())  # the failed write is logged and the queue goes on
print(json.dumps({"ok": ok, "refused": refused, "long": len(long[2]), "masked": masked["value"],
                  "rows": len(rows), "texts": sorted({json.loads(r[0])["text"] for r in rows})[:2], "mode": mode,
                  "flushed": flushed}))
"""


def test_the_rasa_side_reads_feedback_and_records_events_masked_from_several_writers():
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", RASA_SIDE], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ok"] == ["An answer", "down", "wrong"]
    assert out["refused"] == [None, None, None, None]
    assert out["long"] == 100
    assert out["masked"] == "[email]"
    assert out["rows"] == 20 and out["texts"] == ["mail me at [email]"]
    assert out["mode"] == "wal"
    assert out["flushed"] == [True, True, True]
