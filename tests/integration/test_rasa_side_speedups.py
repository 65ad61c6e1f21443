"""The Rasa process's shortcuts (bot/rasa_side/speedups.py, nlg.py), checked in Rasa's own
venv against what Rasa does without them."""

from __future__ import annotations

import json
import subprocess

from bot.core.settings import ROOT, Settings

RASA_PYTHON = Settings().rasa_venv / "bin" / "python"

SCRIPT = r"""
import asyncio, json
import jsonschema
from jsonschema import ValidationError
import rasa.shared.core.events as events
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from bot.rasa_side import speedups
from bot.rasa_side.nlg import LocalFirstNLG

out = {}
original_resolve = events.Event.resolve_by_type
schema = RemoteAction("x", None).action_response_format_spec()
good = {"events": [{"event": "slot", "name": "email", "value": None}], "responses": []}
bad = {"events": [{"event": "slot", "name": 3}], "responses": "nope"}
try:
    jsonschema.validate(bad, schema)
except ValidationError as error:
    out["original_error"] = error.message

speedups.install()
speedups.install()  # twice is once
checks = []
real_check = jsonschema.validators.validator_for(schema).check_schema
def counting(s):
    checks.append(1)
    return real_check(s)
jsonschema.validators.validator_for(schema).check_schema = staticmethod(counting)
jsonschema.validate(good, RemoteAction("x", None).action_response_format_spec())  # a fresh dict each time
jsonschema.validate(good, RemoteAction("y", None).action_response_format_spec())
try:
    jsonschema.validate(bad, schema)
except ValidationError as error:
    out["cached_error"] = error.message
out["schema_checks"] = len(checks)
try:
    jsonschema.validate(good, {"type": "nonsense"})  # a broken schema is still refused
except jsonschema.SchemaError:
    out["broken_schema_refused"] = True

names = sorted({cls.type_name for cls in __import__("rasa.shared.utils.common", fromlist=["x"]).all_subclasses(events.Event)})
out["same_classes"] = all(events.Event.resolve_by_type(n) is original_resolve(n) for n in names)
out["default"] = events.Event.resolve_by_type("no such event", events.UserUttered).__name__
try:
    events.Event.resolve_by_type("no such event")
except ValueError as error:
    out["unknown"] = str(error)

domain = Domain.from_dict({
    "slots": {"tier": {"type": "text", "mappings": [{"type": "custom"}]}},
    "responses": {
        "utter_two": [{"text": "first {tier}"}, {"text": "second"}],
        "utter_cond": [{"text": "plain"}, {"text": "for gold", "condition": [{"type": "slot", "name": "tier", "value": "Gold"}]}],
        "utter_channel": [{"text": "any"}, {"text": "on rest", "channel": "rest"}],
        "utter_voice": [{"text": "welcome", "metadata": {"rephrase": True}}],
    },
})
nlg = LocalFirstNLG(EndpointConfig("http://127.0.0.1:9/nlg"), None)  # as Rasa makes it: no domain yet
remote = []
async def fake_remote(name, tracker, channel, **kwargs):
    remote.append(name)
    return {"text": "from the action server"}
nlg.remote.generate = fake_remote
nlg.responses = domain.responses  # what Rasa's agent does when it loads a model
tracker = DialogueStateTracker.from_events("s", [events.SlotSet("tier", "gold")], slots=domain.slots)
async def render():
    rendered = {}
    for name, channel in (("utter_two", "rest"), ("utter_cond", "rest"), ("utter_channel", "rest"),
                          ("utter_channel", "socketio"), ("utter_voice", "rest")):
        rendered[f"{name}@{channel}"] = []
        for _ in range(5):
            rendered[f"{name}@{channel}"].append((await nlg.generate(name, tracker, channel))["text"])
    return rendered
out["rendered"] = asyncio.run(render())
out["remote"] = remote
print(json.dumps(out))
"""


def test_cached_validation_event_lookup_and_local_responses_behave_as_rasa_does():
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # the same error for an invalid answer; the schema checked once for equal schemas
    assert out["cached_error"] == out["original_error"]
    assert out["schema_checks"] == 1
    assert out["broken_schema_refused"]
    # every event type resolves to Rasa's own class; unknown names as before
    assert out["same_classes"]
    assert out["default"] == "UserUttered" and "Unknown event name" in out["unknown"]
    # rendered here: the first eligible variation every time, slots filled, Rasa's order
    rendered = out["rendered"]
    assert rendered["utter_two@rest"] == ["first gold"] * 5
    assert rendered["utter_cond@rest"] == ["for gold"] * 5  # a condition met (text without case)
    assert rendered["utter_channel@rest"] == ["on rest"] * 5  # this channel's own variation
    assert rendered["utter_channel@socketio"] == ["any"] * 5
    assert out["remote"] == ["utter_voice"] * 5  # only the rephrased one goes to the action server
    assert rendered["utter_voice@rest"] == ["from the action server"] * 5
