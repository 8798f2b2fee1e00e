"""The application shell around the notebook (JupyterLab 4, Notebook 7), reached through ipylab.

ipylab ("control JupyterLab from Python notebooks", the optional extra ``ipygemini[lab]``) gives
the kernel the shell's areas and its command registry: the panel goes into the right sidebar
(Notebook 7: its right side panel), and "To cell" runs JupyterLab's own notebook commands
(insert a cell below the active one, put the code in it), so the notebook's Undo reverts it and
nothing is ever executed. Where no such shell can host the panel (ipylab missing, a terminal,
Colab, VS Code), `why_no_shell` says why in one line and callers stay in the cell.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

__all__ = [
    "REVEAL_COMMANDS",
    "insert_cell_below",
    "replace_active_cell",
    "run_command",
    "sidebar_id",
    "to_sidebar",
    "why_no_shell",
]

REVEAL_COMMANDS = frozenset({"application:toggle-sidebar-widget", "application:toggle-panel"})
"""The only commands a panel view may ask the kernel to run: showing its own sidebar tab."""

_frontend: Any = None
_in_sidebar: dict[str, str] = {}
"""Panel model id -> the DOM id of its sidebar widget (a panel is added once, then revealed)."""


def why_no_shell() -> str | None:
    """Why the panel cannot go beside the notebook here (None when it can)."""
    if importlib.util.find_spec("ipylab") is None:
        return "ipylab is not installed (pip install 'ipygemini[lab]')"
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return "not in a Jupyter kernel"
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return "not in a Jupyter kernel"
    if "google.colab" in sys.modules:
        return "Colab has no JupyterLab sidebar"
    if os.environ.get("VSCODE_PID") or os.environ.get("VSCODE_CWD"):
        return "VS Code's notebooks have no JupyterLab sidebar"
    return None


def _app() -> Any:
    global _frontend
    if _frontend is None:
        from ipylab import JupyterFrontEnd  # type: ignore[import-untyped]

        _frontend = JupyterFrontEnd()
    return _frontend


def sidebar_id(model_id: str) -> str | None:
    """The DOM id of this panel's sidebar widget, if it was put there."""
    return _in_sidebar.get(model_id)


def to_sidebar(widget: Any, model_id: str, label: str) -> tuple[str, bool]:
    """Put `widget` in the right sidebar once; returns (its DOM id, whether it was added now)."""
    known = _in_sidebar.get(model_id)
    if known is not None:
        return known, False
    from ipylab import Panel
    from ipywidgets import widget_serialization

    host = Panel([widget])
    host.title.label = label
    host.title.caption = "Chat with Gemini beside the notebook"
    host.title.closable = True
    dom_id = f"ipygemini-chat-{model_id}"
    app = _app()
    # ipylab 1.x's Shell.add message with a fixed id (its front end honours one; Shell.add in
    # Python cannot pass it), so the panel's view can find and reveal its own sidebar widget
    app.shell.send(
        {
            "func": "add",
            "payload": {
                "serializedWidget": widget_serialization["to_json"](host, None),
                "area": "right",
                "args": {"rank": 1000},
                "id": dom_id,
            },
        }
    )
    _in_sidebar[model_id] = dom_id
    return dom_id, True


def run_command(command: str, args: dict[str, Any]) -> None:
    """Run one JupyterLab command in the front end (fire and forget)."""
    _app().commands.execute(command, args)


def insert_cell_below(code: str) -> None:
    """A new code cell holding `code`, below the active cell of the current notebook, selected;
    never run."""
    app = _app()
    app.commands.execute("notebook:insert-cell-below", {})
    app.commands.execute("notebook:replace-selection", {"text": code})


def replace_active_cell(code: str) -> None:
    """Put `code` in place of the active cell: a new cell below it holding `code`, then the old
    one deleted (two notebook actions the notebook's Undo reverts); the new cell is selected."""
    app = _app()
    for command, args in (
        ("notebook:insert-cell-below", {}),
        ("notebook:replace-selection", {"text": code}),
        ("notebook:move-cursor-up", {}),
        ("notebook:delete-cell", {}),
    ):
        app.commands.execute(command, args)
