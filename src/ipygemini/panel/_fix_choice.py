"""`FixChoice`: what ``%gemini fix`` shows under its answer in JupyterLab 4 / Notebook 7 — two
buttons, "Insert below" and "Replace the failing cell", so the user chooses where the corrected
cell goes. Both go through JupyterLab's own notebook commands (see `_shell`): the notebook's Undo
reverts them, and the cell is never run."""

from __future__ import annotations

from typing import Any

import anywidget
from traitlets import Int, Unicode

from . import _shell

__all__ = ["FixChoice", "offer_fix"]

_ESM = """
function render({ model, el }) {
  const row = document.createElement("div");
  row.className = "ipygemini-fix-choice";
  const make = (cls, text, title) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "jp-Button jp-mod-styled jp-mod-accept " + cls;
    b.textContent = text;
    b.title = title;
    return b;
  };
  const insert = make("ipygemini-fix-insert", "Insert below", "A new cell with the corrected code below this one");
  const replace = make("ipygemini-fix-replace", "Replace the failing cell",
    "Put the corrected code in place of the cell that raised the error (Undo reverts it)");
  const note = document.createElement("span");
  note.className = "ipygemini-fix-note";
  const sync = () => (note.textContent = " " + model.get("note"));
  model.on("change:note", sync);
  sync();
  insert.addEventListener("click", () => model.send({ type: "insert" }));
  replace.addEventListener("click", () => {
    const wanted = "[" + model.get("failing") + "]:";
    const cell = [...document.querySelectorAll(".jp-Notebook .jp-Cell")].find((c) => {
      const prompt = c.querySelector(".jp-InputPrompt");
      return prompt && prompt.textContent.trim() === wanted;
    });
    if (!cell) return model.send({ type: "missing" });
    // make the failing cell the notebook's active cell, as a click on its prompt does
    const prompt = cell.querySelector(".jp-InputPrompt");
    const box = prompt.getBoundingClientRect();
    const at = { bubbles: true, cancelable: true, button: 0, clientX: box.x + 2, clientY: box.y + 2 };
    prompt.dispatchEvent(new MouseEvent("mousedown", at));
    prompt.dispatchEvent(new MouseEvent("mouseup", at));
    model.send({ type: "replace" });
  });
  row.append(insert, replace, note);
  el.appendChild(row);
}
export default { render };
"""


class FixChoice(anywidget.AnyWidget):
    """Insert the corrected cell below, or put it in place of the failing cell."""

    _esm = _ESM
    code = Unicode("", help="The corrected cell.").tag(sync=True)
    failing = Int(0, help="The execution count of the cell that raised the error.").tag(sync=True)
    note = Unicode("").tag(sync=True)

    def __init__(self, code: str, failing: int) -> None:
        super().__init__(code=code, failing=failing)
        self.on_msg(self._clicked)

    def __repr__(self) -> str:
        # what a saved notebook keeps as text: the choice, not the run-dependent cell number
        return "FixChoice(Insert below | Replace the failing cell)"

    def _clicked(self, _: Any, content: Any, buffers: list[bytes]) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "insert":
            _shell.insert_cell_below(self.code)
            self.note = "Inserted below (not run)."
        elif kind == "replace":
            _shell.replace_active_cell(self.code)
            self.note = (
                f"Replaced cell [{self.failing}] (not run); Undo in the notebook reverts it."
            )
        elif kind == "missing":
            self.note = f"Cell [{self.failing}] is not in this notebook now; use Insert below."


def offer_fix(code: str, failing: int | None) -> str | None:
    """Show the choice when the notebook's shell can insert cells; else return why not (the
    caller keeps today's fallback)."""
    why = _shell.why_no_shell()
    if why is not None:
        return why
    from IPython.display import display

    display(FixChoice(code, failing or 0))  # type: ignore[no-untyped-call]
    return None
