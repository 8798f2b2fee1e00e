"""`Pacer`: when a streamed answer may send the next delta to the browser (pure, clock injected)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["MESSAGE_BYTES", "Pacer"]

MESSAGE_BYTES = 480
"""Bytes of one custom widget message on iopub besides its content (header, parent, metadata)."""


class Pacer:
    """When a streamed answer may push a delta; O(1) per chunk.

    Two limits. At most `rate` messages a second: jupyter_server drops messages above ~1000/s
    and every message re-renders in the browser. And about `ratio` bytes of traffic per answer
    character (after a first `allowance`), so a slow stream does not re-send the same open tail
    many times: time alone cannot bound the bytes, since a stream can be arbitrarily slow. Text
    that does not earn a push is still shown after `patience` seconds.
    """

    def __init__(
        self,
        *,
        rate: float = 20.0,
        ratio: float = 1.8,
        allowance: int = 1500,
        patience: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0; got {rate}")
        self.interval = 1.0 / rate
        self.ratio = ratio
        self.allowance = allowance
        self.patience = patience
        self.clock = clock
        self.chars = 0  # answer characters received
        self.spent = 0  # estimated bytes pushed
        self.pushes = 0
        self._earliest = -math.inf  # no push before this time
        self._last = -math.inf

    def add(self, chars: int) -> None:
        self.chars += chars

    def delay(self, cost: int) -> float:
        """Seconds until a push of about `cost` bytes may go; 0.0 means now."""
        now = self.clock()
        wait = self._earliest - now
        if self.spent + cost > self.ratio * self.chars + self.allowance:
            wait = max(wait, self._last + self.patience - now)
        return max(wait, 0.0)

    def pushed(self, nbytes: int) -> None:
        """Record one message of about `nbytes` bytes (0: an attempt that found nothing new).

        An empty attempt still counts: the next one waits an interval, so re-rendering an
        unchanged tail cannot happen on every chunk.
        """
        now = self.clock()
        if nbytes:
            self.pushes += 1
            self.spent += nbytes
        self._last = now
        self._earliest = now + self.interval
