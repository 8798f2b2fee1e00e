"""MCP tools as Gemini sees them: parameter schemas cleaned to the subset Gemini accepts, and
function names unique across servers and Python functions.

Gemini refuses a tool whose parameters carry ``$schema``, ``additionalProperties``,
``propertyNames`` or ``exclusiveMinimum`` (and other JSON-Schema keywords it does not know), and
MCP servers built with pydantic send them all. The structured-output cleaner in client/_schema.py
makes every property required and nullable, which suits answers but not arguments (the model
would send ``null`` for every optional argument, and servers validate), so tool parameters get
this small cleaner instead: local ``$ref`` inlined, known keywords kept, the rest dropped,
``const`` as a one-value ``enum``, exclusive bounds as inclusive ones, a ``default`` told in the
description, and optional arguments left optional.

Names: a tool ``get_current_time`` of the server named ``time`` is offered to the model as
``time__get_current_time``. Both OpenAI-style gateways (``^[A-Za-z0-9_-]{1,64}$``) and Gemini
(letters, digits, ``_ . : -``, starting with a letter or underscore, at most 64) accept that
shape: any other character becomes ``_``, and a name longer than 64 is cut and given a short
hash so two long names stay apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["clean_parameters", "exposed_name", "server_label"]

NAME_LIMIT = 64
SEPARATOR = "__"

_KEPT = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "properties",
        "required",
        "items",
        "anyOf",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "pattern",
    }
)
_FORMATS = frozenset({"date-time", "date", "time", "enum", "int32", "int64", "float", "double"})
_INTERPRETERS = frozenset(
    {"python", "python3", "py", "node", "npx", "uvx", "uv", "run", "bun", "bunx", "deno", "pipx"}
)


def clean_parameters(schema: Any) -> dict[str, Any]:
    """A tool's input schema as Gemini accepts it; always an object schema."""
    if not isinstance(schema, Mapping):
        return {"type": "object", "properties": {}}
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    cleaned = _clean(schema, defs, ())
    if cleaned.get("type") != "object":
        return {"type": "object", "properties": {}}
    cleaned.setdefault("properties", {})
    return cleaned


def _clean(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(node, Mapping):
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in defs:
            return {}  # a recursive or unknown reference: any value (the server validates)
        merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs, (*seen, name))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEPT:
            continue
        if key == "properties" and isinstance(value, Mapping):  # names are data, kept as they are
            out[key] = {str(k): _clean(v, defs, seen) for k, v in value.items()}
        elif key == "items":
            out[key] = _clean(value, defs, seen)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [_clean(v, defs, seen) for v in value]
        else:
            out[key] = json.loads(json.dumps(value))
    if "oneOf" in node and isinstance(node["oneOf"], list) and "anyOf" not in out:
        out["anyOf"] = [_clean(v, defs, seen) for v in node["oneOf"]]
    if "const" in node:
        out["enum"] = [node["const"]]
    for exclusive, inclusive, step in (
        ("exclusiveMinimum", "minimum", 1),
        ("exclusiveMaximum", "maximum", -1),
    ):
        bound = node.get(exclusive)
        if isinstance(bound, int | float) and not isinstance(bound, bool) and inclusive not in out:
            out[inclusive] = bound + step if node.get("type") == "integer" else bound
    if out.get("format") not in _FORMATS:
        out.pop("format", None)
    if "default" in node and node["default"] is not None:
        told = f"Default: {json.dumps(node['default'], ensure_ascii=False)}."
        out["description"] = f"{out['description']} {told}" if out.get("description") else told
    options = out.get("anyOf")
    if isinstance(options, list):  # Optional[X] as pydantic writes it: X, nullable
        others = [o for o in options if o != {"type": "null"}]
        if (
            len(others) == 1
            and len(others) < len(options)
            and isinstance(others[0].get("type"), str)
        ):
            out.pop("anyOf")
            out = {**others[0], **out, "type": [others[0]["type"], "null"]}
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [k for k in out["required"] if k in out["properties"]]
    return out


def server_label(command: str, args: Sequence[str]) -> str:
    """A short name for a server from how it is started: ``mcp-server-time`` -> ``time``,
    ``python -m mcp_server_git`` -> ``git``, ``uvx mcp-server-fetch`` -> ``fetch``."""
    words = [command, *args]
    chosen = words[0]
    for word in words:
        base = os.path.basename(word)
        stem = re.sub(r"\.(py|js|mjs|exe|cmd)$", "", base)
        if (
            word.startswith("-")
            or re.fullmatch(r"(python|pypy)[0-9.]*", stem)
            or stem in _INTERPRETERS
        ):
            continue
        chosen = stem
        break
    label = re.sub(r"^(mcp[-_]server[-_]|server[-_]|mcp[-_])", "", chosen)
    label = re.sub(r"([-_]mcp[-_]server|[-_]mcp|[-_]server)$", "", label) or chosen
    return _safe(label)[: NAME_LIMIT // 2] or "server"


def exposed_name(server: str, tool: str) -> str:
    """The function name the model sees for `tool` of `server` (see the module docstring)."""
    name = _safe(f"{server}{SEPARATOR}{tool}")
    if len(name) > NAME_LIMIT:
        digest = hashlib.sha256(f"{server}\x00{tool}".encode()).hexdigest()[:6]
        name = f"{name[: NAME_LIMIT - 7]}_{digest}"
    return name


def _safe(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", text)
    return name if not name or re.match(r"[A-Za-z_]", name) else f"_{name}"
