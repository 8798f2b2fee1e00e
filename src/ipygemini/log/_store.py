"""`ExchangeLog`: every exchange in a SQLite file (WAL), searchable, and the replay cache's store.

Logging never breaks a chat: a locked, read-only, full or corrupt database costs one warning
line and the entry; the next write tries again. The schema is versioned with
``PRAGMA user_version`` so a later release can migrate (docs/LOG.md describes it).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._exchange import OFFLINE_HOST, Exchange
from ._rows import (
    ANSWERED,
    COLUMNS,
    FTS,
    SCHEMA,
    SCHEMA_VERSION,
    Entry,
    entry_of,
    fts_query,
    indexed,
    like_pattern,
    row_of,
    search_words,
)

__all__ = ["SCHEMA_VERSION", "Entry", "ExchangeLog", "default_home", "default_path"]

BUSY_TIMEOUT_MS = 5000
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
"""The log holds prompts, system prompts and notebook context: only its owner may read it."""
SIDE_FILES = ("-wal", "-shm", "-journal")


def default_home() -> Path:
    """``$IPYGEMINI_HOME``, else the per-user data directory of this platform."""
    home = os.environ.get("IPYGEMINI_HOME")
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ipygemini"


def default_path() -> Path:
    return default_home() / "log.sqlite3"


class ExchangeLog:
    """The log file: `record` writes (never raises), `entries`/`get`/`lookup` read."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = BUSY_TIMEOUT_MS / 1000,
        fts: bool = True,
    ) -> None:
        """`busy_timeout`: seconds to wait for another writer; `fts=False` searches with LIKE
        even where SQLite has FTS5."""
        self.path = Path(path) if path is not None else default_path()
        self.busy_timeout = busy_timeout
        self.use_fts = fts
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._fts = False
        self._warned: str | None = None

    # -- connection ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            if self.path.exists():
                return self._connection
            self._connection.close()  # the file was deleted: start a new log
            self._connection = None
        self._make_private()
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, check_same_thread=False, isolation_level=None
        )
        try:
            deadline = time.monotonic() + self.busy_timeout
            while True:
                try:
                    self._set_up(connection)
                    break
                except sqlite3.OperationalError as exc:
                    # Another process setting the file up at the same moment (switching it to
                    # WAL, creating the tables) can refuse us at once, without SQLite's own busy
                    # wait: wait for it here, as long as a write would.
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
        except BaseException:
            connection.close()
            raise
        self._make_private()  # the -wal and -shm files exist now
        self._connection = connection
        return connection

    def _make_private(self) -> None:
        """The folder 0700, the database and its -wal/-shm files 0600, also when they already
        exist with wider modes (a log made by an older release, or under a loose umask).

        The database is created here with 0600 before SQLite opens it: SQLite gives its -wal
        and -shm files the database's own mode. A file this user does not own is left as it
        is (chmod would fail); the log still works.
        """
        folder = self.path.parent
        folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        if sys.platform == "win32":  # modes mean little there; the profile folder is private
            return
        _narrow(folder, PRIVATE_DIR_MODE)
        try:  # never open an existing database: closing any descriptor of it would drop the
            # POSIX locks of this process's SQLite connections to it
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, PRIVATE_FILE_MODE))
        except FileExistsError:
            pass
        for path in (self.path, *(self.path.with_name(self.path.name + s) for s in SIDE_FILES)):
            _narrow(path, PRIVATE_FILE_MODE)

    def _set_up(self, connection: sqlite3.Connection) -> None:
        """WAL mode, the schema (created or checked), full-text search where SQLite has it."""
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"written by a newer ipygemini (schema {version}; this one knows {SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            connection.executescript(SCHEMA)
        self._fts = False
        if self.use_fts:
            fresh = not connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'exchanges_fts'"
            ).fetchone()
            try:
                connection.executescript(FTS)
            except sqlite3.OperationalError as exc:
                if "fts5" not in str(exc):  # this SQLite was built without FTS5: LIKE search
                    raise
                return
            if fresh:  # index what was logged without it
                connection.execute("INSERT INTO exchanges_fts (exchanges_fts) VALUES ('rebuild')")
            self._fts = True

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _warn(self, exc: Exception, doing: str) -> None:
        """One line per kind of failure (not one per answer); the chat goes on."""
        reason = str(exc) or type(exc).__name__
        if reason != self._warned:
            self._warned = reason
            after = (
                "the answer is still shown, and logging resumes when the database can be written"
                if doing == "write to"
                else "nothing could be read from it this time"
            )
            print(
                f"ipygemini: could not {doing} the log {self.path} ({reason}); {after}.",
                file=sys.stderr,
            )
        if self._connection is not None:  # a fresh connection next time (the file may be back)
            try:
                self._connection.close()
            finally:
                self._connection = None

    # -- writing ---------------------------------------------------------------------------

    def record(
        self, exchange: Exchange, *, secret: str | None = None, wait: bool = True
    ) -> int | None:
        """Write `exchange`; its id, or None when the database could not be written.

        `secret` (the API key) is masked in every stored text, should a prompt or an error
        message contain it. ``wait=False`` gives up at once when this process is writing
        already (a garbage-collected stream may be recorded in the middle of another write).
        """
        row = row_of(exchange)
        if secret and len(secret) >= 4:
            row = tuple(
                v.replace(secret, "…" + secret[-4:]) if isinstance(v, str) else v for v in row
            )
        if not self._lock.acquire(blocking=wait):
            return None
        with _released(self._lock):
            try:
                connection = self._connect()
                with _transaction(connection):
                    cursor = connection.execute(
                        f"INSERT INTO exchanges ({COLUMNS}) VALUES ({', '.join('?' * len(row))})",
                        row,
                    )
                    rowid = cursor.lastrowid
                    connection.executemany(
                        "INSERT INTO images (exchange_id, position, mime, data) VALUES (?, ?, ?, ?)",
                        [(rowid, i, mime, data) for i, (mime, data) in enumerate(exchange.images)],
                    )
                self._warned = None
                return rowid
            except (sqlite3.Error, OSError) as exc:
                self._warn(exc, "write to")
                return None

    # -- reading ---------------------------------------------------------------------------

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                connection = self._connect()
                connection.row_factory = sqlite3.Row
                return list(connection.execute(sql, tuple(params)))
            except (sqlite3.Error, OSError) as exc:
                self._warn(exc, "read")
                return []

    def entries(self, n: int = 20, search: str | None = None) -> list[Entry]:
        """The newest `n` exchanges (newest first); with `search`, those whose prompt or answer
        has every word of it (a search of whitespace alone is no search).

        Words are words whatever their characters: a word FTS5 indexes is looked up in the
        index; a word of punctuation alone (``*``, ``-``, ``"``), which the index cannot hold,
        is looked for as text, and the LIKE fallback looks for every word as text. So both
        paths find the same exchanges for such words, and no user text is query syntax.
        """
        words = search_words(search)
        select = f"SELECT id, {COLUMNS} FROM exchanges"
        if not words:
            rows = self._query(f"{select} ORDER BY id DESC LIMIT ?", [n])
            return [entry_of(row, []) for row in rows]
        fts = self._fts_ready()
        as_text = [w for w in words if not (fts and indexed(w))]
        conditions = ["(prompt LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\')"] * len(as_text)
        params: list[Any] = [p for w in as_text for p in (like_pattern(w), like_pattern(w))]
        query = fts_query(words) if fts else ""
        if query and not as_text:  # FTS5 walks its matches newest first and stops at n
            conditions.append(
                "id IN (SELECT rowid FROM exchanges_fts WHERE exchanges_fts MATCH ? "
                "ORDER BY rowid DESC LIMIT ?)"
            )
            params += [query, n]
        elif query:
            conditions.append("id IN (SELECT rowid FROM exchanges_fts WHERE exchanges_fts MATCH ?)")
            params.append(query)
        rows = self._query(
            f"{select} WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT ?", [*params, n]
        )
        return [entry_of(row, []) for row in rows]

    def _fts_ready(self) -> bool:
        with self._lock:
            try:
                self._connect()
            except (sqlite3.Error, OSError):
                return False
            return self._fts

    def get(self, entry_id: int) -> Entry | None:
        """One exchange with its images, or None."""
        rows = self._query(f"SELECT id, {COLUMNS} FROM exchanges WHERE id = ?", [entry_id])
        if not rows:
            return None
        images = self._query(
            "SELECT mime, data FROM images WHERE exchange_id = ? ORDER BY position", [entry_id]
        )
        return entry_of(rows[0], [(r["mime"], bytes(r["data"])) for r in images])

    def lookup(self, key: str) -> Entry | None:
        """The newest complete answer the gateway gave to the request with cache key `key` (a
        replay is never the source of another), or None."""
        rows = self._query(
            "SELECT id FROM exchanges WHERE cache_key = ? AND status = 'complete' "
            "AND from_cache = 0 "
            "ORDER BY id DESC LIMIT 1",
            [key],
        )
        return self.get(int(rows[0]["id"])) if rows else None

    def usage(self, since: float | None = None) -> list[dict[str, Any]]:
        """Answers and tokens by model (since the epoch time `since`, when given), the offline
        gateway's apart (``offline``: they are free).

        `answers` counts answered exchanges only (see `answered`): not failures, nor a stop
        before anything arrived, nor replays from the cache (which cost nothing and count
        nothing). Tokens are summed over every request that reached the gateway and reported
        usage, since that is what was billed.
        """
        rows = self._query(
            "SELECT model, host = ? AS offline, "
            f"TOTAL({ANSWERED}) AS answers, "
            "TOTAL(input_tokens) AS input, TOTAL(output_tokens) AS output, "
            "TOTAL(reasoning_tokens) AS reasoning, TOTAL(cached_tokens) AS cached "
            "FROM exchanges WHERE started >= ? AND from_cache = 0 "
            "GROUP BY model, host = ? "
            "HAVING answers > 0 OR input > 0 OR output > 0 "
            "ORDER BY model, offline",
            [OFFLINE_HOST, since or 0.0, OFFLINE_HOST],
        )
        return [
            {
                "model": r["model"],
                "answers": int(r["answers"]),
                "input": int(r["input"]),
                "output": int(r["output"]),
                "reasoning": int(r["reasoning"]),
                "cached": int(r["cached"]),
                "offline": bool(r["offline"]),
            }
            for r in rows
        ]

    def __len__(self) -> int:
        rows = self._query("SELECT COUNT(*) AS n FROM exchanges")
        return int(rows[0]["n"]) if rows else 0

    def __repr__(self) -> str:
        return f"ExchangeLog({str(self.path)!r})"


def _narrow(path: Path, mode: int) -> None:
    """Take away every permission bit of `path` outside `mode` (a missing path is fine)."""
    try:
        current = path.stat().st_mode & 0o777
        if current & ~mode:
            path.chmod(current & mode)
    except OSError:
        pass


class _released:
    """Releases a lock acquired beforehand when the block ends."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


class _transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): one writer at a time across processes."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")
