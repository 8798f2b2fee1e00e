"""MCP servers in the magic: ``%%gemini --mcp SERVER`` (a command line, split like a shell
command, or a name from ``%config Gemini.mcp_servers``) with ``--mcp-allow NAME ...``, and
``%gemini mcp`` / ``%gemini mcp stop [NAME]``. Servers start once per kernel and configuration
(tools/ keeps them); the SDK is imported only when a server is named."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from IPython.core.error import UsageError

__all__ = ["cell_servers", "mcp_command"]

Configured = Mapping[str, Mapping[str, Any]]


def cell_servers(specs: Sequence[str], allowed: Sequence[str], configured: Configured) -> list[Any]:
    """The `McpServer`s a cell's ``--mcp`` options name, started, each allowed the tools of
    ``--mcp-allow`` it offers (by its own name or the name the model sees). A name no server
    offers, a server that cannot start or a missing SDK is one UsageError line."""
    from .._errors import GeminiError
    from ..tools import mcp_server

    servers = []
    try:
        for spec in specs:
            words, options = _server_arguments(spec, configured)
            servers.append(mcp_server(*words, **options))
        left = set(allowed)
        for i, server in enumerate(servers):
            tools = server.tools()
            offered = {t.remote_name for t in tools} | {t.name for t in tools}
            mine = offered & set(allowed)
            left -= mine
            if not mine or server.allow is True or callable(server.allow):
                continue
            servers[i] = server.allowing(mine | (server.allow or frozenset()))
    except GeminiError as exc:
        raise UsageError(f"%%gemini --mcp: {exc}") from None
    if left:
        offered_all = sorted({t.remote_name for s in servers for t in s.tools()})
        raise UsageError(
            f"%%gemini --mcp-allow: no server of this cell offers {', '.join(sorted(left))}; "
            f"their tools: {', '.join(offered_all) or 'none'}."
        )
    return servers


def _server_arguments(spec: str, configured: Configured) -> tuple[list[str], dict[str, Any]]:
    """(the command and its arguments, mcp_server's keywords) for one ``--mcp`` value."""
    if spec in configured:
        entry = configured[spec]
        options: dict[str, Any] = {"env": dict(entry.get("env") or {}) or None, "name": spec}
        options.update({k: entry[k] for k in ("allow", "timeout") if k in entry})
        return [entry["command"], *(entry.get("args") or [])], options
    try:
        words = shlex.split(spec)
    except ValueError as exc:
        raise UsageError(f"%%gemini --mcp: cannot read {spec!r} ({exc})") from None
    if not words:
        raise UsageError("%%gemini --mcp: give a server command or a configured name")
    beside_python = os.path.dirname(sys.executable)  # where pip put it (tools/ looks there too)
    if len(words) == 1 and not (
        shutil.which(words[0]) or shutil.which(words[0], path=beside_python)
    ):
        names = ", ".join(sorted(configured)) or "none; %config Gemini.mcp_servers = {...}"
        raise UsageError(
            f"%%gemini --mcp: {spec!r} is neither a configured server (Gemini.mcp_servers: "
            f"{names}) nor a command on PATH."
        )
    return words, {}


def mcp_command(rest: Sequence[str], configured: Configured) -> None:
    """``%gemini mcp``: the configured and running servers with their tools;
    ``%gemini mcp stop [NAME]``: end them (all, or those named NAME)."""
    from ..tools import running_mcp_servers, stop_mcp_servers

    if rest and rest[0] == "stop":
        if len(rest) > 2:
            raise UsageError("%gemini mcp stop takes at most one server name")
        name = rest[1] if len(rest) == 2 else None
        stopped = stop_mcp_servers(name)
        if stopped:
            print(f"Stopped MCP server(s): {', '.join(stopped)}.")
        else:
            which = f" named {name!r}" if name else ""
            print(f"No MCP server{which} is running.")
        return
    if rest:
        raise UsageError("%gemini mcp takes nothing, or stop [NAME]")
    running = {(p.key.command, p.key.args, p.key.env): p for p in running_mcp_servers()}
    rows: list[tuple[str, str, str]] = []
    for name, entry in sorted(configured.items()):
        env = tuple(sorted((entry.get("env") or {}).items()))
        key = (entry["command"], tuple(entry.get("args") or ()), env)
        process = running.pop(key, None)
        command = " ".join([entry["command"], *(entry.get("args") or [])])
        rows.append((name, command, _state(process, f"starts on first --mcp {name}")))
    for key, process in running.items():
        rows.append((process.label, " ".join([key[0], *key[1]]), _state(process, "")))
    if not rows:
        print(
            "No MCP servers configured or running: %%gemini --mcp 'COMMAND ARGS' starts one; "
            "%config Gemini.mcp_servers = {'NAME': {'command': ..., 'args': [...]}} names one."
        )
        return
    width = max(len(row[0]) for row in rows)
    for name, command, state in rows:
        print(f"{name:<{width}}  {command}\n{'':<{width}}  {state}")


def _state(process: Any, idle: str) -> str:
    if process is None:
        return f"not running ({idle})" if idle else "not running"
    tools = []
    for entry in process.tools():
        annotations = entry.get("annotations") or {}
        asks = "" if annotations.get("readOnlyHint") is True else " (needs allow)"
        tools.append(f"{process.label}.{entry.get('name')}{asks}")
    return "running; tools: " + (", ".join(tools) or "none")
