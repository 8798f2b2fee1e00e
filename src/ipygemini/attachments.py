"""Turn notebook objects into chat content parts: tables, plots, images, documents, text, URLs.

One place decides what can be attached and how; the client, the magic and the panel only name
the objects. pandas, matplotlib, Pillow and numpy are used when the object comes from them and
are never imported otherwise; without them, attaching says what to install.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._errors import AttachmentError
from ._types import GEMINI_MIME_TYPES, GeneratedImage, Reply, sniff_mime

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED",
    "Attachment",
    "AttachmentError",
    "describe",
    "is_attachable",
    "to_content_parts",
]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 200
DEFAULT_MAX_SIDE = 3072
FIGURE_DPI = 100

SUPPORTED = (
    "pandas DataFrame/Series, polars DataFrame, matplotlib Figure/Axes (or plt), PIL image, "
    "numpy image array (H×W×3/4 uint8), IPython Image, GeneratedImage, Reply with images, "
    "a file path (image, PDF, text, CSV), bytes, an http(s) URL, or a str of text"
)

GEMINI_MIME = GEMINI_MIME_TYPES  # anything else is converted or refused
_CONVERTIBLE_IMAGES = frozenset({"image/gif", "image/bmp", "image/tiff", "image/x-icon"})
_TEXT_SUFFIXES = frozenset(
    ".txt .md .markdown .py .json .jsonl .tsv .yaml .yml .toml .html .htm .xml .log .rst .ini "
    ".cfg .sql .js .ts .css .sh .r .tex .ipynb".split()
)
_AUDIO_FORMAT = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


@dataclass
class Attachment:
    """An object to attach, with the name the user knows it by (used in labels and errors)."""

    obj: Any
    name: str | None = None


@dataclass
class _Options:
    max_rows: int = DEFAULT_MAX_ROWS
    table_format: Literal["csv", "markdown"] = "csv"
    max_bytes: int = DEFAULT_MAX_BYTES
    max_side: int = DEFAULT_MAX_SIDE
    file_style: Literal["file", "image_url"] = "file"


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def _need(package: str, what: str) -> AttachmentError:
    return AttachmentError(f"attaching {what} needs {package}: pip install {package}")


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
    opts = _Options(max_rows, table_format, max_bytes, max_side, file_style)
    parts: list[dict[str, Any]] = []
    for item in objects:
        if isinstance(item, Attachment):
            obj, name = item.obj, item.name
        else:
            obj, name = item, None
        new = _convert(obj, name, opts)
        for part in new:
            _check_part_size(part, name or _label(obj), opts.max_bytes)
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
        fig = _figure_of(obj)
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
    module = _module_of(obj)
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


def _convert(obj: Any, name: str | None, opts: _Options) -> list[dict[str, Any]]:
    if isinstance(obj, dict) and isinstance(obj.get("type"), str):
        return [obj]  # already a content part
    if isinstance(obj, GeneratedImage):
        if obj.data is None:
            return [_image_url(obj.url or "")]
        return [_image_bytes(obj.data, obj.mime_type, name or "image", opts)]
    if isinstance(obj, Reply):
        if not obj.images:
            raise AttachmentError(f"{name or 'this reply'} has no images to attach")
        return [p for image in obj.images for p in _convert(image, name, opts)]
    if isinstance(obj, os.PathLike):
        return _path(Path(obj), opts)
    kind = _kind(obj)
    if kind == "frame" or kind == "series":
        return [_table(obj, name, opts)]
    if kind == "figure":
        return [_image_bytes(_figure_png(obj), "image/png", name or "figure", opts)]
    if kind == "pil":
        return [_image_bytes(_pil_png(obj), "image/png", name or "image", opts)]
    if kind == "array":
        return [_image_bytes(_array_png(obj, name), "image/png", name or "array", opts)]
    if kind == "ipython_image":
        data = getattr(obj, "data", None)
        if isinstance(data, bytes) and data:
            return [_image_bytes(data, None, name or "image", opts)]
        url = getattr(obj, "url", None)
        if isinstance(url, str) and url:
            return _string(url, name, opts)
        raise AttachmentError(f"{name or 'this IPython Image'} holds no image data")
    if kind == "bytes":
        return _bytes(bytes(obj), name or "bytes", None, opts)
    if kind == "text":
        return _string(obj, name, opts)
    label = (
        f"'{name}' ({type(obj).__name__})" if name else f"an object of type {type(obj).__name__}"
    )
    raise AttachmentError(f"cannot attach {label}; supported: {SUPPORTED}")


# --- converters ------------------------------------------------------------------------------


def _image_url(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def _document(data: bytes, mime: str, filename: str, opts: _Options) -> dict[str, Any]:
    url = _data_url(mime, data)
    if opts.file_style == "image_url":
        return _image_url(url)
    return {"type": "file", "file": {"filename": filename, "file_data": url}}


def _text(title: str, body: str) -> dict[str, Any]:
    return {"type": "text", "text": f"[{title}]\n{body}"}


def _string(value: str, name: str | None, opts: _Options) -> list[dict[str, Any]]:
    if value.startswith(("http://", "https://")):
        return [_image_url(value)]  # by reference; the gateway fetches it
    if value.startswith("data:"):
        return [_image_url(value)]
    looks_like_path = (
        "\n" not in value and len(value) < 1024 and (os.sep in value or Path(value).suffix != "")
    )
    if looks_like_path:
        return _path(Path(value).expanduser(), opts)
    return [_text(name or "text", value)]


def _path(path: Path, opts: _Options) -> list[dict[str, Any]]:
    if not path.exists():
        raise AttachmentError(f"no such file: {path} (the working directory is {os.getcwd()})")
    if not path.is_file():
        raise AttachmentError(
            f"{path} is a directory, not a file; attach the files in it one by one"
        )
    size = path.stat().st_size
    _check_size(str(path), size, opts.max_bytes)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"cannot read {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        if "pandas" in sys.modules or _has("pandas"):
            import pandas as pd

            try:
                frame = pd.read_csv(io.BytesIO(data), sep="\t" if suffix == ".tsv" else ",")
            except Exception:  # not a clean table: send it as text
                return [_text(path.name, data.decode("utf-8", "replace"))]
            return [_table(frame, path.name, opts)]
        return [_text(path.name, data.decode("utf-8", "replace"))]
    if suffix in _TEXT_SUFFIXES:
        return [_text(path.name, data.decode("utf-8", "replace"))]
    return _bytes(data, path.name, mimetypes.guess_type(path.name)[0], opts)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _bytes(data: bytes, name: str, mime: str | None, opts: _Options) -> list[dict[str, Any]]:
    mime = sniff_mime(data) or mime
    if mime is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AttachmentError(
                f"cannot tell what {name} is ({len(data):,} bytes, not an image, PDF or UTF-8 text); "
                "attach it by file path with a known extension"
            ) from None
        return [_text(name, text)]
    if mime == "image/jpg":
        mime = "image/jpeg"
    if mime.startswith("image/"):
        return [_image_bytes(data, mime, name, opts)]
    if mime in _AUDIO_FORMAT:
        b64 = base64.b64encode(data).decode("ascii")
        return [
            {"type": "input_audio", "input_audio": {"data": b64, "format": _AUDIO_FORMAT[mime]}}
        ]
    if mime.startswith("text/") or mime == "application/json":
        return [_text(name, data.decode("utf-8", "replace"))]
    if mime in GEMINI_MIME:
        return [_document(data, mime, name, opts)]
    raise AttachmentError(
        f"cannot attach {name}: Gemini does not accept {mime}; convert it to PDF, text or an image first"
    )


def _image_bytes(data: bytes, mime: str | None, name: str, opts: _Options) -> dict[str, Any]:
    mime = sniff_mime(data) or mime or "application/octet-stream"
    if mime in _CONVERTIBLE_IMAGES or mime not in GEMINI_MIME:
        if not mime.startswith("image/"):
            raise AttachmentError(f"cannot attach {name}: {mime} is not an image Gemini accepts")
        data, mime = (
            _reencode(data, name, f"{mime} images (Gemini wants PNG/JPEG/WebP)"),
            "image/png",
        )
    elif _too_large(data, opts.max_side):
        data, mime = _reencode(data, name, "large images", max_side=opts.max_side), "image/png"
    return _image_url(_data_url(mime, data))


def _too_large(data: bytes, max_side: int) -> bool:
    size = GeneratedImage(data).size
    return size is not None and max(size) > max_side


def _reencode(data: bytes, name: str, why: str, *, max_side: int = DEFAULT_MAX_SIDE) -> bytes:
    """PNG bytes of `data`, downscaled so the long side is at most `max_side` (needs Pillow)."""
    try:
        from PIL import Image
    except ImportError:
        if why == "large images":
            return data  # send as is; the gateway may downscale
        raise _need("pillow", why) from None
    img = Image.open(io.BytesIO(data))
    return _pil_png(img, max_side=max_side)


def _pil_png(img: Any, *, max_side: int = DEFAULT_MAX_SIDE) -> bytes:
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _array_png(arr: Any, name: str | None) -> bytes:
    shape: tuple[int, ...] = tuple(getattr(arr, "shape", ()))
    ok_shape = len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4))
    if str(getattr(arr, "dtype", "")) != "uint8" or not ok_shape:
        raise AttachmentError(
            f"cannot attach {name or 'this array'} (shape {tuple(shape)}, dtype {arr.dtype}): only "
            "image arrays of shape H×W, H×W×3 or H×W×4 with dtype uint8 can be attached"
        )
    try:
        from PIL import Image
    except ImportError:
        from ._png import encode_png

        if len(shape) == 2:
            import numpy as np

            arr = np.stack([arr] * 3, axis=-1)
        height, width, channels = arr.shape
        return encode_png(width, height, bytes(arr.tobytes()), channels=channels)
    return _pil_png(Image.fromarray(arr))


def _figure_of(obj: Any) -> Any:
    if getattr(obj, "__name__", None) == "matplotlib.pyplot":
        return obj.gcf()
    if hasattr(obj, "savefig"):
        return obj
    return obj.figure


def _figure_png(obj: Any) -> bytes:
    fig = _figure_of(obj)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buf.getvalue()


def _table(obj: Any, name: str | None, opts: _Options) -> dict[str, Any]:
    """Shape, column types and rows (CSV or Markdown); a head-and-tail sample above max_rows."""
    if _module_of(obj) == "polars":
        return _polars_table(obj, name, opts)
    if type(obj).__name__ == "Series":
        obj = obj.to_frame()
    rows, cols = obj.shape
    label = f"DataFrame {name}" if name else "DataFrame"
    dtypes = ", ".join(f"{c} ({t})" for c, t in obj.dtypes.items())
    lines = [f"{label}: {rows} rows × {cols} columns", f"columns: {dtypes}"]
    index_named = any(n is not None for n in obj.index.names)

    def render(frame: Any, header: bool) -> str:
        if opts.table_format == "markdown":
            return _markdown_table(frame, index_named, header)
        return str(frame.to_csv(index=index_named, header=header, lineterminator="\n")).rstrip("\n")

    if rows > opts.max_rows:
        half = max(opts.max_rows // 2, 1)
        lines.append(
            f"showing the first {half} and last {half} rows; {rows - 2 * half} rows in between are left out"
        )
        lines.append(render(obj.head(half), True))
        lines.append("...")
        lines.append(render(obj.tail(half), opts.table_format == "markdown"))
    else:
        lines.append(render(obj, True))
    return {"type": "text", "text": "\n".join(lines)}


def _markdown_table(frame: Any, with_index: bool, header: bool) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    columns = ([str(n or "") for n in frame.index.names] if with_index else []) + [
        str(c) for c in frame.columns
    ]
    lines = []
    if header:
        lines.append("| " + " | ".join(cell(c) for c in columns) + " |")
        lines.append("|" + " --- |" * len(columns))
    for row in frame.itertuples(index=with_index, name=None):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def _polars_table(obj: Any, name: str | None, opts: _Options) -> dict[str, Any]:
    rows, cols = obj.shape
    label = f"DataFrame {name}" if name else "DataFrame"
    dtypes = ", ".join(f"{c} ({t})" for c, t in obj.schema.items())
    lines = [f"{label}: {rows} rows × {cols} columns", f"columns: {dtypes}"]
    if rows > opts.max_rows:
        half = max(opts.max_rows // 2, 1)
        lines.append(
            f"showing the first {half} and last {half} rows; {rows - 2 * half} rows in between are left out"
        )
        lines.append(obj.head(half).write_csv().rstrip("\n"))
        lines.append("...")
        lines.append(obj.tail(half).write_csv(include_header=False).rstrip("\n"))
    else:
        lines.append(obj.write_csv().rstrip("\n"))
    return {"type": "text", "text": "\n".join(lines)}


# --- size limits -----------------------------------------------------------------------------


def _check_size(label: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise AttachmentError(
            f"{label} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB attachment limit; "
            "attach something smaller (fewer pages, a smaller image, fewer rows), or pass "
            "to_content_parts([obj], max_bytes=N) as the attachments if your gateway takes more"
        )


def _check_part_size(part: dict[str, Any], label: str, max_bytes: int) -> None:
    kind = part.get("type")
    if kind == "image_url":
        url = part["image_url"]["url"]
        if url.startswith("data:"):
            _check_size(label, len(url) * 3 // 4, max_bytes)
    elif kind == "file":
        _check_size(label, len(part["file"].get("file_data", "")) * 3 // 4, max_bytes)
    elif kind == "text":
        _check_size(label, len(part["text"]), max_bytes)
