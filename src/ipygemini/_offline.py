"""The built-in offline gateway: one `FakeGateway` per process for a first run without a key.

When nothing is configured (no API key, no base URL), the magic, the panel and `connect()`
answer from it instead of failing, say so once, and label every answer "offline".
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .testing import FakeGateway

__all__ = ["NOTICE", "gateway", "nothing_configured", "resolve"]

NOTICE = (
    "ipygemini: no GEMINI_API_KEY is set, so answers come from the built-in OFFLINE gateway "
    "(canned, free, no network). Set GEMINI_API_KEY before starting Jupyter, or run "
    "%gemini login, for real answers."
)
PACE = 0.01  # seconds between offline chunks, so streaming is visible

_lock = threading.Lock()
_gateway: FakeGateway | None = None
_noticed = False


def nothing_configured(api_key: str | None = None, base_url: str | None = None) -> bool:
    """True when neither the arguments nor the environment name a key or a base URL."""
    return not (
        api_key or base_url or os.environ.get("GEMINI_API_KEY") or os.environ.get("GEMINI_BASE_URL")
    )


def gateway() -> FakeGateway:
    """The process-wide offline gateway, started on first use (about 35 ms)."""
    global _gateway
    with _lock:
        if _gateway is None or not _gateway.running:
            from .testing import FakeGateway

            _gateway = FakeGateway(api_key="offline", delay=PACE).start()
            atexit.register(_gateway.stop)
        return _gateway


def notice_once() -> None:
    """Say, once per process, that answers are offline."""
    global _noticed
    if not _noticed:
        _noticed = True
        print(NOTICE, file=sys.stderr)


def resolve(api_key: str | None, base_url: str | None) -> tuple[str | None, str | None, bool]:
    """(api_key, base_url, offline): the offline gateway's when nothing is configured."""
    if nothing_configured(api_key, base_url):
        gw = gateway()
        notice_once()
        return gw.api_key, gw.base_url, True
    return api_key, base_url, False
