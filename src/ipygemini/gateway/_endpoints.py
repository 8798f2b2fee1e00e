"""Which endpoint a request is for, and the bodies of the non-chat ones (models, embeddings)."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Mapping
from typing import Any

from ._chat_request import invalid
from ._wire import usage_body

__all__ = [
    "MODEL_IDS",
    "embedding_vector",
    "embeddings_body",
    "model_entry",
    "models_body",
    "route_of",
]


# /moved/...: where the redirect fault sends clients by default (served like the real paths).
_PREFIXES = ("/v1beta/openai", "/v1", "/moved/v1beta/openai", "/moved/v1")

MODEL_IDS = (
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-lite",
    "gemini-2.5-flash-image",
    "gemini-3-pro-preview",
    "gemini-3-pro-image-preview",
    "gemini-embedding-001",
)

MODEL_CREATED = 1626777600  # new-api reports this constant for every model

MAX_EMBEDDING_INPUTS = 100

DEFAULT_DIMENSIONS = 8


def model_entry(model_id: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": MODEL_CREATED,
        "owned_by": "custom",
        "supported_endpoint_types": ["openai"],
    }


def models_body(prefix: str = "") -> dict[str, Any]:
    """new-api's ``GET /v1/models`` answer."""
    return {
        "success": True,
        "object": "list",
        "data": [model_entry(prefix + model_id) for model_id in MODEL_IDS],
    }


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A unit-length vector hashed from `text` (values rounded to float32, as sent in base64)."""
    values: list[float] = []
    block = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        values.extend(
            int.from_bytes(digest[i : i + 4], "little") / 2**31 - 1 for i in range(0, 32, 4)
        )
        block += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{dimensions}f", packed))


def embeddings_body(body: Any, *, index_bug: bool = False) -> dict[str, Any]:
    """The ``POST /v1/embeddings`` answer for `body`, or GatewayError 400."""
    if not isinstance(body, Mapping):
        raise invalid("Invalid request body: expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required", "model")
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        inputs = list(raw)
    else:
        raise invalid("input must be a string or a non-empty array of strings", "input")
    if len(inputs) > MAX_EMBEDDING_INPUTS:
        raise invalid(
            f"too many inputs: {len(inputs)} (at most {MAX_EMBEDDING_INPUTS} per request)", "input"
        )
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if (
        isinstance(dimensions, bool)
        or not isinstance(dimensions, int)
        or not 1 <= dimensions <= 3072
    ):
        raise invalid(
            f"dimensions must be a whole number from 1 to 3072; got {dimensions!r}", "dimensions"
        )
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise invalid("encoding_format must be float or base64", "encoding_format")
    data = []
    for index, text in enumerate(inputs):
        vector = embedding_vector(text, dimensions)
        embedding: Any = vector
        if encoding == "base64":
            embedding = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
        data.append(
            {"object": "embedding", "index": 0 if index_bug else index, "embedding": embedding}
        )
    tokens = sum(len(text) // 4 + 1 for text in inputs)
    return {"object": "list", "data": data, "model": model, "usage": usage_body(tokens, 0)}


def route_of(method: str, path: str) -> str | None:
    """The endpoint name for a request (``models``, ``model:<id>``, ``embeddings``, ``chat``)."""
    for prefix in _PREFIXES:
        if path.startswith(prefix + "/"):
            rest = path[len(prefix) :].rstrip("/")
            break
    else:
        return None
    if method == "GET" and rest == "/models":
        return "models"
    if method == "GET" and rest.startswith("/models/") and len(rest) > len("/models/"):
        return "model:" + rest[len("/models/") :]
    if method == "POST" and rest == "/embeddings":
        return "embeddings"
    if method == "POST" and rest == "/chat/completions":
        return "chat"
    return None
