"""An asyncio event loop on virtual time, and a rate-limited gateway on it: the batch runner and
its `RateGovernor` run unchanged, seconds of sending take milliseconds, and every run is the
same run (no wall clock, no sockets: the wire is tested against FakeGateway elsewhere)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ipygemini._errors import RateLimitError
from ipygemini._types import Choice, Reply, Usage
from ipygemini.batch._rate import RateGovernor
from ipygemini.batch._runner import RowOutcome, run_rows


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """When nothing is ready to run, time jumps to the next timer instead of waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def _run_once(self) -> None:
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if not self._ready and scheduled:  # type: ignore[attr-defined]
            self.now = max(self.now, scheduled[0].when())
        super()._run_once()  # type: ignore[misc]


@dataclass
class WindowedGateway:
    """Admits `limit` requests per `window` seconds, counted like FakeGateway (fixed windows,
    each starting with the first request after the last one ended, refusals counted) or, with
    `sliding`, over the last `window` seconds. Over it: a 429 after `refuse_after` seconds with
    ``Retry-After`` in whole seconds, rounded up (none with `retry_after` false); within it an
    answer after `latency` seconds."""

    loop: VirtualTimeLoop
    limit: int = 20
    window: float = 1.0
    latency: float = 0.1
    refuse_after: float = 0.005
    retry_after: bool = True
    sliding: bool = False
    sends: list[tuple[float, bool]] = field(default_factory=list)
    _start: float = -math.inf
    _count: int = 0

    def _admit(self, now: float) -> float | None:
        """None when admitted, else the seconds until a request would be."""
        if self.sliding:
            taken = [t for t, ok in self.sends if ok and t > now - self.window]
            return None if len(taken) < self.limit else taken[0] + self.window - now
        if now >= self._start + self.window:
            self._start, self._count = now, 0
        self._count += 1
        return None if self._count <= self.limit else self._start + self.window - now

    async def ask(self, i: int, prompt: str) -> Reply:
        now = self.loop.time()
        wait = self._admit(now)
        self.sends.append((now, wait is None))
        if wait is not None:
            await asyncio.sleep(self.refuse_after)
            error = RateLimitError("HTTP 429: rate limited.", status_code=429)
            error.retry_after = float(max(1, math.ceil(wait))) if self.retry_after else None  # type: ignore[attr-defined]
            raise error
        await asyncio.sleep(self.latency)
        return Reply(choices=[Choice(text=prompt, finish_reason="stop")], usage=Usage(1, 1, 2))

    @property
    def refused(self) -> int:
        return sum(not ok for _, ok in self.sends)

    def first_second(self) -> int:
        return sum(1 for t, _ in self.sends if t < self.sends[0][0] + 1.0)


@dataclass
class BatchRun:
    wall: float
    outcomes: list[RowOutcome]
    gateway: WindowedGateway
    governor: RateGovernor

    def share_of_limit(self) -> float:
        """Rows per second as a share of the gateway's limit."""
        return len(self.outcomes) / self.wall / (self.gateway.limit / self.gateway.window)

    def share_refused(self) -> float:
        return self.gateway.refused / len(self.gateway.sends)


def run_batch(
    rows: int,
    *,
    governor: Callable[[Callable[[], float]], RateGovernor] | None = None,
    concurrency: int = 16,
    **gateway: object,
) -> BatchRun:
    """`rows` rows through `run_rows` against a `WindowedGateway(**gateway)`, on virtual time."""
    loop = VirtualTimeLoop()
    try:
        gw = WindowedGateway(loop, **gateway)  # type: ignore[arg-type]
        gov = governor(loop.time) if governor else RateGovernor(clock=loop.time)

        async def main() -> tuple[float, list[RowOutcome]]:
            start = loop.time()
            ask: Callable[[int, str], Awaitable[Reply]] = gw.ask
            outcomes = await run_rows(
                [f"row {i}" for i in range(rows)],
                ask,
                governor=gov,
                clock=loop.time,
                concurrency=concurrency,
            )
            return loop.time() - start, outcomes

        wall, outcomes = loop.run_until_complete(main())
    finally:
        loop.close()
    return BatchRun(wall, outcomes, gw, gov)
