"""A burst of messages on one conversation, from several worker processes, through a lock store.

Runs in the Rasa venv, against a real Redis:

    .venv-rasa/bin/python -m bot.rasa_side.lock_contention --store atomic --port 6379 \
        --workers 2 --messages 100

Each worker process is what a Sanic worker (or a Rasa replica) is to the lock store: its
own event loop and its own store object. All of them send their share of the burst at
once, and each message does what Rasa does under the lock: read the conversation, work
for a while, write it back with the message appended. If two messages hold the lock at
once, one write overwrites the other and a message is lost from the conversation; if a
message cannot get the lock, Rasa drops it (``LockError``).

Prints one JSON object: answered, lock_errors, overlaps (the most messages ever inside
the lock at once, minus one), in_tracker, lost, duplicated, out_of_order (messages served
before one that reached the same worker earlier), and the wait for the lock (p50, p95).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
import uuid
from typing import Any


def make_store(kind: str, port: int, password: str | None) -> Any:
    if kind == "rasa":
        from rasa.core.lock_store import RedisLockStore

        return RedisLockStore(host="127.0.0.1", port=port, db=1, password=password, key_prefix="contention")
    from bot.rasa_side.lock_store import AtomicRedisLockStore

    return AtomicRedisLockStore(host="127.0.0.1", port=port, db=1, password=password, key_prefix="contention")


async def send_burst(options: argparse.Namespace, worker: int, start_at: float) -> dict[str, Any]:
    import redis.asyncio
    from rasa.core.lock_store import LockError

    store = make_store(options.store, options.port, options.password)
    red = redis.asyncio.Redis(host="127.0.0.1", port=options.port, db=1, password=options.password)
    tracker, inside = (
        f"contention:{options.conversation}:tracker",
        f"contention:{options.conversation}:inside",
    )
    served: list[int] = []
    waits: list[float] = []
    errors = 0
    failures: dict[str, int] = {}
    most_inside = 0

    async def message(index: int) -> None:
        try:  # a client gives up on a reply after twice the lock's lifetime
            await asyncio.wait_for(locked(index), timeout=options.lifetime * 2)
        except asyncio.TimeoutError:  # noqa: UP041 (Python 3.10: not the built-in TimeoutError)
            failures["never served"] = failures.get("never served", 0) + 1

    async def locked(index: int) -> None:
        nonlocal errors, most_inside
        sent = time.monotonic()
        try:
            async with store.lock(options.conversation, lock_lifetime=options.lifetime):
                waits.append(time.monotonic() - sent)
                most_inside = max(most_inside, int(await red.incr(inside)))
                events = json.loads(await red.get(tracker) or "[]")
                await asyncio.sleep(options.work_ms / 1000)
                events.append(f"{worker}:{index}")
                await red.set(tracker, json.dumps(events))
                served.append(index)
                await red.decr(inside)
        except LockError:
            errors += 1
        except Exception as error:  # what Rasa would log as an error: the message is not answered
            failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1

    await asyncio.sleep(max(0.0, start_at - time.time()))
    share = range(worker, options.messages, options.workers)
    tasks = []
    for index in share:  # in arrival order: each task takes its ticket before the next starts
        tasks.append(asyncio.create_task(message(index)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    await red.aclose() if hasattr(red, "aclose") else await red.close()
    out_of_order = sum(1 for before, after in zip(served, served[1:], strict=False) if after < before)
    return {"answered": len(served), "lock_errors": errors, "most_inside": most_inside, "waits": waits,
            "out_of_order": out_of_order, "failures": failures}  # fmt: skip


def worker_main(options: argparse.Namespace, worker: int, start_at: float, results: Any) -> None:
    results.put(asyncio.run(send_burst(options, worker, start_at)))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(options: argparse.Namespace) -> dict[str, Any]:
    import redis

    options.conversation = options.conversation or f"burst-{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 1.0
    began = time.monotonic()
    workers = [
        context.Process(target=worker_main, args=(options, worker, start_at, results))
        for worker in range(options.workers)
    ]
    for process in workers:
        process.start()
    parts = [results.get(timeout=options.lifetime * 3 + 60) for _ in workers]
    for process in workers:
        process.join()
    red = redis.Redis(host="127.0.0.1", port=options.port, db=1, password=options.password)
    events = json.loads(red.get(f"contention:{options.conversation}:tracker") or "[]")
    red.delete(f"contention:{options.conversation}:tracker", f"contention:{options.conversation}:inside")
    leftover = [
        key for key in red.scan_iter(match="contention:lock:*") if options.conversation.encode() in key
    ]
    answered = sum(part["answered"] for part in parts)
    waits = [wait for part in parts for wait in part["waits"]]
    return {
        "store": options.store,
        "workers": options.workers,
        "messages": options.messages,
        "answered": answered,
        "lock_errors": sum(part["lock_errors"] for part in parts),
        "overlaps": max(part["most_inside"] for part in parts) - 1 if answered else 0,
        "in_tracker": len(set(events)),
        "lost": options.messages - len(set(events)),
        "duplicated": len(events) - len(set(events)),
        "out_of_order": sum(part["out_of_order"] for part in parts),
        "other_errors": {
            name: sum(part["failures"].get(name, 0) for part in parts)
            for name in sorted({name for part in parts for name in part["failures"]})
        },  # fmt: skip
        "leftover_lock_keys": len(leftover),
        "wait_p50_ms": round(percentile(waits, 0.5) * 1000, 1),
        "wait_p95_ms": round(percentile(waits, 0.95) * 1000, 1),
        "seconds": round(time.monotonic() - began - 1.0, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("atomic", "rasa"), default="atomic",
                        help="atomic: bot.rasa_side.lock_store; rasa: Rasa 3.6's RedisLockStore")  # fmt: skip
    parser.add_argument("--port", type=int, required=True, help="the Redis server's port (on 127.0.0.1)")
    parser.add_argument("--password", default=None, help="the Redis server's password, if it has one")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--messages", type=int, default=100, help="messages in the burst, in all (default 100)"
    )
    parser.add_argument(
        "--work-ms", type=float, default=20, help="time each message holds the lock (default 20)"
    )
    parser.add_argument(
        "--lifetime", type=float, default=60, help="the lock's lifetime in seconds (Rasa's: 60)"
    )
    parser.add_argument("--conversation", default=None, help="conversation id (default: a new one)")
    options = parser.parse_args(argv)
    print(json.dumps(run(options)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
