"""What the fake gateway remembers about each request, and how it decodes attached media.

`RecordedRequest` and `ReceivedAttachment` are what tests inspect after a call.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._masking import mask_key
from .._png import image_size
from .._types import GEMINI_MIME_TYPES, sniff_mime

__all__ = [
    "SUPPORTED_MIME_TYPES",
    "AttachmentKind",
    "ReceivedAttachment",
    "RecordedRequest",
    "all_attachments",
    "attachments_of",
    "decode_data_url",
    "last_user_message",
    "masked_headers",
    "masked_path",
    "message_text",
    "sniff_mime",
]

AttachmentKind = Literal["image_url", "file", "input_audio"]

SUPPORTED_MIME_TYPES = GEMINI_MIME_TYPES  # new-api's whitelist for a native Gemini channel

_SECRET_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
_SECRET_QUERY = re.compile(r"([?&](?:key|api_key)=)[^&#]*", re.IGNORECASE)

_DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*),(.*)", re.DOTALL)


def decode_data_url(url: str) -> tuple[str | None, bytes]:
    """(mime type, bytes) of a ``data:`` URL; base64 must be strict (no newlines), like new-api.

    Raises ValueError when the URL is not a data URL or its base64 is invalid.
    """
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise ValueError("not a data URL")
    mime, params, payload = match.groups()
    if ";base64" in params.lower():
        return mime or None, _strict_b64(payload)
    return mime or None, urllib.parse.unquote_to_bytes(payload)


def _strict_b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64 data: {exc}") from None


_URL_LABELS = {"image_url": "image URL", "file": "file URL", "input_audio": "audio"}


def _fmt_bytes(count: int) -> str:
    return f"{count:,} bytes"


@dataclass(frozen=True)
class ReceivedAttachment:
    """One media part of a user message, decoded the way a gateway would read it.

    `data` holds the decoded bytes of a data URL / base64 payload (None for http(s) URLs, file ids
    and undecodable payloads); `url` holds an http(s) URL unchanged.
    """

    kind: AttachmentKind
    mime_type: str | None
    data: bytes | None
    url: str | None
    filename: str | None
    file_id: str | None = None
    problem: str | None = field(default=None, repr=False, compare=False)
    """Why the payload could not be decoded (a gateway would reject the request), or None."""

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) read from PNG/JPEG/GIF headers, or None."""
        return image_size(self.data) if self.data is not None else None

    def describe(self) -> str:
        """The line the fake answer uses to acknowledge this attachment."""
        if self.file_id is not None:
            return f"- received file id {self.file_id}"
        if self.data is None:
            where = self.url or "(undecodable data)"
            label = _URL_LABELS[self.kind]
            return f"- received {label} {where[:120]}"
        mime = self.mime_type or "unknown type"
        size = self.image_size
        dims = f" {size[0]}×{size[1]}" if size else ""
        if self.kind == "file":
            name = f" {self.filename}" if self.filename else ""
            details = [mime, *([dims.strip()] if dims else []), _fmt_bytes(len(self.data))]
            return f"- received file{name} ({', '.join(details)})"
        return f"- received {mime}{dims} ({_fmt_bytes(len(self.data))})"


@dataclass
class RecordedRequest:
    """One request as the fake gateway received it.

    `headers` has lower-case names; the ``authorization`` value is masked (``Bearer …abcd``) so that a
    real key sent by mistake never shows up in a notebook. `authorized` says whether it matched.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    attachments: list[ReceivedAttachment] = field(default_factory=list)
    authorized: bool = False
    status: int | None = None
    """The HTTP status answered (None until the response starts, or when none was sent)."""

    @property
    def json(self) -> Any:
        """Alias of `body` (the parsed JSON body, or None)."""
        return self.body

    @property
    def thought_signatures(self) -> list[str]:
        """The ``extra_content.google.thought_signature`` values on the tool calls of the
        request's assistant messages, in order (what a client echoed back)."""
        found = []
        messages = self.body.get("messages") if isinstance(self.body, Mapping) else None
        for message in messages if isinstance(messages, list) else ():
            calls = message.get("tool_calls") if isinstance(message, Mapping) else None
            for call in calls if isinstance(calls, list) else ():
                extra = call.get("extra_content") if isinstance(call, Mapping) else None
                google = extra.get("google") if isinstance(extra, Mapping) else None
                signature = google.get("thought_signature") if isinstance(google, Mapping) else None
                if isinstance(signature, str):
                    found.append(signature)
        return found


def message_text(content: Any) -> str:
    """The text of a message's `content` (a string or a list of parts; text parts joined by newlines)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def _bad(
    kind: AttachmentKind, problem: str, filename: str | None = None, mime: str | None = None
) -> ReceivedAttachment:
    return ReceivedAttachment(kind, mime, None, None, filename, problem=problem)


def _from_url(kind: AttachmentKind, url: str, filename: str | None = None) -> ReceivedAttachment:
    if url.startswith(("http://", "https://")):
        return ReceivedAttachment(kind, None, None, url, filename)
    if url.startswith("data:"):
        try:
            mime, data = decode_data_url(url)
        except ValueError as exc:
            return _bad(kind, str(exc), filename)
        return ReceivedAttachment(kind, mime, data, None, filename)
    # Bare base64 (new-api accepts it and sniffs the type).
    try:
        data = _strict_b64(url)
    except ValueError as exc:
        return _bad(kind, str(exc), filename)
    return ReceivedAttachment(kind, sniff_mime(data), data, None, filename)


def _part_attachment(part: Mapping[str, Any]) -> ReceivedAttachment | None:
    kind = part.get("type")
    if kind == "image_url":
        value = part.get("image_url")
        url = value.get("url") if isinstance(value, Mapping) else value
        if isinstance(url, str):
            return _from_url("image_url", url)
        return _bad("image_url", "image_url has no url")
    if kind == "file":
        value = part.get("file")
        if not isinstance(value, Mapping):
            return _bad("file", "file part has no file object")
        filename = value.get("filename") if isinstance(value.get("filename"), str) else None
        file_id = value.get("file_id")
        file_data = value.get("file_data")
        if isinstance(file_data, str):
            found = _from_url("file", file_data, filename)
            fmt = value.get("format")
            if isinstance(fmt, str) and found.mime_type is None and found.data is not None:
                return ReceivedAttachment("file", fmt, found.data, None, filename)
            return found
        if isinstance(file_id, str):
            return ReceivedAttachment("file", None, None, None, filename, file_id=file_id)
        return _bad("file", "file part has neither file_data nor file_id", filename)
    if kind == "input_audio":
        value = part.get("input_audio")
        if not isinstance(value, Mapping):
            return _bad("input_audio", "input_audio part has no input_audio object")
        fmt = value.get("format")
        mime = f"audio/{fmt}" if isinstance(fmt, str) and fmt else None
        data_text = value.get("data")
        if not isinstance(data_text, str) or mime is None:
            return _bad("input_audio", "input_audio needs data and format", mime=mime)
        try:
            return ReceivedAttachment("input_audio", mime, _strict_b64(data_text), None, None)
        except ValueError as exc:
            return _bad("input_audio", str(exc), mime=mime)
    return None


def _user_messages(body: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        return
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "user":
            yield message


def attachments_of(message: Mapping[str, Any]) -> list[ReceivedAttachment]:
    """The media parts of one message, in order."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    found = []
    for part in content:
        if isinstance(part, Mapping):
            attachment = _part_attachment(part)
            if attachment is not None:
                found.append(attachment)
    return found


def all_attachments(body: Any) -> list[ReceivedAttachment]:
    """The media parts of every user message of a chat body, in order."""
    return [a for message in _user_messages(body) for a in attachments_of(message)]


def last_user_message(body: Any) -> Mapping[str, Any] | None:
    """The last message with role "user", or None."""
    last = None
    for message in _user_messages(body):
        last = message
    return last


def _mask(value: str) -> str:
    scheme, _, token = value.partition(" ")
    if not token:
        scheme, token = "", value
    return f"{scheme} {mask_key(token)}".strip()


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` as recorded: credentials cut to their last four characters."""
    return {k: _mask(v) if k in _SECRET_HEADERS else v for k, v in headers.items()}


def masked_path(path: str) -> str:
    """`path` as recorded: ``key=``/``api_key=`` query values removed."""
    return _SECRET_QUERY.sub(r"\1…", path)
