"""Fixtures shared by the Rasa and integration tests: a trained model and a real stack."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from bot.core.brand import Brand
from bot.core.settings import Settings
from bot.stack import processes as stack_module
from bot.stack import training


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_stack(
    brand: Brand, home: Path, sources: Path, models: Path | None = None, **overrides
) -> Iterator[Settings]:
    """The real stack of `brand` (Redis, action server, Rasa server) on free ports, with its
    own state folder and its own copy of the brand's documents at `sources` (conversation
    tests edit a document and refresh), so it never touches a stack a developer is running.
    The brand's model is trained first (into `models`, default models/) if its domain,
    data or config changed. `overrides`: other Settings fields (rasa_replicas, ...)."""
    shutil.copytree(brand.sources, sources)
    settings = Settings(
        home=home, redis_port=free_port(), actions_port=free_port(), rasa_port=free_port(), brand=brand
    )
    if models is not None:
        settings = replace(settings, models_dir=models)
    settings = replace(settings, **overrides)  # e.g. rasa_replicas, rasa_workers
    _, seconds = training.train(settings)
    if seconds is not None:
        print(f"\ntrained the Rasa model of {brand.name} in {seconds:.0f} s")
    saved_sources = os.environ.get("TANDEM_KB_SOURCES")
    os.environ["TANDEM_KB_SOURCES"] = str(sources)  # what the action server reads
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


def refresh_knowledge(settings: Settings) -> None:
    """Build the running stack's knowledge base from its documents; every file must load."""
    reply = requests.post(
        f"{settings.actions_url}/kb/refresh",
        json={},
        headers={"Authorization": f"Bearer {settings.rasa_token}"},
        timeout=600,
    )
    assert reply.ok and reply.json()["problems"] == [], reply.text


@pytest.fixture(scope="session")
def model():
    """The current Rasa model of the sample brand, trained first if its inputs changed."""
    path, seconds = training.train(Settings())
    if seconds is not None:
        print(f"\ntrained the Rasa model in {seconds:.0f} s")
    return path


@pytest.fixture(scope="session")
def stack(model, tmp_path_factory):
    """The sample brand's real stack (see running_stack). While it runs, this process's
    TANDEM_KB_SOURCES is its copy of the documents."""
    home = tmp_path_factory.mktemp("tandem-home")
    with running_stack(Settings().brand, home, tmp_path_factory.mktemp("kb") / "sources") as settings:
        yield settings


@pytest.fixture(scope="session")
def kb_stack(stack):
    """The real stack with its knowledge base built from the brand's sources/."""
    refresh_knowledge(stack)
    return stack
