"""Which failures are retried, and after how long: decisions only; the loops do the waiting
through the sleep function the client was given."""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import APIStatusError, BadRequestError, RedirectError

if TYPE_CHECKING:
    from ._core import Core

__all__ = [
    "RETRY_STATUSES",
    "Attempts",
    "names_invalid_body",
    "retry_after",
    "retry_delay",
    "should_retry",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 524, 529})
MAX_RETRY_AFTER = 60.0
"""The longest wait a ``Retry-After`` may ask for (longer asks are cut to this)."""
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
    now: float | None = None,
    jitter: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    ``retry-after-ms`` and ``Retry-After`` (seconds or an HTTP date, read against the Unix
    time `now`) win when present (capped at 60 s); otherwise exponential backoff
    ``backoff * 2**attempt`` with ±25 % jitter.
    """
    asked = retry_after(headers, now=now)
    if asked is not None:
        return asked
    base: float = backoff * 2.0**attempt
    return base * jitter(0.75, 1.25)


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the gateway asks to wait (``retry-after-ms`` wins over ``Retry-After``, which
    RFC 9110 allows as seconds or as an HTTP date, read against the Unix time `now`; capped at
    60 s), or None when it asks nothing readable or a date already past (then the loops back
    off as if nothing was asked, rather than hammer a gateway whose clock is behind)."""
    if not headers:
        return None
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return _capped(ms / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return _capped(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a date without a zone is read as UTC
        when = when.replace(tzinfo=UTC)
    wait = when.timestamp() - (time.time() if now is None else now)
    return _capped(wait) if wait > 0 else None  # a past date (a skewed clock?): back off


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return 0.0 if math.isnan(value) else value


def _capped(seconds: float) -> float:
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


_INVALID_BODY = re.compile(
    r"input should be|validation error|field required|extra inputs are not permitted"
    r"|invalid request body|request body is invalid|is not a valid|missing required",
    re.IGNORECASE,
)


def names_invalid_body(message: str, body: Any = None) -> bool:
    """The error says the request body is invalid (a pydantic validation message, a missing or
    extra field, an ``invalid_request_error``): sending it again would fail the same way,
    whatever the status (llama-cpp-python and LiteLLM answer such bodies with HTTP 500)."""
    if _INVALID_BODY.search(message):
        return True
    error = body.get("error") if isinstance(body, Mapping) else None
    return isinstance(error, Mapping) and error.get("type") == "invalid_request_error"


def should_retry(error: APIStatusError) -> bool:
    """A status worth asking again, unless the error names the body as invalid."""
    if error.status_code not in RETRY_STATUSES or isinstance(error, BadRequestError):
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

    def after_rejection(self, response: httpx.Response, raw: bytes) -> float | None:
        """Seconds to wait before trying again after an error status (None: resend the revised
        body at once), or raise its error.

        A 400 naming an unknown top-level field (Google's endpoint rejects fields it does not
        know, e.g. ``Unknown name "stream_options"``) is resent at once without that field.
        A redirect is never followed (the key must not go to another host): it raises.
        """
        if response.status_code < 400:
            location = response.headers.get("location")
            moved = self.core.moved_base_url(location)
            raise RedirectError(response.status_code, location, base_url=moved)
        error = self.core.status_error(response.status_code, raw)
        now = self.core.clock()
        error.retry_after = retry_after(response.headers, now=now)
        if isinstance(self.body, dict) and self.revisions < MAX_REVISIONS:
            if self.core.memory.revise(self.body, response.status_code, error.message):
                self.revisions += 1  # a revised body is a new request, not a retry
                self.attempt -= 1
                return None
        if should_retry(error) and self._more():
            backoff = self.core.settings.backoff
            return retry_delay(self.attempt, response.headers, backoff=backoff, now=now)
        raise error
