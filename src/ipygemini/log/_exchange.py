"""`Exchange`: one request and its answer as the log keeps them, built from a body and a Reply.

Attachments are kept as metadata (kind, name, MIME type, size, SHA-256), never as bytes; the
cache key hashes them instead, so an identical request with identical files finds its answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._prices import billed_output

if TYPE_CHECKING:
    from .._types import Reply

__all__ = [
    "OFFLINE_HOST",
    "SOURCES",
    "Exchange",
    "answered",
    "attachment_metadata",
    "cache_key",
    "exchange_from",
]

SOURCES = ("client", "magic", "panel", "batch", "fix")
"""Who asked: the front ends' tags in the log's ``source`` column (``fix``: ``%gemini fix``)."""

OFFLINE_HOST = "offline"
"""The ``host`` of every exchange the built-in offline gateway answered (whatever port it
had): how the log knows an answer was free, and a key that survives a kernel restart."""

_NOT_OPTIONS = frozenset({"model", "messages", "stream", "stream_options"})


@dataclass
class Exchange:
    """One logged request/answer pair (what `ExchangeLog.record` writes)."""

    source: str
    model: str
    host: str
    messages: list[dict[str, Any]]
    answer: str = ""
    reasoning: str = ""
    system: str | None = None
    conversation: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    images: list[tuple[str, bytes]] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    finish_reason: str | None = None
    status: str = "complete"
    error: str | None = None
    from_cache: bool = False
    cache_key: str | None = None
    started: float = field(default_factory=time.time)
    duration: float = 0.0

    @property
    def prompt(self) -> str:
        """The text of the last user message (what `%gemini log` shows and searches)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message.get("content"))
        return ""


def message_text(content: Any) -> str:
    """The text parts of a message's content, attachments named in brackets."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if isinstance(part, Mapping):
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                texts.append(f"[{part.get('type', 'part')}]")
    return "\n".join(texts)


def _data_url_parts(url: str) -> tuple[str, bytes] | None:
    head, sep, payload = url.partition(",")
    if not url.startswith("data:") or not sep or not head.endswith(";base64"):
        return None
    try:
        return head[5:-7].split(";", 1)[0], base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None


def attachment_metadata(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kind, name, MIME type, size and SHA-256 of every inline attachment in `messages`."""
    found: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "image_url" and isinstance(part.get("image_url"), Mapping):
                url, name = part["image_url"].get("url"), None
            elif kind == "file" and isinstance(part.get("file"), Mapping):
                url, name = part["file"].get("file_data"), part["file"].get("filename")
            else:
                continue
            entry: dict[str, Any] = {"kind": kind, "name": name}
            decoded = _data_url_parts(url) if isinstance(url, str) else None
            if decoded is not None:
                mime, data = decoded
                entry.update(mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest())
            elif isinstance(url, str):
                entry.update(url=url[:2048])
            found.append(entry)
    return found


def _hashed(value: Any) -> Any:
    """`value` with every data URL replaced by the hash of its bytes (for the cache key)."""
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > 64:
            return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        return value
    if isinstance(value, list):
        return [_hashed(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _hashed(v) for k, v in value.items()}
    return value


def cache_key(body: Mapping[str, Any], base_url: str) -> str:
    """The identity of a request: its canonical body (attachments by hash) and the gateway."""
    canonical = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    text = json.dumps(
        [base_url.rstrip("/"), _hashed(canonical)],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def answered(reply: Reply) -> bool:
    """Whether `reply` is an answer usage counts: complete or cut off at max_tokens, or stopped
    with something already shown; not a failure, nor a stop before anything arrived."""
    if reply.status in ("complete", "truncated"):
        return True
    return reply.status == "interrupted" and bool(reply.text or reply.reasoning or reply.images)


def exchange_from(
    body: Mapping[str, Any],
    reply: Reply,
    *,
    source: str,
    base_url: str,
    started: float,
    duration: float,
    conversation: str | None = None,
    from_cache: bool = False,
    offline: bool = False,
) -> Exchange:
    """The log entry for `body` (the request as sent) and the `reply` it got; `offline`: the
    built-in offline gateway answered (``Settings.offline``), logged with host ``offline``."""
    if offline:
        base_url = OFFLINE_HOST
    messages = [dict(m) for m in body.get("messages", []) if isinstance(m, Mapping)]
    system = next(
        (message_text(m.get("content")) for m in messages if m.get("role") == "system"), None
    )
    usage = reply.usage
    error = reply.error
    return Exchange(
        source=source,
        model=str(reply.model or body.get("model") or ""),
        host=OFFLINE_HOST if offline else urlsplit(base_url).netloc.rpartition("@")[2],
        messages=[
            {"role": m.get("role"), "content": message_text(m.get("content"))} for m in messages
        ],
        answer=reply.text,
        reasoning=reply.reasoning,
        system=system,
        conversation=conversation,
        attachments=attachment_metadata(messages),
        options={k: _hashed(v) for k, v in body.items() if k not in _NOT_OPTIONS},
        images=[(im.mime_type, im.data) for im in reply.images if im.data is not None],
        input_tokens=usage.prompt_tokens if usage else None,
        output_tokens=(
            billed_output(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
            if usage
            else None
        ),
        reasoning_tokens=usage.reasoning_tokens if usage else None,
        cached_tokens=getattr(usage, "cached_tokens", None) if usage else None,
        finish_reason=reply.finish_reason,
        status=reply.status,
        error=str(error) if error is not None else None,
        from_cache=from_cache,
        cache_key=cache_key(body, base_url),
        started=started,
        duration=duration,
    )
