"""The stack's Redis as the Rasa process' own code reaches it (not Rasa's stores, which
endpoints.yml configures): what several workers and replicas must share, such as the
rate limits (bot/rasa_side/guard.py).

Connection details come from the environment `tandem up` sets (TANDEM_REDIS_HOST,
TANDEM_REDIS_PORT, TANDEM_REDIS_PASSWORD); without them there is no shared Redis (unit
tests, a bare `rasa run`) and callers keep their state in memory.
"""

from __future__ import annotations

import os
from typing import Any

# the marked responses in the brand's wording, as bot/rasa_side/nlg.py reads them
from bot.core.rephrased import REPHRASED, text_digest  # noqa: F401


def retry_once(retry_class: type) -> dict[str, Any]:
    """Keywords for a redis-py client: a command on a connection that Redis closed (after a
    restart) is sent again, once, on a new connection; else the first command after every
    Redis restart fails. `retry_class`: redis.retry.Retry, or redis.asyncio.retry.Retry."""
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    return {"retry": retry_class(NoBackoff(), 1), "retry_on_error": [RedisConnectionError]}


def client(db: int = 1, socket_timeout: float = 1.0) -> Any | None:
    """A redis-py client of the stack's Redis, or None when the environment names none."""
    port = os.environ.get("TANDEM_REDIS_PORT")
    if not port:
        return None
    import redis
    import redis.retry

    return redis.Redis(
        host=os.environ.get("TANDEM_REDIS_HOST") or os.environ.get("TANDEM_HOST", "127.0.0.1"),
        port=int(port),
        db=db,
        password=os.environ.get("TANDEM_REDIS_PASSWORD") or None,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        **retry_once(redis.retry.Retry),
    )


STREAM_CHANNEL = "tandem:stream:"  # + conversation id: drafts of a generated answer (actions/streaming.py)
SAY_CHANNEL = "tandem:say:"  # + conversation id: what an agent says, the hand-back (bot/console/handoffs.py)


def async_client(db: int = 1) -> Any | None:
    """A redis.asyncio client of the stack's Redis with no read timeout (it waits on
    publish/subscribe), or None when the environment names none."""
    port = os.environ.get("TANDEM_REDIS_PORT")
    if not port:
        return None
    import redis.asyncio
    import redis.asyncio.retry

    return redis.asyncio.Redis(
        host=os.environ.get("TANDEM_REDIS_HOST") or os.environ.get("TANDEM_HOST", "127.0.0.1"),
        port=int(port),
        db=db,
        password=os.environ.get("TANDEM_REDIS_PASSWORD") or None,
        socket_connect_timeout=2.0,
        **retry_once(redis.asyncio.retry.Retry),
    )
