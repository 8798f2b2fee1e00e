"""The stream state machine on bytes: every transition, with the time passed in (no I/O, no clock)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ipygemini import APIStatusError, ServerError, StreamError
from ipygemini._types import FinishEvent, TextDelta, UsageEvent
from ipygemini.client import Client, StreamMachine, StreamState
from ipygemini.client._parse import reported_error
from ipygemini.client._stream import DRAIN_BYTES

KEY = "sk-machine-SECRET-4411"
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def text(piece: str, index: int = 0) -> bytes:
    return sse({"choices": [{"index": index, "delta": {"content": piece}, "finish_reason": None}]})


def finish(reason: str = "stop", index: int = 0, usage: Any = None) -> bytes:
    chunk: dict[str, Any] = {"choices": [{"index": index, "delta": {}, "finish_reason": reason}]}
    if usage is not None:
        chunk["usage"] = usage
    return sse(chunk)


def usage_chunk(**extra: Any) -> bytes:
    return sse({"choices": [], "usage": USAGE, **extra})


DONE = b"data: [DONE]\n\n"
ANSWER = text("Hello") + text(", world") + finish() + usage_chunk()


def machine(**options: Any) -> StreamMachine:
    return StreamMachine(max_event_bytes=1 << 20, idle_timeout=10.0, secret=KEY, **options)


def shown_text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- RECEIVING ---------------------------------------------------------------------------------


def test_text_arrives_while_receiving() -> None:
    m = machine()
    events = m.feed(text("Hel") + text("lo"), now=0.0)
    assert shown_text(events) == "Hello" and m.state is StreamState.RECEIVING and m.reading
    assert m.events == events and m.reply.text == "Hello"


def test_events_are_recorded_in_order_across_feeds() -> None:
    m = machine()
    handed: list[Any] = []
    for piece in (text("a"), text("b"), finish(), usage_chunk(), DONE):
        handed += m.feed(piece, now=0.0)
    assert m.events == handed
    assert [type(e) for e in handed] == [TextDelta, TextDelta, FinishEvent, UsageEvent]


# --- DONE --------------------------------------------------------------------------------------


def test_done_sentinel_moves_to_done() -> None:
    m = machine()
    m.feed(ANSWER + DONE, now=0.0)
    assert m.state is StreamState.DONE and m.reading  # reading on: the drain
    assert m.reply.status == "complete" and m.reply.text == "Hello, world"


def test_a_finish_with_usage_is_done_without_the_sentinel() -> None:
    m = machine()
    m.feed(text("Hi") + finish(usage=USAGE), now=0.0)
    assert m.state is StreamState.DONE and m.reply.status == "complete"


def test_usage_before_every_requested_choice_finished_is_not_done() -> None:
    m = machine(requested_choices=2)
    m.feed(text("a") + finish(usage=USAGE), now=0.0)
    assert m.state is StreamState.RECEIVING
    m.feed(text("b", index=1) + finish(index=1) + usage_chunk(), now=0.0)
    assert m.state is StreamState.DONE and [c.text for c in m.reply.choices] == ["a", "b"]


@pytest.mark.parametrize(
    "after",
    [
        sse({"error": {"code": 500, "message": "late failure"}}),
        b"data: not json at all\n\n",
        b"data: " + b"x" * (2 << 20) + b"\n\n",  # over max_event_bytes
        text(" more text"),
    ],
    ids=["error-event", "not-json", "oversized", "text"],
)
def test_nothing_after_done_counts_however_the_bytes_are_split(after: bytes) -> None:
    body = ANSWER + DONE + after
    for cut in range(len(ANSWER), len(ANSWER + DONE) + 3):
        m = machine()
        m.feed(body[:cut], now=0.0)
        m.feed(body[cut:], now=0.0)
        assert m.state is StreamState.DONE, cut
        assert m.reply.status == "complete" and m.reply.text == "Hello, world", cut
        assert m.error is None
    same_read = machine()
    same_read.feed(body, now=0.0)
    assert same_read.state is StreamState.DONE and same_read.reply.status == "complete"


@pytest.mark.parametrize("how", ["end", "broke", "timed_out", "interrupted"])
def test_every_ending_after_done_closes_and_keeps_the_answer_complete(how: str) -> None:
    m = machine()
    m.feed(ANSWER + DONE, now=0.0)
    events = getattr(m, how)() if how != "broke" else m.broke("the connection broke (x)")
    assert events == [] and m.state is StreamState.CLOSED and not m.reading
    assert m.reply.status == "complete" and m.error is None and not m.reply.interrupted


def test_drain_window_after_done_is_bounded_in_time_and_bytes() -> None:
    m = machine(drain_seconds=0.25)
    assert m.drain_wait(now=5.0) == 0.0  # not DONE yet: nothing to drain
    m.feed(ANSWER + DONE, now=5.0)
    assert m.drain_wait(now=5.0) == pytest.approx(0.25)
    assert m.drain_wait(now=5.2) == pytest.approx(0.05)
    assert m.drain_wait(now=5.3) == 0.0
    n = machine()
    n.feed(ANSWER + DONE, now=0.0)
    n.feed(b"junk" * (DRAIN_BYTES // 4 + 1), now=0.0)
    assert n.drain_wait(now=0.0) == 0.0 and n.reply.status == "complete"


# --- CLOSED without [DONE] ---------------------------------------------------------------------


def test_end_of_body_without_sentinel_closes() -> None:
    m = machine()
    m.feed(text("Hi") + finish(), now=0.0)
    assert m.end() == [] and m.state is StreamState.CLOSED and m.reply.status == "complete"


def test_end_of_body_without_any_finish_is_truncated() -> None:
    m = machine()
    m.feed(text("Hi"), now=0.0)
    m.end()
    assert m.state is StreamState.CLOSED and m.reply.status == "truncated"


def test_a_last_event_without_its_blank_line_still_counts() -> None:
    m = machine()
    m.feed(text("Hi") + finish()[:-1], now=0.0)
    events = m.end()
    assert [type(e) for e in events] == [FinishEvent] and m.reply.status == "complete"


# --- FAILED ------------------------------------------------------------------------------------


def test_broken_connection_while_receiving_fails_and_keeps_the_text() -> None:
    m = machine()
    m.feed(text("partial"), now=0.0)
    m.broke("the connection broke (RemoteProtocolError)")
    assert m.state is StreamState.FAILED and not m.reading
    assert isinstance(m.error, StreamError) and "connection broke" in str(m.error)
    assert m.reply.error is m.error and m.reply.text == "partial" and m.error.reply is m.reply


def test_a_break_right_after_an_unterminated_done_is_no_failure() -> None:
    m = machine()
    m.feed(ANSWER + b"data: [DONE]\n", now=0.0)  # the blank line never came
    m.broke("the connection broke (RemoteProtocolError)")
    assert m.state is StreamState.CLOSED and m.reply.status == "complete"


def test_silence_while_receiving_fails_with_idle_timeout() -> None:
    m = machine()
    m.feed(text("a"), now=0.0)
    m.timed_out()
    assert m.state is StreamState.FAILED and "idle_timeout" in str(m.error)


def test_a_dribble_without_a_line_end_stalls_by_the_injected_clock() -> None:
    m = machine()
    assert m.feed(b"d", now=0.0) == []
    assert m.feed(b"a", now=9.0) == [] and m.state is StreamState.RECEIVING
    m.feed(b"t", now=10.5)
    assert m.state is StreamState.FAILED and "no complete line in 10 s" in str(m.error)


def test_an_event_that_is_not_json_fails() -> None:
    m = machine()
    m.feed(text("a") + b"data: {oops\n\n", now=0.0)
    assert m.state is StreamState.FAILED and "not JSON" in str(m.error)


def test_an_oversized_event_fails() -> None:
    m = StreamMachine(max_event_bytes=1024, idle_timeout=10.0)
    m.feed(b"data: " + b"x" * 2000 + b"\n\n", now=0.0)
    assert m.state is StreamState.FAILED and "max_event_bytes" in str(m.error)


def test_an_error_event_names_the_code_the_gateway_gave_not_a_status() -> None:
    m = machine()
    m.feed(text("so far") + sse({"error": {"code": 429, "message": "slow down"}}), now=0.0)
    error = m.error
    assert isinstance(error, StreamError) and error.code == 429
    assert str(error).startswith(
        "Stream failed: the gateway reported an error mid-stream (code 429): slow down."
    )
    assert "HTTP" not in str(error) and m.reply.text == "so far"


def test_an_error_event_with_a_string_code_or_none() -> None:
    m = machine()
    m.feed(sse({"error": {"code": "overloaded", "message": "busy"}}), now=0.0)
    assert m.error is not None and "(code overloaded): busy" in str(m.error)
    n = machine()
    n.feed(sse({"error": "plain words"}), now=0.0)
    assert n.error is not None and "mid-stream: plain words" in str(n.error)
    assert getattr(n.error, "code", "missing") is None


def test_the_key_never_appears_in_an_error_event_message() -> None:
    m = machine()
    m.feed(sse({"error": {"message": f"bad key {KEY}", "code": KEY}}), now=0.0)
    assert KEY not in str(m.error) and KEY not in repr(getattr(m.error, "code", ""))


def test_openrouter_error_with_a_choice_finished_by_error_fails() -> None:
    chunk = {
        "error": {"code": 502, "message": "provider down"},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }
    m = machine()
    m.feed(sse(chunk), now=0.0)
    assert m.state is StreamState.FAILED and "(code 502): provider down" in str(m.error)


def test_failed_to_start_keeps_the_error_on_the_empty_reply() -> None:
    m = machine()
    error = ServerError("HTTP 503: down.", status_code=503)
    m.failed_to_start(error)
    assert m.state is StreamState.FAILED and m.error is error and m.reply.error is error


# --- "error": null and the one predicate --------------------------------------------------------


def test_error_null_on_the_usage_chunk_is_no_error_streamed_or_not() -> None:
    m = machine()
    m.feed(text("ok") + finish() + usage_chunk(error=None) + DONE, now=0.0)
    assert m.error is None and m.reply.status == "complete"
    core = Client(base_url="http://127.0.0.1:9/v1", api_key=KEY)._core
    completion = {
        "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
        "usage": USAGE,
        "error": None,
    }
    assert core.reply_from_completion(completion, {}).status == "complete"


@pytest.mark.parametrize(
    ("obj", "is_error"),
    [
        ({"choices": [], "usage": USAGE, "error": None}, False),
        ({"error": {"message": "x"}}, True),
        ({"error": "x"}, True),
        ({"error": ""}, False),
        ({"error": {"message": "x"}, "choices": []}, True),
        ({"error": {"message": "x"}, "choices": [{"finish_reason": "stop"}]}, False),
        ({"error": {"message": "x"}, "choices": [{"finish_reason": "error"}]}, True),
        ([{"error": "x"}], False),
    ],
)
def test_one_predicate_for_both_paths(obj: Any, is_error: bool) -> None:
    assert (reported_error(obj) is not None) is is_error
    core = Client(base_url="http://127.0.0.1:9/v1", api_key=KEY)._core
    m = machine()
    m.feed(sse(obj), now=0.0)
    streamed_failed = m.state is StreamState.FAILED
    try:
        core.check_body_error(obj)
        whole_failed = False
    except APIStatusError:
        whole_failed = True
    assert streamed_failed is whole_failed is is_error


# --- INTERRUPTED --------------------------------------------------------------------------------


def test_interrupted_returns_the_text_it_flushes() -> None:
    m = machine()
    handed = m.feed(text("See ![a"), now=0.0)  # "![a" may start an image: held back
    assert shown_text(handed) == "See "
    flushed = m.interrupted()
    assert shown_text(flushed) == "![a" and m.events == handed + flushed
    assert m.state is StreamState.INTERRUPTED and m.reply.status == "interrupted"
    assert m.reply.text == "See ![a" and m.interrupted() == []


def test_nothing_is_fed_after_interrupted_or_failed() -> None:
    m = machine()
    m.interrupted()
    assert m.feed(text("late"), now=0.0) == [] and m.reply.text == ""
    n = machine()
    n.timed_out()
    assert n.feed(text("late"), now=0.0) == [] and n.end() == [] and n.reply.text == ""


# --- a whole completion instead of a stream --------------------------------------------------------


def test_a_whole_completion_closes_with_its_events() -> None:
    completion = {
        "choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    m = machine()
    events = m.whole(json.dumps(completion).encode())
    assert shown_text(events) == "whole" and m.state is StreamState.CLOSED
    assert m.reply.status == "complete" and m.events == events


def test_a_whole_body_that_is_an_error_or_not_json_fails() -> None:
    m = machine()
    m.whole(b'{"error": {"code": 429, "message": "quota"}}')
    assert m.state is StreamState.FAILED and isinstance(m.error, APIStatusError)
    assert m.error.status_code == 429
    n = machine()
    n.whole(b"<html>oops</html>")
    assert n.state is StreamState.FAILED and isinstance(n.error, ServerError)
