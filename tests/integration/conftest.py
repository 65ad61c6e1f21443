"""Fixtures of the integration tests."""

from __future__ import annotations

import subprocess

import pytest
import redis

from bot.stack.processes import redis_binary
from tests.conftest import free_port


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    """A Redis of its own for a module's tests; its port."""
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            subprocess.run(["sleep", "0.05"])
    yield port
    server.terminate()
    server.wait(10)
