"""Batches: one prompt template over many rows (lists, DataFrames, Dask), answered concurrently
through the client's one request path and paced by one rate governor.

This package sits above `ipygemini.client` and never imports it: `Client.map` and
`AsyncClient.map` call in here, handing over the client class and the answer's shape."""

from ._dask import map_dask
from ._map import BatchInterrupted, BatchPlan, amap, amap_with_bar, map_in_thread
from ._runner import Batch, RowOutcome

__all__ = [
    "Batch",
    "BatchInterrupted",
    "BatchPlan",
    "RowOutcome",
    "amap",
    "amap_with_bar",
    "map_dask",
    "map_in_thread",
]
