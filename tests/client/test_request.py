"""build_chat_body, validate_options, thinking_fields, merge_extra."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ipygemini.client._request import (
    THINKING_STYLES,
    build_chat_body,
    merge_extra,
    thinking_fields,
    validate_options,
)

MSGS = [{"role": "user", "content": "hi"}]


def body(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("model", "gemini-2.5-flash")
    kwargs.setdefault("stream", False)
    return build_chat_body(MSGS, **kwargs)


def test_minimal_body() -> None:
    assert body() == {"model": "gemini-2.5-flash", "messages": MSGS}


def test_messages_are_copied() -> None:
    messages = [{"role": "user", "content": "hi"}]
    out = build_chat_body(iter(messages), model="m", stream=False)
    assert out["messages"] == messages and out["messages"][0] is not messages[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", 0),
        ("temperature", 2),
        ("temperature", 0.7),
        ("top_p", 0),
        ("top_p", 1),
        ("top_p", 0.95),
        ("max_tokens", 1),
        ("max_tokens", 8192),
        ("frequency_penalty", -2),
        ("frequency_penalty", 2.0),
        ("presence_penalty", -1.5),
        ("presence_penalty", 2),
        ("n", 1),
        ("n", 3),
        ("stop", "END"),
    ],
)
def test_each_parameter_is_sent_as_given(name: str, value: Any) -> None:
    assert body(**{name: value})[name] == value


def test_stop_list_becomes_a_list() -> None:
    assert body(stop=("a", "b"))["stop"] == ["a", "b"]
    assert body(stop=["a", "b", "c", "d"])["stop"] == ["a", "b", "c", "d"]


def test_none_options_are_not_sent() -> None:
    out = body(
        temperature=None,
        top_p=None,
        max_tokens=None,
        frequency_penalty=None,
        presence_penalty=None,
        stop=None,
        n=None,
        response_format=None,
        thinking=None,
    )
    assert set(out) == {"model", "messages"}


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("temperature", -0.1, "between 0 and 2"),
        ("temperature", 2.01, "between 0 and 2"),
        ("temperature", "hot", "from 0 to 2"),
        ("temperature", True, "from 0 to 2"),
        ("top_p", 1.5, "between 0 and 1"),
        ("top_p", -1, "between 0 and 1"),
        ("frequency_penalty", -2.5, "between -2 and 2"),
        ("frequency_penalty", 3, "between -2 and 2"),
        ("presence_penalty", 2.1, "between -2 and 2"),
        ("presence_penalty", "x", "from -2 to 2"),
        ("n", 0, ">= 1"),
        ("n", 1.0, ">= 1"),
        ("n", True, ">= 1"),
        ("max_tokens", 0, ">= 1"),
        ("max_tokens", -5, ">= 1"),
        ("max_tokens", "100", ">= 1"),
    ],
)
def test_range_errors_name_the_parameter_and_range(name: str, value: Any, words: str) -> None:
    with pytest.raises(ValueError) as info:
        body(**{name: value})
    message = str(info.value)
    assert message.startswith(name)
    assert words in message
    assert repr(value) in message


def test_validate_options_alone() -> None:
    validate_options()
    validate_options(temperature=1, top_p=0.5, n=2, stop=["x"], thinking="high")
    with pytest.raises(ValueError, match="top_p"):
        validate_options(top_p=2)


@pytest.mark.parametrize(
    ("stop", "words"),
    [(["a", 1], "string or a list of strings"), (["a"] * 5, "at most 4 sequences; got 5")],
)
def test_stop_errors(stop: Any, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        body(stop=stop)


def test_model_and_messages_are_required() -> None:
    with pytest.raises(ValueError, match="model"):
        body(model="")
    with pytest.raises(ValueError, match="messages must not be empty"):
        build_chat_body([], model="m", stream=False)


def test_stream_options() -> None:
    assert body(stream=True)["stream"] is True
    assert body(stream=True)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in body(stream=True, include_usage=False)
    out = body(stream=False, include_usage=True)
    assert "stream" not in out and "stream_options" not in out


def test_json_response_format() -> None:
    fmt = {"type": "json_object"}
    out = body(response_format=fmt)
    assert out["response_format"] == {"type": "json_object"}
    assert out["response_format"] is not fmt
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert body(response_format=schema)["response_format"] == schema


# --- thinking -------------------------------------------------------------------------------

THINKING_VALUES: list[Any] = [True, False, "low", "medium", "high", 2048]


def google(config: dict[str, Any]) -> dict[str, Any]:
    return {"extra_body": {"google": {"thinking_config": config}}}


EXPECTED: dict[str, list[dict[str, Any]]] = {
    "google": [
        google({"thinking_budget": -1, "include_thoughts": True}),
        google({"thinking_budget": 0}),
        google({"thinking_budget": 1024, "include_thoughts": True}),
        google({"thinking_budget": 8192, "include_thoughts": True}),
        google({"thinking_budget": 24576, "include_thoughts": True}),
        google({"thinking_budget": 2048, "include_thoughts": True}),
    ],
    "reasoning_effort": [
        {"reasoning_effort": "medium"},
        {"reasoning_effort": "none"},
        {"reasoning_effort": "low"},
        {"reasoning_effort": "medium"},
        {"reasoning_effort": "high"},
        {"reasoning_effort": "medium"},
    ],
    "enable_thinking": [
        {"extra_body": {"enable_thinking": True}},
        {"extra_body": {"enable_thinking": False}},
        {"extra_body": {"enable_thinking": True}},
        {"extra_body": {"enable_thinking": True}},
        {"extra_body": {"enable_thinking": True}},
        {"extra_body": {"enable_thinking": True, "thinking_budget": 2048}},
    ],
    "openrouter": [
        {"reasoning": {"effort": "medium"}},
        {"reasoning": {"enabled": False}},
        {"reasoning": {"effort": "low"}},
        {"reasoning": {"effort": "medium"}},
        {"reasoning": {"effort": "high"}},
        {"reasoning": {"max_tokens": 2048}},
    ],
}


def test_every_style_is_covered() -> None:
    assert set(EXPECTED) == set(THINKING_STYLES)


@pytest.mark.parametrize("style", THINKING_STYLES)
@pytest.mark.parametrize("position", range(len(THINKING_VALUES)))
def test_thinking_style_by_value(style: str, position: int) -> None:
    value = THINKING_VALUES[position]
    expected = EXPECTED[style][position]
    assert thinking_fields(value, style) == expected
    out = body(thinking=value, thinking_style=style)
    assert {k: v for k, v in out.items() if k not in ("model", "messages")} == expected


@pytest.mark.parametrize("style", THINKING_STYLES)
def test_thinking_none_sends_nothing(style: str) -> None:
    assert thinking_fields(None, style) == {}
    assert set(body(thinking_style=style)) == {"model", "messages"}


@pytest.mark.parametrize(
    ("value", "style", "expected"),
    [
        (0, "google", google({"thinking_budget": 0})),
        (0, "reasoning_effort", {"reasoning_effort": "none"}),
        (0, "openrouter", {"reasoning": {"enabled": False}}),
        (-1, "google", google({"thinking_budget": -1, "include_thoughts": True})),
        (-1, "reasoning_effort", {"reasoning_effort": "medium"}),
        (-1, "enable_thinking", {"extra_body": {"enable_thinking": True}}),
        (1024, "reasoning_effort", {"reasoning_effort": "low"}),
        (8193, "reasoning_effort", {"reasoning_effort": "high"}),
        (100_000, "openrouter", {"reasoning": {"max_tokens": 100_000}}),
    ],
)
def test_thinking_budget_edges(value: int, style: str, expected: dict[str, Any]) -> None:
    assert thinking_fields(value, style) == expected


@pytest.mark.parametrize("value", ["max", "LOW", -2, 1.5, [1], {"x": 1}])
def test_bad_thinking_values(value: Any) -> None:
    with pytest.raises(ValueError, match="thinking"):
        body(thinking=value)


def test_bad_thinking_style_lists_the_choices() -> None:
    with pytest.raises(ValueError) as info:
        body(thinking=True, thinking_style="anthropic")
    message = str(info.value)
    assert "thinking_style" in message and "'anthropic'" in message
    for style in THINKING_STYLES:
        assert style in message


def test_thinking_merges_with_extra_body() -> None:
    extra = {"extra_body": {"google": {"image_config": {"aspect_ratio": "16:9"}}}, "seed": 7}
    out = body(thinking="low", extra_body=extra)
    assert out["extra_body"]["google"] == {
        "thinking_config": {"thinking_budget": 1024, "include_thoughts": True},
        "image_config": {"aspect_ratio": "16:9"},
    }
    assert out["seed"] == 7
    # the caller's mapping is not changed, nor shared
    out["extra_body"]["google"]["image_config"]["aspect_ratio"] = "1:1"
    assert extra["extra_body"]["google"]["image_config"]["aspect_ratio"] == "16:9"


def test_extra_body_wins_over_options() -> None:
    out = body(temperature=0.5, extra_body={"temperature": 1.0, "stream_options": None})
    assert out["temperature"] == 1.0 and out["stream_options"] is None


def test_merge_extra() -> None:
    target: dict[str, Any] = {"a": {"b": 1, "c": [1]}, "d": 1}
    source = {"a": {"c": [2], "e": {"f": 1}}, "d": {"g": 1}}
    assert merge_extra(target, source) is target
    assert target == {"a": {"b": 1, "c": [2], "e": {"f": 1}}, "d": {"g": 1}}
    source["a"]["e"]["f"] = 99  # type: ignore[index]
    source["a"]["c"].append(3)  # type: ignore[attr-defined]
    assert target["a"]["e"] == {"f": 1} and target["a"]["c"] == [2]
