"""Two Rasa replicas behind HAProxy (`tandem up --replicas 2`), sharing Redis' tracker and
lock store: customers are served through the balancer, and a replica killed mid-form is
not noticed by the customer."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.core.settings import Settings
from bot.stack import processes as stack_module
from tests.conftest import running_stack
from tests.integration.conversation import SocketClient, email_of, rest, texts, tracker


@pytest.fixture(scope="module")
def replicas(model, tmp_path_factory):
    home = tmp_path_factory.mktemp("replicas-home")
    sources = tmp_path_factory.mktemp("replicas-kb") / "sources"
    with running_stack(Settings().brand, home, sources, rasa_replicas=2, rasa_workers=1) as settings:
        yield settings


def component(stack, name):
    return next(c for c in stack_module.components(stack) if c.name == name)


def test_the_balancer_and_both_replicas_run_and_haproxy_accepts_its_configuration(replicas):
    names = [c.name for c in stack_module.components(replicas)]
    assert names == ["redis", "actions", "rasa", "rasa-2", "balancer"]
    assert all(stack_module.pid_of(component(replicas, name), replicas) for name in names)
    config = replicas.run_dir / "haproxy.cfg"
    check = subprocess.run(
        [stack_module.haproxy_binary(), "-c", "-f", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_conversations_through_the_balancer_lose_nothing(replicas):
    senders = [f"lb-{uuid.uuid4().hex[:8]}" for _ in range(8)]

    def track(sender: str) -> str:
        rest(replicas, sender, "where is my order")
        rest(replicas, sender, "BB-100021")
        return texts(rest(replicas, sender, email_of(replicas, "BB-100021")))

    with ThreadPoolExecutor(max_workers=8) as pool:
        finals = list(pool.map(track, senders))
    assert all("Order BB-100021" in final for final in finals), finals
    for sender in senders:
        assert len([e for e in tracker(replicas, sender)["events"] if e["event"] == "user"]) == 3


def test_a_replica_killed_mid_form_is_not_noticed_by_the_customer(replicas):
    sender = f"lb-kill-{uuid.uuid4().hex[:6]}"
    rest(replicas, sender, "where is my order")
    assert "email" in texts(rest(replicas, sender, "BB-100021"))
    killed = component(replicas, "rasa")
    os.kill(stack_module.pid_of(killed, replicas), signal.SIGKILL)
    started = time.monotonic()
    reply = texts(rest(replicas, sender, email_of(replicas, "BB-100021")))
    assert "Order BB-100021" in reply, reply  # the other replica answered, form and slots kept
    print(f"\nanswered {time.monotonic() - started:.2f} s after the kill")
    deadline = time.monotonic() + killed.start_timeout
    while not killed.healthy() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert killed.healthy()  # its supervisor brought it back


def test_socketio_through_the_balancer_goes_on_after_its_replica_dies(replicas):
    with SocketClient(replicas, headers={"Origin": replicas.actions_url}) as client:
        assert "order number" in texts(client.say("where is my order"))
        token = client.session_id
    for name in ("rasa", "rasa-2"):  # whichever held it: kill both, one after the other
        stack_module.kill_and_wait_for_restart(component(replicas, name), replicas)
    with SocketClient(replicas, session_id=token, headers={"Origin": replicas.actions_url}) as client:
        assert client.session_id == token
        assert "email" in texts(client.say("BB-100021"))


def test_with_every_replica_down_a_rest_client_gets_the_polite_reply(replicas):
    for name in ("rasa", "rasa-2"):
        stack_module.stop(component(replicas, name), replicas)
    try:
        time.sleep(7)  # the balancer's health checks see them go (2 s apart, 3 failures)
        reply = requests.post(
            f"{replicas.rasa_url}/webhooks/rest/webhook",
            json={"sender": "lb-down", "message": "hi"},
            timeout=10,
        )
        assert reply.status_code == 503
        assert "having trouble" in reply.json()[0]["text"]
    finally:
        stack_module.up(replicas, only={"rasa", "rasa-2"})
    assert texts(rest(replicas, "lb-down", "hi"))
