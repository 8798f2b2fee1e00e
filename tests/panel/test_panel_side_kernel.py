"""The panel beside the notebook, where there is no application shell: in a real kernel that has
no JupyterLab page, `%gemini panel --side` and ``ChatPanel.show(area="right")`` open the panel
in the cell with one line saying why, and "To cell" falls back to ``_gemini_code`` with a note
naming the reason. (The sidebar itself is tested in tests/test_sidebar_browser.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kernel_driver import Cell, KernelSession

pytest.importorskip("ipywidgets")

WIDGET = "application/vnd.jupyter.widget-view+json"


def widget_displays(cell: Cell) -> list[dict[str, Any]]:
    found = cell.of_type("display_data", "execute_result")
    return [m for m in found if WIDGET in m["content"]["data"]]


def test_side_without_ipylab_opens_in_the_cell_with_one_line(kernel: KernelSession) -> None:
    cell = kernel.run("import sys\nsys.modules['ipylab'] = None  # as if not installed")
    assert cell.status == "ok"
    cell = kernel.run("%gemini panel --side")
    assert cell.status == "ok", cell.messages
    assert cell.stdout.strip().splitlines() == [
        "The chat panel opens in this cell: ipylab is not installed (pip install 'ipygemini[lab]')."
    ]
    assert len(widget_displays(cell)) == 1  # the panel itself, in the cell
    cell = kernel.run("import ipygemini\nipygemini.ChatPanel().show(area='right')")
    assert cell.stdout.count("\n") == 1 and "opens in this cell" in cell.stdout
    assert len(widget_displays(cell)) == 1


def test_to_cell_without_a_shell_stores_the_code_and_names_why(kernel: KernelSession) -> None:
    code = (
        "import os, sys\nsys.modules.pop('ipylab', None)\nos.environ['VSCODE_PID'] = '1'\n"
        "p = ipygemini.ChatPanel(load_models=False)\n"
        "p._handle({'type': 'insert', 'code': 'x = 41 + 1'}, [])\n"
        "print(json.dumps([_gemini_code, p.status, p.show(area='right') is p]))"
    )
    cell = kernel.run("import json, ipygemini\n" + code)
    assert cell.status == "ok", cell.messages
    lines = cell.stdout.strip().splitlines()
    assert (
        lines[0]
        == "The chat panel opens in this cell: VS Code's notebooks have no JupyterLab sidebar."
    )
    stored, status, in_cell = json.loads(lines[1])
    assert stored == "x = 41 + 1" and in_cell is True
    assert status.startswith("Cells cannot be inserted here (VS Code's notebooks have no")
    assert "%load _gemini_code" in status
    kernel.run("os.environ.pop('VSCODE_PID')")


def test_panel_side_refuses_an_unknown_option_in_one_line(kernel: KernelSession) -> None:
    cell = kernel.run("%gemini panel --left")
    said = (cell.stderr + (cell.error or {}).get("evalue", "")).strip()
    assert "unknown option --left" in said and "\n" not in said
