"""Turn notebook objects into chat content parts: tables, plots, images, documents, text, URLs."""

# One place decides what can be attached and how; the client, the magic and the panel only name
# the objects. pandas, matplotlib, Pillow and numpy are used when the object comes from them and
# are never imported otherwise; without them, attaching says what to install.

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from .._errors import AttachmentError
from .._types import GeneratedImage, Reply
from ._common import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_MAX_SIDE,
    FIGURE_DPI,
    SUPPORTED,
    Attachment,
    Options,
    check_part_size,
    image_url_part,
    module_of,
)
from ._files import bytes_parts, path_parts, string_parts
from ._images import array_png, figure_of, figure_png, image_part, pil_png
from ._tables import table_part

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED",
    "Attachment",
    "AttachmentError",
    "describe",
    "is_attachable",
    "to_content_parts",
]


# --- public ----------------------------------------------------------------------------------


def to_content_parts(
    objects: Iterable[Any],
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    table_format: Literal["csv", "markdown"] = "csv",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_side: int = DEFAULT_MAX_SIDE,
    file_style: Literal["file", "image_url"] = "file",
) -> list[dict[str, Any]]:
    """Content parts for each object, in order. Raises `AttachmentError` before anything is sent.

    Objects may be wrapped in `Attachment(obj, name)` so messages can name them.
    """
    if table_format not in ("csv", "markdown"):
        raise ValueError(f"table_format must be 'csv' or 'markdown'; got {table_format!r}")
    if file_style not in ("file", "image_url"):
        raise ValueError(f"file_style must be 'file' or 'image_url'; got {file_style!r}")
    opts = Options(max_rows, table_format, max_bytes, max_side, file_style)
    parts: list[dict[str, Any]] = []
    for item in objects:
        if isinstance(item, Attachment):
            obj, name = item.obj, item.name
        else:
            obj, name = item, None
        new = _convert(obj, name, opts)
        for part in new:
            check_part_size(part, name or _label(obj), opts.max_bytes)
        parts.extend(new)
    return parts


def is_attachable(obj: Any) -> bool:
    """Whether `obj` is something a user would pick as an attachment (no file-system access)."""
    if isinstance(obj, GeneratedImage):
        return True
    if isinstance(obj, Reply):
        return bool(obj.images)
    if isinstance(obj, Path):
        return obj.is_file()
    kind = _kind(obj)
    return kind is not None and kind not in ("text", "bytes")


def describe(obj: Any) -> str:
    """A short label: ``DataFrame 3×2``, ``Figure 640×480``, ``PIL image 64×48``, ``report.pdf``."""
    kind = _kind(obj)
    if kind == "frame":
        rows, cols = obj.shape
        return f"{type(obj).__name__} {rows}×{cols}"
    if kind == "series":
        return f"Series {len(obj)}"
    if kind == "figure":
        fig = figure_of(obj)
        w, h = fig.get_size_inches() * FIGURE_DPI
        return f"Figure {int(w)}×{int(h)}"
    if kind == "pil":
        return f"PIL image {obj.width}×{obj.height}"
    if kind == "array":
        return f"array {'×'.join(str(d) for d in obj.shape)}"
    if isinstance(obj, GeneratedImage):
        return repr(obj)
    if isinstance(obj, Reply):
        return f"Reply with {len(obj.images)} image(s)"
    if isinstance(obj, Path):
        return obj.name
    return type(obj).__name__


# --- dispatch --------------------------------------------------------------------------------


def _kind(obj: Any) -> str | None:
    module = module_of(obj)
    name = type(obj).__name__
    if module == "pandas":
        return {"DataFrame": "frame", "Series": "series"}.get(name)
    if module == "polars" and name == "DataFrame":
        return "frame"
    if module == "matplotlib":
        if name.endswith("Figure") or hasattr(obj, "savefig"):
            return "figure"
        if hasattr(obj, "figure") and hasattr(obj, "plot"):
            return "figure"  # Axes
        return None
    if getattr(obj, "__name__", None) == "matplotlib.pyplot":
        return "figure"
    if module == "PIL":
        return "pil" if hasattr(obj, "save") and hasattr(obj, "mode") else None
    if module == "numpy" and name == "ndarray":
        return "array"
    if module == "IPython" and name == "Image":
        return "ipython_image"
    if isinstance(obj, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(obj, str):
        return "text"
    return None


def _label(obj: Any) -> str:
    if isinstance(obj, str | Path):
        return str(obj) if len(str(obj)) < 80 else str(obj)[:77] + "..."
    return describe(obj)


def _convert(obj: Any, name: str | None, opts: Options) -> list[dict[str, Any]]:
    if isinstance(obj, dict) and isinstance(obj.get("type"), str):
        return [obj]  # already a content part
    if isinstance(obj, GeneratedImage):
        if obj.data is None:
            return [image_url_part(obj.url or "")]
        return [image_part(obj.data, obj.mime_type, name or "image", opts)]
    if isinstance(obj, Reply):
        if not obj.images:
            raise AttachmentError(f"{name or 'this reply'} has no images to attach")
        return [p for image in obj.images for p in _convert(image, name, opts)]
    if isinstance(obj, os.PathLike):
        return path_parts(Path(obj), opts)
    kind = _kind(obj)
    if kind == "frame" or kind == "series":
        return [table_part(obj, name, opts)]
    if kind == "figure":
        return [image_part(figure_png(obj), "image/png", name or "figure", opts)]
    if kind == "pil":
        return [image_part(pil_png(obj), "image/png", name or "image", opts)]
    if kind == "array":
        return [image_part(array_png(obj, name), "image/png", name or "array", opts)]
    if kind == "ipython_image":
        data = getattr(obj, "data", None)
        if isinstance(data, bytes) and data:
            return [image_part(data, None, name or "image", opts)]
        url = getattr(obj, "url", None)
        if isinstance(url, str) and url:
            return string_parts(url, name, opts)
        raise AttachmentError(f"{name or 'this IPython Image'} holds no image data")
    if kind == "bytes":
        return bytes_parts(bytes(obj), name or "bytes", None, opts)
    if kind == "text":
        return string_parts(obj, name, opts)
    label = (
        f"'{name}' ({type(obj).__name__})" if name else f"an object of type {type(obj).__name__}"
    )
    raise AttachmentError(f"cannot attach {label}; supported: {SUPPORTED}")
