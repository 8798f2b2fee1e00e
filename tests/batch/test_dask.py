"""A Dask DataFrame answered per partition on a real LocalCluster (worker processes), all
partitions paced by one `RateGovernor` actor, against a rate-limited FakeGateway."""

from __future__ import annotations

import pandas as pd
import pytest

from ipygemini import Settings
from ipygemini.testing import FakeGateway

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

SCHEMA = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}


def test_dask_frame_is_answered_lazily_under_one_shared_rate() -> None:
    from ipygemini.batch import map_dask
    from ipygemini.client import AsyncClient
    from ipygemini.client._schema import output_schema

    frame = pd.DataFrame({"text": [f"row {i}" for i in range(48)]}, index=range(100, 148))
    with (
        FakeGateway(rate_limit=6, rate_window=0.25) as gw,
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=2, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        settings = Settings.resolve(
            {}, offline_fallback=False, base_url=gw.base_url, api_key=gw.api_key
        )
        lazy = map_dask(
            AsyncClient,
            settings,
            dd.from_pandas(frame, npartitions=4),
            "Say {text} at {index}",
            shape=output_schema(SCHEMA),
        )
        assert isinstance(lazy, dd.DataFrame) and gw.requests == []  # nothing sent yet
        out = lazy.compute()
    assert list(out.index) == list(frame.index)
    assert list(out.columns) == ["word", "status", "error", "input_tokens", "output_tokens"]
    assert (out.status == "complete").all() and out.word.map(type).eq(str).all()
    assert gw.accepted == 48
    # four partitions on two processes sharing one learned rate: few refusals, not 4x
    assert gw.refused < 24
