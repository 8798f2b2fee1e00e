"""What a client learns about its gateway, and how a body the gateway rejected is revised.

Pure and I/O-free: the sync and async loops call `GatewayMemory.observe` with every response's
headers and `GatewayMemory.revise` with every 400, and resend at once when it returns True.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["GatewayMemory"]

_UNKNOWN_FIELD = re.compile(r'Unknown name \\?"(\w+)"')
_PROTECTED = frozenset({"model", "messages"})


class GatewayMemory:
    """Facts about one gateway learned from its answers; one per client, kept between calls."""

    def __init__(self) -> None:
        self.kind: str | None = None
        """"litellm" once the gateway announced itself as LiteLLM; None while unknown."""

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's headers (LiteLLM sends ``x-litellm-*`` headers)."""
        if self.kind is None and any(name.lower().startswith("x-litellm-") for name in headers):
            self.kind = "litellm"

    def revise(self, body: dict[str, Any], status: int, message: str) -> bool:
        """Change `body` so the gateway may accept it; True when it changed and is worth resending.

        Google's endpoint answers 400 to a top-level field it does not know (``Unknown name
        "stream_options"``): that field is dropped.
        """
        if status != 400:
            return False
        match = _UNKNOWN_FIELD.search(message)
        if match and match.group(1) in body and match.group(1) not in _PROTECTED:
            del body[match.group(1)]
            return True
        return False
