"""`FakeGateway`: a loopback HTTP/1.1 server that answers like an OpenAI-compatible Gemini gateway.

Standard library only; requests are handled in `_handler`, answers decided in `_responses`.
"""

from __future__ import annotations

import collections
import hmac
import selectors
import socket
import threading
import time
from types import TracebackType
from typing import Any

from ._directives import (
    IMAGE_SHAPES,
    REASONING_SHAPES,
    check_combination,
    check_fault,
    check_options,
)
from ._handler import GatewayServer
from ._records import RecordedRequest
from ._responses import ServeDefaults

__all__ = ["FakeGateway"]


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
        self._server: GatewayServer | None = None
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
        self._server = GatewayServer((self.host, self._port), self)
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

    def _defaults(self) -> ServeDefaults:
        return ServeDefaults(self.chunk_chars, self.delay, self.image_shape, self.reasoning_shape)

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
