"""The gateway's limits: requests per time window (429), request body size (413), and reading a
request body (Content-Length or chunked) without going over the size limit."""

from __future__ import annotations

import math
from io import BufferedIOBase

from ._chat_request import GatewayError
from ._wire import error_body

__all__ = ["BodyTooLarge", "RateWindow", "rate_limited", "read_body", "too_large"]


class RateWindow:
    """Fixed windows of `window` seconds; a window starts with the first request after the
    previous one ended. Every request counts, refused ones included."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.count = 0

    def admit(self, limit: float | None, window: float, now: float) -> float | None:
        """None when the request is within `limit`, else the seconds until the window ends."""
        if self.start is None or now >= self.start + window:
            self.start, self.count = now, 0
        self.count += 1
        if limit is None or self.count <= limit:
            return None
        return self.start + window - now

    def reset(self) -> None:
        self.start, self.count = None, 0


def rate_limited(
    limit: float, window: float, wait: float, request_id: str, *, retry_after: bool
) -> GatewayError:
    """new-api's 429 for its request limiter, with ``Retry-After`` (whole seconds until the
    window ends, rounded up) unless `retry_after` is false."""
    message = (
        f"You have reached the request limit: at most {limit:g} requests per {window:g} "
        f"seconds (request id: {request_id})"
    )
    headers = {"Retry-After": str(max(1, math.ceil(wait)))} if retry_after else {}
    return GatewayError(429, error_body(message, "new_api_error", "rate_limit_exceeded"), headers)


def too_large(limit: int, size: int | None) -> GatewayError:
    """The 413 for a request body over `limit` bytes (`size` None: chunked, size unknown)."""
    has = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    message = f"Request body too large: {has}, the limit is {limit} bytes (max_body_bytes)"
    body = error_body(message, "new_api_error", "request_body_too_large")
    return GatewayError(413, body, {"Connection": "close"})  # the unread body is left behind


class BodyTooLarge(Exception):
    """The body is over the limit; `size` is its declared length (None when chunked)."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


def read_body(
    rfile: BufferedIOBase, transfer_encoding: str, content_length: str, limit: int | None
) -> bytes:
    """The request body; BodyTooLarge (before reading it) when it is over `limit` bytes,
    ValueError when its framing is broken."""
    if "chunked" in transfer_encoding.lower():
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = rfile.readline(1024)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if limit is not None and total > limit:
                raise BodyTooLarge(None)
            parts.append(rfile.read(size))
            rfile.readline(1024)
    length = int(content_length or 0)
    if length < 0:
        raise ValueError("negative Content-Length")
    if limit is not None and length > limit:
        raise BodyTooLarge(length)
    return rfile.read(length) if length else b""
