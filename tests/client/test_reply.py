"""ReplyAssembler: every response shape of PROTOCOL.md, re-chunking invariance, robustness."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import data_url
from ipygemini._png import solid_png
from ipygemini._types import (
    Event,
    FinishEvent,
    GeneratedImage,
    ImageEvent,
    ReasoningDelta,
    Reply,
    TextDelta,
    Usage,
    UsageEvent,
)
from ipygemini.client._reply import ReplyAssembler

FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

PNG = solid_png(2, 3, (255, 0, 0))
PNG2 = solid_png(5, 4, (0, 0, 255))


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    index: int = 0,
    finish: str | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A new-api style chunk (null keys serialized as in PROTOCOL.md §1.1)."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1777350000,
        "model": "gemini-2.5-flash-image",
        "system_fingerprint": None,
        "choices": [
            {"delta": delta or {}, "logprobs": None, "finish_reason": finish, "index": index}
        ],
        "usage": None,
        **top,
    }


def completion(message: dict[str, Any], finish: str = "stop", **top: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "model": "gemini-2.5-flash-image",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        **top,
    }


def run(chunks: list[Any], *, streamed: bool = True) -> tuple[Reply, list[Event]]:
    asm = ReplyAssembler()
    events: list[Event] = []
    for c in chunks:
        events.extend(asm.feed(c))
    events.extend(asm.finish(streamed=streamed))
    return asm.reply, events


def stream_text(pieces: list[str], finish: str | None = "stop") -> Reply:
    chunks = [chunk({"content": p}) for p in pieces]
    if finish:
        chunks.append(chunk({}, finish=finish))
    return run(chunks)[0]


def image_keys(images: list[GeneratedImage]) -> list[tuple[bytes | None, str, str | None]]:
    return [(i.data, i.mime_type, i.url) for i in images]


USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 1295,
    "total_tokens": 1307,
    "prompt_tokens_details": {"cached_tokens": 0, "text_tokens": 12},
    "completion_tokens_details": {"text_tokens": 5, "image_tokens": 1290, "reasoning_tokens": 0},
    "input_tokens": 0,
    "input_tokens_details": None,
}


# --- images ---------------------------------------------------------------------------------


def test_new_api_stream_markdown_image_in_one_delta_after_text() -> None:
    reply, events = run(
        [
            chunk({"content": "", "role": "assistant"}),
            chunk({"content": "Here is a cat in the rain."}),
            chunk({"content": f"![image]({data_url(PNG)})"}),
            chunk({}, finish="stop"),
            {**chunk(), "choices": [], "usage": USAGE},
        ]
    )
    assert reply.text == "Here is a cat in the rain."
    assert image_keys(reply.images) == [(PNG, "image/png", None)]
    assert reply.images[0].size == (2, 3)
    assert reply.finish_reason == "stop"
    assert reply.usage == Usage(12, 1295, 1307, 0, cached_tokens=0)
    assert reply.id == "chatcmpl-1" and reply.model == "gemini-2.5-flash-image"
    assert not reply.truncated and reply.status == "complete"
    kinds = [e.type for e in events]
    assert kinds == ["text", "image", "finish", "usage"]
    assert isinstance(events[1], ImageEvent) and events[1].image is reply.images[0]


def test_new_api_non_stream_markdown_image() -> None:
    body = completion(
        {"role": "assistant", "content": f"Here is a cat in the rain.\n![image]({data_url(PNG)})"},
        usage=USAGE,
    )
    reply, _ = run([body], streamed=False)
    assert reply.text == "Here is a cat in the rain.\n"
    assert image_keys(reply.images) == [(PNG, "image/png", None)]
    assert reply.usage is not None and reply.usage.total_tokens == 1307
    assert not reply.truncated


def test_markdown_image_split_across_many_deltas() -> None:
    content = f"Before ![a picture]({data_url(PNG)}) after"
    for size in (1, 2, 3, 7, 64):
        pieces = [content[i : i + size] for i in range(0, len(content), size)]
        reply = stream_text(pieces)
        assert reply.text == "Before  after", size
        assert image_keys(reply.images) == [(PNG, "image/png", None)]


def test_two_images_in_one_delta_and_mime_sniffed_from_bytes() -> None:
    reply = stream_text([f"![a]({data_url(PNG, mime='image/jpeg')})\n![b]({data_url(PNG2)})"])
    assert reply.text == "\n"
    assert [i.mime_type for i in reply.images] == ["image/png", "image/png"]  # bytes win
    assert [i.size for i in reply.images] == [(2, 3), (5, 4)]


def test_https_markdown_image_is_kept_as_url_and_removed_from_text() -> None:
    url = "https://cdn.example.com/nano/cat.png"
    reply = stream_text(["See ", f"![cat]({url})", " done"])
    assert reply.text == "See  done"
    (image,) = reply.images
    assert image.data is None and image.url == url
    assert repr(image) == f"GeneratedImage(url={url!r})"
    assert image.size is None


def test_markdown_image_title_is_dropped() -> None:
    reply = stream_text(['![x](https://e.com/a.png "a title")'])
    assert reply.images[0].url == "https://e.com/a.png"
    assert reply.text == ""


@pytest.mark.parametrize(
    "content",
    [
        "Use the ![alt] syntax, or ![alt](relative/path.png).",
        "Wow! ![broken\nalt](https://e.com/x.png)",
        "[media](data:application/pdf;base64,JVBERi0=)",
        "![doc](data:application/pdf;base64,JVBERi0=)",
        "![bad](data:image/png;base64,abc)",  # bad padding: not decodable
        "![x](data:image/png,raw)",
        "Done!",
        "!!!",
        "![unclosed alt",
        "![a](https://unterminated",
    ],
)
def test_text_that_is_not_an_image_is_kept_verbatim(content: str) -> None:
    whole = stream_text([content])
    assert whole.text == content and whole.images == []
    per_char = stream_text(list(content))
    assert per_char.text == content and per_char.images == []


def test_bang_at_chunk_end_is_released() -> None:
    reply, events = run([chunk({"content": "Wow!"}), chunk({"content": " Great!"})])
    assert reply.text == "Wow! Great!"
    assert reply.truncated
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Wow! Great!"


def test_bang_then_image_across_chunks() -> None:
    reply = stream_text(["Look!", f"[x]({data_url(PNG)})", "!"])
    assert reply.text == "Look!"
    assert len(reply.images) == 1


def test_long_alt_text_is_not_an_image_however_it_is_split() -> None:
    # Regression: a >300-char alt was an image in one delta but text when split.
    content = "![" + "a" * 400 + "](https://e.com/a.png)"
    for pieces in ([content], [content[:350], content[350:]], list(content)):
        reply = stream_text(pieces)
        assert reply.text == content and reply.images == []
    short = "![" + "a" * 250 + "](https://e.com/a.png)"
    for pieces in ([short], [short[:200], short[200:]]):
        assert stream_text(pieces).images[0].url == "https://e.com/a.png"


def test_many_bangs_and_images_in_one_message_do_not_recurse() -> None:
    # Regression: every "![" cost stack frames; a few hundred in one delta hit RecursionError.
    text = "![not an image] " * 3000
    reply, _ = run([completion({"role": "assistant", "content": text})], streamed=False)
    assert reply.text == text
    images = "".join(f"![i{k}](https://e.com/{k}.png) " for k in range(1000))
    reply, _ = run([completion({"role": "assistant", "content": images})], streamed=False)
    assert len(reply.images) == 1000
    assert reply.text == " " * 1000


def test_huge_image_is_collected_in_pieces() -> None:
    big = data_url(PNG + b"\0" * (3 * 1024 * 1024))
    content = f"![image]({big})"
    asm = ReplyAssembler()
    assert asm.feed(chunk({"content": "Intro "})) == [TextDelta("Intro ")]
    pieces = [content[i : i + 4096] for i in range(0, len(content), 4096)]
    for piece in pieces[:-1]:
        assert asm.feed(chunk({"content": piece})) == []  # nothing leaks out as text
    (event,) = asm.feed(chunk({"content": pieces[-1]}))
    assert isinstance(event, ImageEvent)
    assert event.image.data == PNG + b"\0" * (3 * 1024 * 1024)
    asm.feed(chunk({}, finish="stop"))
    assert asm.reply.text == "Intro "
    assert asm.reply.images == [event.image]


def test_delta_images_litellm() -> None:
    item = {"image_url": {"url": data_url(PNG), "detail": "auto"}, "index": 0, "type": "image_url"}
    reply, events = run(
        [
            chunk({"role": "assistant", "content": "Here's the image you requested:"}),
            chunk({"role": "assistant", "content": None, "images": [item]}),
            chunk({}, finish="stop"),
        ]
    )
    assert reply.text == "Here's the image you requested:"
    assert image_keys(reply.images) == [(PNG, "image/png", None)]
    assert [e.type for e in events] == ["text", "image", "finish"]


def test_delta_with_only_content_and_images() -> None:
    # Regression: a two-key delta {"content", <extra>} skipped images/reasoning.
    reply = run([chunk({"content": "", "images": [{"image_url": {"url": data_url(PNG)}}]})])[0]
    assert len(reply.images) == 1
    reply = run([chunk({"content": "hi", "reasoning_content": "hmm"})])[0]
    assert (reply.text, reply.reasoning) == ("hi", "hmm")


def test_message_images_openrouter_non_stream() -> None:
    body = completion(
        {
            "role": "assistant",
            "content": "Here is your image",
            "images": [
                {"type": "image_url", "image_url": {"url": data_url(PNG2)}},
                {"type": "image_url", "image_url": "https://e.com/b.png"},
                {"type": "image_url", "url": "https://e.com/c.png"},
            ],
        }
    )
    reply, events = run([body], streamed=False)
    assert reply.text == "Here is your image"
    assert image_keys(reply.images) == [
        (PNG2, "image/png", None),
        (None, "", "https://e.com/b.png"),
        (None, "", "https://e.com/c.png"),
    ]
    assert reply.finish_reason == "stop" and not reply.truncated
    assert events[-1] == FinishEvent("stop", 0)


def test_content_as_list_of_parts() -> None:
    body = completion(
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "plan"},
                {"type": "text", "text": "Here"},
                {"type": "image_url", "image_url": {"url": data_url(PNG)}},
                " and there",
                {"type": "unknown", "text": "ignored"},
                {"type": "image_url", "image_url": {"url": "ftp://nope"}},
            ],
        }
    )
    reply, _ = run([body], streamed=False)
    assert reply.text == "Here and there"
    assert reply.reasoning == "plan"
    assert image_keys(reply.images) == [(PNG, "image/png", None)]


def test_streamed_content_parts() -> None:
    reply = run(
        [
            chunk({"content": [{"type": "text", "text": "a"}]}),
            chunk({"content": [{"type": "image_url", "image_url": {"url": data_url(PNG)}}]}),
            chunk({"content": [{"type": "text", "text": "b"}]}, finish="stop"),
        ]
    )[0]
    assert reply.text == "ab" and len(reply.images) == 1


# --- reasoning ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_field_streamed(key: str) -> None:
    reply, events = run(
        [
            chunk({"role": "assistant", key: "**Analyzing the request**\n"}),
            chunk({key: "more"}),
            chunk({"content": "The answer is 42."}),
            chunk({}, finish="stop"),
        ]
    )
    assert reply.reasoning == "**Analyzing the request**\nmore"
    assert reply.text == "The answer is 42."
    assert [e.type for e in events] == ["reasoning", "reasoning", "text", "finish"]


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_field_non_stream(key: str) -> None:
    reply, _ = run([completion({"role": "assistant", "content": "42", key: "why"})], streamed=False)
    assert (reply.text, reply.reasoning) == ("42", "why")


def test_thinking_blocks() -> None:
    message = {
        "role": "assistant",
        "content": "42",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "first ", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xx"},
            "junk",
            {"type": "thinking", "thinking": "second"},
        ],
    }
    reply, _ = run([completion(message)], streamed=False)
    assert reply.reasoning == "first second"
    assert reply.text == "42"


def test_think_tag_new_api_thinking_to_content() -> None:
    reply = stream_text(
        ["<think>\n**Analyzing the request**…", "\n</think>\n", "The answer is 42."]
    )
    assert reply.reasoning == "**Analyzing the request**…"  # blank lines inside the tags dropped
    assert reply.text == "The answer is 42."


THINK = "<think>\nAnalyzing\n</think>\n\nThe answer is 42!"


@pytest.mark.parametrize("cut", range(len(THINK) + 1))
def test_think_split_at_every_boundary(cut: int) -> None:
    reply = stream_text([THINK[:cut], THINK[cut:]])
    assert reply.reasoning == "Analyzing"
    assert reply.text == "The answer is 42!"


def test_think_one_character_per_delta() -> None:
    reply = stream_text(list("  " + THINK))
    assert reply.reasoning == "Analyzing"
    assert reply.text == "The answer is 42!"


def test_thought_tag_google() -> None:
    reply = stream_text(["<thought>I should say hi</thought>", "Hi!"])
    assert (reply.reasoning, reply.text) == ("I should say hi", "Hi!")
    reply = stream_text(["<though", "t>x</tho", "ught>y"])
    assert (reply.reasoning, reply.text) == ("x", "y")


def test_tags_later_in_the_text_are_text() -> None:
    content = "Answer: <think>not reasoning</think>"
    assert stream_text([content]).text == content
    assert stream_text(["<b>bold</b>"]).text == "<b>bold</b>"
    assert stream_text(["<thinking>x"]).text == "<thinking>x"


def test_unclosed_think_becomes_the_answer() -> None:
    reply = stream_text(["<think>abc</thi"], finish=None)
    assert (reply.reasoning, reply.text) == ("", "abc</thi")
    assert reply.truncated


def test_partial_open_tag_alone_is_text() -> None:
    reply = stream_text(["  <thi"])
    assert (reply.text, reply.reasoning) == ("  <thi", "")


def test_whitespace_only_answer_is_kept() -> None:
    assert stream_text([" ", "\n"]).text == " \n"


# --- usage, choices, finish -----------------------------------------------------------------


def test_usage_only_chunk_with_empty_choices() -> None:
    asm = ReplyAssembler()
    asm.feed(chunk({"content": "hi"}, finish="stop"))
    usage = {
        "prompt_tokens": 3,
        "completion_tokens": 7,
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    events = asm.feed({"id": "x", "choices": [], "usage": usage})
    assert events == [UsageEvent(Usage(3, 7, 10, 5))]
    assert asm.reply.usage == Usage(3, 7, 10, 5)
    assert asm.reply.text == "hi"


def test_null_usage_is_ignored() -> None:
    asm = ReplyAssembler()
    assert asm.feed({"choices": [], "usage": None}) == []
    assert asm.feed({"choices": [], "usage": "weird"}) == []
    assert asm.reply.usage is None


def test_two_choices_interleaved_with_own_finish_reasons() -> None:
    reply, events = run(
        [
            chunk({"role": "assistant", "content": "A1 "}, index=0),
            chunk({"role": "assistant", "content": "B1 "}, index=1),
            chunk({"reasoning_content": "r1"}, index=1),
            chunk({"content": "A2"}, index=0),
            chunk({"content": f"![b]({data_url(PNG)})"}, index=1),
            chunk({}, index=1, finish="length"),
            chunk({}, index=0, finish="stop"),
        ]
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.text == "A1 A2" and reply.finish_reason == "stop"
    second = reply.choices[1]
    assert (second.text, second.reasoning, second.finish_reason) == ("B1 ", "r1", "length")
    assert len(second.images) == 1 and reply.images == []
    finishes = [e for e in events if isinstance(e, FinishEvent)]
    assert finishes == [FinishEvent("length", 1), FinishEvent("stop", 0)]
    assert "choices=2" in repr(reply)


def test_finish_reason_flushes_held_text() -> None:
    reply, events = run([chunk({"content": "Yes!"}, finish="content_filter")])
    assert reply.text == "Yes!"
    assert reply.finish_reason == "content_filter"
    assert [type(e) for e in events] == [TextDelta, TextDelta, FinishEvent]


def test_truncated_when_no_finish_reason() -> None:
    reply = stream_text(["partial"], finish=None)
    assert reply.truncated and reply.status == "truncated" and not reply.complete
    assert reply.text == "partial"
    assert "status='truncated'" in repr(reply)


def test_non_stream_without_finish_reason_is_not_truncated() -> None:
    body = completion({"role": "assistant", "content": "x"})
    body["choices"][0]["finish_reason"] = None
    reply, _ = run([body], streamed=False)
    assert not reply.truncated and reply.finish_reason is None


def test_odd_indices_and_junk_are_tolerated() -> None:
    reply, _ = run(
        [
            None,
            [],
            "data",
            {"choices": "nope"},
            {"choices": [None, 1, {"index": True, "delta": {"content": "a"}}]},
            {"choices": [{"index": 10_000, "delta": {"content": "b"}}]},
            {"choices": [{"index": -1, "delta": "x", "message": {"content": "c"}}]},
            {"choices": [{"finish_reason": 7}]},
            {"choices": [{"finish_reason": ""}]},
            {"choices": [{"index": [], "delta": {"content": "d"}}]},  # unhashable
            {"choices": [{"index": {}, "delta": {"content": "e"}}]},
        ]
    )
    assert reply.text == "abcde"
    assert reply.truncated
    assert len(reply.choices) == 1


def test_bool_and_float_indices_mean_choice_zero() -> None:
    # Even when a choice 1 exists (True == 1 and hash(1.0) == hash(1) as dict keys).
    reply, _ = run(
        [
            chunk({"content": "a"}, index=0),
            chunk({"content": "b"}, index=1),
            {"choices": [{"index": True, "delta": {"content": "c"}}]},
            {"choices": [{"index": 1.0, "delta": {"content": "d"}}]},
        ]
    )
    assert [c.text for c in reply.choices] == ["acd", "b"]


def test_id_and_model_come_from_the_first_chunk_that_has_them() -> None:
    asm = ReplyAssembler()
    asm.feed({"id": 5, "model": None, "choices": []})
    asm.feed({"id": "a", "model": "m1", "choices": []})
    asm.feed({"id": "b", "model": "m2", "choices": []})
    assert (asm.reply.id, asm.reply.model) == ("a", "m1")


def test_existing_reply_is_filled_in() -> None:
    reply = Reply()
    asm = ReplyAssembler(reply)
    asm.feed(chunk({"content": "x"}))
    assert asm.reply is reply and reply.text == "x"


def test_events_carry_text_in_order() -> None:
    _, events = run([chunk({"content": "a"}), chunk({"reasoning": "r"}), chunk({"content": "b"})])
    assert events == [TextDelta("a"), ReasoningDelta("r"), TextDelta("b")]


# --- Reply helpers --------------------------------------------------------------------------


def test_reply_json_plain_and_fenced() -> None:
    assert stream_text(['{"a": [1, 2]}']).json() == {"a": [1, 2]}
    assert stream_text(['```json\n{"a": 1}\n```']).json() == {"a": 1}
    assert stream_text(["  [1]  "]).json() == [1]


def test_reply_json_failure_is_one_line() -> None:
    reply = stream_text(["Sure! Here is the JSON:\n{oops"])
    with pytest.raises(ValueError) as info:
        reply.json()
    message = str(info.value)
    assert "\n" not in message
    assert "not valid JSON" in message and "Sure! Here is the JSON: {oops" in message
    assert "json=True" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_reply_status_and_repr() -> None:
    reply = Reply()
    assert reply.status == "complete" and reply.complete
    assert repr(reply) == "Reply(text='', finish_reason=None)"
    reply.truncated = True
    assert reply.status == "truncated"
    reply.error = ValueError("x")  # type: ignore[assignment]
    assert reply.status == "failed"
    reply.interrupted = True
    assert reply.status == "interrupted" and not reply.complete
    long = stream_text(["x" * 100, f"![i]({data_url(PNG)})"], finish="stop")
    long.choices[0]._reasoning.append("think")
    text = repr(long)
    assert "x" * 57 + "..." in text
    assert "reasoning=5 chars" in text and "images=1" in text and "finish_reason='stop'" in text
    assert str(long) == "x" * 100


# --- properties -----------------------------------------------------------------------------


def split_text(s: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(s) + 1) for c in cuts})
    bounds = [0, *points, len(s)]
    return [s[a:b] for a, b in itertools.pairwise(bounds)]


def replay(pieces: list[str]) -> tuple[Reply, list[Event]]:
    return run([chunk({"content": p}) for p in pieces] + [chunk({}, finish="stop")])


IMAGES = [
    f"![image]({data_url(PNG)})",
    f"![second]({data_url(PNG2)})",
    "![remote](https://e.com/p.png)",
    '![t](http://e.com/q.png "title")',
]

_plain = st.text(alphabet="ab !\n ()<>/:", max_size=12)
_reasoning = st.text(alphabet="ab <>/!thinkogu\n", max_size=20)


@st.composite
def contents(draw: st.DrawFn) -> tuple[str, str, str, list[str]]:
    """(content, expected text, expected reasoning, expected image markdown) for a stream."""
    reasoning = ""
    head = ""
    tag = draw(st.sampled_from([None, "think", "thought"]))
    if tag is not None:
        close = f"</{tag}>"
        inner = draw(_reasoning.filter(lambda r: close not in r))
        reasoning = inner.strip()  # blanks just inside the tags are not part of the thought
        head = draw(st.sampled_from(["", " ", "\n"])) + f"<{tag}>{inner}{close}"
        head += draw(st.sampled_from(["", "\n", "\n\n"]))
    segments = draw(st.lists(st.one_of(_plain, st.sampled_from(IMAGES)), max_size=8))
    body = "".join(segments)
    text_parts: list[str] = []
    images: list[str] = []
    for seg in segments:
        (images if seg in IMAGES else text_parts).append(seg)
    expected = "".join(text_parts)
    if tag is not None:
        # whitespace right after the closing tag is not part of the answer
        stripped = body.lstrip()
        dropped = len(body) - len(stripped)
        expected = expected[dropped:]
    return head + body, expected, reasoning, images


@FAST
@given(contents(), st.lists(st.integers(0, 5000), max_size=25))
def test_rechunked_content_gives_the_same_reply(
    case: tuple[str, str, str, list[str]], cuts: list[int]
) -> None:
    content, expected_text, expected_reasoning, image_md = case
    whole, _ = replay([content])
    assert whole.text == expected_text
    assert whole.reasoning == expected_reasoning
    expected_images = [
        GeneratedImage.from_url(md[md.index("(") + 1 :].split(")")[0].split(" ")[0])
        for md in image_md
    ]
    assert image_keys(whole.images) == image_keys([i for i in expected_images if i is not None])
    split, events = replay(split_text(content, cuts))
    assert split.text == whole.text
    assert split.reasoning == whole.reasoning
    assert image_keys(split.images) == image_keys(whole.images)
    # the events tell the same story as the reply
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == split.text
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == split.reasoning
    assert [e.image for e in events if isinstance(e, ImageEvent)] == split.images


_messy = st.lists(
    st.one_of(
        st.text(alphabet="ab !\n[]()<>/:", max_size=10),
        st.sampled_from(
            [
                "![",
                "](",
                "!",
                ")",
                "<think>",
                "</think>",
                "<thought>",
                "data:image/png;base64,",
                base64.b64encode(PNG).decode(),
                "https://e.com/x",
                "http",
                *IMAGES,
            ]
        ),
    ),
    max_size=12,
).map("".join)


@FAST
@given(_messy, st.lists(st.integers(0, 5000), max_size=25))
def test_rechunked_messy_content_gives_the_same_reply(content: str, cuts: list[int]) -> None:
    whole, _ = replay([content])
    split, events = replay(split_text(content, cuts))
    per_char, _ = replay(list(content))
    for other in (split, per_char):
        assert other.text == whole.text
        assert other.reasoning == whole.reasoning
        assert image_keys(other.images) == image_keys(whole.images)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == split.text


_KEYS = st.sampled_from(
    [
        "choices",
        "delta",
        "message",
        "content",
        "index",
        "finish_reason",
        "usage",
        "images",
        "image_url",
        "url",
        "type",
        "text",
        "reasoning_content",
        "reasoning",
        "thinking_blocks",
        "thinking",
        "id",
        "model",
        "role",
        "prompt_tokens",
        "completion_tokens_details",
        "reasoning_tokens",
        "total_tokens",
    ]
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 200),
    st.integers(),
    st.floats(),
    st.text(max_size=15),
    st.sampled_from(
        [
            "image_url",
            "text",
            "thinking",
            "stop",
            "![a](https://x/y.png)",
            "<think>",
            "!",
            "![",
            data_url(PNG),
        ]
    ),
)
json_like = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(_KEYS, st.text(max_size=4)), children, max_size=5)
    ),
    max_leaves=40,
)


@FAST
@given(st.lists(json_like, max_size=6), st.booleans())
def test_assembler_never_raises_on_arbitrary_json(chunks: list[Any], streamed: bool) -> None:
    asm = ReplyAssembler()
    for c in chunks:
        asm.feed(c)
        asm.feed({"choices": [c]})
        asm.feed({"choices": [{"delta": c}, {"message": c, "index": 1}]})
    asm.finish(streamed=streamed)
    reply = asm.reply
    for choice in reply.choices:
        assert isinstance(choice.text, str) and isinstance(choice.reasoning, str)
        repr(choice)
    repr(reply)
    str(reply)
    # whatever came in, it can be serialized back for the caller
    json.dumps([c.text for c in reply.choices])


def test_blanks_inside_think_are_kept_only_between_thoughts() -> None:
    for pieces in (["<think>\n a ", "\n b", "  ", "</think>x"], ["<think>\n a \n b  </think>x"]):
        reply = stream_text(pieces)
        assert (reply.reasoning, reply.text) == ("a \n b", "x")
