"""The atomic lock store (bot/rasa_side/lock_store.py) against a real Redis, beside Rasa 3.6's
own RedisLockStore: a burst of messages on one conversation from several worker processes,
a worker that dies holding the lock or waiting for it, and Redis going away.

The lock stores run in the Rasa venv (they are Rasa classes), so each check is a script
run there: bot/rasa_side/lock_contention.py, or a few lines given here."""

from __future__ import annotations

import json
import subprocess
import textwrap

import redis

from bot.core.settings import ROOT
from tests.conftest import free_port

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def burst(port: int, store: str, **options) -> dict:
    arguments = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    result = subprocess.run(
        [
            str(RASA_PYTHON),
            "-m",
            "bot.rasa_side.lock_contention",
            "--store",
            store,
            "--port",
            str(port),
            *arguments,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def in_rasa_venv(code: str, port: int, timeout: float = 60) -> subprocess.CompletedProcess:
    prelude = textwrap.dedent(f"""
        import asyncio, os, sys, time
        from bot.rasa_side.lock_store import AtomicRedisLockStore
        from rasa.core.lock_store import LockError
        def store(**options):
            return AtomicRedisLockStore(host="127.0.0.1", port={port}, key_prefix="test", **options)
    """)
    return subprocess.run(
        [str(RASA_PYTHON), "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def test_rasas_own_lock_store_loses_messages_of_a_burst(redis_port):
    """The loss this store fixes, reproduced: Rasa 3.6's RedisLockStore polls once a second,
    so a burst outlasts the lock's lifetime (here 5 s, Rasa's 60 s scaled down), and its
    read-modify-write tickets let two workers' messages overwrite each other."""
    result = burst(redis_port, "rasa", workers=2, messages=30, lifetime=5)
    assert result["lost"] > 0, result
    assert result["answered"] < 30, result


def test_a_burst_from_several_workers_is_served_whole_once_each_and_in_order(redis_port):
    result = burst(redis_port, "atomic", workers=4, messages=100, lifetime=5)
    assert result["answered"] == 100, result
    assert result["lock_errors"] == 0 and result["other_errors"] == {}, result
    assert result["overlaps"] == 0, result  # never two messages of the conversation at once
    assert result["in_tracker"] == 100 and result["lost"] == 0 and result["duplicated"] == 0, result
    assert result["out_of_order"] == 0, result  # each worker's messages in their arrival order
    assert result["leftover_lock_keys"] == 0, result  # the last release deletes the lock


def kill_a_holder(redis_port: int, conversation: str, options: str, lifetime: float) -> None:
    """A worker takes the conversation's lock and dies holding it (os._exit: no release)."""
    holder = in_rasa_venv(
        f"""
        async def main():
            async with store({options}).lock("{conversation}", lock_lifetime={lifetime}):
                print("holding", flush=True)
                os._exit(9)
        asyncio.run(main())
        """,
        redis_port,
    )
    assert holder.stdout.strip() == "holding", holder.stderr[-2000:]


def test_the_lock_of_a_worker_killed_while_holding_it_expires(redis_port):
    """A worker dies mid-message (kill -9): its ticket stays first until its lifetime (here
    shorter than the lease) ends, then the next message is served."""
    kill_a_holder(redis_port, "crashed-holder", "", lifetime=2)
    waiter = in_rasa_venv(
        """
        async def main():
            started = time.monotonic()
            async with store().lock("crashed-holder", lock_lifetime=2):
                print(f"served after {time.monotonic() - started:.1f} s")
        asyncio.run(main())
        """,
        redis_port,
    )
    assert waiter.stdout.startswith("served after"), waiter.stderr[-2000:]


def test_a_worker_killed_mid_message_holds_the_conversation_for_its_lease_not_the_lifetime(redis_port):
    """The holder renews a short lease while its message runs: killed mid-message (as a Rasa
    replica is by kill -9), its ticket is dropped once that lease ends, not after the 60 s
    lifetime, while a message that runs longer than the lease keeps its lock."""
    kill_a_holder(redis_port, "killed-holder", "waiter_lease=1", lifetime=60)
    waiter = in_rasa_venv(
        """
        async def main():
            started = time.monotonic()
            async with store(waiter_lease=1).lock("killed-holder", lock_lifetime=60):
                print(f"{time.monotonic() - started:.2f}")
            # a live holder's message outlasting its lease: nobody else gets in meanwhile
            long, other = store(waiter_lease=1), store(waiter_lease=1)
            order = []
            async def slow():
                async with long.lock("long-message", lock_lifetime=60):
                    await asyncio.sleep(3)  # three leases
                    order.append("slow done")
            async def next_one():
                await asyncio.sleep(0.2)
                async with other.lock("long-message", lock_lifetime=60):
                    order.append("next")
            await asyncio.gather(slow(), next_one())
            print(order)
        asyncio.run(main())
        """,
        redis_port,
    )
    lines = waiter.stdout.strip().splitlines()
    assert len(lines) == 2, waiter.stderr[-2000:]
    assert float(lines[0]) < 5, lines  # the lease (1 s) and a wait's poll, not 60 s
    assert lines[1] == "['slow done', 'next']", lines


def test_a_worker_that_died_waiting_does_not_block_the_messages_behind_it(redis_port):
    code = """
        async def main():
            first, dead = store(waiter_lease=1), store(waiter_lease=1)
            async with first.lock("crashed-waiter", lock_lifetime=30):
                # a worker takes a ticket behind this one and dies before its turn (it never
                # waits, so never renews its lease)
                dead.issue_ticket("crashed-waiter", 30)
                third = asyncio.create_task(behind())
                await asyncio.sleep(0.3)
            print(await third)
        async def behind():
            async with store(waiter_lease=1).lock("crashed-waiter", lock_lifetime=30):
                return "third served"
        asyncio.run(main())
    """
    result = in_rasa_venv(code, redis_port)
    assert result.stdout.strip() == "third served", result.stderr[-2000:]


def test_without_redis_a_message_fails_at_once_with_a_lock_error():
    """Rasa's channels then send the short 'having trouble' reply (bot/rasa_side/guard.py)
    instead of waiting."""
    closed = free_port()
    result = in_rasa_venv(
        """
        async def main():
            try:
                async with store(socket_timeout=2).lock("no-redis"):
                    print("served")
            except LockError as error:
                print("LockError")
        asyncio.run(main())
        """,
        closed,
    )
    assert result.stdout.strip() == "LockError", result.stderr[-2000:]


def test_rasa_builds_the_store_from_endpoints_yml(redis_port):
    """Rasa loads a custom lock store class with the endpoint's settings as keywords."""
    result = in_rasa_venv(
        f"""
        from rasa.core.lock_store import LockStore
        from rasa.utils.endpoints import EndpointConfig
        config = EndpointConfig(url="127.0.0.1", type="bot.rasa_side.lock_store.AtomicRedisLockStore",
                                port="{redis_port}", db=1, key_prefix="tandem", password="")
        built = LockStore.create(config)
        ticket = built.issue_ticket("from-config")
        print(type(built).__name__, built.get_lock("from-config").now_serving == ticket)
        built.delete_lock("from-config")
        """,
        redis_port,
    )
    assert result.stdout.strip() == "AtomicRedisLockStore True", result.stderr[-2000:]


def test_the_next_message_after_redis_closed_every_connection_is_served(redis_port):
    """What a Redis restart does to the store's open connections: the next command opens a
    new one instead of failing the message (the first message after a restart was answered
    'having trouble')."""
    result = in_rasa_venv(
        f"""
        import redis
        async def main():
            mine = store()
            async with mine.lock("after-restart"):
                pass
            killed = redis.Redis(port={redis_port}).client_kill_filter(_type="normal", skipme=True)
            async with mine.lock("after-restart"):
                print("served", killed > 0)
        asyncio.run(main())
        """,
        redis_port,
    )
    assert result.stdout.strip() == "served True", result.stderr[-2000:]


def test_rate_limits_are_shared_by_every_worker(redis_port):
    """Two workers (two limiters on one Redis) count the same conversation's messages."""
    from bot.rasa_side.guard import SharedRateLimiter

    client = redis.Redis(port=redis_port, db=1)
    workers = [SharedRateLimiter(client, "conversation", per_minute=6) for _ in range(2)]
    allowed = [workers[i % 2].allow("conversation-a") for i in range(10)]
    assert allowed == [True] * 6 + [False] * 4
    assert workers[1].allow("conversation-b")  # another conversation has a bucket of its own
    keys = client.keys("tandem:rate:conversation:*")
    assert keys and all(b"conversation-a" not in key for key in keys)  # hashed, not the id
    assert 0 < client.pttl(keys[0]) <= 61_000  # gone once the bucket is full again


def test_without_redis_the_rate_limit_lets_the_message_through():
    from bot.rasa_side.guard import SharedRateLimiter

    limiter = SharedRateLimiter(redis.Redis(port=free_port(), socket_timeout=1), "conversation", per_minute=1)
    assert limiter.allow("a") and limiter.allow("a")


def test_a_lock_whose_release_failed_is_released_once_redis_answers_again(redis_port):
    """Redis unreachable as a message ends (its turn fails with 'having trouble'): the
    ticket is released when Redis is back, not left to hold the conversation for its whole
    lease (here 30 s; a waiter gives up after 15)."""
    result = in_rasa_venv(
        f"""
        import redis
        async def main():
            admin = redis.Redis(port={redis_port})
            mine = store(socket_timeout=1)
            async with mine.lock("release-later", lock_lifetime=30):
                admin.config_set("requirepass", "locked-out")  # new connections fail
                admin.client_kill_filter(_type="normal", skipme=True)
            await asyncio.sleep(1)
            admin.config_set("requirepass", "")
            started = time.monotonic()
            async with store().lock("release-later", lock_lifetime=30):
                print(f"served after {{time.monotonic() - started:.0f}} s")
        asyncio.run(asyncio.wait_for(main(), 20))
        """,
        redis_port,
    )
    assert result.stdout.startswith("served after"), result.stderr[-2000:]
