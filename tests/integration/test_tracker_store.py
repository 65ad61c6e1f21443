"""The tracker store's save (bot/rasa_side/tracker_store.py) against Rasa's own, in Rasa's venv
on a real Redis: the same events reach the event broker and the same conversation is stored,
for a new conversation, a growing one, one with earlier sessions, and one another writer
changed in between (the case Rasa's merge is for)."""

from __future__ import annotations

import json
import subprocess

from bot.core.settings import ROOT, Settings

RASA_PYTHON = Settings().rasa_venv / "bin" / "python"

SCRIPT = r"""
import asyncio, json, sys
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from bot.rasa_side.tracker_store import PrivateRedisTrackerStore, last_session_length

port = int(sys.argv[1])
domain = Domain.from_dict({"slots": {"email": {"type": "text", "mappings": [{"type": "custom"}]}}})


class Broker:
    def __init__(self):
        self.published = []

    def publish(self, event):
        self.published.append(event)


class RasasWay(PrivateRedisTrackerStore):
    # Rasa's own save and merge, with this project's masking
    save = RedisTrackerStore.save
    _merge_trackers = staticmethod(RedisTrackerStore._merge_trackers)


def stores():
    made = {}
    for name, cls in (("ours", PrivateRedisTrackerStore), ("rasa", RasasWay)):
        store = cls(domain, host="127.0.0.1", port=port, key_prefix=name)
        store.event_broker = Broker()
        made[name] = store
    return made


clock = [1000.0]
def at(event):
    clock[0] += 1
    event.timestamp = clock[0]
    return event


def session(texts):
    events = [at(ActionExecuted("action_session_start")), at(SessionStarted()), at(ActionExecuted("action_listen"))]
    for text in texts:
        events += [at(UserUttered(text)), at(BotUttered(f"re: {text}")), at(ActionExecuted("action_listen"))]
    return events


async def turn(store, sender, new_events):
    tracker = await store.retrieve(sender) or store.init_tracker(sender)
    for event in new_events:
        tracker.update(event)
    await store.save(tracker)


async def main():
    made = stores()
    steps = [
        ("new", "s1", session(["hello"])),
        ("growing", "s1", [at(UserUttered("my email is ann@example.com")), at(SlotSet("email", "ann@example.com"))]),
        ("growing", "s1", [at(SlotSet("email", "bob@example.com")), at(BotUttered("thanks"))]),
        ("second session", "s1", session(["back again"])),
        ("in the second session", "s1", [at(UserUttered("where is my order?"))]),
    ]
    out = {"steps": []}
    for label, sender, events in steps:
        for store in made.values():
            await turn(store, sender, [e.__class__.from_parameters(e.as_dict()) for e in events])
        out["steps"].append(label)
    # another writer saved this conversation between our read and our save
    for store in made.values():
        tracker = await store.retrieve("s1")
        other = await store.retrieve("s1")
        other.update(at(UserUttered("from elsewhere")))
        await store.save(other)
        tracker.update(at(UserUttered("from here")))
        await store.save(tracker)
        clock[0] -= 2
    clock[0] += 2
    for name, store in made.items():
        out[name] = {
            "stored": json.loads(store.red.get(store.key_prefix + "s1")),
            "published": store.event_broker.published,
        }
    full = await made["ours"].retrieve_full_tracker("s1")
    out["last_session_length"] = last_session_length(full)
    out["retrieved_length"] = len((await made["ours"].retrieve("s1")).events)
    out["no_conversation"] = last_session_length(None)
    print(json.dumps(out, default=str))

asyncio.run(main())
"""


def test_saving_sends_and_stores_what_rasas_own_save_does(redis_port):
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT, str(redis_port)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    ours, rasas = out["ours"], out["rasa"]
    assert ours["published"] == rasas["published"]
    assert ours["stored"] == rasas["stored"]
    texts = [event.get("text") for event in ours["stored"]["events"] if event["event"] == "user"]
    # both sessions kept, the other writer's message merged in, the email masked
    assert (
        texts[0] == "hello" and "back again" in texts and "from elsewhere" in texts and "from here" in texts
    )
    assert "ann@example.com" not in json.dumps(ours["stored"])
    # each event published once, the other writer's too
    published = [event.get("text") for event in ours["published"] if event["event"] == "user"]
    assert published.count("hello") == 1 and published.count("from elsewhere") == 1
    assert out["last_session_length"] == out["retrieved_length"] < len(ours["stored"]["events"])
    assert out["no_conversation"] == 0
