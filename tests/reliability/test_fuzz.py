"""Property tests (hypothesis) for what a hostile gateway or a careless line can feed the code.

Not repeated here: the SSE decoder alone on arbitrary bytes (tests/client/test_sse.py) and the reply
assembler alone on arbitrary chunks (tests/client/test_reply.py). This module fuzzes what joins them
and what they feed: the whole byte → event pipeline of a streamed reply, the answers of the other
endpoints, the error-body parser with a key hidden in every way JSON allows, and the %%gemini
option parser and prompt template. Each example runs under a watchdog, so a hang is a failure.
"""

from __future__ import annotations

import base64
import collections
import functools
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from traitlets.config import Configurable

from conftest import split_at
from ipygemini import Client, GeminiError, Reply
from ipygemini._errors import APIStatusError, error_for_status, parse_error_body
from ipygemini._png import solid_png
from ipygemini._types import FinishEvent, ImageEvent, ReasoningDelta, TextDelta, UsageEvent
from ipygemini.client._parse import parse_embeddings, parse_models
from ipygemini.client._stream import StreamMachine
from ipygemini.magic import GeminiMagics, PromptError
from ipygemini.magic._options import usage_error as _usage_from_value_error

FUZZ = settings(
    max_examples=300,
    deadline=None,  # the watchdog below bounds each example instead of a timing threshold
    derandomize=True,  # the same examples every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WATCHDOG = 5.0  # seconds one example may take before it counts as a hang
KEY = "sk-fuzz-SECRET-b7e2c9d41f"
EVENT_TYPES = (TextDelta, ReasoningDelta, ImageEvent, UsageEvent, FinishEvent)


class Hang(Exception):
    """An example did not finish within the watchdog's time."""


@contextmanager
def watchdog(seconds: float = WATCHDOG) -> Iterator[None]:
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no result within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Count:
    """One test's run of a property: how many examples it made and their outcomes (for the
    report), and the objects the examples share. Each test makes its own and hands it to its
    property, so no test reads another's figures or state."""

    def __init__(self) -> None:
        self.n = 0
        self.outcomes: collections.Counter[str] = collections.Counter()

    def __call__(self) -> None:
        self.n += 1

    @functools.cached_property
    def core(self) -> Any:
        """The client's protocol core (no I/O is done with it)."""
        return Client(base_url="http://127.0.0.1:9/v1", api_key=KEY)._core

    @functools.cached_property
    def parser(self) -> Any:
        """The %%gemini option parser (building it per example would dominate the run)."""
        return GeminiMagics(Shell()).parser


# --- strategies -------------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "choices",
        "delta",
        "message",
        "content",
        "reasoning_content",
        "reasoning",
        "images",
        "image_url",
        "url",
        "finish_reason",
        "index",
        "usage",
        "error",
        "id",
        "model",
        "type",
        "text",
        "thinking_blocks",
        "thinking",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "data",
        "embedding",
        "object",
        "code",
        "status",
    ]
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["<think>", "</think>", "![x](", "data:image/png;base64,iVBORw0KGgo=", "stop"]),
)
json_values = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(_KEYS, st.text(max_size=5)), children, max_size=5)
    ),
    max_leaves=30,
)
chunk_like = st.fixed_dictionaries(
    {},
    optional={
        "choices": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "index": st.one_of(st.integers(-2, 3), json_values),
                    "delta": st.one_of(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "content": st.one_of(st.text(max_size=20), json_values),
                                "reasoning_content": st.one_of(st.text(max_size=10), st.none()),
                                "images": json_values,
                            },
                        ),
                        json_values,
                    ),
                    "finish_reason": st.one_of(
                        st.none(), st.sampled_from(["stop", "length"]), json_values
                    ),
                },
            ),
            max_size=3,
        ),
        "usage": json_values,
        "error": json_values,
        "id": json_values,
        "model": json_values,
    },
)


@st.composite
def sse_bodies(draw: st.DrawFn) -> bytes:
    """A streamed body: well-formed events with odd JSON, junk lines and bytes, any line ends."""
    eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["chunk", "json", "junk", "comment", "done", "bytes", "field"]))
        if kind == "chunk":
            parts.append(b"data: " + json.dumps(draw(chunk_like)).encode() + eol + eol)
        elif kind == "json":
            parts.append(b"data: " + json.dumps(draw(json_values)).encode() + eol + eol)
        elif kind == "junk":
            parts.append(b"data: " + draw(st.binary(max_size=30)) + eol + eol)
        elif kind == "comment":
            parts.append(b": PING" + eol + eol)
        elif kind == "done":
            parts.append(b"data: [DONE]" + eol + eol)
        elif kind == "field":
            parts.append(
                draw(st.sampled_from([b"event: x", b"id: 7", b"retry: 1", b"data:"])) + eol
            )
        else:
            parts.append(draw(st.binary(max_size=40)))
    return b"".join(parts)


# --- the streamed reply pipeline -----------------------------------------------------------------

STREAM_ERRORS = (
    "Stream failed: the gateway sent an event that is not JSON: ",
    "Stream failed: the gateway reported an error mid-stream",
    "Stream failed: a server-sent event exceeded the ",
)


@FUZZ
@given(
    sse_bodies(),
    st.lists(st.integers(0, 10_000), max_size=12),
    st.sampled_from([64, 4096, 1 << 26]),
)
def stream_pipeline_on_any_body_property(
    count: Count, body: bytes, cuts: list[int], limit: int
) -> None:
    """bytes → SSE → JSON → Reply never raises; a failure is a documented StreamError, and the
    events handed to the caller add up to exactly the reply's text."""
    count()
    settings = count.core.settings
    state = StreamMachine(
        Reply(), max_event_bytes=limit, idle_timeout=settings.idle_timeout, secret=settings.api_key
    )
    events: list[Any] = []
    with watchdog():
        for piece in split_at(body, cuts):
            events.extend(state.feed(piece, 0.0))
        events.extend(state.end())
    for event in events:
        assert isinstance(event, EVENT_TYPES), event
    reply = state.reply
    if state.error is not None:
        message = str(state.error)
        assert message.startswith(STREAM_ERRORS), message
        assert "\n" not in message and reply.error is state.error and reply.status == "failed"
    else:
        assert reply.status in ("complete", "truncated")
    shown = "".join(e.text for e in events if isinstance(e, TextDelta) and e.index == 0)
    assert shown == reply.text
    repr(reply)
    json.dumps([c.text for c in reply.choices])


def test_stream_pipeline_on_any_body(reliability: Any) -> None:
    count = Count()
    stream_pipeline_on_any_body_property(count)
    assert count.n > 0
    reliability.record(
        "fuzz",
        target="stream pipeline (bytes → SSE → JSON → Reply)",
        examples=count.n,
        property="never raises; only documented StreamErrors; events add up to the reply",
    )


# --- the other answers a gateway gives ------------------------------------------------------------

embeddings_like = st.fixed_dictionaries(
    {},
    optional={
        "data": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "index": st.one_of(st.integers(-1, 3), json_values),
                        "embedding": st.one_of(
                            st.lists(
                                st.one_of(st.floats(), st.integers(), json_values), max_size=4
                            ),
                            st.text(max_size=12),
                            st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode()),
                            json_values,
                        ),
                    },
                ),
                max_size=3,
            ),
            json_values,
        ),
        "object": st.just("list"),
    },
)


@FUZZ
@given(st.one_of(json_values, chunk_like, embeddings_like))
def answers_of_every_endpoint_on_any_json_property(count: Count, obj: Any) -> None:
    """A chat completion, a model list or an embeddings answer of any shape: a result, or an
    error from the documented tree (never a TypeError/KeyError from inside)."""
    count()
    c = count.core
    with watchdog():
        try:
            reply = c.reply_from_completion(obj, {})
        except APIStatusError as exc:
            assert "\n" not in str(exc)
        else:
            assert isinstance(reply.text, str) and reply.status == "complete"
        models = parse_models(obj)
        assert all(isinstance(m.id, str) for m in models)
        for expected in (1, 2):
            try:
                vectors = parse_embeddings(obj, expected)
            except GeminiError as exc:
                assert "\n" not in str(exc)
            else:
                assert len(vectors) == expected
                assert all(isinstance(x, float) for v in vectors for x in v)


def test_answers_of_every_endpoint_on_any_json(reliability: Any) -> None:
    count = Count()
    answers_of_every_endpoint_on_any_json_property(count)
    assert count.n > 0
    reliability.record(
        "fuzz",
        target="chat, models and embeddings answers (any JSON)",
        examples=count.n,
        property="a result or a one-line GeminiError",
    )


# --- error bodies ------------------------------------------------------------------------------------


def _escape(text: str, draw: st.DrawFn) -> str:
    """`text` as a JSON string literal, each character escaped or not, as gateways may write it."""
    out = ['"']
    for ch in text:
        how = draw(st.sampled_from(["plain", "plain", "unicode", "slash"]))
        if ch in '"\\' or ord(ch) < 0x20:
            out.append(json.dumps(ch)[1:-1])
        elif how == "unicode":
            out.append(f"\\u{ord(ch):04x}")
        elif how == "slash" and ch == "/":
            out.append("\\/")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _dump(value: Any, draw: st.DrawFn) -> str:
    if isinstance(value, str):
        return _escape(value, draw)
    if isinstance(value, list):
        return "[" + ",".join(_dump(v, draw) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{_escape(str(k), draw)}:{_dump(v, draw)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(value)


_SECRET_TEXT = st.builds(
    lambda a, b: f"{a}{KEY}{b}",
    st.text(max_size=8),
    st.sampled_from(["", "/x", " (request id: 1)"]),
)


@st.composite
def error_bodies(draw: st.DrawFn) -> bytes:
    """Error bodies the way gateways write them, the key (if any) echoed anywhere in them."""
    text = st.one_of(st.text(max_size=30), _SECRET_TEXT)
    inner = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "message": st.one_of(text, json_values),
                "type": text,
                "param": text,
                "code": st.one_of(text, st.integers(-1, 1000), json_values),
                "status": text,
                "metadata": st.dictionaries(text, text, max_size=2),
            },
        )
    )
    shape = draw(st.sampled_from(["object", "array", "flat", "string", "text", "bytes", "value"]))
    if shape == "object":
        value: Any = {"error": inner}
    elif shape == "array":
        value = [{"error": inner}]
    elif shape == "flat":
        value = inner
    elif shape == "string":
        value = {"error": draw(text)}
    elif shape == "value":
        value = draw(json_values)
    elif shape == "text":
        return draw(text).encode()
    else:
        return draw(st.binary(max_size=60))
    return _dump(value, draw).encode()


@FUZZ
@given(error_bodies(), st.integers(100, 599))
def error_body_parser_on_any_body_property(count: Count, raw: bytes, status: int) -> None:
    """Any body: a one-line message and a code of a documented type; the key never shows, even
    JSON-escaped (``\\u0073k-…``, ``\\/``) — not in the message, the code, nor the kept body."""
    count()
    with watchdog():
        message, code, _ = parse_error_body(raw)
        error = error_for_status(status, raw, secret=KEY)
    assert isinstance(message, str) and "\n" not in message
    assert code is None or (isinstance(code, str | int) and not isinstance(code, bool))
    text = str(error)
    assert "\n" not in text and text.startswith(f"HTTP {status}")
    for shown in (text, repr(error.code), json.dumps(error.body, default=repr)):
        assert KEY not in shown and KEY[:-4] not in shown


def test_error_body_parser_on_any_body(reliability: Any) -> None:
    count = Count()
    error_body_parser_on_any_body_property(count)
    assert count.n > 0
    reliability.record(
        "fuzz",
        target="error-body parser (any body, key echoed and JSON-escaped)",
        examples=count.n,
        property="one-line message; the key never appears",
    )


def test_deeply_nested_error_body() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    message, code, _ = parse_error_body(raw)
    assert message.startswith("[[[") and len(message) == 300 and code is None


# --- the %%gemini option parser ------------------------------------------------------------------------


class Shell(Configurable):
    """Just enough of an IPython shell for GeminiMagics.gemini_cell (no kernel, no network)."""

    def __init__(self) -> None:
        super().__init__()
        self.user_ns: dict[str, Any] = {
            "x": 42,
            "name": "Ada",
            "items": [1, 2, 3],
            "table": {"a": 1},
            "png": solid_png(2, 2, (10, 20, 30)),
            "nothing": None,
            "In": ["", "x = 42"],
            "Out": {1: 42},
        }
        self.next_input: str | None = None

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.next_input = text


def magics(count: Count) -> GeminiMagics:
    """GeminiMagics whose `_ask` builds the request body as the client would, then answers."""
    m = GeminiMagics(Shell())
    m._parser = count.parser
    c = count.core

    def ask(messages: list[dict[str, Any]], options: dict[str, Any], **kw: Any) -> Reply:
        try:
            c.chat_body(messages, stream=True, **options)  # the client's own validation
        except ValueError as exc:  # what _ask does with it
            raise _usage_from_value_error(exc) from None
        reply = Reply()
        reply.choices[0]._text.append('{"answer": "```python\\nprint(1)\\n```"}')
        reply.choices[0].finish_reason = "stop"
        return reply

    m._ask = ask  # type: ignore[method-assign]
    return m


OPTIONS = [
    "-m",
    "--model",
    "-s",
    "--system",
    "-t",
    "--temperature",
    "--top-p",
    "--max-tokens",
    "--stop",
    "-n",
    "--json",
    "--thinking",
    "--no-stream",
    "-o",
    "--output",
    "-c",
    "--chat",
    "-a",
    "--attach",
    "-f",
    "--format",
    "--aspect-ratio",
    "--image-size",
    "-h",
    "--help",
    "--",
    "-",
    "--bogus",
    "-tx",
    "--max-tokens=",
]
VALUES = [
    "0",
    "1",
    "-1",
    "2.5",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "1e-400",
    "0x10",
    "10**6",
    "99999999999999999999999",
    "low",
    "high",
    "off",
    "auto",
    "markdown",
    "code",
    "json",
    "text",
    "html",
    "16:9",
    "4K",
    "9:99",
    "x",
    "name",
    "png",
    "nothing",
    "items",
    "undefined_var",
    "2bad",
    "if",
    "''",
    '""',
    "'a b'",
    '"unterminated',
    "'",
    "\\",
    "{x}",
    "\x00",
    "é",
    "🙂",
    "--",
    "-5",
]


@st.composite
def option_lines(draw: st.DrawFn) -> str:
    """The first line of a cell (so never a line feed): free text, or options and values."""
    if draw(st.integers(0, 4)) == 0:
        line = draw(st.text(max_size=40))
    else:
        token = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES), st.text(max_size=6))
        line = " ".join(draw(st.lists(token, max_size=8)))
    return line.replace("\n", " ")


@FUZZ
@given(option_lines(), st.sampled_from(["hi", "about {x} and {name}", "{{literal}}"]))
def option_parser_on_any_line_property(count: Count, line: str, cell: str) -> None:
    """Any option line: a result, or a one-line UsageError. The only other error is the
    documented one-line PromptError for ``-a NAME`` when the notebook has no NAME."""
    count()
    m = magics(count)
    with watchdog():
        try:
            m.gemini_cell(line, cell)
        except UsageError as exc:
            assert "\n" not in str(exc).strip() or str(exc).startswith("usage:"), str(exc)
            count.outcomes["usage error"] += 1
        except PromptError as exc:
            assert str(exc).startswith("-a/--attach: no variable "), str(exc)
            assert "\n" not in str(exc)
            count.outcomes["attach error"] += 1
        else:
            count.outcomes["result"] += 1


def test_option_parser_on_any_line(reliability: Any) -> None:
    count = Count()
    option_parser_on_any_line_property(count)
    assert count.n > 0
    outcomes = count.outcomes
    assert outcomes["result"] > 0 and outcomes["usage error"] > 0, outcomes
    reliability.record(
        "fuzz",
        target="%%gemini option line",
        examples=count.n,
        property="a result or a one-line UsageError (PromptError for -a of an unknown name)",
    )


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.text(max_size=10),
            st.sampled_from(
                [
                    "{",
                    "}",
                    "{{",
                    "}}",
                    "{x}",
                    "{name.upper}",
                    "{items[1]}",
                    "{items[9]}",
                    "{table[0]}",
                    "{In[1]}",
                    "{Out[1]}",
                    "{Out[7]}",
                    "{In[99]}",
                    "{nope}",
                    "{x.real.imag}",
                    "{x[0]}",
                    "{name.__class__}",
                    "{items[-1]}",
                    "{nothing.attr}",
                    "{_x}",
                    "{1x}",
                ]
            ),
        ),
        max_size=10,
    ).map("".join)
)
def prompt_template_on_any_cell_property(count: Count, cell: str) -> None:
    """Any cell body: a result, a one-line PromptError naming the placeholder, or (when nothing
    is left of it) the empty-cell UsageError."""
    count()
    m = magics(count)
    with watchdog():
        try:
            m.gemini_cell("", cell)
        except PromptError as exc:
            assert "\n" not in str(exc) and "{" in str(exc), str(exc)
        except UsageError as exc:
            assert str(exc) == "%%gemini: the cell is empty; write the prompt below %%gemini"


def test_prompt_template_on_any_cell(reliability: Any) -> None:
    count = Count()
    prompt_template_on_any_cell_property(count)
    assert count.n > 0
    reliability.record(
        "fuzz",
        target="%%gemini prompt template",
        examples=count.n,
        property="a result or a one-line PromptError / empty-cell UsageError",
    )
