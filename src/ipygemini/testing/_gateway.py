"""`FakeGateway`: a loopback HTTP/1.1 server that answers like an OpenAI-compatible Gemini gateway.

Standard library only (http.server with one thread per connection, keep-alive, chunked SSE).
"""

from __future__ import annotations

import base64
import collections
import functools
import hmac
import itertools
import json
import re
import selectors
import socket
import threading
import time
import zlib
from collections.abc import Collection, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from ._answers import GatewayError, bad_image_urls, image_for, plan_chat, read_prompt
from ._directives import (
    IMAGE_SHAPES,
    REASONING_SHAPES,
    DirectiveError,
    Directives,
    check_combination,
    check_fault,
    check_options,
    parse_spec,
)
from ._records import RecordedRequest, all_attachments
from ._wire import (
    DONE,
    JUNK_AFTER_DONE,
    MODEL_IDS,
    chat_completion,
    chat_events,
    dumps,
    embeddings_body,
    error_body,
    keepalive,
    litellm_headers,
    model_entry,
    models_body,
    new_request_id,
)

__all__ = ["FakeGateway"]

# /moved/...: where the redirect fault sends clients by default (served like the real paths).
_PREFIXES = ("/v1beta/openai", "/v1", "/moved/v1beta/openai", "/moved/v1")
_WRITE_BLOCK = 1 << 20  # bytes per HTTP chunk when writing a pre-built stream
_SECRET_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
_SECRET_QUERY = re.compile(r"([?&](?:key|api_key)=)[^&#]*", re.IGNORECASE)

_STATUS_MESSAGES = {
    500: "internal server error",
    502: "bad gateway",
    503: "The model is overloaded. Please try again later.",
    504: "gateway timeout",
    524: "a timeout occurred while waiting for the upstream",
    529: "the upstream is overloaded",
}


@functools.lru_cache(maxsize=4)
def _gzip_of_spaces(megabytes: int) -> bytes:
    """A small gzip stream that inflates to `megabytes` MB of spaces (a decompression bomb)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


def _mask(value: str) -> str:
    scheme, _, token = value.partition(" ")
    if not token:
        scheme, token = "", value
    hint = f"…{token[-4:]}" if len(token) >= 8 else "…"
    return f"{scheme} {hint}".strip()


def _route(method: str, path: str) -> str | None:
    """The endpoint name for a request (``models``, ``model:<id>``, ``embeddings``, ``chat``)."""
    for prefix in _PREFIXES:
        if path.startswith(prefix + "/"):
            rest = path[len(prefix) :].rstrip("/")
            break
    else:
        return None
    if method == "GET" and rest == "/models":
        return "models"
    if method == "GET" and rest.startswith("/models/") and len(rest) > len("/models/"):
        return "model:" + rest[len("/models/") :]
    if method == "POST" and rest == "/embeddings":
        return "embeddings"
    if method == "POST" and rest == "/chat/completions":
        return "chat"
    return None


def _event_code(directives: Directives) -> str | int:
    """The error_event fault's ``code``: as given (a number or a word), else the string "500"."""
    code = directives.options.get("code", "500")
    return code if isinstance(code, str | int) else "500"


class _Aborted(Exception):
    """The response cannot go on (client gone or gateway stopping); close the connection."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    timeout = 0.0  # handle_request() must never block: the accept loop selects first

    def __init__(self, address: tuple[str, int], gateway: FakeGateway) -> None:
        self.gateway = gateway
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.socket.setblocking(False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are expected here (clients hang up); stay quiet about them."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    # --- plumbing ----------------------------------------------------------------------------

    def setup(self) -> None:
        self.connection = self.request
        self.connection.setblocking(True)
        super().setup()
        self.gateway = self.server.gateway
        self.gateway._opened(self.connection)
        self._sent_headers = False
        self._chunked = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.gateway._closed(self.connection)

    def version_string(self) -> str:
        return "FakeGateway/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the fake is used inside notebooks and test runs."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_PUT = do_POST
    do_PATCH = do_POST
    do_DELETE = do_POST
    do_OPTIONS = do_POST

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError:
            if not self.gateway._stopping.is_set():
                self.gateway._note_disconnect()
            raise _Aborted from None

    def _write_chunks(self, data: bytes) -> None:
        for start in range(0, len(data), _WRITE_BLOCK):
            piece = data[start : start + _WRITE_BLOCK]
            self._write(b"%x\r\n" % len(piece) + piece + b"\r\n" if self._chunked else piece)

    def _client_gone(self) -> bool:
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _wait(self, seconds: float) -> None:
        """Pause the response, ending early (with _Aborted) when the gateway stops or the client
        hangs up; the client's socket and the gateway's wake-up socket are watched with select."""
        deadline = time.monotonic() + seconds
        wake = self.gateway._wake_reader
        if wake is None:
            raise _Aborted
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(self.connection, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
            except (OSError, ValueError):
                raise _Aborted from None
            self._wait_on(selector, wake, deadline)

    def _wait_on(
        self, selector: selectors.BaseSelector, wake: socket.socket, deadline: float
    ) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self.gateway._stopping.is_set():
                raise _Aborted
            try:
                readable = {key.fileobj for key, _ in selector.select(remaining)}
            except (OSError, ValueError):
                raise _Aborted from None
            if wake in readable:
                raise _Aborted
            if self.connection in readable:
                if self._client_gone():
                    self.gateway._note_disconnect()
                    raise _Aborted
                # The client sent more bytes (a pipelined request); only the stop signal can
                # interrupt now, checked in short steps.
                if self.gateway._stopping.wait(min(remaining, 0.1)):
                    raise _Aborted

    def _start(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, **self._extra_headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self._sent_headers = True

    def _send(
        self, status: int, body: Any, headers: Mapping[str, str] | None = None, *, raw: bool = False
    ) -> None:
        data = body if raw else dumps(body).encode()
        all_headers = {"X-Oneapi-Request-Id": self.request_id}
        if data or not raw:
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        all_headers["Content-Length"] = str(len(data))
        all_headers.update(headers or {})
        self._start(status, all_headers)
        if data:
            self._write(data)

    # --- request handling --------------------------------------------------------------------

    def _dispatch(self) -> None:
        self.request_id = new_request_id()
        self._extra_headers: dict[str, str] = {}
        try:
            try:
                raw = self._read_body()
            except ValueError:
                self.close_connection = True
                self._send(400, error_body("Invalid request body", "invalid_request_error", ""))
                return
            try:
                self._handle(raw)
            except GatewayError as exc:
                self._send_error(exc)
        except _Aborted:
            self.close_connection = True
        except Exception as exc:  # a bug in the fake: answer 500 rather than hang the client
            self.close_connection = True
            if not self._sent_headers:
                message = f"FakeGateway internal error: {type(exc).__name__}: {exc}"
                try:
                    self._send(500, error_body(message, "new_api_error", "fake_gateway_bug"))
                except _Aborted:
                    pass

    def _send_error(self, exc: GatewayError) -> None:
        if exc.body is None:
            self._send(exc.status, b"", exc.headers, raw=True)
        else:
            self._send(exc.status, exc.body, exc.headers)

    def _handle(self, raw: bytes) -> None:
        gateway = self.gateway
        method = self.command
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        authorized = gateway._authorized(headers.get("authorization", ""))
        shown = {k: _mask(v) if k in _SECRET_HEADERS else v for k, v in headers.items()}
        gateway._record(
            RecordedRequest(
                method=method,
                path=_SECRET_QUERY.sub(r"\1…", self.path),
                headers=shown,
                body=body,
                attachments=all_attachments(body),
                authorized=authorized,
            )
        )
        route = _route(method, path)
        if route is None:
            message = f"Invalid URL ({method} {path})"
            raise GatewayError(404, error_body(message, "invalid_request_error", "", param=""))
        if not authorized:
            message = f"Invalid token (request id: {self.request_id})"
            raise GatewayError(401, error_body(message, "new_api_error", ""))
        directives = Directives()
        queued = gateway._next_fault()
        if queued is not None:
            directives.add([queued[0]], queued[1])
        spec = headers.get("x-fake-fault")
        try:
            if spec:
                directives.add(*parse_spec(spec))
        except DirectiveError as exc:
            raise GatewayError(
                400,
                error_body(
                    f"X-Fake-Fault: {exc}", "invalid_request_error", "fake_directive", param=""
                ),
            ) from None
        if route == "chat" and isinstance(body, Mapping):
            _, found = read_prompt(body)
            directives.add(found.faults, found.options)
        if directives.has("litellm"):
            model = body.get("model") if isinstance(body, Mapping) else None
            self._extra_headers = litellm_headers(self.request_id, model)
        try:
            check_combination(directives.faults, directives.options)
        except DirectiveError as exc:
            message = f"FakeGateway directive: {exc}"
            raise GatewayError(
                400, error_body(message, "invalid_request_error", "fake_directive", param="")
            ) from None
        if self._immediate_fault(directives, body):
            return
        if route == "models":
            self._send_plain(200, models_body(gateway.model_prefix), directives)
        elif route.startswith("model:"):
            self._retrieve_model(route[len("model:") :], directives)
        elif route == "embeddings":
            result = embeddings_body(body, index_bug=directives.has("index_bug"))
            self._send_plain(200, result, directives)
        else:
            self._chat(body, directives)

    def _immediate_fault(self, directives: Directives, body: Any) -> bool:
        """Answer with the queued fault if it replaces the whole response; True if it did."""
        fault = directives.immediate_fault()
        if fault is None:
            return False
        rid = self.request_id
        if fault == "reset":
            raise _Aborted
        if fault == "rate_limit":
            headers = {}
            if "retry_after" in directives.options:
                headers["Retry-After"] = directives.get_str("retry_after", "1")
            if "retry_after_ms" in directives.options:
                headers["retry-after-ms"] = str(directives.get_int("retry_after_ms", 1000))
            message = f"You have reached the request limit: at most 60 requests per minute (request id: {rid})"
            raise GatewayError(
                429, error_body(message, "new_api_error", "rate_limit_exceeded"), headers
            )
        if fault == "status":
            status = directives.get_int("code", 500)
            reason = _STATUS_MESSAGES.get(status, f"upstream returned status {status}")
            body_ = error_body(f"{reason} (request id: {rid})", "upstream_error", status, param="")
            raise GatewayError(status, body_)
        if fault == "model_not_found":
            model = body.get("model") if isinstance(body, Mapping) else None
            message = f"No available channel for model {model or 'unknown'} under group default (distributor)"
            raise GatewayError(503, error_body(message, "new_api_error", "model_not_found"))
        if fault == "array_error":
            message = 'Invalid JSON payload received. Unknown name "thinking": Cannot find field.'
            raise GatewayError(
                400, [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]
            )
        if fault == "redirect":
            origin = self.gateway.base_url.removesuffix("/v1")
            location = directives.get_str("location", f"{origin}/moved{self.path}")
            code = directives.get_int("code", 307)
            self._send(code, b"", {"Location": location}, raw=True)
            return True
        if fault == "empty_error":
            raise GatewayError(directives.get_int("code", 429), None)
        if fault == "gzip_bomb":
            data = _gzip_of_spaces(directives.get_int("mb", 100))
            stream = isinstance(body, Mapping) and body.get("stream") is True
            kind = "text/event-stream" if stream else "application/json"
            headers = {"Content-Type": kind, "Content-Encoding": "gzip"}
            self._start(200, {**headers, "Content-Length": str(len(data))})
            self._write(data)
            return True
        return False

    def _send_plain(self, status: int, body: Any, directives: Directives) -> None:
        """A JSON answer, honouring stall (pause first) and disconnect (cut the body)."""
        if directives.has("stall"):
            self._wait(directives.get_float("seconds", 30.0))
        if directives.has("disconnect"):
            data = dumps(body).encode()
            self._start(
                status,
                {
                    "Content-Type": "application/json; charset=utf-8",
                    "Content-Length": str(len(data)),
                },
            )
            self._write(data[: len(data) // 2])
            raise _Aborted
        self._send(status, body)

    def _retrieve_model(self, model_id: str, directives: Directives) -> None:
        prefix = self.gateway.model_prefix
        bare = model_id[len(prefix) :] if prefix and model_id.startswith(prefix) else model_id
        if bare not in MODEL_IDS:
            message = f"The model '{model_id}' does not exist"
            raise GatewayError(
                404, error_body(message, "invalid_request_error", "model_not_found", param="model")
            )
        self._send_plain(200, model_entry(prefix + bare), directives)

    def _chat(self, body: Any, directives: Directives) -> None:
        gateway = self.gateway
        plan = plan_chat(body, directives)
        image_shape = directives.get_str("image_shape", gateway.image_shape)
        reasoning_shape = directives.get_str("reasoning_shape", gateway.reasoning_shape)
        image_url = None
        if plan.is_image:
            png = image_for(body, directives)
            image_url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        extra_images = bad_image_urls(body, directives) if directives.has("bad_images") else ()
        created = int(time.time())
        no_usage = directives.has("no_usage")
        if not body.get("stream") or directives.has("ignore_stream"):
            if directives.has("error_event"):
                code = _event_code(directives)
                status = code if isinstance(code, int) and 400 <= code <= 599 else 500
                message = f"upstream error: overloaded (request id: {self.request_id})"
                raise GatewayError(status, error_body(message, "upstream_error", code))
            result = chat_completion(
                plan,
                request_id=self.request_id,
                created=created,
                image_url=image_url,
                image_shape=image_shape,
                reasoning_shape=reasoning_shape,
                no_finish=directives.has("no_finish"),
                no_usage=no_usage,
                error_null=directives.has("error_null"),
                extra_images=extra_images,
            )
            self._send_plain(200, result, directives)
            return
        options = body.get("stream_options")
        include_usage = not (isinstance(options, Mapping) and options.get("include_usage") is False)
        events = chat_events(
            plan,
            request_id=self.request_id,
            created=created,
            chunk_chars=directives.get_int("chunk_chars", gateway.chunk_chars),
            image_url=image_url,
            image_shape=image_shape,
            reasoning_shape=reasoning_shape,
            no_finish=directives.has("no_finish"),
            include_usage=include_usage and not no_usage,
            error_null=directives.has("error_null"),
            extra_images=extra_images,
        )
        after = len(events.head) + directives.get_int("after", 3)
        sequence = events.head + events.body
        pause_at: int | None = None
        close = False
        splits: set[int] = set()
        if directives.has("error_event"):
            error = events.error_event(code=_event_code(directives))
            sequence = [*sequence[:after], error, *events.usage, DONE]
        elif directives.has("disconnect"):
            sequence = sequence[:after]
            close = True
        else:
            sequence = [*sequence, *events.usage, DONE]
            if directives.has("stall"):
                pause_at = min(after, len(sequence) - 1)
            elif directives.has("silent_after_done"):
                pause_at = len(sequence)
            if directives.has("close_after_done"):
                close = True
            if directives.has("junk_after_done"):
                if directives.get_int("same_write", 0):
                    sequence[-1] += b"".join(JUNK_AFTER_DONE)
                else:
                    splits = {len(sequence) + i for i in range(len(JUNK_AFTER_DONE))}
                    sequence.extend(JUNK_AFTER_DONE)
        if directives.has("keepalive"):
            sequence = keepalive(sequence)
        default_delay = 0.05 if directives.has("slow") else gateway.delay
        delay = directives.get_float("delay", default_delay)
        self._stream(
            sequence,
            delay=delay,
            pause_at=pause_at,
            pause=directives.get_float("seconds", 30.0),
            close=close,
            splits=splits,
        )

    def _stream(
        self,
        events: list[bytes],
        *,
        delay: float,
        pause_at: int | None,
        pause: float,
        close: bool,
        splits: Collection[int] = (),
    ) -> None:
        """Write `events` (one write each when `delay` > 0, else as few writes as `splits` and
        `pause_at` allow), pausing `pause` seconds before event `pause_at` (== len(events): after
        the last one), then end the chunked body, or close the connection without ending it."""
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no",
            "X-Oneapi-Request-Id": self.request_id,
            "Transfer-Encoding": "chunked",
        }
        if self.request_version != "HTTP/1.1":  # no chunked encoding: the body ends at close
            del headers["Transfer-Encoding"]
            headers["Connection"] = "close"
            self._chunked = False
            self.close_connection = True
        self._start(200, headers)
        if delay > 0:
            for i, item in enumerate(events):
                if i == pause_at:
                    self._wait(pause)
                elif i:
                    self._wait(delay)
                self._write_chunks(item)
            if pause_at == len(events):
                self._wait(pause)
        else:
            pause_cut = [] if pause_at is None else [pause_at]
            cuts = sorted({0, len(events), *splits, *pause_cut})
            for start, end in itertools.pairwise(cuts):
                if start == pause_at:
                    self._wait(pause)
                self._write_chunks(b"".join(events[start:end]))
            if pause_at == len(events):
                self._wait(pause)
        if close:
            raise _Aborted
        if self._chunked:
            self._write(b"0\r\n\r\n")


class FakeGateway:
    """A local OpenAI-compatible gateway serving fake Gemini models, for tests and tutorials.

    It answers deterministically (see `answer_for`), records every request, and can be told to
    misbehave in the ways real gateways do (`push_fault`, an ``X-Fake-Fault`` header, or
    ``[fake:...]`` directives in the prompt). Use it as a context manager::

        with FakeGateway() as gw:
            client = OpenAI(base_url=gw.base_url, api_key=gw.api_key)
    """

    def __init__(
        self,
        *,
        api_key: str = "fake-key",
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_chars: int = 12,
        delay: float = 0.0,
        image_shape: str = "markdown",
        reasoning_shape: str = "reasoning_content",
        model_prefix: str = "",
    ) -> None:
        if image_shape not in IMAGE_SHAPES:
            raise ValueError(f"image_shape must be one of {', '.join(IMAGE_SHAPES)}")
        if reasoning_shape not in REASONING_SHAPES:
            raise ValueError(f"reasoning_shape must be one of {', '.join(REASONING_SHAPES)}")
        if chunk_chars < 1:
            raise ValueError("chunk_chars must be >= 1")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.api_key = api_key
        self.host = host
        self.chunk_chars = chunk_chars
        self.delay = delay
        self.image_shape = image_shape
        self.reasoning_shape = reasoning_shape
        self.model_prefix = model_prefix
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.disconnects = 0
        self._port = port
        self._bound_port = 0
        self._lock = threading.Lock()
        self._faults: collections.deque[list[Any]] = collections.deque()
        self._disconnected = threading.Event()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._accept_thread: threading.Thread | None = None
        self._wake_reader: socket.socket | None = None
        self._wake_writer: socket.socket | None = None
        self._open: dict[socket.socket, threading.Thread] = {}

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (the one chosen by the OS when constructed with port 0, after start())."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._bound_port or self._port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/v1``."""
        if self.port == 0:
            raise RuntimeError("FakeGateway(port=0) has no port yet: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FakeGateway:
        """Bind the port and serve in a background (daemon) thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeGateway is already running")
        self._stopping.clear()
        self._server = _Server((self.host, self._port), self)
        self._bound_port = int(self._server.server_address[1])
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"FakeGateway:{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def _accept_loop(self) -> None:
        server, wake = self._server, self._wake_reader
        assert server is not None and wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(server.socket, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while True:
                try:
                    ready = {key.fileobj for key, _ in selector.select()}
                except (OSError, ValueError):
                    return
                if wake in ready:
                    return
                server.handle_request()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving: close idle connections and end running (even stalled) streams now."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        assert self._wake_writer is not None
        try:
            self._wake_writer.send(b"x")
        except OSError:
            pass
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            open_connections = dict(self._open)
        for sock in open_connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        deadline = time.monotonic() + timeout
        for thread in open_connections.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._accept_thread = None
        for sock_ in (self._wake_reader, self._wake_writer):
            if sock_ is not None:
                sock_.close()
        self._wake_reader = self._wake_writer = None

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.port else "not started"
        state = "running" if self.running else "stopped"
        return f"<FakeGateway {where} {state} requests={len(self.requests)}>"

    # --- scripting and inspection ------------------------------------------------------------

    def push_fault(self, name: str, *, count: int = 1, **options: object) -> None:
        """Make the next `count` requests (to any endpoint) misbehave as `name`.

        Queued faults are used first in, first out, one per request. Raises ValueError for an
        unknown fault or option.
        """
        check_fault(name)
        checked = check_options(options)
        check_combination([name], checked)
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append([name, checked, count])

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Wait until a client has hung up mid-response (since start or the last `clear`)."""
        return self._disconnected.wait(timeout)

    def clear(self) -> None:
        """Forget recorded requests, queued faults, and the connection/disconnect counters."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.connections = 0
            self.disconnects = 0
            self._disconnected.clear()

    # --- used by the handler -----------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_fault(self) -> tuple[str, dict[str, object]] | None:
        with self._lock:
            if not self._faults:
                return None
            entry = self._faults[0]
            entry[2] -= 1
            if entry[2] <= 0:
                self._faults.popleft()
            return entry[0], dict(entry[1])

    def _note_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1
        self._disconnected.set()

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open[sock] = threading.current_thread()
        if self._stopping.is_set():  # accepted while stop() was running: end it at once
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.pop(sock, None)
