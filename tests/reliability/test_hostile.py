"""Hostile servers on loopback: bodies and events without end, byte dribbling, decompression
bombs, absurdly nested JSON. The clients must fail cleanly, soon, and within bounded memory.

Each server is a raw socket loop with its own bounds (bytes, seconds), so a regression makes a
test fail rather than hang. Memory is measured with tracemalloc's peak around the call.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from _reliability import recording_sleep, setting_default
from ipygemini import (
    AsyncClient,
    BadRequestError,
    Client,
    ServerError,
    StreamError,
    TimeoutError,
)

KEY = "sk-hostile-test-5a1d0c3e"
LIMIT = int(setting_default("max_event_bytes"))  # 64 MB: the default bound is what is tested
MB = 1024 * 1024
HEAD_SSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Connection: close\r\n\r\n"
)
FIRST = b'data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n'


@dataclass
class Conn:
    """One accepted connection, as seen by the hostile server."""

    sock: socket.socket
    request: bytes = b""
    sent: int = 0
    hung_up: bool = False  # the client closed while the server still had more to send
    finished: bool = False  # the server sent everything it meant to
    done: threading.Event = field(default_factory=threading.Event)  # the server is through

    def send(self, data: bytes) -> bool:
        """Send; False once the client is gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            self.hung_up = True
            return False
        self.sent += len(data)
        return True


@dataclass
class HostileServer:
    """Accepts connections on 127.0.0.1 and lets `behave(conn, stop)` write whatever it likes."""

    behave: Callable[[Conn, threading.Event], None]
    conns: list[Conn] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.threads: list[threading.Thread] = []
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn = Conn(sock)
            self.conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: Conn) -> None:
        try:
            conn.request = read_request(conn.sock)
            self.behave(conn, self.stop)
            conn.finished = not conn.hung_up
        except OSError:
            conn.hung_up = True
        finally:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()
            conn.done.set()

    def ended(self, timeout: float = 10.0) -> list[Conn]:
        """The connections, once the server is through with each (the client hung up)."""
        for conn in self.conns:
            assert conn.done.wait(timeout), "the server is still sending"
        return self.conns

    def close(self) -> None:
        self.stop.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        self.accepter.join(10)  # first: it may still be starting a connection's thread
        for thread in self.threads:
            thread.join(10)


def read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return head + b"\r\n\r\n" + body


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Conn, threading.Event], None]], HostileServer]]:
    servers: list[HostileServer] = []

    def start(behave: Callable[[Conn, threading.Event], None]) -> HostileServer:
        server = HostileServer(behave)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def measure(call: Callable[[], Any]) -> tuple[Any, BaseException | None, int]:
    """(result, exception, peak bytes traced) of `call`."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    result: Any = None
    error: BaseException | None = None
    try:
        result = call()
    except Exception as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, error, peak


def sync_stream(base_url: str, **options: Any) -> Callable[[], Any]:
    def call() -> Any:
        with Client(base_url=base_url, api_key=KEY, max_retries=0, **options) as client:
            with client.stream("hi") as stream:
                return stream.until_done()

    return call


def async_stream(base_url: str, **options: Any) -> Callable[[], Any]:
    async def main() -> Any:
        async with AsyncClient(base_url=base_url, api_key=KEY, max_retries=0, **options) as c:
            async with c.stream("hi") as stream:
                return await stream.until_done()

    return lambda: asyncio.run(main())


FRONT = {"Client": sync_stream, "AsyncClient": async_stream}


def endless(conn: Conn, stop: threading.Event, head: bytes, piece: bytes, cap: int) -> None:
    """Send `head`, then `piece` again and again until the client hangs up or `cap` bytes."""
    if not conn.send(head):
        return
    while conn.sent < cap and not stop.is_set():
        if not conn.send(piece):
            return


# --- events and bodies without end ---------------------------------------------------------------


@pytest.mark.parametrize("front_end", FRONT)
@pytest.mark.parametrize(
    ("shape", "head", "piece"),
    [
        ("one endless data: line", HEAD_SSE + FIRST + b"data: ", b"x" * MB),
        ("endless data: lines of one event", HEAD_SSE + FIRST, b"data: " + b"y" * (MB - 7) + b"\n"),
    ],
)
def test_event_above_the_bound_fails_cleanly(
    serve: Any, reliability: Any, front_end: str, shape: str, head: bytes, piece: bytes
) -> None:
    cap = 4 * LIMIT  # the server would send 256 MB
    server = serve(lambda conn, stop: endless(conn, stop, head, piece, cap))
    _, error, peak = measure(FRONT[front_end](server.base_url))
    assert isinstance(error, StreamError), repr(error)
    assert str(error) == (
        f"Stream failed: a server-sent event exceeded the {LIMIT:,}-byte limit (max_event_bytes). "
        "The partial answer is kept in the reply; run again to get the rest."
    )
    assert error.reply is not None and error.reply.text == "Hello"  # what came first is kept
    (conn,) = server.ended()
    assert conn.hung_up and conn.sent < LIMIT + 32 * MB  # it stopped reading at the bound
    assert peak < LIMIT + 32 * MB, peak  # and held no more than about one event
    reliability.record(
        "hostile",
        label=f"{shape} (would be {cap // MB} MB)",
        front_end=front_end,
        outcome="StreamError at the 64 MB max_event_bytes bound, first text kept",
        bound=f"read {conn.sent / MB:.0f} MB, peak {peak / MB:.0f} MB traced",
    )


@pytest.mark.parametrize("front_end", ["Client", "AsyncClient"])
def test_endless_json_body_is_bounded(serve: Any, reliability: Any, front_end: str) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    cap = 4 * LIMIT
    server = serve(lambda conn, stop: endless(conn, stop, head + b'{"a":"', b"z" * MB, cap))

    def sync_call() -> Any:
        with Client(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            return client.chat("hi")

    async def async_call() -> Any:
        async with AsyncClient(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            return await client.chat("hi")

    call = sync_call if front_end == "Client" else (lambda: asyncio.run(async_call()))
    _, error, peak = measure(call)
    assert isinstance(error, ServerError), repr(error)
    assert str(error) == (
        f"The gateway's response is larger than {LIMIT:,} bytes (max_event_bytes). "
        "The gateway or the model failed; this is usually temporary: try again in a moment."
    )
    (conn,) = server.ended()
    assert conn.hung_up and conn.sent < LIMIT + 32 * MB
    assert peak < LIMIT + 32 * MB, peak
    reliability.record(
        "hostile",
        label=f"endless JSON body, chat() (would be {cap // MB} MB)",
        front_end=front_end,
        outcome="ServerError at the 64 MB bound",
        bound=f"read {conn.sent / MB:.0f} MB, peak {peak / MB:.0f} MB traced",
    )


def test_endless_error_body_is_cut_and_retried(serve: Any, reliability: Any) -> None:
    head = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\n\r\n"
    )
    server = serve(
        lambda conn, stop: endless(conn, stop, head + b'{"error":{"message":"', b"w" * MB, 512 * MB)
    )
    slept: list[float] = []

    def call() -> Any:
        options = {"base_url": server.base_url, "api_key": KEY, "max_retries": 2}
        with recording_sleep(Client, options, slept) as client:
            return client.chat("hi")

    _, error, peak = measure(call)
    assert isinstance(error, ServerError), repr(error)
    assert str(error).startswith('HTTP 503: {"error":{"message":"www')
    assert len(str(error)) < 500 and "\n" not in str(error)
    assert len(slept) == 2 and len(server.conns) == 3  # retried, each body cut at 1 MB
    assert all(c.hung_up and c.sent < 16 * MB for c in server.ended())
    assert peak < 16 * MB, peak
    reliability.record(
        "hostile",
        label="endless 503 error body (would be 512 MB, 3 attempts)",
        front_end="Client",
        outcome="ServerError after 2 retries; each body cut at 1 MB",
        bound=f"read ≤ {max(c.sent for c in server.conns) / MB:.0f} MB per attempt, peak {peak / MB:.0f} MB traced",
    )


# --- dribbling --------------------------------------------------------------------------------------


def dribble(conn: Conn, stop: threading.Event, head: bytes, every: float, cap: int) -> None:
    """Send `head`, then one byte (never a line end) every `every` seconds, `cap` bytes at most."""
    if not conn.send(head):
        return
    for _ in range(cap):
        if stop.wait(every) or not conn.send(b"x"):
            return


@pytest.mark.parametrize("front_end", FRONT)
def test_dribbling_stream_hits_the_idle_timeout(
    serve: Any, reliability: Any, front_end: str
) -> None:
    # A byte every 0.05 s for up to 60 s: httpx's read timeout (0.5 s) never fires on its own.
    server = serve(lambda conn, stop: dribble(conn, stop, HEAD_SSE + FIRST + b"data: ", 0.05, 1200))
    _, error, _ = measure(FRONT[front_end](server.base_url, idle_timeout=0.5))
    assert isinstance(error, StreamError), repr(error)
    assert re.fullmatch(
        # (on a loaded machine a gap between two bytes may itself exceed 0.5 s: httpx's timeout)
        r"Stream failed: (only \d+ bytes and no complete line in|no data for) 0\.5 s "
        r"\(idle_timeout\)\. "
        r"The partial answer is kept in the reply; run again to get the rest\.",
        str(error),
    ), str(error)
    assert error.reply is not None and error.reply.text == "Hello"
    assert error.reply.status == "failed"
    (conn,) = server.ended()
    assert conn.hung_up and not conn.finished  # the client gave up, not the server
    reliability.record(
        "hostile",
        label="a byte every 0.05 s, never a line end (idle_timeout 0.5 s)",
        front_end=front_end,
        outcome="StreamError (idle_timeout), first text kept",
        bound=f"gave up after {conn.sent - len(HEAD_SSE + FIRST + b'data: ')} bytes",
    )


def test_dribbling_json_body_hits_the_timeout(serve: Any, reliability: Any) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
    server = serve(lambda conn, stop: dribble(conn, stop, head, 0.05, 1200))

    def call() -> Any:
        with Client(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=0.5) as client:
            return client.chat("hi")

    _, error, _ = measure(call)
    assert isinstance(error, TimeoutError), repr(error)
    assert str(error) == (
        f"Timed out talking to 127.0.0.1:{server.port} (ReadTimeout). "
        "The gateway did not answer in time: try again, or raise the timeout."
    )
    (conn,) = server.ended()
    assert conn.hung_up and not conn.finished
    reliability.record(
        "hostile",
        label="chat(): JSON body dribbled a byte every 0.05 s (timeout 0.5 s)",
        front_end="Client",
        outcome="TimeoutError",
        bound=f"gave up after {conn.sent - len(head)} bytes",
    )


def test_keepalive_lines_are_progress(serve: Any) -> None:
    """The other side of the rule: a slow stream that sends complete lines is not idle."""

    def pings(conn: Conn, stop: threading.Event) -> None:
        conn.send(HEAD_SSE + FIRST)
        for _ in range(12):  # 1.2 s of pings every 0.1 s: longer than the idle timeout
            if stop.wait(0.1) or not conn.send(b": PING\n\n"):
                return
        conn.send(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
        conn.send(b"data: [DONE]\n\n")

    server = serve(pings)
    reply, error, _ = measure(sync_stream(server.base_url, idle_timeout=1.0))
    assert error is None, error
    assert reply.text == "Hello" and reply.status == "complete"


# --- compression bombs -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def gzip_of_spaces(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * MB
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


BOMB_MB = 512
BOMB_BOUND = 192 * MB
"""Peak memory allowed while a bomb is read, whatever it inflates to. httpx inflates each network
read (up to 64 KB) at once, about 66 MB of spaces at gzip's best ratio; on top of that the client
holds at most its 64 MB limit."""


@pytest.mark.parametrize(
    ("what", "status", "kind"),
    [
        ("streamed answer", 200, "text/event-stream"),
        ("JSON answer", 200, "application/json"),
        ("error body", 503, "application/json"),
    ],
)
def test_gzip_bomb_is_bounded(
    serve: Any, reliability: Any, what: str, status: int, kind: str
) -> None:
    bomb = gzip_of_spaces(BOMB_MB)
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    server = serve(lambda conn, stop: conn.send(head + bomb))
    slept: list[float] = []

    def call() -> Any:
        options = {"base_url": server.base_url, "api_key": KEY, "max_retries": 1}
        with recording_sleep(Client, options, slept) as client:
            if kind == "text/event-stream":
                with client.stream("hi") as stream:
                    return stream.until_done()
            return client.chat("hi")

    _, error, peak = measure(call)
    if status == 503:  # the body is cut at 1 MB, read as the error message, and retried
        assert isinstance(error, ServerError), repr(error)
        assert str(error) == (
            "HTTP 503 (empty response body). The gateway or the model failed; this is usually "
            "temporary: try again in a moment."
        )
        assert len(server.ended()) == 2 and len(slept) == 1
    elif kind == "text/event-stream":
        assert isinstance(error, StreamError), repr(error)
        assert str(error).startswith(
            f"Stream failed: a server-sent event exceeded the {LIMIT:,}-byte limit"
        )
    else:
        assert isinstance(error, ServerError), repr(error)
        assert str(error).startswith(f"The gateway's response is larger than {LIMIT:,} bytes")
    assert peak < BOMB_BOUND < BOMB_MB * MB, peak  # it never inflated the whole bomb
    reliability.record(
        "hostile",
        label=f"gzip bomb: {len(bomb) / MB:.1f} MB inflating to {BOMB_MB} MB ({what})",
        front_end="Client",
        outcome=type(error).__name__,
        bound=f"peak {peak / MB:.0f} MB traced",
    )


# --- absurd JSON -----------------------------------------------------------------------------------------

DEEP = b"[" * 200_000 + b"]" * 200_000  # valid JSON that json.loads cannot parse (recursion)


@pytest.mark.parametrize("where", ["stream event", "JSON answer", "error body"])
def test_absurdly_nested_json_is_a_clean_error(serve: Any, reliability: Any, where: str) -> None:
    if where == "stream event":
        response = HEAD_SSE + FIRST + b"data: " + DEEP + b"\n\n"
    else:
        status = b"200 OK" if where == "JSON answer" else b"400 Bad Request"
        response = (
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(DEEP)).encode() + b"\r\n\r\n" + DEEP
        )
    server = serve(lambda conn, stop: conn.send(response))

    def call() -> Any:
        with Client(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
            if where == "stream event":
                with client.stream("hi") as stream:
                    return stream.until_done()
            return client.chat("hi")

    _, error, _ = measure(call)
    expected = {
        "stream event": StreamError,
        "JSON answer": ServerError,
        "error body": BadRequestError,
    }[where]
    assert isinstance(error, expected), repr(error)
    assert "\n" not in str(error) and len(str(error)) < 600
    reliability.record(
        "hostile",
        label=f"JSON nested 200,000 deep ({where})",
        front_end="Client",
        outcome=type(error).__name__,
        bound="no RecursionError escapes",
    )


def test_servers_are_bounded() -> None:
    """The hostile servers themselves end: a stop ends a dribble at once."""
    server = HostileServer(lambda conn, stop: dribble(conn, stop, b"", 30.0, 10))
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    server.close()
    sock.close()
    assert all(not t.is_alive() for t in server.threads)


# --- a gateway that ignores stream=true and then breaks ---------------------------------------------


@pytest.mark.parametrize("front_end", FRONT)
def test_ignored_stream_cut_mid_body_is_a_stream_error(reliability: Any, front_end: str) -> None:
    """Not an httpx exception escaping the iterator: the documented StreamError, reply failed."""
    from ipygemini.testing import FakeGateway

    with FakeGateway(api_key=KEY) as gw:
        options = {"base_url": gw.base_url, "api_key": KEY, "max_retries": 0}
        prompt = "hi [fake:ignore_stream disconnect]"
        error: BaseException | None = None
        if front_end == "Client":
            with Client(**options) as client:
                stream = client.stream(prompt)
                try:
                    with stream:
                        stream.until_done()
                except Exception as exc:
                    error = exc
                reply = stream.reply
        else:

            async def main() -> tuple[Any, BaseException | None]:
                async with AsyncClient(**options) as client:
                    stream = client.stream(prompt)
                    try:
                        async with stream:
                            await stream.until_done()
                    except Exception as exc:
                        return stream.reply, exc
                    return stream.reply, None

            reply, error = asyncio.run(main())
    assert isinstance(error, StreamError), repr(error)
    assert str(error) == (
        "Stream failed: the connection broke (RemoteProtocolError). The partial answer is kept "
        "in the reply; run again to get the rest."
    )
    assert reply.status == "failed" and reply.error is error
    reliability.record(
        "hostile",
        label="ignores stream=true, then cuts its JSON body in half",
        front_end=front_end,
        outcome="StreamError (not an httpx exception), reply failed",
        bound="—",
    )
