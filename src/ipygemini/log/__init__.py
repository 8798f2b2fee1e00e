"""The exchange log: the SQLite store, its rows, exchanges, usage, prices and recording; as data: ``ipygemini.log.entries()``, ``get(id)``, ``usage()``, ``path()``.

Every exchange (``%%gemini``, the panel, `Client`/`AsyncClient`, batches) is kept in a SQLite
file at ``$IPYGEMINI_HOME/log.sqlite3``; docs/LOG.md describes it. Reading never raises for a
missing, locked or damaged file: you get nothing back and one warning line.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ._exchange import (
    OFFLINE_HOST,
    SOURCES,
    Exchange,
    answered,
    attachment_metadata,
    cache_key,
    exchange_from,
)
from ._store import SCHEMA_VERSION, Entry, ExchangeLog, default_home, default_path

__all__ = [
    "OFFLINE_HOST",
    "SCHEMA_VERSION",
    "SOURCES",
    "Entry",
    "Exchange",
    "ExchangeLog",
    "answered",
    "attachment_metadata",
    "cache_key",
    "default_home",
    "default_path",
    "entries",
    "exchange_from",
    "forget_gateway",
    "gateways",
    "get",
    "path",
    "usage",
]


def path() -> Path:
    """Where the log is (``$IPYGEMINI_HOME/log.sqlite3``; the file may not exist yet)."""
    return default_path()


def _log() -> Any:
    from ._recording import exchange_log

    return exchange_log()


def entries(n: int = 20, search: str | None = None) -> Any:
    """The newest `n` exchanges (newest first), those whose prompt or answer has the words
    `search`: a pandas DataFrame (one row each, ``started`` as a UTC timestamp, images left
    out) when pandas is installed, else a list of `Entry`."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1; got {n!r}")
    found: list[Entry] = _log().entries(n, search)
    try:
        import pandas as pd
    except ImportError:
        return found
    columns = [name for name in Entry.__dataclass_fields__ if name != "images"]
    rows = [{k: v for k, v in asdict(e).items() if k != "images"} for e in found]
    frame = pd.DataFrame(rows, columns=columns)
    frame["started"] = pd.to_datetime(frame["started"], unit="s", utc=True).dt.tz_convert(None)
    return frame.set_index("id")


def gateways(base_url: str | None = None) -> list[dict[str, Any]]:
    """What each gateway taught this client (``%gemini config`` shows it): one dict per base
    URL with ``kind`` ("litellm" or None), ``json_schema_refused``, ``levels`` (the thinking
    levels each model accepts), ``rates`` (by model, the requests/s a batch found it sustains:
    the next batch starts there) and ``updated``; only `base_url`'s when given."""
    from ._gateways import learned

    return learned(base_url)


def forget_gateway(base_url: str) -> None:
    """Forget what the gateway at `base_url` taught (its lessons and the batches' rates), in
    this process and in the log file: the next client and batch learn it again (say, after a
    new API key with other limits)."""
    from ._gateways import forget

    forget(base_url)


def get(entry_id: int) -> Entry | None:
    """One exchange with its images (as ``(mime, bytes)`` pairs), or None."""
    result: Entry | None = _log().get(int(entry_id))
    return result


def usage(since: float | None = None) -> list[dict[str, Any]]:
    """Answers and tokens by model from the log, since the Unix time `since` when given: only
    answered requests count as answers, replays from the cache count nothing, and the offline
    gateway's answers are rows of their own (``offline: True``, free);
    `ipygemini.log._usage.usage_rows` adds the cost."""
    result: list[dict[str, Any]] = _log().usage(since)
    return result
