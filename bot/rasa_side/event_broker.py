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
- a failed write is logged and dropped: analytics must never fail a customer's turn.

Import nothing from the rest of ``bot/`` but bot.core.privacy (standard library only).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy
import sqlalchemy.exc
import sqlalchemy.orm
from rasa.core.brokers.sql import SQLEventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import event as sqlalchemy_events

from bot.core import privacy

logger = logging.getLogger(__name__)

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


class PrivateSQLEventBroker(SQLEventBroker):
    def __init__(self, url: str = "sqlite:///events.db") -> None:
        self.url = url
        self.engine = sqlalchemy.create_engine(
            url, connect_args={"timeout": 30} if url.startswith("sqlite") else {}
        )
        if url.startswith("sqlite"):

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

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig, event_loop: Any = None):
        return cls(url=broker_config.url or "sqlite:///events.db")

    def publish(self, event: dict[str, Any]) -> None:
        try:
            event = private_event(event)
            with self.session_scope() as session:
                session.add(self.SQLBrokerEvent(sender_id=event.get("sender_id"), data=json.dumps(event)))
                session.commit()
        except Exception as error:  # analytics lose an event; the customer's turn goes on
            logger.warning("event broker: an event of %s was not recorded: %s", event.get("sender_id"), error)
