"""MCP tool schemas cleaned for Gemini, and the names the model sees (pure functions)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ipygemini.tools._mcp_schema import clean_parameters, exposed_name, server_label

REJECTED = {"$schema", "additionalProperties", "propertyNames", "exclusiveMinimum", "$ref", "$defs"}


def keys_in(node: Any) -> set[str]:
    """Every key of every schema object in `node` (property names are data, not keywords)."""
    if isinstance(node, list):
        return set().union(*(keys_in(n) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set(node)
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            found -= {key}
            found |= {"properties"}
            for sub in value.values():
                found |= keys_in(sub)
        else:
            found |= keys_in(value)
    return found


PYDANTIC_STYLE = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "title": "searchArguments",
    "additionalProperties": False,
    "$defs": {
        "Filter": {
            "type": "object",
            "properties": {"field": {"type": "string"}, "op": {"const": "eq"}},
            "required": ["field", "op", "ghost"],
            "additionalProperties": False,
        }
    },
    "properties": {
        "query": {"type": "string", "title": "Query", "minLength": 1},
        "limit": {"type": "integer", "exclusiveMinimum": 0, "default": 10},
        "score": {"type": "number", "exclusiveMaximum": 1.5},
        "since": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "filter": {"$ref": "#/$defs/Filter"},
        "tags": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}},
        "additionalProperties": {"type": "boolean"},
    },
    "required": ["query"],
}


def test_the_keywords_gemini_rejects_are_gone_and_meaning_is_kept() -> None:
    cleaned = clean_parameters(PYDANTIC_STYLE)
    assert not keys_in(cleaned) & REJECTED
    props = cleaned["properties"]
    assert cleaned["required"] == ["query"]  # optional arguments stay optional
    assert props["query"] == {"type": "string", "minLength": 1}
    assert props["limit"] == {"type": "integer", "minimum": 1, "description": "Default: 10."}
    assert props["score"] == {"type": "number", "maximum": 1.5}
    assert props["since"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["filter"]["properties"]["op"] == {"enum": ["eq"]}
    assert props["filter"]["required"] == ["field", "op"]  # a required name with no property
    assert props["tags"] == {"type": "object"}
    assert "additionalProperties" in props  # a property of that name is data, kept
    json.dumps(cleaned)


@pytest.mark.parametrize(
    "schema",
    [
        None,
        {},
        {"type": "string"},
        {"$ref": "#/$defs/Loop", "$defs": {"Loop": {"$ref": "#/$defs/Loop"}}},
    ],
)
def test_what_is_not_an_object_schema_becomes_an_empty_one(schema: Any) -> None:
    assert clean_parameters(schema) == {"type": "object", "properties": {}}


def test_a_recursive_reference_stops_at_any_value() -> None:
    tree = {
        "type": "object",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/Node"}, "name": {"type": "string"}},
            }
        },
        "properties": {"root": {"$ref": "#/$defs/Node"}},
    }
    root = clean_parameters(tree)["properties"]["root"]
    assert root["properties"] == {"child": {}, "name": {"type": "string"}}


@pytest.mark.parametrize(
    ("command", "args", "label"),
    [
        ("mcp-server-time", [], "time"),
        ("/opt/venv/bin/mcp-server-git", ["--repository", "."], "git"),
        ("python3", ["-m", "mcp_server_git"], "git"),
        ("/usr/bin/python3.11", ["tests/mcp_edge_server.py"], "edge"),
        ("uvx", ["mcp-server-fetch"], "fetch"),
        ("npx", ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "filesystem"),
        ("github-mcp-server", ["stdio"], "github"),
        ("9lives", [], "_9lives"),
    ],
)
def test_server_labels_come_from_how_it_is_started(
    command: str, args: list[str], label: str
) -> None:
    assert server_label(command, args) == label


def test_exposed_names_fit_every_gateway_and_stay_apart() -> None:
    assert exposed_name("time", "get_current_time") == "time__get_current_time"
    assert exposed_name("fs", "read.file:v2") == "fs__read_file_v2"
    long_a = exposed_name("server", "a" * 80 + "x")
    long_b = exposed_name("server", "a" * 80 + "y")
    for name in (long_a, long_b, exposed_name("9", "t")):
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,63}", name), name
    assert long_a != long_b


def test_a_client_refuses_mcp_servers_by_name_instead_of_dropping_it() -> None:
    from ipygemini import Client
    from ipygemini._errors import OptionError

    with pytest.raises(OptionError, match=r"mcp_servers .*tools=\[ipygemini.mcp_server"):
        Client(api_key="k", base_url="http://127.0.0.1:9/v1", mcp_servers={"t": {"command": "x"}})
