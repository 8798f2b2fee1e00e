"""The look in a real JupyterLab 4, Light and Dark (Playwright in Debian's chromium).

Token colours of highlighted code are measured from computed styles against the code block's
own background, in `%%gemini` output and in the panel; the panel's screenshots go to
build/panel-{light,dark}.png (copied into docs/ by hand); and a streamed answer is counted in
the page: how many times its text changed per second of its own streaming, as the page's clock
measured it. Waiting is for DOM states, never for time.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _lab
from ipygemini.testing import FakeGateway

REASON = _lab.missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser tests skipped: {REASON}")

KEY = "sk-look-SECRET-88kq"
BUILD = Path(__file__).resolve().parent.parent / "build"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
CELLS = [
    "%load_ext ipygemini",
    "%%gemini\nShow me some code, please",
    "import ipygemini\npanel = ipygemini.ChatPanel(load_models=False, height='640px')\npanel",
]
MIN_CONTRAST = 4.5
MIN_UPDATES_PER_SECOND = 10.0

CONTRAST_JS = """(roots) => {
    // WCAG contrast of every coloured token against the first opaque background behind it
    const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    function background(el) {
        for (let e = el; e; e = e.parentElement) {
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
        }
        return [255, 255, 255];
    }
    const found = [];
    for (const [where, root] of Object.entries(roots)) {
        for (const span of root.querySelectorAll('pre code span[style]')) {
            const bg = background(span);
            let fg = parse(getComputedStyle(span).color);
            const alpha = fg.length === 4 ? fg[3] : 1;
            fg = fg.slice(0, 3).map((v, i) => v * alpha + bg[i] * (1 - alpha));
            const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
            found.push({where, text: span.textContent.trim().slice(0, 20),
                        colour: getComputedStyle(span).color, background: String(bg),
                        ratio: (hi + 0.05) / (lo + 0.05)});
        }
    }
    const style = getComputedStyle(document.body);
    return {found, keyword: style.getPropertyValue('--jp-mirror-editor-keyword-color').trim(),
            light: document.body.dataset.jpThemeLight};
}"""

WATCH_JS = """(transcript) => {
    // every batch of changes to a streaming answer's text, until the answer ends
    const st = window.__look = {times: [], end: null};
    new MutationObserver((mutations, observer) => {
        const now = performance.now();
        let grew = false;
        for (const m of mutations) {
            const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
            const answer = el && el.closest('.ipygemini-assistant');
            if (!answer) continue;
            if (m.type === 'attributes') {
                if (st.times.length && !answer.classList.contains('ipygemini-streaming-answer')) {
                    st.end = now;
                    observer.disconnect();
                    return;
                }
            } else if (el.closest('.ipygemini-body, .ipygemini-tail')) {
                grew = true;
            }
        }
        if (grew) st.times.push(now);
    }).observe(transcript, {subtree: true, childList: true, characterData: true,
                            attributes: true, attributeFilter: ['class']});
}"""


class ThemedLab(_lab.Lab):
    """`_lab.Lab` with a chosen theme in its (temporary) user settings."""

    def __init__(self, scratch: Path, env: dict[str, str], theme: str) -> None:
        super().__init__(scratch, env)
        self.theme = theme

    def __enter__(self) -> ThemedLab:
        super().__enter__()
        themes = self.scratch / "settings" / "@jupyterlab" / "apputils-extension"
        (themes / "themes.jupyterlab-settings").write_text(json.dumps({"theme": self.theme}))
        return self


@pytest.fixture(scope="module", params=list(THEMES))
def lab_page(request: Any) -> Iterator[tuple[str, Any]]:
    theme = request.param
    scratch = Path(tempfile.mkdtemp(prefix=f"ipygemini-look-{theme}-"))
    try:
        with FakeGateway(api_key=KEY) as gw:
            env = {"GEMINI_BASE_URL": gw.base_url, "GEMINI_API_KEY": KEY, "GEMINI_MODEL": ""}
            with ThemedLab(scratch, env, THEMES[theme]) as lab:
                _lab.write_notebook(lab.root / "look.ipynb", CELLS)
                with _lab.chromium_page(scratch, viewport=(1000, 1400)) as page:
                    _lab.open_notebook(page, lab.url("look.ipynb"))
                    for index in range(len(CELLS)):
                        _lab.run_cell(page, index)
                    page.locator(".ipygemini-panel .ipygemini-input").wait_for(timeout=60_000)
                    yield theme, page
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def new_chat(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator(".ipygemini-panel .ipygemini-new-chat").click()
    expect(page.locator(".ipygemini-panel .ipygemini-message")).to_have_count(0)


def ask(page: Any, text: str) -> Any:
    """Send `text` in the panel; the answer it adds, once it has ended."""
    panel = page.locator(".ipygemini-panel")
    before = panel.locator(".ipygemini-assistant").count()
    panel.locator("textarea.ipygemini-input").fill(text)
    panel.locator("textarea.ipygemini-input").press("Enter")
    answer = panel.locator(".ipygemini-assistant").nth(before)
    answer.locator(".ipygemini-footer").wait_for(timeout=60_000)
    return answer


def test_token_colours_follow_the_theme_at_4_5_to_1(lab_page: tuple[str, Any]) -> None:
    theme, page = lab_page
    ask(page, "Show me some code, please")
    magic = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea")
    magic.locator("pre code span[style]").first.wait_for(timeout=60_000)
    report = page.evaluate(
        "([magic, panel]) => (" + CONTRAST_JS + ")({magic, panel})",
        [magic.element_handle(), page.locator(".ipygemini-transcript").element_handle()],
    )
    assert report["light"] == ("true" if theme == "light" else "false")  # the theme applied
    found = report["found"]
    for where in ("magic", "panel"):
        mine = [f for f in found if f["where"] == where]
        assert len({f["colour"] for f in mine}) >= 4, mine  # highlighted, several token kinds
    low = [f for f in found if f["ratio"] < MIN_CONTRAST]
    assert not low, low
    # the keyword colour is the theme's own editor variable, not an inlined palette
    keyword = page.evaluate(
        """(v) => { const s = document.createElement('span'); s.style.color = v;
                    document.body.append(s); const c = getComputedStyle(s).color;
                    s.remove(); return c; }""",
        report["keyword"],
    )
    assert any(f["colour"] == keyword and f["text"] == "def" for f in found), (keyword, found)
    print(f"{theme}: lowest token contrast {min(f['ratio'] for f in found):.2f}:1")


def test_panel_screenshot(lab_page: tuple[str, Any]) -> None:
    theme, page = lab_page
    panel = page.locator(".ipygemini-panel")
    new_chat(page)
    ask(page, "Show me some code, please")
    panel.locator(".ipygemini-transcript").evaluate("(t) => (t.scrollTop = t.scrollHeight)")
    panel.locator(".ipygemini-assistant").last.hover()  # its actions show on hover
    BUILD.mkdir(exist_ok=True)
    target = BUILD / f"panel-{theme}.png"
    panel.screenshot(path=str(target))
    assert target.stat().st_size > 10_000


def test_streaming_shows_at_least_10_updates_per_second(lab_page: tuple[str, Any]) -> None:
    theme, page = lab_page
    if theme != "light":
        pytest.skip("measured once: the pace does not depend on the theme")
    new_chat(page)
    page.locator(".ipygemini-transcript").evaluate(WATCH_JS)
    # 1,000 chunks of 4 characters at 250 chunks a second (the case)
    ask(page, "[fake:words=770 chunk_chars=4 delay=0.004] stream a long answer")
    watched = page.evaluate("() => window.__look")
    times, end = watched["times"], watched["end"]
    assert end is not None and len(times) > 1
    seconds = (end - times[0]) / 1000
    rate = len(times) / seconds
    print(f"{len(times)} updates in {seconds:.2f} s of streaming: {rate:.1f} per second")
    assert seconds > 1.0  # the answer really streamed
    assert rate >= MIN_UPDATES_PER_SECOND, (len(times), seconds)


def test_controls_look_like_jupyterlab(lab_page: tuple[str, Any]) -> None:
    from playwright.sync_api import expect

    _theme, page = lab_page
    panel = page.locator(".ipygemini-panel")
    new_chat(page)
    ask(page, "Show me some code, please")
    answer = panel.locator(".ipygemini-assistant").last
    # no bare "Choose Files / No file chosen": a button opens the hidden file input
    expect(panel.locator("input[type=file]")).to_be_hidden()
    expect(panel.locator(".ipygemini-attach-files")).to_be_visible()
    # the code block's tools sit on the block
    pre = answer.locator(".ipygemini-code pre").first.bounding_box()
    copy = answer.locator(".ipygemini-code .ipygemini-copy-code").first.bounding_box()
    assert pre is not None and copy is not None
    assert pre["x"] <= copy["x"] and copy["x"] + copy["width"] <= pre["x"] + pre["width"]
    assert pre["y"] <= copy["y"] and copy["y"] + copy["height"] <= pre["y"] + pre["height"]
    # per-message actions: labelled, hidden at rest, shown on hover and on keyboard focus
    actions = answer.locator(".ipygemini-actions")
    for button in actions.locator("button").all():
        assert button.get_attribute("aria-label")
    page.mouse.move(1, 1)
    panel.locator("textarea.ipygemini-input").focus()
    expect(actions).to_have_css("opacity", "0")
    answer.hover()
    expect(actions).to_have_css("opacity", "1")
    page.mouse.move(1, 1)
    expect(actions).to_have_css("opacity", "0")
    answer.locator(".ipygemini-copy-answer").focus()
    expect(actions).to_have_css("opacity", "1")
    # JupyterLab's focus ring on keyboard focus: its focus outline on buttons (Tab from the
    # input), its active border on the input (never the browser's own thick "auto" ring)
    panel.locator("textarea.ipygemini-input").focus()
    page.keyboard.press("Tab")
    ring = page.evaluate(RING_JS)
    assert "ipygemini-button" in ring["cls"], ring
    assert ring["style"] == "solid" and ring["width"] == ring["labWidth"], ring
    assert ring["colour"] == ring["labColour"], ring
    page.keyboard.press("Shift+Tab")
    ring = page.evaluate(RING_JS)
    assert "ipygemini-input" in ring["cls"] and ring["style"] != "auto", ring
    assert ring["border"] == ring["labBorder"], ring


RING_JS = """() => {
    const resolve = (v) => {
        const probe = document.createElement('span');
        probe.style.color = v;
        document.body.append(probe);
        const c = getComputedStyle(probe).color;
        probe.remove();
        return c;
    };
    const el = document.activeElement;
    const s = getComputedStyle(el);
    const root = getComputedStyle(document.body);
    return {cls: el.className, style: s.outlineStyle, width: s.outlineWidth,
            colour: s.outlineColor, border: s.borderTopColor,
            labWidth: root.getPropertyValue('--jp-focus-outline-width').trim(),
            labColour: resolve('var(--jp-focus-outline-color)'),
            labBorder: resolve('var(--jp-input-active-border-color)')};
}"""
