"""Content scanning: Markdown image URLs as CommonMark reads them, and think blocks that never close."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ipygemini._png import solid_png
from ipygemini._types import Event, ReasoningDelta, Reply, TextDelta
from ipygemini.client._reply import ReplyAssembler

PNG = solid_png(3, 2, (0, 128, 0))
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def chunk(content: str | None = None, *, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    return {
        "id": "c",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def run(pieces: list[str], *, finish: str | None = "stop") -> tuple[Reply, list[Event]]:
    asm = ReplyAssembler()
    events: list[Event] = []
    for piece in pieces:
        events += asm.feed(chunk(piece))
    if finish:
        events += asm.feed(chunk(finish=finish))
    events += asm.finish()
    return asm.reply, events


def texts(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def text_before_finish(pieces: list[str]) -> str:
    """The answer text a streaming front end has shown before the stream ends."""
    asm = ReplyAssembler()
    events: list[Event] = []
    for piece in pieces:
        events += asm.feed(chunk(piece))
    return texts(events)


# --- item 5: image URLs ---------------------------------------------------------------------


def test_unclosed_https_image_does_not_hold_back_the_next_lines() -> None:
    pieces = ["See ![alt](https://", "example.com/a.png\n", "The rest of the answer.\n", "More."]
    shown = text_before_finish(pieces)
    assert shown.startswith("See ![alt](https://example.com/a.png\nThe rest of the answer.")
    reply, _ = run(pieces)
    assert reply.text == "".join(pieces) and reply.images == []


def test_url_with_balanced_parentheses_is_one_image() -> None:
    url = "https://en.wikipedia.org/wiki/Cat_(disambiguation).png"
    for pieces in ([f"A ![cat]({url}) b"], list(f"A ![cat]({url}) b")):
        reply, _ = run(pieces)
        assert [i.url for i in reply.images] == [url]
        assert reply.text == "A  b"


def test_nested_parentheses_and_a_closing_one_after() -> None:
    url = "https://e.com/a_(b_(c)).png"
    reply, _ = run([f"(see ![x]({url}))"])
    assert [i.url for i in reply.images] == [url]
    assert reply.text == "(see )"


def test_title_with_parenthesis_does_not_count() -> None:
    reply, _ = run(['![x](https://e.com/a.png "t (")'])
    assert [i.url for i in reply.images] == ["https://e.com/a.png"]
    assert reply.text == ""


def test_long_unclosed_https_url_is_released_as_text_before_the_end() -> None:
    head = "![a](https://e.com/" + "x" * 3000
    pieces = [head[i : i + 100] for i in range(0, len(head), 100)] + [" tail"]
    shown = text_before_finish(pieces)
    assert len(shown) >= 2048  # released while streaming, not at the end
    reply, _ = run(pieces)
    assert reply.text == head + " tail" and reply.images == []


@pytest.mark.parametrize("size", [100, 2000])
def test_release_point_does_not_depend_on_chunking(size: int) -> None:
    content = "![a](https://e.com/" + "y" * 2100 + "![b](https://e.com/b.png) end"
    whole, _ = run([content])
    pieces, _ = run([content[i : i + size] for i in range(0, len(content), size)])
    chars, _ = run(list(content))
    assert whole.text == pieces.text == chars.text
    assert [i.url for i in whole.images] == [i.url for i in pieces.images]
    assert [i.url for i in whole.images] == [i.url for i in chars.images]


def test_data_url_stays_unbounded() -> None:
    big = "data:image/png;base64," + base64.b64encode(PNG + b"\0" * 30_000).decode()
    content = f"x ![i]({big}) y"
    reply, _ = run([content[i : i + 1000] for i in range(0, len(content), 1000)])
    assert reply.text == "x  y" and len(reply.images) == 1
    assert reply.images[0].data == PNG + b"\0" * 30_000


def test_line_break_in_url_is_text() -> None:
    reply, _ = run(["![a](https://e.com/a\n.png) ok"])
    assert reply.text == "![a](https://e.com/a\n.png) ok" and reply.images == []


# --- item 6: unclosed think -----------------------------------------------------------------


def test_unclosed_think_at_the_end_becomes_the_answer() -> None:
    reply, events = run(["<think>", "The answer is 42.", " Really."])
    assert reply.text == "The answer is 42. Really."
    assert reply.reasoning == ""
    assert texts(events) == "The answer is 42. Really."  # the events carry it
    assert any("never closed" in note for note in reply.notes)


def test_unclosed_think_keeps_other_reasoning() -> None:
    asm = ReplyAssembler()
    asm.feed(chunk(reasoning_content="plan. "))
    asm.feed(chunk("<thought>\nanswer text"))
    events = asm.feed(chunk(finish="stop")) + asm.finish()
    assert (asm.reply.reasoning, asm.reply.text) == ("plan. ", "answer text")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["answer text"]


def test_closed_think_stays_reasoning_without_a_note() -> None:
    reply, events = run(["<think>plan</think>\n\nanswer"])
    assert (reply.reasoning, reply.text, reply.notes) == ("plan", "answer", [])
    assert [type(e) for e in events[:2]] == [ReasoningDelta, TextDelta]


def test_unclosed_think_in_a_truncated_stream_is_kept_as_text() -> None:
    reply, _ = run(["<think>half an answ"], finish=None)
    assert (reply.text, reply.reasoning, reply.truncated) == ("half an answ", "", True)


def test_images_inside_an_unclosed_think_are_found_when_it_becomes_the_answer() -> None:
    reply, events = run(
        ["<think>\nsee ![p](https://e.com/a_(1).png) and ", f"![q]({DATA_URL}) ok!"]
    )
    assert [i.url for i in reply.images] == ["https://e.com/a_(1).png", None]
    assert reply.text == "see  and  ok!" and reply.reasoning == ""
    assert texts(events) == reply.text
