"""Python functions as tools: a JSON Schema from each signature, type hints and docstring, and
calls checked against it before anything runs.

Only the functions a user names become tools. A call to another name, or with arguments that do
not fit the signature, is answered with an error result and never executed; an exception in the
function is sent back as its result, so the model may recover.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import OptionError

__all__ = ["Tool", "ToolResult", "tools_from"]

RESULT_CHARS = 8_000
"""A result longer than this (as JSON or repr) is cut, with a note, before it is sent back."""

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclasses.dataclass
class ToolResult:
    """What running one call gave: the text sent back to the model, and what to show."""

    content: str
    value: Any = None
    error: str | None = None


@dataclasses.dataclass
class Tool:
    """One callable the model may call, with its schema."""

    name: str
    function: Callable[..., Any]
    description: str
    parameters: dict[str, Any]

    @property
    def shown_name(self) -> str:
        """The name front ends show for a call (an MCP tool: ``server.tool``)."""
        return self.name

    def spec(self) -> dict[str, Any]:
        """The entry of the request's ``tools`` list."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def check(self, arguments: Any) -> str | None:
        """Why `arguments` do not fit the signature, or None when they do."""
        from ..client._schema import schema_mismatch

        if not isinstance(arguments, dict):
            return f"arguments must be a JSON object, not {type(arguments).__name__}"
        props = self.parameters.get("properties", {})
        unknown = sorted(set(arguments) - set(props))
        if unknown:
            return f"unknown argument(s) {', '.join(unknown)}; {self.name} takes {', '.join(props) or 'none'}"
        for key in self.parameters.get("required", []):
            if key not in arguments:
                return f"missing argument {key!r}"
        for key, value in arguments.items():
            problem = schema_mismatch(value, props[key])
            if problem:
                return f"argument {key!r} {problem}"
        return None

    async def run(self, arguments: Any) -> ToolResult:
        """Check, then call (an async function awaited, a sync one in a worker thread)."""
        problem = self.check(arguments)
        if problem is not None:
            return ToolResult(content=json.dumps({"error": problem}), error=problem)
        try:
            if inspect.iscoroutinefunction(self.function):
                value = await self.function(**arguments)
            else:
                value = await asyncio.to_thread(self.function, **arguments)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            return ToolResult(content=json.dumps({"error": error}), error=error)
        return ToolResult(content=result_text(value), value=value)

    def run_sync(self, arguments: Any) -> ToolResult:
        """`run` for callers without an event loop (the magic): async functions get one."""
        problem = self.check(arguments)
        if problem is not None:
            return ToolResult(content=json.dumps({"error": problem}), error=problem)
        try:
            value = self.function(**arguments)
            if inspect.isawaitable(value):
                value = _run_awaitable(value)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            return ToolResult(content=json.dumps({"error": error}), error=error)
        return ToolResult(content=result_text(value), value=value)


def _run_awaitable(awaitable: Any) -> Any:
    """Await outside a running loop; inside one (a kernel cell), on a private loop in a thread."""

    async def wrapper() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrapper()).result()


def result_text(value: Any) -> str:
    """A result as sent back: a string as it is, else JSON when it is JSON-able, else its repr;
    cut at `RESULT_CHARS`."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=_jsonable)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    if len(text) > RESULT_CHARS:
        text = text[:RESULT_CHARS] + f"… [{len(text) - RESULT_CHARS:,} more characters cut]"
    return text


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if hasattr(value, "to_dict"):  # pandas objects
        return value.to_dict()
    raise TypeError


def tools_from(
    functions: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]],
) -> dict[str, Tool]:
    """The named functions as tools, by name; `OptionError` for anything that cannot be one.
    An MCP server (`mcp_server`) in the list stands for all its tools."""
    if hasattr(functions, "mcp_tools"):  # MCP: one server alone (tools/_mcp_tools.py)
        functions = [functions]  # type: ignore[list-item]
    items = functions.items() if isinstance(functions, Mapping) else ((None, f) for f in functions)
    tools: dict[str, Tool] = {}
    for given, function in items:
        if hasattr(function, "mcp_tools") and given is None:  # MCP: a server's tools, by name
            for tool in function.mcp_tools():
                if tool.name in tools:
                    raise OptionError(
                        f"two tools are named {tool.name!r}; give each MCP server its own "
                        "name with mcp_server(..., name=...)."
                    )
                tools[tool.name] = tool
            continue
        if not callable(function):
            raise OptionError(
                f"tools must be functions; got {type(function).__name__} {function!r:.40}."
            )
        name = str(given or getattr(function, "__name__", ""))
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", name or ""):
            raise OptionError(
                f"tool name {name!r} must be a Python-style name of at most 64 characters."
            )
        if name in tools:
            raise OptionError(f"two tools are named {name!r}; give each function its own name.")
        tools[name] = Tool(name, function, *describe(function))
    return tools


def describe(function: Callable[..., Any]) -> tuple[str, dict[str, Any]]:
    """(description, JSON Schema of the parameters) from the signature, hints and docstring."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise OptionError(
            f"cannot read the signature of {function!r:.60}; wrap it in a def."
        ) from None
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolvable forward references: fall back to no hints
        hints = {}
    doc = inspect.getdoc(function) or ""
    summary, arg_docs = _parse_docstring(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise OptionError(
                f"{function.__name__}: positional-only parameter {name!r} cannot be a tool argument."
            )
        schema = _schema_of(hints.get(name, Any), f"{function.__name__}({name})")
        if name in arg_docs:
            schema = {**schema, "description": arg_docs[name]}
        properties[name] = schema
        if param.default is param.empty:
            required.append(name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return summary or f"Call {function.__name__}.", parameters


def _schema_of(hint: Any, where: str) -> dict[str, Any]:
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if hint is type(None):
        return {"type": "null"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [_schema_of(a, where) for a in args]
        non_null = [o for o in options if o != {"type": "null"}]
        if len(non_null) == 1 and len(options) == 2 and "type" in non_null[0]:
            return {**non_null[0], "type": [non_null[0]["type"], "null"]}
        return {"anyOf": options}
    if origin in (list, tuple, set, frozenset, Sequence) or hint in (list, tuple, set):
        item = args[0] if args and args[0] is not Ellipsis else Any
        return {"type": "array", "items": _schema_of(item, where)}
    if origin in (dict, Mapping) or hint is dict:
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    if isinstance(hint, type) and (
        hasattr(hint, "model_json_schema") or dataclasses.is_dataclass(hint)
    ):
        from ..client._schema import output_schema

        return output_schema(hint).json_schema
    raise OptionError(
        f"{where}: type {hint!r} has no JSON Schema; use str, int, float, bool, lists, dicts, Literal, Enum or a dataclass."
    )


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary paragraph, and argument descriptions from Google/NumPy/Sphinx-style docs."""
    paragraphs = doc.strip().split("\n\n")
    summary = " ".join(paragraphs[0].split()) if paragraphs and paragraphs[0] else ""
    args: dict[str, str] = {}
    for match in re.finditer(r"^\s*:param\s+(?:\w+\s+)?(\w+):\s*(.+)$", doc, re.M):
        args[match.group(1)] = match.group(2).strip()
    section = re.search(
        r"^(?:Args|Arguments|Parameters):?\s*\n(?:-+\n)?(.*?)(?:\n\s*\n|\Z)", doc, re.S | re.M
    )
    if section:
        for match in re.finditer(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", section.group(1), re.M):
            if match.group(2):
                args.setdefault(match.group(1), match.group(2).strip())
    if summary.startswith((":param", "Args", "Parameters")):
        summary = ""
    return summary, args
