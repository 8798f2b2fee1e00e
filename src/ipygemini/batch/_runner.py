"""`Batch`: one prompt over many rows, answered concurrently under a shared `RateGovernor`,
every row accounted for, in input order.

The runner takes an ``ask(prompt) -> Reply`` coroutine and knows nothing of HTTP: it decides
when each request may start, which failures are retried (429/503 slow the whole batch down,
``Retry-After`` pauses it), and what each row ended as. Stopping keeps every finished row.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from .._errors import APIStatusError, BadRequestError, ConnectionError, GeminiError, TimeoutError
from .._types import Reply
from ._rate import RateGovernor

__all__ = ["OWN_COLUMNS", "Batch", "BatchProgress", "RowOutcome", "batch_hint", "run_rows"]

NOT_RUN = "not run"
OWN_COLUMNS = ("status", "error", "input_tokens", "output_tokens")
"""The batch's own columns beside the answer (renamed when a schema field has the name)."""


@dataclass(slots=True)
class RowOutcome:
    """How one row ended: its reply (when an answer came), status and error line."""

    reply: Reply | None = None
    status: str = NOT_RUN
    error: str | None = None
    parsed: Any = None
    attempts: int = 0


@dataclass
class BatchProgress:
    """Counts a progress bar shows; `tokens` counts input + output."""

    total: int
    done: int = 0
    failed: int = 0
    tokens: int = 0
    throttled: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Batch(Sequence[Reply | None]):
    """The replies in input order (None where a row got no answer), with their outcomes."""

    outcomes: list[RowOutcome]
    labels: list[Any] = field(default_factory=list)
    """The input's index (a DataFrame's), used by `to_frame`."""
    fields: list[str] | None = None
    """Schema field names: `to_frame` gives one column per field instead of ``answer``."""
    parsed_answers: bool = False
    """The ``answer`` column holds `Reply.parsed` (a schema whose answer is not an object)."""

    def __len__(self) -> int:
        return len(self.outcomes)

    @overload
    def __getitem__(self, i: int) -> Reply | None: ...
    @overload
    def __getitem__(self, i: slice) -> list[Reply | None]: ...
    def __getitem__(self, i: int | slice) -> Reply | list[Reply | None] | None:
        if isinstance(i, slice):
            return [o.reply for o in self.outcomes[i]]
        return self.outcomes[i].reply

    def __iter__(self) -> Iterator[Reply | None]:
        return (o.reply for o in self.outcomes)

    @property
    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts

    @property
    def answer_columns(self) -> list[str]:
        """The answer's columns: the schema's fields, else ``answer``."""
        return list(self.fields) if self.fields is not None else ["answer"]

    @property
    def own_columns(self) -> dict[str, str]:
        """The batch's own columns (status, error, input_tokens, output_tokens) by their name
        in `records` and `to_frame`: the model's fields win, so one that a schema field also
        names gets a ``batch_`` prefix (again, until it is free)."""
        taken = set(self.answer_columns)
        names: dict[str, str] = {}
        for own in OWN_COLUMNS:
            name = own
            while name in taken:
                name = "batch_" + name
            taken.add(name)
            names[own] = name
        return names

    @property
    def columns(self) -> list[str]:
        """Every column of `records` and `to_frame`, in order."""
        return [*self.answer_columns, *self.own_columns.values()]

    def records(self) -> list[dict[str, Any]]:
        """One dict per row: the answer (or the schema's fields), status, error, tokens."""
        return list(self._rows())

    def _rows(self) -> Iterator[dict[str, Any]]:
        own = self.own_columns
        for o in self.outcomes:
            usage = o.reply.usage if o.reply is not None else None
            row: dict[str, Any] = {}
            if self.fields is not None:
                for name in self.fields:
                    row[name] = _field(o.parsed, name)
            elif self.parsed_answers:
                row["answer"] = o.parsed
            else:
                row["answer"] = o.reply.text if o.reply is not None else None
            row[own["status"]] = o.status
            row[own["error"]] = o.error
            row[own["input_tokens"]] = usage.prompt_tokens if usage else None
            row[own["output_tokens"]] = usage.completion_tokens if usage else None
            yield row

    def to_frame(self) -> Any:
        """A pandas DataFrame with the input's index (pandas needed: pip install pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Batch.to_frame() needs pandas: pip install pandas") from None
        index = self.labels if len(self.labels) == len(self.outcomes) else None
        columns = self.columns
        data: dict[str, list[Any]] = {name: [] for name in columns}
        for record in self._rows():  # column lists: no dict per row held at once
            for name in columns:
                data[name].append(record.get(name))
        frame = pd.DataFrame(data, index=index, columns=columns)
        own = self.own_columns
        for name in (own["input_tokens"], own["output_tokens"]):  # whole numbers, or missing
            frame[name] = frame[name].astype("Int64")
        return frame

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        return f"<Batch of {len(self)} rows: {counts or 'empty'}>"


def _field(parsed: Any, name: str) -> Any:
    if parsed is None:
        return None
    if isinstance(parsed, dict):
        return parsed.get(name)
    return getattr(parsed, name, None)


def is_throttle(error: BaseException) -> bool:
    """429, and 503 that is not "no such model": the gateway asks to slow down."""
    if not isinstance(error, APIStatusError):
        return False
    return error.status_code == 429 or (
        error.status_code == 503 and error.code != "model_not_found"
    )


def jitter() -> float:
    return random.uniform(0.75, 1.25)


def is_retryable(error: BaseException) -> bool:
    if is_throttle(error):
        return True
    if isinstance(error, BadRequestError):  # a 5xx that names the body invalid: never again
        return False
    if isinstance(error, APIStatusError):
        return error.status_code in (500, 502, 504, 524, 529)
    return isinstance(error, ConnectionError | TimeoutError)


RETRIES = 2
"""Retries of a row that failed (5xx, connection, timeout): few and quick, so failing rows end
soon after the last good one; the user runs the batch again for them (it resumes)."""
BACKOFF = 0.5
THROTTLE_RETRIES = 8
"""Retries of a row the gateway refused for its rate (429, 503): it asked to wait, not failed."""
THROTTLE_WAIT = 1.0
"""Seconds a refused row waits (doubling) when the gateway did not say how long (no readable
``Retry-After``); with one, the governor pauses the whole batch that long."""


def batch_hint(error: GeminiError, attempts: int, resumable: bool) -> str:
    """The row's error line: what happened, and what to do about it in a batch (a client's
    hint such as "raise max_retries" does nothing here)."""
    again = (
        "run the same map again: answered rows come from the log and only failed ones are sent"
        if resumable
        else "run the failed rows again (status 'failed' in to_frame())"
    )
    if is_throttle(error):
        return f"{error.message} The gateway still refused after {attempts} tries; {again}."
    if is_retryable(error):
        return f"{error.message} It failed {attempts} times; {again} later."
    return str(error)


async def run_rows(
    prompts: Sequence[str | None],
    ask: Callable[[int, str], Awaitable[Reply]],
    *,
    concurrency: int = 16,
    governor: RateGovernor | None = None,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    throttle_retries: int = THROTTLE_RETRIES,
    check: Callable[[int, Reply], Any] | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    skip: Callable[[int], Awaitable[Reply | None]] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    outcomes: list[RowOutcome] | None = None,
    resumable: bool = True,
) -> list[RowOutcome]:
    """Answer every prompt (None: a row with nothing to send, left "not run"); outcomes in order.

    `ask(i, prompt)` sends one request (without retries of its own). `skip(i)` may return a
    reply without sending (a cached answer), which costs no rate. `check(i, reply)` parses a
    complete reply (a schema) and raises to fail the row. A failing row is retried `retries`
    times after `backoff` seconds (doubling); a throttled one `throttle_retries` times, after
    the ``Retry-After`` the governor enforces (or `THROTTLE_WAIT`, doubling, without one).
    Cancelling the task stops at once, keeping every finished row; rows not finished stay
    "not run" (pass `outcomes`, a list filled in place, to keep them when the caller cancels).
    `resumable`: running the batch again resumes from the log (said in failed rows' errors).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1; got {concurrency}")
    governor = governor or RateGovernor(clock=clock)
    if outcomes is None:
        outcomes = []
    outcomes[:] = [RowOutcome() for _ in prompts]
    progress = BatchProgress(total=len(prompts))
    queue: asyncio.Queue[int] = asyncio.Queue()
    gate = asyncio.Lock()
    for i, prompt in enumerate(prompts):
        if prompt is not None:
            queue.put_nowait(i)

    def report(outcome: RowOutcome) -> None:
        if outcome.status == "complete":
            progress.done += 1
        else:
            progress.failed += 1
        reply = outcome.reply
        usage = reply.usage if reply is not None and not reply.cached else None
        if usage is not None:  # what this run spent: answers from the log cost nothing
            progress.tokens += usage.prompt_tokens + usage.completion_tokens
            progress.input_tokens += usage.prompt_tokens
            progress.output_tokens += usage.completion_tokens
        if on_progress is not None:
            on_progress(progress)

    async def answer(i: int, prompt: str) -> None:
        outcome = outcomes[i]
        if skip is not None:
            cached = await skip(i)
            if cached is not None:
                finish(i, outcome, cached)
                return
        failures = throttles = 0
        while True:
            async with gate:  # one worker waits for the next slot; the others queue here
                while True:
                    wait, start = governor.claim()
                    if wait <= 0:
                        break
                    await sleep(wait)
            outcome.attempts += 1
            try:
                reply = await ask(i, prompt)
            except GeminiError as exc:
                if is_throttle(exc):
                    progress.throttled += 1
                    throttles += 1
                    asked = getattr(exc, "retry_after", None)
                    overloaded = getattr(exc, "status_code", None) == 503
                    governor.throttled(start, asked, overloaded)
                    if throttles <= throttle_retries:
                        if asked is None:  # no pause to honour: this row backs off alone
                            await sleep(THROTTLE_WAIT * 2 ** min(throttles - 1, 3) * jitter())
                        continue
                elif is_retryable(exc) and failures < retries:
                    await sleep(backoff * 2**failures * jitter())
                    failures += 1
                    continue
                outcome.status = "failed"
                outcome.error = batch_hint(exc, outcome.attempts, resumable)
                outcome.reply = getattr(exc, "reply", None)
                report(outcome)
                return
            governor.succeeded()
            finish(i, outcome, reply)
            return

    def finish(i: int, outcome: RowOutcome, reply: Reply) -> None:
        outcome.reply = reply
        outcome.status = reply.status
        if reply.error is not None:
            outcome.error = str(reply.error)
        elif reply.status == "complete" and check is not None:
            try:
                outcome.parsed = check(i, reply)
            except GeminiError as exc:
                outcome.status, outcome.error = "failed", str(exc)
        elif reply.status == "complete":
            outcome.parsed = reply.parsed
        elif reply.status != "complete":
            outcome.error = f"the answer was {reply.status}"
        report(outcome)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            prompt = prompts[i]
            assert prompt is not None
            await answer(i, prompt)

    workers = [
        asyncio.ensure_future(worker()) for _ in range(min(concurrency, max(1, queue.qsize())))
    ]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return outcomes


def eta(progress: BatchProgress, elapsed: float) -> float:
    """Seconds left at the pace so far (inf before the first row)."""
    finished = progress.done + progress.failed
    if not finished:
        return math.inf
    return elapsed / finished * (progress.total - finished)
