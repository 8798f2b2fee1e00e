"""The log's files are private (issue 17, item 12): the folder 0700, the database and its
-wal/-shm files 0600, after real writes, also when they existed before with wider modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from ipygemini._types import Choice, Reply, Usage
from ipygemini.log import ExchangeLog, exchange_from

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def written(log: ExchangeLog, prompt: str = "private prompt") -> None:
    exchange = exchange_from(
        {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": prompt}]},
        Reply(choices=[Choice(text="an answer")], usage=Usage(3, 2, 5)),
        source="client",
        base_url="https://gateway.example/v1/",
        started=1_700_000_000.0,
        duration=0.1,
    )
    assert log.record(exchange) is not None


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def files(folder: Path) -> dict[str, int]:
    return {p.name: mode(p) for p in folder.iterdir()}


def test_a_new_log_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "ipygemini"
    old = os.umask(0o022)  # the usual umask: SQLite alone would make 0644 files
    try:
        log = ExchangeLog(folder / "log.sqlite3")
        written(log)
        written(log, "a second one, so the WAL holds frames")
        found = files(folder)
    finally:
        os.umask(old)
    assert mode(folder) == 0o700
    assert {"log.sqlite3", "log.sqlite3-wal", "log.sqlite3-shm"} <= set(found)
    assert found == dict.fromkeys(found, 0o600)
    assert [e.prompt for e in log.entries()] == [
        "a second one, so the WAL holds frames",
        "private prompt",
    ]
    log.close()


def test_an_existing_world_readable_log_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "ipygemini"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = folder / "log.sqlite3"
    written(ExchangeLog(path))  # an older release's log ...
    with sqlite3.connect(path) as holder:  # ... with its -wal/-shm present, all world-readable
        holder.execute("PRAGMA journal_mode = WAL")
        holder.execute("SELECT COUNT(*) FROM exchanges").fetchone()
        for p in folder.iterdir():
            p.chmod(0o644)
        folder.chmod(0o755)
        assert mode(path) == 0o644
        log = ExchangeLog(path)  # a new process opening it
        written(log)
        assert mode(folder) == 0o700
        found = files(folder)
        assert {"log.sqlite3", "log.sqlite3-wal", "log.sqlite3-shm"} <= set(found)
        assert found == dict.fromkeys(found, 0o600)
        log.close()


def test_reading_alone_makes_the_files_private_too(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    path = folder / "log.sqlite3"
    written(ExchangeLog(path))
    folder.chmod(0o777)
    path.chmod(0o666)
    assert ExchangeLog(path).entries()[0].prompt == "private prompt"
    assert mode(folder) == 0o700 and mode(path) == 0o600


def test_making_files_private_keeps_this_process_s_locks(tmp_path: Path) -> None:
    """Opening and closing a descriptor of the database outside SQLite drops this process's
    POSIX locks on it; another process closing its connection would then take the WAL away
    (and the next answers with it). Writes after another process's read must all be there."""
    import subprocess

    path = tmp_path / "log.sqlite3"
    log = ExchangeLog(path)
    written(log, "before the reader")
    reader = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute('SELECT COUNT(*) FROM exchanges').fetchone()[0]); c.close()"
    )
    first = subprocess.run(
        [sys.executable, "-c", reader, str(path)], capture_output=True, text=True
    )
    assert first.stdout.strip() == "1"
    written(log, "after the reader")
    second = subprocess.run(
        [sys.executable, "-c", reader, str(path)], capture_output=True, text=True
    )
    assert second.stdout.strip() == "2"
    log.close()
