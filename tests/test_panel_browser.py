"""ChatPanel in a real JupyterLab, driven with Playwright in Debian's chromium (FakeGateway answers).

One Lab, one browser page and one panel serve every test here, in order: send, stop, image,
injected markup. ``IPYGEMINI_SCREENSHOT=docs/panel.png`` also refreshes the README's picture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _lab
from ipygemini.testing import FakeGateway, answer_for

REASON = _lab.missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser tests skipped: {REASON}")

KEY = "sk-browser-SECRET-51qz"
PAYLOAD = (
    "<img src=x onerror=window.__pwned=1> <script>window.__pwned=1</script> "
    "<svg onload=window.__pwned=1> [clickme](javascript:window.__pwned=1) "
    "![leak](https://remote.invalid/leak.png)"
)


class Session:
    """The page with the panel, the requests the page made, and the gateway behind it."""

    def __init__(self, page: Any, gw: FakeGateway, scratch: Path) -> None:
        self.page = page
        self.gw = gw
        self.scratch = scratch
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))

    @property
    def panel(self) -> Any:
        return self.page.locator(".ipygemini-panel")

    def answers(self) -> Any:
        return self.page.locator(".ipygemini-answer")

    def newest_answer(self) -> Any:
        # the transcript is column-reverse: the newest message is its first child
        return self.page.locator(".ipygemini-transcript .ipygemini-answer").first

    def send(self, text: str) -> None:
        self.page.locator(".ipygemini-prompt textarea").fill(text)
        self.page.locator(".ipygemini-send").click()

    def wait_until_finished(self, count: int) -> None:
        """Wait for `count` answers with a footer (the footer comes when an answer ends)."""
        self.page.wait_for_function(
            """count => {
                const answers = document.querySelectorAll('.ipygemini-answer');
                if (answers.length < count) return false;
                const text = answers[0].innerText;  // the newest answer
                return / · \\d+(\\.\\d+)? s/.test(text);
            }""",
            arg=count,
            timeout=30_000,
        )


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    scratch = Path(tempfile.mkdtemp(prefix="ipygemini-browser-"))
    try:
        with FakeGateway(api_key=KEY) as gw:
            env = {"GEMINI_BASE_URL": gw.base_url, "GEMINI_API_KEY": KEY, "GEMINI_MODEL": ""}
            lab = _lab.Lab(scratch, env)
            _lab.write_notebook(
                lab.root / "chat.ipynb",
                ["import ipygemini\npanel = ipygemini.ChatPanel()\npanel"],
            )
            with lab, _lab.chromium_page(scratch) as page:
                try:
                    _lab.open_notebook(page, lab.url("chat.ipynb"))
                    _lab.run_cell(page, 0)
                    page.locator(".ipygemini-prompt textarea").wait_for(state="visible")
                    yield Session(page, gw, scratch)
                except Exception:
                    page.screenshot(path=str(scratch / "failure.png"))
                    print(f"failure screenshot: {scratch / 'failure.png'}\n{lab.log_tail()}")
                    raise
    finally:
        if not os.environ.get("IPYGEMINI_KEEP_BROWSER_SCRATCH"):
            shutil.rmtree(scratch, ignore_errors=True)


def test_typed_message_streams_into_rendered_markdown(session: Session) -> None:
    from playwright.sync_api import expect

    page = session.page
    session.send("Show me some code, please [fake:delay=0.02]")
    # while the answer streams: part of it is shown and Stop is enabled
    page.wait_for_function(
        """() => {
            const answer = document.querySelector('.ipygemini-answer');
            const stop = document.querySelector('.ipygemini-stop');
            return answer && answer.innerText.includes('Offline answer') && stop && !stop.disabled;
        }""",
        timeout=30_000,
    )
    session.wait_until_finished(1)
    answer = session.newest_answer()
    expect(answer.locator("strong", has_text="Offline answer")).to_be_visible()
    expect(answer.locator("pre code.language-python")).to_contain_text("def fibonacci")
    expect(answer.locator("button", has_text="Copy python code")).to_be_visible()
    body = next(r.body for r in reversed(session.gw.requests) if r.path.endswith("/completions"))
    expected_words = answer_for(body).split("\n")[-2]  # the last line of the code block
    expect(answer).to_contain_text(expected_words.strip())
    expect(answer).to_contain_text("gemini-2.5-flash")
    expect(page.locator(".ipygemini-stop")).to_be_disabled()
    expect(page.locator(".ipygemini-prompt textarea")).to_have_value("")


def test_stop_keeps_the_partial_answer_marked(session: Session) -> None:
    from playwright.sync_api import expect

    page = session.page
    session.gw.clear()
    page.locator(".ipygemini-panel .widget-checkbox input").check()  # thinking on
    session.send("Tell me a long story about notebooks [fake:slow] [fake:words=500]")
    page.wait_for_function(
        """() => {
            const answers = document.querySelectorAll('.ipygemini-answer');
            return answers.length >= 2 && answers[0].innerText.length > 500;
        }""",
        timeout=30_000,
    )
    shot = os.environ.get("IPYGEMINI_SCREENSHOT")
    target = Path(shot) if shot else session.scratch / "panel.png"
    session.panel.screenshot(path=str(target))  # mid-answer
    assert target.stat().st_size > 10_000
    page.locator(".ipygemini-stop").click()
    session.wait_until_finished(2)
    answer = session.newest_answer()
    expect(answer).to_contain_text("interrupted")
    expect(answer).to_contain_text("You asked")
    expect(answer.locator(".widget-accordion, .jupyter-widget-Collapse").first).to_contain_text(
        "Thinking ("
    )
    expect(page.locator(".ipygemini-status")).to_contain_text("Stopped")
    assert session.gw.wait_for_disconnect(5.0)
    full = answer_for(
        next(r.body for r in reversed(session.gw.requests) if r.path.endswith("/completions"))
    )
    shown = answer.inner_text()
    assert len(shown) < len(full) * 0.8  # the rest never came
    page.locator(".ipygemini-panel .widget-checkbox input").uncheck()


def test_generated_image_is_shown_from_bytes(session: Session) -> None:
    page = session.page
    model = page.locator(".ipygemini-model select")
    model.locator("option", has_text="gemini-2.5-flash-image").first.wait_for(state="attached")
    model.select_option("gemini-2.5-flash-image")
    session.send("draw a small red square")
    session.wait_until_finished(3)
    image = session.newest_answer().locator("img").first
    image.wait_for(state="visible")
    src = image.get_attribute("src") or ""
    assert src.startswith(("blob:", "data:")), src
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", image.element_handle())
    model.select_option("gemini-2.5-flash")


def test_injected_markup_executes_nothing(session: Session) -> None:
    from playwright.sync_api import expect

    page = session.page
    session.send(PAYLOAD)
    session.wait_until_finished(4)
    answer = session.newest_answer()
    expect(answer).to_contain_text("onerror=window.__pwned=1")  # shown as text
    expect(answer).to_contain_text("[image: https://remote.invalid/leak.png]")
    for selector in ("img", "script", "svg", "iframe", "a[href^='javascript']"):
        html_parts = ".ipygemini-panel .widget-html-content " + selector
        assert page.locator(html_parts).count() == 0, selector
    answer.get_by_text("clickme").first.click()
    user = page.locator(".ipygemini-transcript .ipygemini-user").first
    user.get_by_text("clickme").first.click()
    assert page.evaluate("() => window.__pwned") is None
    assert not [url for url in session.requests if "remote.invalid" in url]
    outside = [
        url
        for url in session.requests
        if url.startswith("http") and not url.startswith("http://127.0.0.1:")
    ]
    assert outside == []
