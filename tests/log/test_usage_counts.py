"""What usage counts (issue 17, items 19 and 27): answered exchanges only (not failed, not
stopped before anything arrived, not replayed from the cache), every request's billed tokens,
and the offline gateway's answers free; ``%gemini log ID`` says "not reported" for missing
usage. On the log file itself, on the session tally, and in a real kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipygemini._errors import GeminiError
from ipygemini._types import Choice, GeneratedImage, Reply, Usage
from ipygemini.log import OFFLINE_HOST, SOURCES, ExchangeLog, exchange_from
from ipygemini.log._usage import UsageTally, usage_rows

BASE = "https://gateway.example/v1/"


def reply(text: str = "an answer", usage: Usage | None = None, **state: object) -> Reply:
    r = Reply(choices=[Choice(text=text)], usage=usage, model="gemini-2.5-flash")
    for name, value in state.items():
        setattr(r, name, value)
    return r


KINDS: dict[str, Reply] = {
    "complete": reply(usage=Usage(100, 50, 150)),
    "truncated": reply(usage=Usage(10, 5, 15), truncated=True),
    "partial": reply("half an ans", Usage(7, 3, 10), interrupted=True),
    "stopped early": reply("", None, interrupted=True),
    "failed": reply("", None, error=GeminiError("HTTP 500")),
    "failed, usage reported": reply("", Usage(40, 0, 40), error=GeminiError("bad schema")),
}


def record_all(log: ExchangeLog, *, offline: bool = False, source: str = "client") -> None:
    for name, r in KINDS.items():
        exchange = exchange_from(
            {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": name}]},
            r,
            source=source,
            base_url=BASE,
            started=1_700_000_000.0,
            duration=0.1,
            offline=offline,
        )
        assert log.record(exchange) is not None
    cached = exchange_from(
        {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "complete"}]},
        KINDS["complete"],
        source=source,
        base_url=BASE,
        started=1_700_000_000.0,
        duration=0.0,
        from_cache=True,
        offline=offline,
    )
    assert log.record(cached) is not None


def test_the_log_counts_answers_and_billed_tokens_only(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path / "log.sqlite3")
    record_all(log)
    (row,) = log.usage()
    assert row["answers"] == 3  # complete, truncated, the partial one
    assert (row["input"], row["output"]) == (100 + 10 + 7 + 40, 50 + 5 + 3)
    assert row["offline"] is False


def test_offline_answers_are_logged_as_offline_and_free(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path / "log.sqlite3")
    record_all(log)
    record_all(log, offline=True)
    assert {e.host for e in log.entries(50)} == {"gateway.example", OFFLINE_HOST}
    paid, free = usage_rows(log.usage())
    assert (paid.model, paid.offline, free.model, free.offline) == (
        "gemini-2.5-flash",
        False,
        "gemini-2.5-flash",
        True,
    )
    assert paid.cost is not None and paid.cost > 0
    assert free.cost == 0 and free.answers == 3 and free.input == paid.input


def test_an_offline_answer_keys_on_a_stable_host() -> None:
    def key(base_url: str) -> str | None:
        return exchange_from(
            {"model": "m", "messages": [{"role": "user", "content": "q"}]},
            KINDS["complete"],
            source="client",
            base_url=base_url,
            started=0.0,
            duration=0.0,
            offline=True,
        ).cache_key

    assert key("http://127.0.0.1:40001/v1") == key("http://127.0.0.1:51234/v1")


def test_userinfo_never_reaches_the_host_column() -> None:
    exchange = exchange_from(
        {"model": "m", "messages": []},
        KINDS["complete"],
        source="client",
        base_url="https://user:hunter2@gateway.example:8443/v1",
        started=0.0,
        duration=0.0,
    )
    assert exchange.host == "gateway.example:8443"


def test_the_session_tally_counts_like_the_log() -> None:
    tally = UsageTally()
    for r in KINDS.values():
        tally.add_reply("gemini-2.5-flash", r)
    tally.add_reply("gemini-2.5-flash", reply(usage=Usage(100, 50, 150), cached=True))
    tally.add_reply("gemini-2.5-flash", KINDS["complete"], offline=True)
    thinking = reply(usage=Usage(10, 5, 40))  # thinking left out of completion_tokens
    tally.add_reply("gemini-2.5-flash", thinking)
    paid, free = usage_rows(tally.rows())
    assert (paid.answers, paid.input, paid.output) == (4, 167, 58 + 30)
    assert (free.offline, free.answers, free.cost) == (True, 1, 0)


def test_an_image_only_partial_answer_counts() -> None:
    tally = UsageTally()
    r = reply("", None, interrupted=True)
    r.choices[0].images.append(GeneratedImage(b"\x89PNG\r\n\x1a\n", "image/png"))
    tally.add_reply("gemini-2.5-flash-image", r)
    assert tally.rows()[0]["answers"] == 1


def test_fix_is_a_source_of_its_own(tmp_path: Path) -> None:
    assert SOURCES == ("client", "magic", "panel", "batch", "fix")
    log = ExchangeLog(tmp_path / "log.sqlite3")
    record_all(log, source="fix")
    assert {e.source for e in log.entries(50)} == {"fix"}


@pytest.mark.parametrize("offline", [False, True])
def test_usage_rows_accept_totals_without_the_offline_flag(offline: bool) -> None:
    totals = {"model": "gemini-2.5-flash", "answers": 1, "input": 10, "output": 10}
    totals |= {"reasoning": 0, "cached": 0}
    if offline:
        totals["offline"] = True
    (row,) = usage_rows([totals])
    assert (row.cost == 0) is offline
