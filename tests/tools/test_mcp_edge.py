"""MCP edge cases against the SDK server in tests/mcp_edge_server.py, over real sockets against
FakeGateway: a time limit, a crash and its restart, Ctrl-C, images, consent hooks, the server's
environment, arguments, and what happens without the SDK.

Each test that breaks or configures a server gives it its own ``env`` (another configuration,
so another process): no test depends on another's server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import ipygemini
from conftest import EDGE_SERVER, client_for
from ipygemini import AsyncClient, Client, OptionError
from ipygemini.testing import FakeGateway
from ipygemini.tools import McpServerError, McpToolOutput, tools_from

pytest.importorskip("mcp")

EDGE = (sys.executable, str(EDGE_SERVER))


pytestmark = pytest.mark.usefixtures("mcp_servers_end")


def client(gw: FakeGateway) -> Client:
    return client_for(gw, model="gemini-2.5-flash", max_retries=0)


def edge(case: str, **options: Any) -> ipygemini.tools.McpServer:
    env = {"EDGE_CASE": case, **options.pop("env", {})}
    return ipygemini.mcp_server(*EDGE, env=env, name="edge", **options)


def pid_of(server: ipygemini.tools.McpServer) -> int:
    output = tools_from([server])["edge__process_id"].run_sync({}).value
    assert isinstance(output, McpToolOutput)
    return int(output.structured["result"])


def test_a_call_past_the_timeout_is_cancelled_and_the_server_stays(gw: FakeGateway) -> None:
    server = edge("timeout", timeout=0.5)
    before = pid_of(server)
    gw.script_tool_calls([[("edge__sleep", {"seconds": 600})], [("edge__echo", {"text": "hi"})]])
    reply = client(gw).chat("sleep", tools=[server])
    slept, echoed = reply.tool_calls
    assert slept.error == "timed out after 0.5 s; the call was cancelled"
    assert json.loads(gw.requests[1].body["messages"][-1]["content"]) == {"error": slept.error}
    assert echoed.error is None and pid_of(server) == before


def test_a_crash_is_one_line_with_its_last_words_and_the_next_call_restarts(
    gw: FakeGateway,
) -> None:
    server = edge("crash")
    before = pid_of(server)
    gw.script_tool_calls([[("edge__crash", {})]])
    reply = client(gw).chat("crash", tools=[server])
    [call] = reply.tool_calls
    assert call.error == (
        "MCP server 'edge' stopped (last stderr line: edge: fatal: the crash tool was called); "
        "it starts again on the next call"
    )
    assert not server.process.alive
    gw.script_tool_calls([[("edge__echo", {"text": "again"})]])
    reply = client(gw).chat("again", tools=[server])
    assert reply.tool_calls[0].result == json.dumps({"result": "again"})
    assert pid_of(server) != before and server.process.starts == 2


def test_a_server_that_died_between_calls_is_told_once_and_started_again(
    gw: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    server = edge("killed")
    before = pid_of(server)
    connection = server.process.connection()
    os.kill(before, signal.SIGKILL)
    assert connection.stderr.ended.wait(30)  # its stderr pipe closed: the process is gone
    assert not server.process.alive
    gw.script_tool_calls([[("edge__echo", {"text": "back"})]])
    [call] = client(gw).chat("are you there?", tools=[server]).tool_calls
    assert call.error is None and pid_of(server) != before
    [line] = capsys.readouterr().err.splitlines()  # one line, with the server's last words
    assert line.startswith("ipygemini: MCP server 'edge' stopped (last stderr line: ")
    assert line.endswith("); it starts again on the next call")


def test_ctrl_c_stops_the_wait_and_leaves_the_server_usable(
    gw: FakeGateway, tmp_path: Path
) -> None:
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    server = edge("interrupt", timeout=None, env={"EDGE_FIFO": str(fifo)})
    before = pid_of(server)
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()

    def press_ctrl_c_once_the_call_runs() -> None:
        with open(fifo) as started:
            started.readline()
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=press_ctrl_c_once_the_call_runs, daemon=True).start()
    gw.script_tool_calls([[("edge__sleep", {"seconds": 600})]])
    stream = client(gw).stream("sleep long", tools=[server])
    with pytest.raises(KeyboardInterrupt), stream:
        for _ in stream:
            pass
    assert stream.reply.interrupted and len(gw.requests) == 1
    assert server.process.alive and pid_of(server) == before


def test_images_are_bytes_for_the_front_end_and_a_placeholder_for_the_model(
    gw: FakeGateway,
) -> None:
    server = edge("image")
    result = tools_from([server])["edge__picture"].run_sync({})
    assert isinstance(result.value, McpToolOutput)
    [image] = result.value.images
    assert image.data and image.data.startswith(b"\x89PNG") and image.displayable
    assert image.size == (2, 1)
    gw.script_tool_calls([[("edge__picture", {})]])
    [call] = client(gw).chat("draw", tools=[server]).tool_calls
    assert call.result == "a red picture\n[image/png image, 70 bytes: shown to the user]"
    assert "iVBOR" not in json.dumps(gw.requests[1].body)  # no base64 goes to the model
    assert call.shown_name == "edge.picture" and call.describe().startswith("edge.picture() → ")
    [shown] = call.images  # carried onto the call the front ends see
    assert shown.data == image.data and shown.mime_type == "image/png"


def test_structured_results_and_tool_errors(gw: FakeGateway) -> None:
    server = edge("results")
    gw.script_tool_calls(
        [[("edge__echo", {"text": "ab", "times": 2}), ("edge__fail", {"reason": "nope"})]]
    )
    echoed, failed = client(gw).chat("echo", tools=[server]).tool_calls
    assert json.loads(echoed.result or "") == {"result": "ab ab"}
    assert echoed.structured == {"result": "ab ab"}  # shown as JSON by the front ends
    assert failed.error and failed.error.startswith("Error executing tool fail")


def test_arguments_are_checked_and_optional_nulls_dropped(gw: FakeGateway) -> None:
    server = edge("arguments")
    gw.script_tool_calls(
        [
            [
                ("edge__echo", {"text": "x", "times": None}),
                ("edge__echo", {"times": 2}),
                ("edge__nothing", {}),
            ]
        ]
    )
    ok, missing, unknown = client(gw).chat("args", tools=[server]).tool_calls
    assert ok.result == json.dumps({"result": "x"})
    assert missing.error == "missing argument 'text'"
    assert unknown.error and unknown.error.startswith("unknown tool 'edge__nothing'")


def test_consent_by_name_by_hook_and_refusal(gw: FakeGateway) -> None:
    asked: list[tuple[str, Any]] = []

    def only_short_notes(name: str, arguments: dict[str, Any]) -> bool:
        asked.append((name, arguments))
        return len(arguments["note"]) < 5

    refused = edge("consent")
    by_name = edge("consent", allow=["edge__write_note"])  # the name the model sees works too
    by_hook = edge("consent", allow=only_short_notes)
    note = [("edge__write_note", {"note": "hi"})]
    gw.script_tool_calls([note])
    [no] = client(gw).chat("note", tools=[refused]).tool_calls
    gw.script_tool_calls([note])
    [yes] = client(gw).chat("note", tools=[by_name]).tool_calls
    gw.script_tool_calls([[*note, ("edge__write_note", {"note": "far too long"})]])
    hooked_yes, hooked_no = client(gw).chat("note", tools=[by_hook]).tool_calls
    assert no.error == (
        "refused: write_note of MCP server 'edge' is not marked read-only and was not allowed; "
        "nothing ran. The user can allow it with allow=['write_note']."
    )
    assert yes.result == json.dumps({"result": "stored 1 note(s)"})
    assert hooked_yes.result == json.dumps({"result": "stored 2 note(s)"})
    assert hooked_no.error and "was declined; nothing ran" in hooked_no.error
    assert asked == [("write_note", {"note": "hi"}), ("write_note", {"note": "far too long"})]


def test_an_async_hook_decides_under_asyncio(gw: FakeGateway) -> None:
    async def confirm(name: str, arguments: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        return arguments["note"] == "yes"

    server = edge("async-consent", allow=confirm)
    gw.script_tool_calls(
        [[("edge__write_note", {"note": "yes"}), ("edge__write_note", {"note": "no"})]]
    )

    async def main() -> Any:
        async with AsyncClient(
            api_key=gw.api_key, base_url=gw.base_url, model="gemini-2.5-flash", max_retries=0
        ) as c:
            return await c.chat("notes", tools=[server])

    yes, no = asyncio.run(main()).tool_calls
    assert yes.result == json.dumps({"result": "stored 1 note(s)"})
    assert no.error and "was declined" in no.error


def test_the_server_gets_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("MY_PRIVATE_TOKEN", "private")
    server = edge("environment", env={"EDGE_TOKEN": "given"})
    output = tools_from([server])["edge__environment"].run_sync({}).value
    assert isinstance(output, McpToolOutput)
    names = set(output.structured["result"])
    assert {"EDGE_TOKEN", "EDGE_CASE", "PATH"} <= names
    assert not names & {"GEMINI_API_KEY", "MY_PRIVATE_TOKEN", "IPYGEMINI_HOME"}
    assert names <= {
        "EDGE_TOKEN",
        "EDGE_CASE",
        "HOME",
        "LOGNAME",
        "PATH",
        "SHELL",
        "TERM",
        "USER",
        "LANG",
    }


def test_a_command_that_cannot_start_says_so_in_one_line() -> None:
    with pytest.raises(McpServerError) as caught:
        ipygemini.mcp_server(sys.executable, "-c", "import sys; sys.exit('no such server here')")
    message = str(caught.value)
    assert "\n" not in message and "did not start" in message
    assert message.endswith("its last stderr line: no such server here.")


def test_a_server_that_never_answers_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipygemini.tools import _mcp_session

    monkeypatch.setattr(_mcp_session, "START_TIMEOUT", 0.5)
    mute = "import sys; sys.stdin.read()"  # reads until its stdin closes, answers nothing
    with pytest.raises(McpServerError, match=r"did not start within 0.5 s; check that it speaks"):
        ipygemini.mcp_server(sys.executable, "-c", mute, name="mute")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
        ({"env": {"A": 1}}, "env must map names to strings"),
        ({"allow": "write_note"}, "allow must be a list of tool names"),
        ({"allow": [1]}, "allow must list tool names as strings"),
        ({"name": "two words"}, "name 'two words' must be letters"),
    ],
)
def test_bad_options_are_one_clear_line(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(OptionError, match=problem):
        ipygemini.mcp_server(*EDGE, **options)


def test_without_the_sdk_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(McpServerError, match=r'pip install "ipygemini\[mcp\]"'):
        ipygemini.mcp_server("mcp-server-time")


def test_nothing_of_mcp_is_imported_by_the_package_or_load_ext() -> None:
    code = (
        "import sys, ipygemini, ipygemini.tools, ipygemini.magic\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ipygemini.load_ipython_extension(InteractiveShell.instance())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'anyio', 'pydantic')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
