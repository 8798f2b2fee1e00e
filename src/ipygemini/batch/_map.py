"""`map`: one prompt template over every row, on an `AsyncClient` (awaited) or from synchronous
code (a private event loop in a worker thread, so it also works inside a running kernel).

The batch sits above the client and never imports it: `Client.map` / `AsyncClient.map` (and the
magic) hand over the client class and the answer's shape (`OutputSchema`). Every row goes
through the client's one request path (`chat`), tagged ``source="batch"``, with the client's
own retries off: `run_rows` and its `RateGovernor` retry, so a 429 slows the whole batch down
instead of each request hammering on its own.

The cache options mean what they mean for `chat`; a batch's default is to resume: a row whose
answer is in the log (and fits the schema) is not sent again. ``cache=False``,
``refresh=True`` or a client with ``log=False`` send every row.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import GeminiError, OptionError
from ._progress import ProgressBar
from ._rate import RateGovernor
from ._rows import Rows, check_template, prompts_for, rows_of
from ._runner import Batch, BatchProgress, RowOutcome, run_rows

if TYPE_CHECKING:
    from .._settings import Settings
    from .._types import Reply

__all__ = [
    "AnswerShape",
    "BatchClient",
    "BatchInterrupted",
    "BatchPlan",
    "amap",
    "amap_with_bar",
    "batch_client",
    "map_in_thread",
]

DEFAULT_CONCURRENCY = 16


class AnswerShape(Protocol):
    """What a batch needs of a schema (the client's `OutputSchema`)."""

    @property
    def wrapped(self) -> bool: ...
    @property
    def original(self) -> dict[str, Any]: ...
    def parse(self, text: str) -> Any: ...


class BatchClient(Protocol):
    """What a batch needs of a client (`AsyncClient`)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def chat(self) -> Callable[..., Awaitable[Reply]]: ...
    @property
    def cached_reply(self) -> Callable[..., Awaitable[Reply | None]]: ...
    async def aclose(self) -> None: ...


ClientType = Callable[["Settings"], BatchClient]
"""Makes the batch's client from settings: `AsyncClient` itself."""


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during `Client.map`: still a KeyboardInterrupt (queued cells stop), carrying the
    rows that finished in `batch` (the rest "not run")."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        done = sum(1 for o in batch.outcomes if o.status != "not run")
        super().__init__(
            f"stopped; {done:,} of {len(batch):,} rows finished and are kept (the rest 'not run')."
        )

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mKeyboardInterrupt\x1b[0m: {self}"]


class BatchPlan:
    """The rows, their prompts and the answer's shape, checked before anything is sent."""

    def __init__(self, data: Any, template: str | None, shape: AnswerShape | None = None) -> None:
        self.rows: Rows = rows_of(data)
        if template is None:
            if len(self.rows.columns) != 1:
                raise OptionError(
                    "map needs a template when rows have several columns, such as "
                    "'Label this review: {text}'; the columns are "
                    + (", ".join(self.rows.columns) or "(none)")
                    + "."
                )
            template = "{" + self.rows.columns[0] + "}"
        if self.rows.records:
            check_template(template, self.rows)
        self.template = template
        self.prompts: list[str | None] = list(prompts_for(template, self.rows))
        self.schema = shape

    @property
    def fields(self) -> list[str] | None:
        """One column per schema field (a schema whose answer is an object)."""
        if self.schema is None or self.schema.wrapped:
            return None
        return list(self.schema.original.get("properties", {}))

    def batch(self, outcomes: list[RowOutcome]) -> Batch:
        wrapped = self.schema is not None and self.schema.wrapped
        return Batch(outcomes, list(self.rows.index), self.fields, parsed_answers=wrapped)


def resumes(settings: Settings, options: Mapping[str, Any]) -> bool:
    """Whether rows answered in the log are taken from it: the batch's default, unless
    ``cache=False``, ``refresh=True`` or the client does not log."""
    return bool(settings.log and options.get("cache") is not False and not options.get("refresh"))


async def amap(
    client: BatchClient,
    plan: BatchPlan,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_rpm: float | None = None,
    governor: Any = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    outcomes: list[RowOutcome] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = asyncio.sleep,
    **options: Any,
) -> Batch:
    """Answer every row of `plan` with `client` (whose retries should be off); outcomes in
    input order. `governor` may be shared (a Dask actor's proxy); else one is made here."""
    own_governor = governor is None
    if governor is None:
        known = known_rate(client.settings, options.get("model"))
        governor = RateGovernor(max_rpm=max_rpm, known_rate=known, clock=clock)
    if outcomes is None:
        outcomes = []
    resume = resumes(client.settings, options)
    options.pop("cache", None)
    options.pop("refresh", None)
    options["source"] = "batch"
    shape = plan.schema
    if shape is not None:
        options["schema"] = shape

    async def ask(i: int, prompt: str) -> Reply:
        # cache=False: the log was looked up by `skip` (without spending rate); the answer is
        # still recorded, so a later run resumes from it
        reply = await client.chat(prompt, cache=False, **options)
        reply.raw = None  # a batch keeps answers, not wire objects (memory over many rows)
        return reply

    async def skip(i: int) -> Reply | None:
        prompt = plan.prompts[i]
        assert prompt is not None
        cached = await client.cached_reply(prompt, **options)
        if cached is not None and shape is not None and cached.complete:
            try:
                cached.parsed = shape.parse(cached.text)
            except GeminiError:
                return None  # a logged answer that does not fit the schema: ask again
        return cached

    await run_rows(
        plan.prompts,
        ask,
        concurrency=concurrency,
        governor=governor,
        on_progress=on_progress,
        skip=skip if resume else None,
        clock=clock,
        sleep=sleep,
        outcomes=outcomes,
        resumable=bool(client.settings.log),
    )
    if own_governor:  # (not after Ctrl-C: an interrupted batch keeps what was known)
        keep_rate(client.settings, options.get("model"), governor.learned_rate())
    return plan.batch(outcomes)


def known_rate(settings: Settings, model: str | None = None) -> float | None:
    """The rate (requests/s) an earlier batch learned for `model` (the settings' model when
    None) on this gateway, or None. Per model: Gemini's limits are a model's, per key."""
    from ..log._gateways import recall

    rates = recall(settings.base_url, persist=settings.keeps_lessons).get("rates") or {}
    rate = rates.get(model or settings.model)
    return float(rate) if rate else None


def keep_rate(settings: Settings, model: str | None, rate: float | None) -> None:
    """Keep the rate this batch learned for the next batch with `model` on this gateway (a
    new kernel's too, unless the client does not log)."""
    if rate is None:
        return
    from ..log._gateways import remember

    rates = {model or settings.model: rate}
    remember(settings.base_url, {"rates": rates}, persist=settings.keeps_lessons)


def batch_client(client_type: ClientType, settings: Settings) -> BatchClient:
    """The client a batch sends with: the same settings, its own retries off."""
    return client_type(settings.replace(max_retries=0))


def map_in_thread(
    client_type: ClientType,
    settings: Settings,
    plan: BatchPlan,
    *,
    progress: bool = True,
    poll: float = 0.1,
    **options: Any,
) -> Batch:
    """`amap` on a private event loop in a worker thread; the calling thread waits in short
    joins, so Ctrl-C reaches it, cancels the batch within `poll` seconds and raises
    `BatchInterrupted` with every finished row."""
    outcomes: list[RowOutcome] = []
    bar = ProgressBar(
        len(plan.prompts),
        options.get("model") or settings.model,
        progress,
        offline=settings.offline,
    )
    loop = asyncio.new_event_loop()
    task: asyncio.Task[Batch] | None = None
    failure: list[BaseException] = []
    started = threading.Event()

    async def main() -> Batch:
        client = batch_client(client_type, settings)
        try:
            return await amap(client, plan, on_progress=bar.update, outcomes=outcomes, **options)
        finally:
            await client.aclose()

    def run() -> None:
        nonlocal task
        asyncio.set_event_loop(loop)
        task = loop.create_task(main())
        started.set()
        try:
            loop.run_until_complete(task)
        except BaseException as exc:  # cancelled, or an error to raise in the caller
            failure.append(exc)
        finally:
            loop.close()

    worker = threading.Thread(target=run, name="ipygemini-map", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(poll)
    except KeyboardInterrupt:
        started.wait()
        if task is not None:
            loop.call_soon_threadsafe(task.cancel)
        worker.join()
        bar.close()
        raise BatchInterrupted(plan.batch(outcomes)) from None
    bar.close()
    if failure:
        raise failure[0]
    assert task is not None
    return task.result()


async def amap_with_bar(
    client_type: ClientType,
    settings: Settings,
    plan: BatchPlan,
    *,
    progress: bool = True,
    **options: Any,
) -> Batch:
    """`AsyncClient.map`: `amap` on the running loop with a progress bar and its own client."""
    bar = ProgressBar(
        len(plan.prompts),
        options.get("model") or settings.model,
        progress,
        offline=settings.offline,
    )
    client = batch_client(client_type, settings)
    try:
        return await amap(client, plan, on_progress=bar.update, **options)
    finally:
        bar.close()
        await client.aclose()
