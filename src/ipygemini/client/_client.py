"""`Client` and `AsyncClient`: thin httpx loops around the sans-IO core.

Both share `_Core` (settings, request building, retry decisions, byte→event folding), so the
sync and async clients cannot drift apart; each only adds its own way of waiting for bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import json.scanner
import os
import random
import struct
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack, overload
from urllib.parse import urlsplit

import httpx

from .._errors import (
    APIStatusError,
    ConnectionError,
    GeminiError,
    InsecureURLError,
    MissingKeyError,
    ServerError,
    StreamError,
    TimeoutError,
    error_for_status,
    sentence,
)
from .._types import Event, Model, Reply
from .._version import __version__
from ._adapt import GatewayMemory
from ._reply import ReplyAssembler
from ._request import Thinking, build_chat_body, validate_options
from ._sse import SSEDecoder

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

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_EMBEDDING_MODEL = "gemini-embedding-001"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 524, 529})
EMBED_BATCH = 100


def mask_key(key: str | None) -> str:
    """A key as it may be shown: ``…abcd`` (last four characters), or ``(not set)``."""
    if not key:
        return "(not set)"
    return "…" + key[-4:] if len(key) > 8 else "…"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def retry_delay(attempt: int, headers: Mapping[str, str] | None, *, backoff: float) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    ``retry-after-ms`` and ``Retry-After`` (seconds) win when present (capped at 60 s);
    otherwise exponential backoff ``backoff * 2**attempt`` with ±25 % jitter.
    """
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
                pass  # an HTTP date: fall back to backoff
    base: float = backoff * 2.0**attempt
    return base * random.uniform(0.75, 1.25)


def should_retry(error: APIStatusError) -> bool:
    if error.status_code not in RETRY_STATUSES:
        return False
    return not (error.status_code == 503 and error.code == "model_not_found")


def decode_embedding(value: Any) -> list[float]:
    if isinstance(value, str):
        import base64

        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
    if isinstance(value, list):
        return [float(x) for x in value]
    raise ValueError(f"unexpected embedding value of type {type(value).__name__}")


def order_embeddings(data: list[Any]) -> list[list[float]]:
    """Vectors in input order: by ``index`` when the indices are distinct, else by position."""
    items = [d for d in data if isinstance(d, dict)]
    indices = [d.get("index") for d in items]
    if all(isinstance(i, int) for i in indices) and len(set(indices)) == len(indices):
        items = sorted(items, key=lambda d: d["index"])
    return [decode_embedding(d.get("embedding")) for d in items]


class _Core:
    """Settings and the pure parts of every call, shared by `Client` and `AsyncClient`."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        model: str | None,
        timeout: float,
        idle_timeout: float,
        connect_timeout: float,
        max_retries: int,
        backoff: float,
        thinking_style: str,
        allow_insecure: bool,
        max_event_bytes: int,
        headers: Mapping[str, str] | None,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get("GEMINI_API_KEY") or None
        base = base_url or os.environ.get("GEMINI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = base.rstrip("/") + "/"
        self.model = model or os.environ.get("GEMINI_MODEL") or DEFAULT_MODEL
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InsecureURLError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}; got {base!r}."
            )
        loopback = is_loopback(parts.hostname)
        if not self._api_key and not loopback:
            raise MissingKeyError("No API key: GEMINI_API_KEY is not set.")
        if parts.scheme == "http" and not loopback and not allow_insecure:
            raise InsecureURLError(
                f"Refusing to send the API key over plain http to {parts.hostname}.",
                hint="Use an https:// base URL, or pass allow_insecure=True if you trust the network.",
            )
        validate_options(thinking_style=thinking_style)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0; got {max_retries}")
        self.max_retries = max_retries
        self.memory = GatewayMemory()
        self.backoff = backoff
        self.thinking_style = thinking_style
        self.idle_timeout = idle_timeout
        self.max_event_bytes = max_event_bytes
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.stream_timeout = httpx.Timeout(idle_timeout, connect=connect_timeout)
        self.headers = {"User-Agent": f"ipygemini/{__version__}", **(headers or {})}
        if self._api_key:
            self.headers["Authorization"] = f"Bearer {self._api_key}"

    @property
    def api_key_hint(self) -> str:
        return mask_key(self._api_key)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key={self.api_key_hint!r})"
        )

    def url(self, path: str) -> str:
        return self.base_url + path

    def chat_body(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        stream: bool,
        model: str | None = None,
        system: str | None = None,
        json: bool = False,
        response_format: Mapping[str, Any] | None = None,
        attachments: Sequence[Any] = (),
        **options: Any,
    ) -> dict[str, Any]:
        """The request body: messages from the prompt, then `build_chat_body` (which validates)."""
        messages = build_messages(prompt, system=system, attachments=attachments)
        if json and response_format is None:
            response_format = {"type": "json_object"}
        return build_chat_body(
            messages,
            model=model or self.model,
            stream=stream,
            response_format=response_format,
            thinking_style=self.thinking_style,
            **options,
        )

    def request_args(self, path: str, body: Any, stream: bool) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client.build_request`` (the same for sync and async)."""
        headers = dict(self.headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        timeout = self.stream_timeout if stream else self.timeout
        return {"url": self.url(path), "json": body, "headers": headers, "timeout": timeout}

    def retry_after_transport(self, attempt: int, exc: Exception) -> float:
        """Seconds to wait before retrying a request that failed before any byte, or raise."""
        if isinstance(exc, _TRANSPORT_BEFORE_RESPONSE) and attempt < self.max_retries:
            return retry_delay(attempt, None, backoff=self.backoff)
        raise self.transport_error(exc) from None

    def retry_after_status(
        self, attempt: int, status: int, raw: bytes, headers: Mapping[str, str], body: Any
    ) -> float:
        """Seconds to wait before retrying an error status, or raise the error it stands for.

        A 400 naming an unknown top-level field (Google's endpoint rejects fields it does not
        know, e.g. ``Unknown name "stream_options"``) is retried at once without that field.
        """
        error = self.status_error(status, raw)
        if isinstance(body, dict) and attempt < self.max_retries:
            if self.memory.revise(body, status, error.message):
                return 0.0
        if should_retry(error) and attempt < self.max_retries:
            return retry_delay(attempt, headers, backoff=self.backoff)
        raise error

    def status_error(self, status: int, raw: bytes) -> APIStatusError:
        return error_for_status(status, raw, secret=self._api_key)

    def parse_json(self, raw: bytes, what: str) -> Any:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            preview = raw[:80].decode("utf-8", "replace")
            raise ServerError(
                f"The gateway sent a {what} that is not JSON: {preview!r}.", status_code=200
            ) from None

    def check_body_error(self, obj: Any) -> None:
        """Some gateways answer 200 with an error object; raise it as what it is."""
        if (
            isinstance(obj, dict)
            and isinstance(obj.get("error"), dict | str)
            and "choices" not in obj
        ):
            err = obj["error"]
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise self.status_error(status, json.dumps(obj).encode())

    def reply_from_completion(self, obj: Any) -> Reply:
        self.check_body_error(obj)
        assembler = ReplyAssembler()
        assembler.feed(obj)
        assembler.finish(streamed=False)
        assembler.reply.raw = obj
        return assembler.reply

    def transport_error(self, exc: Exception) -> GeminiError:
        where = urlsplit(self.base_url).netloc
        if isinstance(exc, httpx.TimeoutException):
            return TimeoutError(f"Timed out talking to {where} ({type(exc).__name__}).")
        return ConnectionError(f"Could not reach {where}: {os_reason(exc)}.")


def os_reason(exc: BaseException) -> str:
    """The operating system's reason behind a transport error (``[Errno 111] Connection
    refused``), the same for the sync and the async client (anyio only says "All connection
    attempts failed" and keeps the reason in the exception chain)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and isinstance(seen.errno, int):
            text = os.strerror(seen.errno) if seen.errno > 0 else seen.strerror
            return f"[Errno {seen.errno}] {text or seen}"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def build_messages(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    system: str | None = None,
    attachments: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Messages for a prompt string (plus attachments) or a ready list of messages."""
    if isinstance(prompt, str):
        if attachments:
            from ..attachments import to_content_parts

            content: Any = [{"type": "text", "text": prompt}, *to_content_parts(attachments)]
        else:
            content = prompt
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    else:
        messages = [dict(m) for m in prompt]
        if attachments:
            raise ValueError(
                "attachments go with a prompt string; put them in the messages instead"
            )
    if system and not (messages and messages[0].get("role") == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


_ERROR_BODY_LIMIT = 1024 * 1024  # an error body longer than this is cut (its start is enough)
PROGRESS_BYTES = 4096
"""Bytes that count as progress on their own. httpx's read timeout restarts at every byte, so a
server dribbling a byte a second would hold a request forever: a body that brings less than
this (and, in a stream, no complete line) within the timeout is given up."""


class _Progress:
    """Says when a body has stalled: under `PROGRESS_BYTES` and no line end in `window` s."""

    __slots__ = ("quiet", "since", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self.since = time.monotonic()
        self.quiet = 0  # bytes since the last progress

    def stalled(self, data: bytes, *, lines: bool) -> bool:
        now = time.monotonic()
        if self.quiet + len(data) >= PROGRESS_BYTES or (lines and (b"\n" in data or b"\r" in data)):
            self.since, self.quiet = now, 0
            return False
        self.quiet += len(data)
        return now - self.since > self.window


class _BodyBuffer:
    """Collects a (decompressed) body while refusing to hold more than `limit` bytes of it.

    A small gzip body can inflate to gigabytes; reading in pieces bounds the memory. With
    ``cut=True`` the excess is dropped (enough for an error message); else it is an error.
    With a `window`, a body that trickles in (see `PROGRESS_BYTES`) times out.
    """

    def __init__(
        self, response: httpx.Response, limit: int, *, cut: bool, window: float | None
    ) -> None:
        self.response, self.limit, self.cut = response, limit, cut
        self.parts: list[bytes] = []
        self.size = 0
        self.progress = _Progress(window) if window is not None else None

    def add(self, piece: bytes) -> bool:
        """Keep `piece`; False once the limit is reached and reading should stop."""
        progress = self.progress
        if progress is not None and progress.stalled(piece, lines=False):
            raise httpx.ReadTimeout(
                f"under {PROGRESS_BYTES} bytes in {progress.window:g} s", request=None
            )
        room = self.limit - self.size
        if len(piece) > room:
            if not self.cut:
                raise ServerError(
                    f"The gateway's response is larger than {self.limit:,} bytes (max_event_bytes).",
                    status_code=self.response.status_code,
                )
            self.parts.append(piece[:room])
            return False
        self.parts.append(piece)
        self.size += len(piece)
        return True

    def body(self) -> bytes:
        return b"".join(self.parts)


def read_limited(
    response: httpx.Response, limit: int, *, cut: bool = False, window: float | None = None
) -> bytes:
    buffer = _BodyBuffer(response, limit, cut=cut, window=window)
    for piece in response.iter_bytes():
        if not buffer.add(piece):
            break
    return buffer.body()


async def aread_limited(
    response: httpx.Response, limit: int, *, cut: bool = False, window: float | None = None
) -> bytes:
    buffer = _BodyBuffer(response, limit, cut=cut, window=window)
    async for piece in response.aiter_bytes():
        if not buffer.add(piece):
            break
    return buffer.body()


_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _loads(payload: bytes) -> Any:
    """json.loads for one SSE payload, minus its encoding sniffing and whitespace regex."""
    text = payload.decode()
    try:
        obj, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)  # leading whitespace or invalid: let json explain
    if end != len(text) and text[end:].strip():
        raise ValueError(f"extra data after JSON at position {end}")
    return obj


class RawChunks(Sequence[Any]):
    """The chunks of a streamed reply as the gateway sent them, parsed when read.

    Kept as bytes: a list of 20,000 parsed dicts would make the garbage collector rescan them
    all the time, tripling the client's CPU cost per chunk.
    """

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def __len__(self) -> int:
        return len(self.payloads)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [json.loads(p) for p in self.payloads[index]]
        return json.loads(self.payloads[index])

    def __repr__(self) -> str:
        return f"<{len(self.payloads)} raw chunks>"


class _StreamState:
    """Bytes → SSE events → chunks → `Reply` events, for one streamed response. No I/O.

    It never raises: a failure sets `error` (the `StreamError` to raise) after the events that
    came before it, so a front end shows exactly what the reply holds.
    """

    def __init__(self, core: _Core, reply: Reply) -> None:
        self.core = core
        self.decoder = SSEDecoder(max_event_bytes=core.max_event_bytes)
        self.assembler = ReplyAssembler(reply)
        self.done = False  # [DONE] seen, end of body reached, or failed
        self.error: StreamError | None = None
        self.progress: _Progress | None = None  # started by the first bytes
        self.raw = RawChunks()
        reply.raw = self.raw

    @property
    def reply(self) -> Reply:
        return self.assembler.reply

    def feed(self, data: bytes) -> list[Event]:
        if self.done:
            return []  # whatever follows [DONE] is ignored
        out: list[Event] = []
        progress = self.progress
        if progress is None:
            progress = self.progress = _Progress(self.core.idle_timeout)
        if progress.stalled(data, lines=True):
            self._fail(
                f"only {progress.quiet} bytes and no complete line in "
                f"{self.core.idle_timeout:g} s (idle_timeout)",
                out,
            )
            return out
        try:
            payloads = self.decoder.feed_data(data)
        except ValueError as exc:
            self._fail(str(exc), out)
            return out
        feed = self.assembler.feed_into
        keep = self.raw.payloads.append
        for payload in payloads:
            if payload == b"[DONE]":
                self.done = True
                continue
            try:
                chunk = _loads(payload)
            except (ValueError, RecursionError):
                if not payload.strip():
                    continue
                self._fail(f"the gateway sent an event that is not JSON: {payload[:60]!r}", out)
                return out
            if chunk.__class__ is dict and "error" in chunk and not chunk.get("choices"):
                err = self.core.status_error(500, payload)
                self._fail(f"the gateway reported an error mid-stream: {err.message}", out)
                return out
            keep(payload)
            feed(chunk, out)
        return out

    def end(self) -> list[Event]:
        """The body ended: a last unterminated event, held-back text, truncation."""
        if self.error is not None:
            return []
        try:
            events = self.decoder.close()
        except ValueError:
            events = []
        out: list[Event] = []
        for sse in events:
            if sse.data != b"[DONE]":
                try:
                    self.assembler.feed_into(json.loads(sse.data), out)
                except (ValueError, RecursionError):
                    pass
        out.extend(self.assembler.finish())
        self.done = True
        return out

    def whole(self, raw: bytes) -> list[Event]:
        """The gateway ignored ``stream: true`` and sent one JSON completion: fold it in."""
        obj = self.core.parse_json(raw, "body")
        self.core.check_body_error(obj)
        events = self.assembler.feed(obj)
        events.extend(self.assembler.finish(streamed=False))
        self.reply.raw = obj
        self.done = True
        return events

    def _fail(self, message: str, out: list[Event]) -> None:
        out.extend(self.assembler.finish())
        self.error = StreamError(sentence(f"Stream failed: {message}"), reply=self.reply)
        self.reply.error = self.error
        self.done = True

    def transport_failure(self, exc: Exception) -> list[Event]:
        out: list[Event] = []
        if isinstance(exc, httpx.TimeoutException):
            self._fail(f"no data for {self.core.idle_timeout:g} s (idle_timeout)", out)
        else:
            self._fail(f"the connection broke ({type(exc).__name__})", out)
        return out

    def failed(self, exc: BaseException) -> None:
        """The request failed before any event: the (empty) reply says how."""
        if isinstance(exc, GeminiError):
            self.reply.error = exc
            self.done = True
        else:  # Ctrl-C or a cancelled task while connecting or waiting to retry
            self.interrupted()

    def interrupted(self) -> None:
        if not self.done:
            self.assembler.finish()
            self.reply.interrupted = True
            self.reply.truncated = False
            self.done = True


_TRANSPORT_BEFORE_RESPONSE = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)


class _StreamBase:
    """What `Stream` and `AsyncStream` share: the request body and the folding state."""

    def __init__(self, core: _Core, body: dict[str, Any]) -> None:
        self._body = body
        self._response: httpx.Response | None = None
        self._state = _StreamState(core, Reply())

    @property
    def reply(self) -> Reply:
        return self._state.reply


class Stream(_StreamBase):
    """A streamed answer: iterate for events; `reply` holds what has arrived so far.

    Use it as a context manager. Leaving the block early (break, an exception, Ctrl-C) closes
    the connection and marks the reply ``interrupted``; everything received stays in `reply`.
    """

    def __init__(self, client: Client, body: dict[str, Any]) -> None:
        super().__init__(client._core, body)
        self._client = client

    def __enter__(self) -> Self:
        if self._response is None:
            try:
                self._response = self._client._send(
                    "POST", "chat/completions", self._body, stream=True
                )
            except BaseException as exc:
                self._state.failed(exc)
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading; a reply that had not finished is marked interrupted."""
        self._state.interrupted()
        if self._response is not None:
            self._response.close()

    def __iter__(self) -> Iterator[Event]:
        self.__enter__()
        response = self._response
        assert response is not None
        state = self._state
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            try:
                try:
                    raw = read_limited(
                        response, state.core.max_event_bytes, window=state.core.idle_timeout
                    )
                finally:
                    response.close()
                events = state.whole(raw)
            except httpx.TransportError as exc:
                events = state.transport_failure(exc)
            except GeminiError as exc:
                state.failed(exc)
                raise
            yield from events
            if state.error is not None:
                raise state.error
            return
        try:
            for data in response.iter_bytes():
                events = state.feed(data)
                if events:
                    yield from events
                if state.error is not None:
                    break
                # after [DONE] keep reading to the end of the body, so the connection is reused
        except httpx.TransportError as exc:
            last = state.transport_failure(exc)
        except BaseException:
            state.interrupted()
            response.close()
            raise
        else:
            last = state.end()
        response.close()
        yield from last
        if state.error is not None:
            raise state.error

    def until_done(self) -> Reply:
        """Read the rest of the stream and return the finished reply."""
        for _ in self:
            pass
        return self.reply

    def text_deltas(self) -> Iterator[str]:
        """Just the answer text, piece by piece."""
        for event in self:
            if event.type == "text":
                yield event.text


class AsyncStream(_StreamBase):
    """The async twin of `Stream`: ``async with`` / ``async for``; cancelling marks it interrupted."""

    def __init__(self, client: AsyncClient, body: dict[str, Any]) -> None:
        super().__init__(client._core, body)
        self._client = client

    async def __aenter__(self) -> Self:
        if self._response is None:
            try:
                self._response = await self._client._send(
                    "POST", "chat/completions", self._body, stream=True
                )
            except BaseException as exc:
                self._state.failed(exc)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._state.interrupted()
        if self._response is not None:
            await self._response.aclose()

    async def __aiter__(self) -> AsyncIterator[Event]:
        await self.__aenter__()
        response = self._response
        assert response is not None
        state = self._state
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            try:
                try:
                    raw = await aread_limited(
                        response, state.core.max_event_bytes, window=state.core.idle_timeout
                    )
                finally:
                    await response.aclose()
                events = state.whole(raw)
            except httpx.TransportError as exc:
                events = state.transport_failure(exc)
            except GeminiError as exc:
                state.failed(exc)
                raise
            for event in events:
                yield event
            if state.error is not None:
                raise state.error
            return
        try:
            async for data in response.aiter_bytes():
                for event in state.feed(data):
                    yield event
                if state.error is not None:
                    break
        except httpx.TransportError as exc:
            last = state.transport_failure(exc)
        except BaseException:
            state.interrupted()
            await response.aclose()
            raise
        else:
            last = state.end()
        await response.aclose()
        for event in last:
            yield event
        if state.error is not None:
            raise state.error

    async def until_done(self) -> Reply:
        async for _ in self:
            pass
        return self.reply


class ClientOptions(TypedDict, total=False):
    """Settings of `Client` and `AsyncClient` (all optional)."""

    api_key: str | None
    base_url: str | None
    model: str | None
    timeout: float
    idle_timeout: float
    connect_timeout: float
    max_retries: int
    backoff: float
    thinking_style: str
    allow_insecure: bool
    max_event_bytes: int
    headers: Mapping[str, str] | None


class ChatOptions(TypedDict, total=False):
    """Options of `chat` and `stream` (all optional; validated before anything is sent)."""

    model: str | None
    system: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    frequency_penalty: float | None
    presence_penalty: float | None
    stop: str | Sequence[str] | None
    n: int | None
    json: bool
    response_format: Mapping[str, Any] | None
    thinking: Thinking
    attachments: Sequence[Any]
    extra_body: Mapping[str, Any] | None


_DEFAULTS: ClientOptions = {
    "api_key": None,
    "base_url": None,
    "model": None,
    "timeout": 60.0,
    "idle_timeout": 120.0,
    "connect_timeout": 10.0,
    "max_retries": 2,
    "backoff": 0.5,
    "thinking_style": "google",
    "allow_insecure": False,
    "max_event_bytes": 64 * 1024 * 1024,
    "headers": None,
}


class _BaseClient:
    """What `Client` and `AsyncClient` share: settings, validation, the masked repr."""

    _core: _Core

    def __init__(self, **options: Unpack[ClientOptions]) -> None:
        unknown = set(options) - set(_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown client option(s): {', '.join(sorted(unknown))}")
        merged: dict[str, Any] = {**_DEFAULTS, **options}
        self._core = _Core(**merged)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def model(self) -> str:
        return self._core.model

    @property
    def thinking_style(self) -> str:
        return self._core.thinking_style

    @property
    def api_key_hint(self) -> str:
        """The key as it may be shown (``…abcd``)."""
        return self._core.api_key_hint

    def __repr__(self) -> str:
        core = self._core
        return (
            f"{type(self).__name__}(base_url={core.base_url!r}, model={core.model!r}, "
            f"api_key={core.api_key_hint!r})"
        )


class Client(_BaseClient):
    """A synchronous client for any OpenAI-compatible Gemini endpoint.

    Settings come from the arguments, else from ``GEMINI_API_KEY``, ``GEMINI_BASE_URL`` and
    ``GEMINI_MODEL``. One long-lived httpx client keeps the connection alive between calls.
    Requests that fail before any byte arrives (429, 5xx, connection errors) are retried with
    backoff; a stream is never retried once it has started.
    """

    def __init__(
        self, *, http_client: httpx.Client | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        """Options: api_key, base_url, model, timeout (s), idle_timeout (s without a byte mid-stream),
        connect_timeout, max_retries (default 2), backoff (s), thinking_style ("google",
        "reasoning_effort", "enable_thinking" or "openrouter"), allow_insecure, max_event_bytes,
        headers."""
        super().__init__(**options)
        self._http = http_client or httpx.Client(timeout=self._core.timeout)
        self._sleep = time.sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # transport
    def _send(
        self, method: str, path: str, body: Any = None, *, stream: bool = False
    ) -> httpx.Response:
        core = self._core
        for attempt in range(core.max_retries + 1):
            request = self._http.build_request(method, **core.request_args(path, body, stream))
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                self._sleep(core.retry_after_transport(attempt, exc))
                continue
            if response.status_code < 400:
                return response
            try:
                raw = read_limited(response, _ERROR_BODY_LIMIT, cut=True, window=core.timeout.read)
            except httpx.TransportError:
                raw = b""
            finally:
                response.close()
            self._sleep(
                core.retry_after_status(attempt, response.status_code, raw, response.headers, body)
            )
        raise AssertionError("unreachable: the last attempt raises")

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = self._send(method, path, body)
        try:
            raw = read_limited(response, self._core.max_event_bytes, window=self._core.timeout.read)
        except httpx.TransportError as exc:
            raise self._core.transport_error(exc) from None
        finally:
            response.close()
        obj = self._core.parse_json(raw, "response")
        self._core.check_body_error(obj)
        return obj

    # API
    def chat(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply:
        """Ask once and wait for the whole answer. Options: see `Client.stream`."""
        body = self._core.chat_body(prompt, stream=False, **options)
        return self._core.reply_from_completion(self._json("POST", "chat/completions", body))

    def stream(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Stream:
        """Ask and stream the answer: ``with client.stream("hi") as s: for event in s: ...``.

        Options: model, system, temperature (0–2), top_p (0–1), max_tokens (>= 1),
        frequency_penalty and presence_penalty (−2–2), stop, n (>= 1), json, response_format,
        thinking (True, "low", "medium", "high" or a token budget), attachments, extra_body.
        They are validated here, before anything is sent.
        """
        return Stream(self, self._core.chat_body(prompt, stream=True, **options))

    def models(self) -> list[Model]:
        """The models the gateway offers (ids without a leading ``models/``)."""
        return parse_models(self._json("GET", "models"))

    def embed(
        self, texts: str | Sequence[str], *, model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        """One vector per text, in input order (requests of at most 100 texts each)."""
        vectors: list[list[float]] = []
        for body in embedding_bodies(texts, model=model, dimensions=dimensions):
            vectors.extend(
                parse_embeddings(self._json("POST", "embeddings", body), len(body["input"]))
            )
        return vectors


class AsyncClient(_BaseClient):
    """The asyncio twin of `Client`, with the same options and methods (awaitable)."""

    def __init__(
        self, *, http_client: httpx.AsyncClient | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        super().__init__(**options)
        self._http = http_client or httpx.AsyncClient(timeout=self._core.timeout)
        self._sleep = asyncio.sleep

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(
        self, method: str, path: str, body: Any = None, *, stream: bool = False
    ) -> httpx.Response:
        core = self._core
        for attempt in range(core.max_retries + 1):
            request = self._http.build_request(method, **core.request_args(path, body, stream))
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                await self._sleep(core.retry_after_transport(attempt, exc))
                continue
            if response.status_code < 400:
                return response
            try:
                raw = await aread_limited(
                    response, _ERROR_BODY_LIMIT, cut=True, window=core.timeout.read
                )
            except httpx.TransportError:
                raw = b""
            finally:
                await response.aclose()
            await self._sleep(
                core.retry_after_status(attempt, response.status_code, raw, response.headers, body)
            )
        raise AssertionError("unreachable: the last attempt raises")

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._send(method, path, body)
        try:
            raw = await aread_limited(
                response, self._core.max_event_bytes, window=self._core.timeout.read
            )
        except httpx.TransportError as exc:
            raise self._core.transport_error(exc) from None
        finally:
            await response.aclose()
        obj = self._core.parse_json(raw, "response")
        self._core.check_body_error(obj)
        return obj

    async def chat(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply:
        body = self._core.chat_body(prompt, stream=False, **options)
        return self._core.reply_from_completion(await self._json("POST", "chat/completions", body))

    def stream(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> AsyncStream:
        return AsyncStream(self, self._core.chat_body(prompt, stream=True, **options))

    async def models(self) -> list[Model]:
        return parse_models(await self._json("GET", "models"))

    async def embed(
        self, texts: str | Sequence[str], *, model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        vectors: list[list[float]] = []
        for body in embedding_bodies(texts, model=model, dimensions=dimensions):
            obj = await self._json("POST", "embeddings", body)
            vectors.extend(parse_embeddings(obj, len(body["input"])))
        return vectors


def parse_models(obj: Any) -> list[Model]:
    data = obj.get("data") if isinstance(obj, dict) else obj
    if not isinstance(data, list):
        data = obj.get("models", []) if isinstance(obj, dict) else []
    models = []
    for item in data if isinstance(data, list) else ():  # {"models": "x"} is no model list
        if isinstance(item, dict):
            mid = item.get("id") or item.get("name")
            if not isinstance(mid, str):
                continue
            created = item.get("created")
            owned = item.get("owned_by")
            models.append(
                Model(
                    id=mid.removeprefix("models/"),
                    owned_by=owned if isinstance(owned, str) else None,
                    created=created if isinstance(created, int) else None,
                    raw=item,
                )
            )
        elif isinstance(item, str):
            models.append(Model(id=item.removeprefix("models/")))
    return models


def embedding_bodies(
    texts: str | Sequence[str], *, model: str | None, dimensions: int | None
) -> Iterator[dict[str, Any]]:
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise ValueError("embed() needs at least one text")
    if not all(isinstance(t, str) for t in items):
        raise ValueError("embed() takes a string or a list of strings")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise ValueError(f"dimensions must be a whole number >= 1; got {dimensions!r}")
    for start in range(0, len(items), EMBED_BATCH):
        body: dict[str, Any] = {
            "model": model or DEFAULT_EMBEDDING_MODEL,
            "input": items[start : start + EMBED_BATCH],
        }
        if dimensions is not None:
            body["dimensions"] = dimensions
        yield body


def parse_embeddings(obj: Any, expected: int) -> list[list[float]]:
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list):
        raise ServerError("The gateway's embeddings answer has no 'data' list.", status_code=200)
    try:
        vectors = order_embeddings(data)
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a vector of objects, bad base64
        raise ServerError(
            f"The gateway's embeddings answer is malformed ({type(exc).__name__}: {exc}).",
            status_code=200,
        ) from None
    if len(vectors) != expected:
        raise ServerError(
            f"The gateway returned {len(vectors)} embeddings for {expected} texts.", status_code=200
        )
    return vectors
