"""Telling credentials apart from other notebook values, by their name and by their shape.

`--vars` describes the user's variables to the model; a value that may be a credential is
withheld. A name says a lot (``api_key``, ``creds``, ``passphrase``) but not everything:
``DATABASE_URL`` holds a password in its URL, ``GITHUB_PAT`` a ``ghp_…`` token, ``headers``
an ``Authorization: Bearer …`` line. So values are also judged by their shape: URL userinfo,
an authorization scheme with a token, the prefixes of well-known tokens and keys, a private
key block, a JWT, and long strings with the entropy of random ones. Containers are searched
(names and values) to a bounded depth and size.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

__all__ = ["credential_shape", "looks_secret", "may_hold_secret", "redact"]

_SECRET_NAME = re.compile(
    r"key|token|secret|passw|passphrase|pwd|cred|auth|cookie|session_?id|dsn|bearer|jwt"
    r"|private|signature|(?:^|_)pat(?:$|_)|(?:^|_)otp(?:$|_)",
    re.IGNORECASE,
)

_SHAPES = re.compile(
    "|".join(
        [
            r"[a-z][a-z0-9+.\-]*://[^\s/@:]*:[^\s/@]+@",  # scheme://user:password@host
            r"[a-z][a-z0-9+.\-]*://[^\s/@:]{16,}@",  # scheme://token@host
            r"\b(?:bearer|basic|token|digest)\s+[A-Za-z0-9._~+/=\-]{8,}",  # Authorization
            r"[?&](?:api_?key|key|token|access_token|secret|password|passwd|sig|signature)"
            r"=[^&#\s]{6,}",  # a credential in a URL's query
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",  # GitHub
            r"\bglpat-[A-Za-z0-9_\-]{16,}",  # GitLab
            r"\bsk-(?:proj-|ant-|live_|test_)?[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic, ...
            r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
            r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
            r"\bxapp-[A-Za-z0-9\-]{10,}",
            r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",  # AWS access key id
            r"\bAIza[A-Za-z0-9_\-]{30,}",  # Google API key
            r"\bya29\.[A-Za-z0-9_\-]{20,}",  # Google OAuth access token
            r"\bhf_[A-Za-z0-9]{20,}",  # Hugging Face
            r"\bnpm_[A-Za-z0-9]{30,}",  # npm
            r"\bpypi-[A-Za-z0-9_\-]{30,}",  # PyPI
            r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{20,}",  # Shopify
            r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",  # SendGrid
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",  # JWT
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        ]
    ),
    re.IGNORECASE,
)
_RUN = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")
MIN_ENTROPY = 3.5
"""Bits per character from which a run of 20+ letters and digits may be a random token (a
random base62 string of 20 characters has about 4.0, growing with its length)."""
MIN_CHANGES = 0.3
"""How often, at least, neighbouring characters change between lower case, upper case and
digit: about 0.6 in random base62, 0.45 in random hex, 0.1-0.2 in paths and identifiers."""
MAX_LOWER_RUN = 2.5
"""The mean length of lower-case runs above which a run reads as words (``CamelCase2024``:
about 4), not as random characters (about 1.7 in base62 and hex)."""

_MAX_ITEMS = 2000
_MAX_DEPTH = 4


def looks_secret(name: str) -> bool:
    """Whether the name `name` says it holds a credential (``api_key``, ``creds``, ...)."""
    return bool(_SECRET_NAME.search(name))


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(run: str) -> bool:
    """A run of token characters that reads like a random string: letters and digits mixed
    throughout (words, paths, identifiers and dates change between letters and digits only
    at a few boundaries), with high entropy."""
    chars = [c for c in run if c.isalnum()]
    if (
        len(chars) < 20
        or not any(c.isdigit() for c in chars)
        or not any(c.isalpha() for c in chars)
    ):
        return False
    kinds = ["d" if c.isdigit() else "u" if c.isupper() else "l" for c in chars]
    changes = sum(a != b for a, b in itertools.pairwise(kinds)) / (len(kinds) - 1)
    lower_runs = re.findall("l+", "".join(kinds))
    wordy = bool(lower_runs) and sum(map(len, lower_runs)) / len(lower_runs) > MAX_LOWER_RUN
    return not wordy and changes >= MIN_CHANGES and _entropy("".join(chars)) >= MIN_ENTROPY


def credential_shape(text: str) -> str | None:
    """The part of `text` shaped like a credential (URL userinfo, ``Bearer …``, a known token
    prefix, a private key, a JWT, a long random-looking run), or None."""
    found = _SHAPES.search(text)
    if found:
        return str(found.group(0))
    for run in _RUN.finditer(text):
        if _random_looking(run.group(0)):
            return str(run.group(0))
    return None


def may_hold_secret(value: Any, *, secret: str | None = None) -> bool:
    """Whether `value` (a string, or a container searched to a bounded depth) holds something
    named or shaped like a credential, or the API key `secret` itself."""
    budget = [_MAX_ITEMS]

    def walk(item: Any, depth: int) -> bool:
        budget[0] -= 1
        if budget[0] < 0 or depth > _MAX_DEPTH:
            return False
        if isinstance(item, bytes | bytearray):
            item = bytes(item[:4096]).decode("utf-8", "replace")
        if isinstance(item, str):
            return bool(secret and secret in item) or credential_shape(item) is not None
        if isinstance(item, Mapping):
            for key, inner in list(item.items())[:_MAX_ITEMS]:
                if isinstance(key, str) and looks_secret(key) and _filled(inner):
                    return True
                if walk(key, depth + 1) or walk(inner, depth + 1):
                    return True
            return False
        if isinstance(item, list | tuple | set | frozenset):
            return any(walk(inner, depth + 1) for inner in list(item)[:_MAX_ITEMS])
        return False

    try:
        return walk(value, 0)
    except Exception:  # a container that cannot be walked is judged by its repr instead
        return False


def _filled(value: Any) -> bool:
    """A credential-like value under a secret-sounding key: a non-empty string or bytes, or a
    container of them (``max_tokens: 512`` is a number, not a secret)."""
    if isinstance(value, str | bytes | bytearray):
        return bool(value)
    if isinstance(value, list | tuple):
        return any(isinstance(v, str | bytes) and v for v in value)
    return False


def redact(text: str) -> str:
    """`text` with every part shaped like a known credential replaced by ``[withheld]``.
    (Random-looking runs are left: in code they are as often hashes and ids as secrets.)"""
    return _SHAPES.sub("[withheld]", text)
