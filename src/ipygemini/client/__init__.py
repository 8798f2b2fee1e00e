"""The protocol: a sans-IO core (SSE, reply assembly, request bodies) and thin httpx clients.

The httpx-backed names load on first use, so the magic can read the pure parts (request
validation, thinking styles) without importing httpx at ``%load_ext``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import (
        DEFAULT_BASE_URL,
        DEFAULT_MODEL,
        AsyncClient,
        AsyncStream,
        ChatOptions,
        Client,
        ClientOptions,
        Stream,
        mask_key,
    )

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "AsyncClient",
    "AsyncStream",
    "ChatOptions",
    "Client",
    "ClientOptions",
    "Stream",
    "mask_key",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _client

        return getattr(_client, name)
    raise AttributeError(f"module 'ipygemini.client' has no attribute {name!r}")
