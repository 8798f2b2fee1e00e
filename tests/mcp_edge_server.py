"""An MCP server (official SDK, stdio) with the edge cases ipygemini's MCP tools must handle:
a read-only tool, one that is not read-only, one that crashes the process, one that sleeps past
any timeout, one that returns an image, one with structured output, and one that shows the
environment the server was given.

Run as ``python tests/mcp_edge_server.py``. When ``EDGE_FIFO`` names a FIFO, `sleep` writes one
line to it once it has started, so a test can act while the call is in flight without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import zlib
from typing import Any

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]

from mcp.types import ImageContent, TextContent, ToolAnnotations

READ_ONLY = ToolAnnotations.model_validate({"readOnlyHint": True})
WRITES = ToolAnnotations.model_validate({"readOnlyHint": False, "destructiveHint": True})

server = Server("edge")
notes: list[str] = []


def tiny_png() -> bytes:
    """A 2x1 red PNG, made here so the server needs nothing else."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@server.tool(annotations=READ_ONLY)
def echo(text: str, times: int = 1) -> str:
    """Repeat a text."""
    return " ".join([text] * times)


@server.tool(annotations=WRITES)
def write_note(note: str) -> str:
    """Store a note (changes the server's state)."""
    notes.append(note)
    return f"stored {len(notes)} note(s)"


@server.tool(annotations=READ_ONLY)
def crash() -> str:
    """Kill the server process after a last word on stderr."""
    print("edge: fatal: the crash tool was called", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(annotations=READ_ONLY)
async def sleep(seconds: float) -> str:
    """Sleep, then answer (async, so the server answers other calls meanwhile in every SDK)."""
    fifo = os.environ.get("EDGE_FIFO")
    if fifo:
        with open(fifo, "w") as signal:
            signal.write("started\n")
    await asyncio.sleep(seconds)
    return "woke up"


@server.tool(annotations=READ_ONLY)
def picture() -> list[Any]:
    """A small image and a caption."""
    data = base64.b64encode(tiny_png()).decode("ascii")
    return [
        TextContent.model_validate({"type": "text", "text": "a red picture"}),
        ImageContent.model_validate({"type": "image", "data": data, "mimeType": "image/png"}),
    ]


@server.tool(annotations=READ_ONLY)
def process_id() -> int:
    """This server's process id (tells a restarted server from the first one)."""
    return os.getpid()


@server.tool(annotations=READ_ONLY)
def environment() -> list[str]:
    """The names of the environment variables this server was started with."""
    return sorted(os.environ)


@server.tool(annotations=READ_ONLY)
def fail(reason: str) -> str:
    """Answer with a tool error."""
    raise ValueError(reason)


if __name__ == "__main__":
    print("edge: ready", file=sys.stderr, flush=True)
    server.run()
