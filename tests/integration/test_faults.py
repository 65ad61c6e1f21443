"""Faults of the action server and Redis on the real stack: never silence, never a dead
conversation, and a health check that tells the truth (bot/rasa_side/faults.py, health.py).

Before: while the action server was down every reply was an empty 200 (responses are
rendered there), and a question asked during the outage tripped Rasa's circuit breaker, so
every later message of that conversation got an empty reply, also after the server was back."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import requests

from bot.core.settings import ROOT
from bot.stack import processes as stack_module
from tests.conftest import free_port
from tests.integration.conversation import SocketClient, email_of, rest, texts

TROUBLE = "having trouble"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def component(stack, name: str):
    return next(c for c in stack_module.components(stack) if c.name == name)


def health(stack) -> tuple[int, dict]:
    reply = requests.get(f"{stack.rasa_url}/webhooks/rest/health", timeout=10)
    return reply.status_code, reply.json()


def timed(stack, sender: str, text: str) -> tuple[str, float]:
    started = time.monotonic()
    reply = texts(rest(stack, sender, text))
    return reply, time.monotonic() - started


def test_the_health_check_is_200_with_every_part_up(stack):
    assert health(stack) == (200, {"status": "ok", "model": "loaded", "redis": "ok", "actions": "ok"})


def test_while_the_action_server_is_down_every_message_is_answered_and_no_conversation_dies(stack):
    in_form, asking = f"fault-form-{uuid.uuid4().hex[:6]}", f"fault-ask-{uuid.uuid4().hex[:6]}"
    assert "order number" in texts(rest(stack, in_form, "where is my order"))
    actions = component(stack, "actions")
    with SocketClient(stack) as client:
        assert stack_module.stop(actions, stack)  # its supervisor keeps it stopped
        try:
            for sender, text in ((in_form, "BB-100021"), (asking, "how long is a gift card valid?"),
                                 (asking, "where is my order")):  # fmt: skip
                reply, seconds = timed(stack, sender, text)
                assert TROUBLE in reply and seconds < 2.0, (text, reply, seconds)
            assert TROUBLE in texts(client.say("where is my order", timeout=2.0))
            # a scripted reply is rendered in Rasa (bot/rasa_side/nlg.py): no call, no trouble
            greeting = texts(rest(stack, f"fault-hi-{uuid.uuid4().hex[:6]}", "hello"))
            assert greeting.startswith("Hi") and TROUBLE not in greeting, greeting
            status, parts = health(stack)
            assert status == 503 and parts["actions"] == "unreachable", parts
        finally:
            stack_module.up(stack, only={"actions"})
        # the socket's conversation goes on too, on the same connection
        assert "order number" in texts(client.say("where is my order"))
    assert health(stack)[0] == 200
    # the form kept its place and slots: the order number the outage refused is asked for still
    assert "email" in texts(rest(stack, in_form, "BB-100021"))
    assert "Order BB-100021" in texts(rest(stack, in_form, email_of(stack, "BB-100021")))
    # the conversation whose question failed was not left behind a tripped circuit breaker
    answer = texts(rest(stack, asking, "how long is a gift card valid?"))
    assert answer and TROUBLE not in answer, answer
    assert "order number" in texts(rest(stack, asking, "where is my order"))


def test_an_action_server_that_does_not_answer_gets_a_polite_reply_after_the_timeout(stack):
    """A hung action server (SIGSTOP): the turn ends after TANDEM_ACTION_TIMEOUT (20 s)
    with the polite reply; once it answers again, the conversation goes on."""
    sender = f"fault-slow-{uuid.uuid4().hex[:6]}"
    assert "order number" in texts(rest(stack, sender, "where is my order"))
    pid = stack_module.pid_of(component(stack, "actions"), stack)
    os.kill(pid, signal.SIGSTOP)
    try:
        reply, seconds = timed(stack, sender, "BB-100021")
        assert TROUBLE in reply and seconds < 30, (reply, seconds)
        assert health(stack)[1]["actions"] == "unreachable"
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "email" in texts(rest(stack, sender, "BB-100021"))


def test_while_the_knowledge_store_is_down_questions_get_the_polite_reply_and_flows_go_on(kb_stack):
    """The action server with its knowledge store a Qdrant server that does not answer
    (QDRANT_URL: nothing listens there): a question is neither answered nor declined but
    gets "having trouble" at once, scripted flows go on, the knowledge health check says
    so; with the store back, the same conversation's question is answered."""
    actions = component(kb_stack, "actions")
    asking, ordering = f"fault-kb-{uuid.uuid4().hex[:6]}", f"fault-kb-order-{uuid.uuid4().hex[:6]}"
    question = "how do I set up the ridge tent?"  # only the documents answer it
    unreachable = {"QDRANT_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    with stack_module.run_apart(actions, kb_stack, unreachable):
        # its start-up finished (it loads the sentence model: the gate's signals need no store)
        knowledge = requests.get(f"{kb_stack.actions_url}/health/knowledge", timeout=60)
        assert knowledge.status_code == 503 and knowledge.json() == {"knowledge_store": "unavailable"}
        texts(rest(kb_stack, f"fault-kb-first-{uuid.uuid4().hex[:6]}", question))
        for text in (question, "what's the capital of peru"):  # an answer, and a decline
            reply, seconds = timed(kb_stack, asking, text)
            assert TROUBLE in reply and seconds < 2.0, (text, reply, seconds)
        assert "order number" in texts(rest(kb_stack, ordering, "where is my order"))
        assert health(kb_stack)[0] == 200  # Rasa serves the flows meanwhile
    assert requests.get(f"{kb_stack.actions_url}/health/knowledge", timeout=30).status_code == 200
    routes = [(m.get("custom") or {}).get("route") for m in rest(kb_stack, asking, question)]
    assert "knowledge" in routes, routes
    assert "email" in texts(rest(kb_stack, ordering, "BB-100021"))  # the form went on through it


def test_the_health_check_says_when_redis_is_down(stack):
    redis_component = component(stack, "redis")
    assert stack_module.stop(redis_component, stack)
    try:
        status, parts = health(stack)
        assert status == 503 and parts["redis"] == "unreachable", parts
    finally:
        stack_module.up(stack, only={"redis"})
    assert health(stack)[0] == 200


def test_only_failed_calls_and_timeouts_stop_a_turn_not_bugs():
    """In the Rasa venv (aiohttp): a refused connection under Rasa's own error, and a
    timeout, are failed calls; an error of the bot's own code is not (Rasa handles it)."""
    code = """
import asyncio, aiohttp
from bot.rasa_side.faults import failed_call
def chained(outer, cause):
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except Exception as error:
        return error
from rasa.utils.endpoints import ClientResponseError
print(failed_call(chained(RuntimeError("Failed to execute custom action"), aiohttp.ClientConnectionError("refused"))),
      failed_call(asyncio.TimeoutError()), failed_call(chained(KeyError("slot"), ValueError("bad"))),
      failed_call(chained(RuntimeError("Failed to execute custom action"), ClientResponseError(503, "Unavailable", "{}"))))
"""
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.stdout.split() == ["True", "True", "False", "True"], result.stderr[-2000:]


def test_an_unreachable_tracker_store_stops_the_turn_instead_of_forgetting_it():
    """Rasa's FailSafeTrackerStore reads the conversation as new and saves it in memory when
    the store fails; Redis unreachable now stops the turn (the customer is asked to try
    again), while other errors keep Rasa's fallback."""
    code = """
import asyncio, redis
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from bot.rasa_side import faults
faults.install()

class Failing(InMemoryTrackerStore):
    error = None
    async def save(self, tracker):
        raise self.error
    async def retrieve(self, sender_id):
        raise self.error

async def main():
    out = []
    for error in (redis.ConnectionError("refused"), redis.BusyLoadingError("loading"), ValueError("corrupt")):
        primary = Failing(Domain.empty())
        primary.error = error
        store = FailSafeTrackerStore(primary)
        for call in (store.save(DialogueStateTracker("s", [])), store.retrieve("s")):
            try:
                await call
                out.append("fallback")
            except faults.TrackerStoreUnavailable:
                out.append("stopped")
    print(" ".join(out))
asyncio.run(main())
"""
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.stdout.split() == ["stopped"] * 4 + ["fallback"] * 2, result.stderr[-2000:]
