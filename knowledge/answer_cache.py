"""Cache of knowledge answers in Redis.

The key is the search query plus the ids of the passages the answer was built from; chunk
ids are content hashes, so an edited passage can never serve an old answer. On top of
that, each entry is listed under the documents it cites, and a refresh deletes the entries
of every document it changed (:meth:`AnswerCache.invalidate`), so nothing stale lingers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

PREFIX = "tandem:answer:"
BY_SOURCE = "tandem:answer-sources:"


class AnswerCache:
    def __init__(self, redis: Any, ttl_seconds: int = 24 * 3600) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    @staticmethod
    def key(query: str, passage_ids: Iterable[str]) -> str:
        digest = hashlib.sha256((" ".join(query.lower().split()) + "\0" + ",".join(passage_ids)).encode())
        return PREFIX + digest.hexdigest()[:32]

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = self.redis.get(key)
        except Exception:  # a cache must never fail a turn
            logger.warning("answer cache unavailable", exc_info=True)
            return None
        return json.loads(raw) if raw else None

    def put(self, key: str, value: dict[str, Any], sources: Iterable[str]) -> None:
        try:
            pipe = self.redis.pipeline()
            pipe.set(key, json.dumps(value), ex=self.ttl)
            for source in set(sources):
                pipe.sadd(BY_SOURCE + source, key)
                pipe.expire(BY_SOURCE + source, self.ttl)
            pipe.execute()
        except Exception:
            logger.warning("answer cache unavailable", exc_info=True)

    def invalidate(self, sources: Iterable[str]) -> int:
        """Delete every cached answer citing one of `sources`; returns how many."""
        removed = 0
        for source in set(sources):
            keys = list(self.redis.smembers(BY_SOURCE + source))
            if keys:
                removed += self.redis.delete(*keys)
            self.redis.delete(BY_SOURCE + source)
        return removed

    def clear(self) -> int:
        """Delete every cached answer (a benchmark that must time answers being made)."""
        keys = [*self.redis.scan_iter(PREFIX + "*"), *self.redis.scan_iter(BY_SOURCE + "*")]
        return self.redis.delete(*keys) if keys else 0
