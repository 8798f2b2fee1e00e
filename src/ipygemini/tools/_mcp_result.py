"""An MCP tool's result as the tool loop wants it: the text sent back to the model, and what a
front end shows (text, images as bytes, structured content as JSON-able data).

The model gets text only (a ``tool`` message is a string on every gateway): a server's
structured content as JSON when the result is all text, else the text parts with one short
placeholder per image or other binary part. Images are decoded to bytes and kept in
`McpToolOutput.images` for front ends to show inline; nothing binary reaches the model.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._types import GeneratedImage
from ._functions import ToolResult, result_text

__all__ = ["McpToolOutput", "tool_result"]


@dataclass(frozen=True)
class McpToolOutput:
    """`ToolResult.value` of an MCP call: its text, its images (bytes and MIME type, for front
    ends to show inline) and its structured content (JSON-able data), when the server gave one."""

    text: str
    images: tuple[GeneratedImage, ...] = ()
    structured: Any = None


def tool_result(wire: Mapping[str, Any]) -> ToolResult:
    """A ``tools/call`` result (wire form) as a `ToolResult`."""
    texts: list[str] = []
    images: list[GeneratedImage] = []
    binary = False
    for part in wire.get("content") or []:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image":
            binary = True
            mime = str(part.get("mimeType") or "image/png")
            data = _decoded(part.get("data"))
            if data is not None:
                images.append(GeneratedImage(data, mime))
            texts.append(f"[{mime} image, {len(data or b''):,} bytes: shown to the user]")
        elif kind == "resource":
            resource = part.get("resource")
            if isinstance(resource, Mapping) and "text" in resource:
                texts.append(str(resource["text"]))
            elif isinstance(resource, Mapping):
                binary = True
                texts.append(
                    f"[resource {resource.get('uri', '')} ({resource.get('mimeType', 'binary')})]"
                )
        elif kind == "resource_link":
            texts.append(f"[resource link: {part.get('uri', '')} {part.get('name', '')}]".strip())
        else:
            binary = True
            texts.append(f"[{kind} content ({part.get('mimeType', 'binary')}): not shown]")
    text = "\n".join(texts)
    structured = wire.get("structuredContent")
    output = McpToolOutput(text, tuple(images), structured)
    if wire.get("isError"):
        problem = text or "the tool reported an error"
        return ToolResult(content=json.dumps({"error": problem}), value=output, error=problem)
    sent = result_text(structured) if structured is not None and not binary else result_text(text)
    return ToolResult(content=sent, value=output)


def _decoded(data: Any) -> bytes | None:
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
