"""The batch rate governor on a simulated clock: spacing, caps, pauses, and AIMD against a
gateway that refuses what goes over its limit."""

from __future__ import annotations

import heapq
import math

import pytest

from conftest import FakeClock
from ipygemini.batch._rate import RateGovernor


def test_starts_are_spaced_by_the_rate() -> None:
    clock = FakeClock()
    gov = RateGovernor(start_rate=4, clock=clock)
    assert [gov.claim() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]


def test_max_rpm_caps_whatever_is_learned() -> None:
    clock = FakeClock()
    gov = RateGovernor(max_rpm=120, start_rate=50, clock=clock)
    for _ in range(500):
        gov.succeeded()
    assert gov.rate == 2.0
    starts = [gov.claim() for _ in range(3)]
    assert starts[1] - starts[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="max_rpm"):
        RateGovernor(max_rpm=0)


def test_retry_after_pauses_every_worker_and_rejections_count() -> None:
    clock = FakeClock()
    gov = RateGovernor(start_rate=10, clock=clock)
    sent = gov.claim()
    clock.now = 0.5
    gov.throttled(sent, retry_after=3.0)
    assert gov.claim() >= 3.5  # the next request of any worker waits
    assert gov.claim() > 3.5
    assert gov.sent == 3 and gov.throttles == 1  # the refused request counted as sent


def test_one_burst_of_refusals_slows_down_once() -> None:
    clock = FakeClock()
    gov = RateGovernor(start_rate=10, clock=clock)
    for _ in range(10):
        gov.succeeded()
    sent = [gov.claim() for _ in range(5)]
    clock.now = 1.0
    before = gov.rate
    for s in sent:
        gov.throttled(s)
    assert gov.rate < before
    assert gov.rate == pytest.approx(min(before, 10) * gov.decrease, rel=0.2)
    cut = gov.rate
    gov.throttled(clock.now)  # within a second of the cut: no second cut
    assert gov.rate == cut


def simulate(rows: int, limit: int, latency: float) -> tuple[float, int, int]:
    """(wall seconds, requests sent, refusals after the first 10 %) against a gateway that
    allows `limit` requests per one-second window and refuses the rest with a 429."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    windows: dict[int, int] = {}
    responses: list[tuple[float, float, bool]] = []
    pending, done, sent, refused_late = rows, 0, 0, 0

    def answer() -> None:
        nonlocal done, pending
        t, sent_at, ok = heapq.heappop(responses)
        clock.now = t
        if ok:
            gov.succeeded()
            done += 1
        else:
            gov.throttled(sent_at)
            pending += 1  # the row is retried

    while done < rows:
        if not pending:
            answer()
            continue
        upcoming = max(clock.now, gov.next_start, gov.paused_until)
        while responses and responses[0][0] <= upcoming:
            answer()
        start = gov.claim()
        clock.now = max(clock.now, start)
        pending -= 1
        sent += 1
        windows[int(start)] = windows.get(int(start), 0) + 1
        ok = windows[int(start)] <= limit
        refused_late += not ok and sent > rows // 10
        heapq.heappush(responses, (start + latency, start, ok))
    return clock.now, sent, refused_late


@pytest.mark.parametrize(("limit", "latency"), [(20, 0.2), (20, 0.05), (10, 0.5)])
def test_aimd_keeps_close_to_the_limit_with_few_refusals(limit: int, latency: float) -> None:
    wall, sent, refused_late = simulate(1000, limit, latency)
    assert wall <= 1.1 * 1000 / limit
    assert refused_late / sent <= 0.02


def test_growth_slows_near_the_rate_of_the_last_refusal() -> None:
    clock = FakeClock()
    gov = RateGovernor(clock=clock, start_rate=20)
    gov.claim()
    clock.now += 1.5
    gov.succeeded()
    gov.throttled(clock.now - 0.1)  # first 429: the ceiling is what was answered
    ceiling = gov.ceiling
    assert ceiling is not None and gov.rate < ceiling
    gov.rate = 0.5 * ceiling
    low = gov.rate
    gov.succeeded()
    far_step = gov.rate - low
    gov.rate = ceiling
    gov.succeeded()
    assert gov.rate - ceiling == pytest.approx(far_step * 0.1)


def against_windows(
    rows: int, limit: int, latency: float, max_rpm: float | None = None
) -> tuple[float, int, int, int]:
    """(seconds until the last answer, requests sent, 429s, requests sent in the first second)
    for `rows` rows sent by 16 workers against a gateway like FakeGateway: fixed one-second
    windows counting every request, over `limit` a 429 with ``Retry-After`` (whole seconds
    until the window ends, rounded up), which pauses the batch."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock, max_rpm=max_rpm)
    window_start, in_window = -1.0, 0
    events: list[tuple[float, int, str, float]] = []  # (time, order, kind, sent_at or -1)
    order, pending, sent, refused, last = 0, rows, 0, 0, 0.0
    starts: list[float] = []

    def schedule(at: float, kind: str, value: float = -1.0) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, value))

    for _ in range(min(16, rows)):
        pending -= 1
        schedule(gov.claim(), "send")
    while events:
        now, _, kind, value = heapq.heappop(events)
        clock.now = now
        if kind == "send":
            sent += 1
            starts.append(now)
            if now >= window_start + 1.0:
                window_start, in_window = now, 0
            in_window += 1
            if in_window <= limit:
                schedule(now + latency, "answered", now)
            else:
                retry_after = max(1, math.ceil(window_start + 1.0 - now))
                schedule(now + latency, f"refused:{retry_after}", now)
        elif kind == "answered":
            gov.succeeded()
            last = now
            if pending:
                pending -= 1
                schedule(gov.claim(), "send")
        else:  # refused: the row is sent again when the governor allows
            refused += 1
            gov.throttled(value, float(kind.split(":")[1]))
            schedule(gov.claim(), "send")
    first_second = sum(1 for s in starts if s < starts[0] + 1.0)
    return last, sent, refused, first_second


@pytest.mark.parametrize("rows", [120, 1000])
@pytest.mark.parametrize("latency", [0.1, 0.3])
def test_slow_start_finds_the_limit_without_a_burst(rows: int, latency: float) -> None:
    wall, sent, refused, first_second = against_windows(rows, limit=20, latency=latency)
    assert first_second <= 20  # the first second stays under the limit (it was 2.4x)
    assert refused / sent <= 0.02  # short batches included
    if rows >= 1000:
        assert rows / wall >= 0.9 * 20


def test_a_batch_given_max_rpm_starts_at_it() -> None:
    wall, _, refused, first_second = against_windows(120, limit=20, latency=0.1, max_rpm=1140)
    assert refused == 0 and 19 <= first_second <= 20  # 0.95 R from the first second on
    assert 120 / wall >= 0.9 * 20
