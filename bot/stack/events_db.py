"""The event broker's database, as the project's Python 3.11 side opens it (the console's
analytics, retention): Rasa's SQL event broker writes it (bot/rasa_side/event_broker.py)."""

from __future__ import annotations

from pathlib import Path


def engine(url: str):
    """A SQLAlchemy engine on the database, or None when there is nothing to read yet (no
    SQLite file, no ``events`` table). The caller disposes of it. PostgreSQL URLs are read
    with psycopg 3 (this venv's driver), whichever driver the Rasa side names."""
    import sqlalchemy

    where = sqlalchemy.engine.make_url(url)
    if where.get_backend_name() == "sqlite" and where.database and not Path(where.database).exists():
        return None  # (opening it would create an empty file)
    if where.get_backend_name() in ("postgresql", "postgres"):
        where = where.set(drivername="postgresql+psycopg")
    found = sqlalchemy.create_engine(where)
    if not sqlalchemy.inspect(found).has_table("events"):
        found.dispose()
        return None
    return found
