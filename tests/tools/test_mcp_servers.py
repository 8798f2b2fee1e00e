"""MCP servers from PyPI as tools, over real sockets against FakeGateway: mcp-server-time and
mcp-server-git (on a temporary repository) next to Python functions, in chat, stream and
AsyncClient; schemas cleaned, names unique, consent, reuse and stop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ipygemini
from conftest import client_for
from ipygemini import AsyncClient, Client, OptionError
from ipygemini.testing import FakeGateway
from ipygemini.tools import McpServer, running_mcp_servers, tools_from

pytest.importorskip("mcp_server_time")
pytest.importorskip("mcp_server_git")

TIME = (sys.executable, "-m", "mcp_server_time")
GIT = (sys.executable, "-m", "mcp_server_git")
REJECTED = {"$schema", "additionalProperties", "propertyNames", "exclusiveMinimum", "title"}


pytestmark = pytest.mark.usefixtures("mcp_servers_end")


def client(gw: FakeGateway) -> Client:
    return client_for(gw, model="gemini-2.5-flash", max_retries=0)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "test@example.com")
    git(tmp_path, "config", "user.name", "Test")
    (tmp_path / "notes.txt").write_text("first\n")
    git(tmp_path, "add", "notes.txt")
    git(tmp_path, "commit", "-q", "-m", "first")
    (tmp_path / "notes.txt").write_text("first\nsecond\n")
    return tmp_path


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def schema_keys(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(set(), *(schema_keys(n) for n in node))
    if not isinstance(node, dict):
        return set()
    keys = set(node) - {"properties"} if "properties" in node else set(node)
    for key, value in node.items():
        subs = value.values() if key == "properties" and isinstance(value, dict) else [value]
        for sub in subs:
            keys |= schema_keys(sub)
    return keys


def test_time_server_and_a_function_in_one_list(gw: FakeGateway) -> None:
    time_server = ipygemini.mcp_server(*TIME)
    gw.script_tool_calls(
        [[("time__get_current_time", {"timezone": "Etc/UTC"}), ("add", {"a": 2, "b": 3})]]
    )
    with client(gw) as c:
        reply = c.chat("what time is it, and 2 + 3?", tools=[time_server, add])
    clock, total = reply.tool_calls
    assert clock.error is None and total.result == "5"
    assert json.loads(clock.result or "")["timezone"] == "Etc/UTC"
    assert "Etc/UTC" in reply.text
    sent = gw.requests[0].body["tools"]
    names = [t["function"]["name"] for t in sent]
    assert names == ["time__get_current_time", "time__convert_time", "add"]
    for tool in sent:
        assert not schema_keys(tool["function"]["parameters"]) & REJECTED, tool


def test_a_server_alone_streams_and_runs_under_asyncio(gw: FakeGateway) -> None:
    time_server = ipygemini.mcp_server(*TIME)
    gw.script_tool_calls([[("time__get_current_time", {"timezone": "Asia/Tokyo"})]])
    with client(gw).stream("tokyo time?", tools=time_server) as stream:
        kinds = [event.type for event in stream]
    assert "tool_call" in kinds and "Asia/Tokyo" in (stream.reply.tool_calls[0].result or "")

    async def main() -> Any:
        async with AsyncClient(
            api_key=gw.api_key, base_url=gw.base_url, model="gemini-2.5-flash", max_retries=0
        ) as c:
            return await c.chat("paris time?", tools=[time_server])

    gw.script_tool_calls([[("time__get_current_time", {"timezone": "Europe/Paris"})]])
    reply = asyncio.run(main())
    assert "Europe/Paris" in (reply.tool_calls[0].result or "")


def test_a_batch_shares_the_server(gw: FakeGateway) -> None:
    time_server = ipygemini.mcp_server(*TIME)
    zones = ["Etc/UTC", "Asia/Tokyo", "Europe/Paris"]
    gw.script_tool_calls(
        [r for zone in zones for r in ([("time__get_current_time", {"timezone": zone})], [])]
    )
    batch = client(gw).map(
        zones, "time in {text}?", tools=[time_server], concurrency=1, progress=False
    )
    for zone, reply in zip(zones, batch, strict=True):
        assert reply is not None and zone in (reply.tool_calls[0].result or "")
    assert time_server.process.starts == 1


def test_git_reads_run_and_writes_need_consent(gw: FakeGateway, repo: Path) -> None:
    server = ipygemini.mcp_server(*GIT, "--repository", str(repo))
    at = {"repo_path": str(repo)}
    gw.script_tool_calls(
        [
            [("git__git_status", at)],
            [("git__git_add", {**at, "files": ["notes.txt"]})],
            [("git__git_commit", {**at, "message": "by the model"})],
        ]
    )
    reply = client(gw).chat("commit my notes", tools=[server])
    status, staged, commit = reply.tool_calls
    assert status.error is None and "notes.txt" in (status.result or "")
    for refused in (staged, commit):
        assert (
            refused.error
            and refused.error.startswith("refused:")
            and "nothing ran" in refused.error
        )
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(repo, "diff", "--cached", "--name-only") == ""

    allowed = ipygemini.mcp_server(*GIT, "--repository", str(repo), allow=["git_add", "git_commit"])
    assert allowed.process is server.process  # the same process, another consent
    gw.script_tool_calls(
        [
            [("git__git_add", {**at, "files": ["notes.txt"]})],
            [("git__git_commit", {**at, "message": "by the model"})],
        ]
    )
    reply = client(gw).chat("commit my notes now", tools=[allowed])
    assert [call.error for call in reply.tool_calls] == [None, None]
    assert git(repo, "log", "-1", "--format=%s").strip() == "by the model"


def test_allow_names_a_tool_the_server_lacks(repo: Path) -> None:
    with pytest.raises(OptionError, match=r"allow names git_comit, .*its tools: git_status"):
        ipygemini.mcp_server(*GIT, "--repository", str(repo), allow=["git_comit"])


def test_one_process_per_configuration_until_stopped() -> None:
    first = ipygemini.mcp_server(*TIME, env={"TZ": "UTC"})
    second = ipygemini.mcp_server(*TIME, env={"TZ": "UTC"}, name="clock")
    other = McpServer(*TIME)
    assert first.process is second.process and first.process is not other.process
    assert first.process.starts == 1
    assert "clock__get_current_time" in tools_from([second])
    assert first.process in running_mcp_servers()
    assert first.stop() and not first.process.alive
    assert first.process not in running_mcp_servers()
    assert "time__get_current_time" in {t.name for t in first.tools()}  # started again
    assert first.process.starts == 2


def test_two_servers_with_one_name_are_refused() -> None:
    a = ipygemini.mcp_server(*TIME)
    b = ipygemini.mcp_server(*TIME, env={"TZ": "UTC"})
    with pytest.raises(OptionError, match="two tools are named 'time__get_current_time'"):
        tools_from([a, b])
