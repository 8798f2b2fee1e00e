"""`RateGovernor`: how fast a batch may send, learned from the gateway's 429s (AIMD).

Pure and clock-injected: workers `claim()` a slot before each request (only the request sent
now is booked, so a new rate or a pause holds at once) and report `succeeded()` or
`throttled(sent_at, retry_after)` after it. A batch starts slowly (`START_RATE`) and finds the
limit without bursting past it: while no 429 has come, the rate may exceed what the gateway
answered in the last second only by a margin (`PROBE_MARGIN`, `PROBE_FRACTION`), so the window
in which the limit is met overflows by a few requests, not by the rate's growth of a whole
second. A 429/503 cuts the rate to a fraction of what the gateway took in the second before
it, and for a minute the rate stays under that; a ``Retry-After`` pauses every worker (not just
the one that got it), and probing near the limit just found is gentle. Every attempt counts
against the rate, rejected ones too, so a gateway that refuses is not hammered. `max_rpm` caps
the rate whatever was learned; `known_rate` (what an earlier batch on the gateway learned)
starts the batch there, with no slow start, probing gently above it for `KNOWN_TRUST` seconds.
`learned_rate()` is what a batch showed, for the next one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateGovernor"]

START_RATE = 8.0
"""Requests per second to begin with: below the common per-key limits (20/s = 1,200 RPM)."""
PROBE_MARGIN = 6.0
PROBE_FRACTION = 0.25
"""Before the first 429 the rate stays within what was answered in the last second plus
max(`PROBE_MARGIN`, `PROBE_FRACTION` of it): quick to grow, never a burst past the limit."""

PROOF_ANSWERS = 10
"""Answers without a 429 after the last cut before a learned rate is kept for later batches."""

MIN_SPAN = 0.5
"""Seconds of sending before a 429 from which a limit can be told (sooner: cut by `decrease`)."""

SEND_MEMORY = 10.0
"""Seconds of send times kept: a 429 can come back long after its request was sent."""

CUT_INTERVAL = 1.0
"""At most one slow-down per second: gateways count in windows (per second or minute), and
once a window is full every request in it is refused whatever the rate."""

NEAR_CEILING = 0.95
CEILING_SLOWDOWN = 0.1
"""Above `NEAR_CEILING` times the rate of the last 429 the rate grows `CEILING_SLOWDOWN` as
fast: a gateway's limit rarely moves, and each 429 costs a ``Retry-After`` pause for all."""


KNOWN_TRUST = 30.0
"""Seconds a known rate is probed gently; after that, with no 429, the batch probes as after
a deep cut (the limit may have risen: another key, a paid tier)."""

PLATEAU = 0.97
HOLD_SECONDS = 60.0
"""For `HOLD_SECONDS` after a 429 the rate grows to at most `PLATEAU` times the rate at which
it came: each 429 pauses every worker for its ``Retry-After``, so crossing a limit just found
costs more than the last few percent of it would bring."""


class RateGovernor:
    """Spacing between request starts, shared by every worker of one batch."""

    def __init__(
        self,
        *,
        max_rpm: float | None = None,
        known_rate: float | None = None,
        start_rate: float = START_RATE,
        min_rate: float = 0.2,
        increase: float = 0.01,
        decrease: float = 0.95,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`start_rate` requests/s to begin with (`max_rpm`'s rate when given; `known_rate`,
        what an earlier batch learned of this gateway, when no `max_rpm` is): from a known
        rate there is no slow start, only gentle probing above it. Until the first 429 each success adds 1 req/s
        within the probe margin; after it each success adds `increase` req/s (the rate grows
        by that fraction per second), and each 429 sets it to `decrease` times the rate at
        which answers were actually coming back."""
        if max_rpm is not None and max_rpm <= 0:
            raise ValueError(f"max_rpm must be > 0; got {max_rpm!r}")
        self.cap = max_rpm / 60 if max_rpm is not None else None
        # a rate the user gave is where the batch starts: no probing up to a known limit
        if self.cap is None and known_rate is not None and known_rate > 0:
            start_rate = known_rate
        self.rate = self.cap if self.cap is not None else start_rate
        self.start_rate = self.rate
        self.min_rate = min(min_rate, self.rate)
        self.increase = increase
        self.decrease = decrease
        self.clock = clock
        self.next_start = clock()
        self._began = self.next_start
        self.paused_until = 0.0
        self.sent = 0
        self.throttles = 0
        self._last_cut = float("-inf")
        self.known = self.cap is None and known_rate is not None and known_rate > 0
        self.slow_start = self.cap is None and not self.known
        self.ceiling: float | None = self.rate if self.known else None
        """The rate at which the last 429 came (None before the first; a known rate counts)."""
        self._answers: deque[float] = deque()
        self._held = 0
        """Answers since the last cut (or the start): how long the rate has held."""
        self._sends: deque[float] = deque()
        """Send times of the last `SEND_MEMORY` seconds (how many the gateway took in the second
        before a refused request, however late its 429 comes back)."""
        self._refused: deque[float] = deque()
        """Send times of the refused requests among them."""
        self._last_second: deque[float] = deque()
        self.peak = 0
        """The most requests sent in any one second: a rate this batch really sent at."""
        self._limited = False
        """A 429 cut the rate (a 503, an overloaded model, cuts but teaches no limit)."""

    def claim(self) -> tuple[float, float]:
        """``(wait, start)``: with ``wait == 0`` the request may go now and its slot is booked
        (`start` is the send time, for `throttled`); otherwise nothing is booked: ask again in
        `wait` seconds. Booking only at the moment of sending keeps a change of rate (or a
        pause) effective at once for every worker, instead of after slots booked ahead at the
        old rate have run out."""
        now = self.clock()
        start = max(self.next_start, self.paused_until)
        if start > now:
            return start - now, start
        interval = 1.0 / self.rate
        # a timer that woke a little late keeps the pace; an idle spell does not bank a burst
        base = self.next_start if now - self.next_start < interval else now
        self.next_start = max(base, self.paused_until) + interval
        self.sent += 1
        self._sends.append(now)
        while self._sends[0] < now - SEND_MEMORY:
            self._sends.popleft()
        self._last_second.append(now)
        while self._last_second[0] <= now - 1.0:
            self._last_second.popleft()
        self.peak = max(self.peak, len(self._last_second))
        return 0.0, now

    def succeeded(self) -> None:
        """An answer came back: speed up (1 req/s per answer, within the probe margin, until
        the first 429; then `increase` req/s, gently near the rate of the last 429)."""
        now = self.clock()
        self._answers.append(now)
        self._held += 1
        while self._answers and self._answers[0] < now - 1.0:
            self._answers.popleft()
        if self.slow_start:
            answered = float(len(self._answers))
            margin = max(PROBE_MARGIN, PROBE_FRACTION * answered)
            self.rate = min(self.rate + 1.0, max(self.start_rate, answered + margin))
        else:
            # Probing speeds up the longer no 429 came: cautious near the limit just found,
            # quick to recover after a deep cut.
            step = self.increase * min(1.0 + now - self._last_cut, 3.0)
            trusted = self.known and not self._limited and now - self._began < KNOWN_TRUST
            recent = self._limited or trusted  # a limit met in this batch, or known lately
            if recent and self.ceiling is not None and self.rate >= NEAR_CEILING * self.ceiling:
                step *= CEILING_SLOWDOWN  # close to where the last 429 came: probe gently
                if now - self._last_cut < HOLD_SECONDS:  # just found: stay under it
                    step = min(step, max(0.0, PLATEAU * self.ceiling - self.rate))
            self.rate += step
        if self.cap is not None:
            self.rate = min(self.rate, self.cap)

    def throttled(
        self, sent_at: float, retry_after: float | None = None, overloaded: bool = False
    ) -> None:
        """The request sent at `sent_at` got a 429 (`overloaded`: a 503): slow down and pause
        all for `retry_after`.

        Requests already sent before the last cut were sent too fast for the old rate, not the
        new one: their rejections do not cut again, nor does any within `CUT_INTERVAL`.
        """
        now = self.clock()
        self.throttles += 1
        self._refused.append(sent_at)
        while self._refused[0] < now - SEND_MEMORY:
            self._refused.popleft()
        if sent_at >= self._last_cut and now - self._last_cut >= CUT_INTERVAL:
            self._limited = self._limited or not overloaded
            rate = min(self.rate, self._took(sent_at) or self.rate)
            self.ceiling = rate
            self.rate = max(self.min_rate, rate * self.decrease)
            self._last_cut = now
            self._held = 0
            self.slow_start = False
        if retry_after is not None and retry_after > 0:
            self.paused_until = max(self.paused_until, now + retry_after)
            self.next_start = max(self.next_start, self.paused_until)

    def _took(self, sent_at: float) -> float:
        """How many requests the gateway took in the second before the one sent at `sent_at`
        (the limit is at most that: less than the rate when it overshot while probing), not
        counting refused ones; 0.0 when this batch began less than `MIN_SPAN` before it (a 429
        in a batch's first moments may be another's traffic, a count of a few would cut deep).
        """
        since = max(sent_at - 1.0, self._sends[0] if self._sends else sent_at)
        if sent_at - since < MIN_SPAN:
            return 0.0
        sent = sum(1 for t in self._sends if since <= t < sent_at)
        refused = sum(1 for t in self._refused if since <= t < sent_at)
        return float(sent - refused)

    def learned_rate(self) -> float | None:
        """The rate to start the next batch at (for `known_rate`), or None when this batch
        learned nothing: it never met a 429 and knew no rate, `max_rpm` set the pace, or the
        rate has not yet held for `PROOF_ANSWERS` (and a second's worth of) answers since the
        last cut (a short or interrupted batch, or one stray 429, keeps what was known).
        Never above a rate this batch really sent at (`peak`) nor the rate of its last 429,
        and never below half a known rate (one batch moves it at most that far)."""
        if self.cap is not None or self._held < max(self.rate, PROOF_ANSWERS):
            return None
        if self._limited and self.ceiling is not None:
            rate = min(self.rate, self.decrease * self.ceiling)
        elif self.known:
            rate = self.rate
        else:
            return None
        shown = float(self.peak)  # what was really sent (a known rate counts as shown)
        floor = 0.0
        if self.known:
            shown, floor = max(shown, self.start_rate), self.start_rate / 2
        return max(min(rate, shown), floor)

    def __repr__(self) -> str:
        return f"RateGovernor(rate={self.rate:.2f}/s, sent={self.sent}, throttles={self.throttles})"
