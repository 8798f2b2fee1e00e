"""Wire pieces every endpoint shares: JSON, request ids, error and usage bodies, SSE extras."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DONE",
    "JUNK_AFTER_DONE",
    "dumps",
    "error_body",
    "keepalive",
    "litellm_headers",
    "new_request_id",
    "usage_body",
]


DONE = b"data: [DONE]\n\n"

# What a broken gateway may still send after [DONE]: an error event and a line that is not JSON.
JUNK_AFTER_DONE = (b'data: {"error":{"message":"late","code":500}}\n\n', b"data: garbage\n\n")

dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))

_ids = itertools.count(1)

_ids_lock = threading.Lock()


def new_request_id() -> str:
    """A new-api-style request id: a timestamp followed by a counter, digits only."""
    with _ids_lock:
        serial = next(_ids)
    return time.strftime("%Y%m%d%H%M%S") + f"{serial:09d}"


LITELLM_VERSION = "1.77.7"


def litellm_headers(request_id: str, model: object) -> dict[str, str]:
    """The ``x-litellm-*`` headers a LiteLLM proxy puts on its responses."""
    headers = {
        "x-litellm-version": LITELLM_VERSION,
        "x-litellm-call-id": f"{request_id[:8]}-{request_id[8:12]}-{request_id[12:]}",
        "x-litellm-response-cost": "0.0",
    }
    if isinstance(model, str) and model:
        headers["x-litellm-model-id"] = hashlib.sha256(model.encode()).hexdigest()
        headers["x-litellm-model-api-base"] = "https://generativelanguage.googleapis.com"
    return headers


def error_body(message: str, type_: str, code: str | int = "", param: str | None = None) -> Any:
    error: dict[str, Any] = {"message": message, "type": type_}
    if param is not None:
        error["param"] = param
    error["code"] = code
    return {"error": error}


def usage_body(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    reasoning_tokens: int = 0,
    image_tokens: int = 0,
    cached_tokens: int | None = None,
) -> dict[str, Any]:
    """new-api's usage object (it always carries these extra keys); ``prompt_tokens_details``
    only when cached tokens are reported (many layers drop it: absent means unknown)."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    usage["completion_tokens_details"] = {
        "text_tokens": completion_tokens - reasoning_tokens - image_tokens,
        "audio_tokens": 0,
        "image_tokens": image_tokens,
        "reasoning_tokens": reasoning_tokens,
    }
    usage.update(
        {
            "input_tokens": 0,
            "output_tokens": 0,
            "input_tokens_details": None,
            "claude_cache_creation_5_m_tokens": 0,
            "claude_cache_creation_1_h_tokens": 0,
        }
    )
    return usage


def keepalive(events: Sequence[bytes]) -> list[bytes]:
    """`events` with an OpenRouter processing comment first, then ``: PING`` comments and
    ``event: message`` lines between events (clients must skip both)."""
    out = []
    for i, item in enumerate(events):
        if i == 0:
            out.append(b": OPENROUTER PROCESSING\n\n" + item)
        else:
            out.append(b": PING\n\nevent: message\n" + item)
    return out
