"""The image whitelist, Reply.notes (fewer choices, skipped images, thinking spent max_tokens), usage details."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ipygemini import _types
from ipygemini._png import solid_png
from ipygemini._types import Event, ImageEvent, Reply, Usage
from ipygemini.client._reply import ReplyAssembler

PNG = solid_png(2, 2, (1, 2, 3))
GIF = b"GIF89a\x02\x00\x02\x00" + b"\0" * 20
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\0" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 16


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def feed_all(
    chunks: list[dict[str, Any]], *, requested: int = 1, streamed: bool = True
) -> tuple[Reply, list[Event]]:
    asm = ReplyAssembler(requested_choices=requested)
    events: list[Event] = []
    for c in chunks:
        events += asm.feed(c)
    events += asm.finish(streamed=streamed)
    return asm.reply, events


def choice(index: int = 0, finish: str | None = "stop", **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


# --- item 8: one whitelist ------------------------------------------------------------------


def test_whitelist_is_png_jpeg_gif_webp() -> None:
    assert _types.IMAGE_MIME_TYPES == {"image/png", "image/jpeg", "image/gif", "image/webp"}


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("data:text/html;base64," + b64(b"<script>alert(1)</script>"), "text/html"),
        ("data:image/png;base64,", "empty"),
        ("data:image/png;base64,!!not base64!!", "not valid"),
        ("data:image/svg+xml;base64," + b64(b"<svg onload=alert(1)>"), "image/svg+xml"),
        ("data:image/png;base64," + b64(b"<html>not a png</html>"), "bytes"),
        ("javascript:alert(1)", "not a base64 data URL"),
    ],
)
def test_images_entry_outside_the_whitelist_is_skipped_with_a_note(url: str, words: str) -> None:
    item = {"type": "image_url", "image_url": {"url": url}}
    reply, events = feed_all([{"choices": [choice(content="ok", images=[item])]}])
    assert reply.images == [] and not any(isinstance(e, ImageEvent) for e in events)
    assert reply.text == "ok"
    assert len(reply.notes) == 1 and words in reply.notes[0] and "skipped" in reply.notes[0]


@pytest.mark.parametrize(
    ("data", "declared", "mime"),
    [
        (PNG, "image/png", "image/png"),
        (JPEG, "image/jpg", "image/jpeg"),
        (GIF, "image/gif", "image/gif"),
        (WEBP, "image/webp", "image/webp"),
        (PNG, "image/jpeg", "image/png"),  # the bytes decide between whitelisted types
    ],
)
def test_whitelisted_images_are_kept_and_displayable(data: bytes, declared: str, mime: str) -> None:
    item = {"image_url": {"url": f"data:{declared};base64,{b64(data)}"}}
    reply, _ = feed_all([{"choices": [choice(images=[item])]}])
    assert [(i.data, i.mime_type) for i in reply.images] == [(data, mime)]
    assert reply.images[0].displayable and reply.notes == []


def test_base64_with_line_breaks_is_accepted() -> None:
    wrapped = "\n".join(b64(PNG)[i : i + 20] for i in range(0, len(b64(PNG)), 20))
    image = _types.read_image_url("data:image/png;base64," + wrapped)
    assert isinstance(image, _types.GeneratedImage) and image.data == PNG


def test_displayable_is_the_one_predicate() -> None:
    assert _types.GeneratedImage(PNG).displayable
    assert not _types.GeneratedImage(b"").displayable
    assert not _types.GeneratedImage(b"<svg/>", "image/svg+xml").displayable
    assert not _types.GeneratedImage(None, "", "https://e.com/a.png").displayable


def test_markdown_html_data_url_is_not_an_image() -> None:
    content = "![x](data:text/html;base64," + b64(b"<b>hi</b>") + ")"
    reply, _ = feed_all([{"choices": [choice(content=content)]}])
    assert reply.images == [] and reply.text == content


# --- item 18: fewer choices than asked for --------------------------------------------------


def test_fewer_choices_than_requested_get_a_note() -> None:
    reply, _ = feed_all([{"choices": [choice(content="one")]}], requested=2)
    assert reply.notes == ["asked for 2 answers, the gateway returned 1"]


def test_all_requested_choices_no_note() -> None:
    chunks = [{"choices": [choice(0, content="a"), choice(1, content="b")]}]
    reply, _ = feed_all(chunks, requested=2)
    assert [c.text for c in reply.choices] == ["a", "b"] and reply.notes == []


def test_non_streamed_completion_also_notes() -> None:
    body = {"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}]}
    reply, _ = feed_all([body], requested=3, streamed=False)
    assert reply.notes == ["asked for 3 answers, the gateway returned 1"]


# --- thinking that used up max_tokens, usage details ----------------------------------------

LENGTH_USAGE = {
    "prompt_tokens": 5,
    "completion_tokens": 100,
    "total_tokens": 105,
    "completion_tokens_details": {"reasoning_tokens": 100},
}


@pytest.mark.parametrize("content", [None, "", "  \n"])
def test_empty_answer_cut_by_length_after_thinking_gets_a_note(content: str | None) -> None:
    chunks = [
        {"choices": [choice(finish=None, reasoning_content="thinking...")]},
        {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": "length"}]},
        {"choices": [], "usage": LENGTH_USAGE},
    ]
    reply, _ = feed_all(chunks)
    assert reply.notes == [
        "the model spent max_tokens thinking (100 reasoning tokens): "
        "raise --max-tokens or lower --thinking"
    ]


def test_length_with_an_answer_or_without_reasoning_has_no_note() -> None:
    with_text = [{"choices": [choice(finish="length", content="partial")], "usage": LENGTH_USAGE}]
    assert feed_all(with_text)[0].notes == []
    no_reasoning = {**LENGTH_USAGE, "completion_tokens_details": {"reasoning_tokens": 0}}
    empty = [{"choices": [choice(finish="length")], "usage": no_reasoning}]
    assert feed_all(empty)[0].notes == []


def test_cached_tokens_are_read_and_absent_means_unknown() -> None:
    usage = Usage.from_json({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 8}})
    assert usage is not None and usage.cached_tokens == 8
    assert Usage.from_json({"prompt_tokens": 10}) == Usage(10, 0, 10, 0, None)
    zero = Usage.from_json({"prompt_tokens_details": {"cached_tokens": 0}})
    assert zero is not None and zero.cached_tokens == 0
    odd = Usage.from_json({"prompt_tokens_details": {"cached_tokens": "3"}})
    assert odd is not None and odd.cached_tokens is None


def test_notes_are_not_repeated() -> None:
    reply = Reply()
    reply.note("a")
    reply.note("a")
    assert reply.notes == ["a"]


def test_usage_repr_names_cached_tokens_only_when_known() -> None:
    assert repr(Usage(1, 2, 3)) == (
        "Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3, reasoning_tokens=0)"
    )
    assert repr(Usage(1, 2, 3, 0, 5)).endswith("reasoning_tokens=0, cached_tokens=5)")


def test_reply_repr_counts_notes() -> None:
    reply = Reply()
    assert "notes" not in repr(reply)
    reply.note("asked for 2 answers, the gateway returned 1")
    assert repr(reply).endswith(", notes=1)")
