"""Making a client: the one place a `Settings` (resolved by its rules) becomes a `Client` or an
`AsyncClient`. `connect()`, the CLI, the magic and the panel all come here, so a client is made
the same way whichever front end asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._settings import Settings

if TYPE_CHECKING:
    from .client import AsyncClient, Client

__all__ = ["connect", "connect_async"]


def connect(
    settings: Settings | None = None,
    *,
    sleep: Callable[[float], object] | None = None,
    **options: Any,
) -> Client:
    """A `Client` for `settings`, else for ``Settings.resolve(**options)`` (arguments >
    ``%config Gemini.*`` > environment > the offline rule: with no key and no base URL, the
    built-in offline gateway, announced once). `sleep` is how retries wait (tests record it)."""
    from .client import Client

    if settings is None:
        return Client(Settings.resolve(**options), sleep=sleep)
    return Client(settings, sleep=sleep, **options)  # options over the given settings


def connect_async(
    settings: Settings | None = None,
    *,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    **options: Any,
) -> AsyncClient:
    """`connect` for asyncio: an `AsyncClient`, offline when nothing is configured."""
    from .client import AsyncClient

    if settings is None:
        return AsyncClient(Settings.resolve(**options), sleep=sleep)
    return AsyncClient(settings, sleep=sleep, **options)
