"""Rasa's SQL event broker, with personal data masked: every conversation event, for analytics.

endpoints.yml names it (``type: bot.rasa_side.event_broker.PrivateSQLEventBroker``, ``url:``
a SQLAlchemy URL, SQLite in $TANDEM_HOME by default, PostgreSQL when
$TANDEM_EVENTS_DB_URL gives one). Rows are Rasa's own: table ``events`` (id, sender_id,
data = the event as JSON), so anything that reads Rasa's SQL broker reads this.

What differs from Rasa's ``type: SQL``:

- texts (what the customer typed, what the bot answered, entities, metadata) and slot values
  are masked (bot/core/privacy.py) before they are written: analytics never holds an email;
- SQLite runs in WAL mode without a sync per commit, and waits for a writer instead of
  failing, so several Sanic workers and replicas write one file without slowing turns;
- events are queued and written by a thread of the broker, each batch (a turn's events,
  usually) in one transaction, so a turn never waits for the database; the queue is written
  out when the process exits. A process killed with ``kill -9`` loses the events still
  queued (the last milliseconds); the conversation itself is in Redis;
- a failed write is logged and dropped: analytics must never fail a customer's turn.

Import nothing from the rest of ``bot/`` but bot.core.privacy (standard library only).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import queue
import threading
import time
from typing import Any

import sqlalchemy
import sqlalchemy.exc
import sqlalchemy.orm
import sqlalchemy.pool
from rasa.core.brokers.sql import SQLEventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import event as sqlalchemy_events

from bot.core import privacy

logger = logging.getLogger(__name__)

BATCH = 500  # events written in one transaction at most

MASKED_FIELDS = {"user": ("text", "parse_data", "metadata"), "bot": ("text", "data", "metadata")}


def private_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its personal data masked (texts, entities, metadata, slot values)."""
    kind = event.get("event")
    if kind in MASKED_FIELDS:
        return {
            key: privacy.mask_value(value) if key in MASKED_FIELDS[kind] else value
            for key, value in event.items()
        }
    if kind == "slot":
        return {**event, "value": privacy.mask_value(event.get("value"))}
    return event


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def strict_json(row: dict[str, Any]) -> str:
    """The event as standard JSON: a non-finite number (a client may post `Infinity` in a
    message's metadata; Python reads and writes it) becomes null, since SQLite's and
    PostgreSQL's JSON functions refuse the whole row, and the retention sweep with them."""
    try:
        return json.dumps(row, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(row), allow_nan=False)


class PrivateSQLEventBroker(SQLEventBroker):
    def __init__(self, url: str = "sqlite:///events.db") -> None:
        self.url = url
        if not url.startswith("sqlite"):
            self.engine = sqlalchemy.create_engine(url)
        else:
            # One connection kept open per process. SQLAlchemy 1.4 opens a new SQLite
            # connection for every session by default (NullPool); with one publish per event
            # that was a connect, two pragmas and, on the last close, a WAL checkpoint for
            # every event: more than half of a scripted turn's time in Rasa. The broker's
            # writer thread is its only user (and the table's creation, below).
            self.engine = sqlalchemy.create_engine(
                url,
                connect_args={"timeout": 30, "check_same_thread": False},
                poolclass=sqlalchemy.pool.QueuePool,
                pool_size=1,
                max_overflow=4,
            )

            @sqlalchemy_events.listens_for(self.engine, "connect")
            def _pragmas(connection, _record) -> None:
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

        for attempt in range(3):  # two workers starting at once both create the table
            try:
                self.Base.metadata.create_all(self.engine)
                break
            except sqlalchemy.exc.OperationalError:
                if attempt == 2:
                    raise
        self.sessionmaker = sqlalchemy.orm.sessionmaker(bind=self.engine)
        self._queue: queue.Queue | None = None
        self._pid = 0

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig, event_loop: Any = None):
        return cls(url=broker_config.url or "sqlite:///events.db")

    def publish(self, event: dict[str, Any]) -> None:
        """Queued, and written by the broker's own thread: a turn never waits for analytics."""
        self._writer().put(event)

    def _writer(self) -> queue.Queue:
        # started on first use, in the process that publishes (Sanic forks its workers after
        # importing the app, and a thread does not survive a fork)
        if self._queue is None or self._pid != os.getpid():
            self._queue, self._pid = queue.Queue(), os.getpid()
            threading.Thread(
                target=self._write_forever, args=(self._queue,), name="event-broker", daemon=True
            ).start()
            atexit.register(self.flush)
        return self._queue

    def _write_forever(self, events: queue.Queue) -> None:
        while True:
            batch = [events.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(events.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            for _ in batch:
                events.task_done()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """One transaction for the events queued meanwhile (one turn's, usually)."""
        try:
            rows = [private_event(event) for event in batch]
            with self.session_scope() as session:
                session.add_all(
                    [
                        self.SQLBrokerEvent(sender_id=row.get("sender_id"), data=strict_json(row))
                        for row in rows
                    ]
                )
                session.commit()
        except Exception as error:  # analytics lose these events; the customers' turns go on
            senders = sorted({str(event.get("sender_id")) for event in batch})
            logger.warning("event broker: %d event(s) of %s not recorded: %s", len(batch), senders, error)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is written (at exit, and for tests): whether it was."""
        if self._queue is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    async def close(self) -> None:
        self.flush()
