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
        "utter_voice_slot": [{"text": "hello {tier}", "metadata": {"rephrase": True}}],
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
worded = {"welcome": "welcome, in the voice", "hello {tier}": "Certainly! well hello, {tier} member!"}
nlg.rephrased_text = worded.get
out["read_here"] = asyncio.run(nlg.generate("utter_voice", tracker, "rest"))["text"]
out["filled_here"] = asyncio.run(nlg.generate("utter_voice_slot", tracker, "rest"))["text"]
tracker.update(events.BotUttered("Certainly! What's your order number?"))
out["opener_not_repeated"] = asyncio.run(nlg.generate("utter_voice_slot", tracker, "rest"))["text"]
out["remote_after_read"] = list(remote)
# the wordings are read from Redis as one hash, again only after a while; a Redis error keeps them
from bot.rasa_side import shared_redis
class FakeRedis:
    reads, down = 0, False
    def hgetall(self, key):
        self.reads += 1
        if self.down:
            raise ConnectionError("redis is down")
        return {shared_redis.text_digest("welcome").encode(): b"welcome, from redis"}
reader = LocalFirstNLG(EndpointConfig("http://127.0.0.1:9/nlg"), None)
reader._redis, reader._rephrased_key = FakeRedis(), "k"
out["from_redis"] = [reader.rephrased_text("welcome") for _ in range(5)] + [reader.rephrased_text("other")]
out["redis_reads"] = reader._redis.reads
reader._redis.down, reader._read_at = True, float("-inf")
out["redis_down"] = reader.rephrased_text("welcome")
nlg.rephrased_text = lambda text: None
async def refused(name, tracker, channel, **kwargs):
    raise ConnectionError("the action server is down")
nlg.remote.generate = refused
out["action_server_down"] = asyncio.run(nlg.generate("utter_voice", tracker, "rest"))["text"]

# rules: Rasa's search and the narrowed one find the same rules, on rule sets and conversations
# made at random from the same parts (previous actions, intents, loops, slots, starters)
import random
from rasa.core.policies.rule_policy import RulePolicy
rng = random.Random(7)
def step(starter=False):
    state = {}
    if not starter:
        state["prev_action"] = rng.choice([{"action_name": rng.choice(["action_listen", "utter_a", "form_x"])},
                                           {"action_text": "hi"}, {"action_name": "should_not_be_set"}])
    if rng.random() < 0.7:
        state["user"] = rng.choice([{"intent": rng.choice(["greet", "ask", "deny"])}, {"text": "yo"},
                                    {"intent": "should_not_be_set"}])
    if rng.random() < 0.4:
        state["active_loop"] = {"name": rng.choice(["form_x", "should_not_be_set"])}
    if rng.random() < 0.3:
        state["slots"] = {"email": rng.choice([(1.0,), "should_not_be_set"])}
    return state
def steps(n):
    return [step(starter=(i == 0 and rng.random() < 0.3)) for i in range(n)]
policy = RulePolicy.__new__(RulePolicy)
same, found, tried = True, 0, 0
for _ in range(30):
    lookup = {json.dumps(steps(rng.randint(1, 3))): "utter_a" for _ in range(80)}
    rule_states = [json.loads(key) for key in lookup]
    for _ in range(60):
        conversation = rng.choice(rule_states) if rng.random() < 0.6 else steps(rng.randint(1, 4))
        if rng.random() < 0.5:
            conversation = steps(rng.randint(0, 2)) + conversation
        theirs = speedups._original["_get_possible_keys"](policy, lookup, conversation)
        ours = RulePolicy._get_possible_keys(policy, lookup, conversation)
        same = same and theirs == ours
        found += bool(theirs)
        tried += 1
out["rules_same"], out["rules_found"], out["rules_tried"] = same, found, tried
out["rules_narrowed"] = RulePolicy._get_possible_keys is speedups.narrowed_possible_keys
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
    assert out["action_server_down"] == "welcome"  # rendered here as written, not silence
    # rephrased when the voice model loaded: read here, with no call to the action server
    assert out["read_here"] == "welcome, in the voice" and out["remote_after_read"] == out["remote"]
    assert out["filled_here"] == "Certainly! well hello, gold member!"  # its template's wording, filled
    assert out["from_redis"] == ["welcome, from redis"] * 5 + [None] and out["redis_reads"] == 1
    assert out["redis_down"] == "welcome, from redis"  # what was read stays while Redis is down
    # the same added opener as one of the bot's last messages is left out
    assert out["opener_not_repeated"] == "well hello, gold member!"
    # the rule search is narrowed, and finds what Rasa's finds (and finds rules at all)
    assert out["rules_narrowed"] and out["rules_same"], out
    assert out["rules_found"] > out["rules_tried"] / 4, out
