"""Regression tests of the security and privacy findings, on the real stack: one request
took the bot down; a session id unlocked a verified order; personal data sat in clear text
and was kept too long; internal endpoints answered without a token. Each test replays the
attack or the review."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests
import socketio
import sqlalchemy

from bot.core.settings import ROOT
from bot.stack import processes as stack_module
from bot.stack import retention
from bot.stack.retention import redis_for
from tests.integration.conversation import SocketClient, email_of, recorded_events, rest, texts, tracker

pytestmark = pytest.mark.usefixtures("stack")


def rasa_memory_kb(stack) -> int:
    """Resident memory of the Rasa server process (kB)."""
    rasa = next(c for c in stack_module.components(stack) if c.name == "rasa")
    pid = stack_module.pid_of(rasa, stack)
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
    with pytest.raises(socketio.exceptions.ConnectionError):
        with SocketClient(stack, headers=evil):
            pass
    with SocketClient(stack, headers={"Origin": stack.actions_url}) as client:
        assert "order number" in texts(client.say("where is my order"))


def test_long_polling_is_refused_websocket_only(stack):
    """Several Rasa workers (and replicas) share the port: a long-polling session's separate
    requests would reach workers that do not hold it, so only WebSocket is served."""
    with pytest.raises(socketio.exceptions.ConnectionError):
        with SocketClient(stack, headers={"Origin": stack.actions_url}, transports=("polling",)):
            pass


# ---- personal data masked and kept only so long --------------------------------------------

CARD = "4111 1111 1111 1111"
CARD_FORMS = (CARD, CARD.replace(" ", ""), CARD.replace(" ", "-"))


def redis_values(stack) -> str:
    """Every string value in both Redis databases, and every hash, as one text."""
    found = []
    for db in (0, 1):
        store = redis_for(stack, db)
        for key in store.scan_iter("*"):
            kind = store.type(key)
            if kind == "string":
                found.append(store.get(key) or "")
            elif kind == "hash":
                found.append(json.dumps(store.hgetall(key)))
            elif kind == "set":
                found.append(json.dumps(sorted(store.smembers(key))))
    return "\n".join(found)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_typed_card_number_is_never_kept_anywhere(stack):
    sender = f"card-{uuid.uuid4().hex[:8]}"
    warned = texts(rest(stack, sender, f"my card {CARD} cvv 123 was charged twice"))
    assert "hidden the card details" in warned
    rest(stack, sender, f"it was {CARD.replace(' ', '-')}, security code: 456")
    with SocketClient(stack) as client:
        assert "hidden the card details" in texts(client.say(f"card number {CARD.replace(' ', '')}"))
    assert "[card]" in json.dumps(tracker(stack, sender)["events"])
    redis_for(stack).bgrewriteaof()  # whatever Redis writes to disk, now
    time.sleep(1)
    stored = redis_values(stack)
    on_disk = files_under(stack.home)  # the AOF, every log, everything the stack wrote
    for form in CARD_FORMS:
        assert form not in stored
        holding = [path for path, data in on_disk.items() if form.encode() in data]
        assert not holding, (form, holding)
    assert "cvv 123" not in stored and "code: 456" not in stored


def test_an_email_is_kept_only_while_its_flow_runs(stack):
    sender = f"mail-{uuid.uuid4().hex[:8]}"
    email = email_of(stack, "BB-100010")
    rest(stack, sender, "I want to cancel my order")
    rest(stack, sender, "BB-100010")
    assert "Shall I cancel" in texts(rest(stack, sender, f"it's {email}"))
    assert tracker(stack, sender)["slots"]["email"] == email  # the flow needs it now
    rest(stack, sender, "no, keep it")
    stored = redis_for(stack).get(f"tandem:tracker:{sender}")
    assert email not in stored and "[email]" in stored


def test_forgetting_a_customer_removes_them_everywhere(stack):
    sender = f"forget-{uuid.uuid4().hex[:8]}"
    rest(stack, sender, "where is my order")
    rest(stack, sender, "talk to a human")
    env = {**os.environ, **stack.env()}
    tandem = str(ROOT / ".venv/bin/tandem")
    listed = subprocess.run([tandem, "handoff", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert sender in listed.stdout
    result = subprocess.run(
        [tandem, "privacy", "forget", sender, "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["conversations"] == 1 and report["handoffs"] == 1 and report["aof_rewritten"]
    assert report["analytics_events"] > 5  # the event broker's copy of the conversation
    # (not through Rasa's API: asking for a tracker makes a new, empty one)
    assert sender not in redis_values(stack)
    holding = [path for path, data in files_under(stack.home).items() if sender.encode() in data]
    assert not holding, holding


def test_the_retention_sweep_deletes_old_handoffs_and_logs(stack):
    store = redis_for(stack)
    old, recent = f"old-{uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:6]}"
    store.hset(
        "tandem:handoffs",
        mapping={old: f"{int(time.time()) - 40 * 86400} requested", recent: f"{int(time.time())} requested"},
    )
    rotated = stack.logs_dir / "rasa.log.5"  # the supervisor's oldest rotated copy
    rotated.write_text("an old log\n")
    os.utime(rotated, (time.time() - 40 * 86400,) * 2)
    report = retention.sweep(stack, days=30)
    assert report.handoffs >= 1 and rotated.name in report.log_files and report.aof_rewritten
    assert not store.hexists("tandem:handoffs", old) and store.hexists("tandem:handoffs", recent)
    assert not rotated.exists()
    store.hdel("tandem:handoffs", recent)


def test_the_retention_sweep_deletes_analytics_events_past_the_period(stack):
    sender = f"aged-{uuid.uuid4().hex[:6]}"
    rest(stack, sender, "hello")
    assert recorded_events(stack.events_db_url, sender)  # the turn's events are written
    engine = sqlalchemy.create_engine(stack.events_db_url)
    aged = json.dumps(
        {"sender_id": sender, "event": "user", "text": "long ago", "timestamp": time.time() - 40 * 86400}
    )
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"), {"s": sender, "d": aged}
        )
    report = retention.sweep(stack, days=30)
    assert report.analytics_events >= 1
    with engine.connect() as connection:
        kept = [
            row[0]
            for row in connection.execute(
                sqlalchemy.text("SELECT data FROM events WHERE sender_id = :s"), {"s": sender}
            )
        ]
    engine.dispose()
    assert kept and all(json.loads(data)["text"] != "long ago" for data in kept if "text" in json.loads(data))


def test_an_infinite_number_in_a_messages_metadata_leaves_the_analytics_readable(stack):
    """Python reads and writes `Infinity`; SQLite's JSON functions refuse the whole row, and
    the retention sweep failed on it. The broker writes null instead."""
    sender = f"inf-{uuid.uuid4().hex[:6]}"
    response = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": "hello", "metadata": {"x": float("inf")}}),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code in (200, 400), response.text
    engine = sqlalchemy.create_engine(stack.events_db_url)
    with engine.connect() as connection:
        invalid = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM events WHERE NOT json_valid(data)")
        )
        assert invalid.scalar() == 0
    engine.dispose()
    retention.sweep(stack, days=30)  # does not fail


def test_conversations_expire_after_the_brands_retention(stack):
    sender = f"ttl-{uuid.uuid4().hex[:8]}"
    rest(stack, sender, "hello")
    ttl = redis_for(stack).ttl(f"tandem:tracker:{sender}")
    assert 29 * 86400 < ttl <= 30 * 86400


def test_what_the_stack_writes_is_the_owners_alone(stack):
    assert stack.home.stat().st_mode & 0o077 == 0
    for path in [*stack.logs_dir.glob("*.log"), *(stack.home / "redis").rglob("*.aof")]:
        assert path.stat().st_mode & 0o077 == 0, path


# ---- no open doors ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/webhook", "/nlg", "/actions"])
def test_the_action_servers_internal_routes_need_the_token(stack, path):
    url = f"{stack.actions_url}{path}"
    call = requests.get if path == "/actions" else requests.post
    assert call(url, json={}, timeout=10).status_code == 401
    assert call(url, json={}, params={"token": "wrong"}, timeout=10).status_code == 401
    assert call(url, json={}, params={"token": stack.actions_token}, timeout=10).status_code != 401


def test_a_forged_tracker_gets_no_order_from_the_action_server(stack):
    forged = {
        "next_action": "action_track_order",
        "sender_id": "forger",
        "tracker": {
            "sender_id": "forger",
            "slots": {"order_number": "BB-100021"},
            "events": [],
            "latest_message": {},
        },
        "domain": {},
    }
    reply = requests.post(f"{stack.actions_url}/webhook", json=forged, timeout=10)
    assert reply.status_code == 401 and "BB-100021" not in reply.text


def test_no_secret_is_on_a_command_line(stack):
    secrets = [stack.rasa_token, stack.redis_password, stack.actions_token]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        for secret in secrets:
            assert secret not in cmdline, f"process {pid} shows a secret: {cmdline[:200]}"


def test_redis_refuses_a_client_without_the_password(stack):
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=stack.host, port=stack.redis_port).ping()
    assert redis_for(stack).ping()


def test_a_conversation_sending_too_fast_is_slowed_not_served(stack):
    sender = f"flood-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=40) as pool:
        replies = list(pool.map(lambda i: texts(rest(stack, sender, f"hello {i}")), range(45)))
    slowed = [r for r in replies if "faster than I can read" in r]
    assert 10 <= len(slowed) <= 20, len(slowed)
    assert len(user_texts(stack, sender)) == 45 - len(slowed)  # the slowed ones were not kept


def test_no_traceback_was_logged(stack):
    """Last in this file: every refused input above was answered and warned about, not crashed on."""
    for name in ("rasa", "actions"):
        log = (stack.logs_dir / f"{name}.log").read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
