"""Turn notebook objects into chat content parts (images, documents, text, URLs).

One place decides what can be attached and how; the client, the magic and the panel only
name the objects. Heavy libraries are imported only when an object of theirs is attached.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._types import GeneratedImage, Reply, sniff_mime

__all__ = ["AttachmentError", "to_content_parts"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_TEXT_SUFFIXES = {
    ".txt",
    ".md",
    ".py",
    ".json",
    ".csv",
    ".tsv",
    ".yaml",
    ".yml",
    ".toml",
    ".html",
    ".xml",
    ".log",
    ".rst",
    ".ini",
    ".cfg",
}


class AttachmentError(ValueError):
    """An object cannot be attached; the message says which and what to do."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mAttachmentError\x1b[0m: {self}"]


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_part(data: bytes, mime: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": _data_url(mime, data)}}


def file_part(data: bytes, mime: str, filename: str) -> dict[str, Any]:
    return {"type": "file", "file": {"filename": filename, "file_data": _data_url(mime, data)}}


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise AttachmentError(
            f"{name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB attachment limit "
            "(raise max_bytes / the max_attachment_mb setting, or attach something smaller)"
        )


def _bytes_part(data: bytes, name: str, mime: str | None, max_bytes: int) -> dict[str, Any]:
    _check_size(name, len(data), max_bytes)
    mime = sniff_mime(data) or mime or "application/octet-stream"
    if mime.startswith("image/"):
        return image_part(data, mime)
    if mime.startswith("text/") or mime == "application/json":
        return {"type": "text", "text": f"[{name}]\n{data.decode('utf-8', 'replace')}"}
    return file_part(data, mime, name)


def _path_part(path: Path, max_bytes: int) -> dict[str, Any]:
    if not path.exists():
        raise AttachmentError(
            f"no such file: {path} (check the path; relative paths start at {os.getcwd()})"
        )
    if not path.is_file():
        raise AttachmentError(f"{path} is not a file")
    _check_size(str(path), path.stat().st_size, max_bytes)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix.lower() in _TEXT_SUFFIXES:
        return {"type": "text", "text": f"[{path.name}]\n{data.decode('utf-8', 'replace')}"}
    mime = mimetypes.guess_type(path.name)[0]
    return _bytes_part(data, path.name, mime, max_bytes)


def to_content_parts(
    objects: Iterable[Any], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[dict[str, Any]]:
    """Content parts for each object, in order; raises `AttachmentError` before anything is sent."""
    parts: list[dict[str, Any]] = []
    for obj in objects:
        parts.extend(_parts_for(obj, max_bytes))
    return parts


def _parts_for(obj: Any, max_bytes: int) -> list[dict[str, Any]]:
    if isinstance(obj, dict) and isinstance(obj.get("type"), str):
        return [obj]  # already a content part
    if isinstance(obj, GeneratedImage):
        if obj.data is None:
            return [{"type": "image_url", "image_url": {"url": obj.url}}]
        return [image_part(obj.data, obj.mime_type)]
    if isinstance(obj, Reply):
        if not obj.images:
            raise AttachmentError("this reply has no images to attach")
        return [p for image in obj.images for p in _parts_for(image, max_bytes)]
    if isinstance(obj, bytes | bytearray | memoryview):
        return [_bytes_part(bytes(obj), "attachment", None, max_bytes)]
    if isinstance(obj, str) and obj.startswith(("http://", "https://")):
        return [{"type": "image_url", "image_url": {"url": obj}}]
    if isinstance(obj, str) and obj.startswith("data:"):
        return [{"type": "image_url", "image_url": {"url": obj}}]
    if isinstance(obj, str | os.PathLike):
        return [_path_part(Path(obj), max_bytes)]
    raise AttachmentError(
        f"cannot attach an object of type {type(obj).__name__}; attach bytes, a file path, "
        "an http(s) URL, a GeneratedImage or a Reply with images"
    )
