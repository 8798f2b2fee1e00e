"""Batches: one prompt template over many rows (lists, DataFrames, Dask), answered concurrently
through the client's one request path and paced by one rate governor."""
