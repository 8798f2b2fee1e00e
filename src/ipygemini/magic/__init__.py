"""The %%gemini cell magic and the %gemini commands (``%load_ext ipygemini``)."""

# Loading is cheap: the client (httpx), the Markdown renderer and the display code are imported
# on first use.

from __future__ import annotations

from typing import Any

from ._cell import AnswerError
from ._magics import GeminiMagics
from ._options import PromptError, interpolate

__all__ = [
    "AnswerError",
    "GeminiMagics",
    "PromptError",
    "interpolate",
    "load_ipython_extension",
    "unload_ipython_extension",
]

_LOADED: dict[int, GeminiMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register %%gemini / %gemini and the ``Gemini`` configurable on `ipython`."""
    if id(ipython) in _LOADED:
        return
    magics = GeminiMagics(ipython)
    ipython.register_magics(magics)
    from ..tools._context import CellLog

    magics.cell_log = CellLog()  # what ran, for %gemini fix and --context
    magics.cell_log.install(ipython)
    from .._settings import nothing_configured

    if nothing_configured():
        from ..gateway._offline import notice_once

        notice_once()
    ipython.configurables.append(magics.settings)
    _html_formatter(ipython).for_type_by_name("ipygemini._types", "Reply", _reply_html)
    _LOADED[id(ipython)] = magics


def _reply_html(reply: Any) -> str:
    """A Reply as a cell's value: the same safe HTML as the streamed answer (never raw text)."""
    from ..render import reply_bundle

    return reply_bundle(reply)["text/html"]


def _html_formatter(ipython: Any) -> Any:
    return ipython.display_formatter.formatters["text/html"]


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and stop what they started (the client)."""
    magics = _LOADED.pop(id(ipython), None)
    if magics is None:
        return
    magics.close()
    if magics.cell_log is not None:
        magics.cell_log.uninstall(ipython)
    formatter = _html_formatter(ipython)
    formatter.deferred_printers.pop(("ipygemini._types", "Reply"), None)
    for cls in [c for c in formatter.type_printers if c.__name__ == "Reply"]:
        formatter.type_printers.pop(cls)
    if magics.settings in ipython.configurables:
        ipython.configurables.remove(magics.settings)
    table = ipython.magics_manager.magics
    table["cell"].pop("gemini", None)
    table["line"].pop("gemini", None)
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
