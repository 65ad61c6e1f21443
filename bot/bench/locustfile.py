"""Simulated customers for `tandem bench load` (Locust; run headless by bot/bench/load.py).

Each simulated customer holds one conversation after another, each with a new sender,
picked by weight from a realistic mix:

- a scripted tracking flow over REST (question, order number, email, thanks),
- the same flow over socket.io, as the web widget holds it (a signed session),
- knowledge questions with a follow-up ("and can I combine a gift card ...?"),
- a question mid-form (a refund question while the cancel form asks for the order),
- a handoff ("I want to speak to a human"; the bot then stays quiet, so it is the last
  message of that conversation),
- bad input: a message over the size limit (refused politely, never stored), then "hi".

Every message must get a non-empty reply (and not the "having trouble" one); a message
that does not is a failure of its route. Each request is named by its route, so Locust's
statistics are per route. At the end the file `$TANDEM_LOAD_CONFIG` names gets, per
conversation, how many messages Rasa must have stored; bot/bench/load.py checks that
against each tracker (lost and duplicated turns) and keeps the exact latencies written
here (Locust's own percentiles are rounded).

Settings come from the JSON file `$TANDEM_LOAD_CONFIG`: ``rasa_url``, ``orders`` (pairs of
order number and email), ``think_seconds`` (a customer's pause between messages),
``max_message_chars`` and ``output`` (where the results go).
"""

from __future__ import annotations

import json
import os
import queue
import random
import time
import uuid
from collections import defaultdict

import socketio
from locust import HttpUser, constant, events, task

CONFIG = json.loads(open(os.environ["TANDEM_LOAD_CONFIG"]).read())
TROUBLE = "having trouble"

SENT: dict[str, int] = defaultdict(int)  # conversation -> messages Rasa must have stored
LATENCIES: dict[str, list[float]] = defaultdict(list)  # route -> seconds
FAILED: dict[str, int] = defaultdict(int)  # route -> messages without a proper reply
PROBLEMS: dict[str, int] = defaultdict(int)  # "route: what went wrong" -> count
FINISHED: list[float] = []  # when each turn was answered, seconds after the start
STARTED = [time.monotonic()]


def _text(messages: list[dict]) -> str:
    return " ".join(message.get("text") or "" for message in messages)


class Customer(HttpUser):
    wait_time = constant(CONFIG.get("think_seconds", 0))

    def say(self, sender: str, text: str, route: str, stored: bool = True, expect: str | None = None) -> str:
        """One REST message; returns the reply's text ('' when it failed)."""
        pause = CONFIG.get("think_seconds", 0)
        if pause:
            time.sleep(pause)
        started = time.perf_counter()
        with self.client.post(
            "/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            name=route,
            catch_response=True,
            timeout=180,
        ) as response:
            elapsed = time.perf_counter() - started
            reply = _text(response.json()) if response.status_code == 200 else ""
            problem = None
            if response.status_code != 200:
                problem = f"HTTP {response.status_code}"
            elif not reply.strip():
                problem = "empty reply"
            elif TROUBLE in reply:
                problem = "'having trouble' reply"
            elif expect and expect.lower() not in reply.lower():
                problem = f"reply without {expect!r}: {reply[:80]!r}"
            self._count(sender, route, elapsed, problem, stored)
            if problem:
                response.failure(problem)
                return ""
            response.success()
            return reply

    def _count(self, sender: str, route: str, elapsed: float, problem: str | None, stored: bool) -> None:
        FINISHED.append(time.monotonic() - STARTED[0])
        LATENCIES[route].append(elapsed)
        if problem:
            FAILED[route] += 1
            PROBLEMS[f"{route}: {problem.split(':')[0]}"] += 1
        if stored:
            SENT[sender] += 1

    @task(4)
    def track_over_rest(self) -> None:
        number, email = random.choice(CONFIG["orders"])
        sender = f"load-{uuid.uuid4().hex[:12]}"
        route = "rest: flow"
        self.say(sender, "where is my order?", route, expect="order number") and self.say(
            sender, number, route, expect="email"
        ) and self.say(sender, email, route, expect=number) and self.say(sender, "thanks", route)

    @task(3)
    def knowledge_with_a_follow_up(self) -> None:
        sender = f"load-{uuid.uuid4().hex[:12]}"
        route = "rest: knowledge"
        self.say(sender, "which payment methods do you accept?", route, expect="Visa") and self.say(
            sender, "and can I combine a gift card with another payment method?", route
        ) and self.say(sender, "how long is a gift card valid?", route)

    @task(1)
    def question_mid_form(self) -> None:
        number, email = random.choice(CONFIG["orders"])
        sender = f"load-{uuid.uuid4().hex[:12]}"
        route = "rest: flow"
        self.say(sender, "I want to cancel my order", route, expect="order number") and self.say(
            sender, "how long do refunds take?", "rest: knowledge"
        ) and self.say(sender, "never mind, keep it", route)

    @task(1)
    def handoff(self) -> None:
        sender = f"load-{uuid.uuid4().hex[:12]}"
        self.say(sender, "hi", "rest: flow") and self.say(
            sender, "I want to speak to a human", "rest: handoff"
        )

    @task(1)
    def bad_input(self) -> None:
        sender = f"load-{uuid.uuid4().hex[:12]}"
        too_long = "my order " * (CONFIG["max_message_chars"] // 9 + 20)
        self.say(sender, too_long, "rest: bad input", stored=False, expect="too long") and self.say(
            sender, "hi", "rest: bad input"
        )

    @task(2)
    def track_over_socketio(self) -> None:
        number, email = random.choice(CONFIG["orders"])
        route = "socket.io: flow"
        replies: queue.Queue[dict] = queue.Queue()
        confirmed: queue.Queue[dict] = queue.Queue()
        client = socketio.Client(reconnection=False)
        client.on("bot_uttered", replies.put)
        client.on("session_confirm", confirmed.put)
        started = time.perf_counter()
        try:
            client.connect(
                CONFIG["rasa_url"], socketio_path="/socket.io", transports=["websocket"], wait_timeout=30
            )
            client.emit("session_request", {"session_id": None})
            session = confirmed.get(timeout=30)["session_id"]
        except Exception as error:  # noqa: BLE001 (any failure to connect is this route's failure)
            self._fire("socket.io: connect", time.perf_counter() - started, error)
            client.disconnect()
            return
        self._fire("socket.io: connect", time.perf_counter() - started, None)
        sender = session.split(".")[0]
        try:
            for text, expect in (("where is my order?", "order number"), (number, "email"), (email, number)):
                if not self._say_socket(client, replies, session, sender, text, expect, route):
                    break
        finally:
            client.disconnect()

    def _say_socket(self, client, replies, session, sender, text, expect, route) -> bool:
        pause = CONFIG.get("think_seconds", 0)
        if pause:
            time.sleep(pause)
        started = time.perf_counter()
        client.emit("user_uttered", {"message": text, "session_id": session})
        texts: list[str] = []
        elapsed, problem = 0.0, None
        try:  # the turn's first text (a route's metadata may come before it), then the rest
            while not any(texts):
                remaining = 180 - (time.perf_counter() - started)
                texts.append(replies.get(timeout=max(0.01, remaining)).get("text") or "")
            elapsed = time.perf_counter() - started
            while True:  # what follows at once belongs to this turn too
                texts.append(replies.get(timeout=0.3).get("text") or "")
        except queue.Empty:
            if not any(texts):
                elapsed, problem = time.perf_counter() - started, "no reply"
        reply = " ".join(texts)
        if not problem and TROUBLE in reply:
            problem = "'having trouble' reply"
        elif not problem and expect.lower() not in reply.lower():
            problem = f"reply without {expect!r}: {reply[:80]!r}"
        self._count(sender, route, elapsed, problem, stored=True)
        self._fire(route, elapsed, AssertionError(problem) if problem else None)
        return problem is None

    def _fire(self, name: str, seconds: float, error: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=seconds * 1000,
            response_length=0,
            exception=error,
            context={},
        )


@events.test_start.add_listener
def remember_the_start(**_) -> None:
    STARTED[0] = time.monotonic()


@events.test_stop.add_listener
def write_results(**_) -> None:
    results = {
        "sent": SENT,
        "latencies": LATENCIES,
        "failed": FAILED,
        "problems": PROBLEMS,
        "finished": FINISHED,
    }
    with open(CONFIG["output"], "w") as handle:
        json.dump(results, handle)
