"""The exchange log on real SQLite files: round trip, search, cache lookup, faults, two writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ipygemini._png import solid_png
from ipygemini._types import Choice, GeneratedImage, Reply, Usage
from ipygemini.log import Exchange, ExchangeLog, cache_key, exchange_from

KEY = "sk-ipygemini-LOG-KEY-5d1e9a77-never-stored"
PNG = solid_png(4, 3, (200, 10, 10))


def body(prompt: str = "Why is the sky blue?", **extra: object) -> dict[str, object]:
    return {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": prompt},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra,
    }


def reply(text: str = "Rayleigh scattering.", **kwargs: object) -> Reply:
    r = Reply(
        choices=[Choice(text=text, reasoning="thinking…", finish_reason="stop")],
        usage=Usage(12, 5, 17, 3),
        model="gemini-2.5-flash",
    )
    for name, value in kwargs.items():
        setattr(r, name, value)
    return r


def exchange(
    prompt: str = "Why is the sky blue?", text: str = "Rayleigh.", **kw: object
) -> Exchange:
    return exchange_from(
        body(prompt),
        reply(text, **kw),
        source="client",
        base_url="https://gateway.example/v1/",
        started=1_700_000_000.0,
        duration=0.25,
    )


def test_round_trip_keeps_every_field_and_image_bytes(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path / "log.sqlite3")
    r = reply("Here it is.")
    r.choices[0].images.append(GeneratedImage(PNG, "image/png"))
    attached = body()
    attached["messages"][1]["content"] = [  # type: ignore[index]
        {"type": "text", "text": "What colour?"},
        {
            "type": "image_url",
            "image_url": {
                "url": "data:image/png;base64," + __import__("base64").b64encode(PNG).decode()
            },
        },
    ]
    ex = exchange_from(
        attached,
        r,
        source="magic",
        base_url="https://gateway.example/v1/",
        started=1.0,
        duration=2.0,
        conversation="default",
    )
    entry_id = log.record(ex)
    assert entry_id is not None
    entry = log.get(entry_id)
    assert entry is not None
    assert (entry.source, entry.model, entry.host) == (
        "magic",
        "gemini-2.5-flash",
        "gateway.example",
    )
    assert entry.prompt == "What colour?\n[image_url]"
    assert entry.system == "Be brief."
    assert entry.answer == "Here it is." and entry.reasoning == "thinking…"
    assert (entry.input_tokens, entry.output_tokens, entry.reasoning_tokens) == (12, 5, 3)
    assert entry.status == "complete" and entry.finish_reason == "stop"
    assert entry.images == [("image/png", PNG)]
    assert entry.attachments == [
        {
            "kind": "image_url",
            "name": None,
            "mime": "image/png",
            "size": len(PNG),
            "sha256": __import__("hashlib").sha256(PNG).hexdigest(),
        }
    ]
    assert entry.conversation == "default" and not entry.from_cache
    assert "stream" not in entry.options


def test_the_key_is_never_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log = ExchangeLog(path)
    leaky = exchange(prompt=f"my key is {KEY}", text=f"you said {KEY}")
    leaky.error = f"HTTP 401: bad key {KEY}"
    log.record(leaky, secret=KEY)
    log.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert KEY.encode() not in stored
    assert b"\xe2\x80\xa6" + KEY[-4:].encode() in stored  # masked as …abcd


def test_search_with_fts_and_with_like(tmp_path: Path) -> None:
    for fts in (True, False):
        log = ExchangeLog(tmp_path / f"log-{fts}.sqlite3", fts=fts)
        log.record(exchange("Tell me about moons of Jupiter", "Io, Europa"))
        log.record(exchange("Why is the sky blue?", "Rayleigh scattering"))
        log.record(exchange("50% of what_ever", "percent"))
        assert [e.prompt for e in log.entries(search="jupiter")] == [
            "Tell me about moons of Jupiter"
        ]
        assert [e.answer for e in log.entries(search="Rayleigh")] == ["Rayleigh scattering"]
        assert len(log.entries(search='"unbalanced')) == 0  # user text is never query syntax
        assert [e.prompt for e in log.entries(n=2)] == ["50% of what_ever", "Why is the sky blue?"]
        assert log.entries(search="nothing-like-this") == []
        if not fts:
            assert [e.answer for e in log.entries(search="50%")] == ["percent"]


def test_lookup_returns_only_complete_answers(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path / "log.sqlite3")
    key = cache_key(body("q"), "https://gateway.example/v1/")
    log.record(exchange("q", "partial", interrupted=True))
    assert log.lookup(key) is None
    log.record(exchange("q", "whole"))
    found = log.lookup(key)
    assert found is not None and found.answer == "whole"


def test_cache_key_ignores_streaming_and_tells_attachments_apart() -> None:
    base = "https://gateway.example/v1/"
    streamed, plain = body("q"), body("q")
    del plain["stream"], plain["stream_options"]
    assert cache_key(streamed, base) == cache_key(plain, base)
    assert cache_key(body("q"), base) != cache_key(body("q"), "https://other.example/v1/")
    assert cache_key(body("q", temperature=0.2), base) != cache_key(body("q"), base)

    def with_image(png: bytes) -> dict[str, object]:
        b = body("q")
        url = "data:image/png;base64," + __import__("base64").b64encode(png).decode()
        b["messages"][1]["content"] = [{"type": "image_url", "image_url": {"url": url}}]  # type: ignore[index]
        return b

    assert cache_key(with_image(PNG), base) == cache_key(with_image(PNG), base)
    assert cache_key(with_image(PNG), base) != cache_key(
        with_image(solid_png(4, 3, (0, 0, 0))), base
    )


def test_a_corrupt_database_warns_once_and_the_chat_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    log = ExchangeLog(path)
    assert log.record(exchange()) is None
    assert log.record(exchange()) is None
    assert log.entries() == []
    err = capsys.readouterr().err
    assert err.count("could not") == 1 and "logging resumes" in err
    path.unlink()  # deleting the database loses only the log
    assert log.record(exchange()) is not None
    assert len(log) == 1


def test_a_locked_database_skips_the_entry_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.sqlite3"
    log = ExchangeLog(path, busy_timeout=0.05)
    assert log.record(exchange("first")) is not None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    assert log.record(exchange("while locked")) is None
    assert "locked" in capsys.readouterr().err
    holder.execute("ROLLBACK")
    holder.close()
    assert log.record(exchange("after")) is not None
    assert [e.prompt for e in log.entries()] == ["after", "first"]


def test_a_full_database_warns_and_keeps_going(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = ExchangeLog(tmp_path / "log.sqlite3")
    log.record(exchange())
    connection = log._connect()
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is "full" now
    assert log.record(exchange(text="x" * 200_000)) is None
    assert "full" in capsys.readouterr().err


def test_an_unwritable_location_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log's folder should be")
    log = ExchangeLog(blocker / "log.sqlite3")
    assert log.record(exchange()) is None
    assert "could not write" in capsys.readouterr().err


def test_a_newer_schema_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "log.sqlite3"
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA user_version = 99")
    assert ExchangeLog(path).record(exchange()) is None
    assert "newer ipygemini" in capsys.readouterr().err


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    writer = textwrap.dedent(
        f"""
        import sys
        from ipygemini._types import Choice, Reply
        from ipygemini.log import ExchangeLog, exchange_from
        log = ExchangeLog({str(path)!r})
        who = sys.argv[1]
        missing = 0
        for i in range(200):
            body = {{"model": "m", "messages": [{{"role": "user", "content": f"{{who}}-{{i}}"}}]}}
            reply = Reply(choices=[Choice(text="a", finish_reason="stop")])
            ex = exchange_from(body, reply, source="client", base_url="http://127.0.0.1:1/v1/",
                               started=0.0, duration=0.0)
            missing += log.record(ex) is None
        print(missing)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", writer, who], stdout=subprocess.PIPE, text=True)
        for who in ("a", "b")
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs == ["0", "0"]
    prompts = {e.prompt for e in ExchangeLog(path).entries(n=1000)}
    assert prompts == {f"{w}-{i}" for w in "ab" for i in range(200)}
