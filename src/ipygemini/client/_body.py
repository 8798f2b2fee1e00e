"""Bounded body reads: a size limit, a progress window, and a short wait for a body's end.

A small gzip body can inflate to gigabytes, and a server can dribble a byte a second: every
body is read in pieces under a size limit and a progress window (see `PROGRESS_BYTES`). After
``[DONE]`` the loops wait only briefly for the body's end (`bounded_reads`).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from .._errors import ServerError
from ._stream import PROGRESS_BYTES, Progress

__all__ = [
    "ERROR_BODY_LIMIT",
    "BodyBuffer",
    "aread_body",
    "aread_error_body",
    "bounded_reads",
    "read_body",
    "read_error_body",
]

ERROR_BODY_LIMIT = 1024 * 1024  # an error body longer than this is cut (its start is enough)


class BodyBuffer:
    """Collects a (decompressed) body while refusing to hold more than `limit` bytes of it.

    With ``cut=True`` the excess is dropped (enough for an error message); else it is an error.
    With a `window`, a body that trickles in (see `PROGRESS_BYTES`) times out.
    """

    def __init__(
        self,
        status: int,
        limit: int,
        *,
        cut: bool,
        window: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.status, self.limit, self.cut, self.clock = status, limit, cut, clock
        self.parts: list[bytes] = []
        self.size = 0
        self.progress = Progress(window, clock()) if window is not None else None

    def add(self, piece: bytes) -> bool:
        """Keep `piece`; False once the limit is reached and reading should stop."""
        progress = self.progress
        if progress is not None and progress.stalled(piece, self.clock(), lines=False):
            raise httpx.ReadTimeout(
                f"under {PROGRESS_BYTES} bytes in {progress.window:g} s", request=None
            )
        room = self.limit - self.size
        if len(piece) > room:
            if not self.cut:
                raise ServerError(
                    f"The gateway's response is larger than {self.limit:,} bytes (max_event_bytes).",
                    status_code=self.status,
                )
            self.parts.append(piece[:room])
            return False
        self.parts.append(piece)
        self.size += len(piece)
        return True

    def body(self) -> bytes:
        return b"".join(self.parts)


def read_body(
    response: httpx.Response, limit: int, *, cut: bool = False, window: float | None = None
) -> bytes:
    """The body, bounded (see `BodyBuffer`); the response is closed afterwards."""
    buffer = BodyBuffer(response.status_code, limit, cut=cut, window=window)
    try:
        for piece in response.iter_bytes():
            if not buffer.add(piece):
                break
    finally:
        response.close()
    return buffer.body()


async def aread_body(
    response: httpx.Response, limit: int, *, cut: bool = False, window: float | None = None
) -> bytes:
    """`read_body` for an async response."""
    buffer = BodyBuffer(response.status_code, limit, cut=cut, window=window)
    try:
        async for piece in response.aiter_bytes():
            if not buffer.add(piece):
                break
    finally:
        await response.aclose()
    return buffer.body()


def read_error_body(response: httpx.Response, window: float | None) -> bytes:
    """The start of an error response's body (empty when it cannot be read)."""
    try:
        return read_body(response, ERROR_BODY_LIMIT, cut=True, window=window)
    except httpx.HTTPError:
        return b""


async def aread_error_body(response: httpx.Response, window: float | None) -> bytes:
    """`read_error_body` for an async response."""
    try:
        return await aread_body(response, ERROR_BODY_LIMIT, cut=True, window=window)
    except httpx.HTTPError:
        return b""


@contextmanager
def bounded_reads(response: httpx.Response, seconds: float) -> Iterator[bool]:
    """Within the block, each read on the response's connection waits at most until `seconds`
    from now; a body that does not end by then times out, which closes the connection.

    httpx fixes a response's read timeout when it is sent; the connection's network stream
    (httpcore's documented ``network_stream`` extension) is the one place a shorter wait can be
    set. Yields False when there is no such stream: the caller closes instead of waiting.
    """
    stream: Any = response.extensions.get("network_stream")
    read = getattr(stream, "read", None)
    if read is None or not hasattr(stream, "__dict__"):
        yield False
        return
    clock = time.monotonic
    deadline = clock() + seconds
    bounded: Callable[..., Any]
    if inspect.iscoroutinefunction(read):

        async def bounded(max_bytes: int, timeout: float | None = None) -> bytes:
            return await read(max_bytes, max(deadline - clock(), 0.001))  # type: ignore[no-any-return]

    else:

        def bounded(max_bytes: int, timeout: float | None = None) -> bytes:
            return read(max_bytes, max(deadline - clock(), 0.001))  # type: ignore[no-any-return]

    own = vars(stream).get("read")
    stream.read = bounded
    try:
        yield True
    finally:
        if own is None:
            del stream.read
        else:
            stream.read = own
