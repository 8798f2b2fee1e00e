"""Tool calls out of chunks: streamed ``delta.tool_calls`` fragments assembled by ``index`` (id,
name, argument pieces, Gemini 3's thought signature), or a whole ``message.tool_calls``. No I/O.

Gateways send a call's id, name and signature in its first delta and the JSON arguments in
pieces after it; `finish_reason` is not trusted (``stop`` arrives where ``tool_calls`` is meant),
so calls are known from the deltas alone. Work per fragment is proportional to the fragment.
"""

from __future__ import annotations

import json
from typing import Any

from .._types import ToolCall

__all__ = ["ToolCallParts", "assistant_message", "signature_of"]


def signature_of(extra: Any) -> str | None:
    """``extra_content.google.thought_signature``, when there is one."""
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


class _Pending:
    __slots__ = ("arguments", "extra", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: list[str] = []
        self.arguments: list[str] = []
        self.extra: dict[str, Any] | None = None


class ToolCallParts:
    """The tool calls of one answer, collected from fragments with `feed`; `calls` at the end."""

    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def feed(self, items: list[Any], *, whole: bool) -> None:
        """One ``tool_calls`` list: streamed fragments, or (`whole`) a message's complete calls
        (paired by position; a streamed fragment without an index is the next call)."""
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            index = item.get("index")
            if whole or not isinstance(index, int) or isinstance(index, bool):
                index = position if whole else len(self._pending)
            call = self._pending.get(index)
            if call is None:
                call = self._pending[index] = _Pending()
            cid = item.get("id")
            if isinstance(cid, str) and cid and call.id is None:
                call.id = cid
            extra = item.get("extra_content")
            if isinstance(extra, dict) and call.extra is None:
                call.extra = extra
            function = item.get("function")
            if isinstance(function, dict):
                name = function.get("name")
                if isinstance(name, str) and name and not call.name:  # some layers repeat it
                    call.name.append(name)
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    call.arguments.append(arguments)
                elif isinstance(arguments, dict):  # a few layers send an object, not a string
                    call.arguments.append(json.dumps(arguments, ensure_ascii=False))

    def calls(self) -> list[ToolCall]:
        """The assembled calls, in index order; arguments parsed (`{}` for an empty string)."""
        out = []
        for index in sorted(self._pending):
            pending = self._pending[index]
            raw = "".join(pending.arguments)
            try:
                arguments: Any = json.loads(raw) if raw.strip() else {}
            except (ValueError, RecursionError):
                arguments = raw
            out.append(
                ToolCall(
                    name="".join(pending.name),
                    arguments=arguments,
                    id=pending.id or f"call_{index}",
                    signature=signature_of(pending.extra),
                    raw_arguments=raw if raw.strip() else "{}",
                    extra=pending.extra,
                )
            )
        return out


def assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The assistant turn sent back before the tool results: the calls as they came (ids,
    arguments and ``extra_content`` — the thought signature — unchanged). The content is a
    string even when empty: llama-cpp-python and LiteLLM reject null there, and "" is what
    Google's and OpenRouter's OpenAI-compatible endpoints take as "no text"."""
    entries = []
    for call in calls:
        entry: dict[str, Any] = {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.raw_arguments},
        }
        if call.extra is not None:
            entry["extra_content"] = call.extra
        entries.append(entry)
    return {"role": "assistant", "content": text, "tool_calls": entries}
