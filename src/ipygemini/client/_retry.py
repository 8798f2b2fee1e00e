"""Which failures are retried, and after how long: decisions only; the loops do the waiting
through the sleep function the client was given."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import APIStatusError, RedirectError

if TYPE_CHECKING:
    from ._core import Core

__all__ = ["RETRY_STATUSES", "Attempts", "retry_after", "retry_delay", "should_retry"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 524, 529})
MAX_REVISIONS = 3
"""Bodies revised after a 400 (an unknown field dropped, ...) are resent at once, at most this
many times per request, whether or not retries are allowed."""
RETRY_TRANSPORT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)
"""Transport failures before any byte of an answer: the request can safely go again."""


def retry_delay(
    attempt: int,
    headers: Mapping[str, str] | None,
    *,
    backoff: float,
    jitter: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    ``retry-after-ms`` and ``Retry-After`` (seconds) win when present (capped at 60 s);
    otherwise exponential backoff ``backoff * 2**attempt`` with ±25 % jitter.
    """
    asked = retry_after(headers)
    if asked is not None:
        return asked
    base: float = backoff * 2.0**attempt
    return base * jitter(0.75, 1.25)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the gateway asks to wait (``retry-after-ms`` wins over ``Retry-After``; capped
    at 60 s), or None when it asks nothing readable (an HTTP date is not read)."""
    if headers:
        ms = headers.get("retry-after-ms")
        if ms:
            try:
                return min(max(0.0, float(ms) / 1000), 60.0)  # 0.0 first: max(0.0, nan) is 0.0
            except ValueError:
                pass
        seconds = headers.get("retry-after")
        if seconds:
            try:
                return min(max(0.0, float(seconds)), 60.0)
            except ValueError:
                pass
    return None


def should_retry(error: APIStatusError) -> bool:
    if error.status_code not in RETRY_STATUSES:
        return False
    return not (error.status_code == 503 and error.code == "model_not_found")


class Attempts:
    """The tries of one request: `requests` gives each try's request; after a failure,
    `after_transport_error` / `after_rejection` say how long to wait, or raise the error."""

    def __init__(self, core: Core, method: str, path: str, body: Any, *, stream: bool) -> None:
        self.core, self.method, self.path, self.body, self.stream = core, method, path, body, stream
        self.attempt = 0
        self.revisions = 0

    def arguments(self) -> Iterator[dict[str, Any]]:
        """The request arguments of each try (built again each time: a revised body changes
        them); see `Core.request_args`."""
        self.attempt = -1
        while self.attempt < self.core.settings.max_retries:
            self.attempt += 1
            yield self.core.request_args(self.path, self.body, self.stream)

    def _more(self) -> bool:
        return self.attempt < self.core.settings.max_retries

    def after_transport_error(self, exc: Exception) -> float:
        """Seconds to wait before trying again after `exc`, or raise what it stands for."""
        if isinstance(exc, RETRY_TRANSPORT) and self._more():
            return retry_delay(self.attempt, None, backoff=self.core.settings.backoff)
        raise self.core.transport_error(exc) from None

    def accept(self, response: httpx.Response) -> bool:
        """True for an answer to read; False for a redirect or an error status (read its body,
        then call `after_rejection`)."""
        self.core.memory.observe(response.headers)
        return response.status_code < 300

    def after_rejection(self, response: httpx.Response, raw: bytes) -> float:
        """Seconds to wait before trying again after an error status, or raise its error.

        A 400 naming an unknown top-level field (Google's endpoint rejects fields it does not
        know, e.g. ``Unknown name "stream_options"``) is resent at once without that field.
        A redirect is never followed (the key must not go to another host): it raises.
        """
        if response.status_code < 400:
            location = response.headers.get("location")
            moved = self.core.moved_base_url(location)
            raise RedirectError(response.status_code, location, base_url=moved)
        error = self.core.status_error(response.status_code, raw)
        error.retry_after = retry_after(response.headers)
        if isinstance(self.body, dict) and self.revisions < MAX_REVISIONS:
            if self.core.memory.revise(self.body, response.status_code, error.message):
                self.revisions += 1  # a revised body is a new request, not a retry
                self.attempt -= 1
                return 0.0
        if should_retry(error) and self._more():
            return retry_delay(self.attempt, response.headers, backoff=self.core.settings.backoff)
        raise error
