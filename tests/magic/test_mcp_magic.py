"""MCP servers from the magic, in a real kernel against FakeGateway: ``%%gemini --mcp`` with a
command line or a name from ``%config Gemini.mcp_servers``, ``--mcp-allow``, ``%gemini mcp``
and ``%gemini mcp stop``; every bad input one line, nothing sent."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import EDGE_SERVER, Cell, KernelSession
from ipygemini.testing import FakeGateway
from kernel_driver import ok

pytest.importorskip("mcp")

EDGE = str(EDGE_SERVER)
CONFIG = (
    "import sys\n"
    "%config Gemini.mcp_servers = {'clock': {'command': sys.executable, "
    f"'args': ['-m', 'mcp_server_time']}}, 'edge': {{'command': sys.executable, 'args': [{EDGE!r}]}}}}"
)


@pytest.fixture(autouse=True)
def _fresh(magic_gateway: FakeGateway) -> Iterator[None]:
    magic_gateway.clear()
    yield


@pytest.fixture(scope="module")
def mcp_kernel(kernel: KernelSession) -> KernelSession:
    ok(kernel.run(CONFIG))
    return kernel


def refused(cell: Cell, *words: str) -> str:
    assert cell.status == "error"
    line = cell.stderr.strip()
    assert "\n" not in line and all(w in line for w in words), line
    return line


def tool_messages(gw: FakeGateway) -> list[dict[str, Any]]:
    bodies = [r.body for r in gw.requests if r.path.endswith("/chat/completions")]
    return [m for b in bodies for m in b["messages"] if m["role"] == "tool"]


def test_a_configured_server_by_name_answers_the_model(
    mcp_kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    magic_gateway.script_tool_calls([[("clock__get_current_time", {"timezone": "UTC"})]])
    ok(mcp_kernel.run("%%gemini --mcp clock\nWhat time is it in UTC?"))
    (message,) = tool_messages(magic_gateway)
    assert json.loads(message["content"])["timezone"] == "UTC"
    shown = ok(mcp_kernel.run("print(_gemini.tool_calls[0].name, _gemini.tool_calls[0].error)"))
    assert shown.stdout == "clock__get_current_time None\n"


def test_mcp_allow_lets_a_writing_tool_run_and_without_it_it_is_refused(
    mcp_kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    magic_gateway.script_tool_calls([[("edge__write_note", {"note": "hi"})]])
    ok(mcp_kernel.run("%%gemini --mcp edge\nWrite a note"))
    (message,) = tool_messages(magic_gateway)
    assert "refused" in message["content"] or "not allowed" in message["content"]
    magic_gateway.clear()
    magic_gateway.script_tool_calls([[("edge__write_note", {"note": "hi"})]])
    ok(mcp_kernel.run("%%gemini --mcp edge --mcp-allow write_note\nWrite a note"))
    (message,) = tool_messages(magic_gateway)
    assert json.loads(message["content"]) == {"result": "stored 1 note(s)"}


def test_gemini_mcp_lists_configured_and_running_servers_and_stops_them(
    mcp_kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    command = f"{sys.executable} -m mcp_server_time --local-timezone UTC"
    ok(mcp_kernel.run(f"%%gemini --mcp '{command}'\nHello"))
    ok(mcp_kernel.run("%%gemini --mcp clock\nHello"))
    listed = ok(mcp_kernel.run("%gemini mcp")).stdout
    assert "clock" in listed and "clock.get_current_time" in listed
    assert "edge" in listed  # configured, shown whether running or not
    assert "--local-timezone UTC" in listed  # started by a command line: running, unnamed
    stopped = ok(mcp_kernel.run("%gemini mcp stop clock")).stdout
    assert stopped == "Stopped MCP server(s): clock.\n"
    listed = ok(mcp_kernel.run("%gemini mcp")).stdout
    assert "clock.get_current_time" not in listed
    assert "not running (starts on first --mcp clock)" in listed
    ok(mcp_kernel.run("%gemini mcp stop"))
    assert ok(mcp_kernel.run("%gemini mcp stop")).stdout == "No MCP server is running.\n"
    magic_gateway.clear()
    magic_gateway.script_tool_calls([[("clock__get_current_time", {"timezone": "UTC"})]])
    ok(mcp_kernel.run("%%gemini --mcp clock\nWhat time is it?"))  # started again on next use
    (message,) = tool_messages(magic_gateway)
    assert "datetime" in json.loads(message["content"])


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("%%gemini --mcp-allow write_note\nHi", ("--mcp-allow", "--mcp")),
        ("%%gemini --mcp no-such-server-here\nHi", ("--mcp", "no-such-server-here", "clock")),
        ("%%gemini --mcp edge --mcp-allow delete_all\nHi", ("--mcp-allow", "delete_all")),
        ("%%gemini --mcp clock --cache\nHi", ("--mcp", "--cache")),
        ("%gemini mcp stop a b", ("mcp stop",)),
        ("%gemini mcp start", ("%gemini mcp",)),
    ],
)
def test_bad_mcp_options_are_one_line_and_send_nothing(
    mcp_kernel: KernelSession, magic_gateway: FakeGateway, cell: str, words: tuple[str, ...]
) -> None:
    refused(mcp_kernel.run(cell), *words)
    assert magic_gateway.requests == []


def test_a_bad_mcp_servers_value_is_refused_by_config(mcp_kernel: KernelSession) -> None:
    cell = mcp_kernel.run("%config Gemini.mcp_servers = {'x': {'args': []}}")
    assert "needs a 'command' string" in cell.stderr + str(cell.error)


def test_a_tools_call_shows_folded_as_server_dot_tool_with_its_image_and_json(
    mcp_kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    magic_gateway.script_tool_calls(
        [[("edge__picture", {}), ("clock__get_current_time", {"timezone": "UTC"})]]
    )
    cell = ok(mcp_kernel.run("%%gemini --mcp edge --mcp clock\nShow me"))
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.final)
    assert "edge.picture() →" in html and "edge__picture(" not in html
    assert "clock.get_current_time(timezone=&#x27;UTC&#x27;)" in html or (
        "clock.get_current_time(timezone='UTC')" in html
    ), html
    assert 'class="language-json"' in html and "&quot;timezone&quot;" in html
    assert "data:image/png;base64," in html or any(
        "image/png" in o.get("data", {}) for o in cell.final
    ), cell.final


def test_a_bare_command_installed_beside_the_kernels_python_is_found_off_path(
    mcp_kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    """A kernel of a virtual environment never activated: pip's scripts are not on PATH."""
    ok(mcp_kernel.run("import os, shutil\nsaved_path = os.environ['PATH']"))
    try:
        ok(mcp_kernel.run("os.environ['PATH'] = '/usr/bin:/bin'"))
        off_path = ok(mcp_kernel.run("print(shutil.which('mcp-server-time'))")).stdout
        assert off_path == "None\n"
        ok(mcp_kernel.run("%gemini mcp stop"))
        magic_gateway.script_tool_calls([[("time__get_current_time", {"timezone": "UTC"})]])
        ok(mcp_kernel.run("%%gemini --mcp mcp-server-time\nWhat time is it?"))
        (message,) = tool_messages(magic_gateway)
        assert json.loads(message["content"])["timezone"] == "UTC"
    finally:
        ok(mcp_kernel.run("os.environ['PATH'] = saved_path"))
