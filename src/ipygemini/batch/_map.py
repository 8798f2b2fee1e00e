"""`map`: one prompt template over every row, on an `AsyncClient` (awaited) or from synchronous
code (a private event loop in a worker thread, so it also works inside a running kernel).

Batches send with the client's own retries off: `run_rows` and its `RateGovernor` retry, so a
429 slows the whole batch down instead of each request hammering on its own.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import OptionError
from ..client._schema import AnswerValidationError
from ._rate import RateGovernor
from ._rows import Rows, check_template, fill, rows_of
from ._runner import Batch, BatchProgress, RowOutcome, run_rows

if TYPE_CHECKING:
    from .._settings import Settings
    from .._types import Reply
    from ..client._async import AsyncClient
    from ..client._schema import OutputSchema

__all__ = ["BatchInterrupted", "BatchPlan", "amap", "map_in_thread"]

DEFAULT_CONCURRENCY = 16


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

    def __init__(self, data: Any, template: str | None, schema: Any = None) -> None:
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
        self.prompts: list[str | None] = [
            fill(template, record, label)
            for record, label in zip(self.rows.records, self.rows.index, strict=True)
        ]
        self.schema: OutputSchema | None = None
        if schema is not None:
            from ..client._schema import output_schema

            self.schema = output_schema(schema)

    @property
    def fields(self) -> list[str] | None:
        """One column per schema field (a schema whose answer is an object)."""
        if self.schema is None or self.schema.wrapped:
            return None
        return list(self.schema.original.get("properties", {}))

    def batch(self, outcomes: list[RowOutcome]) -> Batch:
        wrapped = self.schema is not None and self.schema.wrapped
        return Batch(outcomes, list(self.rows.index), self.fields, parsed_answers=wrapped)


async def amap(
    client: AsyncClient,
    plan: BatchPlan,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_rpm: float | None = None,
    governor: Any = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    outcomes: list[RowOutcome] | None = None,
    clock: Callable[[], float] = time.monotonic,
    **options: Any,
) -> Batch:
    """Answer every row of `plan` with `client` (whose retries should be off); outcomes in
    input order. `governor` may be shared (a Dask actor's proxy); else one is made here."""
    if governor is None:
        governor = RateGovernor(max_rpm=max_rpm, clock=clock)
    if outcomes is None:
        outcomes = []
    schema = plan.schema
    if schema is not None:
        options["schema"] = schema
    lookup = getattr(client, "cached_reply", None)

    async def ask(i: int, prompt: str) -> Reply:
        reply = await client.chat(prompt, **options)
        reply.raw = None  # a batch keeps answers, not wire objects (memory over many rows)
        return reply

    async def skip(i: int) -> Reply | None:
        prompt = plan.prompts[i]
        assert lookup is not None and prompt is not None
        found = lookup(prompt, **options)
        cached: Reply | None = await found if inspect.isawaitable(found) else found
        if cached is not None and schema is not None:
            from ..client._structured import settle

            try:
                settle(schema, cached)
            except AnswerValidationError:
                return None  # a logged answer that does not fit: ask again
        return cached

    await run_rows(
        plan.prompts,
        ask,
        concurrency=concurrency,
        governor=governor,
        on_progress=on_progress,
        skip=skip if lookup is not None else None,
        clock=clock,
        outcomes=outcomes,
    )
    return plan.batch(outcomes)


def batch_client(settings: Settings) -> AsyncClient:
    """An `AsyncClient` for a batch: the same settings, its own retries off."""
    from ..client._async import AsyncClient

    return AsyncClient(settings.replace(max_retries=0))


def map_in_thread(
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
    bar = ProgressBar(len(plan.prompts), options.get("model") or settings.model, progress)
    loop = asyncio.new_event_loop()
    task: asyncio.Task[Batch] | None = None
    failure: list[BaseException] = []
    started = threading.Event()

    async def main() -> Batch:
        client = batch_client(settings)
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


class ProgressBar:
    """A `tqdm.auto` bar (a widget in notebooks, text in a terminal): rows done and failed,
    tokens, estimated cost when the model's price is known, and tqdm's own ETA."""

    def __init__(self, total: int, model: str, enabled: bool) -> None:
        self.bar: Any = None
        if not enabled or total == 0:
            return
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        from ..log._prices import price_for

        self.price = price_for(model)
        self.bar = tqdm(total=total, unit="row", desc=f"{model}", mininterval=0.2)

    def update(self, progress: BatchProgress) -> None:
        if self.bar is None:
            return
        finished = progress.done + progress.failed
        self.bar.update(finished - self.bar.n)
        postfix: dict[str, Any] = {"failed": progress.failed, "tokens": f"{progress.tokens:,}"}
        if self.price is not None:
            from ..log._prices import cost

            dollars = cost(
                self.price,
                input_tokens=progress.input_tokens,
                output_tokens=progress.output_tokens,
            )
            if dollars is not None:
                postfix["cost"] = f"${dollars:.4f}"
        self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
