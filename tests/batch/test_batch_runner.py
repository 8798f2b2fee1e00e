"""The batch runner with a scripted `ask`: order, failures kept, retries, throttling, resume,
cancellation keeps finished rows. (Wire tests against FakeGateway are in test_batch.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conftest import FakeClock
from ipygemini._errors import BadRequestError, RateLimitError, ServerError
from ipygemini._types import Choice, Reply, Usage
from ipygemini.batch._rate import RateGovernor
from ipygemini.batch._runner import Batch, run_rows


def answer(text: str) -> Reply:
    return Reply(choices=[Choice(text=text, finish_reason="stop")], usage=Usage(3, 2, 5))


def run(prompts: list[str | None], ask: Any, **kw: Any) -> list[Any]:
    clock = kw.pop("clock", None) or FakeClock()  # the governor's clock, when it has one
    kw.setdefault("governor", RateGovernor(clock=clock, start_rate=1000))
    return asyncio.run(run_rows(prompts, ask, sleep=clock.sleep, clock=clock, **kw))


def test_rows_come_back_in_input_order_with_failures_kept() -> None:
    async def ask(i: int, prompt: str) -> Reply:
        await asyncio.sleep(0.001 * (10 - i))  # later rows answer first
        if prompt == "bad":
            raise BadRequestError("HTTP 400: nope.", status_code=400)
        return answer(prompt.upper())

    outcomes = run(["a", "bad", None, "d"], ask, concurrency=4)
    assert [o.status for o in outcomes] == ["complete", "failed", "not run", "complete"]
    assert outcomes[0].reply.text == "A" and outcomes[3].reply.text == "D"
    assert outcomes[1].error == "HTTP 400: nope. " + BadRequestError.hint
    batch = Batch(outcomes, labels=["w", "x", "y", "z"])
    assert batch.statuses == {"complete": 2, "failed": 1, "not run": 1}
    records = batch.records()
    assert [r["answer"] for r in records] == ["A", None, None, "D"]
    assert records[0]["input_tokens"] == 3


def test_throttles_slow_the_batch_and_are_retried() -> None:
    calls: dict[int, int] = {}

    async def ask(i: int, prompt: str) -> Reply:
        calls[i] = calls.get(i, 0) + 1
        if calls[i] == 1 and i % 2 == 0:
            error = RateLimitError("HTTP 429.", status_code=429)
            error.retry_after = 2.0  # type: ignore[attr-defined]
            raise error
        return answer(prompt)

    clock = FakeClock()
    governor = RateGovernor(start_rate=1000, clock=clock)
    outcomes = run([str(i) for i in range(6)], ask, governor=governor, concurrency=2, clock=clock)
    assert all(o.status == "complete" for o in outcomes)
    assert governor.throttles == 3 and governor.paused_until > 0
    assert [o.attempts for o in outcomes] == [2, 1, 2, 1, 2, 1]


def test_a_row_fails_only_after_its_retries() -> None:
    async def ask(i: int, prompt: str) -> Reply:
        raise ServerError("HTTP 502: bad gateway.", status_code=502)

    (outcome,) = run(["x"], ask, retries=2)
    assert outcome.status == "failed" and outcome.attempts == 3 and "502" in (outcome.error or "")


def test_skip_answers_without_sending() -> None:
    sent = []

    async def ask(i: int, prompt: str) -> Reply:
        sent.append(i)
        return answer("fresh")

    async def skip(i: int) -> Reply | None:
        return answer("cached") if i < 2 else None

    outcomes = run(["a", "b", "c"], ask, skip=skip)
    assert sent == [2] and [o.reply.text for o in outcomes] == ["cached", "cached", "fresh"]


def test_check_failures_fail_the_row_and_keep_the_reply() -> None:
    from ipygemini.client._schema import AnswerValidationError

    async def ask(i: int, prompt: str) -> Reply:
        return answer(prompt)

    def check(i: int, reply: Reply) -> Any:
        if reply.text == "bad":
            raise AnswerValidationError("field 'x' is missing", field="x")
        return {"x": reply.text}

    good, bad = run(["ok", "bad"], ask, check=check)
    assert good.parsed == {"x": "ok"}
    assert bad.status == "failed" and "field 'x'" in (bad.error or "") and bad.reply.text == "bad"


def test_cancelling_keeps_finished_rows() -> None:
    release = asyncio.Event()

    async def ask(i: int, prompt: str) -> Reply:
        if i >= 2:
            await release.wait()  # never set: these rows are in flight when cancelled
        return answer(prompt)

    async def main() -> list[Any]:
        outcomes: list[Any] = []
        task = asyncio.ensure_future(
            run_rows(["a", "b", "c", "d", "e"], ask, concurrency=3, outcomes=outcomes)
        )
        while sum(o.status == "complete" for o in outcomes) < 2:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return outcomes

    outcomes = asyncio.run(main())
    assert [o.status for o in outcomes] == ["complete", "complete", "not run", "not run", "not run"]


def always_500(i: int, prompt: str) -> Any:
    async def ask() -> Reply:
        raise ServerError("HTTP 500: upstream failed.", status_code=500)

    return ask()


def test_a_failing_row_has_a_budget_that_fits_a_batch() -> None:
    clock = FakeClock()
    governor = RateGovernor(clock=clock, start_rate=1000)
    (outcome,) = asyncio.run(
        run_rows(["x"], always_500, sleep=clock.sleep, clock=clock, governor=governor)
    )
    assert outcome.status == "failed" and outcome.attempts == 3
    assert sum(clock.slept) <= 2.0  # not the ~15 s of a client's four backoffs
    # the hint says what to do in a batch, not the client's "try again in a moment"
    assert outcome.error == (
        "HTTP 500: upstream failed. It failed 3 times; run the same map again: answered rows "
        "come from the log and only failed ones are sent later."
    )


def test_a_throttled_row_waits_and_its_hint_applies_to_a_batch() -> None:
    async def ask(i: int, prompt: str) -> Reply:
        error = RateLimitError("HTTP 429: slow down.", status_code=429)
        error.retry_after = 2.0
        raise error

    clock = FakeClock()
    governor = RateGovernor(clock=clock, start_rate=1000)
    (outcome,) = asyncio.run(
        run_rows(["x"], ask, sleep=clock.sleep, clock=clock, governor=governor, resumable=False)
    )
    assert outcome.status == "failed" and outcome.attempts == 9  # 8 retries for a 429
    assert clock.now >= 8 * 2.0  # every Retry-After was waited out
    assert "max_retries" not in (outcome.error or "")
    assert outcome.error is not None and outcome.error.endswith(
        "The gateway still refused after 9 tries; run the failed rows again (status 'failed' "
        "in to_frame())."
    )


def test_a_throttle_without_retry_after_backs_the_row_off() -> None:
    calls = 0

    async def ask(i: int, prompt: str) -> Reply:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise RateLimitError("HTTP 429: slow down.", status_code=429)
        return answer("ok")

    clock = FakeClock()
    governor = RateGovernor(clock=clock, start_rate=1000)
    (outcome,) = asyncio.run(
        run_rows(["x"], ask, sleep=clock.sleep, clock=clock, governor=governor)
    )
    assert outcome.status == "complete" and outcome.attempts == 4
    assert clock.now >= 0.75 * (1 + 2 + 4)  # it waited, doubling, rather than hammering
