"""The one background thread and asyncio loop every MCP session runs on, and the two ways to
wait for work submitted to it: from a thread without a running loop (the kernel's main thread),
and from a coroutine on another loop (the panel, AsyncClient).

The SDK's sessions must stay on the loop that opened them, and the kernel's main thread has a
loop that is not running for us: so sessions live here and callers submit coroutines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["background", "wait", "wait_async"]

T = TypeVar("T")


class _LoopThread:
    """The background thread and loop every MCP session runs on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="ipygemini-mcp", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


_loop_lock = threading.Lock()
_loop_thread: _LoopThread | None = None


def background() -> _LoopThread:
    """The MCP loop thread, started on first use."""
    global _loop_thread
    with _loop_lock:
        if _loop_thread is None:
            _loop_thread = _LoopThread()
        return _loop_thread


def wait(future: concurrent.futures.Future[T]) -> T:
    """The future's result, waited for in short slices so Ctrl-C interrupts the wait (whichever
    thread the signal hit); the work on the MCP loop is cancelled then."""
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=0.2)
    except BaseException:
        future.cancel()
        raise
    return future.result()


async def wait_async(future: concurrent.futures.Future[T]) -> T:
    """The future's result from another loop; cancelling the awaiting task cancels the work."""
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()
        raise
