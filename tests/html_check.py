"""The one test check that an HTML fragment is inert: `inert_problems(html) == []`.

Allow-list rules, parsed with the stdlib ``html.parser`` (entities decoded as a browser would):

- tags: ``ipygemini.render.ALLOWED_TAGS``, plus the constant wrappers the front ends put around
  rendered Markdown (`WRAPPER_TAGS`; pass ``wrappers=()`` for render's own output), plus
  ``<img>`` only with a ``data:image/…`` source (an image shown from bytes);
- attributes: ``ALLOWED_ATTRIBUTES`` of the tag (and ``rel``, which nh3 adds to links); wrappers
  and ``<span>`` may carry ``style``/``class``/``open``; no ``on*`` event handler anywhere;
- URLs: ``href`` only http(s)/mailto; no attribute value holding ``javascript:``, ``vbscript:``
  or ``data:`` (the image source above excepted), however it is entity-encoded or spaced;
- ``style``: only `STYLE_PROPERTIES`, never ``url(`` or ``expression(``.

Anything else (``<script>``, ``<style>``, ``<iframe>``, ``<svg>``, ``<img src=http…>``, …) is a
problem. The result lists every problem found, so a test shows them all at once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from html.parser import HTMLParser

from ipygemini.render import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

__all__ = ["STYLE_PROPERTIES", "WRAPPER_TAGS", "elements", "inert_problems"]

WRAPPER_TAGS = frozenset({"div", "details", "summary"})
"""Tags the magic and the panel wrap around rendered Markdown (constant markup, not model text)."""

STYLE_PROPERTIES = frozenset(
    {"color", "font-size", "font-style", "font-weight", "opacity", "text-align"}
)
"""Inline style properties the front ends' own markup (and render's table alignment) use."""

_WRAPPER_ATTRIBUTES = frozenset({"style", "class", "open"})
_IMAGE_ATTRIBUTES = frozenset({"src", "alt", "width", "height", "title"})
_IMAGE_FROM_BYTES = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]*")
_LINK = re.compile(r"(https?|mailto):", re.IGNORECASE)
_SCHEMES = ("javascript:", "vbscript:", "data:")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


def _style_problems(tag: str, value: str, properties: Collection[str]) -> list[str]:
    problems = []
    for declaration in filter(None, (d.strip() for d in value.split(";"))):
        name, _, setting = declaration.partition(":")
        if name.strip().lower() not in properties:
            problems.append(f"<{tag} style>: property {name.strip()!r} not allowed")
        squeezed = _INVISIBLE.sub("", setting).lower()
        if "url(" in squeezed or "expression(" in squeezed:
            problems.append(f"<{tag} style>: {declaration!r} loads or runs something")
    return problems


def elements(fragment: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag in `fragment` with its attributes, in order."""
    parser = _Elements()
    parser.feed(fragment)
    parser.close()
    return parser.found


def inert_problems(
    fragment: str,
    *,
    wrappers: Collection[str] = WRAPPER_TAGS,
    style_properties: Collection[str] = STYLE_PROPERTIES,
) -> list[str]:
    """Every reason `fragment` could run code or load something ([] when it is inert)."""
    problems: list[str] = []
    for tag, attrs in elements(fragment):
        values = {name: value or "" for name, value in attrs}
        image = tag == "img" and bool(_IMAGE_FROM_BYTES.fullmatch(values.get("src", "")))
        if tag == "img" and not image:
            problems.append(f"<img src={values.get('src')!r}>: only images from bytes (data:image)")
            continue
        if tag not in ALLOWED_TAGS and tag not in wrappers and not image:
            problems.append(f"<{tag}>: tag not allowed")
            continue
        allowed = set(ALLOWED_ATTRIBUTES.get(tag, ())) | {"rel"}
        if tag in wrappers or tag == "span":
            allowed |= _WRAPPER_ATTRIBUTES
        if image:
            allowed |= _IMAGE_ATTRIBUTES
        for name, value in values.items():
            if name.startswith("on"):
                problems.append(f"<{tag} {name}>: event handler")
                continue
            if name not in allowed:
                problems.append(f"<{tag} {name}>: attribute not allowed")
            plain = _INVISIBLE.sub("", html.unescape(value)).lower()
            scheme = plain.startswith(_SCHEMES) or "javascript:" in plain
            if name == "href" and not _LINK.match(value.strip()):
                problems.append(f"<{tag} href={value!r}>: only http(s) and mailto links")
            elif scheme and not (image and name == "src"):
                problems.append(f"<{tag} {name}={value!r}>: javascript:/vbscript:/data: URL")
            if name == "style":
                problems.extend(_style_problems(tag, value, style_properties))
    return problems


def assert_inert(fragment: str) -> None:
    """Nothing in `fragment` can run code or load a resource (the shared allow-list checker)."""
    assert inert_problems(fragment) == [], fragment
