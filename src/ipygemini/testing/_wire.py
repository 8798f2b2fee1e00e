"""JSON bodies and SSE events in the shapes new-api (and friends) put on the wire.

Pure builders: they turn a `ChatPlan` (or an embeddings request) into bytes; no sockets here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import math
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._answers import ChatPlan, invalid

__all__ = [
    "DONE",
    "JUNK_AFTER_DONE",
    "MODEL_IDS",
    "ChatEvents",
    "chat_completion",
    "chat_events",
    "embeddings_body",
    "error_body",
    "image_parts",
    "keepalive",
    "litellm_headers",
    "models_body",
    "new_request_id",
    "usage_body",
]

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

DONE = b"data: [DONE]\n\n"
# What a broken gateway may still send after [DONE]: an error event and a line that is not JSON.
JUNK_AFTER_DONE = (
    b'data: {"error":{"message":"late","code":500}}\n\n',
    b"data: garbage\n\n",
)

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


def _plan_usage(plan: ChatPlan) -> dict[str, Any]:
    completion, reasoning, images = plan.usage_numbers()
    return usage_body(
        plan.prompt_tokens,
        completion,
        reasoning_tokens=reasoning,
        image_tokens=images,
        cached_tokens=plan.cached_tokens,
    )


# --- models and embeddings -----------------------------------------------------------------


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


# --- chat completions ----------------------------------------------------------------------


def image_parts(url: str) -> list[dict[str, Any]]:
    return [{"type": "image_url", "image_url": {"url": url}}]


def images_of(urls: Sequence[str]) -> list[dict[str, Any]]:
    return [part for url in urls for part in image_parts(url)]


def _tagged(reasoning: str, shape: str) -> str:
    if shape == "think_tags":
        return f"<think>\n{reasoning}\n</think>\n"
    return f"<thought>{reasoning}</thought>"


def _reasoning_fields(reasoning: str, shape: str, *, final: bool) -> dict[str, Any]:
    if shape == "reasoning":
        return {"reasoning": reasoning}
    if shape == "thinking_blocks":
        block: dict[str, Any] = {"type": "thinking", "thinking": reasoning}
        if final:
            block["signature"] = "fake-thought-signature"
        return {"thinking_blocks": [block]}
    return {"reasoning_content": reasoning}


def chat_completion(
    plan: ChatPlan,
    *,
    request_id: str,
    created: int,
    image_url: str | None,
    image_shape: str,
    reasoning_shape: str,
    no_finish: bool = False,
    no_usage: bool = False,
    error_null: bool = False,
    extra_images: Sequence[str] = (),
) -> dict[str, Any]:
    """The non-stream ``chat.completion`` object."""
    tags = reasoning_shape in ("think_tags", "thought_tags")
    choices = []
    for index, text in enumerate(plan.texts):
        prefix = _tagged(plan.reasoning, reasoning_shape) if plan.reasoning and tags else ""
        message: dict[str, Any] = {"role": "assistant", "content": prefix + text}
        if image_url is not None:
            if image_shape == "markdown":
                message["content"] = f"{prefix}{text}\n![image]({image_url})"
            elif image_shape == "images":
                message["images"] = image_parts(image_url)
            else:
                message["content"] = [
                    {"type": "text", "text": prefix + text},
                    *image_parts(image_url),
                ]
        if extra_images:
            message["images"] = [*message.get("images", []), *images_of(extra_images)]
        if plan.reasoning and not tags:
            message.update(_reasoning_fields(plan.reasoning, reasoning_shape, final=True))
        choices.append(
            {
                "index": index,
                "message": message,
                "finish_reason": None if no_finish else plan.finish_reasons[index],
            }
        )
    result: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "model": plan.model,
        "object": "chat.completion",
        "created": created,
        "choices": choices,
    }
    if not no_usage:
        result["usage"] = _plan_usage(plan)
    if error_null:
        result["error"] = None
    return result


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class ChatEvents:
    """A chat stream cut where faults may act: `head` (role chunks), `body` (content and finish
    chunks, interleaved across choices), `usage` (zero or one event), then `DONE`."""

    head: list[bytes]
    body: list[bytes]
    usage: list[bytes]

    def error_event(
        self, message: str = "upstream error: overloaded", code: str | int = "500"
    ) -> bytes:
        error = {"error": {"message": message, "type": "upstream_error", "code": code}}
        return b"data: " + dumps(error).encode() + b"\n\n"


def _choice_deltas(
    plan: ChatPlan,
    index: int,
    *,
    chunk_chars: int,
    image_url: str | None,
    image_shape: str,
    reasoning_shape: str,
) -> list[tuple[str, str | None]]:
    """(delta JSON, finish reason JSON or None) for one choice, role chunk excluded."""
    text = plan.texts[index]
    out: list[tuple[str, str | None]] = []
    tags = reasoning_shape in ("think_tags", "thought_tags")
    if plan.reasoning and tags:
        text = _tagged(plan.reasoning, reasoning_shape) + text
    elif plan.reasoning:
        for piece in _pieces(plan.reasoning, chunk_chars):
            out.append((dumps(_reasoning_fields(piece, reasoning_shape, final=False)), None))
    if image_url is not None and image_shape == "parts":
        parts = [{"type": "text", "text": text}, *image_parts(image_url)]
        out.append((dumps({"content": parts}), None))
    else:
        out.extend(
            ('{"content":' + dumps(piece) + "}", None) for piece in _pieces(text, chunk_chars)
        )
        if image_url is not None and image_shape == "markdown":
            out.append(('{"content":' + dumps(f"![image]({image_url})") + "}", None))
        elif image_url is not None:
            out.append((dumps({"images": image_parts(image_url)}), None))
    return out


def chat_events(
    plan: ChatPlan,
    *,
    request_id: str,
    created: int,
    chunk_chars: int,
    image_url: str | None,
    image_shape: str,
    reasoning_shape: str,
    no_finish: bool = False,
    include_usage: bool = True,
    error_null: bool = False,
    extra_images: Sequence[str] = (),
) -> ChatEvents:
    """The SSE events of a streamed answer, in new-api's order.

    A ``stop`` finish gets its own empty-delta chunk; ``length`` is set on the last content chunk
    (as new-api does for non-STOP reasons). Choices are interleaved chunk by chunk.
    """
    prefix = (
        f'{{"id":"chatcmpl-{request_id}","object":"chat.completion.chunk","created":{created},'
        f'"model":{dumps(plan.model)},"system_fingerprint":null,"choices":['
    )

    def event(index: int, delta: str, finish: str | None) -> bytes:
        choice = f'{{"delta":{delta},"logprobs":null,"finish_reason":{finish or "null"},"index":{index}}}'
        return f'data: {prefix}{choice}],"usage":null}}\n\n'.encode()

    head = [event(i, '{"role":"assistant","content":""}', None) for i in range(plan.n)]
    per_choice = []
    for index in range(plan.n):
        deltas = _choice_deltas(
            plan,
            index,
            chunk_chars=chunk_chars,
            image_url=image_url,
            image_shape=image_shape,
            reasoning_shape=reasoning_shape,
        )
        if extra_images:
            deltas.append((dumps({"images": images_of(extra_images)}), None))
        finish = plan.finish_reasons[index]
        if not no_finish:
            if finish == "stop" or not deltas:
                deltas.append(("{}", dumps(finish)))
            else:
                deltas[-1] = (deltas[-1][0], dumps(finish))
        per_choice.append(deltas)
    body = []
    for round_ in itertools.zip_longest(*per_choice):
        for index, item in enumerate(round_):
            if item is not None:
                body.append(event(index, *item))
    usage = []
    if include_usage:
        error = ',"error":null' if error_null else ""
        usage.append(f'data: {prefix}],"usage":{dumps(_plan_usage(plan))}{error}}}\n\n'.encode())
    return ChatEvents(head=head, body=body, usage=usage)


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
