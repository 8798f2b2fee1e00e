"""The HTTP side of `FakeGateway`: the server and the request handler that reads and writes.

It routes, records, writes JSON and chunked SSE, and pauses until the client or gateway quits.
"""

from __future__ import annotations

import itertools
import json
import selectors
import socket
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._chat_request import GatewayError
from ._directives import Directives
from ._endpoints import MODEL_IDS, embeddings_body, model_entry, models_body, route_of
from ._limits import BodyTooLarge, rate_limited, read_body, too_large
from ._records import (
    RecordedRequest,
    all_attachments,
    last_user_message,
    masked_headers,
    masked_path,
    message_text,
)
from ._responses import StreamScript, chat_answer, collect_directives, fault_answer
from ._wire import dumps, error_body, litellm_headers, new_request_id

if TYPE_CHECKING:
    from ._gateway import FakeGateway

__all__ = ["GatewayServer"]

_WRITE_BLOCK = 1 << 20  # bytes per HTTP chunk when writing a pre-built stream


class _Aborted(Exception):
    """The response cannot go on (client gone or gateway stopping); close the connection."""


class GatewayServer(ThreadingHTTPServer):
    """One thread per connection (no pool, no cap); `FakeGateway` runs its accept loop. The
    listen backlog is large enough for bursts of a few hundred simultaneous connections."""

    daemon_threads = True
    request_queue_size = 512
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
    server: GatewayServer

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
        if self._entry is not None:
            self._entry.status = status
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
        self._entry: RecordedRequest | None = None
        gateway = self.gateway
        gateway._begin()
        try:
            wait = gateway._admit()
            raw: bytes | None = None
            refusal: GatewayError | None = None
            try:
                raw = read_body(
                    self.rfile,
                    self.headers.get("Transfer-Encoding", ""),
                    self.headers.get("Content-Length", ""),
                    gateway.max_body_bytes,
                )
            except BodyTooLarge as exc:
                self.close_connection = True  # the body was not read
                refusal = too_large(gateway.max_body_bytes or 0, exc.size)
            except ValueError:
                self.close_connection = True
                self._send(400, error_body("Invalid request body", "invalid_request_error", ""))
                return
            self._record(raw)
            if wait is not None:
                limit = gateway.rate_limit or 0
                retry_after = gateway.rate_limit_retry_after
                refusal = rate_limited(
                    limit, gateway.rate_window, wait, self.request_id, retry_after=retry_after
                )
            try:
                if refusal is not None:
                    raise refusal
                self._handle()
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
        finally:
            gateway._end()

    def _record(self, raw: bytes | None) -> None:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._entry = RecordedRequest(
            method=self.command,
            path=masked_path(self.path),
            headers=masked_headers(headers),
            body=body,
            attachments=all_attachments(body),
            authorized=self.gateway._authorized(headers.get("authorization", "")),
        )
        self.gateway._record(self._entry)

    def _send_error(self, exc: GatewayError) -> None:
        if exc.body is None:
            self._send(exc.status, b"", exc.headers, raw=True)
        else:
            self._send(exc.status, exc.body, exc.headers)

    def _handle(self) -> None:
        gateway = self.gateway
        method = self.command
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        assert self._entry is not None
        body, authorized = self._entry.body, self._entry.authorized
        route = route_of(method, path)
        if route is None:
            message = f"Invalid URL ({method} {path})"
            raise GatewayError(404, error_body(message, "invalid_request_error", "", param=""))
        if not authorized:
            message = f"Invalid token (request id: {self.request_id})"
            raise GatewayError(401, error_body(message, "new_api_error", ""))
        chat_body = body if route == "chat" else None
        directives = collect_directives(
            gateway._next_fault(), headers.get("x-fake-fault"), chat_body
        )
        if "fail_times" in directives.options:
            directives = self._after_failures(directives, body, method, path)
        if route == "chat":
            self._wait_latency()
        if directives.has("litellm"):
            model = body.get("model") if isinstance(body, Mapping) else None
            self._extra_headers = litellm_headers(self.request_id, model)
        fault = directives.immediate_fault()
        if fault == "redirect" and path.startswith("/moved/"):
            fault = None  # where redirects lead is served normally, so following never loops
        if fault == "reset":
            raise _Aborted
        if fault is not None:
            origin = gateway.base_url.removesuffix("/v1")
            answer = fault_answer(
                fault, directives, body, request_id=self.request_id, target=self.path, origin=origin
            )
            self._start(answer.status, answer.headers)
            if answer.body:
                self._write(answer.body)
        elif route == "models":
            self._send_plain(200, models_body(gateway.model_prefix), directives)
        elif route.startswith("model:"):
            self._retrieve_model(route[len("model:") :], directives)
        elif route == "embeddings":
            result = embeddings_body(body, index_bug=directives.has("index_bug"))
            self._send_plain(200, result, directives)
        else:
            answer_ = chat_answer(
                body, directives, gateway._defaults(), self.request_id, gateway._plan_hooks()
            )
            if isinstance(answer_, StreamScript):
                self._play(answer_)
            else:
                self._send_plain(200, answer_, directives)

    def _after_failures(
        self, directives: Directives, body: Any, method: str, path: str
    ) -> Directives:
        """`directives` without faults once their prompt has been seen more than fail_times."""
        message = last_user_message(body)
        key = message_text(message.get("content")) if message else f"{method} {path}"
        if self.gateway._seen_again(key) > directives.get_int("fail_times", 0):
            return Directives(options=dict(directives.options))
        return directives

    def _wait_latency(self) -> None:
        """Wait `gateway.latency` seconds from now, re-reading it so a change applies at once."""
        start = time.monotonic()
        while (remaining := start + self.gateway.latency - time.monotonic()) > 0:
            self._wait(min(remaining, 0.05))

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

    def _play(self, script: StreamScript) -> None:
        """Send a chat stream as `script` says (see StreamScript)."""
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
        events, pause_at = script.events, script.pause_at
        if script.delay > 0:
            for i, item in enumerate(events):
                if i == pause_at:
                    self._wait(script.pause)
                elif i:
                    self._wait(script.delay)
                self._write_chunks(item)
        else:
            cuts = sorted(
                {0, len(events), *script.splits, *([] if pause_at is None else [pause_at])}
            )
            for start, end in itertools.pairwise(cuts):
                if start == pause_at:
                    self._wait(script.pause)
                self._write_chunks(b"".join(events[start:end]))
        if pause_at == len(events):
            self._wait(script.pause)
        if script.close:
            raise _Aborted
        if self._chunked:
            self._write(b"0\r\n\r\n")
