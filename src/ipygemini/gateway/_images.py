"""The PNGs the fake image models return, and the data URLs of the bad_images fault.

Size from the aspect ratio or the edited image; colour from the prompt.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .._png import decode_png, gradient_png, noise_png, solid_png, tint_png
from ._chat_request import google_options, invalid, read_prompt
from ._directives import Directives
from ._records import ReceivedAttachment, attachments_of, last_user_message

__all__ = [
    "ASPECT_RATIOS",
    "COLOURS",
    "DEFAULT_IMAGE_SIZE",
    "bad_image_urls",
    "image_for",
    "image_geometry",
    "prompt_colour",
]


DEFAULT_IMAGE_SIZE = (64, 48)

MAX_EDIT_SIDE = 4096

# Aspect ratios Gemini image models accept; the short side of the fake image is 48 pixels.
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 90, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
    "pink": (240, 120, 180),
    "brown": (130, 80, 40),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "cyan": (40, 200, 210),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
}

_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOURS) + r")\b", re.IGNORECASE)


def _aspect_ratio(body: Mapping[str, Any]) -> str | None:
    config = google_options(body).get("image_config")
    if not isinstance(config, Mapping):
        config = body.get("image_config")
    ratio = config.get("aspect_ratio") if isinstance(config, Mapping) else None
    if ratio is None:
        return None
    if ratio not in ASPECT_RATIOS:
        raise invalid(
            f"image_config.aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}; got {ratio!r}",
            "extra_body",
        )
    return str(ratio)


def _source_image(body: Mapping[str, Any]) -> ReceivedAttachment | None:
    message = last_user_message(body)
    if message is None:
        return None
    for attachment in attachments_of(message):
        if attachment.data is not None and attachment.image_size is not None:
            return attachment
    return None


def image_geometry(body: Mapping[str, Any]) -> tuple[int, int]:
    """The size of the generated image: the aspect ratio if given (short side 48 px), else the
    edited image's size (when not larger than 4096 px a side), else 64×48."""
    ratio = _aspect_ratio(body)
    if ratio is not None:
        w, h = (int(part) for part in ratio.split(":"))
        return (round(48 * w / h), 48) if w >= h else (48, round(48 * h / w))
    source = _source_image(body)
    if source is not None and source.image_size is not None:
        width, height = source.image_size
        if 0 < width <= MAX_EDIT_SIDE and 0 < height <= MAX_EDIT_SIDE:
            return width, height
    return DEFAULT_IMAGE_SIZE


def prompt_colour(prompt: str) -> tuple[int, int, int] | None:
    """The first colour word of the prompt as RGB, or None."""
    match = _COLOUR_WORD.search(prompt)
    return COLOURS[match.group(1).lower()] if match else None


def _hash_colour(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


def image_for(body: Mapping[str, Any], directives: Directives | None = None) -> bytes:
    """The PNG the fake image model returns for `body`.

    A colour word in the prompt gives a solid image of that colour, otherwise a vertical gradient
    of a colour hashed from the prompt. Editing (an image in the last user message) keeps the
    input's size and, for small 8-bit RGB/RGBA PNGs, its pixels tinted half-way to the colour.
    ``big_image`` (mb=N) returns about N MB of incompressible noise instead.
    """
    if directives is not None and directives.has("big_image"):
        return noise_png(int(directives.get_float("mb", 4.0) * 1_000_000))
    prompt, _ = read_prompt(body)
    colour = prompt_colour(prompt)
    width, height = image_geometry(body)
    source = _source_image(body)
    if source is not None and source.data is not None and _aspect_ratio(body) is None:
        decoded = decode_png(source.data)
        if decoded is not None:
            return tint_png(decoded, colour or _hash_colour(prompt))
    if colour is not None:
        return solid_png(width, height, colour)
    top = _hash_colour(prompt)
    return gradient_png(width, height, top, (top[0] // 2, top[1] // 2, top[2] // 2))


def bad_image_urls(body: Mapping[str, Any], directives: Directives | None = None) -> list[str]:
    """The bad_images fault's data URLs: HTML, empty, invalid base64, then one valid PNG."""
    html = base64.b64encode(b"<img src=x onerror=alert(1)>").decode("ascii")
    valid = base64.b64encode(image_for(body, directives)).decode("ascii")
    return [
        f"data:text/html;base64,{html}",
        "data:image/png;base64,",
        "data:image/png;base64,not*valid*base64!",
        f"data:image/png;base64,{valid}",
    ]
