"""Images (bytes, PIL, numpy arrays, matplotlib figures) as PNG/JPEG/WebP image parts."""

from __future__ import annotations

import io
from typing import Any

from .._errors import AttachmentError
from .._types import GEMINI_MIME_TYPES, GeneratedImage, sniff_mime
from ._common import DEFAULT_MAX_SIDE, FIGURE_DPI, Options, data_url, image_url_part, need

_CONVERTIBLE_IMAGES = frozenset({"image/gif", "image/bmp", "image/tiff", "image/x-icon"})


def image_part(data: bytes, mime: str | None, name: str, opts: Options) -> dict[str, Any]:
    mime = sniff_mime(data) or mime or "application/octet-stream"
    if mime in _CONVERTIBLE_IMAGES or mime not in GEMINI_MIME_TYPES:
        if not mime.startswith("image/"):
            raise AttachmentError(f"cannot attach {name}: {mime} is not an image Gemini accepts")
        data, mime = (
            reencode(data, name, f"{mime} images (Gemini wants PNG/JPEG/WebP)"),
            "image/png",
        )
    elif too_large(data, opts.max_side):
        data, mime = reencode(data, name, "large images", max_side=opts.max_side), "image/png"
    return image_url_part(data_url(mime, data))


def too_large(data: bytes, max_side: int) -> bool:
    size = GeneratedImage(data).size
    return size is not None and max(size) > max_side


def reencode(data: bytes, name: str, why: str, *, max_side: int = DEFAULT_MAX_SIDE) -> bytes:
    """PNG bytes of `data`, downscaled so the long side is at most `max_side` (needs Pillow)."""
    try:
        from PIL import Image
    except ImportError:
        if why == "large images":
            return data  # send as is; the gateway may downscale
        raise need("pillow", why) from None
    img = Image.open(io.BytesIO(data))
    return pil_png(img, max_side=max_side)


def pil_png(img: Any, *, max_side: int = DEFAULT_MAX_SIDE) -> bytes:
    if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def array_png(arr: Any, name: str | None) -> bytes:
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
        from .._png import encode_png

        if len(shape) == 2:
            import numpy as np

            arr = np.stack([arr] * 3, axis=-1)
        height, width, channels = arr.shape
        return encode_png(width, height, bytes(arr.tobytes()), channels=channels)
    return pil_png(Image.fromarray(arr))


def figure_of(obj: Any) -> Any:
    if getattr(obj, "__name__", None) == "matplotlib.pyplot":
        return obj.gcf()
    if hasattr(obj, "savefig"):
        return obj
    return obj.figure


def figure_png(obj: Any) -> bytes:
    fig = figure_of(obj)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buf.getvalue()
