"""Plain data the client returns: replies, images, usage, models, stream events.

Small dataclasses with one job each; nothing here does I/O except `GeneratedImage.save`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._errors import GeminiError

__all__ = [
    "Choice",
    "Event",
    "FinishEvent",
    "GeneratedImage",
    "ImageEvent",
    "Model",
    "ReasoningDelta",
    "Reply",
    "TextDelta",
    "Usage",
    "UsageEvent",
]


# What Gemini accepts as inline data (new-api's whitelist, PROTOCOL.md §3.1).
GEMINI_MIME_TYPES = frozenset(
    {
        "application/pdf",
        "audio/mpeg",
        "audio/mp3",
        "audio/wav",
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/webp",
        "image/heic",
        "image/heif",
        "text/plain",
        "video/mov",
        "video/mpeg",
        "video/mp4",
        "video/mpg",
        "video/avi",
        "video/wmv",
        "video/mpegps",
        "video/flv",
    }
)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def sniff_mime(data: bytes) -> str | None:
    """The MIME type of `data` from its magic number, or None when unknown."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    """Split a ``data:<mime>;base64,<payload>`` URL into (mime, bytes); None if it is not one."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    mime = head[5:-7].split(";", 1)[0] or "application/octet-stream"
    try:
        data = base64.b64decode(payload.strip(), validate=False)
    except (binascii.Error, ValueError):
        return None
    return mime, data


@dataclass(eq=False)
class GeneratedImage:
    """An image the model returned: bytes with a MIME type, or a remote URL that was not fetched.

    Remote images are never downloaded automatically (a model can be tricked into
    emitting a URL that leaks data); `data` is None for them and `url` says where it is.
    """

    data: bytes | None
    mime_type: str = "image/png"
    url: str | None = None

    @classmethod
    def from_url(cls, url: str) -> GeneratedImage | None:
        """Build from a ``data:image/...`` URL (decoded) or an ``http(s)`` URL (kept as a reference)."""
        decoded = decode_data_url(url)
        if decoded is not None:
            mime, data = decoded
            return cls(data=data, mime_type=sniff_mime(data) or mime)
        if url.startswith(("https://", "http://")):
            return cls(data=None, mime_type="", url=url)
        return None

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) read from a PNG, GIF or JPEG header, when known."""
        if not self.data:
            return None
        from ._png import image_size

        return image_size(self.data)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the image bytes to `path` and return the path written."""
        if self.data is None:
            raise ValueError(
                f"this image is a remote URL ({self.url}); it was not downloaded, so there is nothing to save"
            )
        with open(path, "wb") as f:
            f.write(self.data)
        return os.fspath(path)

    def to_pil(self) -> Any:
        """The image as a ``PIL.Image.Image`` (needs Pillow: ``pip install pillow``)."""
        if self.data is None:
            raise ValueError(f"this image is a remote URL ({self.url}) and was not downloaded")
        try:
            from PIL import Image
        except ImportError:
            raise ImportError("GeneratedImage.to_pil() needs Pillow: pip install pillow") from None
        import io

        img = Image.open(io.BytesIO(self.data))
        img.load()
        return img

    def _repr_png_(self) -> bytes | None:
        return self.data if self.mime_type == "image/png" else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.data if self.mime_type == "image/jpeg" else None

    def __repr__(self) -> str:
        if self.data is None:
            return f"GeneratedImage(url={self.url!r})"
        size = self.size
        dims = f", {size[0]}x{size[1]}" if size else ""
        return f"GeneratedImage({self.mime_type}{dims}, {len(self.data):,} bytes)"


@dataclass
class Usage:
    """Token counts as the gateway reported them (gateways may estimate them)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_json(cls, obj: Any) -> Usage | None:
        if not isinstance(obj, dict):
            return None

        def num(value: Any) -> int:
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        details = obj.get("completion_tokens_details")
        reasoning = num(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
        reasoning = reasoning or num(obj.get("reasoning_tokens"))
        prompt = num(obj.get("prompt_tokens"))
        completion = num(obj.get("completion_tokens"))
        total = num(obj.get("total_tokens")) or prompt + completion
        return cls(prompt, completion, total, reasoning)


class Choice:
    """One of the `n` answers of a request.

    Text arrives in pieces; they are kept in a list and joined only when read, so streaming
    costs O(1) per chunk however long the answer grows.
    """

    __slots__ = ("_reasoning", "_text", "finish_reason", "images", "index")

    def __init__(
        self,
        index: int = 0,
        text: str = "",
        reasoning: str = "",
        images: list[GeneratedImage] | None = None,
        finish_reason: str | None = None,
    ) -> None:
        self.index = index
        self._text: list[str] = [text] if text else []
        self._reasoning: list[str] = [reasoning] if reasoning else []
        self.images: list[GeneratedImage] = images if images is not None else []
        self.finish_reason = finish_reason

    @staticmethod
    def _joined(parts: list[str]) -> str:
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    @property
    def text(self) -> str:
        return self._joined(self._text)

    @property
    def reasoning(self) -> str:
        return self._joined(self._reasoning)

    def __repr__(self) -> str:
        return (
            f"Choice(index={self.index}, text={self.text!r}, reasoning={self.reasoning!r}, "
            f"images={self.images!r}, finish_reason={self.finish_reason!r})"
        )


@dataclass(eq=False)
class Reply:
    """A model's answer. While streaming it grows; afterwards it holds everything that arrived.

    `text`, `reasoning`, `images` and `finish_reason` are those of the first choice; `choices`
    has all of them when `n > 1`. `truncated` means the stream ended without any finish_reason;
    `interrupted` means the caller stopped reading (Ctrl-C, break, Stop); `error` holds the
    mid-stream failure, if any. In every case the text that arrived is kept.
    """

    choices: list[Choice] = field(default_factory=lambda: [Choice()])
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    truncated: bool = False
    interrupted: bool = False
    error: GeminiError | None = None
    raw: Any = None

    @property
    def text(self) -> str:
        return self.choices[0].text

    @property
    def reasoning(self) -> str:
        return self.choices[0].reasoning

    @property
    def images(self) -> list[GeneratedImage]:
        return self.choices[0].images

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason

    @property
    def complete(self) -> bool:
        """True when the answer ended normally (not truncated, interrupted or failed)."""
        return not (self.truncated or self.interrupted or self.error is not None)

    @property
    def status(self) -> str:
        """One word for how the answer ended: complete, interrupted, failed, truncated."""
        if self.interrupted:
            return "interrupted"
        if self.error is not None:
            return "failed"
        if self.truncated:
            return "truncated"
        return "complete"

    def json(self) -> Any:
        """The answer parsed as JSON (JSON mode). A ```json fence around it is tolerated."""
        text = self.text.strip()
        if text.startswith("```"):
            first_nl = text.find("\n")
            if first_nl != -1 and text.endswith("```"):
                text = text[first_nl + 1 : -3].strip()
        preview = self.text[:80].replace("\n", " ")
        if self.finish_reason == "length":  # asking for JSON mode again would not help
            advice = (
                "The answer was cut off at max_tokens: raise it (--max-tokens) or read reply.text."
            )
        else:
            advice = "Ask for JSON mode (json=True or --json) or read reply.text instead."
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"the answer is not valid JSON ({exc.msg} at position {exc.pos}); it begins {preview!r}. "
                + advice
            ) from None
        except RecursionError:
            raise ValueError(
                f"the answer is JSON nested too deeply to parse; it begins {preview!r}. "
                "Read reply.text instead."
            ) from None

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        parts = [f"text={preview!r}"]
        if self.reasoning:
            parts.append(f"reasoning={len(self.reasoning)} chars")
        if self.images:
            parts.append(f"images={len(self.images)}")
        if len(self.choices) > 1:
            parts.append(f"choices={len(self.choices)}")
        parts.append(f"finish_reason={self.finish_reason!r}")
        if self.status != "complete":
            parts.append(f"status={self.status!r}")
        return f"Reply({', '.join(parts)})"


@dataclass
class Model:
    """An entry of the gateway's model list."""

    id: str
    owned_by: str | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


# --- stream events ---------------------------------------------------------------------------


@dataclass(slots=True)
class TextDelta:
    """New answer text."""

    text: str
    index: int = 0
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ReasoningDelta:
    """New thinking text."""

    text: str
    index: int = 0
    type: Literal["reasoning"] = "reasoning"


@dataclass(slots=True)
class ImageEvent:
    """A complete image arrived."""

    image: GeneratedImage
    index: int = 0
    type: Literal["image"] = "image"


@dataclass(slots=True)
class UsageEvent:
    """Token counts arrived (usually in the last chunk)."""

    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(slots=True)
class FinishEvent:
    """A choice finished, with the gateway's reason (stop, length, content_filter, ...)."""

    reason: str
    index: int = 0
    type: Literal["finish"] = "finish"


Event = TextDelta | ReasoningDelta | ImageEvent | UsageEvent | FinishEvent
