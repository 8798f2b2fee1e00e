"""The panel's connection: its Settings, the `AsyncClient` made from them, advice that fits it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import GeminiError, InsecureURLError
from .._settings import Settings
from ..client import AsyncClient

__all__ = ["Connection", "advice", "make_client", "one_line"]


def make_client(settings: Settings) -> AsyncClient:
    """The panel's client, made from its Settings in this one place."""
    return AsyncClient(settings)


def advice(exc: BaseException) -> str:
    """A one-line message for `exc` whose advice fits the panel."""
    if isinstance(exc, InsecureURLError) and "allow_insecure" in str(exc):
        text = str(exc).split(" Use an https", 1)[0]
        return (
            f"{text} Use an https:// base URL, or ChatPanel(allow_insecure=True) if you trust "
            "the network."
        )
    return one_line(str(exc))


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Connection:
    """Settings and client of one panel.

    `settings` (given) or `overrides` (resolved again at each message, so a key set later, or
    ``%config Gemini.*``, takes effect) make the client; a given `client` is used as it is.
    """

    def __init__(
        self,
        *,
        settings: Settings | None,
        overrides: Mapping[str, Any],
        client: AsyncClient | None,
        loop: Callable[[], asyncio.AbstractEventLoop | None],
    ) -> None:
        self._explicit = settings
        self._overrides = {k: v for k, v in overrides.items() if v is not None}
        self._owns_client = client is None
        self._loop = loop
        self.client: AsyncClient | None = client
        self.settings: Settings | None = None
        self.error: GeminiError | None = None
        self._background: set[asyncio.Task[Any]] = set()
        if client is None or settings is not None:
            self.refresh()  # (a given client needs no settings of ours)

    @property
    def offline(self) -> bool:
        return self.settings is not None and self.settings.offline

    def _resolve(self) -> Settings:
        if self._explicit is not None:
            return self._explicit.replace(**self._overrides) if self._overrides else self._explicit
        return Settings.resolve(**self._overrides)

    def refresh(self) -> None:
        """Resolve the settings again; a changed result (a key set since) makes a new client."""
        try:
            settings = self._resolve()
        except GeminiError as exc:
            self.settings, self.error = None, exc
            if self._owns_client:
                self.close()
            return
        self.error = None
        if settings == self.settings and (self.client is not None or not self._owns_client):
            return
        self.settings = settings
        if self._owns_client:
            self.close()
            self.client = make_client(settings)

    def ensure(self) -> AsyncClient:
        if self._owns_client and self._explicit is None:
            self.refresh()
        if self.client is None:
            assert self.error is not None
            raise self.error
        return self.client

    def close(self) -> None:
        """Forget the client; close it if the panel made it (its connections belong to us)."""
        client, self.client = self.client, None
        loop = self._loop()
        if self._owns_client and client is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._spawn, client.aclose)

    def _spawn(self, make: Callable[[], Any]) -> None:
        loop = self._loop()
        assert loop is not None
        task = loop.create_task(make())
        self._background.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(self._background.discard)
