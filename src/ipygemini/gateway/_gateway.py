"""`FakeGateway`: a loopback HTTP/1.1 server that answers like an OpenAI-compatible Gemini gateway.

Standard library only; requests are handled in `_handler`, answers decided in `_responses`,
and what it keeps between requests (records, queues, counters) lives in `_ledger`.
"""

from __future__ import annotations

import hmac
import selectors
import socket
import threading
import time
from types import TracebackType

from ._answers import PlanHooks
from ._directives import (
    IMAGE_SHAPES,
    REASONING_SHAPES,
    TOOL_FINISH_REASONS,
)
from ._handler import GatewayServer
from ._ledger import GatewayLedger
from ._responses import ServeDefaults

__all__ = ["FakeGateway"]


class FakeGateway(GatewayLedger):
    """A local OpenAI-compatible gateway serving fake Gemini models, for tests and tutorials.

    It answers deterministically (see `answer_for`), records every request, and can be told to
    misbehave in the ways real gateways do (`push_fault`, an ``X-Fake-Fault`` header, or
    ``[fake:...]`` directives in the prompt). Use it as a context manager::

        with FakeGateway() as gw:
            client = OpenAI(base_url=gw.base_url, api_key=gw.api_key)

    Gateway-wide settings (constructor arguments, also assignable while it runs):

    - `rate_limit`: at most this many requests per `rate_window` seconds (default 1), counted in
      fixed windows over every request, refused ones included; over it a 429 with a new-api
      body and ``Retry-After`` (seconds until the window ends, rounded up; left out when
      `rate_limit_retry_after` is false). None: no limit. `refused` counts these 429s,
      `accepted` the requests let through.
    - `latency`: seconds before the first byte of every chat answer (error answers included);
      waiting requests do not block each other and see a changed value at once.
    - `max_body_bytes`: a larger request body gets a 413 (the body is not read; the connection
      closes). None: no limit.
    - `no_json_schema`: refuse ``response_format`` type ``json_schema`` with a 400.
    - `tool_finish`: the finish_reason of answers with tool calls ("stop" as Gemini gateways
      send, or "tool_calls").
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
        rate_limit: float | None = None,
        rate_window: float = 1.0,
        rate_limit_retry_after: bool = True,
        latency: float = 0.0,
        max_body_bytes: int | None = None,
        no_json_schema: bool = False,
        tool_finish: str = "stop",
    ) -> None:
        super().__init__()
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
        if rate_window <= 0:
            raise ValueError("rate_window must be > 0 seconds")
        if tool_finish not in TOOL_FINISH_REASONS:
            raise ValueError(f"tool_finish must be one of {', '.join(TOOL_FINISH_REASONS)}")
        self.api_key = api_key
        self.host = host
        self.chunk_chars = chunk_chars
        self.delay = delay
        self.image_shape = image_shape
        self.reasoning_shape = reasoning_shape
        self.model_prefix = model_prefix
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.rate_limit_retry_after = rate_limit_retry_after
        self.latency = latency
        self.max_body_bytes = max_body_bytes
        self.no_json_schema = no_json_schema
        self.tool_finish = tool_finish
        self._port = port
        self._bound_port = 0
        self._stopping = threading.Event()
        self._server: GatewayServer | None = None
        self._accept_thread: threading.Thread | None = None
        self._wake_reader: socket.socket | None = None
        self._wake_writer: socket.socket | None = None
        self._open: dict[socket.socket, threading.Thread] = {}

    # --- settings checked when assigned -------------------------------------------------------

    @property
    def rate_limit(self) -> float | None:
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise ValueError("rate_limit must be a number of requests > 0, or None for no limit")
        self._rate_limit = value

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        if isinstance(value, bool) or not value >= 0:
            raise ValueError("latency must be a number of seconds >= 0")
        self._latency = float(value)

    @property
    def max_body_bytes(self) -> int | None:
        return self._max_body_bytes

    @max_body_bytes.setter
    def max_body_bytes(self, value: int | None) -> None:
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise ValueError("max_body_bytes must be a whole number of bytes >= 0, or None")
        self._max_body_bytes = value

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
        self._forget_lessons()  # a new server here: what an earlier one at this address taught
        return self

    def clear(self) -> None:
        """`GatewayLedger.clear`, and what clients learned from this gateway (its kind, a
        refused ``json_schema``, accepted thinking levels): a cleared gateway is as good as new."""
        super().clear()
        if self._server is not None:
            self._forget_lessons()

    def _forget_lessons(self) -> None:
        from ..log._gateways import forget

        forget(self.base_url)

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

    # --- used by the handler -----------------------------------------------------------------

    def _defaults(self) -> ServeDefaults:
        return ServeDefaults(self.chunk_chars, self.delay, self.image_shape, self.reasoning_shape)

    def _plan_hooks(self) -> PlanHooks:
        return PlanHooks(
            next_tool_round=self._next_tool_round,
            spend_bad_json=self._spend_bad_json,
            no_json_schema=self.no_json_schema,
            tool_finish=self.tool_finish,
        )

    def _admit(self) -> float | None:
        """Count a request in the rate window: None when let through, else seconds to wait."""
        return self._count_admission(self.rate_limit, self.rate_window, time.monotonic())

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())

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
