"""A Redis lock store whose tickets are issued and released atomically.

endpoints.yml names it (``type: bot.rasa_side.lock_store.AtomicRedisLockStore``).

Rasa serves one message of a conversation at a time: each message takes a ticket and waits
until its ticket is the first one left. Rasa 3.6's ``RedisLockStore`` reads the whole
lock, appends a ticket in Python and writes the lock back. Two Sanic workers (or two
replicas) doing that at once both get the same ticket, or one overwrites the other's:
two messages of one conversation then run at once and one tracker write is lost, or a
ticket vanishes and its message fails with ``LockError``. Its waiters also poll once a
second, so a burst of messages is served about one a second and, past the lock's 60 s
lifetime, dropped.

Here each step is one Lua script, so Redis runs it whole:

- *issue*: ``INCR`` the conversation's counter and queue the ticket (a sorted set, by
  number) with a short lease;
- *try*: drop expired tickets at the head of the queue (a crashed worker's), and tell the
  caller whether its ticket is first; a waiter's try also renews its own lease, so only
  the tickets of processes that stopped waiting expire;
- *renew*: while its message runs, the holder renews its own short lease every few seconds
  (for at most the lock's lifetime), so the ticket of a process killed mid-message is
  dropped within ``waiter_lease`` seconds, not after the whole lifetime (60 s);
- *release*: remove the ticket and push a token onto the next ticket's wake-up list.

A waiter blocks on its own wake-up list (``BLPOP``, at most ``wait_time_in_seconds``), so
the next message starts as soon as the previous one is done, not up to a second later.
Tickets are served in the order they were issued, which is the order the messages reached
the process (the issue is a synchronous call, made in arrival order).

All keys of a conversation share one hash tag (``{conversation}``), so they stay together
on a Redis Cluster too. Times are Redis' own clock (``TIME``), the same for every replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

from bot.rasa_side.shared_redis import retry_once

logger = logging.getLogger(__name__)

# a waiting or holding ticket is renewed at least this often; one not renewed for WAITER_LEASE
# seconds belongs to a process that died (waiting, or in the middle of its message), and is
# dropped when it comes first
WAITER_LEASE = 10.0

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)"
_KEEP = "for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[#ARGV]) end"

# KEYS: counter, queue, leases; ARGV: lease (ms), key lifetime (ms)
ISSUE = f"""
{_NOW}
local n = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], n, n)
redis.call('HSET', KEYS[3], n, now + tonumber(ARGV[1]))
{_KEEP}
return n
"""

# KEYS: counter, queue, leases; ARGV: ticket, waiting lease (ms), holding lease (ms), the
# ticket's wake-up list, key lifetime (ms)
# returns 1: the ticket holds the lock (its wake-up list is deleted); 0: it waits; -1: it
# expired (or was never issued)
TRY = f"""
{_NOW}
local mine = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if mine < now then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  return -1
end
while true do
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not head then  -- the queue lost the ticket its lease still holds: queue it again
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
    head = ARGV[1]
  end
  if head == ARGV[1] then
    redis.call('HSET', KEYS[3], ARGV[1], now + tonumber(ARGV[3]))
    redis.call('DEL', ARGV[4])
    {_KEEP}
    return 1
  end
  if tonumber(redis.call('HGET', KEYS[3], head) or '0') >= now then break end
  redis.call('ZREM', KEYS[2], head)
  redis.call('HDEL', KEYS[3], head)
end
redis.call('HSET', KEYS[3], ARGV[1], now + tonumber(ARGV[2]))
{_KEEP}
return 0
"""

# KEYS: counter, queue, leases; ARGV: ticket, lease (ms), key lifetime (ms)
# returns 1: renewed; 0: the ticket is gone (it expired)
RENEW = f"""
{_NOW}
if not redis.call('HGET', KEYS[3], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], now + tonumber(ARGV[2]))
{_KEEP}
return 1
"""

# KEYS: counter, queue, leases; ARGV: ticket, wake-up list prefix, key lifetime (ms)
RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if not head then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 0
end
local wake = ARGV[2] .. head
redis.call('DEL', wake)
redis.call('RPUSH', wake, '1')
redis.call('PEXPIRE', wake, ARGV[3])
return tonumber(head)
"""


class LoopScripts(NamedTuple):
    """An event loop's asyncio Redis client and the scripts registered with it."""

    client: Any
    try_turn: Any
    release: Any
    renew: Any


class AtomicRedisLockStore(LockStore):
    """Rasa's lock store interface, on Redis, with atomic tickets (see the module's text)."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 1,
        username: str | None = None,
        password: str | None = None,
        key_prefix: str | None = None,
        socket_timeout: float = 10,
        waiter_lease: float = WAITER_LEASE,
        endpoint_config: Any = None,
        **_: Any,
    ) -> None:
        import redis
        import redis.asyncio.retry
        import redis.retry

        if endpoint_config is not None:  # how Rasa builds a lock store named in endpoints.yml
            given = {"host": endpoint_config.url or host, **endpoint_config.kwargs}
            host, port, db = given["host"], given.get("port", port), given.get("db", db)
            username, password = given.get("username", username), given.get("password", password)
            key_prefix = given.get("key_prefix", key_prefix)
            socket_timeout = given.get("socket_timeout", socket_timeout)
            waiter_lease = given.get("waiter_lease", waiter_lease)

        self._connection = dict(
            host=host,
            port=int(port),
            db=int(db),
            username=username or None,
            password=password or None,
            socket_timeout=float(socket_timeout),
        )
        self.red = redis.Redis(**self._connection, **retry_once(redis.retry.Retry))
        self.waiter_lease = float(waiter_lease)
        self.prefix = f"{key_prefix}:lock:" if key_prefix else "lock:"
        self._issue = self.red.register_script(ISSUE)
        self._release_now = self.red.register_script(RELEASE)
        self._async: Any = weakref.WeakKeyDictionary()  # one asyncio client per event loop
        self._pending: set[asyncio.Task] = set()  # releases waiting for Redis to come back
        super().__init__()

    # -- keys -------------------------------------------------------------------------------

    def _keys(self, conversation_id: str) -> list[str]:
        base = f"{self.prefix}{{{conversation_id}}}"
        return [f"{base}:next", f"{base}:queue", f"{base}:lease"]

    def _key_lifetime(self, lock_lifetime: float) -> int:
        """How long a conversation's lock keys outlive their last use (ms): a lock left by
        processes that all died is gone by then."""
        return _ms(max(lock_lifetime, self.waiter_lease)) * 2

    def _wake_prefix(self, conversation_id: str) -> str:
        return f"{self.prefix}{{{conversation_id}}}:wake:"

    def _client(self) -> LoopScripts:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        if loop not in self._async:
            client = redis.asyncio.Redis(**self._connection, **retry_once(redis.asyncio.retry.Retry))
            self._async[loop] = LoopScripts(
                client,
                client.register_script(TRY),
                client.register_script(RELEASE),
                client.register_script(RENEW),
            )
        return self._async[loop]

    # -- the lock ---------------------------------------------------------------------------

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Queue a new ticket for `conversation_id` and return its number (one script)."""
        try:
            return int(
                self._issue(
                    keys=self._keys(conversation_id),
                    args=[_ms(self.waiter_lease), self._key_lifetime(lock_lifetime)],
                )
            )
        except Exception as error:
            raise LockError(
                f"Could not issue a ticket for conversation '{conversation_id}': {error}"
            ) from error

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock: wait for this message's turn, run, pass it on."""
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            held = await self._wait_for_turn(conversation_id, ticket, lock_lifetime, wait_time_in_seconds)
            renewing = asyncio.get_running_loop().create_task(
                self._keep_holding(conversation_id, ticket, lock_lifetime)
            )
            try:
                yield held
            finally:
                renewing.cancel()
        finally:
            await self._release(conversation_id, ticket, lock_lifetime)

    def _holding_lease(self, lock_lifetime: float) -> float:
        """A held ticket's lease between renewals (seconds)."""
        return min(self.waiter_lease, lock_lifetime)

    async def _keep_holding(self, conversation_id: str, ticket: int, lock_lifetime: float) -> None:
        """Renew the held ticket's lease while its message runs, up to the lock's lifetime."""
        renew = self._client().renew
        keys, key_lifetime = self._keys(conversation_id), self._key_lifetime(lock_lifetime)
        started = time.monotonic()
        while True:
            await asyncio.sleep(self._holding_lease(lock_lifetime) / 3)
            left = lock_lifetime - (time.monotonic() - started)
            if left <= 0:
                return  # held for its whole lifetime: let it expire, as Rasa's would
            try:
                args = [ticket, _ms(min(self._holding_lease(lock_lifetime), left)), key_lifetime]
                if not int(await renew(keys=keys, args=args)):
                    return
            except Exception:  # noqa: BLE001 (Redis away: the message fails with "having trouble")
                logger.debug("could not renew the lock of conversation %r", conversation_id)

    async def _wait_for_turn(
        self, conversation_id: str, ticket: int, lock_lifetime: float, wait_time_in_seconds: float
    ) -> TicketLock:
        scripts = self._client()
        keys = self._keys(conversation_id)
        wake = f"{self._wake_prefix(conversation_id)}{ticket}"
        key_lifetime = self._key_lifetime(lock_lifetime)
        poll = max(0.05, min(float(wait_time_in_seconds), self.waiter_lease / 2))
        while True:
            try:
                holding = _ms(self._holding_lease(lock_lifetime))
                args = [ticket, _ms(self.waiter_lease), holding, wake, key_lifetime]
                state = int(await scripts.try_turn(keys=keys, args=args))
                if state == 1:
                    return TicketLock(conversation_id, deque([Ticket(ticket, time.time() + lock_lifetime)]))
                if state < 0:
                    break
                await scripts.client.blpop([wake], timeout=poll)
            except Exception as error:
                raise LockError(
                    f"Lock store unavailable for conversation '{conversation_id}': {error}"
                ) from error
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")

    async def _release(self, conversation_id: str, ticket: int, lock_lifetime: float) -> None:
        if not await self._try_release(conversation_id, ticket, lock_lifetime):
            # Redis went away while the message held the lock (the message itself failed
            # with "having trouble"). Left alone, the ticket would hold the conversation
            # for its whole lease (60 s) after Redis is back: release it once Redis answers.
            logger.warning(f"Could not release the lock of conversation '{conversation_id}' yet; retrying")
            task = asyncio.get_running_loop().create_task(
                self._release_later(conversation_id, ticket, lock_lifetime)
            )
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _try_release(self, conversation_id: str, ticket: int, lock_lifetime: float) -> bool:
        try:
            args = [ticket, self._wake_prefix(conversation_id), self._key_lifetime(lock_lifetime)]
            await self._client().release(keys=self._keys(conversation_id), args=args)
            return True
        except Exception:  # noqa: BLE001 (Redis unreachable: the caller retries)
            return False

    async def _release_later(self, conversation_id: str, ticket: int, lock_lifetime: float) -> None:
        deadline = time.monotonic() + lock_lifetime
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if await self._try_release(conversation_id, ticket, lock_lifetime):
                return

    # -- Rasa's LockStore interface, for callers that inspect locks ---------------------------

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        """The conversation's queued tickets, first first (None when there are none)."""
        _, queue, leases = self._keys(conversation_id)
        numbers = [int(n) for n in self.red.zrange(queue, 0, -1)]
        if not numbers:
            return None
        expiries = self.red.hmget(leases, numbers)
        tickets = [Ticket(n, float(e or 0) / 1000) for n, e in zip(numbers, expiries, strict=True)]
        return TicketLock(conversation_id, deque(tickets))

    def delete_lock(self, conversation_id: str) -> None:
        deleted = self.red.delete(*self._keys(conversation_id))
        self._log_deletion(conversation_id, bool(deleted))

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("tickets are issued and released by scripts; a whole lock is never written")

    def update_lock(self, conversation_id: str) -> None:
        """Expired tickets are dropped by the scripts themselves."""

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._release_now(
            keys=self._keys(conversation_id),
            args=[ticket_number, self._wake_prefix(conversation_id), self._key_lifetime(LOCK_LIFETIME)],
        )

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self.finish_serving(conversation_id, ticket_number)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
