"""Benchmark the sample brand's scripted stack: training, start-up, and turn latency over REST.

    tandem bench stack [--turns 200] [--concurrency 20] [--fresh-setup]

Runs its own stack on free ports with its own state folder (a running `tandem up` is not
touched), and writes docs/benchmarks/stack.md and stack.json. Timings are this machine's.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bot.bench.report import latency_ms, provenance, write_report
from bot.core.settings import ROOT, Settings
from bot.stack import processes, training

# One scripted conversation: small talk, a question, a complete tracking flow.
SCRIPT = [
    "hello",
    "which payment methods do you accept?",
    "where is my order?",
    "BB-100001",
    "kemi.doyle@example.com",
    "thanks",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_setup_seconds() -> float:
    """`make setup` in a fresh clone (new venvs; pip's download cache may be warm)."""
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        started = time.monotonic()
        subprocess.run(
            ["python3", "bot/stack/bootstrap.py"],
            cwd=clone,
            check=True,
            env={**os.environ, "TANDEM_HOME": str(Path(tmp) / "home")},
        )
        return time.monotonic() - started


def run_conversation(settings: Settings, latencies: list[float], lock: threading.Lock) -> None:
    sender = f"bench-{uuid.uuid4().hex[:10]}"
    session = requests.Session()
    for text in SCRIPT:
        started = time.perf_counter()
        response = session.post(
            f"{settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=120,
        )
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if not response.json():
            raise RuntimeError(f"no reply to {text!r}")
        with lock:
            latencies.append(elapsed)


def measure_turns(settings: Settings, turns: int, concurrency: int) -> dict:
    conversations = max(1, turns // len(SCRIPT))
    latencies: list[float] = []
    lock = threading.Lock()
    started = time.perf_counter()
    if concurrency == 1:
        for _ in range(conversations):
            run_conversation(settings, latencies, lock)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(lambda _: run_conversation(settings, latencies, lock), range(conversations)))
    wall = time.perf_counter() - started
    return {
        "clients": concurrency,
        "turns": len(latencies),
        **latency_ms(latencies),
        "mean_ms": round(statistics.mean(latencies) * 1000, 1),
        "throughput_turns_per_s": round(len(latencies) / wall, 1),
    }


def main(turns: int = 240, concurrency: int = 20, fresh_setup: bool = False) -> dict:
    results: dict = provenance()
    if fresh_setup:
        print("set-up in a fresh clone ...", flush=True)
        results["setup_fresh_clone_s"] = round(fresh_setup_seconds(), 1)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = Settings(
            home=home,
            redis_port=free_port(),
            actions_port=free_port(),
            rasa_port=free_port(),
            models_dir=Path(tmp) / "models",
        )
        print("training the Rasa model (cold: empty cache) ...", flush=True)
        _, seconds = training.train(settings, force=True, cache_dir=Path(tmp) / "rasa-cache")
        results["training_cold_s"] = round(seconds, 1)
        print("starting the stack ...", flush=True)
        started = time.monotonic()
        try:
            processes.up(settings)
            results["startup_s"] = round(time.monotonic() - started, 1)
            run_conversation(settings, [], threading.Lock())  # warm-up
            print("turn latency, 1 client ...", flush=True)
            results["rest_1_client"] = measure_turns(settings, turns, 1)
            print(f"turn latency, {concurrency} concurrent conversations ...", flush=True)
            results[f"rest_{concurrency}_clients"] = measure_turns(settings, turns, concurrency)
        finally:
            processes.down(settings)
            shutil.rmtree(home, ignore_errors=True)
    write(results)
    return results


def write(results: dict) -> None:
    lines = [
        "# Scripted stack benchmark",
        "",
        f"`tandem bench stack` on {results['machine']}, commit {results['commit']}, {results['date']}.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    if "setup_fresh_clone_s" in results:
        lines.append(
            f"| set-up in a fresh clone (`make setup`: both venvs, Redis present) | {results['setup_fresh_clone_s']} s |"
        )
    lines += [
        f"| Rasa training, cold cache | {results['training_cold_s']} s |",
        f"| start-up (Redis, action server, Rasa with model loaded) | {results['startup_s']} s |",
    ]
    for key, value in results.items():
        if key.startswith("rest_"):
            lines.append(
                f"| REST scripted turns, {value['clients']} client(s): p50 / p95 | {value['p50_ms']} / {value['p95_ms']} ms |"
            )
            lines.append(
                f"| REST scripted turns, {value['clients']} client(s): throughput | {value['throughput_turns_per_s']} turns/s ({value['turns']} turns) |"
            )
    lines += [
        "",
        "How it runs:",
        f"- The Rasa server runs {Settings().rasa_workers} Sanic worker(s) (`TANDEM_RASA_WORKERS`), which share",
        "  Redis' tracker store and the atomic lock store (bot/rasa_side/lock_store.py); `tandem bench load`",
        "  compares worker counts under many customers.",
        "",
        "A turn is one customer message and all the bot's replies to it (a form step calls the action",
        "server, which reads the orders database). Script: " + " / ".join(f"`{t}`" for t in SCRIPT) + ".",
    ]
    write_report("stack", "\n".join(lines), results)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
