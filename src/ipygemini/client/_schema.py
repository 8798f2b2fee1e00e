"""Structured output: a Python type or JSON Schema as Gemini accepts it, and answers checked
against it.

pydantic (optional) turns models, dataclasses, TypedDicts and ``list[...]`` of them into JSON
Schema and validates answers; a plain JSON-Schema dict needs no pydantic and is checked by the
small validator here. Gemini's OpenAI-compatible endpoint takes a subset of JSON Schema: no
``$ref`` (definitions are inlined), optional fields as explicit nullable types, no titles,
defaults or ``additionalProperties``, and an object at the root (anything else is wrapped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import GeminiError, OptionError

__all__ = ["AnswerValidationError", "OutputSchema", "output_schema", "schema_mismatch"]

_DROPPED = frozenset(
    {
        "title",
        "default",
        "$schema",
        "examples",
        "additionalProperties",
        "$defs",
        "definitions",
        "discriminator",
        "$id",
        "$comment",
        "readOnly",
        "writeOnly",
        "deprecated",
    }
)
_FORMATS = frozenset({"date-time", "date", "time", "enum"})
_WRAP_KEY = "items"


class AnswerValidationError(GeminiError, ValueError):
    """The answer does not match the schema; `reply.text` keeps what the model said."""

    hint = "The raw answer is in error.reply.text; simplify the schema or ask more precisely."

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        reply: Any = None,
        hint: str | None = None,
    ) -> None:
        self.field = field
        self.reply = reply
        super().__init__(message, hint=hint)


@dataclass(frozen=True)
class OutputSchema:
    """One requested answer shape: what is sent (`json_schema`) and how answers are checked."""

    name: str
    json_schema: dict[str, Any]
    original: dict[str, Any]
    wrapped: bool
    target: Any

    def response_format(self) -> dict[str, Any]:
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name, "schema": self.json_schema, "strict": True},
        }

    def instruction(self) -> str:
        """For gateways without ``json_schema``: the schema as a system-message instruction."""
        return (
            "Answer with one JSON object only, no prose and no code fence, that follows this "
            "JSON Schema:\n" + json.dumps(self.json_schema, ensure_ascii=False)
        )

    def parse(self, text: str) -> Any:
        """The answer as an instance of the target type (a dict/list for a JSON-Schema dict)."""
        try:
            value = json.loads(_unfenced(text))
        except (ValueError, RecursionError) as exc:
            preview = " ".join(text.split())[:60]
            raise AnswerValidationError(
                f"the answer is not JSON ({exc}); it begins {preview!r}."
            ) from None
        if self.wrapped:
            if not isinstance(value, dict) or _WRAP_KEY not in value:
                raise AnswerValidationError(
                    f"the answer has no {_WRAP_KEY!r} list", field=_WRAP_KEY
                )
            value = value[_WRAP_KEY]
        value = _drop_optional_nulls(value, self.original)
        if isinstance(self.target, Mapping):
            problem = _check(value, self.original, "")
            if problem is not None:
                where, what = problem
                raise AnswerValidationError(f"field {where or '(root)'!r} {what}", field=where)
            return value
        from pydantic import TypeAdapter, ValidationError

        try:
            return TypeAdapter(self.target).validate_python(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
            raise AnswerValidationError(
                f"field {where!r}: {first.get('msg', 'is not valid')}", field=where
            ) from None


def output_schema(target: Any) -> OutputSchema:
    """`target` (a pydantic model, dataclass, TypedDict, ``list[...]`` of those, or a
    JSON-Schema dict) as an `OutputSchema`; `OptionError` when it cannot be one."""
    if isinstance(target, Mapping):
        raw = json.loads(json.dumps(target))  # a private copy; non-JSON values fail here
        if not isinstance(raw.get("type", "object"), str | list):
            raise OptionError("a JSON-Schema dict needs a 'type' such as 'object'.")
        name = str(raw.get("title") or "answer")
    else:
        try:
            from pydantic import PydanticSchemaGenerationError, PydanticUserError, TypeAdapter
        except ImportError:
            raise OptionError(
                "schemas from Python types need pydantic: pip install pydantic "
                "(or pass a JSON-Schema dict)."
            ) from None
        try:
            raw = TypeAdapter(target).json_schema()
        except (PydanticSchemaGenerationError, TypeError, ValueError) as exc:
            shown = getattr(target, "__name__", repr(target))
            raise OptionError(
                f"{shown} cannot be turned into a JSON Schema ({type(exc).__name__}); use a "
                "pydantic model, dataclass, TypedDict, list[...] of them, or a JSON-Schema dict."
            ) from None
        except PydanticUserError as exc:  # e.g. typing.TypedDict on Python < 3.12
            raise OptionError(str(exc).splitlines()[0]) from None
        name = str(raw.get("title") or getattr(target, "__name__", "answer"))
    resolved = _inline(raw, raw.get("$defs") or raw.get("definitions") or {}, ())
    wrapped = resolved.get("type") != "object"
    if wrapped:
        resolved = {"type": "object", "properties": {_WRAP_KEY: resolved}, "required": [_WRAP_KEY]}
    return OutputSchema(
        name=re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "answer",
        json_schema=_for_gemini(resolved),
        original=resolved,
        wrapped=wrapped,
        target=target,
    )


def _inline(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    """`node` with every local ``$ref`` replaced by its definition."""
    if isinstance(node, list):
        return [_inline(n, defs, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            raise OptionError(
                f"the schema refers to itself ({name}); Gemini needs a finite schema."
            )
        if name not in defs:
            raise OptionError(f"the schema's $ref {ref!r} points to no definition.")
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**defs[name], **extra}, defs, (*seen, name))
    out = {k: _inline(v, defs, seen) for k, v in node.items() if k not in _DEFINITIONS}
    if isinstance(node.get("properties"), dict):  # property names are data, never dropped
        out["properties"] = {k: _inline(v, defs, seen) for k, v in node["properties"].items()}
    return out


_DEFINITIONS = ("$defs", "definitions")


def _for_gemini(node: Any) -> Any:
    """A resolved schema in the form Gemini accepts (see the module docstring)."""
    if isinstance(node, list):
        return [_for_gemini(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _for_gemini(v) for k, v in node.items() if k not in _DROPPED and k != "properties"}
    if isinstance(node.get("properties"), dict):  # property names are data, never dropped
        out["properties"] = {k: _for_gemini(v) for k, v in node["properties"].items()}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("format") not in _FORMATS:
        out.pop("format", None)
    options = out.get("anyOf")
    if isinstance(options, list):
        others = [o for o in options if o != {"type": "null"}]
        if len(others) == 1 and len(others) < len(options):
            out.pop("anyOf")
            out.update(_nullable(others[0]))
    properties = out.get("properties")
    if isinstance(properties, dict):
        required = set(out.get("required", []))
        for key, value in properties.items():
            if key not in required:
                properties[key] = _nullable(value)
        out["required"] = list(properties)
    return out


def _nullable(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if isinstance(kind, str) and kind != "null":
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _drop_optional_nulls(value: Any, schema: Any) -> Any:
    """Nulls the model gave for optional fields are removed, so their defaults apply; at any
    depth, through the ``anyOf`` of an ``Optional[Inner]`` too."""
    if not isinstance(schema, dict):
        return value
    options = schema.get("anyOf")
    if isinstance(options, list) and isinstance(value, dict | list):
        kind = "properties" if isinstance(value, dict) else "items"
        shaped = [o for o in options if isinstance(o, dict) and isinstance(o.get(kind), dict)]
        if len(shaped) == 1:
            return _drop_optional_nulls(value, shaped[0])
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        required = set(schema.get("required", []))
        props = schema["properties"]
        return {
            k: _drop_optional_nulls(v, props.get(k))
            for k, v in value.items()
            if not (v is None and k in props and k not in required)
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_drop_optional_nulls(v, schema["items"]) for v in value]
    return value


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    expected = _TYPES.get(kind)
    return expected is None or isinstance(value, expected)


def _check(value: Any, schema: Any, path: str) -> tuple[str, str] | None:
    """(path, what is wrong) for the first place `value` breaks `schema`, or None."""
    if not isinstance(schema, dict):
        return None
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, k) for k in allowed):
            return path, f"should be {' or '.join(map(str, allowed))}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return path, f"should be one of {schema['enum']!r}, got {value!r}"
    if "anyOf" in schema and all(_check(value, s, path) for s in schema["anyOf"]):
        return path, "matches none of the allowed shapes"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                return f"{path}.{key}".lstrip("."), "is missing"
        for key, sub in props.items():
            if key in value:
                problem = _check(value[key], sub, f"{path}.{key}".lstrip("."))
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = _check(item, schema["items"], f"{path}.{i}".lstrip("."))
            if problem:
                return problem
    return None


def _unfenced(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        first = stripped.find("\n")
        if first != -1:
            return stripped[first + 1 : -3].strip()
    return stripped


def schema_mismatch(value: Any, schema: Mapping[str, Any]) -> str | None:
    """Why `value` does not fit JSON Schema `schema` (one line), or None: the check answers
    get, offered to tool arguments too (tools/ take this public name, not the helper)."""
    problem = _check(value, dict(schema), "")
    if problem is None:
        return None
    where, what = problem
    return f"{where} {what}" if where else what
