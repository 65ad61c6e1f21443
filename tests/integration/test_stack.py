"""The real stack: Redis, the action server and the Rasa server, started by `tandem`'s own
code on free ports. Flows over REST and socket.io, a Rasa restart mid-conversation, and
bad input."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.core.orders.sqlite import SQLiteOrders
from bot.core.settings import ROOT
from bot.stack import processes as stack_module
from bot.stack.retention import redis_for
from tests.integration.conversation import SocketClient, email_of, rest, texts, tracker


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (from /proc/net/tcp)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_status_reports_every_component_up_on_loopback_only(stack):
    env = {**os.environ, **stack.env(), "TANDEM_MODELS": str(ROOT / "models")}
    result = subprocess.run(
        [str(ROOT / ".venv/bin/tandem"), "status", "--json"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert {c["name"]: c["state"] for c in report["components"]} == {
        "redis": "up",
        "actions": "up",
        "rasa": "up",
    }
    for port in (stack.redis_port, stack.actions_port, stack.rasa_port):
        assert listening_addresses(port) == {"0100007F"}, f"port {port} listens beyond 127.0.0.1"


def test_http_api_requires_the_token(stack):
    assert requests.get(f"{stack.rasa_url}/status", timeout=5).status_code == 401
    assert requests.get(f"{stack.rasa_url}/status", params={"token": stack.rasa_token}, timeout=5).ok


def test_cancel_flow_over_rest_changes_the_order_and_lives_in_redis(stack):
    sender = f"rest-{uuid.uuid4().hex[:8]}"
    assert "order number" in texts(rest(stack, sender, "I want to cancel my order"))
    assert "email" in texts(rest(stack, sender, "BB-100013"))
    confirm = rest(stack, sender, email_of(stack, "BB-100013"))
    assert "Shall I cancel order BB-100013" in texts(confirm)
    assert [b["payload"] for b in confirm[0]["buttons"]] == ["/affirm", "/deny"]
    assert "is cancelled" in texts(rest(stack, sender, "yes"))
    assert SQLiteOrders(stack.orders_db_path).find("BB-100013").status == "cancelled"
    stored = redis_for(stack).get(f"tandem:tracker:{sender}")
    assert stored is not None and "BB-100013" in stored


def test_track_flow_over_socketio_survives_a_reconnect(stack):
    with SocketClient(stack) as client:
        assert "order number" in texts(client.say("where is my order?"))
        assert "email" in texts(client.say("BB-100021"))
        session = client.session_id
    # the page reloads: a new connection with the same session id continues the form
    with SocketClient(stack, session_id=session) as client:
        reply = texts(client.say(email_of(stack, "BB-100021")))
    assert "Order BB-100021" in reply and "shipped" in reply


def test_return_flow_over_socketio_with_buttons(stack):
    with SocketClient(stack) as client:
        client.say("I want to return an item")
        client.say("BB-100035")
        ask_item = client.say(email_of(stack, "BB-100035"))
        buttons = [b for m in ask_item for b in m.get("quick_replies", m.get("buttons", []))]
        if len(buttons) > 1:  # several items: pick the first by its button payload
            ask_reason = client.say(buttons[0]["payload"])
        else:
            ask_reason = ask_item
        assert "Why are you returning it?" in texts(ask_reason)
        done = texts(client.say("damaged"))
    assert "Your return RMA-" in done


def test_conversation_continues_after_rasa_restarts(stack):
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    rest(stack, sender, "I need to change the address on my order")
    assert "email" in texts(rest(stack, sender, "BB-100014"))
    rasa = next(c for c in stack_module.components(stack) if c.name == "rasa")
    assert stack_module.stop(rasa, stack)
    stack_module.up(stack, only={"rasa"})
    # the form and its slots come back from Redis
    reply = texts(rest(stack, sender, email_of(stack, "BB-100014")))
    assert "new delivery address" in reply


def test_handoff_pauses_the_bot_until_handed_back(stack):
    sender = f"handoff-{uuid.uuid4().hex[:8]}"
    first = rest(stack, sender, "talk to a human")
    assert {"handoff": True, "reason": "requested"} in [m.get("custom") for m in first]
    assert rest(stack, sender, "hello? anyone?") == []  # the bot stands down
    env = {**os.environ, **stack.env()}
    result = subprocess.run(
        [str(ROOT / ".venv/bin/tandem"), "handoff", "back", sender], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Brightbay's assistant" in texts(rest(stack, sender, "hello"))


def test_two_failed_turns_in_a_row_hand_over(stack):
    sender = f"fail-{uuid.uuid4().hex[:8]}"
    assert "not something I can help with" in texts(rest(stack, sender, "what's the capital of peru"))
    second = rest(stack, sender, "how is glue made")
    assert "passing you to a member of our support team" in texts(second)
    assert rest(stack, sender, "hello") == []
    assert tracker(stack, sender)["paused"] is True


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "x" * 20_000,
        "🙂📦 where is my 📦?",
        "<script>alert(1)</script>",
        "\u0000\u202e odd \ufeff",
        "SELECT * FROM orders; --",
    ],
    ids=["empty", "blank", "20KB", "emoji", "html", "control-chars", "sql"],
)
def test_bad_input_gets_a_sane_reply(stack, message):
    response = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        json={"sender": f"bad-{uuid.uuid4().hex[:6]}", "message": message},
        timeout=60,
    )
    assert response.status_code == 200
    for reply in response.json():
        assert set(reply) <= {"recipient_id", "text", "buttons", "custom", "image", "attachment"}
        assert "Traceback" not in reply.get("text", "")
    assert requests.get(f"{stack.rasa_url}/", timeout=5).ok


def test_invalid_utf8_and_malformed_json_are_refused_cleanly(stack):
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    headers = {"Content-Type": "application/json"}
    for body in (b'{"sender": "x", "message": "\xff\xfe broken"}', b"{not json", b'{"message": 42}'):
        response = requests.post(url, data=body, headers=headers, timeout=30)
        assert response.status_code in (200, 400), (body, response.status_code, response.text[:200])
    assert requests.get(f"{stack.rasa_url}/", timeout=5).ok


@pytest.mark.parametrize("sender", ["a" * 300, "../../etc/passwd", "ünïcødé-🙂", "spaces in id"])
def test_unusual_sender_ids_are_just_conversations(stack, sender):
    assert "order number" in texts(rest(stack, sender, "track my order"))
    assert "email" in texts(rest(stack, sender, "BB-100003"))  # the same conversation goes on
    store = redis_for(stack)
    assert store.exists(f"tandem:tracker:{sender}")


def test_many_messages_at_once_on_one_conversation(stack):
    """The atomic lock store keeps one writer per conversation across the Rasa server's
    worker processes: none is lost, answered empty or stored twice."""
    rasa = next(c for c in stack_module.components(stack) if c.name == "rasa")
    workers = subprocess.run(
        ["pgrep", "-P", str(stack_module.pid_of(rasa, stack))], capture_output=True, text=True
    )
    assert len(workers.stdout.split()) == stack.rasa_workers >= 2, workers.stdout
    sender = f"burst-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(
            pool.map(lambda i: rest(stack, sender, "which payment methods do you accept?"), range(20))
        )
    odd = [texts(r) for r in replies if "Visa" not in texts(r)]
    assert not odd, odd
    users = [e for e in tracker(stack, sender)["events"] if e["event"] == "user"]
    assert len(users) == 20


def test_knowledge_refresh_goes_through_the_running_action_server(stack):
    url = f"{stack.actions_url}/kb/refresh"
    assert requests.post(url, json={}, timeout=30).status_code == 401
    env = {**os.environ, **stack.env()}
    tandem = str(ROOT / ".venv/bin/tandem")
    result = subprocess.run(
        [tandem, "kb", "refresh", "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["problems"] == [] and len(report["added"]) + len(report["unchanged"]) >= 2
    found = subprocess.run(
        [tandem, "kb", "search", "how long do I have to return an item", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert json.loads(found.stdout)[0]["metadata"]["source"] == "policies/returns-and-refunds.md"


def test_turns_keep_working_during_a_knowledge_rebuild(stack):
    headers = {"Authorization": f"Bearer {stack.rasa_token}"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        rebuild = pool.submit(
            requests.post,
            f"{stack.actions_url}/kb/refresh",
            json={"rebuild": True},
            headers=headers,
            timeout=300,
        )
        replies = [rest(stack, f"during-{i}", "which payment methods do you accept?") for i in range(10)]
        assert rebuild.result().ok
    assert all("Visa" in texts(r) for r in replies)


@pytest.mark.parametrize("name", ["redis", "actions", "rasa"])
def test_the_supervisor_restarts_a_component_killed_mid_conversation(stack, name):
    """kill -9 of any component: its supervisor starts it again, and the form goes on."""
    sender = f"crash-{name}-{uuid.uuid4().hex[:6]}"
    rest(stack, sender, "where is my order")
    assert "email" in texts(rest(stack, sender, "BB-100021"))
    component = next(c for c in stack_module.components(stack) if c.name == name)
    seconds = stack_module.kill_and_wait_for_restart(component, stack)
    assert seconds is not None, f"{name} was not restarted within {component.start_timeout:.0f} s"
    print(f"\n{name} back in {seconds:.1f} s")
    reply = texts(rest(stack, sender, email_of(stack, "BB-100021")))
    assert "Order BB-100021" in reply, reply


def test_while_redis_is_down_every_message_gets_a_polite_reply_at_once(stack):
    """Before: HTTP 200 with an empty reply, and silence over socket.io."""
    redis_component = next(c for c in stack_module.components(stack) if c.name == "redis")
    sender = f"down-{uuid.uuid4().hex[:8]}"
    with SocketClient(stack) as client:
        assert stack_module.stop(redis_component, stack)  # its supervisor keeps it stopped
        try:
            started = time.monotonic()
            reply = texts(rest(stack, sender, "where is my order"))
            assert "having trouble" in reply and time.monotonic() - started < 2.0, reply
            assert "having trouble" in texts(client.say("where is my order", timeout=2.0))
        finally:
            stack_module.up(stack, only={"redis"})
    assert "order number" in texts(rest(stack, sender, "where is my order"))
