"""What gateways taught the client, kept per base URL so new clients and kernels start knowing it.

A LiteLLM proxy wants ``reasoning_effort``; some gateways refuse ``response_format`` type
``json_schema``; a model accepts only some thinking levels. A client learns each from one
answer (`ipygemini.client._adapt.GatewayMemory`); a batch learns the request rate the gateway
sustains from its 429s (`ipygemini.batch`), so the next batch starts there instead of finding
it again. Here the lesson is kept: in this process for
every new client, and (unless ``Settings.log`` is off) in the log's SQLite file, in a table of
its own (``gateways``), for every new kernel. The key is the base URL without credentials;
the API key is never stored. Reading and writing never raise: a lesson that cannot be kept is
learned again from the gateway.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["TABLE", "forget", "learned", "recall", "remember"]

TABLE = """
CREATE TABLE IF NOT EXISTS gateways (
    base_url TEXT PRIMARY KEY,
    facts TEXT NOT NULL,
    updated REAL NOT NULL
)
"""
"""One row per base URL: `facts` is a JSON object (``kind``, ``json_schema_refused``,
``levels`` by model, ``rates``: requests per second a batch found the gateway sustains, by
model), `updated` the Unix time it was last written."""

BUSY_SECONDS = 5.0

_lock = threading.Lock()
_known: dict[str, dict[str, Any]] = {}  # this process's lessons, by base URL
_read: set[tuple[Path, str]] = set()  # (file, base URL) pairs already read from the file


def _address(base_url: str) -> str:
    """The base URL as a key: no user:password (a key never goes into the file)."""
    parts = urlsplit(base_url.strip())
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def _path() -> Path:
    from ._store import default_path

    return default_path()


def _connect(path: Path) -> sqlite3.Connection:
    """The log file with the ``gateways`` table, created private (0700 folder, 0600 file)
    if it is not there yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    connection = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(TABLE)
    except BaseException:
        connection.close()
        raise
    return connection


def _clean(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Only the facts this module knows, in plain JSON types (a damaged row gives {})."""
    out: dict[str, Any] = {}
    if isinstance(facts.get("kind"), str):
        out["kind"] = facts["kind"]
    if facts.get("json_schema_refused") is True:
        out["json_schema_refused"] = True
    levels = facts.get("levels")
    if isinstance(levels, Mapping):
        kept = {
            str(model): [str(level) for level in accepted]
            for model, accepted in levels.items()
            if isinstance(accepted, list | tuple) and accepted
        }
        if kept:
            out["levels"] = kept
    rates = facts.get("rates")
    if isinstance(rates, Mapping):
        kept_rates = {
            str(model): float(rate)
            for model, rate in rates.items()
            if isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate < 1e6
        }
        if kept_rates:
            out["rates"] = kept_rates
    return out


def _merged(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`old` with `new`'s facts in place of theirs; batch rates merge model by model."""
    rates = {**(old.get("rates") or {}), **(new.get("rates") or {})}
    return _clean({**old, **new, "rates": rates})


def recall(base_url: str, *, persist: bool = True) -> dict[str, Any]:
    """What gateways at `base_url` taught (``{}`` when nothing): this process's lessons, and
    with `persist` the log file's, read once per process."""
    address = _address(base_url)
    with _lock:
        if persist:
            path = _path()
            if (path, address) not in _read:
                _read.add((path, address))
                stored = _stored(path, address)
                if stored:
                    _known[address] = {**stored, **_known.get(address, {})}
        return dict(_known.get(address, {}))


def _stored(path: Path, address: str) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        connection = _connect(path)
        try:
            row = connection.execute(
                "SELECT facts FROM gateways WHERE base_url = ?", (address,)
            ).fetchone()
        finally:
            connection.close()
        found = json.loads(row[0]) if row else {}
    except (sqlite3.Error, OSError, ValueError):
        return {}
    return _clean(found) if isinstance(found, Mapping) else {}


def remember(base_url: str, facts: Mapping[str, Any], *, persist: bool = True) -> None:
    """Keep `facts` about `base_url` for new clients (and with `persist`, new kernels): each
    fact given replaces the one of its name (a batch's rate, the one of its model); the others
    are kept, this process's and the log file's (a client's lessons and a batch's rates are
    learned apart, by other kernels too)."""
    address = _address(base_url)
    with _lock:
        _known[address] = _merged(_known.get(address, {}), facts)
        if not persist:
            return
        try:
            connection = _connect(_path())
            try:
                # what another kernel kept since this one read the row stays, unless replaced
                row = connection.execute(
                    "SELECT facts FROM gateways WHERE base_url = ?", (address,)
                ).fetchone()
                stored = json.loads(row[0]) if row else {}
                cleaned = _merged(stored if isinstance(stored, Mapping) else {}, facts)
                _known[address] = _merged(_known[address], cleaned)
                connection.execute(
                    "INSERT INTO gateways (base_url, facts, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT (base_url) DO UPDATE SET facts = excluded.facts, "
                    "updated = excluded.updated",
                    (address, json.dumps(cleaned, sort_keys=True), time.time()),
                )
            finally:
                connection.close()
        except (sqlite3.Error, OSError, ValueError):
            pass  # learned again from the gateway next time


def forget(base_url: str) -> None:
    """A new server answers at `base_url` (FakeGateway started on a port an earlier one had):
    what an earlier server there taught no longer holds."""
    address = _address(base_url)
    with _lock:
        _known.pop(address, None)
        path = _path()
        _read.discard((path, address))
        if not path.exists():
            return
        try:
            connection = _connect(path)
            try:
                connection.execute("DELETE FROM gateways WHERE base_url = ?", (address,))
            finally:
                connection.close()
        except (sqlite3.Error, OSError):
            pass


def learned(base_url: str | None = None) -> list[dict[str, Any]]:
    """What each gateway taught, for ``%gemini config``: one dict per base URL (``base_url``,
    ``kind``, ``json_schema_refused``, ``levels``, ``rates``; the file's ``updated`` time where kept),
    this process's lessons over the log file's; only `base_url`'s when given."""
    wanted = None if base_url is None else _address(base_url)
    found: dict[str, dict[str, Any]] = {}
    path = _path()
    if path.exists():
        try:
            connection = _connect(path)
            try:
                rows = connection.execute(
                    "SELECT base_url, facts, updated FROM gateways"
                ).fetchall()
            finally:
                connection.close()
        except (sqlite3.Error, OSError):
            rows = []
        for address, text, updated in rows:
            try:
                facts = json.loads(text)
            except ValueError:
                continue
            if isinstance(facts, Mapping):
                found[address] = {**_clean(facts), "updated": updated}
    with _lock:
        for address, facts in _known.items():
            found[address] = {**found.get(address, {}), **facts}
    return [
        {
            "base_url": address,
            "kind": facts.get("kind"),
            "json_schema_refused": facts.get("json_schema_refused", False),
            "levels": facts.get("levels", {}),
            "rates": facts.get("rates", {}),
            "updated": facts.get("updated"),
        }
        for address, facts in sorted(found.items())
        if wanted is None or address == wanted
    ]
