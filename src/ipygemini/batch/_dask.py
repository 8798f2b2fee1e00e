"""Batches over a Dask DataFrame: each partition is answered on the cluster, and every
partition's runner asks one shared `RateGovernor` (a Dask actor) when it may send, so
``max_rpm`` and the rate learned from 429s hold for the whole cluster, not per worker.

dask and distributed are optional; they are imported only here.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from .._errors import OptionError
from ._rate import RateGovernor

if TYPE_CHECKING:
    from .._settings import Settings
    from ._map import AnswerShape, ClientType

__all__ = ["ActorGovernor", "map_dask"]


class ActorGovernor:
    """`RateGovernor`'s interface over a Dask actor (each call a round trip to it)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def claim(self) -> tuple[float, float]:
        wait, start = self.actor.claim().result()
        return float(wait), float(start)

    def succeeded(self) -> None:
        self.actor.succeeded().result()

    def throttled(
        self, sent_at: float, retry_after: float | None = None, overloaded: bool = False
    ) -> None:
        self.actor.throttled(sent_at, retry_after, overloaded).result()

    def learned_rate(self) -> float | None:
        rate = self.actor.learned_rate().result()
        return None if rate is None else float(rate)


def map_dask(
    client_type: ClientType,
    settings: Settings,
    frame: Any,
    template: str,
    *,
    shape: AnswerShape | None = None,
    max_rpm: float | None = None,
    concurrency: int = 16,
    **options: Any,
) -> Any:
    """A lazy Dask DataFrame of answers for every row of `frame` (the columns of
    `Batch.to_frame`, `frame`'s index), paced by one governor actor on the current
    ``distributed`` client. `client_type` (`AsyncClient`) makes each partition's client on
    its worker; `shape` is the schema's `OutputSchema`."""
    try:
        import pandas as pd
        from distributed import get_client
    except ImportError:
        raise OptionError(
            "Dask DataFrames need dask and distributed: pip install 'dask[dataframe,distributed]'."
        ) from None
    try:
        cluster = get_client()
    except ValueError:
        raise OptionError(
            "no Dask client is running: start one (distributed.Client()) before using a "
            "Dask DataFrame."
        ) from None
    from ._map import BatchPlan, known_rate
    from ._rows import Rows, check_template

    columns = [str(c) for c in frame.columns]
    check_template(template, Rows([], [], columns))
    probe = BatchPlan(frame._meta, template, shape).batch([])  # the columns, nothing sent
    own = probe.own_columns
    numbers = (own["input_tokens"], own["output_tokens"])
    meta = pd.DataFrame(
        {
            name: pd.Series([], dtype="Int64" if name in numbers else object)
            for name in probe.columns
        },
        index=frame._meta.index[:0],
    )
    governor = cluster.submit(
        RateGovernor,
        max_rpm=max_rpm,
        known_rate=known_rate(settings, options.get("model")),
        clock=time.time,
        actor=True,
    )
    return frame.map_partitions(
        answer_partition,
        template,
        client_type,
        settings,
        governor,
        shape,
        concurrency,
        options,
        meta=meta,
        align_dataframes=False,
    )


def answer_partition(
    part: Any,
    template: str,
    client_type: ClientType,
    settings: Settings,
    governor: Any,
    shape: AnswerShape | None,
    concurrency: int,
    options: dict[str, Any],
) -> Any:
    """One partition's answers (runs on a worker, on a private event loop)."""
    from ._map import BatchPlan, amap, batch_client, keep_rate

    plan = BatchPlan(part, template, shape)
    shared = ActorGovernor(governor)

    async def main() -> Any:
        client = batch_client(client_type, settings)
        try:
            return await amap(
                client,
                plan,
                governor=shared,
                clock=time.time,
                concurrency=concurrency,
                **options,
            )
        finally:
            await client.aclose()

    answers = asyncio.run(main())
    # what the cluster's one governor learned so far (each partition writes it; the last wins)
    keep_rate(settings, options.get("model"), shared.learned_rate())
    return answers.to_frame()
