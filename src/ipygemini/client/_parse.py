"""JSON from the gateway: the one error predicate, fast payload parsing, models and embeddings."""

from __future__ import annotations

import base64
import json
import json.scanner
import struct
from collections.abc import Iterator, Sequence
from typing import Any, overload

from .._errors import APIStatusError, OptionError, ServerError, error_for_status
from .._types import Model

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "EMBED_BATCH",
    "RawChunks",
    "completion_error",
    "decode_embedding",
    "embedding_bodies",
    "error_status",
    "load_payload",
    "order_embeddings",
    "parse_embeddings",
    "parse_json",
    "parse_models",
    "reported_error",
]

DEFAULT_EMBEDDING_MODEL = "gemini-embedding-001"
EMBED_BATCH = 100


def reported_error(obj: Any) -> Any:
    """The error a chunk or a whole completion reports, or None: the one test of "this is an
    error" for streamed and non-streamed answers alike.

    An ``error`` that is an object or a non-empty string counts when the object carries no
    choices, or when a choice finished with ``finish_reason: "error"`` (OpenRouter's mid-stream
    errors). ``"error": null`` (sent by some gateways on a usage chunk) is no error.
    """
    if obj.__class__ is not dict:
        return None
    error = obj.get("error")
    if not error or not isinstance(error, dict | str):
        return None
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices:
        return error
    for choice in choices:
        if isinstance(choice, dict) and choice.get("finish_reason") == "error":
            return error
    return None


def error_status(error: Any) -> int | None:
    """The HTTP status an error object names in its ``code`` (400–599), else None."""
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        return code
    return None


def completion_error(obj: Any, *, secret: str | None) -> APIStatusError:
    """The error a 200 answer reported, as the exception its code stands for (else a 500)."""
    status = error_status(reported_error(obj)) or 500
    return error_for_status(status, json.dumps(obj).encode(), secret=secret)


def parse_json(raw: bytes, what: str) -> Any:
    """A whole JSON body, or a `ServerError` that shows its start."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        preview = raw[:80].decode("utf-8", "replace")
        raise ServerError(
            f"The gateway sent a {what} that is not JSON: {preview!r}.", status_code=200
        ) from None


_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def load_payload(payload: bytes) -> Any:
    """json.loads for one SSE payload, minus its encoding sniffing and whitespace regex."""
    text = payload.decode()
    try:
        obj, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)  # leading whitespace or invalid: let json explain
    if end != len(text) and text[end:].strip():
        raise ValueError(f"extra data after JSON at position {end}")
    return obj


class RawChunks(Sequence[Any]):
    """The chunks of a streamed reply as the gateway sent them, parsed when read.

    Kept as bytes: a list of 20,000 parsed dicts would make the garbage collector rescan them
    all the time, tripling the client's CPU cost per chunk.
    """

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def __len__(self) -> int:
        return len(self.payloads)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [json.loads(p) for p in self.payloads[index]]
        return json.loads(self.payloads[index])

    def __repr__(self) -> str:
        return f"<{len(self.payloads)} raw chunks>"


def parse_models(obj: Any) -> list[Model]:
    """The gateway's model list, whichever shape it has (ids without a leading ``models/``)."""
    data = obj.get("data") if isinstance(obj, dict) else obj
    if not isinstance(data, list):
        data = obj.get("models", []) if isinstance(obj, dict) else []
    models = []
    for item in data if isinstance(data, list) else ():  # {"models": "x"} is no model list
        if isinstance(item, dict):
            mid = item.get("id") or item.get("name")
            if not isinstance(mid, str):
                continue
            created = item.get("created")
            owned = item.get("owned_by")
            models.append(
                Model(
                    id=mid.removeprefix("models/"),
                    owned_by=owned if isinstance(owned, str) else None,
                    created=created if isinstance(created, int) else None,
                    raw=item,
                )
            )
        elif isinstance(item, str):
            models.append(Model(id=item.removeprefix("models/")))
    return models


def decode_embedding(value: Any) -> list[float]:
    """A vector sent as a list of numbers or as base64 little-endian float32."""
    if isinstance(value, str):
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) // 4 * 4]))
    if isinstance(value, list):
        return [float(x) for x in value]
    raise ValueError(f"unexpected embedding value of type {type(value).__name__}")


def order_embeddings(data: list[Any]) -> list[list[float]]:
    """Vectors in input order: by ``index`` when the indices are distinct, else by position."""
    items = [d for d in data if isinstance(d, dict)]
    indices = [d.get("index") for d in items]
    if all(isinstance(i, int) for i in indices) and len(set(indices)) == len(indices):
        items = sorted(items, key=lambda d: d["index"])
    return [decode_embedding(d.get("embedding")) for d in items]


def embedding_bodies(
    texts: str | Sequence[str], *, model: str | None, dimensions: int | None
) -> Iterator[dict[str, Any]]:
    """Request bodies of at most `EMBED_BATCH` texts each; bad input raises `OptionError`."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise OptionError("embed() needs at least one text.")
    if not all(isinstance(t, str) for t in items):
        raise OptionError("embed() takes a string or a list of strings.")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise OptionError(f"dimensions must be a whole number >= 1; got {dimensions!r}.")
    for start in range(0, len(items), EMBED_BATCH):
        body: dict[str, Any] = {
            "model": model or DEFAULT_EMBEDDING_MODEL,
            "input": items[start : start + EMBED_BATCH],
        }
        if dimensions is not None:
            body["dimensions"] = dimensions
        yield body


def parse_embeddings(obj: Any, expected: int) -> list[list[float]]:
    """`expected` vectors from an embeddings answer, or a `ServerError` saying what is wrong."""
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list):
        raise ServerError("The gateway's embeddings answer has no 'data' list.", status_code=200)
    try:
        vectors = order_embeddings(data)
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a vector of objects, bad base64
        raise ServerError(
            f"The gateway's embeddings answer is malformed ({type(exc).__name__}: {exc}).",
            status_code=200,
        ) from None
    if len(vectors) != expected:
        raise ServerError(
            f"The gateway returned {len(vectors)} embeddings for {expected} texts.", status_code=200
        )
    return vectors
