"""The SQLite connection: opening and migrating the file, one lock, reads and write transactions.

SQLite runs in WAL mode with `synchronous=FULL`: NORMAL already survives a `kill -9` (the WAL is
in the OS page cache), but FULL also survives a kernel crash or power loss, and that matters
because the webhook answers Azure Monitor 202 only after `record_alert`, which tells Azure not
to retry. At one commit per correlation cycle or alert, the extra fsync is cheap.

One connection, guarded by a lock. Every call is short, so asyncio code may call the store
directly or through `asyncio.to_thread(...)`; both are safe.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from vpnwatch.store import schema
from vpnwatch.store.errors import StoreError

MEMORY = ":memory:"


class Database:
    """One open store file. Open with `open(path)`; close with `close()` or `with`."""

    def __init__(self, connection: sqlite3.Connection, path: str, schema_version: int) -> None:
        self._db: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        self.path = path
        self.schema_version = schema_version

    @classmethod
    def open(cls, path: str | Path) -> Self:
        """Open (creating if needed) the store at `path`, migrating it to the current schema.

        `":memory:"` gives a private in-memory store, for tests.
        """
        where = str(path)
        if where != MEMORY:
            target = Path(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory for the store {where}: {exc.strerror}"
                ) from exc
        try:
            db = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {where}: {exc}") from exc
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            if where != MEMORY:
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{where}: SQLite refused WAL mode (got {mode!r})")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            version = schema.migrate(db, where)
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" not in str(exc):
                raise StoreError(f"cannot open the store {where}: {exc}") from exc
            raise StoreError(
                f"{where} is locked by another process (is a second vpnwatch using it?)"
            ) from exc
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StoreError(
                f"{where} is not a usable vpnwatch store ({exc}); "
                "point store.path at another file or restore a backup"
            ) from exc
        except BaseException:
            db.close()
            raise
        return cls(db, where, version)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.Error as exc:
                raise StoreError(f"reading the store {self.path} failed: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; on any failure nothing of it stays, and the error says why."""
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, UnicodeEncodeError) as exc:
                raise StoreError(f"writing to the store {self.path} failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"the store {self.path} is closed")
        return self._db
