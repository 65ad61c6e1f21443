"""What the stack keeps about customers, and for how long: forgetting one customer, and
deleting what is older than the brand's retention period.

- Conversations: Redis keys ``tandem:tracker:<id>`` (db 0), which expire that many days
  after their last message (endpoints.yml ``record_exp``); locks ``tandem:lock:{<id>}:...``
  (db 1, bot/rasa_side/lock_store.py), which expire by themselves minutes after use.
- The handoff list: the hash ``tandem:handoffs`` (id -> "time reason"), and the agents'
  claims on it, ``tandem:handoff:claims``.
- Analytics: every conversation event in the event broker's database (table ``events``,
  $TANDEM_EVENTS_DB_URL, SQLite in $TANDEM_HOME by default; bot/rasa_side/event_broker.py),
  deleted once older than the retention period, and with the customer when forgotten.
- Logs in ``$TANDEM_HOME/logs``: the supervisor rotates them at 10 MB
  (bot/stack/supervisor.py); a rotated copy (``name.log.1``...) is deleted once it is older
  than the retention period, and the lines of a live log older than it are removed.
- Redis' append-only file keeps every write until it is rewritten: after a deletion, and
  after Redis has expired conversations, it is rewritten (BGREWRITEAOF), so what was
  deleted is gone from the disk too.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis

from bot.core.settings import Settings
from bot.stack import events_db

logger = logging.getLogger(__name__)

HANDOFF_KEY = "tandem:handoffs"
CLAIMS_KEY = "tandem:handoff:claims"
TRACKER_PREFIX = "tandem:tracker:"
LOCK_PREFIX = "tandem:lock:"
EXPIRED_MARK = "tandem:retention:expired_keys"  # Redis' count of expired keys at the last rewrite


@dataclass
class Report:
    """What a forget or a sweep removed."""

    conversations: int = 0
    locks: int = 0
    handoffs: int = 0
    analytics_events: int = 0
    log_lines: int = 0
    log_files: list[str] = field(default_factory=list)
    aof_rewritten: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def removed_anything(self) -> bool:
        return bool(
            self.conversations
            or self.locks
            or self.handoffs
            or self.analytics_events
            or self.log_lines
            or self.log_files
        )


def redis_for(settings: Settings, db: int = 0, timeout: float = 5) -> redis.Redis:
    return redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        db=db,
        password=settings.redis_password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
    )


def rewrite_aof(settings: Settings, wait: float = 30.0) -> bool:
    """Rewrite Redis' append-only file from what Redis holds now; True once it is done."""
    store = redis_for(settings)
    try:
        store.bgrewriteaof()
    except redis.ResponseError as error:  # one is already running: wait for it, then ours
        if "already in progress" not in str(error):
            raise
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        info = store.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return True
        time.sleep(0.2)
    logger.warning("the append-only file rewrite did not finish within %.0f s", wait)
    return False


def _log_files(settings: Settings) -> list[Path]:
    return (
        sorted(p for p in settings.logs_dir.glob("*.log*") if p.is_file())
        if settings.logs_dir.exists()
        else []
    )


def _drop_lines(path: Path, needle: str) -> int:
    """Remove the lines of `path` that contain `needle`, in place; how many were removed.
    The file is rewritten in place (truncate and write), so a writer appending to it keeps
    its file."""
    data = path.read_bytes()
    if needle.encode() not in data:
        return 0
    # the id as a whole word: forgetting "ab12" keeps the lines of "ab123"
    pattern = re.compile(rb"(?<![\w-])" + re.escape(needle.encode()) + rb"(?![\w-])")
    lines = data.splitlines(keepends=True)
    kept = [line for line in lines if not pattern.search(line)]
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"".join(kept))
    return len(lines) - len(kept)


_ISO_TIME = re.compile(rb"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})")  # Python, Rasa, supervisord
_REDIS_TIME = re.compile(rb"^\d+:[A-Z] (\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2})")  # redis-server


def line_time(line: bytes) -> float | None:
    """When a log line was written (local time, as the writers log it), or None."""
    for pattern, layout in ((_ISO_TIME, "%Y-%m-%d %H:%M:%S"), (_REDIS_TIME, "%d %b %Y %H:%M:%S")):
        match = pattern.match(line)
        if match:
            try:
                return time.mktime(time.strptime(match.group(1).decode().replace("T", " "), layout))
            except ValueError:
                return None
    return None


def _drop_old_lines(path: Path, cutoff: float) -> int:
    """Remove the lines of a live log written before `cutoff`; a line without a time of its
    own (a traceback's) goes with the line before it. How many were removed."""
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    kept, old = [], False
    for line in lines:
        written = line_time(line)
        if written is not None:
            old = written < cutoff
        if not old:
            kept.append(line)
    if len(kept) == len(lines):
        return 0
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"".join(kept))
    return len(lines) - len(kept)


def _delete_locks(client: redis.Redis, sender: str) -> int:
    """Delete the lock store's keys of one conversation: its queue and its wake-up lists."""
    escaped = "".join("\\" + char if char in "*?[]\\" else char for char in sender)
    keys = list(client.scan_iter(match=f"{LOCK_PREFIX}{{{escaped}}}:*", count=500))
    return client.delete(*keys) if keys else 0


def delete_events(url: str, sender: str | None = None, before: float | None = None) -> int:
    """Delete analytics events of one conversation, or older than `before` (unix time);
    how many. No database yet (nothing recorded): 0."""
    import sqlalchemy

    engine = events_db.engine(url)
    if engine is None:
        return 0
    try:
        if sender is not None:
            query, values = "DELETE FROM events WHERE sender_id = :sender", {"sender": sender}
        elif engine.dialect.name == "sqlite":
            # a row SQLite cannot read (written before the broker wrote strict JSON) has no
            # age it can prove, and would make json_extract fail the whole sweep
            query = (
                "DELETE FROM events WHERE NOT json_valid(data) "
                "OR CAST(json_extract(data, '$.timestamp') AS REAL) < :before"
            )
            values = {"before": before}
        else:  # PostgreSQL
            query = "DELETE FROM events WHERE CAST(CAST(data AS json)->>'timestamp' AS double precision) < :before"
            values = {"before": before}
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":  # zero what is deleted, not just unlink it
                connection.exec_driver_sql("PRAGMA secure_delete=ON")
            deleted = connection.execute(sqlalchemy.text(query), values).rowcount or 0
        if engine.dialect.name == "sqlite" and deleted:
            with engine.connect() as connection:  # old copies in the write-ahead log go too
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted
    finally:
        engine.dispose()


def forget(settings: Settings, sender: str) -> Report:
    """Remove one customer's conversation everywhere the stack keeps it."""
    if not sender.strip():
        raise ValueError("a conversation id is needed")
    report = Report()
    report.conversations = redis_for(settings, 0).delete(TRACKER_PREFIX + sender)
    report.locks = _delete_locks(redis_for(settings, 1), sender)
    report.handoffs = redis_for(settings, 0).hdel(HANDOFF_KEY, sender)
    redis_for(settings, 0).hdel(CLAIMS_KEY, sender)
    report.analytics_events = delete_events(settings.events_db_url, sender=sender)
    for path in _log_files(settings):
        removed = _drop_lines(path, sender)
        if removed:
            report.log_lines += removed
            report.log_files.append(path.name)
    report.aof_rewritten = rewrite_aof(settings)
    return report


def sweep(settings: Settings, days: float, now: float | None = None) -> Report:
    """Delete what is older than `days`: handoff entries, log lines and rotated logs; then rewrite the
    append-only file if anything was deleted. (Conversations expire in
    Redis by themselves.)"""
    now = time.time() if now is None else now
    cutoff = now - days * 86400
    report = Report()
    store = redis_for(settings, 0)
    for sender, value in store.hgetall(HANDOFF_KEY).items():
        try:
            since = float(value.split()[0])
        except (ValueError, IndexError):
            since = 0.0  # unreadable: treat as old
        if since < cutoff:
            report.handoffs += store.hdel(HANDOFF_KEY, sender)
            store.hdel(CLAIMS_KEY, sender)
    report.analytics_events = delete_events(settings.events_db_url, before=cutoff)
    for path in _log_files(settings):
        if path.suffix != ".log":  # a rotated copy: name.log.1 ...
            if path.stat().st_mtime < cutoff:
                path.unlink()
                report.log_files.append(path.name)
        else:
            removed = _drop_old_lines(path, cutoff)
            if removed:
                report.log_lines += removed
                report.log_files.append(path.name)
    # conversations Redis expired since the last sweep are still in the append-only file
    expired = str(store.info("stats").get("expired_keys", 0))
    if report.removed_anything or store.get(EXPIRED_MARK) != expired:
        report.aof_rewritten = rewrite_aof(settings)
        store.set(EXPIRED_MARK, expired)
    return report
