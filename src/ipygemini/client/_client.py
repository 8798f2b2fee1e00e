"""The old import path of the client (before it was split into `_sync`, `_async`, `_core`,
`_stream`, `_retry`, `_body`, `_parse`): names re-exported for code not yet moved to
``ipygemini.client``. No code of its own; remove once nothing imports it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .._settings import DEFAULT_BASE_URL, DEFAULT_MODEL, Settings, is_loopback, mask_key
from .._types import Reply
from ._async import AsyncClient, AsyncStream
from ._core import ChatOptions, ClientOptions, Core, build_messages
from ._parse import (
    DEFAULT_EMBEDDING_MODEL,
    decode_embedding,
    embedding_bodies,
    order_embeddings,
    parse_embeddings,
    parse_models,
)
from ._retry import retry_delay, should_retry
from ._stream import StreamMachine
from ._sync import Client, Stream

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_MODEL",
    "AsyncClient",
    "AsyncStream",
    "ChatOptions",
    "Client",
    "ClientOptions",
    "Stream",
    "build_messages",
    "decode_embedding",
    "embedding_bodies",
    "is_loopback",
    "mask_key",
    "order_embeddings",
    "parse_embeddings",
    "parse_models",
    "retry_delay",
    "should_retry",
]

_DEFAULTS: dict[str, Any] = {field.name: field.default for field in fields(Settings)}
"""Setting defaults (tests/test_faults.py and test_hostile.py read backoff and max_event_bytes)."""


class _StreamState(StreamMachine):
    """The old stream state's call shape (``_StreamState(core, reply)``, ``feed(data)``),
    for tests/test_fuzz.py until it drives `StreamMachine` directly."""

    def __init__(self, core: Core, reply: Reply) -> None:
        settings = core.settings
        super().__init__(
            reply,
            max_event_bytes=settings.max_event_bytes,
            idle_timeout=settings.idle_timeout,
            secret=settings.api_key,
        )

    def feed(self, data: bytes, now: float = 0.0) -> Any:
        return super().feed(data, now)
