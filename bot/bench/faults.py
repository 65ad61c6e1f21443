"""Faults under load: each part of the stack stopped, hung, killed or restarted while
customers keep talking; nothing may go silent and no conversation may be left dead.

    tandem bench faults [--customers 10] [--topology 1x2 2x1] [--save]

For each topology (Rasa replicas x workers; several replicas run behind HAProxy) it starts
the sample brand's stack on free ports (its own state folder). Simulated customers
(threads, over REST) hold conversations one after another (a question the documents
answer, then tracking an order: question, order number, email); a customer who gets the
"having trouble" reply, an empty one or no answer waits a second and sends the same
message again, as a person would. Meanwhile the
scenarios run one after the other:

- the action server stopped for 10 s, then started again;
- the action server hung (SIGSTOP) for 10 s, then resumed;
- kill -9 of the action server, of Redis, and of a Rasa server (its supervisor restarts it;
  with several replicas the balancer sends its customers to the others meanwhile);
- Redis stopped for 5 s, then started again;
- the knowledge store unreachable for 10 s (see store_unreachable), then back.

Reported per scenario: messages sent from the fault until the stack is healthy again and
5 s after, how many were answered, answered with the polite failure reply, answered empty,
or not answered at all (no HTTP response: nothing listens); the slowest polite reply; the
seconds until the stack was healthy (GET /webhooks/rest/health) and until a customer was
served normally again, and until a question was answered from the documents again; and the
conversations interrupted by it that went on to finish.
A conversation that never finishes is dead.

With --save: docs/benchmarks/faults.md and faults.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bot.bench.load import orders_of, stack_settings, topology
from bot.bench.report import provenance, publish
from bot.bench.stack import free_port
from bot.core.settings import Settings
from bot.stack import client, processes, training

TROUBLE = "having trouble"
# each conversation asks the documents first (brand's product FAQ: "Yes, both Ridge tents are
# freestanding ..."), then tracks an order
KNOWLEDGE_QUESTION, KNOWLEDGE_FACT = "is the ridge tent freestanding?", "freestanding"
SETTLE_SECONDS = 5.0  # measured after the stack is healthy again


@dataclass
class Attempt:
    sent: float
    seconds: float
    kind: str  # answered | polite | empty | none
    conversation: str
    question: bool = False  # the documents' question (not a flow's step)


@dataclass
class Customers:
    """Customer threads and what they saw."""

    settings: Settings
    orders: list[list[str]]
    attempts: list[Attempt] = field(default_factory=list)
    started: dict[str, float] = field(default_factory=dict)  # conversation -> when
    finished: dict[str, float] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)  # the customer gave up: no normal answer in 180 s
    wrong: set[str] = field(default_factory=set)  # answered, but not what the step needs
    wrong_turns: list[dict] = field(default_factory=list)  # what was sent, needed and answered
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, session: requests.Session, sender: str, text: str) -> tuple[str, str]:
        sent = time.monotonic()
        try:
            reply = session.post(
                f"{self.settings.rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": text},
                timeout=60,
            )
            body = " ".join(m.get("text") or "" for m in reply.json()) if reply.ok else ""
            kind = "polite" if TROUBLE in body else "answered" if body.strip() else "empty"
        except (requests.RequestException, ValueError):
            body, kind = "", "none"
        with self.lock:
            self.attempts.append(
                Attempt(sent, time.monotonic() - sent, kind, sender, question=text == KNOWLEDGE_QUESTION)
            )
        return kind, body

    def converse(self, index: int) -> None:
        session = requests.Session()
        turn = 0
        while not self.stop.is_set():
            number, email = self.orders[(index * 7 + turn) % len(self.orders)]
            turn += 1
            sender = f"fault-{uuid.uuid4().hex[:10]}"
            with self.lock:
                self.started[sender] = time.monotonic()
            steps = (
                (KNOWLEDGE_QUESTION, KNOWLEDGE_FACT),
                ("where is my order?", "order number"),
                (number, "email"),
                (email, number),
            )
            for text, expect in steps:
                deadline = time.monotonic() + 180  # then the conversation is dead
                while time.monotonic() < deadline:
                    kind, body = self.send(session, sender, text)
                    if kind == "answered":
                        break
                    time.sleep(1.0)  # "try again in a moment"
                else:
                    with self.lock:
                        self.dead.add(sender)
                    return  # this customer gives up
                if expect.lower() not in body.lower():
                    with self.lock:
                        self.wrong.add(sender)
                        self.wrong_turns.append(
                            {
                                "at": round(time.monotonic(), 1),
                                "sent": text,
                                "needed": expect,
                                "reply": body[:200],
                            }
                        )
                    break
            else:
                with self.lock:
                    self.finished[sender] = time.monotonic()


def healthy(settings: Settings) -> bool:
    try:
        return requests.get(f"{settings.rasa_url}/webhooks/rest/health", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def wait_healthy(settings: Settings, limit: float = 180) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if healthy(settings):
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def component(settings: Settings, name: str) -> processes.Component:
    return next(c for c in processes.components(settings) if c.name == name)


# A fault's run: (when the fault began, when the part was restored).


def stop_then_start(name: str, seconds: float):
    def run(settings: Settings) -> tuple[float, float]:
        began = time.monotonic()
        processes.stop(component(settings, name), settings)
        time.sleep(seconds)
        restored = time.monotonic()
        processes.up(settings, only={name})
        return began, restored

    return run


def hang_then_resume(name: str, seconds: float):
    def run(settings: Settings) -> tuple[float, float]:
        pid = processes.pid_of(component(settings, name), settings)
        began = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        return began, time.monotonic()

    return run


def kill(name: str):
    def run(settings: Settings) -> tuple[float, float]:
        killed = time.monotonic()  # recovery counts from the kill
        processes.kill_and_wait_for_restart(component(settings, name), settings)  # its supervisor's restart
        return killed, killed

    return run


def store_unreachable(seconds: float):
    """The knowledge store stops answering for `seconds`. The embedded store lives inside the
    action server, and no Qdrant server runs on this machine, so the outage of a Qdrant
    server is played by the action server started apart with QDRANT_URL naming a port where
    nothing listens; then the usual one is started again. The scenario counts from when the
    one apart has tried the store; the swap back is a few seconds without an action server."""

    def run(settings: Settings) -> tuple[float, float]:
        actions = component(settings, "actions")
        with processes.run_apart(actions, settings, {"QDRANT_URL": f"http://{settings.host}:{free_port()}"}):
            # its start-up (models loading, questions waiting for them) is not the outage:
            # the scenario counts from when it has tried the store
            requests.get(f"{settings.actions_url}/health/knowledge", timeout=180)
            began = time.monotonic()
            time.sleep(seconds)
            restored = time.monotonic()
        return began, restored

    return run


SCENARIOS = [
    ("knowledge store unreachable 10 s", store_unreachable(10)),
    ("action server stopped 10 s", stop_then_start("actions", 10)),
    ("action server hung 10 s (SIGSTOP)", hang_then_resume("actions", 10)),
    ("kill -9 of the action server", kill("actions")),
    ("Redis stopped 5 s", stop_then_start("redis", 5)),
    ("kill -9 of Redis", kill("redis")),
    ("kill -9 of a Rasa server", kill("rasa")),
]


def scenario(customers: Customers, settings: Settings, name: str, inject) -> dict:
    print(f"  {name} ...", flush=True)
    began, restored = inject(settings)
    back = wait_healthy(settings)
    healthy_at = time.monotonic() if back is not None else None
    # the window ends once a customer has been served normally again (or after a minute)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first_answer_after(customers, healthy_at or began) is None:
        time.sleep(0.2)
    time.sleep(SETTLE_SECONDS)
    ended = time.monotonic()
    with customers.lock:
        window = [a for a in customers.attempts if began <= a.sent <= ended]
    kinds = Counter(a.kind for a in window)
    polite = [a.seconds for a in window if a.kind == "polite"]
    interrupted = {a.conversation for a in window if a.kind != "answered"}
    return {
        "scenario": name,
        "messages": len(window),
        "answered": kinds["answered"],
        "polite_failure": kinds["polite"],
        "empty": kinds["empty"],
        "no_answer": kinds["none"],
        "slowest_polite_s": round(max(polite), 2) if polite else None,
        "healthy_after_s": round(healthy_at - began, 1) if healthy_at else None,
        "back_after_restore_s": round(healthy_at - restored, 1) if healthy_at else None,
        "began": began,
        "interrupted_conversations": sorted(interrupted),
    }


def first_answer_after(customers: Customers, began: float, questions_only: bool = False) -> float | None:
    """Seconds from `began` until a message sent since was answered normally (only the
    documents' question, with `questions_only`), or None."""
    with customers.lock:  # customers may still be talking
        answered = [
            a.sent + a.seconds
            for a in customers.attempts
            if a.sent >= began and a.kind == "answered" and (a.question or not questions_only)
        ]
    return round(min(answered) - began, 1) if answered else None


def run_topology(customer_count: int, replicas: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = stack_settings(Path(tmp) / "home", workers, replicas)
        training.train(settings)
        print(
            f"starting a stack of its own: {replicas} Rasa replica(s) x {workers} worker(s) ...", flush=True
        )
        processes.up(settings)
        client.refresh_knowledge(settings, timeout=900)
        customers = Customers(settings, orders_of(settings))
        threads = [
            threading.Thread(target=customers.converse, args=(i,), daemon=True) for i in range(customer_count)
        ]
        rows = []
        started = time.monotonic()
        try:
            for thread in threads:
                thread.start()
            time.sleep(10)  # steady state first
            for name, inject in SCENARIOS:
                rows.append(scenario(customers, settings, name, inject))
                time.sleep(5)
            customers.stop.set()
            for thread in threads:  # each finishes the conversation it is in (or gives up)
                thread.join(timeout=240)
        finally:
            processes.down(settings)
    for row in rows:
        began = row.pop("began")
        row["began_at_s"] = round(began - started, 1)  # since the customers started
        row["served_normally_after_s"] = first_answer_after(customers, began)
        row["question_answered_after_s"] = first_answer_after(customers, began, questions_only=True)
        interrupted = row.pop("interrupted_conversations")
        row["interrupted"] = len(interrupted)
        row["interrupted_finished"] = sum(1 for sender in interrupted if sender in customers.finished)
    return {
        "replicas": replicas,
        "workers": workers,
        "scenarios": rows,
        "conversations_started": len(customers.started),
        "conversations_finished": len(customers.finished),
        "conversations_dead": len(customers.dead),
        "conversations_wrong_turn": len(customers.wrong),
        "wrong_turns": [  # order numbers and emails are the sample brand's made-up ones
            {**turn, "at": round(turn["at"] - started, 1)} for turn in customers.wrong_turns
        ],
    }


def main(customer_count: int, topologies: list[tuple[int, int]], save: bool) -> dict:
    results: dict = {**provenance(), "customers": customer_count, "stacks": []}
    for replicas, workers in topologies:
        results["stacks"].append(run_topology(customer_count, replicas, workers))
    publish("faults", render(results), results, save)
    return results


def render(results: dict) -> str:
    lines = [
        "# Faults under load",
        "",
        f"`tandem bench faults` on {results['machine']}, commit {results['commit']}, {results['date']}:",
        f"{results['customers']} customers over REST. A customer whose message is not answered normally tries",
        "again a second later.",
    ]
    for stack in results["stacks"]:
        lines += [
            "",
            f"## {stack['replicas']} Rasa replica(s) x {stack['workers']} worker(s)"
            + (" behind HAProxy" if stack["replicas"] > 1 else ""),
            "",
            "| scenario | messages | answered | polite failure | empty | no answer | slowest polite reply | healthy after | served normally after | a question answered after | interrupted conversations finished |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in stack["scenarios"]:
            slowest = f"{row['slowest_polite_s']} s" if row["slowest_polite_s"] is not None else "-"
            lines.append(
                f"| {row['scenario']} | {row['messages']} | {row['answered']} | {row['polite_failure']} | "
                f"{row['empty']} | {row['no_answer']} | {slowest} | {row['healthy_after_s']} s | "
                f"{row['served_normally_after_s']} s | {row.get('question_answered_after_s')} s | "
                f"{row['interrupted_finished']} of {row['interrupted']} |"
            )
        lines += [
            "",
            f"Conversations: {stack['conversations_started']} started, {stack['conversations_finished']} finished, "
            f"{stack['conversations_dead']} dead (a customer gave up after 180 s without a normal answer), "
            f"{stack['conversations_wrong_turn']} with a wrong turn (answered, but not what the step needs).",
        ]
        for turn in stack.get("wrong_turns", [])[:10]:
            lines.append(
                f"- at {turn['at']} s: sent `{turn['sent']}`, the step needs `{turn['needed']}`, "
                f'answered "{turn["reply"].strip()}"'
            )
    lines += [
        "",
        "Times count from the fault (for a stop or a hang, from its start: 10 s or 5 s of it are the outage itself).",
        '"No answer" is a request that got no HTTP response: while the only Rasa server restarts nothing listens',
        "on its port (the web widget keeps such messages and sends them when it is back); with several replicas",
        "the balancer sends them to another.",
        "",
        "The knowledge store scenario: the stack's embedded store lives inside the action server and no",
        "Qdrant server runs on this machine, so a Qdrant server that stops answering is played by the action",
        "server started apart with `QDRANT_URL` naming a port where nothing listens, then the usual one again",
        "(`store_unreachable` in bot/bench/faults.py). Its row counts from when that server has tried the store",
        "(its start-up is not the outage) and includes the swap back, a few seconds without an action server.",
        "Meanwhile questions get the polite reply and orders are tracked as usual.",
    ]
    return "\n".join(lines) + "\n"


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "faults", help="stop, hang and kill each part under load: replies lost, recovery, dead conversations"
    )
    q.add_argument("--customers", type=int, default=10, help="simulated customers (default 10)")
    q.add_argument(
        "--topology",
        type=topology,
        nargs="+",
        default=[(1, 2), (2, 1)],
        metavar="RxW",
        help="Rasa replicas x Sanic workers each, one stack each (default 1x2 2x1)",
    )
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/faults.md and faults.json")
    q.set_defaults(func=cmd_faults)


def cmd_faults(args: argparse.Namespace) -> int:
    if args.customers < 1:
        raise SystemExit("--customers needs a positive count")
    main(args.customers, args.topology, args.save)
    return 0
