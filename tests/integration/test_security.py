"""Regression tests of the security findings, on the real stack (issue: one request takes
the bot down; a session id unlocks a verified order). Each test replays the attack."""

from __future__ import annotations

import queue
import time
import uuid
from pathlib import Path

import pytest
import requests
import socketio

from bot.stack import processes as stack_module
from tests.integration.conversation import SocketClient, email_of, rest, texts, tracker

pytestmark = pytest.mark.usefixtures("stack")


def rasa_memory_kb(stack) -> int:
    """Resident memory of the Rasa server process (kB)."""
    rasa = next(c for c in stack_module.components(stack) if c.name == "rasa")
    pid = stack_module.read_pid(rasa.pid_file(stack))
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def user_texts(stack, sender: str) -> list[str]:
    return [e.get("text") or "" for e in tracker(stack, sender)["events"] if e["event"] == "user"]


def post(stack, body=None, **kwargs) -> requests.Response:
    return requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=30, **kwargs)


# ---- one request cannot take the assistant down --------------------------------------------


@pytest.mark.parametrize("size", [2_001, 100_000, 900_000], ids=["just-over", "100KB", "900KB"])
def test_an_oversized_rest_message_is_answered_at_once_and_never_read(stack, size):
    sender = f"big-{uuid.uuid4().hex[:8]}"
    before = rasa_memory_kb(stack)
    started = time.monotonic()
    reply = post(stack, {"sender": sender, "message": "where is my order " + "x" * size})
    elapsed = time.monotonic() - started
    assert reply.status_code == 200 and elapsed < 1.0, (reply.status_code, elapsed)
    assert "too long" in texts(reply.json())
    assert rasa_memory_kb(stack) - before < 50_000  # kB: nothing was parsed
    assert user_texts(stack, sender) == []  # nothing was stored
    assert "order number" in texts(rest(stack, sender, "where is my order"))  # and the chat goes on


def test_a_body_over_a_megabyte_is_refused_before_it_is_read(stack):
    started = time.monotonic()
    reply = post(stack, {"sender": "huge", "message": "x" * 2_000_000})
    assert reply.status_code == 413 and time.monotonic() - started < 1.0
    assert requests.get(f"{stack.rasa_url}/", timeout=5).ok


def test_an_oversized_socket_message_is_answered_at_once(stack):
    with SocketClient(stack) as client:
        started = time.monotonic()
        reply = client.say("y" * 5_000, timeout=1.0)
        assert time.monotonic() - started < 2.0  # the reply, then the 1 s wait for more
        assert "too long" in texts(reply)
        assert user_texts(stack, client.conversation_id) == []
        assert "order number" in texts(client.say("where is my order"))


def test_a_socket_frame_over_the_limit_closes_that_socket_only(stack):
    before = rasa_memory_kb(stack)
    with SocketClient(stack) as client:
        client.sio.emit("user_uttered", {"message": "z" * 300_000, "session_id": client.session_id})
        deadline = time.monotonic() + 5
        while client.sio.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not client.sio.connected
    assert rasa_memory_kb(stack) - before < 50_000
    with SocketClient(stack) as client:  # everyone else goes on
        assert "order number" in texts(client.say("where is my order"))


# ---- a session id is not a key ------------------------------------------------------------


def test_a_stolen_conversation_id_neither_receives_nor_sends(stack):
    with SocketClient(stack) as customer:
        assert "order number" in texts(customer.say("where is my order?"))
        stolen = customer.conversation_id  # what a log, a tracker or the handoff list shows
        with SocketClient(stack, session_id=stolen) as attacker:
            # asking for the conversation by its id gets a new, empty one
            assert attacker.conversation_id != stolen
            for forged in (stolen, f"{stolen}.forged", customer.session_id.replace(stolen, "0" * 32)):
                attacker.sio.emit("user_uttered", {"message": "BB-100021", "session_id": forged})
                assert attacker.refused.get(timeout=5)
            assert "email" in texts(customer.say("BB-100021"))  # the customer's form is untouched
            with pytest.raises(queue.Empty):
                attacker.replies.get(timeout=1)  # and none of its replies reached the attacker
        assert user_texts(stack, stolen) == ["where is my order?", "BB-100021"]


def test_a_socket_that_skipped_the_session_request_cannot_send(stack):
    with SocketClient(stack) as customer:
        raw = socketio.Client(reconnection=False)
        refused: queue.Queue = queue.Queue()
        raw.on("session_refused", refused.put)
        raw.connect(stack.rasa_url, socketio_path="/socket.io", transports=["websocket"], wait_timeout=10)
        try:
            raw.emit("user_uttered", {"message": "hello", "session_id": customer.session_id})
            assert refused.get(timeout=5)
        finally:
            raw.disconnect()
        assert user_texts(stack, customer.conversation_id) == []


def test_the_same_token_continues_the_conversation(stack):
    with SocketClient(stack) as client:
        client.say("where is my order?")
        token = client.session_id
    with SocketClient(stack, session_id=token) as again:
        assert again.session_id == token
        assert "email" in texts(again.say("BB-100021"))


def test_a_finished_flow_leaves_no_verified_order_behind(stack):
    sender = f"resume-{uuid.uuid4().hex[:8]}"
    rest(stack, sender, "where is my order")
    rest(stack, sender, "BB-100021")
    assert "BB-100021" in texts(rest(stack, sender, email_of(stack, "BB-100021")))
    # whoever uses the conversation next must prove the order again
    asked = texts(rest(stack, sender, "I want to cancel my order"))
    assert "order number" in asked and "Shall I cancel" not in asked
    assert "email" in texts(rest(stack, sender, "BB-100021"))
    slots = tracker(stack, sender)["slots"]
    assert slots["email"] is None


def test_an_abandoned_form_leaves_no_verified_order_for_the_next_flow(stack):
    sender = f"abandon-{uuid.uuid4().hex[:8]}"
    rest(stack, sender, "I want to cancel my order")
    rest(stack, sender, "BB-100010")
    assert "Shall I cancel" in texts(rest(stack, sender, email_of(stack, "BB-100010")))
    rest(stack, sender, "never mind")
    asked = texts(rest(stack, sender, "I need to change the address on my order"))
    assert "order number" in asked, asked
    assert tracker(stack, sender)["slots"]["email"] is None


def test_a_verified_order_left_idle_is_asked_for_again(stack):
    sender = f"idle-{uuid.uuid4().hex[:8]}"
    rest(stack, sender, "I want to cancel my order")
    rest(stack, sender, "BB-100010")
    assert "Shall I cancel" in texts(rest(stack, sender, email_of(stack, "BB-100010")))
    # 20 minutes pass: the conversation's last event is that old (Rasa's API appends it)
    quiet = {
        "event": "slot",
        "name": "requested_slot",
        "value": "confirm_cancel",
        "timestamp": time.time() - 1200,
    }
    appended = requests.post(
        f"{stack.rasa_url}/conversations/{sender}/tracker/events",
        params={"token": stack.rasa_token},
        json=quiet,
        timeout=30,
    )
    assert appended.ok, appended.text
    asked = texts(rest(stack, sender, "yes"))
    assert "order number" in asked and "is cancelled" not in asked, asked
    assert tracker(stack, sender)["slots"]["email"] is None


def test_there_is_no_shared_default_conversation(stack):
    reply = post(stack, {"message": "BB-100021"})
    assert reply.status_code == 400 and "sender" in reply.json()["error"]
    assert post(stack, {"sender": "", "message": "hi"}).status_code == 400
    assert user_texts(stack, "default") == []


@pytest.mark.parametrize(
    "body",
    [
        {"sender": "x", "message": 42},
        {"sender": 7, "message": "hi"},
        ["hi"],
        "hi",
        {"sender": "x", "message": "hi", "metadata": "{"},
    ],
    ids=["number-message", "number-sender", "list", "string", "bad-metadata"],
)
def test_malformed_rest_input_gets_a_clear_400(stack, body):
    reply = post(stack, body)
    assert reply.status_code == 400 and reply.json()["error"]


def test_malformed_socket_payloads_get_a_reply_not_silence(stack):
    with SocketClient(stack) as client:
        client.sio.emit("user_uttered", {"message": 42, "session_id": client.session_id})
        assert "could not read" in texts([client.replies.get(timeout=5)])
        client.sio.emit("user_uttered", "just a string")
        assert "could not read" in texts([client.replies.get(timeout=5)])
        client.sio.emit("user_uttered", {"message": "hi"})  # no session id
        assert client.refused.get(timeout=5)
        client.sio.emit(
            "user_uttered",
            {"message": "where is my order", "session_id": client.session_id, "metadata": "{not json"},
        )
        assert "order number" in texts(client.listen())


def test_only_the_widget_pages_origin_may_call_rasa_from_a_browser(stack):
    evil = {"Origin": "https://evil.example"}
    reply = requests.options(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        headers={**evil, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "https://evil.example" not in reply.headers.get("Access-Control-Allow-Origin", "")
    assert reply.headers.get("Access-Control-Allow-Origin") != "*"
    # long polling, as a browser starts: the websocket client adds an Origin of its own
    with pytest.raises(socketio.exceptions.ConnectionError):
        with SocketClient(stack, headers=evil, transports=("polling",)):
            pass
    with SocketClient(stack, headers={"Origin": stack.actions_url}, transports=("polling",)) as client:
        assert "order number" in texts(client.say("where is my order"))


def test_no_traceback_was_logged(stack):
    """Last in this file: every refused input above was answered and warned about, not crashed on."""
    for name in ("rasa", "actions"):
        log = (stack.logs_dir / f"{name}.log").read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
