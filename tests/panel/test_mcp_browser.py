"""The panel's confirm control for MCP tools in a real JupyterLab 4, driven with Playwright in
Debian's chromium: a tool that is not read-only and not allowed shows Allow / Deny in the page;
Deny is answered to the model as refused (nothing runs), Allow lets the call run. Waiting is for
DOM states, never for time."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from test_panel_browser import Page, open_and_run

import _lab
from conftest import EDGE_SERVER
from ipygemini.testing import FakeGateway

REASON = _lab.missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser tests skipped: {REASON}")
pytest.importorskip("mcp")

EDGE = str(EDGE_SERVER)
CELLS = [
    "import ipygemini, sys\n"
    f"edge = ipygemini.mcp_server(sys.executable, {EDGE!r}, name='edge')\n"
    "panel = ipygemini.ChatPanel(tools=[edge])\npanel",
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Page]:
    with _lab.scratch_folder("ipygemini-browser-mcp-") as scratch:
        with FakeGateway(api_key="sk-browser-mcp-SECRET-8kq") as gw:
            env = {"GEMINI_BASE_URL": gw.base_url, "GEMINI_API_KEY": gw.api_key, "GEMINI_MODEL": ""}
            server = _lab.Lab(scratch, env)
            _lab.write_notebook(server.root / "chat.ipynb", CELLS)
            with server, _lab.chromium_page(scratch) as page:
                with _lab.evidence_on_failure(page, scratch, server):
                    open_and_run(page, server, "lab")
                    yield Page(page, gw, server, "lab")


def tool_contents(ui: Page) -> list[str]:
    bodies: list[dict[str, Any]] = [dict(r.body) for r in ui.completions()]
    return [m["content"] for b in bodies for m in b["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("choice", ["Deny", "Allow"])
def test_allow_or_deny_in_the_page_decides_whether_the_tool_runs(lab: Page, choice: str) -> None:
    from playwright.sync_api import expect

    lab.new_chat()
    lab.gw.script_tool_calls([[("edge__write_note", {"note": "from the page"})]])
    lab.send("keep a note")
    confirm = lab.panel().locator(".ipygemini-confirm")
    expect(confirm).to_have_count(1)
    expect(confirm).to_contain_text('edge.write_note({"note": "from the page"})')
    assert tool_contents(lab) == []  # nothing ran while the page is asking
    confirm.get_by_role("button", name=choice).click()
    lab.wait_finished(1)
    expect(confirm).to_have_count(0)
    [sent] = tool_contents(lab)
    if choice == "Allow":
        assert json.loads(sent) == {"result": "stored 1 note(s)"}
    else:
        assert "declined" in sent and "nothing ran" in sent


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX only")
