"""The exchange log and cache over real sockets: every client exchange is written when its reply
ends, with who asked; an identical request is answered from the log with no request at all."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from conftest import client_for
from ipygemini import AsyncClient, Client, Settings
from ipygemini._errors import AuthenticationError, StreamError
from ipygemini.log import ExchangeLog
from ipygemini.log._recording import exchange_log
from ipygemini.log._usage import SESSION
from ipygemini.testing import FakeGateway

KEY = "sk-ipygemini-LOGWIRE-3b9e1c55-never-stored"
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)


def rows(home: Path) -> list[sqlite3.Row]:
    connection = sqlite3.connect(home / "log.sqlite3")
    connection.row_factory = sqlite3.Row
    try:
        return list(connection.execute("SELECT * FROM exchanges ORDER BY id"))
    finally:
        connection.close()


def test_chat_and_stream_are_logged_with_who_asked(home: Path, gw: FakeGateway) -> None:
    with client_for(gw) as c:
        c.chat("Why is the sky blue?", system="Be brief.", temperature=0.5)
        with c.stream("Tell me about tides", source="magic", conversation="plan") as s:
            streamed = s.until_done()
    first, second = rows(home)
    assert (first["source"], first["conversation"], first["system"]) == (
        "client",
        None,
        "Be brief.",
    )
    assert first["prompt"] == "Why is the sky blue?" and "sky blue" in first["answer"]
    assert '"temperature": 0.5' in first["options"]
    assert first["status"] == "complete" and first["from_cache"] == 0
    assert first["host"] == gw.base_url.split("/")[2]
    assert first["input_tokens"] > 0 and first["output_tokens"] > 0
    assert first["finish_reason"] == "stop" and first["duration"] > 0
    assert (second["source"], second["conversation"]) == ("magic", "plan")
    assert second["answer"] == streamed.text and second["model"] == streamed.model


def test_async_chat_and_stream_are_logged(home: Path, gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=gw.api_key) as c:
            await c.chat("async chat", source="batch")
            async with c.stream("async stream", conversation="a") as s:
                await s.until_done()

    asyncio.run(main())
    got = [(r["prompt"], r["source"], r["conversation"], r["status"]) for r in rows(home)]
    assert got == [
        ("async chat", "batch", None, "complete"),
        ("async stream", "client", "a", "complete"),
    ]


def test_interrupted_and_failed_answers_are_logged_as_such(home: Path, gw: FakeGateway) -> None:
    with client_for(gw) as c:
        with c.stream("a long answer please [fake:slow]") as s:
            for event in s:
                if event.type == "text":
                    break
        kept = s.reply.text
        with pytest.raises(StreamError), c.stream("breaks [fake:error_event after=2]") as s:
            s.until_done()
    with Client(base_url=gw.base_url, api_key="sk-wrong-key-000000") as bad:
        with pytest.raises(AuthenticationError):
            bad.chat("who am I?")
    interrupted, failed, refused = rows(home)
    assert interrupted["status"] == "interrupted" and interrupted["answer"] == kept
    assert failed["status"] == "failed" and "Stream failed" in failed["error"]
    assert refused["status"] == "failed" and refused["prompt"] == "who am I?"
    assert refused["error"] and "sk-wrong-key-000000" not in refused["error"]


def test_the_key_and_authorization_header_are_never_stored(home: Path, gw: FakeGateway) -> None:
    with client_for(gw) as c:
        c.chat(f"my key is {KEY}, keep it safe")  # even a prompt holding it is masked
        with c.stream("stream one") as s:
            s.until_done()
        c.chat("again", cache=True)
        c.chat("again", cache=True)
    files = [p for p in home.iterdir() if p.name.startswith("log.sqlite3")]
    assert any(p.name.endswith("-wal") for p in files)  # the WAL is scanned too, not only the db
    for path in files:
        data = path.read_bytes()
        assert KEY.encode() not in data and KEY[:-4].encode() not in data
        assert b"Bearer" not in data and b"authorization" not in data.lower()
    assert any("…" + KEY[-4:] in r["prompt"] for r in rows(home))


def test_log_off_writes_nothing(
    home: Path, gw: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client_for(gw, log=False) as c:
        c.chat("not logged")
    monkeypatch.setenv("IPYGEMINI_LOG", "off")
    settings = Settings.resolve({}, base_url=gw.base_url, api_key=gw.api_key)
    assert settings.log is False
    with Client(settings) as c:
        with c.stream("not logged either") as s:
            s.until_done()
    assert not (home / "log.sqlite3").exists() or rows(home) == []


def test_an_identical_request_is_answered_from_the_log_with_no_request(
    home: Path, gw: FakeGateway
) -> None:
    with client_for(gw, cache=True) as c:
        with c.stream("cache me", temperature=0.2) as s:
            first_events = [e for e in s if e.type in ("text", "reasoning")]
        first = s.reply
        sent = len(gw.requests)
        with c.stream("cache me", temperature=0.2) as s:
            again_events = [e for e in s if e.type in ("text", "reasoning")]
        chat_again = c.chat("cache me", temperature=0.2)  # chat and stream share the answer
        assert len(gw.requests) == sent  # nothing reached the gateway
        with c.stream("cache me", temperature=0.3) as s:  # another option: another request
            s.until_done()
        assert len(gw.requests) == sent + 1
    assert s.reply.cached is False and first.cached is False
    replayed = [r for r in rows(home) if r["from_cache"]]
    assert len(replayed) == 2
    assert "".join(e.text for e in again_events) == "".join(e.text for e in first_events)
    assert chat_again.cached and chat_again.text == first.text and chat_again.status == "complete"
    assert (
        chat_again.usage is not None and chat_again.usage.total_tokens == first.usage.total_tokens
    )  # type: ignore[union-attr]


def test_iterating_a_cached_stream_without_with_works(home: Path, gw: FakeGateway) -> None:
    with client_for(gw) as c:
        c.chat("plain iteration")
        sent = len(gw.requests)
        events = list(c.stream("plain iteration", cache=True))
        assert len(gw.requests) == sent
    assert "".join(e.text for e in events if e.type == "text")


def test_async_cache_sends_nothing(home: Path, gw: FakeGateway) -> None:
    async def main() -> tuple[bool, bool, int]:
        async with AsyncClient(base_url=gw.base_url, api_key=gw.api_key) as c:
            await c.chat("async cached")
            sent = len(gw.requests)
            async with c.stream("async cached", cache=True) as s:
                await s.until_done()
            hit = await c.chat("async cached", cache=True)
            looked = await c.cached_reply("async cached")
            return (
                s.reply.cached,
                hit.cached and looked is not None,
                len(gw.requests) - sent,
            )

    assert asyncio.run(main()) == (True, True, 0)


def test_refresh_asks_again_and_the_new_answer_is_replayed(home: Path, gw: FakeGateway) -> None:
    with client_for(gw, cache=True) as c:
        c.chat("refresh me")
        sent = len(gw.requests)
        fresh = c.chat("refresh me", refresh=True)
        assert len(gw.requests) == sent + 1 and not fresh.cached
        hit = c.chat("refresh me")
        assert len(gw.requests) == sent + 1 and hit.cached
    newest_live = [r["id"] for r in rows(home) if not r["from_cache"]][-1]
    assert ExchangeLog(home / "log.sqlite3").lookup(rows(home)[-1]["cache_key"]).id == newest_live  # type: ignore[union-attr]


def test_only_complete_answers_are_replayed(home: Path, gw: FakeGateway) -> None:
    with client_for(gw, cache=True) as c:
        with pytest.raises(StreamError), c.stream("half [fake:error_event after=2]") as s:
            s.until_done()
        sent = len(gw.requests)
        with pytest.raises(StreamError), c.stream("half [fake:error_event after=2]") as s:
            s.until_done()
        assert len(gw.requests) == sent + 1  # the failed answer was not replayed


def test_cached_reply_answers_without_sending_and_writes_nothing(
    home: Path, gw: FakeGateway
) -> None:
    with client_for(gw) as c:
        assert c.cached_reply("row 1", system="Answer briefly.") is None
        live = c.chat("row 1", system="Answer briefly.")
        sent, logged = len(gw.requests), len(rows(home))
        found = c.cached_reply("row 1", system="Answer briefly.")
        assert c.cached_reply("row 1", system="Answer at length.") is None
    assert found is not None and found.cached and found.text == live.text
    assert len(gw.requests) == sent and len(rows(home)) == logged


def test_session_usage_counts_live_answers_not_cached_ones(home: Path, gw: FakeGateway) -> None:
    SESSION.clear()
    with client_for(gw, cache=True, log=True) as c:
        live = c.chat("count me")
        c.chat("count me")
    (row,) = SESSION.rows()
    assert row["answers"] == 1 and row["input"] == live.usage.prompt_tokens  # type: ignore[union-attr]


def test_a_new_home_takes_effect_at_the_next_request(
    home: Path, gw: FakeGateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("IPYGEMINI_HOME", str(other))
    with client_for(gw) as c:
        c.chat("moved")
    assert exchange_log().path == other / "log.sqlite3" and len(exchange_log()) == 1


def test_a_stream_dropped_without_close_is_logged_as_interrupted(
    home: Path, gw: FakeGateway
) -> None:
    import gc

    with client_for(gw) as c:
        s = c.stream("dropped midway [fake:slow] [fake:words=200]")
        for event in s:
            if event.type == "text":
                break
        kept = s.reply.text
        del s, event
        gc.collect()
        (row,) = rows(home)
    assert row["status"] == "interrupted" and row["answer"] == kept


def test_several_answers_or_tools_are_never_replayed(home: Path, gw: FakeGateway) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with client_for(gw, cache=True) as c:
        c.chat("two answers", n=2)
        c.chat("with tools", extra_body={"tools": tools})
        sent = len(gw.requests)
        assert not c.chat("two answers", n=2).cached
        assert not c.chat("with tools", extra_body={"tools": tools}).cached
        assert len(gw.requests) == sent + 2
