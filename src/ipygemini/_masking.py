"""How a secret (the API key, a token) may be shown: one rule for every output.

A secret longer than `SHOWN_FROM` characters shows as ``…abcd`` (its last four); a shorter one
as ``…`` alone, since four characters of a short secret give too much of it away. This module
imports nothing from the package, so every other module (errors included) may use it.
"""

from __future__ import annotations

__all__ = ["SEARCHED_FROM", "SHOWN_FROM", "mask_key", "mask_secret"]

SHOWN_FROM = 9
"""The shortest secret whose last four characters may be shown."""
SEARCHED_FROM = 4
"""The shortest secret searched for in text (a shorter one would match ordinary words)."""


def mask_key(key: str | None) -> str:
    """A key as it may be shown: ``…abcd`` (last four characters), ``…``, or ``(not set)``."""
    if not key:
        return "(not set)"
    return "…" + key[-4:] if len(key) >= SHOWN_FROM else "…"


def mask_secret(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced by its masked form."""
    if not secret or len(secret) < SEARCHED_FROM or secret not in text:
        return text
    return text.replace(secret, mask_key(secret))
