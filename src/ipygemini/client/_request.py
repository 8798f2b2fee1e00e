"""Build the JSON body of a chat-completions request from typed options, validating them first.

Pure functions: nothing here does I/O, so every parameter rule is a plain unit test.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "THINKING_STYLES",
    "ThinkingStyle",
    "build_chat_body",
    "merge_extra",
    "thinking_fields",
    "validate_options",
]

ThinkingStyle = Literal["google", "reasoning_effort", "enable_thinking", "openrouter"]
THINKING_STYLES: tuple[str, ...] = ("google", "reasoning_effort", "enable_thinking", "openrouter")
Thinking = bool | int | str | None

# Thinking levels as token budgets (Gemini 2.5 accepts 0..24576; -1 lets the model decide).
_LEVEL_BUDGET = {"low": 1024, "medium": 8192, "high": 24576}


def _check_range(name: str, value: Any, lo: float, hi: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number from {lo:g} to {hi:g}, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}; got {value!r}")


def _check_min_int(name: str, value: Any, lo: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number >= {lo}, not {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}; got {value!r}")


def validate_options(
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    frequency_penalty: float | None = None,
    presence_penalty: float | None = None,
    n: int | None = None,
    stop: str | Sequence[str] | None = None,
    thinking: Thinking = None,
    thinking_style: str = "google",
) -> None:
    """Raise ValueError naming the parameter and its allowed range before any request is sent."""
    _check_range("temperature", temperature, 0, 2)
    _check_range("top_p", top_p, 0, 1)
    _check_range("frequency_penalty", frequency_penalty, -2, 2)
    _check_range("presence_penalty", presence_penalty, -2, 2)
    _check_min_int("max_tokens", max_tokens, 1)
    _check_min_int("n", n, 1)
    if stop is not None and not isinstance(stop, str):
        if not all(isinstance(s, str) for s in stop):
            raise ValueError("stop must be a string or a list of strings")
        if len(stop) > 4:
            raise ValueError(f"stop takes at most 4 sequences; got {len(stop)}")
    if thinking_style not in THINKING_STYLES:
        raise ValueError(
            f"thinking_style must be one of {', '.join(THINKING_STYLES)}; got {thinking_style!r}"
        )
    if thinking is None or isinstance(thinking, bool):
        return
    if isinstance(thinking, str):
        if thinking not in _LEVEL_BUDGET:
            raise ValueError(
                f"thinking must be True, False, 'low', 'medium', 'high' or a token budget; got {thinking!r}"
            )
    elif isinstance(thinking, int):
        if thinking < -1:
            raise ValueError(f"thinking budget must be >= 0 (or -1 for dynamic); got {thinking}")
    else:
        raise ValueError(
            f"thinking must be True, False, 'low', 'medium', 'high' or a token budget; got {thinking!r}"
        )


def _level_of(thinking: bool | int | str) -> str:
    if isinstance(thinking, str):
        return thinking
    if thinking is True or thinking == -1:
        return "medium"
    assert isinstance(thinking, int)
    if thinking <= 1024:
        return "low"
    return "medium" if thinking <= 8192 else "high"


def thinking_fields(thinking: Thinking, style: str) -> dict[str, Any]:
    """The body fields that switch thinking on (or off) in the form a gateway understands."""
    if thinking is None:
        return {}
    off = thinking is False or thinking == 0
    if style == "google":
        if off:
            config: dict[str, Any] = {"thinking_budget": 0}
        elif thinking is True:
            config = {"thinking_budget": -1, "include_thoughts": True}
        elif isinstance(thinking, str):
            config = {"thinking_budget": _LEVEL_BUDGET[thinking], "include_thoughts": True}
        else:
            config = {"thinking_budget": int(thinking), "include_thoughts": True}
        return {"extra_body": {"google": {"thinking_config": config}}}
    if style == "reasoning_effort":
        return {"reasoning_effort": "none" if off else _level_of(thinking)}
    if style == "enable_thinking":
        fields: dict[str, Any] = {"enable_thinking": not off}
        if (
            not off
            and isinstance(thinking, int)
            and not isinstance(thinking, bool)
            and thinking > 0
        ):
            fields["thinking_budget"] = thinking
        return {"extra_body": fields}
    # openrouter
    if off:
        return {"reasoning": {"enabled": False}}
    if isinstance(thinking, int) and not isinstance(thinking, bool) and thinking > 0:
        return {"reasoning": {"max_tokens": thinking}}
    return {"reasoning": {"effort": _level_of(thinking)}}


def merge_extra(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` into `body` (dicts merge, everything else replaces)."""
    for key, value in extra.items():
        current = body.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merge_extra(current, value)
        else:
            body[key] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return body


def build_chat_body(
    messages: Iterable[Mapping[str, Any]],
    *,
    model: str,
    stream: bool,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    frequency_penalty: float | None = None,
    presence_penalty: float | None = None,
    stop: str | Sequence[str] | None = None,
    n: int | None = None,
    response_format: Mapping[str, Any] | None = None,
    thinking: Thinking = None,
    thinking_style: str = "google",
    include_usage: bool = True,
    extra_body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body for ``POST /chat/completions``. Options left as None are not sent."""
    validate_options(
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        frequency_penalty=frequency_penalty,
        presence_penalty=presence_penalty,
        n=n,
        stop=stop,
        thinking=thinking,
        thinking_style=thinking_style,
    )
    if not model:
        raise ValueError("model must be a model name such as 'gemini-2.5-flash'")
    body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages]}
    if not body["messages"]:
        raise ValueError("messages must not be empty")
    optional = {
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "frequency_penalty": frequency_penalty,
        "presence_penalty": presence_penalty,
        "n": n,
        "stop": stop if stop is None or isinstance(stop, str) else list(stop),
        "response_format": dict(response_format) if response_format is not None else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    merge_extra(body, thinking_fields(thinking, thinking_style))
    if extra_body:
        merge_extra(body, extra_body)
    return body
