"""The protocol: a sans-IO core (SSE, the stream machine, reply assembly, request bodies) and
thin httpx loops (`_sync`, `_async`).

The httpx-backed names load on first use, so the magic can read the pure parts (request
validation, thinking styles) without importing httpx at ``%load_ext``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._settings import DEFAULT_BASE_URL, DEFAULT_MODEL, mask_key
    from ._async import AsyncClient, AsyncStream
    from ._core import ChatOptions, ClientOptions
    from ._stream import StreamMachine, StreamState
    from ._sync import Client, Stream

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "AsyncClient",
    "AsyncStream",
    "ChatOptions",
    "Client",
    "ClientOptions",
    "Stream",
    "StreamMachine",
    "StreamState",
    "mask_key",
]

_HOMES = {
    "DEFAULT_BASE_URL": ".._settings",
    "DEFAULT_MODEL": ".._settings",
    "mask_key": ".._settings",
    "AsyncClient": "._async",
    "AsyncStream": "._async",
    "ChatOptions": "._core",
    "ClientOptions": "._core",
    "Client": "._sync",
    "Stream": "._sync",
    "StreamMachine": "._stream",
    "StreamState": "._stream",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ipygemini.client' has no attribute {name!r}")
    return getattr(import_module(home, __name__), name)
