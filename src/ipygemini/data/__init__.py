"""Answers as data: the SQLite exchange log and replay cache (and, later, schemas and batches)."""

from ._exchange import Exchange, attachment_metadata, cache_key, exchange_from
from ._log import SCHEMA_VERSION, Entry, ExchangeLog, default_home, default_path

__all__ = [
    "SCHEMA_VERSION",
    "Entry",
    "Exchange",
    "ExchangeLog",
    "attachment_metadata",
    "cache_key",
    "default_home",
    "default_path",
    "exchange_from",
]
