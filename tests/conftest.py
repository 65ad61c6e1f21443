"""Fixtures shared by the Rasa and integration tests: a trained model and a real stack."""

from __future__ import annotations

import os
import shutil
import socket

import pytest
import requests

from bot import stack as stack_module
from bot import training
from bot.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def model():
    """The current Rasa model, trained first if the domain, data or config changed."""
    path, seconds = training.train(Settings())
    if seconds is not None:
        print(f"\ntrained the Rasa model in {seconds:.0f} s")
    return path


@pytest.fixture(scope="session")
def stack(model, tmp_path_factory):
    """The real stack (Redis, action server, Rasa server) on free ports, with its own
    state folder and its own copy of knowledge/sources/ (conversation tests edit a
    document and refresh), so it never touches a stack a developer is running."""
    from knowledge.config import SOURCES_DIR

    sources = tmp_path_factory.mktemp("kb") / "sources"
    shutil.copytree(SOURCES_DIR, sources)
    saved_sources = os.environ.get("TANDEM_KB_SOURCES")
    os.environ["TANDEM_KB_SOURCES"] = str(sources)
    settings = Settings(
        home=tmp_path_factory.mktemp("tandem-home"),
        redis_port=free_port(),
        actions_port=free_port(),
        rasa_port=free_port(),
    )
    try:
        try:
            stack_module.up(settings)
        except stack_module.StackError:
            stack_module.down(settings)
            raise
        yield settings
        stack_module.down(settings)
    finally:
        if saved_sources is None:
            os.environ.pop("TANDEM_KB_SOURCES", None)
        else:
            os.environ["TANDEM_KB_SOURCES"] = saved_sources


@pytest.fixture(scope="session")
def kb_stack(stack):
    """The real stack with its knowledge base built from knowledge/sources/."""
    reply = requests.post(
        f"{stack.actions_url}/kb/refresh",
        json={},
        headers={"Authorization": f"Bearer {stack.rasa_token}"},
        timeout=600,
    )
    assert reply.ok and reply.json()["problems"] == [], reply.text
    return stack
