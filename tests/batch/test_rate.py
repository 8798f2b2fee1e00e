"""The batch rate governor: spacing, caps and pauses on a simulated clock, and the real runner
with it against a rate-limited gateway on virtual time (AIMD, slow start, a learned rate)."""

from __future__ import annotations

import pytest

from conftest import FakeClock
from ipygemini.batch._rate import RateGovernor
from virtual_time import run_batch


def send(gov: RateGovernor, clock: FakeClock) -> float:
    """Wait (on `clock`) until the governor lets a request go; its start time."""
    while True:
        wait, start = gov.claim()
        if wait <= 0:
            return start
        clock.advance(wait)


def test_starts_are_spaced_by_the_rate() -> None:
    clock = FakeClock()
    gov = RateGovernor(start_rate=4, clock=clock)
    assert [send(gov, clock) for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]


def test_only_the_request_sent_now_is_booked() -> None:
    """Workers waiting for a slot book nothing, so a faster rate holds for the next request
    (slots booked ahead at the start rate held the first two seconds at 8/s)."""
    clock = FakeClock()
    gov = RateGovernor(start_rate=4, clock=clock)
    assert gov.claim() == (0.0, 0.0)
    for _ in range(15):  # fifteen more workers ask
        assert gov.claim() == (0.25, 0.25)
    assert gov.sent == 1
    clock.advance(0.25)
    gov.rate = 20.0
    assert send(gov, clock) == 0.25
    assert send(gov, clock) == pytest.approx(0.30)


def test_max_rpm_caps_whatever_is_learned() -> None:
    clock = FakeClock()
    gov = RateGovernor(max_rpm=120, start_rate=50, known_rate=30, clock=clock)
    for _ in range(500):
        gov.succeeded()
    assert gov.rate == 2.0
    starts = [send(gov, clock) for _ in range(3)]
    assert starts[1] - starts[0] == pytest.approx(0.5)
    assert gov.learned_rate() is None  # the user set the pace: nothing learned
    with pytest.raises(ValueError, match="max_rpm"):
        RateGovernor(max_rpm=0)


def test_retry_after_pauses_every_worker_and_rejections_count() -> None:
    clock = FakeClock()
    gov = RateGovernor(start_rate=10, clock=clock)
    sent = send(gov, clock)
    clock.now = 0.5
    gov.throttled(sent, retry_after=3.0)
    assert gov.claim() == (3.0, 3.5)  # the next request of any worker waits
    assert send(gov, clock) == 3.5
    assert send(gov, clock) > 3.5
    assert gov.sent == 3 and gov.throttles == 1  # the refused request counted as sent


def test_one_burst_of_refusals_slows_down_once() -> None:
    clock = FakeClock()
    gov = RateGovernor(start_rate=8, clock=clock)
    taken = [send(gov, clock) for _ in range(5)]
    refused = [send(gov, clock) for _ in range(3)]  # the first sent 0.625 s in
    clock.now = 1.0
    before = gov.rate
    for s in refused:
        gov.throttled(s)
    assert gov.rate < before
    assert gov.rate == pytest.approx(len(taken) * gov.decrease)  # what was taken, less 5%
    cut = gov.rate
    gov.throttled(clock.now)  # within a second of the cut: no second cut
    assert gov.rate == cut
    early = RateGovernor(start_rate=8, clock=FakeClock())
    early.throttled(send(early, early.clock))  # refused at once: maybe another's traffic
    assert early.rate == pytest.approx(8 * early.decrease)  # a gentle cut, not to 0.95/s


def test_growth_stays_under_the_rate_of_a_recent_refusal() -> None:
    clock = FakeClock()
    gov = RateGovernor(clock=clock, start_rate=20)
    for _ in range(20):
        send(gov, clock)
    gov.succeeded()
    clock.advance(0.06)
    # the first 429 (sent at 1.01): the ceiling is what the gateway took in the second before
    gov.throttled(send(gov, clock))
    ceiling = gov.ceiling
    assert ceiling == 19 and gov.rate == pytest.approx(19 * 0.95)
    gov.rate = 0.5 * ceiling
    low = gov.rate
    gov.succeeded()
    far_step = gov.rate - low
    gov.rate = 0.96 * ceiling
    for _ in range(1000):
        clock.advance(0.05)
        gov.succeeded()
    assert gov.rate == pytest.approx(0.97 * ceiling)  # held under it for a minute
    clock.advance(60)
    before = gov.rate
    gov.succeeded()
    assert gov.rate - before == pytest.approx(far_step * 0.1 * 3)  # then probed, gently


@pytest.mark.parametrize(("latency", "refuse_after"), [(0.1, 0.005), (0.3, 0.005), (0.3, 0.5)])
@pytest.mark.parametrize("sliding", [False, True])
def test_a_long_batch_keeps_close_to_the_limit(
    latency: float, refuse_after: float, sliding: bool
) -> None:
    """Also when the 429 comes back half a second after its request (the second before
    it is still counted)."""
    run = run_batch(1000, latency=latency, sliding=sliding, refuse_after=refuse_after)
    assert all(o.status == "complete" for o in run.outcomes)
    assert run.share_of_limit() >= 0.9
    assert run.share_refused() <= 0.02
    assert run.gateway.first_second() <= 20  # the first second stays under the limit (was 48)


@pytest.mark.parametrize("latency", [0.1, 0.3])
def test_a_short_batch_finds_the_limit_without_a_burst(latency: float) -> None:
    run = run_batch(120, latency=latency)
    assert run.gateway.first_second() <= 20
    assert run.share_refused() <= 0.02
    # finding the limit costs one 429 and its whole-second Retry-After pause: see
    # benchmarks/batch.py; slots booked ahead held it under 0.72 of the limit
    assert run.share_of_limit() >= (0.75 if latency == 0.1 else 0.65)
    learned = run.governor.learned_rate()
    assert learned is not None and 0.85 * 20 <= learned < 20  # under the limit


def test_a_rate_is_kept_only_once_it_has_held() -> None:
    """A cut that overshot's estimate is not kept until a second's worth of answers came at it
    (an estimate from the first 429 can be above the limit: the next batch would burst)."""
    clock = FakeClock()
    gov = RateGovernor(clock=clock)
    for _ in range(30):
        send(gov, clock)
        gov.succeeded()
    gov.throttled(send(gov, clock))
    assert gov.learned_rate() is None  # not yet shown to hold
    for _ in range(int(gov.rate)):
        gov.succeeded()
    assert gov.learned_rate() is None
    gov.succeeded()
    assert gov.learned_rate() == pytest.approx(min(gov.rate, gov.decrease * gov.ceiling))


def test_a_lower_limit_replaces_a_known_rate_once_it_held() -> None:
    """A key with a lower limit: each batch meets it, and the lower rate it held is kept, at
    most halving what was known per batch (so one unlucky batch cannot wreck it)."""
    known = 19.0
    for _ in range(2):
        run = run_batch(
            40, limit=5, governor=lambda clock, k=known: RateGovernor(known_rate=k, clock=clock)
        )
        assert run.gateway.refused >= 1 and all(o.status == "complete" for o in run.outcomes)
        learned = run.governor.learned_rate()
        assert learned is not None and learned == pytest.approx(max(known / 2, 0.95 * 5), rel=0.05)
        known = learned
    assert known < 5


def test_a_known_rate_below_the_limit_is_outgrown() -> None:
    """A rate kept from a key with a lower limit: probed gently for half a minute, then as
    after a deep cut, so a batch with a higher limit finds it (and keeps it)."""
    run = run_batch(1000, governor=lambda clock: RateGovernor(known_rate=4.75, clock=clock))
    learned = run.governor.learned_rate()
    assert learned is not None and learned > 15
    assert run.share_refused() <= 0.02


def test_what_a_batch_learned_is_what_it_showed() -> None:
    """A rate is kept only once it held after the last cut (a stray 429 in a short batch
    keeps what was known), never above what was really sent in one second, and a 503 (an
    overloaded model) teaches no limit."""
    clock = FakeClock()
    gov = RateGovernor(known_rate=19, clock=clock)
    for _ in range(3):
        send(gov, clock)
        gov.succeeded()
    gov.throttled(send(gov, clock))  # a stray 429 after three rows
    assert gov.learned_rate() is None  # the known 19/s stays
    slow = RateGovernor(known_rate=4, clock=clock)  # four workers, one-second answers
    for _ in range(400):
        for _ in range(4):
            send(slow, clock)
        clock.advance(1.0)
        for _ in range(4):
            slow.succeeded()
    assert slow.rate > 4.5 and slow.learned_rate() == 4  # grown, never sent faster
    busy = RateGovernor(clock=clock)
    for _ in range(30):
        send(busy, clock)
        busy.succeeded()
    busy.throttled(send(busy, clock), overloaded=True)
    for _ in range(40):
        send(busy, clock)
        busy.succeeded()
    assert busy.rate < 30 and busy.learned_rate() is None  # slowed down, learned nothing


def test_a_batch_that_knows_the_rate_starts_there() -> None:
    """What an earlier batch learned: no slow start, no 429, over 90% of the limit."""
    run = run_batch(120, governor=lambda clock: RateGovernor(known_rate=19.0, clock=clock))
    assert run.gateway.refused == 0
    assert 19 <= run.gateway.first_second() <= 20
    assert run.share_of_limit() >= 0.9
    learned = run.governor.learned_rate()
    assert learned is not None and 19.0 <= learned < 19.5  # probed gently above it


def test_a_batch_given_max_rpm_starts_at_it() -> None:
    run = run_batch(120, governor=lambda clock: RateGovernor(max_rpm=1140, clock=clock))
    assert run.gateway.refused == 0 and 19 <= run.gateway.first_second() <= 20
    assert run.share_of_limit() >= 0.9


def test_without_retry_after_refused_rows_back_off_alone() -> None:
    run = run_batch(300, retry_after=False, limit=5)
    assert all(o.status == "complete" for o in run.outcomes)
    assert run.share_refused() <= 0.02 and run.share_of_limit() >= 0.9
