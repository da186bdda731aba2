"""The app's own database (SQLite): its copy of Latchkey's users, their items, and what webhooks said
about sessions. Every change a webhook brings is written in one transaction with its webhook-id."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from webhooks import Event

# Latchkey sends the same event again until it gets a 2xx answer in time (24 h by default), and an
# operator can replay a dead delivery while the event is kept (7 days by default): ids are remembered
# longer than both.
SEEN_IDS_KEPT_FOR = 30 * 86400

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at TEXT NOT NULL,
  disabled_at TEXT,
  email_verified_at TEXT,
  legacy_id TEXT,
  event_at REAL NOT NULL  -- when the event this row comes from happened on Latchkey
);
CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_user_id ON items (user_id);
CREATE TABLE IF NOT EXISTS webhook_events (id TEXT PRIMARY KEY, type TEXT NOT NULL, received_at REAL NOT NULL);
-- Per user, the number of the last user.* event applied (webhook-id evt_<n>: Latchkey numbers a user's events
-- in the order they happened), kept once the user is deleted: an older event replayed later changes nothing.
CREATE TABLE IF NOT EXISTS user_events (user_id TEXT PRIMARY KEY, last_event INTEGER NOT NULL, applied_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_events_received_at ON webhook_events (received_at);
-- Both kept only while a token they refuse could still be unexpired.
CREATE TABLE IF NOT EXISTS revoked_sessions (sid TEXT PRIMARY KEY, user_id TEXT NOT NULL, revoked_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS user_not_before (user_id TEXT PRIMARY KEY, not_before REAL NOT NULL);
"""

USER_FIELDS = ("id", "email", "name", "role", "created_at", "disabled_at", "email_verified_at", "legacy_id")


class BadEvent(ValueError):
    """A signed event whose content is not what Latchkey sends."""


class Store:
    def __init__(self, path: str, token_lifetime: int) -> None:
        self.path = path
        # How long after a revocation a token it refuses may still be unexpired: the access-token
        # lifetime and the 30 s of clock difference every check allows.
        self.keep_revocations = token_lifetime + 30
        with self._connect() as db:
            # WAL: requests read while a webhook writes.
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # One connection per call: FastAPI runs handlers on a thread pool, and a connection is cheap.
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE below), not the module's guesses.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        return db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            # IMMEDIATE takes the write lock at once: two deliveries of one id wait for each other
            # instead of both reading "not seen".
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # --- webhooks ---------------------------------------------------------------------------------

    def apply(self, event: Event) -> str:
        """Applies an event once per webhook-id: "applied", "duplicate", "stale" (a user.* event older than
        the last one applied to its user: an operator's replay of a dead delivery), or "ignored" (a type we
        do not use)."""
        at = _epoch(event.timestamp)
        number = _event_number(event.id)
        handler = self._handlers.get(event.type)
        now = time.time()
        with self._transaction() as db:
            seen = db.execute("INSERT INTO webhook_events (id, type, received_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", (event.id, event.type, now))
            if seen.rowcount == 0:
                return "duplicate"
            if handler is None:
                # Recorded all the same, and answered 2xx: a type added to Latchkey later must not be retried for ever.
                return "ignored"
            outcome = handler(self, db, event.data, at, number)
            db.execute("DELETE FROM webhook_events WHERE received_at < ?", (now - SEEN_IDS_KEPT_FOR,))
            db.execute("DELETE FROM revoked_sessions WHERE revoked_at < ?", (now - self.keep_revocations,))
            db.execute("DELETE FROM user_not_before WHERE not_before < ?", (now - self.keep_revocations,))
            # A deleted user's last number is kept while a delivery of theirs can still be replayed.
            db.execute("DELETE FROM user_events WHERE applied_at < ? AND user_id NOT IN (SELECT id FROM users)", (now - SEEN_IDS_KEPT_FOR,))
        return outcome

    def _upsert_user(self, db: sqlite3.Connection, data: dict[str, Any], at: float, number: int) -> str:
        user = _user_of(data)
        # Events come in order per user; only a dead delivery replayed by an operator comes late, after newer
        # ones: it must neither bring back an older profile nor a deleted user.
        if not _advance(db, user["id"], number):
            return "stale"
        db.execute(
            f"""INSERT INTO users ({", ".join(USER_FIELDS)}, event_at) VALUES ({", ".join("?" * (len(USER_FIELDS) + 1))})
            ON CONFLICT (id) DO UPDATE SET {", ".join(f"{f} = excluded.{f}" for f in USER_FIELDS[1:])}, event_at = excluded.event_at""",
            (*(user[f] for f in USER_FIELDS), at),
        )
        return "applied"

    def _credentials_changed(self, db: sqlite3.Connection, data: dict[str, Any], at: float, number: int) -> str:
        """A password change or a disabled account: every session opened before it is over."""
        # Even late: a not-before only ever moves forward, so an old one changes nothing it should not.
        _set_not_before(db, _user_of(data)["id"], at)
        return self._upsert_user(db, data, at, number)

    def _delete_user(self, db: sqlite3.Connection, data: dict[str, Any], at: float, number: int) -> str:
        user_id = _user_of(data)["id"]
        _advance(db, user_id, number)
        db.execute("DELETE FROM items WHERE user_id = ?", (user_id,))
        db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        # Latchkey ended its sessions (session.revoked came first); this covers any we did not hear of.
        _set_not_before(db, user_id, at)
        return "applied"

    def _revoke_session(self, db: sqlite3.Connection, data: dict[str, Any], at: float, _number: int) -> str:
        sid, sub = data.get("sid"), data.get("sub")
        if not isinstance(sid, str) or not isinstance(sub, str):
            raise BadEvent("session.revoked data is not {sid, sub, reason}")
        # In any order: a revoked session stays revoked.
        db.execute(
            "INSERT INTO revoked_sessions (sid, user_id, revoked_at) VALUES (?, ?, ?) ON CONFLICT (sid) DO NOTHING",
            (sid, sub, at),
        )
        return "applied"

    _handlers: dict[str, Callable[[Store, sqlite3.Connection, dict[str, Any], float, int], str]] = {
        "user.created": _upsert_user,
        "user.updated": _upsert_user,
        "user.password_changed": _credentials_changed,
        "user.disabled": _credentials_changed,
        "user.deleted": _delete_user,
        "session.revoked": _revoke_session,
    }

    # --- requests ---------------------------------------------------------------------------------

    def refused(self, user_id: str, sid: str, auth_time: float) -> bool:
        """Whether what webhooks told us ends this token: its session revoked, its sign-in older than the
        user's last credential change, or its user disabled."""
        with self._read() as db:
            row = db.execute(
                """SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE sid = ?) AS revoked,
                  (SELECT not_before FROM user_not_before WHERE user_id = ?) AS not_before,
                  (SELECT disabled_at FROM users WHERE id = ?) AS disabled_at""",
                (sid, user_id, user_id),
            ).fetchone()
        # auth_time counts whole seconds, and a session Latchkey opens after a change starts at the change's
        # next whole second at the earliest: its auth_time is never before the change's instant, while a
        # session opened before the change in that second has one that is (and its session.revoked came too).
        return bool(row["revoked"]) or (row["not_before"] is not None and auth_time < row["not_before"]) or row["disabled_at"] is not None

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self._read() as db:
            row = db.execute(f"SELECT {', '.join(USER_FIELDS)} FROM users WHERE id = ?", (user_id,)).fetchone()
        return dict(row) if row else None

    def items(self, user_id: str) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute("SELECT id, title, created_at FROM items WHERE user_id = ? ORDER BY id", (user_id,)).fetchall()
        return [dict(r) for r in rows]

    def add_item(self, user_id: str, title: str) -> dict[str, Any] | None:
        """The new item, or None when the user is not (or no longer) known here."""
        created_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO items (user_id, title, created_at) SELECT id, ?, ? FROM users WHERE id = ?", (title, created_at, user_id))
            if cursor.rowcount == 0:
                return None
            return {"id": cursor.lastrowid, "title": title, "created_at": created_at}

    def delete_item(self, user_id: str, item_id: int) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM items WHERE id = ? AND user_id = ?", (item_id, user_id)).rowcount > 0


def _advance(db: sqlite3.Connection, user_id: str, number: int) -> bool:
    """Records `number` as the user's last event applied if it is newer than the last one; whether it was."""
    cursor = db.execute(
        """INSERT INTO user_events (user_id, last_event, applied_at) VALUES (?, ?, ?)
        ON CONFLICT (user_id) DO UPDATE SET last_event = excluded.last_event, applied_at = excluded.applied_at
        WHERE excluded.last_event > user_events.last_event""",
        (user_id, number, time.time()),
    )
    return cursor.rowcount == 1


def _event_number(webhook_id: str) -> int:
    """The number in Latchkey's webhook-id (evt_<n>), which grows with each of a user's events in the order
    they happened."""
    match = re.fullmatch(r"evt_([0-9]{1,18})", webhook_id)
    if match is None:
        raise BadEvent(f"the webhook-id {webhook_id!r} is not evt_<number>, as Latchkey sends it")
    return int(match.group(1))


def _set_not_before(db: sqlite3.Connection, user_id: str, at: float) -> None:
    db.execute(
        "INSERT INTO user_not_before (user_id, not_before) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET not_before = max(not_before, excluded.not_before)",
        (user_id, at),
    )


def _user_of(data: dict[str, Any]) -> dict[str, Any]:
    required = ("id", "email", "name", "role", "created_at")
    if not all(isinstance(data.get(f), str) for f in required):
        raise BadEvent(f"a user event's data needs {', '.join(required)}")
    if not all(data.get(f) is None or isinstance(data.get(f), str) for f in USER_FIELDS):
        raise BadEvent("a user event's fields are strings or null")
    return {f: data.get(f) for f in USER_FIELDS}


def _epoch(iso: str) -> float:
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        raise BadEvent(f"the event's timestamp {iso!r} is not an ISO 8601 date") from None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()
