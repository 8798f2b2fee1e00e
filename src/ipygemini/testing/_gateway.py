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
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ._answers import PlanHooks
from ._directives import (
    IMAGE_SHAPES,
    REASONING_SHAPES,
    TOOL_FINISH_REASONS,
    check_combination,
    check_fault,
    check_options,
)
from ._handler import GatewayServer
from ._limits import RateWindow
from ._records import RecordedRequest
from ._responses import ServeDefaults
from ._tool_calls import ScriptedCall, check_script

__all__ = ["FakeGateway"]


class FakeGateway:
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
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.disconnects = 0
        self.accepted = 0
        self.refused = 0
        self.bad_json_sent = 0
        self.peak_in_flight = 0
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self._window = RateWindow()
        self._prompts_seen: collections.Counter[str] = collections.Counter()
        self._tool_rounds: collections.deque[list[ScriptedCall]] = collections.deque()
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

    def script_tool_calls(self, rounds: Sequence[Sequence[ScriptedCall]]) -> None:
        """Queue answers made of tool calls: each round is the calls of one answer, e.g.
        ``[[("get_weather", {"city": "Paris"})], [("a", {}), ("b", {"x": 1})]]`` (several calls =
        parallel calls; arguments may also be a raw JSON string, sent as is; an empty round =
        a text answer). A chat request that declares ``tools`` (and whose ``tool_choice`` is not
        "none") takes the next round; with none queued the default applies (the first tool is
        called once, then tool results are quoted in text)."""
        checked = check_script(rounds)
        with self._lock:
            self._tool_rounds.extend(checked)

    @property
    def pending_tool_rounds(self) -> int:
        """Scripted tool-call rounds not used yet."""
        return len(self._tool_rounds)

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._in_flight

    def wait_for_in_flight(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least `count` requests are being handled at once."""
        with self._in_flight_changed:
            return self._in_flight_changed.wait_for(lambda: self._in_flight >= count, timeout)

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Wait until a client has hung up mid-response (since start or the last `clear`)."""
        return self._disconnected.wait(timeout)

    def clear(self) -> None:
        """Forget recorded requests, queued faults and tool-call rounds, prompts seen (fail_times),
        the rate-limit window, and the counters (connections, disconnects, accepted, refused,
        bad_json_sent, peak_in_flight). Settings stay."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._tool_rounds.clear()
            self._prompts_seen.clear()
            self._window.reset()
            self.connections = 0
            self.disconnects = 0
            self.accepted = 0
            self.refused = 0
            self.bad_json_sent = 0
            self.peak_in_flight = self._in_flight
            self._disconnected.clear()

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

    def _next_tool_round(self) -> list[ScriptedCall] | None:
        with self._lock:
            return self._tool_rounds.popleft() if self._tool_rounds else None

    def _spend_bad_json(self, times: int) -> bool:
        with self._lock:
            if self.bad_json_sent >= times:
                return False
            self.bad_json_sent += 1
            return True

    def _admit(self) -> float | None:
        """Count a request in the rate window: None when let through, else seconds to wait."""
        with self._lock:
            wait = self._window.admit(self.rate_limit, self.rate_window, time.monotonic())
            if wait is None:
                self.accepted += 1
            else:
                self.refused += 1
            return wait

    def _seen_again(self, key: str) -> int:
        """How many times `key` (a prompt) has been seen, this time included."""
        with self._lock:
            self._prompts_seen[key] += 1
            return self._prompts_seen[key]

    def _begin(self) -> None:
        with self._in_flight_changed:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self._in_flight_changed.notify_all()

    def _end(self) -> None:
        with self._in_flight_changed:
            self._in_flight -= 1
            self._in_flight_changed.notify_all()

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
