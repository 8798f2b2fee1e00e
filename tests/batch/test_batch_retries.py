"""Retries inside a batch, over real sockets against FakeGateway: rows that always fail end
soon with a hint that applies to a batch, and 429s with ``Retry-After`` (seconds or an HTTP
date) are waited out instead of failing rows. Time is injected: the batch sleeps on a fake
clock, so nothing here waits for real."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from conftest import FakeClock
from ipygemini import AsyncClient, Client, Settings
from ipygemini.batch import BatchPlan, amap
from ipygemini.batch._map import batch_client
from ipygemini.batch._runner import Batch
from ipygemini.testing import FakeGateway

pytestmark = pytest.mark.usefixtures("home")  # each test logs into a home of its own


def run_batch(gw: FakeGateway, rows: list[str], fake: FakeClock, **options: object) -> Batch:
    settings = Settings.resolve(
        {}, offline_fallback=False, base_url=gw.base_url, api_key=gw.api_key
    )

    async def main() -> Batch:
        client = batch_client(AsyncClient, settings)
        try:
            plan = BatchPlan(rows, None)
            return await amap(client, plan, clock=fake, sleep=fake.sleep, **options)  # type: ignore[arg-type]
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_rows_that_always_fail_end_with_a_hint_for_batches(gw: FakeGateway) -> None:
    fake = FakeClock(1000.0)
    rows = ["fine", "[fake:status code=500] broken", "also fine"]
    batch = run_batch(gw, rows, fake)
    assert [o.status for o in batch.outcomes] == ["complete", "failed", "complete"]
    failed = batch.outcomes[1]
    # a budget that fits a batch: two backoffs (0.5 s, 1 s, each jittered by at most 1.25x)
    # and the governor's short pauses
    assert failed.attempts == 3 and sum(fake.slept) <= 2.25
    assert failed.error is not None and "try again in a moment" not in failed.error
    assert failed.error.endswith(
        "It failed 3 times; run the same map again: answered rows come from the log and only "
        "failed ones are sent later."
    )


def test_running_again_sends_only_the_failed_row(gw: FakeGateway) -> None:
    rows = ["fine", "[fake:status code=500 fail_times=3] flaky", "also fine"]
    first = Client(base_url=gw.base_url, api_key=gw.api_key).map(rows, progress=False)
    assert first.statuses == {"complete": 2, "failed": 1}
    before = len(gw.requests)  # (not gw.clear(): it would forget how often the row failed)
    again = Client(base_url=gw.base_url, api_key=gw.api_key).map(rows, progress=False)
    assert again.statuses == {"complete": 3}
    assert [r.body["messages"][-1]["content"] for r in gw.requests[before:]] == [rows[1]]


@pytest.mark.parametrize("form", ["seconds", "date"])
def test_a_batch_waits_out_retry_after_instead_of_failing_rows(gw: FakeGateway, form: str) -> None:
    fake = FakeClock(1000.0)
    ahead = 3
    when = (
        str(ahead)
        if form == "seconds"
        else email.utils.formatdate(time.time() + ahead, usegmt=True)
    )
    gw.push_fault("rate_limit", count=5, retry_after=when)  # the first row is refused 5 times
    batch = run_batch(gw, ["one", "two", "three"], fake, concurrency=1)
    assert batch.statuses == {"complete": 3}  # a client's retry count would have failed it
    assert batch.outcomes[0].attempts == 6
    assert fake.now - 1000.0 >= 5 * (ahead - 1)  # each refusal's pause was waited out
