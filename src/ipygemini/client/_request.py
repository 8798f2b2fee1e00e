"""Build the JSON body of a chat-completions request from typed options, validating them first.

Pure functions: nothing here does I/O, so every parameter rule is a plain unit test.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import OptionError
from ._thinking import (
    LEVEL_BUDGET,
    THINKING_STYLES,
    Thinking,
    ThinkingStyle,
    thinking_fields,
)

if TYPE_CHECKING:
    from ._adapt import GatewayMemory

__all__ = [
    "THINKING_STYLES",
    "Thinking",
    "ThinkingStyle",
    "build_chat_body",
    "merge_extra",
    "thinking_fields",
    "validate_options",
]

_THINKING_VALUES = "True, False, 'low', 'medium', 'high' or a token budget"


def _check_range(name: str, value: Any, lo: float, hi: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(f"{name} must be a number from {lo:g} to {hi:g}, not {value!r}")
    if not lo <= value <= hi:
        raise OptionError(f"{name} must be between {lo:g} and {hi:g}; got {value!r}")


def _check_min_int(name: str, value: Any, lo: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{name} must be a whole number >= {lo}, not {value!r}")
    if value < lo:
        raise OptionError(f"{name} must be >= {lo}; got {value!r}")


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
    thinking_style: str | None = None,
) -> None:
    """Raise `OptionError` (a ValueError) naming the option and its range before anything is sent.

    `thinking_style` None means "pick one per gateway" (see `GatewayMemory.thinking_style`).
    """
    _check_range("temperature", temperature, 0, 2)
    _check_range("top_p", top_p, 0, 1)
    _check_range("frequency_penalty", frequency_penalty, -2, 2)
    _check_range("presence_penalty", presence_penalty, -2, 2)
    _check_min_int("max_tokens", max_tokens, 1)
    _check_min_int("n", n, 1)
    if stop is not None and not isinstance(stop, str):
        if not all(isinstance(s, str) for s in stop):
            raise OptionError("stop must be a string or a list of strings (at most 4)")
        if len(stop) > 4:
            raise OptionError(f"stop takes at most 4 sequences; got {len(stop)}")
    if thinking_style is not None and thinking_style not in THINKING_STYLES:
        raise OptionError(
            f"thinking_style must be one of {', '.join(THINKING_STYLES)} (or None to pick per "
            f"gateway); got {thinking_style!r}"
        )
    if thinking is None or isinstance(thinking, bool):
        return
    if isinstance(thinking, str):
        if thinking not in LEVEL_BUDGET:
            raise OptionError(f"thinking must be {_THINKING_VALUES}; got {thinking!r}")
    elif isinstance(thinking, int):
        if thinking < -1:
            raise OptionError(f"thinking budget must be >= 0 (or -1 for dynamic); got {thinking}")
    else:
        raise OptionError(f"thinking must be {_THINKING_VALUES}; got {thinking!r}")


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
    thinking_style: str | None = None,
    include_usage: bool = True,
    extra_body: Mapping[str, Any] | None = None,
    gateway: GatewayMemory | None = None,
) -> dict[str, Any]:
    """The JSON body for ``POST /chat/completions``. Options left as None are not sent.

    Thinking is asked for per `model` (levels for Gemini 3, budgets for 2.5) in
    `thinking_style`; None lets `gateway` pick the style it understands, and what `gateway`
    learned (the levels a model accepts) is applied to the body last.
    """
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
        raise OptionError("model must be a model name such as 'gemini-2.5-flash'")
    body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages]}
    if not body["messages"]:
        raise OptionError("messages must not be empty")
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
    if thinking_style is None:
        from ._adapt import auto_thinking_style

        thinking_style = (
            gateway.thinking_style() if gateway is not None else auto_thinking_style(None)
        )
    merge_extra(body, thinking_fields(thinking, thinking_style, model))
    if extra_body:
        merge_extra(body, extra_body)
    if gateway is not None:
        gateway.prepare(body)
    return body
