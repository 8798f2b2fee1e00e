"""Fault and option names of the fake gateway, and parsers for the three ways to select them
(`push_fault`, an ``X-Fake-Fault`` header, ``[fake:...]`` in the prompt) into one `Directives`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "FAULTS",
    "IMAGE_SHAPES",
    "IMMEDIATE_FAULTS",
    "OPTIONS",
    "REASONING_SHAPES",
    "REDIRECT_CODES",
    "TOOL_FINISH_REASONS",
    "DirectiveError",
    "Directives",
    "check_combination",
    "check_options",
    "parse_spec",
    "strip_directives",
]

IMAGE_SHAPES = ("markdown", "images", "parts")
REASONING_SHAPES = (
    "reasoning_content",
    "reasoning",
    "thinking_blocks",
    "think_tags",
    "thought_tags",
)

FAULTS: dict[str, str] = {
    "rate_limit": "429 with a new-api JSON body (retry_after=S, retry_after_ms=N add headers)",
    "status": "an error status (code=N, default 500) with a new-api-style body",
    "model_not_found": "503 new-api 'No available channel for model X' (code model_not_found)",
    "array_error": "400 with Google's JSON-array error body",
    "empty_error": "an error status (code=N, default 429) with an empty body",
    "error_event": "HTTP 200 stream that sends a data: {error} event after after=K chunks "
    '(code=N or a string code, default "500")',
    "disconnect": "stream after=K chunks (default 3), then close the socket without ending the body",
    "reset": "close the connection without sending any response byte",
    "no_finish": "stream without any finish_reason (usage and [DONE] still sent)",
    "stall": "after after=K chunks send nothing for seconds=S, then continue",
    "keepalive": "interleave ': PING' comments and 'event: message' lines in the stream",
    "big_image": "reply with an image of about mb=N megabytes (default 4)",
    "slow": "shorthand for delay=0.05 between chunks",
    "no_usage": "omit the usage chunk",
    "index_bug": "embeddings: every item has index 0 (one-api bug)",
    "ignore_stream": "answer a streaming request with one JSON completion (no SSE)",
    "gzip_bomb": "HTTP 200 gzip body that inflates to mb=N megabytes (default 100) of spaces",
    "error_null": "a complete answer whose usage chunk (streamed) or completion object carries "
    '"error": null',
    "fewer_choices": "answer a request for n>1 choices with one choice (llama.cpp, LiteLLM)",
    "unclosed_image": "the answer contains ![chart](https://example.com/chart.png with no closing "
    "parenthesis, then a newline and more text",
    "paren_url": "the answer contains a Markdown image and a link whose URLs hold balanced "
    "parentheses",
    "unclosed_think": "the answer starts with <think> that is never closed",
    "bad_images": "images[] (delta/message) carry a text/html data URL, an empty one, invalid "
    "base64 and one valid PNG",
    "litellm": "act like a LiteLLM proxy: x-litellm-* response headers; a literal extra_body's "
    "keys become top-level keys (so extra_body.google is ignored); reasoning_effort turns thinking "
    "on",
    "length_thinking": "reasoning only, then finish_reason length with empty answer text and "
    "reasoning_tokens=N in usage (tokens=N, default 1000)",
    "redirect": "answer every request with a redirect (code=301/302/303/307/308, default 307) to "
    "location=URL (default: the same path under /moved on this gateway, which serves it normally "
    "and never redirects)",
    "silent_after_done": "send the whole stream and [DONE], then hold the body open for seconds=S "
    "(default 30) before ending it",
    "close_after_done": "send the whole stream and [DONE], then close the socket without the "
    "terminating zero-length chunk (llama.cpp)",
    "junk_after_done": "after [DONE] send a data: {error} event and a non-JSON data: line, then "
    "end the body (same_write=1: [DONE] and the junk in one socket write)",
    "no_json_schema": "refuse response_format type json_schema with a 400 (json_object still "
    "works); FakeGateway(no_json_schema=True) does it for every request",
    "llama_cpp": "act like llama-cpp-python's server: HTTP 500 with a validation message for "
    "response_format json_schema and for an assistant turn whose content is null",
    "bad_json": "the first times=N (default 1) schema answers of this gateway that carry this "
    "fault leave out a required field (counted per gateway until clear())",
}

# Options that apply to any fault (or none) rather than to one fault:
#   fail_times=N  the faults of a chat request apply only the first N times its exact prompt
#                 (the last user message's text) is seen; later requests are answered normally
#   finish=...    finish_reason of an answer with tool calls: stop (Gemini gateways) or tool_calls

# Faults that replace the whole response with an error before anything else happens.
IMMEDIATE_FAULTS = (
    "reset",
    "rate_limit",
    "status",
    "model_not_found",
    "array_error",
    "empty_error",
    "gzip_bomb",
    "redirect",
)

REDIRECT_CODES = (301, 302, 303, 307, 308)
TOOL_FINISH_REASONS = ("stop", "tool_calls")
# Faults whose `code` option is an HTTP status (error_event also takes a string code).
STATUS_CODE_FAULTS = ("status", "empty_error", "redirect")


def _parse_number(name: str, value: object, what: str) -> float:
    if isinstance(value, bool):
        raise DirectiveError(f"{what}, not {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise DirectiveError(f"{what}, not {value!r}")


def _int_at_least(lo: int, hi: int | None = None) -> Callable[[str, object], object]:
    def check(name: str, value: object) -> object:
        what = f"{name} must be a whole number >= {lo}" + (f" and <= {hi}" if hi else "")
        number = _parse_number(name, value, what)
        if not number.is_integer() or number < lo or (hi is not None and number > hi):
            raise DirectiveError(f"{what}, not {value!r}")
        return int(number)

    return check


def _float_between(lo: float, hi: float) -> Callable[[str, object], object]:
    def check(name: str, value: object) -> object:
        what = f"{name} must be a number from {lo:g} to {hi:g}"
        number = _parse_number(name, value, what)
        if not lo <= number <= hi:
            raise DirectiveError(f"{what}, not {value!r}")
        return number

    return check


def _one_of(choices: tuple[str, ...]) -> Callable[[str, object], object]:
    def check(name: str, value: object) -> object:
        if value not in choices:
            raise DirectiveError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check


_CODE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _code(name: str, value: object) -> object:
    """An HTTP status (100..599), or a word such as ``rate_limit_exceeded`` (error_event only)."""
    if isinstance(value, str) and _CODE_WORD.fullmatch(value):
        return value
    return _int_at_least(100, 599)(name, value)


def _location(name: str, value: object) -> object:
    if (
        not isinstance(value, str)
        or not value.startswith(("http://", "https://", "/"))
        or any(c.isspace() for c in value)
    ):
        raise DirectiveError(f"{name} must be an http(s) URL or an absolute path, not {value!r}")
    return value


def _retry_after(name: str, value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float | str) or value == "":
        raise DirectiveError(f"{name} must be a number of seconds or an HTTP date, not {value!r}")
    return str(value)


OPTIONS: dict[str, Callable[[str, object], object]] = {
    "words": _int_at_least(0, 1_000_000),
    "chunk_chars": _int_at_least(1),
    "delay": _float_between(0, 60),
    "image_shape": _one_of(IMAGE_SHAPES),
    "reasoning_shape": _one_of(REASONING_SHAPES),
    "retry_after": _retry_after,
    "retry_after_ms": _int_at_least(0),
    "code": _code,
    "after": _int_at_least(0),
    "seconds": _float_between(0, 3600),
    "mb": _float_between(0.001, 256),
    "same_write": _int_at_least(0, 1),
    "location": _location,
    "tokens": _int_at_least(0, 10_000_000),
    "cached": _int_at_least(0, 10_000_000),
    "times": _int_at_least(0, 1_000_000),
    "fail_times": _int_at_least(0, 1_000_000),
    "finish": _one_of(TOOL_FINISH_REASONS),
}


class DirectiveError(ValueError):
    """A fault or option name or value the fake gateway does not know."""


def check_options(options: Mapping[str, object]) -> dict[str, object]:
    """Validated and converted options (string values from headers/prompts become numbers)."""
    checked: dict[str, object] = {}
    for key, value in options.items():
        check = OPTIONS.get(key)
        if check is None:
            raise DirectiveError(
                f"unknown FakeGateway option {key!r}; options are: {', '.join(OPTIONS)}"
            )
        checked[key] = check(key, value)
    return checked


def check_combination(faults: Iterable[str], options: Mapping[str, object]) -> None:
    """DirectiveError when an option's value does not fit a fault it is used with."""
    code = options.get("code")
    for name in faults:
        if name in STATUS_CODE_FAULTS and isinstance(code, str):
            raise DirectiveError(
                f"code must be a whole number from 100 to 599 for {name}, not {code!r}"
            )
        if name == "redirect" and code is not None and code not in REDIRECT_CODES:
            codes = ", ".join(map(str, REDIRECT_CODES))
            raise DirectiveError(f"code must be one of {codes} for redirect, not {code!r}")


def check_fault(name: str) -> str:
    """`name` if it is a known fault, else DirectiveError listing the known ones."""
    if name not in FAULTS:
        raise DirectiveError(f"unknown FakeGateway fault {name!r}; faults are: {', '.join(FAULTS)}")
    return name


def parse_spec(text: str) -> tuple[list[str], dict[str, object]]:
    """Fault names and options of ``"name k=v k=v"`` (several names allowed; commas also separate)."""
    names: list[str] = []
    options: dict[str, object] = {}
    for token in re.split(r"[\s,]+", text.strip()):
        if not token:
            continue
        key, eq, value = token.partition("=")
        if eq:
            options[key.strip()] = value.strip()
        else:
            names.append(check_fault(token))
    checked = check_options(options)
    check_combination(names, checked)
    return names, checked


_DIRECTIVE = re.compile(r"\[fake:([^\]]*)\]", re.IGNORECASE)


def strip_directives(text: str) -> tuple[str, list[str], dict[str, object]]:
    """`text` without its ``[fake:...]`` directives, plus the faults and options they name."""
    names: list[str] = []
    options: dict[str, object] = {}
    for match in _DIRECTIVE.finditer(text):
        found_names, found_options = parse_spec(match.group(1))
        names.extend(found_names)
        options.update(found_options)
    return _DIRECTIVE.sub(" ", text), names, options


@dataclass
class Directives:
    """The faults and options that apply to one request (later sources override earlier options)."""

    faults: list[str] = field(default_factory=list)
    options: dict[str, object] = field(default_factory=dict)

    def add(self, names: Iterable[str], options: Mapping[str, object]) -> None:
        for name in names:
            if name not in self.faults:
                self.faults.append(name)
        self.options.update(options)

    def has(self, name: str) -> bool:
        return name in self.faults

    def get_int(self, name: str, default: int) -> int:
        value = self.options.get(name, default)
        return value if isinstance(value, int) else default

    def get_float(self, name: str, default: float) -> float:
        value = self.options.get(name, default)
        return float(value) if isinstance(value, int | float) else default

    def get_str(self, name: str, default: str) -> str:
        value = self.options.get(name, default)
        return value if isinstance(value, str) else default

    def immediate_fault(self) -> str | None:
        """The first fault (in the order given) that replaces the response with an error."""
        for name in self.faults:
            if name in IMMEDIATE_FAULTS:
                return name
        return None
