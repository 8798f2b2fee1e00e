"""What the panel does for the page's actions: send (or edit), a dropped file, a notebook
variable, "To cell", and showing a hidden sidebar view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..attachments import AttachmentError
from . import _shell
from ._attach import file_attachment, label, user_namespace
from ._connection import one_line
from ._session import Refused

if TYPE_CHECKING:
    from ._widget import ChatPanel

__all__ = ["attach_variable", "clicked_send", "file", "reveal", "to_cell"]

CODE_VARIABLE = "_gemini_code"
"""Where "To cell" also keeps the code (and the only place, where no cell can be inserted)."""


def clicked_send(panel: ChatPanel, content: dict[str, Any]) -> None:
    text = str(content.get("text", ""))
    accepted = True
    try:
        if content.get("edit"):
            panel._session.edit(text)
        else:
            panel._session.start(text, list(panel.pending))
            panel.pending = []
            panel.pending_labels = []
    except Refused as exc:
        accepted = False
        panel.post(panel._session.transcript.add_note(str(exc), error=True))
    panel._post({"type": "ack", "seq": content.get("seq"), "accepted": accepted})


def file(panel: ChatPanel, name: str, buffers: list[bytes]) -> None:
    if not buffers:
        return
    try:
        panel.pending.append(file_attachment(name, bytes(buffers[0])))
    except AttachmentError as exc:
        panel.post(panel._session.transcript.add_note(one_line(str(exc)), error=True))
        return
    panel.pending_labels = [label(a) for a in panel.pending]


def attach_variable(panel: ChatPanel, name: str) -> None:
    namespace = user_namespace()
    if not name:
        panel.set_status("Choose a variable to attach first.")
    elif name not in namespace:
        panel.set_status(f"{name} no longer exists; refresh the list.", error=True)
    else:
        panel.attach(namespace[name], name)


def to_cell(panel: ChatPanel, code: str) -> None:
    namespace = user_namespace()
    namespace[CODE_VARIABLE] = code  # also where a front end could not take the cell
    why = _shell.why_no_shell()
    if why is None:
        _shell.insert_cell_below(code)
        panel.set_status(
            f"Code put in a new cell below the active cell (not run); also in {CODE_VARIABLE}."
        )
        return
    panel.set_status(
        f"Cells cannot be inserted here ({why}): the code is stored in {CODE_VARIABLE} "
        f"(and copied); run %load {CODE_VARIABLE} in a cell to paste it there."
    )


def reveal(panel: ChatPanel, content: dict[str, Any]) -> None:
    """A sidebar view found itself hidden: show its tab (Lab) or side panel (Notebook 7)."""
    dom_id = _shell.sidebar_id(panel.model_id)
    if dom_id is None or content.get("id") != dom_id:
        return
    index = content.get("index")
    if isinstance(index, int) and index >= 0:
        _shell.run_command("application:toggle-sidebar-widget", {"side": "right", "index": index})
    else:
        _shell.run_command(
            "application:toggle-panel", {"side": "right", "id": dom_id, "title": "Gemini"}
        )
