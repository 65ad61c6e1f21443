"""The Rasa server's real health: what a load balancer, an orchestrator or a monitor asks
(``GET /webhooks/rest/health``, also ``GET /webhooks/rest/``).

Rasa's own ``/`` and ``/status`` say "up" while Redis (its tracker and lock store) or the
action server (every response is rendered there) is down, when every message fails. This
answers 200 only when a message can be served: the model is loaded, Redis answers and
the action server answers its ``/health``; else 503, with the part that is not.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bot.rasa_side import shared_redis

TIMEOUT_SECONDS = 1.0


async def redis_ok(client: Any) -> bool:
    if client is None:  # no stack environment: nothing to check here
        return True
    try:
        return bool(await asyncio.wait_for(asyncio.to_thread(client.ping), TIMEOUT_SECONDS * 2))
    except Exception:  # noqa: BLE001 (any failure means not healthy)
        return False


async def actions_ok() -> bool:
    port = os.environ.get("TANDEM_ACTIONS_PORT")
    if not port:
        return True
    import aiohttp

    host = os.environ.get("TANDEM_ACTIONS_HOST") or os.environ.get("TANDEM_HOST", "127.0.0.1")
    url = f"http://{host}:{port}/health"
    try:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as reply:
            return reply.status == 200
    except Exception:  # noqa: BLE001
        return False


class Health:
    """Checks the parts a message needs; one Redis client for the server's life."""

    def __init__(self) -> None:
        self.redis = shared_redis.client(db=0, socket_timeout=TIMEOUT_SECONDS)

    async def report(self, app: Any) -> tuple[bool, dict[str, str]]:
        agent = getattr(app.ctx, "agent", None)
        model = agent is not None and agent.is_ready()
        redis, actions = await asyncio.gather(redis_ok(self.redis), actions_ok())
        parts = {
            "model": "loaded" if model else "not loaded",
            "redis": "ok" if redis else "unreachable",
            "actions": "ok" if actions else "unreachable",
        }
        return model and redis and actions, parts
