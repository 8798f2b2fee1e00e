"""MCP servers' tools as `Tool` objects: `mcp_server(...)` in a ``tools=[...]`` list beside Python
functions, with consent and a time limit on every call.

Consent: a tool the server marks read-only (``readOnlyHint``) runs; any other runs only when the
user allowed it: ``allow=["git_commit"]`` (the server's tool names, or the names the model sees),
``allow=True`` (every tool of that server), or ``allow=callable(tool_name, arguments) -> bool``
(sync or async; the hook a confirm control plugs into). A call that is not allowed is answered
to the model as refused, and nothing runs.

Time: a call longer than ``timeout`` seconds is cancelled and the model is told so; the server
stays up. Ctrl-C while waiting stops the wait, cancels the call and leaves the server usable.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._errors import OptionError
from ._functions import Tool, ToolResult, _run_awaitable
from ._mcp_result import tool_result
from ._mcp_schema import clean_parameters, exposed_name, server_label
from ._mcp_session import ServerKey, ServerProcess, process_for, require_sdk

__all__ = ["McpServer", "McpTool", "mcp_server"]

Allow = bool | Iterable[str] | Callable[[str, dict[str, Any]], Any] | None


def mcp_server(
    command: str | os.PathLike[str],
    *args: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    allow: Allow = None,
    timeout: float | None = 30.0,
    name: str | None = None,
) -> McpServer:
    """A stdio MCP server's tools, for ``tools=[...]`` (with Python functions, in `chat`,
    `stream`, `AsyncClient` and the panel).

    The process starts now (so a wrong command fails here, in one line) and once per interpreter
    and configuration (command, arguments, ``env``): later calls with the same configuration
    reuse it. It is given only PATH, HOME, LANG and the SDK's few basics plus ``env``: never the
    API key or the rest of your environment. ``command`` alone with spaces is split like a
    shell command (``mcp_server("mcp-server-git --repository .")``).

    The model sees each tool as ``NAME__TOOL`` (NAME is `name`, by default taken from the
    command: ``mcp-server-time`` -> ``time``), so names stay unique across servers and
    functions. `allow` and `timeout`: see the module docstring.
    """
    require_sdk()
    server = McpServer(command, *args, env=env, allow=allow, timeout=timeout, name=name)
    server.tools()
    return server


class McpServer:
    """One MCP server as a source of tools; cheap to make, the process is shared by key."""

    def __init__(
        self,
        command: str | os.PathLike[str],
        *args: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        allow: Allow = None,
        timeout: float | None = 30.0,
        name: str | None = None,
    ) -> None:
        words = [os.fspath(command), *(os.fspath(a) for a in args)]
        if not args and any(c.isspace() for c in words[0]) and not os.path.exists(words[0]):
            words = shlex.split(words[0])
        if not words or not all(isinstance(w, str) for w in words) or not words[0]:
            raise OptionError(
                f"mcp_server needs a command such as 'mcp-server-time'; got {command!r}."
            )
        if env is not None and not (
            isinstance(env, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise OptionError(
                "mcp_server env must map names to strings, e.g. env={'TOKEN': '...'}."
            )
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not timeout > 0
            or math.isinf(timeout)
        ):
            raise OptionError(
                f"mcp_server timeout must be a number of seconds > 0 (or None); got {timeout!r}."
            )
        if isinstance(allow, str) or not (
            allow is None
            or isinstance(allow, bool)
            or callable(allow)
            or isinstance(allow, Iterable)
        ):
            raise OptionError(
                "mcp_server allow must be a list of tool names, True, or a function(name, arguments); "
                f"got {allow!r:.60}."
            )
        self.key = ServerKey(words[0], tuple(words[1:]), tuple(sorted((env or {}).items())))
        self.name = server_label(words[0], words[1:]) if name is None else name
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,31}", self.name):
            raise OptionError(
                f"mcp_server name {name!r} must be letters, digits, _ or - (e.g. 'git')."
            )
        if isinstance(allow, bool) or callable(allow) or allow is None:
            self.allow: bool | frozenset[str] | Callable[[str, dict[str, Any]], Any] | None = allow
        else:
            self.allow = frozenset(allow)
            if not all(isinstance(n, str) for n in self.allow):
                raise OptionError(
                    f"mcp_server allow must list tool names as strings; got {allow!r:.60}."
                )
        self.timeout = None if timeout is None else float(timeout)
        self.process: ServerProcess = process_for(self.key, self.name)

    def __repr__(self) -> str:
        state = "running" if self.process.alive else "not running"
        return f"<McpServer {self.name!r}: {self.key.describe()} ({state})>"

    def tools(self) -> list[McpTool]:
        """The server's tools as `Tool` objects (starting the server if it is not running);
        `OptionError` when `allow` names a tool the server does not have."""
        listed = self.process.tools()
        tools = [McpTool.of(self, entry) for entry in listed if isinstance(entry.get("name"), str)]
        if isinstance(self.allow, frozenset):
            known = {t.remote_name for t in tools} | {t.name for t in tools}
            unknown = sorted(self.allow - known)
            if unknown:
                raise OptionError(
                    f"allow names {', '.join(unknown)}, which MCP server {self.name!r} does not "
                    f"offer; its tools: {', '.join(t.remote_name for t in tools) or 'none'}."
                )
        return tools

    mcp_tools = tools  # what tools_from looks for

    def allowing(self, allow: Allow) -> McpServer:
        """This server (the same process: the key is the same) with another consent rule, for
        a front end that asks the user (the panel) or adds names (``--mcp-allow``)."""
        return McpServer(
            self.key.command,
            *self.key.args,
            env=dict(self.key.env) or None,
            allow=allow,
            timeout=self.timeout,
            name=self.name,
        )

    def stop(self) -> bool:
        """End this server's process (True when it was running); the next use starts it again."""
        return self.process.stop()


@dataclasses.dataclass
class McpTool(Tool):
    """One tool of an MCP server; runs only with consent, within the server's time limit."""

    server: McpServer | None = None
    remote_name: str = ""
    read_only: bool = False

    @classmethod
    def of(cls, server: McpServer, entry: Mapping[str, Any]) -> McpTool:
        remote = str(entry["name"])
        annotations = entry.get("annotations")
        read_only = isinstance(annotations, Mapping) and annotations.get("readOnlyHint") is True
        description = str(entry.get("description") or f"{remote} of the MCP server {server.name}")
        tool = cls(
            name=exposed_name(server.name, remote),
            function=_unbound,
            description=description,
            parameters=clean_parameters(entry.get("inputSchema")),
            server=server,
            remote_name=remote,
            read_only=read_only,
        )
        tool.function = tool._direct
        return tool

    @property
    def shown_name(self) -> str:
        """``server.tool``, as the user knows it (the model sees ``server__tool``)."""
        return f"{self.server.name}.{self.remote_name}" if self.server else self.name

    def _direct(self, **arguments: Any) -> Any:
        """`function`: the same checks and consent as the tool loop; the output or an error."""
        result = self.run_sync(arguments)
        if result.error is not None:
            raise RuntimeError(result.error)
        return result.value

    def check(self, arguments: Any) -> str | None:
        return super().check(_without_nulls(arguments, self.parameters))

    def run_sync(self, arguments: Any) -> ToolResult:
        problem = self.check(arguments)
        if problem is not None:
            return _error(problem)
        arguments = _without_nulls(arguments, self.parameters)
        refusal = self._refusal(arguments, sync=True)
        if refusal is not None:
            return _error(refusal)
        assert self.server is not None
        outcome = self.server.process.call_sync(self.remote_name, arguments, self.server.timeout)
        return _error(outcome) if isinstance(outcome, str) else tool_result(outcome)

    async def run(self, arguments: Any) -> ToolResult:
        problem = self.check(arguments)
        if problem is not None:
            return _error(problem)
        arguments = _without_nulls(arguments, self.parameters)
        refusal = self._refusal(arguments, sync=False)
        if inspect.isawaitable(refusal):
            refusal = await refusal
        if refusal is not None:
            return _error(refusal)
        assert self.server is not None
        outcome = await self.server.process.call(self.remote_name, arguments, self.server.timeout)
        return _error(outcome) if isinstance(outcome, str) else tool_result(outcome)

    def _refusal(self, arguments: dict[str, Any], *, sync: bool) -> Any:
        """None when the call may run, else why not (an awaitable of that from an async hook
        on the async path)."""
        assert self.server is not None
        allow = self.server.allow
        if self.read_only or allow is True:
            return None
        if isinstance(allow, frozenset):
            return (
                None if {self.remote_name, self.name} & allow else self._refused("was not allowed")
            )
        if callable(allow):
            try:
                answer = allow(self.remote_name, dict(arguments))
                if inspect.isawaitable(answer):
                    if not sync:
                        return self._judged(answer)
                    answer = _run_awaitable(answer)
            except Exception as exc:
                return self._refused(
                    f"was not allowed (the allow check raised {type(exc).__name__}: {exc})"
                )
            return None if answer else self._refused("was declined")
        return self._refused("was not allowed")

    async def _judged(self, answer: Any) -> str | None:
        try:
            allowed = await answer
        except Exception as exc:
            return self._refused(
                f"was not allowed (the allow check raised {type(exc).__name__}: {exc})"
            )
        return None if allowed else self._refused("was declined")

    def _refused(self, why: str) -> str:
        assert self.server is not None
        return (
            f"refused: {self.remote_name} of MCP server {self.server.name!r} is not marked "
            f"read-only and {why}; nothing ran. The user can allow it with "
            f"allow=[{self.remote_name!r}]."
        )


def _unbound(**arguments: Any) -> Any:
    raise RuntimeError("an MCP tool runs through its server")


def _error(problem: str) -> ToolResult:
    return ToolResult(content=json.dumps({"error": problem}), error=problem)


def _without_nulls(arguments: Any, parameters: Mapping[str, Any]) -> Any:
    """Optional arguments the model sent as null are left out (the server's default applies)."""
    if not isinstance(arguments, dict):
        return arguments
    required = set(parameters.get("required", []))
    return {k: v for k, v in arguments.items() if v is not None or k in required}
