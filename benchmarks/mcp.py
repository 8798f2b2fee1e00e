"""MCP tools' costs, side by side: a tool call over a warm server through ipygemini (sync, as
the magic calls it, and async, as the panel does) against the same call made directly with the
SDK on the loop its session lives on (the server's own time), and the first call's start-up.

Run: python benchmarks/mcp.py [--calls 300] [--quick]

The server is tests/mcp_edge_server.py (its read-only ``echo`` tool) and mcp-server-time; both
run offline. Goal: at most 10 ms added per call to the server's own time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# This file is named mcp.py: its folder must not shadow the `mcp` SDK it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from ipygemini.tools import McpTool, mcp_server, stop_mcp_servers, tools_from  # noqa: E402
from ipygemini.tools._mcp_session import background, wait  # noqa: E402

EDGE = (sys.executable, str(Path(__file__).parents[1] / "tests" / "mcp_edge_server.py"))
TIME = (sys.executable, "-m", "mcp_server_time")
ARGUMENTS = {"text": "hello", "times": 3}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(call: Callable[[], Any], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


async def direct_sdk(session: Any, calls: int) -> list[float]:
    """The same call with the SDK alone, on the loop its session lives on: the server's time."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await session.call_tool("echo", ARGUMENTS)
        samples.append(time.perf_counter() - start)
    return samples


async def through_async(tool: McpTool, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        result = await tool.run(ARGUMENTS)
        samples.append(time.perf_counter() - start)
        assert result.error is None, result.error
    return samples


def start_up(command: tuple[str, ...], env: dict[str, str]) -> tuple[float, float]:
    """(first call: start, initialize, list tools), (the same configuration again: reused)."""
    start = time.perf_counter()
    mcp_server(*command, env=env)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    mcp_server(*command, env=env)
    return cold, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="50 calls, for a smoke run")
    args = parser.parse_args()
    calls = 50 if args.quick else args.calls

    cold_edge, warm_edge = start_up(EDGE, {"BENCH": "startup"})
    cold_time, warm_time = start_up(TIME, {"BENCH": "startup"})

    server = mcp_server(*EDGE, env={"BENCH": "calls"}, name="edge")
    tool = tools_from([server])["edge__echo"]
    assert isinstance(tool, McpTool)
    session = server.process.connection().session
    loop = asyncio.new_event_loop()  # the caller's own loop, as the panel's kernel loop
    tool.run_sync(ARGUMENTS)  # warm
    samples: dict[str, list[float]] = {"sdk": [], "sync": [], "async": []}
    batch = 10
    for _ in range(max(1, calls // batch)):  # interleaved, so load on the machine hits all three
        samples["sdk"] += wait(background().submit(direct_sdk(session, batch)))
        samples["sync"] += timed(lambda: tool.run_sync(ARGUMENTS), batch)
        samples["async"] += loop.run_until_complete(through_async(tool, batch))
    loop.close()
    stop_mcp_servers()
    sdk, sync, async_ = (median_ms(samples[k]) for k in ("sdk", "sync", "async"))

    print(f"MCP tool calls, median of {calls} (python {sys.version.split()[0]})")
    print(f"{'measure':52} {'value':>11} {'goal':>10}")
    print(f"{'call with the SDK alone (the server own time)':52} {sdk:8.2f} ms")
    print(f"{'call through McpTool.run_sync (magic, main thread)':52} {sync:8.2f} ms")
    print(f"{'  added to the server own time':52} {sync - sdk:8.2f} ms {'≤ 10 ms':>10}")
    print(f"{'  ratio to the SDK alone':52} {sync / sdk:8.2f} ×")
    print(f"{'call through await McpTool.run (panel, asyncio)':52} {async_:8.2f} ms")
    print(f"{'  added to the server own time':52} {async_ - sdk:8.2f} ms {'≤ 10 ms':>10}")
    print(f"{'first call: start edge server, initialize, list':52} {cold_edge * 1000:8.0f} ms")
    print(f"{'first call: start mcp-server-time, initialize, list':52} {cold_time * 1000:8.0f} ms")
    print(f"{'mcp_server() again, same configuration (reused)':52} {warm_edge * 1000:8.2f} ms")
    print(f"{'  mcp-server-time':52} {warm_time * 1000:8.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
