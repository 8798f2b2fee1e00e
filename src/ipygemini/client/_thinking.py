"""How a request asks for thinking: per gateway style and per model family (levels or budgets).

Gemini 3 models take thinking *levels*, validated per model (3 Flash rejected ``minimal``,
3 Pro rejected ``medium``); Gemini 2.5 models take token *budgets* (PROTOCOL.md §7.3).
Google's compatible endpoint maps ``reasoning_effort`` low/medium/high to 1K/8K/24K budgets on
2.5 and to the level of that name on 3, and ``none`` switches thinking off where a model
allows it. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

__all__ = [
    "LEVELS",
    "THINKING_STYLES",
    "Thinking",
    "ThinkingStyle",
    "find_level",
    "nearest_level",
    "thinking_fields",
    "uses_levels",
]

ThinkingStyle = Literal["google", "reasoning_effort", "enable_thinking", "openrouter"]
THINKING_STYLES: tuple[str, ...] = ("google", "reasoning_effort", "enable_thinking", "openrouter")
Thinking = bool | int | str | None

LEVELS = ("none", "minimal", "low", "medium", "high")
"""Every thinking level a gateway may name, from least to most thinking."""

# Thinking levels as token budgets (Gemini 2.5 accepts 0..24576; -1 lets the model decide).
LEVEL_BUDGET = {"low": 1024, "medium": 8192, "high": 24576}

_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


def uses_levels(model: str) -> bool:
    """True for models that take thinking levels (Gemini 3 and later), whatever the prefix
    (``models/``, ``google/``, ``gemini/``...); unknown names take budgets."""
    match = _GEMINI_MAJOR.search(model.rsplit("/", 1)[-1].lower())
    return match is not None and int(match.group(1)) >= 3


def _level_of(thinking: bool | int | str) -> str:
    if isinstance(thinking, str):
        return thinking
    if thinking is True or thinking == -1:
        return "medium"
    assert isinstance(thinking, int)
    if thinking <= 1024:
        return "low"
    return "medium" if thinking <= 8192 else "high"


def _is_budget(thinking: Thinking) -> bool:
    return isinstance(thinking, int) and not isinstance(thinking, bool) and thinking > 0


def _google(thinking: Thinking, off: bool, levels: bool) -> dict[str, Any]:
    if levels:
        # Levels and budgets must not be mixed (Google answers 400); True and -1 leave the
        # level to the model. Gemini 3 Pro cannot switch thinking off: "minimal" is the least,
        # and a gateway that refuses it names what it takes (GatewayMemory.revise).
        if off:
            config: dict[str, Any] = {"thinking_level": "minimal", "include_thoughts": False}
        elif thinking is True or thinking == -1:
            config = {"include_thoughts": True}
        else:
            assert thinking is not None and not isinstance(thinking, bool)
            config = {"thinking_level": _level_of(thinking), "include_thoughts": True}
    elif off:
        config = {"thinking_budget": 0}
    elif thinking is True:
        config = {"thinking_budget": -1, "include_thoughts": True}
    elif isinstance(thinking, str):
        config = {"thinking_budget": LEVEL_BUDGET[thinking], "include_thoughts": True}
    else:
        assert isinstance(thinking, int)
        config = {"thinking_budget": int(thinking), "include_thoughts": True}
    return {"extra_body": {"google": {"thinking_config": config}}}


def thinking_fields(thinking: Thinking, style: str, model: str = "") -> dict[str, Any]:
    """The body fields that switch thinking on (or off) for `model` in the form a gateway
    understands. Budgets become levels for Gemini 3 models and levels become budgets for
    Gemini 2.5 ones (1K/8K/24K, Google's own mapping)."""
    if thinking is None:
        return {}
    off = thinking is False or thinking == 0
    levels = uses_levels(model)
    if style == "google":
        return _google(thinking, off, levels)
    if style == "reasoning_effort":
        if off:
            return {"reasoning_effort": "none"}
        if levels and (thinking is True or thinking == -1):
            return {"reasoning_effort": "high"}  # Gemini 3's own default level
        return {"reasoning_effort": _level_of(thinking)}
    if style == "enable_thinking":
        fields: dict[str, Any] = {"enable_thinking": not off}
        if not off and _is_budget(thinking):
            fields["thinking_budget"] = thinking
        return {"extra_body": fields}
    # openrouter: it maps effort and max_tokens to each model itself
    if off:
        return {"reasoning": {"enabled": False}}
    if _is_budget(thinking):
        return {"reasoning": {"max_tokens": thinking}}
    return {"reasoning": {"effort": _level_of(thinking)}}


def nearest_level(level: str, accepted: Iterable[str]) -> str | None:
    """The accepted level closest to `level`; a tie goes up from medium and above (more
    thinking, as asked) and down below it (less thinking, as asked)."""
    ranks = {name: rank for rank, name in enumerate(LEVELS)}
    want = ranks.get(level)
    options = [name for name in accepted if name in ranks]
    if want is None or not options:
        return None
    upward = want >= ranks["medium"]
    return min(
        options, key=lambda name: (abs(ranks[name] - want), -ranks[name] if upward else ranks[name])
    )


def find_level(body: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """Where `body` names a thinking level: (the dict holding it, its key), or None."""
    if isinstance(body.get("reasoning_effort"), str):
        return body, "reasoning_effort"
    holder: Any = body.get("extra_body")
    for key in ("google", "thinking_config"):
        holder = holder.get(key) if isinstance(holder, dict) else None
    if isinstance(holder, dict) and isinstance(holder.get("thinking_level"), str):
        return holder, "thinking_level"
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        return reasoning, "effort"
    return None
