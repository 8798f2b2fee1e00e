"""ChatPanel in a real JupyterLab 4 and Notebook 7, driven with Playwright in Debian's chromium.

One server and one page per front end serve every test here (each test starts with New chat);
FakeGateway answers. The README's pictures come from tests/test_look_browser.py (into build/).
Waiting is for DOM states, never for time.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Iterator
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
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAEUlEQVR4nGM4oaEBRwxEcAB2"
    "/xVpOkWtWwAAAABJRU5ErkJggg=="
)
CELLS = [
    "import ipygemini, pathlib, time\npanel = ipygemini.ChatPanel()\npanel",
    "import ipywidgets as W\nfrom IPython.display import display\ndisplay(W.VBox([panel]))",
    "while not pathlib.Path('release').exists():\n    time.sleep(0.02)\nprint('released')",
]
FIRST_RENDER_MS: dict[str, float] = {}
"""Cell run (Ctrl+Enter) to the panel in the page, per front end: reported, not asserted."""


class Notebook7(_lab.Lab):
    """``jupyter notebook`` (Notebook 7) with the same temp dirs and token as `_lab.Lab`."""

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/notebooks/{notebook}?token={self.token}"

    def __enter__(self) -> Notebook7:
        real_popen = subprocess.Popen

        def popen(command: list[str], **kwargs: Any) -> Any:
            command = [sys.executable, "-m", "notebook", *command[3:]]
            return real_popen(command, **kwargs)

        subprocess.Popen = popen  # type: ignore[assignment,misc]
        try:
            super().__enter__()
        finally:
            subprocess.Popen = real_popen  # type: ignore[misc]
        return self

    def _drain(self, stream: Any) -> None:
        with open(self.log_path, "w") as log:
            for line in stream:
                log.write(line)
                log.flush()
                found = re.search(r"http://127\.0\.0\.1:(\d+)/tree", line)
                if found and not self._ready.is_set():
                    self.port = int(found.group(1))
                    self._ready.set()
        self._ready.set()


class Page:
    """The page with the panel, the requests it made, and the gateway behind it."""

    def __init__(self, page: Any, gw: FakeGateway, server: Any, app: str) -> None:
        self.page = page
        self.gw = gw
        self.server = server
        self.app = app
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))

    def panel(self, index: int = 0) -> Any:
        return self.page.locator(".ipygemini-panel").nth(index)

    @property
    def input(self) -> Any:
        return self.panel().locator("textarea.ipygemini-input")

    def answers(self) -> Any:
        return self.panel().locator(".ipygemini-assistant")

    def new_chat(self) -> None:
        from playwright.sync_api import expect

        self.panel().locator(".ipygemini-new-chat").click()
        expect(self.panel().locator(".ipygemini-message")).to_have_count(0)
        self.gw.clear()

    def send(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def wait_finished(self, count: int) -> Any:
        """The `count`-th answer, once it has ended (its footer is there)."""
        answer = self.answers().nth(count - 1)
        answer.locator(".ipygemini-footer").wait_for()
        return answer

    def completions(self) -> list[Any]:
        """The chat requests the gateway got (the model menu's /models is not one)."""
        return [r for r in self.gw.requests if r.path.endswith("/completions")]

    def last_body(self) -> dict[str, Any]:
        return dict(self.completions()[-1].body)

    def clipboard(self) -> str:
        return str(self.page.evaluate("() => navigator.clipboard.readText()"))


def open_and_run(page: Any, server: Any, app: str) -> None:
    page.goto(server.url("chat.ipynb"), wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=90_000)
    if app == "lab":
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=90_000)
    else:
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
        )
    for _ in range(5):  # the first run is lost when the kernel is not attached yet
        page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".cm-content").click()
        page.evaluate(
            """() => {
                window.__t0 = performance.now();
                new MutationObserver((_, observer) => {
                    if (document.querySelector('.ipygemini-panel .ipygemini-input')) {
                        window.__t1 = performance.now();
                        observer.disconnect();
                    }
                }).observe(document.body, {childList: true, subtree: true});
            }"""
        )
        page.keyboard.press("Control+Enter")
        try:
            page.locator(".ipygemini-panel").first.wait_for(timeout=8_000)
            break
        except Exception:
            dialog = page.locator("dialog.jp-Dialog")
            if dialog.count() and dialog.first.is_visible():
                dialog.first.locator("button.jp-mod-accept").click()
    page.locator(".ipygemini-panel .ipygemini-input").first.wait_for()
    FIRST_RENDER_MS[app] = round(page.evaluate("() => window.__t1 - window.__t0"), 1)


@pytest.fixture(scope="module", params=["lab", "notebook"])
def ui(request: Any) -> Iterator[Page]:
    app = request.param
    if app == "notebook" and importlib_missing("notebook"):
        pytest.skip("Notebook 7 is not installed (pip install 'notebook>=7')")
    with _lab.scratch_folder(f"ipygemini-browser-{app}-") as scratch:
        with FakeGateway(api_key=KEY) as gw:
            env = {"GEMINI_BASE_URL": gw.base_url, "GEMINI_API_KEY": KEY, "GEMINI_MODEL": ""}
            server = _lab.Lab(scratch, env) if app == "lab" else Notebook7(scratch, env)
            _lab.write_notebook(server.root / "chat.ipynb", CELLS)
            with server, _lab.chromium_page(scratch) as page:
                origin = server.url("x").split("/", 3)[:3]
                page.context.grant_permissions(
                    ["clipboard-read", "clipboard-write"], origin="/".join(origin)
                )
                with _lab.evidence_on_failure(page, scratch, server):
                    open_and_run(page, server, app)
                    yield Page(page, gw, server, app)


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def run_cell(ui: Page, index: int) -> None:
    cell = ui.page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    ui.page.keyboard.press("Control+Enter")


# --- tests ---------------------------------------------------------------------------------------


def test_enter_sends_and_shift_enter_adds_a_line(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    ui.input.fill("line one")
    ui.input.press("Shift+Enter")
    ui.input.press_sequentially("line two")
    expect(ui.input).to_have_value("line one\nline two")
    assert ui.completions() == []  # Shift+Enter sent nothing
    ui.input.press("Enter")
    answer = ui.wait_finished(1)
    expect(ui.input).to_have_value("")
    assert ui.last_body()["messages"][-1]["content"] == "line one\nline two"
    expect(answer).to_contain_text("Offline answer")
    expect(answer.locator(".ipygemini-footer")).to_contain_text("gemini-2.5-flash")
    expect(ui.panel().locator(".ipygemini-stop")).to_be_disabled()
    ms = FIRST_RENDER_MS[ui.app]
    print(f"first render ({ui.app}): {ms} ms from Ctrl+Enter to the panel in the page")


def test_copy_puts_the_answer_and_a_code_block_on_the_clipboard(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    ui.send("Show me some code, please")
    answer = ui.wait_finished(1)
    expected = answer_for(ui.last_body())
    answer.locator(".ipygemini-copy-answer").click()
    expect(answer.locator(".ipygemini-copy-answer")).to_have_text("Copied")
    assert ui.clipboard() == expected  # the whole answer, as Markdown
    answer.locator(".ipygemini-copy-code").first.click()
    code = ui.clipboard()
    assert code.startswith("def fibonacci(n: int)") and code.rstrip().endswith(
        "print(fibonacci(10))"
    )
    # "To cell" (a real cell below the active one) is tested in test_sidebar_browser.py


def test_stop_regenerate_edit_and_new_chat(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    ui.send("Tell me a long story about notebooks [fake:slow] [fake:words=500]")
    ui.page.wait_for_function(
        "el => el.innerText.length > 300",
        arg=ui.answers().first.element_handle(),
    )
    ui.input.press("Escape")  # stops, like the Stop button
    answer = ui.wait_finished(1)
    expect(answer.locator(".ipygemini-footer")).to_contain_text("interrupted")
    assert ui.gw.wait_for_disconnect(5.0)
    assert len(answer.inner_text()) < len(answer_for(ui.last_body()))

    old_id = answer.get_attribute("data-id")
    answer.locator(".ipygemini-regenerate").click()
    regenerated = ui.panel().locator(f".ipygemini-assistant:not([data-id='{old_id}'])")
    regenerated.wait_for()
    expect(ui.panel().locator(".ipygemini-stop")).to_be_enabled()
    ui.panel().locator(".ipygemini-stop").click()
    regenerated.locator(".ipygemini-footer").wait_for()
    expect(ui.answers()).to_have_count(1)  # replaced, not added
    bodies = [r.body for r in ui.gw.requests if r.path.endswith("/completions")]
    assert len(bodies) == 2 and bodies[0]["messages"] == bodies[1]["messages"]

    user = ui.panel().locator(".ipygemini-user").last
    user.locator(".ipygemini-edit").click()
    expect(ui.input).to_have_value(re.compile("Tell me a long story"))
    ui.input.fill("A short one instead")
    ui.input.press("Enter")
    expect(ui.panel().locator(".ipygemini-user")).to_have_count(1)
    expect(ui.panel().locator(".ipygemini-user")).to_contain_text("A short one instead")
    ui.wait_finished(1)
    expect(ui.answers()).to_have_count(1)
    assert ui.last_body()["messages"] == [{"role": "user", "content": "A short one instead"}]

    ui.panel().locator(".ipygemini-new-chat").click()
    expect(ui.panel().locator(".ipygemini-message")).to_have_count(0)


def test_busy_note_while_another_cell_runs(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    release = ui.server.root / "release"
    release.unlink(missing_ok=True)
    run_cell(ui, 2)  # blocks the kernel until `release` exists
    ui.page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".jp-InputPrompt").filter(
        has_text="[*]"
    ).wait_for()
    ui.send("Are you there?")
    busy = ui.panel().locator(".ipygemini-busy")
    expect(busy).to_be_visible()
    expect(ui.panel().locator(".ipygemini-send")).to_be_disabled()
    expect(ui.input).to_have_value("Are you there?")  # kept until the kernel takes it
    release.write_text("go")
    expect(busy).to_be_hidden(timeout=30_000)
    ui.wait_finished(1)
    expect(ui.input).to_have_value("")
    release.unlink()


def test_a_pasted_image_arrives_at_the_gateway(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    ui.input.focus()
    ui.page.evaluate(
        """([textarea, bytes]) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], 'image.png', {type: 'image/png'}));
            textarea.dispatchEvent(new ClipboardEvent('paste', {
                clipboardData: data, bubbles: true, cancelable: true}));
        }""",
        [ui.input.element_handle(), list(PNG)],
    )
    chip = ui.panel().locator(".ipygemini-chip")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("image.png")
    ui.send("What is in this picture?")
    ui.wait_finished(1)
    expect(chip).to_have_count(0)
    request = next(r for r in reversed(ui.gw.requests) if r.path.endswith("/completions"))
    images = [a for a in request.attachments if a.kind == "image_url"]
    assert len(images) == 1 and images[0].data == PNG
    thumb = ui.panel().locator(".ipygemini-user img")
    assert (thumb.get_attribute("src") or "").startswith("blob:")


def test_dropped_files_become_chips_or_a_note(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    ui.input.fill("kept while files are dropped")
    ui.page.evaluate(
        """(panel) => {
            const data = new DataTransfer();
            data.items.add(new File(['remember the milk'], 'notes.txt', {type: 'text/plain'}));
            data.items.add(new File([new Uint8Array([77, 90, 144, 0, 3, 0, 0, 0, 4, 0, 255, 255, 0, 0, 184])],
                                    'tool.exe', {type: 'application/x-msdownload'}));
            panel.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
        }""",
        ui.panel().element_handle(),
    )
    chip = ui.panel().locator(".ipygemini-chip")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("notes.txt")
    note = ui.panel().locator(".ipygemini-note")
    expect(note).to_contain_text("tool.exe")
    expect(ui.input).to_have_value("kept while files are dropped")
    chip.locator(".ipygemini-chip-remove").click()
    expect(chip).to_have_count(0)


def test_payloads_are_inert_and_a_second_view_shows_the_transcript(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    ui.send(PAYLOAD)
    answer = ui.wait_finished(1)
    expect(answer).to_contain_text("onerror=window.__pwned=1")  # shown as text
    expect(answer).to_contain_text("[image: https://remote.invalid/leak.png]")
    inside = ui.panel().locator(".ipygemini-transcript")
    for selector in ("script", "svg", "iframe", "a[href^='javascript']", "img"):
        assert inside.locator(selector).count() == 0, selector
    answer.get_by_text("clickme").first.click()
    ui.panel().locator(".ipygemini-user").get_by_text("clickme").first.click()
    assert ui.page.evaluate("() => window.__pwned") is None
    assert not [url for url in ui.requests if "remote.invalid" in url]
    outside = [
        u for u in ui.requests if u.startswith("http") and not u.startswith("http://127.0.0.1:")
    ]
    assert outside == []
    # the same panel in a VBox: a second view, which gets the transcript so far
    run_cell(ui, 1)
    second = ui.panel(1)
    expect(second.locator(".ipygemini-assistant")).to_have_count(1)
    expect(second.locator(".ipygemini-assistant")).to_contain_text("onerror=window.__pwned=1")
    assert ui.page.evaluate("() => window.__pwned") is None
    print("first render, ms: " + json.dumps(FIRST_RENDER_MS))


def test_bad_input_and_a_broken_answer_are_notes_and_nothing_typed_is_lost(ui: Page) -> None:
    from playwright.sync_api import expect

    ui.new_chat()
    notes = ui.panel().locator(".ipygemini-note")
    ui.input.fill("")
    ui.input.press("Enter")
    expect(notes.last).to_have_text("⚠ Type a message first.")
    huge = "x" * 1_000_000  # a 1 MB paste
    ui.input.fill(huge)
    ui.input.press("Enter")
    expect(notes.last).to_contain_text("The message is too long (1,000,000 characters")
    assert ui.input.input_value() == huge  # still there, to cut down or attach instead
    ui.send("a long answer that breaks [fake:error_event after=4] [fake:words=200]")
    answer = ui.wait_finished(1)
    expect(answer.locator(".ipygemini-error-note")).to_contain_text("Stream failed")
    expect(answer.locator(".ipygemini-footer")).to_contain_text("failed")
    assert answer.locator(".ipygemini-body").inner_text().strip()  # what arrived is kept
    ui.panel().locator(".ipygemini-upload").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"remember the milk"}]
    )
    expect(ui.panel().locator(".ipygemini-chip")).to_contain_text("notes.txt")
    ui.send("and now?")
    ui.wait_finished(2)
    request = next(r for r in reversed(ui.gw.requests) if r.path.endswith("/completions"))
    texts = [p["text"] for p in request.body["messages"][-1]["content"] if p["type"] == "text"]
    assert texts[0] == "and now?" and any("remember the milk" in t for t in texts)
    assert assert_one_line(notes.all_inner_texts())


def assert_one_line(texts: list[str]) -> bool:
    return all("\n" not in text.strip() for text in texts)
