"""The chat beside the notebook and answers into real cells, in a real JupyterLab 4 and Notebook 7
driven with Playwright in Debian's chromium (ipylab installed, FakeGateway answering).

One server and one page per front end serve the tests here, in order: the sidebar panel first,
then "To cell" from it. Waiting is for DOM states, never for time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

import _lab
from ipygemini.testing import FakeGateway

REASON = _lab.missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser tests skipped: {REASON}")

KEY = "sk-sidebar-SECRET-q8zx"
CELLS = [
    "%load_ext ipygemini\n%gemini panel --side",
    "from IPython.display import HTML\nHTML(\"<div style='height:3000px'>tall</div>\")",
    "%gemini panel --side",
    "x = 1",
    *["\n".join(["# a long notebook, to scroll"] * 40)] * 4,
]
SIDE = "[id^='ipygemini-chat-']"


class Ui:
    def __init__(self, page: Any, gw: FakeGateway, server: Any, app: str) -> None:
        self.page = page
        self.gw = gw
        self.server = server
        self.app = app

    def cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def side_panel(self) -> Any:
        return self.page.locator(f"{SIDE} .ipygemini-panel")

    def run(self, index: int) -> None:
        """Run cell `index` with Ctrl+Enter (the active cell stays `index`) until it started."""
        from playwright.sync_api import expect

        cell = self.cells().nth(index)
        for _ in range(5):  # the first run is lost when the kernel is not attached yet
            cell.locator(".cm-content").click()
            self.page.keyboard.press("Control+Enter")
            try:
                expect(cell.locator(".jp-InputPrompt")).to_have_text(
                    re.compile(r"\[\d+\]"), timeout=8_000
                )
                return
            except AssertionError:
                dialog = self.page.locator("dialog.jp-Dialog")
                if dialog.count() and dialog.first.is_visible():
                    dialog.first.locator("button.jp-mod-accept").click()
        raise AssertionError(f"cell {index} never ran")


@pytest.fixture(scope="module", params=["lab", "notebook"])
def ui(request: Any) -> Iterator[Ui]:
    from test_panel_browser import Notebook7, importlib_missing

    app = request.param
    if app == "notebook" and importlib_missing("notebook"):
        pytest.skip("Notebook 7 is not installed (pip install 'notebook>=7')")
    if importlib_missing("ipylab"):
        pytest.skip("ipylab is not installed (pip install 'ipygemini[lab]')")
    with _lab.scratch_folder(f"ipygemini-sidebar-{app}-") as scratch:
        with FakeGateway(api_key=KEY) as gw:
            env = {"GEMINI_BASE_URL": gw.base_url, "GEMINI_API_KEY": KEY, "GEMINI_MODEL": ""}
            server = _lab.Lab(scratch, env) if app == "lab" else Notebook7(scratch, env)
            _lab.write_notebook(server.root / "side.ipynb", CELLS)
            with server, _lab.chromium_page(scratch, viewport=(1400, 800)) as page:
                page.goto(server.url("side.ipynb"), wait_until="domcontentloaded")
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=90_000)
                with _lab.evidence_on_failure(page, scratch, server):
                    yield Ui(page, gw, server, app)


def test_the_sidebar_panel_survives_a_scroll_and_a_second_side(ui: Ui) -> None:
    from playwright.sync_api import expect

    ui.run(0)
    panel = ui.side_panel()
    expect(panel).to_have_count(1)
    expect(panel).to_be_visible()
    assert ui.page.locator(".jp-Notebook .ipygemini-panel").count() == 0  # not in the cell
    expect(ui.cells().nth(0).locator(".jp-OutputArea-output")).to_have_text(
        "The chat panel is in the right sidebar."
    )
    ui.run(1)
    ui.cells().nth(1).locator(".jp-OutputArea-output").wait_for()  # scroll to the end:
    ui.cells().last.scroll_into_view_if_needed()
    expect(ui.cells().nth(0).locator(".jp-InputPrompt")).not_to_be_in_viewport()
    expect(panel).to_be_visible()
    expect(panel).to_be_in_viewport()
    if ui.app == "lab":  # hide it (click its own tab), then %gemini panel --side shows it again
        tab = ui.page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab[data-id^='ipygemini-chat-']")
        tab.click()
    else:  # Notebook 7: close the right side panel
        ui.page.locator(".jp-SidePanel-collapse:visible").first.click()
    expect(panel).to_be_hidden()
    ui.run(2)
    expect(panel).to_be_visible()
    expect(ui.page.locator(".ipygemini-panel")).to_have_count(1)  # the same panel, no second one
    expect(ui.cells().nth(2).locator(".jp-OutputArea-output")).to_have_text(
        "The chat panel is in the right sidebar."
    )


def test_to_cell_puts_the_code_below_the_active_cell_unrun(ui: Ui) -> None:
    from playwright.sync_api import expect

    panel = ui.side_panel()
    panel.locator("textarea.ipygemini-input").fill("Show me some code, please")
    panel.locator("textarea.ipygemini-input").press("Enter")
    answer = panel.locator(".ipygemini-assistant").last
    answer.locator(".ipygemini-footer").wait_for()
    before = ui.cells().count()
    ui.cells().nth(1).locator(".jp-InputPrompt").click()  # cell 1 is the active cell
    expect(ui.cells().nth(1)).to_have_class(re.compile("jp-mod-active"))
    answer.locator(".ipygemini-insert-code").first.click()
    expect(ui.cells()).to_have_count(before + 1)
    new = ui.cells().nth(2)
    expect(new.locator(".cm-content")).to_contain_text("def fibonacci(n: int)")
    expect(new).to_have_class(re.compile("jp-mod-active"))  # selected
    expect(new.locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[ \]:$"))  # not run
    expect(ui.cells().nth(3).locator(".cm-content")).to_have_text("%gemini panel --side")
    expect(panel.locator(".ipygemini-status")).to_contain_text("new cell below the active cell")


FIX_CELLS = ["%load_ext ipygemini\nimport math", "math.sqrt(-1)", "%gemini fix", "y = 2"]


def test_fix_inserts_below_or_replaces_the_failing_cell(ui: Ui) -> None:
    from playwright.sync_api import expect

    _lab.write_notebook(ui.server.root / "fix.ipynb", FIX_CELLS)
    ui.page.goto(ui.server.url("fix.ipynb"), wait_until="domcontentloaded")
    ui.cells().first.locator(".cm-content").wait_for(timeout=90_000)
    for index in range(3):
        ui.run(index)
    failing = ui.cells().nth(1).locator(".jp-InputPrompt").inner_text().strip()
    choice = ui.cells().nth(2).locator(".ipygemini-fix-choice")
    choice.locator(".ipygemini-fix-insert").click()
    expect(ui.cells()).to_have_count(len(FIX_CELLS) + 1)
    inserted = ui.cells().nth(3)
    expect(inserted.locator(".cm-content")).to_contain_text("def ")
    expect(inserted.locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[ \]:$"))  # not run
    expect(choice.locator(".ipygemini-fix-note")).to_contain_text("Inserted below")

    code = inserted.locator(".cm-content").text_content()
    choice.locator(".ipygemini-fix-replace").click()
    expect(ui.cells()).to_have_count(len(FIX_CELLS) + 1)  # one cell in place of another
    replaced = ui.cells().nth(1)
    expect(replaced.locator(".cm-content")).to_contain_text("def ")
    assert replaced.locator(".cm-content").text_content() == code
    expect(replaced.locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[ \]:$"))
    expect(replaced).to_have_class(re.compile("jp-mod-active"))
    expect(ui.cells().nth(0).locator(".cm-content")).to_contain_text("import math")
    expect(ui.cells().nth(2).locator(".cm-content")).to_have_text("%gemini fix")
    prompts = ui.cells().locator(".jp-InputPrompt")
    assert failing not in [text.strip() for text in prompts.all_inner_texts()]  # gone
    expect(choice.locator(".ipygemini-fix-note")).to_contain_text(f"Replaced cell {failing[:-1]}")
    # the notebook's Undo (command mode, Z) brings the failing cell back
    replaced.locator(".jp-InputPrompt").click()
    ui.page.keyboard.press("z")
    expect(ui.cells().locator(".cm-content", has_text="math.sqrt(-1)")).to_have_count(1)
