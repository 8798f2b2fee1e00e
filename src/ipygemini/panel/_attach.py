"""What the panel can attach: notebook variables, uploaded, dropped and pasted files, and labels."""

from __future__ import annotations

import types
from typing import Any

from ..attachments import Attachment, AttachmentError, describe, is_attachable, to_content_parts

__all__ = ["MAX_FILE_BYTES", "attachable_variables", "file_attachment", "label", "user_namespace"]

MAX_FILE_BYTES = 20 * 1024 * 1024


def label(attachment: Attachment) -> str:
    """How a pending or sent attachment is named in the panel."""
    obj = attachment.obj
    if isinstance(obj, types.ModuleType):
        what = "current figure"  # describe(plt) would create a figure as a side effect
    elif isinstance(obj, bytes | bytearray | memoryview):
        what = f"{len(obj):,} bytes"
    else:
        try:
            what = describe(obj)
        except Exception:
            what = type(obj).__name__
    return f"{attachment.name} ({what})" if attachment.name else what


def user_namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return {}
    shell = get_ipython()
    namespace: dict[str, Any] = getattr(shell, "user_ns", None) or {}
    return namespace


def attachable_variables() -> dict[str, Any]:
    """``{name: object}`` of the notebook variables the attachments module can send."""
    found: dict[str, Any] = {}
    for name, obj in list(user_namespace().items()):
        if name.startswith("_"):
            continue
        try:
            if is_attachable(obj):
                found[name] = obj
        except Exception:
            continue
    return found


def file_attachment(name: str, data: bytes) -> Attachment:
    """A file that was uploaded, dropped or pasted; raises `AttachmentError` (one line) if the
    gateway could not take it, so the user hears it when dropping it, not when sending. Any
    other failure to read it (an image Pillow cannot decode) is that one line too: the panel's
    message handler must not raise."""
    shown = name or "pasted file"
    if len(data) > MAX_FILE_BYTES:
        raise AttachmentError(
            f"cannot attach {shown}: {len(data):,} bytes is more than the "
            f"{MAX_FILE_BYTES // (1024 * 1024)} MB limit"
        )
    attachment = Attachment(bytes(data), shown)
    try:
        to_content_parts([attachment])  # validates (and converts) now
    except AttachmentError:
        raise
    except Exception as exc:  # Pillow's UnidentifiedImageError, a broken PNG's SyntaxError, ...
        raise AttachmentError(
            f"cannot attach {shown}: it could not be read as {_what(data)} "
            f"({type(exc).__name__}); it may be damaged — nothing was attached"
        ) from None
    return attachment


def _what(data: bytes) -> str:
    from .._types import sniff_mime

    mime = sniff_mime(data)
    return f"an image ({mime})" if mime and mime.startswith("image/") else "a file to send"
