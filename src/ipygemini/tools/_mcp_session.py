"""MCP server processes: started once per process and configuration, reused, restarted after
they die, ended at interpreter exit or on request.

Every session lives on the background loop of _mcp_loop.py; callers submit coroutines to it
and wait (the sync path in slices, so Ctrl-C always lands; the async path awaits a wrapped
future). A server's stderr goes to a pipe drained by a
small thread that keeps its last line (Jupyter's ``sys.stderr`` has no file descriptor, and a
chatty server must never flood the notebook); the pipe's end also tells that the process exited.

The server is given a minimal environment: the SDK's default (HOME, LOGNAME, PATH, SHELL, TERM,
USER), LANG when set, and what the user named in ``env`` — never the API key or anything else.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import shutil
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from .._errors import GeminiError
from ._mcp_loop import background, wait, wait_async

__all__ = ["McpServerError", "ServerKey", "ServerProcess", "process_for", "running", "stop"]

START_TIMEOUT = 60.0
"""Seconds a server may take to start and list its tools."""

STOP_TIMEOUT = 8.0
"""Seconds to wait for servers to end at exit (the SDK closes stdin, then terminates, then kills)."""

CONNECTION_CLOSED = -32000
"""The JSON-RPC code the SDK gives a request whose connection closed (1.x and 2.x)."""

INSTALL_HINT = 'MCP servers need the official SDK: pip install "ipygemini[mcp]"'


class McpServerError(GeminiError):
    """An MCP server could not be started, or stopped answering."""


@dataclass(frozen=True)
class ServerKey:
    """What makes two servers the same process: how it is started and its environment."""

    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return " ".join((self.command, *self.args))


def require_sdk() -> None:
    """`McpServerError` (one line: how to install it) when the `mcp` SDK is missing."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise McpServerError(INSTALL_HINT) from None


class _StderrTail:
    """A pipe for a server's stderr, drained by a thread that keeps the last non-empty line.
    `ended` is set when every writer has closed it: the process has exited."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = open(write_fd, "w", encoding="utf-8", closefd=True)
        self.last_line = ""
        self.ended = threading.Event()
        threading.Thread(
            target=self._drain, args=(read_fd,), name="ipygemini-mcp-stderr", daemon=True
        ).start()

    def _drain(self, read_fd: int) -> None:
        pending = b""
        try:
            while chunk := os.read(read_fd, 65536):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()[-4096:]
                for line in reversed(lines):
                    if line.strip():
                        self.last_line = _shown(line)
                        break
        except OSError:
            pass
        finally:
            if pending.strip():
                self.last_line = _shown(pending)
            os.close(read_fd)
            self.ended.set()

    def close_writer(self) -> None:
        """Our copy of the write end, closed once the child has its own (so EOF means exit)."""
        if not self.writer.closed:
            self.writer.close()


def _shown(line: bytes) -> str:
    text = " ".join(line.decode("utf-8", "replace").split())
    return text if len(text) <= 300 else text[:300] + "…"


@dataclass
class _Connection:
    """One running process and its session (an SDK ``ClientSession``)."""

    session: Any
    tools: list[dict[str, Any]]
    stderr: _StderrTail
    stop: asyncio.Event
    task: asyncio.Task[None] | None = None
    lost: bool = False  # a call found it gone, or it left the SDK's contexts
    reported: bool = False  # its end was told (in a call's error, or on stderr)


@dataclass
class ServerProcess:
    """A server by its `ServerKey`: started on first use, restarted after it dies."""

    key: ServerKey
    label: str
    _connection: _Connection | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    starts: int = 0

    @property
    def alive(self) -> bool:
        c = self._connection
        return c is not None and not c.lost and not c.stderr.ended.is_set()

    def tools(self) -> list[dict[str, Any]]:
        """The server's tools (wire form: name, description, inputSchema, annotations)."""
        return self.connection().tools

    def connection(self) -> _Connection:
        """The live connection, starting (or restarting) the process when there is none."""
        with self._lock:
            dead = self._connection
            if dead is not None and not self.alive:
                if not dead.reported:  # it died between calls: say so once, as a call would
                    print(f"ipygemini: {self.lost(dead)}", file=sys.stderr)
                self._drop()
            if self._connection is None:
                self._connection = wait(background().submit(self._open()))
                self.starts += 1
            return self._connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[_Connection] = loop.create_future()
        task = loop.create_task(self._serve(ready))
        try:
            connection = await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT)
        except TimeoutError:
            task.cancel()
            raise McpServerError(
                f"MCP server {self.label!r} ({self.key.describe()}) did not start within "
                f"{START_TIMEOUT:g} s; check that it speaks MCP over stdio."
            ) from None
        except BaseException:
            task.cancel()
            raise
        connection.task = task
        return connection

    async def _serve(self, ready: asyncio.Future[_Connection]) -> None:
        """Hold the process and session open until told to stop (one task enters and leaves the
        SDK's context managers, as anyio requires)."""
        stderr = _StderrTail()
        connection: _Connection | None = None
        try:
            from mcp import ClientSession, StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=installed_command(self.key.command),
                args=list(self.key.args),
                env=self.environment(),
            )
            async with stdio_client(params, errlog=stderr.writer) as (read, write):
                stderr.close_writer()
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = await _list_tools(session)
                    connection = _Connection(session, tools, stderr, asyncio.Event())
                    ready.set_result(connection)
                    await connection.stop.wait()
        except Exception as exc:
            stderr.close_writer()
            if not ready.done():
                await asyncio.to_thread(stderr.ended.wait, 2.0)  # its last words, if exiting
                ready.set_exception(self._start_failed(_leaf(exc), stderr))
        except BaseException:
            stderr.close_writer()
            ready.cancel()
            raise
        finally:
            if connection is not None:
                connection.lost = True

    def environment(self) -> dict[str, str]:
        """All the server is given: the SDK's safe basics, LANG, and the user's ``env`` (built
        here in full, as SDK versions differ on merging ``env`` with their defaults)."""
        from mcp.client.stdio import get_default_environment

        basics = get_default_environment()
        if "LANG" in os.environ:
            basics["LANG"] = os.environ["LANG"]
        return {**basics, **dict(self.key.env)}

    def _start_failed(self, exc: BaseException, stderr: _StderrTail) -> McpServerError:
        said = f"; its last stderr line: {stderr.last_line}" if stderr.last_line else ""
        what = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        return McpServerError(
            f"MCP server {self.label!r} ({self.key.describe()}) did not start ({what}){said}."
        )

    def call_sync(
        self, name: str, arguments: dict[str, Any], timeout: float | None
    ) -> dict[str, Any] | str:
        """Call a tool from a thread without a running loop (the kernel's main thread): the
        result in wire form, or one line saying why there is none. Ctrl-C cancels the call."""
        connection = self.connection()
        try:
            return wait(background().submit(_call(connection, name, arguments, timeout)))
        except Exception as exc:
            return self._failed(connection, exc, timeout)

    async def call(
        self, name: str, arguments: dict[str, Any], timeout: float | None
    ) -> dict[str, Any] | str:
        """`call_sync` for a coroutine on any other loop; cancelling it cancels the call."""
        connection = self._connection
        if connection is None or not self.alive:
            connection = await asyncio.to_thread(self.connection)
        try:
            return await wait_async(
                background().submit(_call(connection, name, arguments, timeout))
            )
        except Exception as exc:
            return await asyncio.to_thread(self._failed, connection, exc, timeout)

    def _failed(self, connection: _Connection, exc: Exception, timeout: float | None) -> str:
        if isinstance(exc, TimeoutError):
            return f"timed out after {timeout:g} s; the call was cancelled"
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None)
        if isinstance(code, int) and code != CONNECTION_CLOSED:  # the server answered an error
            return f"MCP error {code}: {getattr(error, 'message', exc)}"
        return self.lost(connection)

    def lost(self, connection: _Connection) -> str:
        """Mark `connection` dead after a failed call; one line naming the server and its last
        stderr line. The next use starts the server again."""
        connection.lost = connection.reported = True
        connection.stderr.ended.wait(2.0)
        line = connection.stderr.last_line
        said = f" (last stderr line: {line})" if line else " (nothing on stderr)"
        return f"MCP server {self.label!r} stopped{said}; it starts again on the next call"

    def stop(self) -> bool:
        """End the process (True when one was running)."""
        with self._lock:
            ending = self._signal_stop()
        if ending is None:
            return False
        _wait_ended([ending])
        return True

    def _drop(self) -> bool:
        ending = self._signal_stop()
        if ending is not None:
            _wait_ended([ending])
        return ending is not None

    def _signal_stop(self) -> concurrent.futures.Future[None] | None:
        """Tell the serving task to leave the SDK's contexts (which ends the process); a future
        done when it has. None when nothing was running."""
        connection, self._connection = self._connection, None
        if connection is None or connection.task is None:
            return None
        task = connection.task
        ended = concurrent.futures.Future[None]()

        def signal() -> None:
            connection.stop.set()
            task.add_done_callback(lambda _t: ended.set_result(None))

        background().loop.call_soon_threadsafe(signal)
        return ended


def _wait_ended(endings: list[concurrent.futures.Future[None]]) -> None:
    """Wait for servers to end, all at once, at most `STOP_TIMEOUT` (the SDK escalates from
    closing stdin to SIGTERM to SIGKILL within that)."""
    concurrent.futures.wait(endings, timeout=STOP_TIMEOUT)


async def _call(
    connection: _Connection, name: str, arguments: dict[str, Any], timeout: float | None
) -> dict[str, Any]:
    result = await asyncio.wait_for(connection.session.call_tool(name, arguments), timeout)
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside anyio's task-group wrappers."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def _list_tools(session: Any) -> list[dict[str, Any]]:
    """Every page of ``tools/list``, as plain dicts in wire form (the same in SDK 1.x and 2.x)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        if cursor is None:
            page = await session.list_tools()
        else:
            from mcp.types import PaginatedRequestParams

            try:
                page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
            except TypeError:  # SDK 1.x before ``params``
                page = await session.list_tools(cursor=cursor)
        found += [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in page.tools]
        cursor = getattr(page, "next_cursor", None) or getattr(page, "nextCursor", None)
        if not cursor:
            return found


_registry: dict[ServerKey, ServerProcess] = {}
_registry_lock = threading.Lock()


def installed_command(command: str) -> str:
    """`command` as given, or, when it is a bare name not on PATH, the script of that name
    beside this interpreter (where ``pip install mcp-server-git`` put it: a kernel of a
    virtual environment that was never activated has it there, not on PATH)."""
    if os.sep in command or shutil.which(command) is not None:
        return command
    beside = shutil.which(command, path=os.path.dirname(sys.executable))
    return beside or command


def process_for(key: ServerKey, label: str) -> ServerProcess:
    """The one `ServerProcess` for `key` in this interpreter (created, not started)."""
    with _registry_lock:
        process = _registry.get(key)
        if process is None:
            process = _registry[key] = ServerProcess(key, label)
        return process


def running() -> list[ServerProcess]:
    """The servers whose process is running now."""
    with _registry_lock:
        return [p for p in _registry.values() if p.alive]


def stop(name: str | None = None) -> list[str]:
    """End the running servers (those named `name`, or all) together; their names."""
    with _registry_lock:
        chosen = [p for p in _registry.values() if name is None or p.label == name]
    endings: list[tuple[str, concurrent.futures.Future[None]]] = []
    for process in chosen:
        with process._lock:
            ending = process._signal_stop()
        if ending is not None:
            endings.append((process.label, ending))
    _wait_ended([ending for _, ending in endings])
    return [name for name, _ in endings]


@atexit.register
def _stop_all_at_exit() -> None:
    if _registry:
        try:
            stop()
        except Exception:  # exiting anyway: never fail the interpreter's exit
            pass
