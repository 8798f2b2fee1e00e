"""Thinking per model family (levels for Gemini 3, budgets for 2.5), per gateway, and revised on a 400."""

from __future__ import annotations

from typing import Any

import pytest

from ipygemini._errors import GeminiError, OptionError
from ipygemini.client._adapt import GatewayMemory, accepted_levels, auto_thinking_style
from ipygemini.client._request import build_chat_body, validate_options
from ipygemini.client._thinking import nearest_level, thinking_fields, uses_levels

MESSAGES = [{"role": "user", "content": "hi"}]
FLASH3 = "gemini-3-flash-preview"
PRO3 = "gemini-3-pro-preview"


def body(model: str = "gemini-2.5-flash", **options: Any) -> dict[str, Any]:
    return build_chat_body(MESSAGES, model=model, stream=False, **options)


def config(out: dict[str, Any]) -> dict[str, Any]:
    return dict(out["extra_body"]["google"]["thinking_config"])


@pytest.mark.parametrize(
    ("model", "levels"),
    [
        ("gemini-3-pro-preview", True),
        ("gemini-3.1-flash-image-preview", True),
        ("models/gemini-3-flash", True),
        ("google/gemini-3-pro-preview", True),
        ("gemini-2.5-flash", False),
        ("gemini-2.0-flash-exp", False),
        ("my-alias", False),
        ("", False),
    ],
)
def test_model_family(model: str, levels: bool) -> None:
    assert uses_levels(model) is levels


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        ("low", {"thinking_level": "low", "include_thoughts": True}),
        ("medium", {"thinking_level": "medium", "include_thoughts": True}),
        ("high", {"thinking_level": "high", "include_thoughts": True}),
        (1000, {"thinking_level": "low", "include_thoughts": True}),
        (8000, {"thinking_level": "medium", "include_thoughts": True}),
        (20000, {"thinking_level": "high", "include_thoughts": True}),
        (True, {"include_thoughts": True}),
        (-1, {"include_thoughts": True}),
        (False, {"thinking_level": "minimal", "include_thoughts": False}),
        (0, {"thinking_level": "minimal", "include_thoughts": False}),
    ],
)
def test_gemini_3_takes_levels_never_budgets(thinking: Any, expected: dict[str, Any]) -> None:
    out = body(FLASH3, thinking=thinking, thinking_style="google")
    assert config(out) == expected
    assert "thinking_budget" not in config(out)


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [("low", "low"), ("high", "high"), (True, "high"), (False, "none"), (5000, "medium")],
)
def test_gemini_3_reasoning_effort(thinking: Any, effort: str) -> None:
    assert (
        body(PRO3, thinking=thinking, thinking_style="reasoning_effort")["reasoning_effort"]
        == effort
    )


@pytest.mark.parametrize(
    ("thinking", "budget"), [("low", 1024), ("medium", 8192), ("high", 24576), (3000, 3000)]
)
def test_gemini_2_5_takes_budgets(thinking: Any, budget: int) -> None:
    assert config(body(thinking=thinking, thinking_style="google"))["thinking_budget"] == budget


def test_nearest_level() -> None:
    assert nearest_level("minimal", ["high", "low", "medium", "none"]) == "none"
    assert nearest_level("medium", ["low", "high"]) == "high"
    assert nearest_level("low", ["low", "high"]) == "low"
    assert nearest_level("none", ["low", "high"]) == "low"
    assert nearest_level("weird", ["low"]) is None
    assert nearest_level("low", []) is None


def test_accepted_levels_from_messages() -> None:
    message = "Invalid value for thinking_level: medium. Valid values are: high, low, medium, none"
    assert accepted_levels(message) == ("high", "low", "medium", "none")
    assert accepted_levels('thinking: Valid values are: ["LOW", "HIGH"].') == ("low", "high")
    assert accepted_levels("Invalid tool_choice: x. Valid values are: none, auto, required") == ()
    assert accepted_levels("THINKING_LEVEL_LOW; valid values are: THINKING_LEVEL_HIGH") == ("high",)
    assert accepted_levels('Unknown name "thinking"') == ()


@pytest.mark.parametrize("style", ["google", "reasoning_effort"])
def test_revise_rewrites_the_level_and_remembers_it(style: str) -> None:
    memory = GatewayMemory()
    first = body(PRO3, thinking="medium", thinking_style=style, gateway=memory)
    assert memory.revise(first, 400, "Invalid thinking_level. Valid values are: low, high") is True
    level = (
        first["reasoning_effort"]
        if style == "reasoning_effort"
        else config(first)["thinking_level"]
    )
    assert level == "high"
    assert (
        memory.revise(first, 400, "Invalid thinking_level. Valid values are: low, high") is False
    )  # nothing left to try
    later = body(PRO3, thinking="medium", thinking_style=style, gateway=memory)
    assert later == first  # used directly, without another 400
    other = body(FLASH3, thinking="medium", thinking_style=style, gateway=memory)
    level = (
        other["reasoning_effort"]
        if style == "reasoning_effort"
        else config(other)["thinking_level"]
    )
    assert level == "medium"  # remembered per model


def test_revise_ignores_other_400s_and_bodies_without_a_level() -> None:
    memory = GatewayMemory()
    plain = body(PRO3)
    assert memory.revise(plain, 400, "Invalid thinking_level. Valid values are: low, high") is False
    budget = body(thinking=2048, thinking_style="google")
    assert (
        memory.revise(budget, 400, "Invalid thinking_level. Valid values are: low, high") is False
    )
    leveled = body(PRO3, thinking="low", thinking_style="reasoning_effort")
    assert memory.revise(leveled, 500, "Invalid reasoning_effort. Valid values are: high") is False
    assert memory.revise(leveled, 400, "Invalid tool_choice. Valid values are: none, auto") is False
    assert memory.levels == {}


def test_unknown_field_400_still_drops_the_field() -> None:
    memory = GatewayMemory()
    out = build_chat_body(MESSAGES, model=PRO3, stream=True)
    assert memory.revise(out, 400, 'Unknown name "stream_options": Cannot find field.') is True
    assert "stream_options" not in out


# --- item 19: the thinking style when none was chosen ---------------------------------------


def test_auto_style_is_google_for_unknown_gateways_and_reasoning_effort_behind_litellm() -> None:
    assert auto_thinking_style(None) == "google"
    assert auto_thinking_style("litellm") == "reasoning_effort"
    memory = GatewayMemory()
    assert "extra_body" in body(thinking="low", gateway=memory)
    memory.observe({"x-litellm-version": "1.80.0", "content-type": "application/json"})
    assert memory.kind == "litellm"
    out = body(thinking="low", gateway=memory)
    assert out["reasoning_effort"] == "low" and "extra_body" not in out
    assert body(thinking="low")["extra_body"]  # no memory: the google form


def test_a_chosen_style_wins_over_the_gateway() -> None:
    memory = GatewayMemory()
    memory.observe({"X-LiteLLM-Call-Id": "1"})
    out = body(thinking="low", thinking_style="google", gateway=memory)
    assert "reasoning_effort" not in out and config(out)["thinking_budget"] == 1024


def test_thinking_fields_default_model_is_budget_based() -> None:
    assert thinking_fields("low", "google") == {
        "extra_body": {
            "google": {"thinking_config": {"thinking_budget": 1024, "include_thoughts": True}}
        }
    }


# --- OptionError ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"temperature": 3}, "temperature must be between 0 and 2"),
        ({"top_p": "x"}, "top_p must be a number from 0 to 1"),
        ({"max_tokens": 0}, "max_tokens must be >= 1"),
        ({"n": 1.5}, "n must be a whole number"),
        ({"stop": ["a"] * 5}, "stop takes at most 4"),
        ({"thinking": "max"}, "thinking must be True, False, 'low'"),
        ({"thinking": -5}, "thinking budget must be >= 0"),
        ({"thinking_style": "anthropic"}, "thinking_style must be one of"),
    ],
)
def test_bad_options_raise_option_error(options: dict[str, Any], words: str) -> None:
    with pytest.raises(OptionError) as info:
        validate_options(**options)
    assert isinstance(info.value, GeminiError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert words in message and "\n" not in message
    with pytest.raises(OptionError):
        body(**options)


def test_missing_model_or_messages_raise_option_error() -> None:
    with pytest.raises(OptionError, match="model"):
        build_chat_body(MESSAGES, model="", stream=False)
    with pytest.raises(OptionError, match="messages"):
        build_chat_body([], model="m", stream=False)


def test_none_style_is_valid() -> None:
    validate_options(thinking=True, thinking_style=None)
