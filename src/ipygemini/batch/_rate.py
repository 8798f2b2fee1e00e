"""`RateGovernor`: how fast a batch may send, learned from the gateway's 429s (AIMD).

Pure and clock-injected: workers `claim()` a start time before each request and report
`succeeded()` or `throttled(retry_after)` after it. A batch starts slowly (`START_RATE`) and
finds the limit without bursting past it: while no 429 has come, the rate may exceed what the
gateway answered in the last second only by a margin (`PROBE_MARGIN`, `PROBE_FRACTION`), so
the window in which the limit is met overflows by a few requests, not by the rate's growth of
a whole second. A 429/503 cuts the rate to a fraction of what was answered, a ``Retry-After``
pauses every worker (not just the one that got it), and probing near the limit just found is
gentle. Every attempt counts against the rate, rejected ones too, so a gateway that refuses is
not hammered. `max_rpm` caps the rate whatever was learned.
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

CUT_INTERVAL = 1.0
"""At most one slow-down per second: gateways count in windows (per second or minute), and
once a window is full every request in it is refused whatever the rate."""

NEAR_CEILING = 0.95
CEILING_SLOWDOWN = 0.1
"""Above `NEAR_CEILING` times the rate of the last 429 the rate grows `CEILING_SLOWDOWN` as
fast: a gateway's limit rarely moves, and each 429 costs a ``Retry-After`` pause for all."""


class RateGovernor:
    """Spacing between request starts, shared by every worker of one batch."""

    def __init__(
        self,
        *,
        max_rpm: float | None = None,
        start_rate: float = START_RATE,
        min_rate: float = 0.2,
        increase: float = 0.01,
        decrease: float = 0.95,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`start_rate` requests/s to begin with (`max_rpm`'s rate when given); until the first 429 each success adds 1 req/s
        within the probe margin; after it each success adds `increase` req/s (the rate grows
        by that fraction per second), and each 429 sets it to `decrease` times the rate at
        which answers were actually coming back."""
        if max_rpm is not None and max_rpm <= 0:
            raise ValueError(f"max_rpm must be > 0; got {max_rpm!r}")
        self.cap = max_rpm / 60 if max_rpm is not None else None
        # a rate the user gave is where the batch starts: no probing up to a known limit
        self.rate = self.cap if self.cap is not None else start_rate
        self.start_rate = self.rate
        self.min_rate = min(min_rate, self.rate)
        self.increase = increase
        self.decrease = decrease
        self.clock = clock
        self.next_start = clock()
        self.paused_until = 0.0
        self.sent = 0
        self.throttles = 0
        self._last_cut = float("-inf")
        self.slow_start = self.cap is None
        self.ceiling: float | None = None
        """The rate at which the last 429 came (None before the first)."""
        self._answers: deque[float] = deque()

    def claim(self) -> float:
        """Claim the next start slot: the clock time at which this request may be sent."""
        now = self.clock()
        start = max(now, self.next_start, self.paused_until)
        self.next_start = start + 1.0 / self.rate
        self.sent += 1
        return start

    def succeeded(self) -> None:
        """An answer came back: speed up (1 req/s per answer, within the probe margin, until
        the first 429; then `increase` req/s, gently near the rate of the last 429)."""
        now = self.clock()
        self._answers.append(now)
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
            if self.ceiling is not None and self.rate >= NEAR_CEILING * self.ceiling:
                step *= CEILING_SLOWDOWN  # close to where the last 429 came: probe gently
            self.rate += step
        if self.cap is not None:
            self.rate = min(self.rate, self.cap)

    def throttled(self, sent_at: float, retry_after: float | None = None) -> None:
        """The request sent at `sent_at` got a 429/503: slow down and pause all for `retry_after`.

        Requests already sent before the last cut were sent too fast for the old rate, not the
        new one: their rejections do not cut again, nor does any within `CUT_INTERVAL`.
        """
        now = self.clock()
        self.throttles += 1
        if sent_at >= self._last_cut and now - self._last_cut >= CUT_INTERVAL:
            while self._answers and self._answers[0] < now - 1.0:
                self._answers.popleft()
            rate = self.rate
            if self.slow_start:  # the first 429 while probing: the rate overshot; start from
                rate = min(rate, float(len(self._answers)) or rate)  # what was accepted
            self.ceiling = rate
            self.rate = max(self.min_rate, rate * self.decrease)
            self._last_cut = now
            self.slow_start = False
        if retry_after is not None and retry_after > 0:
            self.paused_until = max(self.paused_until, now + retry_after)
            self.next_start = max(self.next_start, self.paused_until)

    def __repr__(self) -> str:
        return f"RateGovernor(rate={self.rate:.2f}/s, sent={self.sent}, throttles={self.throttles})"
