"""Fakes shared by unit tests."""

from __future__ import annotations


class MemoryRedis:
    """The few Redis calls the answer cache and the handoff list make, in memory."""

    def __init__(self):
        self.data, self.sets = {}, {}

    def get(self, key):
        return self.data.get(key)

    def pipeline(self):
        return self

    def set(self, key, value, ex=None):
        self.data[key] = value

    def sadd(self, key, member):
        self.sets.setdefault(key, set()).add(member)

    def expire(self, key, ttl):
        pass

    def execute(self):
        pass

    def smembers(self, key):
        return self.sets.get(key, set())

    def delete(self, *keys):
        removed = sum(self.data.pop(k, None) is not None for k in keys)
        for k in keys:
            self.sets.pop(k, None)
        return removed

    def scan_iter(self, pattern):
        prefix = pattern.rstrip("*")
        return [k for k in [*self.data, *self.sets] if k.startswith(prefix)]

    def hset(self, *args):
        pass
