"""Chat answers on the wire: the ``chat.completion`` object and a stream's SSE chunks.

Pure builders in new-api's order, with images and reasoning in each shape gateways use.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._answers import ChatPlan
from ._tool_calls import PlannedToolCall
from ._wire import dumps, usage_body

__all__ = ["ChatEvents", "WireShape", "chat_completion", "chat_events", "image_parts", "images_of"]


@dataclass(frozen=True)
class WireShape:
    """How an answer is dressed on the wire beyond what its `ChatPlan` says: where the generated
    image goes, the reasoning shape, extra ``images[]`` entries, and faults that touch shapes."""

    image_url: str | None = None
    image_shape: str = "markdown"
    reasoning_shape: str = "reasoning_content"
    extra_images: tuple[str, ...] = ()
    no_finish: bool = False
    error_null: bool = False

    @property
    def tags(self) -> bool:
        return self.reasoning_shape in ("think_tags", "thought_tags")


def _plan_usage(plan: ChatPlan) -> dict[str, Any]:
    completion, reasoning, images = plan.usage_numbers()
    return usage_body(
        plan.prompt_tokens,
        completion,
        reasoning_tokens=reasoning,
        image_tokens=images,
        cached_tokens=plan.cached_tokens,
    )


def image_parts(url: str) -> list[dict[str, Any]]:
    return [{"type": "image_url", "image_url": {"url": url}}]


def images_of(urls: Sequence[str]) -> list[dict[str, Any]]:
    return [part for url in urls for part in image_parts(url)]


def _tool_call_head(call: PlannedToolCall, index: int | None) -> dict[str, Any]:
    """A tool call as ``message.tool_calls[i]`` (with `index` None) or as the first delta of a
    streamed call (arguments empty, `index` set); the signature goes with it."""
    head: dict[str, Any] = {} if index is None else {"index": index}
    head.update({"id": call.id, "type": "function"})
    head["function"] = {"name": call.name, "arguments": "" if index is not None else call.arguments}
    if call.signature is not None:
        head["extra_content"] = {"google": {"thought_signature": call.signature}}
    return head


def _tool_call_deltas(calls: Sequence[PlannedToolCall], chunk_chars: int) -> list[str]:
    """Each call's first delta, then its arguments in at least two pieces (when 2+ chars)."""
    out = []
    for index, call in enumerate(calls):
        out.append(dumps({"tool_calls": [_tool_call_head(call, index)]}))
        size = max(1, min(chunk_chars, -(-len(call.arguments) // 3)))
        for piece in _pieces(call.arguments, size):
            out.append(dumps({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    return out


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
    plan: ChatPlan, shape: WireShape, *, request_id: str, created: int, no_usage: bool = False
) -> dict[str, Any]:
    """The non-stream ``chat.completion`` object."""
    image_url, image_shape = shape.image_url, shape.image_shape
    reasoning_shape, tags = shape.reasoning_shape, shape.tags
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
        if shape.extra_images:
            message["images"] = [*message.get("images", []), *images_of(shape.extra_images)]
        if plan.tool_calls:
            message["content"] = prefix or None
            message["tool_calls"] = [_tool_call_head(call, None) for call in plan.tool_calls]
        if plan.reasoning and not tags:
            message.update(_reasoning_fields(plan.reasoning, reasoning_shape, final=True))
        choices.append(
            {
                "index": index,
                "message": message,
                "finish_reason": None if shape.no_finish else plan.finish_reasons[index],
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
    if shape.error_null:
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
    plan: ChatPlan, shape: WireShape, index: int, chunk_chars: int
) -> list[tuple[str, str | None]]:
    """(delta JSON, finish reason JSON or None) for one choice, role chunk excluded."""
    image_url, image_shape, reasoning_shape = (
        shape.image_url,
        shape.image_shape,
        shape.reasoning_shape,
    )
    text = plan.texts[index]
    out: list[tuple[str, str | None]] = []
    if plan.reasoning and shape.tags:
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
    if shape.extra_images:
        out.append((dumps({"images": images_of(shape.extra_images)}), None))
    out.extend((delta, None) for delta in _tool_call_deltas(plan.tool_calls, chunk_chars))
    return out


def chat_events(
    plan: ChatPlan,
    shape: WireShape,
    *,
    request_id: str,
    created: int,
    chunk_chars: int,
    include_usage: bool = True,
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
        deltas = _choice_deltas(plan, shape, index, chunk_chars)
        finish = plan.finish_reasons[index]
        if not shape.no_finish:
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
        error = ',"error":null' if shape.error_null else ""
        usage.append(f'data: {prefix}],"usage":{dumps(_plan_usage(plan))}{error}}}\n\n'.encode())
    return ChatEvents(head=head, body=body, usage=usage)
