"""The built-in offline gateway: one `FakeGateway` per process for a first run without a key."""

# When nothing is configured (no API key, no base URL), the magic, the panel and `connect()`
# answer from it instead of failing, say so once, and label every answer "offline".

from __future__ import annotations

import atexit
import html
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._gateway import FakeGateway

__all__ = ["ADVICE", "NOTICE", "address", "gateway", "nothing_configured", "notice_once"]

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


def nothing_configured() -> bool:
    """True when no key and no base URL is configured (`Settings` decides: one rule)."""
    from .._settings import nothing_configured as decided

    return decided()


def address() -> tuple[str, str]:
    """``(api_key, base_url)`` of the offline gateway, started and announced (once) on first use:
    what `Settings.resolve` asks for when its offline rule applies."""
    started = gateway()
    notice_once()
    return started.api_key, started.base_url


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
