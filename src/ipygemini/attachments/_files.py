"""Strings, paths, bytes and documents: what a file or a blob of bytes becomes."""

from __future__ import annotations

import base64
import io
import mimetypes
import os
import re
import sys
from pathlib import Path
from typing import Any

from .._errors import AttachmentError
from .._types import GEMINI_MIME_TYPES, sniff_mime
from ._common import Options, check_size, data_url, image_url_part, text_part
from ._images import image_part
from ._tables import table_part

_TEXT_SUFFIXES = frozenset(
    ".txt .md .markdown .py .json .jsonl .tsv .yaml .yml .toml .html .htm .xml .log .rst .ini "
    ".cfg .sql .js .ts .css .sh .r .tex .ipynb".split()
)
_AUDIO_FORMAT = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


def document_part(data: bytes, mime: str, filename: str, opts: Options) -> dict[str, Any]:
    url = data_url(mime, data)
    if opts.file_style == "image_url":
        return image_url_part(url)
    return {"type": "file", "file": {"filename": filename, "file_data": url}}


_FILE_NAME = re.compile(r"[^\s/\\]+\.[A-Za-z][A-Za-z0-9]{0,7}")
_PATH_START = re.compile(r"(?:~|\.{1,2})?[/\\]|[A-Za-z]:[/\\]")


def looks_like_path(value: str) -> bool:
    """Whether a string names a file: it exists, or plainly looks like a path.

    Plainly: it starts like one (``/``, ``~/``, ``./``, ``C:\\``), or has no whitespace and
    either a path separator or a ``name.ext`` shape. ``"Version 1.2"``, ``"see e.g. this"`` and
    ``"Budget: 3.5M"`` are text, so attaching them never fails with "no such file".
    """
    if "\n" in value or not value.strip() or len(value) >= 1024:
        return False
    try:
        if Path(value).expanduser().exists():
            return True
    except (OSError, ValueError):  # a name the file system cannot hold is not a path
        return False
    if _PATH_START.match(value):
        return True
    if any(c.isspace() for c in value):
        return False
    if "/" in value or os.sep in value:
        return any(c.isalpha() for c in value)  # "data/x", not a fraction such as "3/4"
    return bool(_FILE_NAME.fullmatch(value))


def string_parts(value: str, name: str | None, opts: Options) -> list[dict[str, Any]]:
    if value.startswith(("http://", "https://")):
        return [image_url_part(value)]  # by reference; the gateway fetches it
    if value.startswith("data:"):
        return [image_url_part(value)]
    if looks_like_path(value):
        return path_parts(Path(value).expanduser(), opts)
    return [text_part(name or "text", value)]


def path_parts(path: Path, opts: Options) -> list[dict[str, Any]]:
    if not path.exists():
        raise AttachmentError(f"no such file: {path} (the working directory is {os.getcwd()})")
    if not path.is_file():
        raise AttachmentError(
            f"{path} is a directory, not a file; attach the files in it one by one"
        )
    size = path.stat().st_size
    check_size(str(path), size, opts.max_bytes)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"cannot read {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        if "pandas" in sys.modules or has_module("pandas"):
            import pandas as pd

            try:
                frame = pd.read_csv(io.BytesIO(data), sep="\t" if suffix == ".tsv" else ",")
            except Exception:  # not a clean table: send it as text
                return [text_part(path.name, data.decode("utf-8", "replace"))]
            return [table_part(frame, path.name, opts)]
        return [text_part(path.name, data.decode("utf-8", "replace"))]
    if suffix in _TEXT_SUFFIXES:
        return [text_part(path.name, data.decode("utf-8", "replace"))]
    return bytes_parts(data, path.name, mimetypes.guess_type(path.name)[0], opts)


def has_module(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def bytes_parts(data: bytes, name: str, mime: str | None, opts: Options) -> list[dict[str, Any]]:
    mime = sniff_mime(data) or mime
    if mime is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AttachmentError(
                f"cannot tell what {name} is ({len(data):,} bytes, not an image, PDF or UTF-8 text); "
                "attach it by file path with a known extension"
            ) from None
        return [text_part(name, text)]
    if mime == "image/jpg":
        mime = "image/jpeg"
    if mime.startswith("image/"):
        return [image_part(data, mime, name, opts)]
    if mime in _AUDIO_FORMAT:
        b64 = base64.b64encode(data).decode("ascii")
        return [
            {"type": "input_audio", "input_audio": {"data": b64, "format": _AUDIO_FORMAT[mime]}}
        ]
    if mime.startswith("text/") or mime == "application/json":
        return [text_part(name, data.decode("utf-8", "replace"))]
    if mime in GEMINI_MIME_TYPES:
        return [document_part(data, mime, name, opts)]
    raise AttachmentError(
        f"cannot attach {name}: Gemini does not accept {mime}; convert it to PDF, text or an image first"
    )
