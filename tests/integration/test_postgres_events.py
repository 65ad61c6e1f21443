"""The event broker's PostgreSQL path, for real: a PostgreSQL server of its own (Debian's,
which `make test` installs), a stack whose Rasa writes its events there
($TANDEM_EVENTS_DB_URL), the console's analytics reading them, and retention deleting them
(the PostgreSQL form of its queries)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy

from bot.console import analytics
from bot.core.settings import Settings
from bot.stack import client
from bot.stack.retention import delete_events
from tests.conftest import free_port, running_stack
from tests.integration.conversation import email_of, recorded_events

pytestmark = pytest.mark.stack


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url():
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not binaries:
        pytest.fail("PostgreSQL is missing: `python3 bot/stack/bootstrap.py --browser` installs it")
    bin_dir = binaries[-1]
    # not under pytest's folder: that one is private to this user, and the server runs as postgres
    folder = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "tandem"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(folder / "log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://tandem@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_stack(postgres_url, tmp_path_factory):
    os.environ["TANDEM_EVENTS_DB_URL"] = postgres_url
    try:
        with running_stack(
            Settings().brand, tmp_path_factory.mktemp("pg-home"), tmp_path_factory.mktemp("pg-kb") / "sources"
        ) as settings:
            yield settings
    finally:
        os.environ.pop("TANDEM_EVENTS_DB_URL", None)


def test_rasa_writes_its_events_to_postgresql_and_the_console_reads_them(pg_stack, postgres_url):
    assert pg_stack.events_db_url == postgres_url
    sender = f"pg-{uuid.uuid4().hex[:8]}"
    client.send(pg_stack, sender, "where is my order")
    client.send(pg_stack, sender, "BB-100031")
    client.send(pg_stack, sender, f"it's {email_of(pg_stack, 'BB-100031')}")
    client.send(pg_stack, sender, "I want to talk to a person")
    events = recorded_events(
        postgres_url, sender, lambda events: sum(e["event"] == "user" for e in events) >= 4
    )
    assert [e["text"] for e in events if e["event"] == "user"][-2:] == [
        "it's [email]",
        "I want to talk to a person",
    ]
    talk = next(c for c in analytics.conversations(events) if c.sender == sender)
    assert talk.handoff == "requested" and talk.turns[0].route == "flow"
    assert not any((pg_stack.home / "events.db").parent.glob("events.db*"))  # nothing went to SQLite

    aged = {"sender_id": sender, "event": "user", "text": "long ago", "timestamp": time.time() - 40 * 86400}
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"),
            {"s": sender, "d": json.dumps(aged)},
        )
    engine.dispose()
    assert delete_events(postgres_url, before=time.time() - 30 * 86400) == 1
    assert delete_events(postgres_url, sender=sender) == len(events)
    assert not [e for e in analytics.read_events(postgres_url) if e["sender_id"] == sender]
