"""Fuzzing the customer-facing inputs (REST and socket.io) of the real stack with
Hypothesis: every input gets an answer or a 4xx within its time limit, the stack stays
healthy, and nothing is logged as a traceback."""

from __future__ import annotations

import queue
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conversation import SocketClient

pytestmark = pytest.mark.usefixtures("stack")

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same inputs in every run: CI stays reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TURN_LIMIT = 30.0  # seconds: a real turn on the 2-core CI machine, with room

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
texts_to_send = (
    st.text(max_size=300)
    | st.text(min_size=1990, max_size=2100)
    | st.sampled_from(
        ["", " ", "\u0000", "/track_order", '/inform{"email": 1}', "{{x}}", "%s%n", "<script>", "BB-100021"]
    )
)
rest_bodies = st.one_of(
    st.fixed_dictionaries(
        {"sender": st.text(min_size=1, max_size=40) | scalars, "message": texts_to_send | scalars},
        optional={"metadata": json_values},
    ),
    json_values,
)


def healthy(stack) -> bool:
    return requests.get(f"{stack.rasa_url}/", timeout=5).ok


@FUZZ
@given(body=rest_bodies)
def test_rest_answers_every_body_or_refuses_it(stack, body):
    started = time.monotonic()
    reply = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=TURN_LIMIT)
    assert time.monotonic() - started < TURN_LIMIT
    assert reply.status_code == 200 or 400 <= reply.status_code < 500, (body, reply.status_code)
    if reply.status_code == 200:
        assert isinstance(reply.json(), list)
    else:
        assert reply.json()["error"]


@FUZZ
@given(raw=st.binary(max_size=200))
def test_rest_refuses_bytes_that_are_not_json(stack, raw):
    reply = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=TURN_LIMIT,
    )
    assert reply.status_code == 200 or 400 <= reply.status_code < 500


@pytest.fixture(scope="module")
def socket_client(stack):
    with SocketClient(stack) as client:
        yield client


@FUZZ
@given(
    payload=json_values
    | st.fixed_dictionaries({"message": texts_to_send | scalars}, optional={"metadata": json_values})
)
def test_socket_answers_every_payload(stack, socket_client, payload):
    """Anything sent as a message gets a reply, a refusal, or (a message too big for a
    frame) a closed socket; never silence with a traceback behind it."""
    client = socket_client
    # a new conversation each time: two failed turns in a row hand one to a person, and
    # then the bot stays quiet on purpose
    client.sio.emit("session_request", {"session_id": None})
    client.session_id = client.confirmed.get(timeout=10)["session_id"]
    if isinstance(payload, dict) and "message" in payload:
        payload = {**payload, "session_id": client.session_id}
    for waiting in (client.replies, client.refused):
        while not waiting.empty():
            waiting.get_nowait()
    client.sio.emit("user_uttered", payload)
    deadline = time.monotonic() + TURN_LIMIT
    while time.monotonic() < deadline:
        if not client.replies.empty() or not client.refused.empty():
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"no answer to {payload!r:.200}")
    time.sleep(0.3)  # the rest of this turn's replies, so the next example starts clean


@FUZZ
@given(payload=json_values)
def test_session_requests_of_any_shape_get_a_session(stack, socket_client, payload):
    confirmed: queue.Queue = socket_client.confirmed
    socket_client.sio.emit("session_request", payload)
    session = confirmed.get(timeout=10)
    assert session["session_id"].count(".") == 1
    socket_client.session_id = session["session_id"]  # the socket now belongs to that one


def test_the_stack_is_healthy_and_logged_no_traceback_after_fuzzing(stack):
    assert healthy(stack)
    for name in ("rasa", "actions"):
        log = (stack.logs_dir / f"{name}.log").read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
