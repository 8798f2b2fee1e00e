"""What every converter shares: limits, options, `Attachment`, size checks, part builders."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

from .._errors import AttachmentError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 200
DEFAULT_MAX_SIDE = 3072
FIGURE_DPI = 100

SUPPORTED = (
    "pandas DataFrame/Series, polars DataFrame, matplotlib Figure/Axes (or plt), PIL image, "
    "numpy image array (H×W×3/4 uint8), IPython Image, GeneratedImage, Reply with images, "
    "a file path (image, PDF, text, CSV), bytes, an http(s) URL, or a str of text"
)


@dataclass
class Attachment:
    """An object to attach, with the name the user knows it by (used in labels and errors)."""

    obj: Any
    name: str | None = None


@dataclass
class Options:
    max_rows: int = DEFAULT_MAX_ROWS
    table_format: Literal["csv", "markdown"] = "csv"
    max_bytes: int = DEFAULT_MAX_BYTES
    max_side: int = DEFAULT_MAX_SIDE
    file_style: Literal["file", "image_url"] = "file"


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def module_of(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def need(package: str, what: str) -> AttachmentError:
    return AttachmentError(f"attaching {what} needs {package}: pip install {package}")


def image_url_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def document_part(data: bytes, mime: str, filename: str, opts: Options) -> dict[str, Any]:
    url = data_url(mime, data)
    if opts.file_style == "image_url":
        return image_url_part(url)
    return {"type": "file", "file": {"filename": filename, "file_data": url}}


def text_part(title: str, body: str) -> dict[str, Any]:
    return {"type": "text", "text": f"[{title}]\n{body}"}


def check_size(label: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise AttachmentError(
            f"{label} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB attachment limit; "
            "attach something smaller (fewer pages, a smaller image, fewer rows), or pass "
            "to_content_parts([obj], max_bytes=N) as the attachments if your gateway takes more"
        )


def check_part_size(part: dict[str, Any], label: str, max_bytes: int) -> None:
    kind = part.get("type")
    if kind == "image_url":
        url = part["image_url"]["url"]
        if url.startswith("data:"):
            check_size(label, len(url) * 3 // 4, max_bytes)
    elif kind == "file":
        check_size(label, len(part["file"].get("file_data", "")) * 3 // 4, max_bytes)
    elif kind == "text":
        check_size(label, len(part["text"]), max_bytes)
