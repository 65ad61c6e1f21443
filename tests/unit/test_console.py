"""The console's parts that need no stack: the evidence pack and its summary, the handoff
webhook (a real HTTP receiver on loopback), the agents' session cookie and names.
(The Rasa side, feedback and the event broker: tests/integration/test_console.py.)"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from actions import console_routes
from bot.console import evidence, handoffs, webhook

EVENTS = [
    {"event": "action", "name": "action_listen", "timestamp": 1.0},
    {"event": "user", "text": "where is my order", "timestamp": 10.0},
    {"event": "bot", "text": "What's your order number?", "timestamp": 10.4, "data": {}},
    {
        "event": "bot",
        "timestamp": 10.5,
        "data": {
            "custom": {"route": "flow", "reason": "NLU is confident", "scores": {"intent_confidence": 0.99}}
        },
    },
    {"event": "user", "text": "BB-100031", "timestamp": 20.0},
    {"event": "bot", "text": "What's the email address you used?", "timestamp": 20.3, "data": {}},
    {"event": "user", "text": "how long is the warranty on a tent?", "timestamp": 30.0},
    {"event": "bot", "text": "Outdoor gear: 3 years from delivery.", "timestamp": 30.6, "data": {}},
    {
        "event": "bot",
        "timestamp": 30.7,
        "data": {
            "custom": {
                "route": "knowledge",
                "reason": "a passage answers",
                "citations": [
                    {"source": "policies/warranty.md", "title": "Warranty", "url": "https://x.example/w"}
                ],
            }
        },
    },
    {"event": "user", "text": "I want a person", "timestamp": 40.0},
    {"event": "bot", "text": "I'm passing you to our team.", "timestamp": 40.2, "data": {}},
    {"event": "bot", "timestamp": 40.3, "data": {"custom": {"handoff": True, "reason": "requested"}}},
    {"event": "pause", "timestamp": 40.4},
    {"event": "bot", "text": "Hi, Sam here.", "timestamp": 50.0, "metadata": {"agent": "Sam"}, "data": {}},
    {"event": "user", "text": "thanks", "timestamp": 55.0},
]


def test_the_transcript_gives_each_bot_message_its_turns_route_and_citations():
    entries, reason = evidence.transcript(EVENTS)
    assert [e.speaker for e in entries] == [
        "customer", "bot", "customer", "bot", "customer", "bot", "customer", "bot", "agent", "customer"
    ]  # fmt: skip
    assert entries[1].route == "flow" and entries[1].scores == {"intent_confidence": 0.99}
    assert entries[3].route is None  # a form's question: the gate did not decide that turn
    assert entries[5].route == "knowledge" and entries[5].citations[0]["source"] == "policies/warranty.md"
    assert entries[8].agent == "Sam" and entries[8].route is None
    assert reason == "requested"


def test_the_summary_says_what_the_customer_wants_what_is_in_hand_and_why_a_person():
    pack = evidence.evidence(
        {"events": EVENTS, "slots": {"order_number": "BB-100031", "requested_slot": "email"}}
    )
    text = pack.summary
    assert 'first wrote "where is my order"' in text and 'last "thanks"' in text
    assert "order number BB-100031" in text
    assert "policies/warranty.md" in text
    assert "the customer asked for a person" in text
    assert "requested_slot" not in pack.slots
    assert (
        evidence.evidence({"events": [], "slots": {}}).summary == "The customer has not written anything yet."
    )


def test_a_new_session_carries_the_slots_but_the_flows_own():
    state = {"slots": {"order_number": "BB-1", "requested_slot": "email", "gate_flow": True, "email": None}}
    assert handoffs.carried_slots(state) == [{"event": "slot", "name": "order_number", "value": "BB-1"}]


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []
    answers: list[int] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(Receiver.answers.pop(0) if Receiver.answers else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.answers = [], []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_the_handoff_webhook_posts_a_signed_masked_payload_and_retries(receiver, monkeypatch):
    events = [*EVENTS, {"event": "user", "text": "my email is jane@example.com", "timestamp": 60.0}]
    Receiver.answers = [503]  # the first try fails: it is sent again
    monkeypatch.setenv("TANDEM_HANDOFF_WEBHOOK", receiver)
    monkeypatch.setenv("TANDEM_HANDOFF_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setattr(webhook.time, "sleep", lambda _: None)
    thread = webhook.notify("conv-1", "requested", events, "http://127.0.0.1:5055/agent/")
    thread.join(10)
    assert len(Receiver.received) == 2
    headers, body = Receiver.received[-1]
    assert headers["X-Tandem-Signature"] == webhook.signature("s3cret", body)
    sent = json.loads(body)
    assert (
        sent["event"] == "handoff" and sent["conversation_id"] == "conv-1" and sent["reason"] == "requested"
    )
    assert sent["last_message"] == "my email is [email]"  # personal data never leaves masked
    assert "jane@example.com" not in body.decode()
    assert sent["transcript"][0] == {
        "speaker": "customer",
        "text": "where is my order",
        "time": 10.0,
        "route": None,
    }
    assert sent["console_url"] == "http://127.0.0.1:5055/agent/"


def test_no_webhook_is_sent_unless_one_is_configured(monkeypatch):
    monkeypatch.delenv("TANDEM_HANDOFF_WEBHOOK", raising=False)
    assert webhook.notify("conv-1", "requested", EVENTS, "") is None


def test_a_webhook_that_never_answers_gives_up_without_raising(monkeypatch):
    monkeypatch.setattr(webhook.time, "sleep", lambda _: None)
    assert webhook.post("http://127.0.0.1:9/closed", {"event": "handoff"}, tries=2) is False


def test_the_agents_cookie_names_its_agent_and_refuses_forgery_and_age(monkeypatch, tmp_path):
    monkeypatch.setenv("TANDEM_AGENT_TOKEN", "team-token")
    cookie = console_routes.session_cookie("Sam", now=1000.0)
    assert console_routes.agent_of(cookie, now=1001.0) == "Sam"
    assert console_routes.agent_of(cookie, now=1000.0 + console_routes.SESSION_SECONDS + 1) is None
    name, expires, signature = cookie.split(".")
    assert console_routes.agent_of(f"{name}.{int(expires) + 999}.{signature}", now=1001.0) is None
    kim = console_routes.session_cookie("Kim", now=1000.0).split(".")[0]
    assert console_routes.agent_of(f"{kim}.{expires}.{signature}", now=1001.0) is None
    for junk in (None, "", "a.b", "a.b.c.d"):
        assert console_routes.agent_of(junk) is None
    monkeypatch.setenv("TANDEM_AGENT_TOKEN", "another-install")
    assert console_routes.agent_of(cookie, now=1001.0) is None  # signed by another token


def test_the_agent_names_the_console_accepts():
    assert console_routes.AGENT_NAME.match("Sam O'Neil")
    assert console_routes.AGENT_NAME.match("ana-maria.k")
    for bad in ("", " Sam", "<script>", "x" * 41, "Sam\nEve"):
        assert not console_routes.AGENT_NAME.match(bad)


def test_a_pressed_button_shows_as_which_not_as_its_payload():
    events = [{"event": "user", "text": "/contact_human_agent", "timestamp": 1.0}]
    assert evidence.last_customer_message(events) == "(pressed: contact human agent)"
    assert evidence.evidence({"events": events}).summary == "The customer has not written anything yet."
