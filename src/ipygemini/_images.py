"""Images a model returns: the one MIME whitelist, data-URL decoding and `GeneratedImage`.

Every front end shows an image only through `GeneratedImage.displayable`, and the reply
assembler builds images only through `read_image_url`, so what counts as an image is decided
here once: a PNG, JPEG, GIF or WebP whose declared type and bytes agree, from valid non-empty
base64. Anything else is skipped with a reason the reply carries as a note.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GEMINI_MIME_TYPES",
    "IMAGE_MIME_TYPES",
    "GeneratedImage",
    "decode_data_url",
    "read_image_url",
    "sniff_mime",
]

IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""The image types a reply may carry and a front end may show (from bytes, never a URL)."""

_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}

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

_WHITESPACE = re.compile(rb"\s+")


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


def _strict_base64(payload: str) -> bytes | None:
    """Standard base64 (line breaks tolerated, nothing else), or None when it is not."""
    try:
        raw = payload.encode("ascii")
    except UnicodeEncodeError:
        return None
    if b" " in raw or b"\n" in raw or b"\r" in raw or b"\t" in raw:
        raw = _WHITESPACE.sub(b"", raw)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_image_url(url: str) -> GeneratedImage | str:
    """The image an ``image_url`` stands for, or a one-line reason it is not one.

    A data URL must declare a whitelisted image type and hold valid, non-empty base64 whose
    bytes are such an image (the bytes decide between PNG/JPEG/GIF/WebP). An http(s) URL is
    kept as a reference and never fetched.
    """
    if url.startswith(("https://", "http://")):
        return GeneratedImage(data=None, mime_type="", url=url)
    head, sep, payload = url.partition(",")
    if not url.startswith("data:") or not sep or not head.endswith(";base64"):
        return f"skipped an image that is not a base64 data URL ({url[:40]!r})"
    declared = head[5:-7].split(";", 1)[0].strip().lower()
    declared = _MIME_ALIASES.get(declared, declared)
    if declared not in IMAGE_MIME_TYPES:
        return f"skipped an image of type {declared or 'unknown'!r} (only PNG, JPEG, GIF, WebP)"
    data = _strict_base64(payload)
    if data is None:
        return f"skipped a {declared} image whose base64 is not valid"
    if not data:
        return f"skipped an empty {declared} image"
    actual = sniff_mime(data)
    if actual not in IMAGE_MIME_TYPES:
        return f"skipped a {declared} image whose bytes are not a PNG, JPEG, GIF or WebP"
    return GeneratedImage(data=data, mime_type=actual)


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
        """Build from an image data URL (decoded, whitelist only) or an ``http(s)`` URL (kept
        as a reference); None for anything else (see `read_image_url` for the reason)."""
        image = read_image_url(url)
        return image if isinstance(image, GeneratedImage) else None

    @property
    def displayable(self) -> bool:
        """True when a front end may show this image from its bytes (a whitelisted type)."""
        return bool(self.data) and self.mime_type in IMAGE_MIME_TYPES

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
        return self.data if self.mime_type == "image/png" and self.data else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.data if self.mime_type == "image/jpeg" and self.data else None

    def __repr__(self) -> str:
        if self.data is None:
            return f"GeneratedImage(url={self.url!r})"
        size = self.size
        dims = f", {size[0]}x{size[1]}" if size else ""
        return f"GeneratedImage({self.mime_type}{dims}, {len(self.data):,} bytes)"
