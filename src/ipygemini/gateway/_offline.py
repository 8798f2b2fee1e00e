"""The built-in offline gateway: one `FakeGateway` per process for a first run without a key."""

# When nothing is configured (no API key, no base URL), the magic, the panel and `connect()`
# answer from it instead of failing, say so once, and label every answer "offline".

from __future__ import annotations

import atexit
import html
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._gateway import FakeGateway

__all__ = ["ADVICE", "NOTICE", "gateway", "nothing_configured", "notice_once", "resolve"]

NOTICE = (
    "ipygemini: no GEMINI_API_KEY is set, so answers come from the built-in OFFLINE gateway "
    "(canned, free, no network)."
)
ADVICE = {
    "ipython": "Set GEMINI_API_KEY before starting Jupyter, or run %gemini login, for real answers.",
    "cli": "Set GEMINI_API_KEY (and GEMINI_BASE_URL for a gateway) in the shell for real answers.",
    "python": "Set GEMINI_API_KEY, or pass api_key=..., for real answers.",
}
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
            from ._gateway import FakeGateway

            _gateway = FakeGateway(api_key="offline", delay=PACE).start()
            atexit.register(_gateway.stop)
        return _gateway


def notice_once(where: str | None = None) -> None:
    """Say, once per process, that answers are offline, with advice that fits `where`.

    `where` is ``"cli"``, ``"ipython"`` or ``"python"`` (None: IPython when one is running).
    In a notebook it is a calm note among the outputs; elsewhere a line on stderr.
    """
    global _noticed
    if _noticed:
        return
    _noticed = True
    shell = _running_ipython()
    if where is None:
        where = "ipython" if shell is not None else "python"
    text = f"{NOTICE} {ADVICE[where]}"
    if where == "ipython" and shell is not None and getattr(shell, "kernel", None) is not None:
        shell.display_pub.publish(data=_note_bundle(text), metadata={})
    else:
        print(text, file=sys.stderr)


def _running_ipython() -> Any:
    module = sys.modules.get("IPython")  # looked up, never imported
    return module.get_ipython() if module is not None else None


def _note_bundle(text: str) -> dict[str, str]:
    body = html.escape(text.removeprefix("ipygemini: "))
    return {
        "text/plain": text,
        "text/html": (
            '<div style="border-left:3px solid var(--jp-info-color1,#4a90d9);padding:2px 8px;'
            'font-size:0.9em;color:var(--jp-ui-font-color1,inherit)">'
            f"<strong>ipygemini</strong>: {body}</div>"
        ),
    }


def resolve(api_key: str | None, base_url: str | None) -> tuple[str | None, str | None, bool]:
    """(api_key, base_url, offline): the offline gateway's when nothing is configured."""
    if nothing_configured(api_key, base_url):
        gw = gateway()
        notice_once()
        return gw.api_key, gw.base_url, True
    return api_key, base_url, False
