"""JSON documents that follow a requested JSON Schema, derived deterministically from a prompt.

Where the schema comes from (``response_format.json_schema.schema``, or a system message that
holds a JSON Schema after the words "JSON Schema"), a valid document for it, and a broken one
(the ``bad_json`` fault).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._records import message_text

__all__ = ["break_document", "document_for", "requested_schema", "schema_refused"]

_MAX_DEPTH = 12
_FALLBACK_WORDS = ("offline", "answer")
_SCHEMA_PHRASE = re.compile(r"json\s+schema", re.IGNORECASE)


def schema_refused(body: Mapping[str, Any]) -> bool:
    """Whether `body` asks for ``response_format.type == "json_schema"``."""
    fmt = body.get("response_format")
    return isinstance(fmt, Mapping) and fmt.get("type") == "json_schema"


def requested_schema(
    body: Mapping[str, Any], *, from_messages: bool = True
) -> Mapping[str, Any] | None:
    """The JSON Schema the answer must follow: ``response_format.json_schema.schema`` (or the
    ``schema`` beside ``json_object``, which llama-cpp-python takes), else the first ``{...}``
    after "JSON Schema" in a system/developer message; None when there is none.

    ``response_format: {"type": "text"}`` turns the system-message fallback off, and so does
    `from_messages` false (a server that constrains the answer only by what the body's
    ``response_format`` says, like llama-cpp-python's grammar).
    """
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping):
        if fmt.get("type") == "text":
            return None
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if fmt.get("type") == "json_schema" and isinstance(schema, Mapping):
            return schema
        if fmt.get("type") == "json_object" and isinstance(fmt.get("schema"), Mapping):
            return fmt["schema"]  # type: ignore[no-any-return]
    if not from_messages:
        return None
    for message in body.get("messages") or ():
        if isinstance(message, Mapping) and message.get("role") in ("system", "developer"):
            found = _schema_in_text(message_text(message.get("content")))
            if found is not None:
                return found
    return None


def _schema_in_text(text: str) -> Mapping[str, Any] | None:
    phrase = _SCHEMA_PHRASE.search(text)
    if phrase is None:
        return None
    start = text.find("{", phrase.end())
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return value if isinstance(value, Mapping) else None


class _Maker:
    """Builds one document; every choice is a hash of (prompt, path in the document)."""

    def __init__(self, root: Mapping[str, Any], prompt: str, seed: str = "") -> None:
        self.root = root
        self.seed = f"{prompt}\x00{seed}"
        self.words = prompt.split() or list(_FALLBACK_WORDS)

    def number(self, path: str, salt: str = "") -> int:
        digest = hashlib.sha256(f"{self.seed}\x00{path}\x00{salt}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def resolve(self, schema: Any, depth: int) -> Any:
        """`schema` with a local ``$ref`` (``#/$defs/X``, ``#/definitions/X``) followed."""
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and depth:
            target: Any = self.root
            for part in schema["$ref"].lstrip("#/").split("/"):
                target = target.get(part) if isinstance(target, Mapping) else None
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if isinstance(target, Mapping) else rest
            depth -= 1
        return schema

    def value(self, schema: Any, path: str, depth: int = 0) -> Any:
        schema = self.resolve(schema, _MAX_DEPTH)
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return None if depth > _MAX_DEPTH else self.string({}, path)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            choices = [v for v in enum if v is not None] or enum
            return choices[self.number(path, "enum") % len(choices)]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.value(self.pick_option(options, path), path, depth + 1)
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts:
            merged = _merge([self.resolve(p, _MAX_DEPTH) for p in parts])
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.value({**merged, **rest}, path, depth + 1)
        kind = _kind_of(schema)
        if kind == "object":
            return self.object(schema, path, depth)
        if kind == "array":
            return self.array(schema, path, depth)
        if kind == "integer":
            return self.integer(schema, path)
        if kind == "number":
            return self.float_(schema, path)
        if kind == "boolean":
            return self.number(path, "bool") % 2 == 0
        if kind == "null":
            return None
        return self.string(schema, path)

    def pick_option(self, options: Sequence[Any], path: str) -> Any:
        """A non-null option picked by hash (nullable unions are filled)."""
        usable = [o for o in options if _kind_of(self.resolve(o, _MAX_DEPTH)) != "null"]
        usable = usable or list(options)
        return usable[self.number(path, "option") % len(usable)]

    def object(self, schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        return {
            str(key): self.value(sub, f"{path}.{key}", depth + 1) for key, sub in properties.items()
        }

    def array(self, schema: Mapping[str, Any], path: str, depth: int) -> list[Any]:
        low = _int_of(schema.get("minItems"), 0)
        high = _int_of(schema.get("maxItems"), max(low, 3))
        count = max(low, min(high, 1 + self.number(path, "count") % 3))
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        count = max(count, min(len(prefix), high))
        items = schema.get("items")
        out = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items if isinstance(items, Mapping) else {}
            out.append(self.value(sub, f"{path}[{i}]", depth + 1))
        return out

    def integer(self, schema: Mapping[str, Any], path: str) -> int:
        low, high = _bounds(schema, 0, 100)
        low_i = int(-(-low // 1)) + (1 if schema.get("exclusiveMinimum") == low else 0)
        high_i = int(high // 1) - (1 if schema.get("exclusiveMaximum") == high else 0)
        if high_i < low_i:
            return low_i
        return low_i + self.number(path, "int") % (high_i - low_i + 1)

    def float_(self, schema: Mapping[str, Any], path: str) -> float:
        low, high = _bounds(schema, 0, 100)
        if high <= low:
            return float(low)
        fraction = (self.number(path, "float") % 9999 + 1) / 10000  # strictly inside (0, 1)
        value = low + (high - low) * fraction
        rounded = round(value, 4)
        return rounded if low < rounded < high else value

    def string(self, schema: Mapping[str, Any], path: str) -> str:
        n = self.number(path, "str")
        fmt = schema.get("format")
        if fmt in ("date-time", "date", "time"):
            day, hour, minute = 1 + n % 28, n // 28 % 24, n // 672 % 60
            date, clock = f"2026-{1 + n % 12:02d}-{day:02d}", f"{hour:02d}:{minute:02d}:00"
            return {"date": date, "time": clock, "date-time": f"{date}T{clock}Z"}[fmt]
        start = n % len(self.words)
        text = " ".join(self.words[start : start + 1 + n // 7 % 3])
        low = _int_of(schema.get("minLength"), 0)
        high = _int_of(schema.get("maxLength"), 0)
        while len(text) < low:
            text += " " + self.words[len(text) % len(self.words)]
        return text[:high] if high else text


def _kind_of(schema: Any) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        real = [k for k in kind if k != "null"]
        kind = real[0] if real else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _int_of(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def _bounds(schema: Mapping[str, Any], low: float, high: float) -> tuple[float, float]:
    def num(key: str) -> float | None:
        value = schema.get(key)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None  # type: ignore[arg-type]

    lo = num("minimum") if num("minimum") is not None else num("exclusiveMinimum")
    hi = num("maximum") if num("maximum") is not None else num("exclusiveMaximum")
    if lo is not None and hi is None:
        hi = lo + 100
    if hi is not None and lo is None:
        lo = min(0.0, hi - 100)
    return (low if lo is None else lo), (high if hi is None else hi)


def _merge(parts: Sequence[Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, Mapping):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged[key] = value
    return merged


def document_for(schema: Mapping[str, Any], prompt: str, seed: str = "") -> Any:
    """A JSON value valid for `schema`: every property filled (nullable ones too), strings made
    of the prompt's words, numbers/enums/array lengths (1-3) picked by hashing the prompt (and
    `seed`)."""
    return _Maker(schema, prompt, seed).value(schema, "$")


def break_document(document: Any, schema: Mapping[str, Any]) -> Any:
    """`document` made invalid for `schema`: its first required field left out (else its first
    property given a value of the wrong type, else replaced by a string)."""
    maker = _Maker(schema, "")
    resolved = maker.resolve(schema, _MAX_DEPTH)
    required = resolved.get("required") if isinstance(resolved, Mapping) else None
    if isinstance(document, dict) and isinstance(required, list) and required:
        return {k: v for k, v in document.items() if k != required[0]}
    if isinstance(document, dict) and document:
        first = next(iter(document))
        wrong: Any = "not a list" if isinstance(document[first], list) else [["wrong type"]]
        return {**document, first: wrong}
    return "not the requested JSON"
