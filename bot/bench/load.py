"""Load test: simulated customers (Locust, headless) against a stack of its own, and a burst
of messages on one conversation; checks that no turn is lost or stored twice.

    tandem bench load --users 20 50 100 200 --topology 1x1 1x2 2x1 [--seconds 60] [--think 0] [--save]

For each topology (Rasa replicas x Sanic workers each; several replicas run behind HAProxy)
it starts the sample brand's stack on free ports (its own state folder: a running `tandem
up` is not touched), builds the knowledge base, warms it up (20 s of 10 customers, not
counted: the first turns load models and fill caches), and runs
bot/bench/locustfile.py for each number of concurrent customers. A customer holds one
conversation after another, without pauses by default (`--think` adds one before each
message): the figures are what the stack serves flat out.

Reported per run: turns per second, p50 / p95 / p99 per route, failed turns (no reply, an
empty one, or "having trouble"), and the tracker check: every message a customer sent must
be in its conversation's tracker exactly once (lost, duplicated). Then a burst: `--burst`
messages sent at once on one conversation (the rate limit is raised for this stack, as
it is the lock store being measured), each answered and stored once.

With --save it writes docs/benchmarks/load.md and load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from unittest import mock

import requests

from bot.bench.report import percentile, provenance, publish
from bot.bench.stack import free_port
from bot.core.settings import Settings
from bot.stack import client, processes, training

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOCUST = Path(sys.executable).with_name("locust")


def orders_of(settings: Settings) -> list[list[str]]:
    orders = json.loads((settings.brand.root / "orders.json").read_text())
    return [[order["number"], order["email"]] for order in orders]


def stored_user_messages(settings: Settings, sender: str) -> int:
    return sum(
        1 for event in client.tracker(settings, sender).get("events", []) if event.get("event") == "user"
    )


def tracker_check(settings: Settings, sent: dict[str, int]) -> dict[str, int]:
    """Lost and duplicated turns: each conversation's tracker against what was sent."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        stored = dict(
            zip(sent, pool.map(lambda sender: stored_user_messages(settings, sender), sent), strict=True)
        )
    return {
        "conversations": len(sent),
        "lost": sum(max(0, count - stored[sender]) for sender, count in sent.items()),
        "duplicated": sum(max(0, stored[sender] - count) for sender, count in sent.items()),
    }


def run_locust(settings: Settings, users: int, seconds: int, think: float, folder: Path) -> dict:
    output = folder / f"results-{users}.json"
    config = folder / f"config-{users}.json"
    config.write_text(
        json.dumps(
            {
                "rasa_url": settings.rasa_url,
                "orders": orders_of(settings),
                "think_seconds": think,
                "max_message_chars": settings.max_message_chars,
                "output": str(output),
            }
        )
    )
    command = [
        str(LOCUST),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "120",  # each customer finishes the conversation it is in
        "--host",
        settings.rasa_url,
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--csv",
        str(folder / f"locust-{users}"),
    ]
    started = time.monotonic()
    result = subprocess.run(
        command, env={**os.environ, "TANDEM_LOAD_CONFIG": str(config)}, capture_output=True, text=True
    )
    wall = time.monotonic() - started
    if not output.exists():
        raise RuntimeError(f"locust wrote no results (exit {result.returncode}):\n{result.stderr[-3000:]}")
    data = json.loads(output.read_text())
    routes = {}
    for route, values in sorted(data["latencies"].items()):
        routes[route] = {
            "turns": len(values),
            "failed": data["failed"].get(route, 0),
            "p50_ms": round(percentile(values, 50) * 1000),
            "p95_ms": round(percentile(values, 95) * 1000),
            "p99_ms": round(percentile(values, 99) * 1000),
        }
    every = [value for values in data["latencies"].values() for value in values]
    # throughput while every customer was active: the turns answered within the run time
    # (after it, customers only finish the conversations they are in)
    in_window = sum(1 for moment in data["finished"] if moment <= seconds)
    return {
        "users": users,
        "seconds": round(wall, 1),
        "turns": len(every),
        "turns_per_s": round(in_window / seconds, 1),
        "failed": sum(data["failed"].values()),
        "problems": data["problems"],
        "p50_ms": round(percentile(every, 50) * 1000) if every else None,
        "p95_ms": round(percentile(every, 95) * 1000) if every else None,
        "p99_ms": round(percentile(every, 99) * 1000) if every else None,
        "routes": routes,
        **tracker_check(settings, data["sent"]),
    }


def burst(settings: Settings, messages: int) -> dict:
    """`messages` REST messages at once on one conversation: replies, tracker, time."""
    sender = f"burst-{uuid.uuid4().hex[:10]}"

    def send(_: int) -> tuple[int, str, float]:
        started = time.perf_counter()
        reply = requests.post(
            f"{settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": "hi"},
            timeout=600,
        )
        text = " ".join(m.get("text") or "" for m in reply.json()) if reply.ok else ""
        return reply.status_code, text, time.perf_counter() - started

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=messages) as pool:
        replies = list(pool.map(send, range(messages)))
    wall = time.monotonic() - started
    kinds = Counter("empty" if not text.strip() else "trouble" if "having trouble" in text else "answered"
                    for _, text, _ in replies)  # fmt: skip
    stored = stored_user_messages(settings, sender)
    return {
        "messages": messages,
        "answered": kinds["answered"],
        "empty_or_failed": messages - kinds["answered"],
        "stored": stored,
        "lost": max(0, messages - stored),
        "duplicated": max(0, stored - messages),
        "seconds": round(wall, 1),
        "ms_per_message": round(wall / messages * 1000),
    }


def stack_settings(home: Path, workers: int, replicas: int = 1) -> Settings:
    """Settings for a stack of its own on free ports. The replicas listen on the ports right
    after the balancer's (Settings.replica_port), so those must be free too: a run once found
    one of them taken by another program's connection, and the stack could not start."""
    for _ in range(50):
        rasa_port = free_port()
        if replicas == 1 or not any(
            processes.port_in_use("127.0.0.1", rasa_port + index) for index in range(1, replicas + 1)
        ):
            break
    settings = Settings(home=home, redis_port=free_port(), actions_port=free_port(), rasa_port=rasa_port)
    return replace(settings, rasa_workers=workers, rasa_replicas=replicas)


def topology(text: str) -> tuple[int, int]:
    """ "2x1" -> (2 replicas, 1 worker each)."""
    try:
        replicas, workers = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not REPLICASxWORKERS, e.g. 2x1") from None
    if replicas < 1 or workers < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: replicas and workers are positive counts")
    return replicas, workers


def measure(
    replicas: int, workers: int, users: list[int], seconds: int, think: float, burst_size: int
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = stack_settings(folder / "home", workers, replicas)
        training.train(settings)
        print(
            f"starting a stack of its own: {replicas} Rasa replica(s) x {workers} worker(s) ...", flush=True
        )
        # the burst is a test of the lock store, not of the rate limit
        with mock.patch.dict(os.environ, {"TANDEM_RATE_PER_CONVERSATION": str(max(30, burst_size * 2))}):
            processes.up(settings)
        try:
            client.refresh_knowledge(settings, timeout=900)
            result: dict = {"replicas": replicas, "workers": workers, "runs": []}
            print("  warming up (10 customers for 20 s, not counted) ...", flush=True)
            run_locust(settings, 10, 20, think, folder)  # models, caches and connections warm
            for count in users:
                print(f"  {count} customers for {seconds} s ...", flush=True)
                run = run_locust(settings, count, seconds, think, folder)
                print(
                    f"    {run['turns_per_s']} turns/s, p95 {run['p95_ms']} ms, failed {run['failed']}, "
                    f"lost {run['lost']}, duplicated {run['duplicated']}",
                    flush=True,
                )
                result["runs"].append(run)
            if burst_size:
                print(f"  a burst of {burst_size} messages on one conversation ...", flush=True)
                result["burst"] = burst(settings, burst_size)
                print(f"    {result['burst']}", flush=True)
            return result
        finally:
            processes.down(settings)


def main(
    users: list[int],
    topologies: list[tuple[int, int]],
    seconds: int,
    think: float,
    burst_size: int,
    save: bool,
    report: str = "load",
) -> dict:
    results: dict = {**provenance(), "seconds_per_run": seconds, "think_seconds": think, "stacks": []}
    for replicas, workers in topologies:
        results["stacks"].append(measure(replicas, workers, users, seconds, think, burst_size))
    publish(report, render(results), results, save)
    return results


def render(results: dict) -> str:
    lines = [
        "# Load test",
        "",
        f"`tandem bench load` on {results['machine']}, commit {results['commit']}, {results['date']}.",
        f"Each run: {results['seconds_per_run']} s of simulated customers (Locust, bot/bench/locustfile.py),",
        f"{results['think_seconds']} s pause before each message; the load generator runs on the same machine.",
        "",
        "| Rasa replicas x workers | customers | turns/s | p50 / p95 / p99 ms | scripted p95 ms (REST / socket.io) | failed | lost | duplicated | conversations |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stack in results["stacks"]:
        for run in stack["runs"]:
            scripted = " / ".join(
                str(run["routes"].get(route, {}).get("p95_ms", "-"))
                for route in ("rest: flow", "socket.io: flow")
            )
            lines.append(
                f"| {stack['replicas']}x{stack['workers']} | {run['users']} | {run['turns_per_s']} | {run['p50_ms']} / {run['p95_ms']} / "
                f"{run['p99_ms']} | {scripted} | {run['failed']} | {run['lost']} | {run['duplicated']} | "
                f"{run['conversations']} |"
            )
    lines += ["", "Per route (p50 / p95 / p99 ms, failed of turns):", ""]
    for stack in results["stacks"]:
        for run in stack["runs"]:
            parts = [
                f"{route} {r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} ({r['failed']} of {r['turns']})"
                for route, r in run["routes"].items()
            ]
            lines.append(
                f"- {stack['replicas']}x{stack['workers']}, {run['users']} customers: " + "; ".join(parts)
            )
            if run["problems"]:
                lines.append(
                    "  - failures: "
                    + ", ".join(f"{what} x{n}" for what, n in sorted(run["problems"].items()))
                )
    bursts = [stack for stack in results["stacks"] if "burst" in stack]
    if bursts:
        lines += ["", "A burst on one conversation (REST, all sent at once):", ""]
        lines += [
            "| Rasa replicas x workers | messages | answered | stored | lost | duplicated | seconds | ms per message |"
        ]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for stack in bursts:
            b = stack["burst"]
            lines.append(
                f"| {stack['replicas']}x{stack['workers']} | {b['messages']} | {b['answered']} | {b['stored']} | {b['lost']} | "
                f"{b['duplicated']} | {b['seconds']} | {b['ms_per_message']} |"
            )
    return "\n".join(lines) + "\n"


def add_parser(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser(
        "load",
        help="simulated customers (Locust) and a burst on one conversation: turns/s, latency, lost turns",
    )
    q.add_argument(
        "--users", type=int, nargs="+", default=[20, 50, 100, 200], help="concurrent customers per run"
    )
    q.add_argument(
        "--topology",
        type=topology,
        nargs="+",
        default=[(1, 1), (1, 2), (2, 1)],
        metavar="RxW",
        help="Rasa replicas x Sanic workers each, one stack each (default 1x1 1x2 2x1)",
    )
    q.add_argument("--seconds", type=int, default=60, help="length of each run (default 60)")
    q.add_argument(
        "--think", type=float, default=0.0, help="a customer's pause before each message (default 0)"
    )
    q.add_argument("--burst", type=int, default=100, help="messages at once on one conversation (0: none)")
    q.add_argument("--save", action="store_true", help="write docs/benchmarks/load.md and load.json")
    q.add_argument(
        "--report",
        default="load",
        metavar="NAME",
        help="with --save, the report's name: docs/benchmarks/NAME.md and .json (default load)",
    )
    q.set_defaults(func=cmd_load)


def cmd_load(args: argparse.Namespace) -> int:
    if min(args.users) < 1 or args.seconds < 5 or args.think < 0 or args.burst < 0:
        raise SystemExit("--users needs positive counts, --seconds at least 5")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", args.report):
        raise SystemExit(f"--report {args.report!r}: a name of lower-case letters, digits, - and _")
    main(args.users, args.topology, args.seconds, args.think, args.burst, args.save, args.report)
    return 0
