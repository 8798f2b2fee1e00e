"""`Client.map` / `AsyncClient.map` over real sockets against FakeGateway: every row accounted
for in input order, failures kept, 429s slowing the batch, Ctrl-C keeping finished rows."""

from __future__ import annotations

import _thread
import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import BaseModel

from conftest import client_for, prompts_sent
from ipygemini import AsyncClient, OptionError
from ipygemini.batch._map import BatchInterrupted
from ipygemini.batch._rate import RateGovernor
from ipygemini.testing import FakeGateway


class Label(BaseModel):
    sentiment: str
    score: int


def test_rows_come_back_in_input_order_with_the_index(gw: FakeGateway) -> None:
    gw.latency = 0.01
    frame = pd.DataFrame(
        {"name": [f"item{i}" for i in range(40)], "n": range(40)}, index=range(400, 440)
    )
    batch = client_for(gw).map(frame, "Describe {name} number {n} at {index}", concurrency=8)
    out = batch.to_frame()
    assert list(out.index) == list(frame.index)
    assert list(out.columns) == ["answer", "status", "error", "input_tokens", "output_tokens"]
    assert (out.status == "complete").all()
    for label, reply in zip(frame.index, batch, strict=True):
        assert reply is not None
        i = label - 400
        # the fake answer quotes the prompt it got: each row has its own answer
        assert f"item{i} number {i} at {label}" in reply.text
    assert sorted(prompts_sent(gw)) == sorted(
        f"Describe item{i} number {i} at {400 + i}" for i in range(40)
    )


def test_schema_gives_one_column_per_field(gw: FakeGateway) -> None:
    frame = pd.DataFrame({"text": ["great", "awful", "fine"]})
    out = client_for(gw).map(frame, "Rate: {text}", schema=Label, progress=False).to_frame()
    assert list(out.columns[:2]) == ["sentiment", "score"]
    assert out.score.map(type).eq(int).all() and (out.status == "complete").all()


def test_failures_are_kept_in_place_and_retried_rows_recover(gw: FakeGateway) -> None:
    rows = [
        "ok one",
        "[fake:status code=400] refused",
        "[fake:status code=503 fail_times=2] flaky",
        "ok two",
    ]
    batch = client_for(gw).map(rows, progress=False)
    out = batch.to_frame()
    assert list(out.status) == ["complete", "failed", "complete", "complete"]
    assert "HTTP 400" in out.error[1] and pd.isna(out.answer[1])
    assert batch.outcomes[2].attempts == 3  # two 503s, then the answer
    assert batch.outcomes[1].attempts == 1  # a 400 is not retried


def test_a_row_over_the_size_limit_fails_with_the_reason_and_the_rest_go_on() -> None:
    with FakeGateway(max_body_bytes=4000) as gw:
        rows = ["short", "x" * 10_000, "also short"]
        out = client_for(gw).map(rows, progress=False).to_frame()
    assert list(out.status) == ["complete", "failed", "complete"]
    assert "413" in out.error[1]


def test_adaptive_backoff_against_a_rate_limited_gateway() -> None:
    with FakeGateway(rate_limit=5, rate_window=0.25) as gw:
        batch = client_for(gw).map([f"row {i}" for i in range(60)], progress=False)
    assert batch.statuses == {"complete": 60}
    assert gw.accepted == 60
    assert 0 < gw.refused < 30  # it met the limit, and learned it rather than hammering


def test_empty_input_sends_nothing(gw: FakeGateway) -> None:
    out = client_for(gw).map(pd.DataFrame({"text": []}), "{text}").to_frame()
    assert len(out) == 0 and "answer" in out.columns
    assert gw.requests == []


def test_bad_input_is_one_line_naming_what_to_do(gw: FakeGateway) -> None:
    frame = pd.DataFrame({"text": ["a"], "lang": ["en"]})
    with pytest.raises(OptionError, match=r"\{txt\}.*the columns are text, lang"):
        client_for(gw).map(frame, "Say {txt}")
    with pytest.raises(OptionError, match="needs a template"):
        client_for(gw).map(frame)
    with pytest.raises(OptionError, match="not a int"):
        client_for(gw).map(3, "x")
    assert gw.requests == []


def test_async_map_keeps_order(gw: FakeGateway) -> None:
    async def run() -> list[str]:
        async with AsyncClient(base_url=gw.base_url, api_key=gw.api_key) as client:
            batch = await client.map([f"q{i}" for i in range(10)], progress=False)
        return [r.text if r is not None else "" for r in batch]

    answers = asyncio.run(run())
    assert all(f"q{i}" in answers[i] for i in range(10))


def test_map_works_while_an_event_loop_runs_in_this_thread(gw: FakeGateway) -> None:
    async def in_a_kernel_like_loop() -> int:
        return len(client_for(gw).map(["a", "b"], progress=False))

    assert asyncio.run(in_a_kernel_like_loop()) == 2


def test_ctrl_c_keeps_every_finished_row(gw: FakeGateway) -> None:
    gw.latency = 0.05
    rows = [f"row {i}" for i in range(200)]
    client = client_for(gw)

    def interrupt_after_some_answers() -> None:
        while gw.accepted < 10:
            gw.wait_for_in_flight(1, timeout=1.0)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_after_some_answers, daemon=True).start()
    with pytest.raises(BatchInterrupted) as caught:
        client.map(rows, concurrency=4, progress=False)
    batch = caught.value.batch
    out = batch.to_frame()
    assert len(out) == 200 and list(out.index) == list(range(200))
    finished = out[out.status == "complete"]
    assert len(finished) >= 1 and (out.status == "not run").sum() >= 100
    for i in finished.index:
        assert f"row {i}" in out.answer[i]
    assert "finished and are kept" in str(caught.value)


def test_running_again_resumes_from_the_log(gw: FakeGateway) -> None:
    rows = ["first", "[fake:status code=400] refused", "second"]
    client = client_for(gw)
    first = client.map(rows, progress=False)
    assert first.statuses == {"complete": 2, "failed": 1} and len(gw.requests) == 3
    gw.clear()
    again = client.map([*rows, "third"], progress=False)
    sent = prompts_sent(gw)
    assert sorted(sent) == ["[fake:status code=400] refused", "third"]  # answered rows not sent
    assert [r.cached if r is not None else None for r in again] == [True, None, True, False]
    assert again[0] is not None and first[0] is not None and again[0].text == first[0].text


def test_the_next_batch_starts_at_the_rate_this_one_learned(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that met the gateway's limit keeps the rate that held (per base URL and model,
    in the log file, shown by ``%gemini config``); the next batch with that model starts there
    instead of slow-starting into another 429 and its Retry-After pause; another model does
    not; `forget_gateway` forgets it."""
    import sqlite3

    from ipygemini.batch import _map
    from ipygemini.log import forget_gateway
    from ipygemini.magic._commands import gateway_lesson

    governors: list[RateGovernor] = []

    class Spy(RateGovernor):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            governors.append(self)

    monkeypatch.setattr(_map, "RateGovernor", Spy)

    def kept(base_url: str) -> dict[str, float]:
        row = (
            sqlite3.connect(home / "log.sqlite3")
            .execute("SELECT facts FROM gateways WHERE base_url = ?", (base_url,))
            .fetchone()
        )
        return dict(json.loads(row[0]).get("rates", {})) if row else {}

    with FakeGateway(rate_limit=5, rate_window=1.0) as gw:
        client = client_for(gw, model="gemini-2.5-flash")
        first = client.map([f"first {i}" for i in range(24)], progress=False)
        assert first.statuses == {"complete": 24} and gw.refused >= 1  # slow start met it
        rate = kept(gw.base_url)["gemini-2.5-flash"]
        assert 0.8 * 5 <= rate < 5  # under the limit it met
        lesson = gateway_lesson(gw.base_url)
        assert f"gemini-2.5-flash batches start at {rate:.3g} requests/s" in lesson
        second = client_for(gw).map([f"second {i}" for i in range(3)], progress=False)
        assert second.statuses == {"complete": 3}
        assert governors[1].start_rate == rate and not governors[1].slow_start
        assert kept(gw.base_url)["gemini-2.5-flash"] == rate  # too short to teach anything
        other = client_for(gw).map(["third"], progress=False, model="gemini-2.5-pro")
        assert other.statuses == {"complete": 1} and governors[2].slow_start  # its own limit
        unlogged = client_for(gw, log=False).map(["fourth"], progress=False)
        assert unlogged.statuses == {"complete": 1} and governors[3].start_rate == rate
        forget_gateway(gw.base_url)
        assert kept(gw.base_url) == {} and gateway_lesson(gw.base_url) == ""
        client_for(gw).map(["fifth"], progress=False)
        assert governors[4].slow_start
