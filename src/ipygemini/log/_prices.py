"""What an answer cost: a dated table of Google's published Gemini prices, overridable per model.

A model that is not in the table has no price: usage then shows tokens and no cost, never a
guess. Prices are US dollars per million tokens on the paid tier, standard (not batch) rates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FREE",
    "PRICES",
    "PRICES_DATE",
    "Price",
    "answer_cost",
    "billed_output",
    "cost",
    "dollars",
    "price_for",
]

PRICES_DATE = "2025-12"
"""When the shipped table was read off Google's pricing page; override with ``prices=``."""


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens; `long_*` apply when a prompt exceeds `long_after` tokens."""

    input: float
    output: float
    cached_input: float | None = None
    long_after: int | None = None
    long_input: float | None = None
    long_output: float | None = None
    long_cached_input: float | None = None

    @classmethod
    def from_mapping(cls, model: str, value: Mapping[str, Any]) -> Price:
        try:
            return cls(**{k: v for k, v in value.items()})
        except TypeError as exc:
            raise ValueError(
                f"price for {model!r} must look like {{'input': 0.3, 'output': 2.5}} (dollars per "
                f"million tokens; optional cached_input, long_after, long_input, long_output): {exc}"
            ) from None


PRICES: dict[str, Price] = {
    "gemini-3-pro": Price(2.00, 12.00, 0.20, 200_000, 4.00, 18.00, 0.40),
    "gemini-3-flash": Price(0.50, 3.00, 0.05),
    "gemini-2.5-pro": Price(1.25, 10.00, 0.125, 200_000, 2.50, 15.00, 0.25),
    "gemini-2.5-flash": Price(0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": Price(0.10, 0.40, 0.01),
    "gemini-2.5-flash-image": Price(0.30, 30.00),
    "gemini-2.0-flash": Price(0.10, 0.40, 0.025),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
    "gemini-embedding-001": Price(0.15, 0.0),
}

FREE = Price(0.0, 0.0, 0.0)
"""The price of the built-in offline gateway's answers, whatever the model is called."""

_VERSION_SUFFIX = re.compile(r"-(?:preview|exp|latest|\d{3})(?:-[\w-]*)?$")


def _normalized(model: str) -> str:
    name = model.strip().lower().removeprefix("models/")
    return name.rsplit("/", 1)[-1]  # OpenRouter and LiteLLM say google/gemini-… or gemini/gemini-…


def price_for(
    model: str | None, overrides: Mapping[str, Any] | None = None, *, offline: bool = False
) -> Price | None:
    """The price of `model` (overrides first, then the table), allowing a preview/date/version
    suffix (``gemini-2.5-flash-preview-09-2025`` is priced as ``gemini-2.5-flash``); else None.
    `offline` (``Settings.offline``): the built-in offline gateway answers, for free."""
    if offline:
        return FREE
    if not model:
        return None
    table: dict[str, Price] = dict(PRICES)
    for name, value in (overrides or {}).items():
        table[_normalized(name)] = (
            value if isinstance(value, Price) else Price.from_mapping(name, value)
        )
    name = _normalized(model)
    while True:
        if name in table:
            return table[name]
        shorter = _VERSION_SUFFIX.sub("", name)
        if shorter == name:
            return None
        name = shorter


def cost(
    price: Price | None,
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_tokens: int | None = None,
) -> float | None:
    """Dollars for one answer, or None when the price or the token counts are unknown.

    Cached prompt tokens are part of `input_tokens` and billed at the cached rate; output
    tokens include thinking (billed as output, as Google does).
    """
    if price is None or input_tokens is None or output_tokens is None:
        return None
    long = price.long_after is not None and input_tokens > price.long_after
    rate_in = (price.long_input if long else None) or price.input
    rate_out = (price.long_output if long else None) or price.output
    cached = min(cached_tokens or 0, input_tokens)
    rate_cached = (price.long_cached_input if long else None) or price.cached_input
    if rate_cached is None:
        rate_cached = rate_in
    return (
        (input_tokens - cached) * rate_in + cached * rate_cached + output_tokens * rate_out
    ) / 1e6


def billed_output(prompt: int | None, completion: int | None, total: int | None) -> int | None:
    """Output tokens as billed, thinking included.

    Gateways disagree on whether ``completion_tokens`` includes thinking; when ``total_tokens``
    exceeds prompt + completion, the difference is thinking the completion count left out.
    """
    if completion is None:
        return None
    if prompt is not None and total is not None and total > prompt + completion:
        return total - prompt
    return completion


def answer_cost(
    model: str, usage: Any, prices: Mapping[str, Any] | None = None, *, offline: bool = False
) -> float | None:
    """Dollars for one answer's `usage` (an `ipygemini.Usage`), or None without a known price
    (or with an invalid override: a cost is never guessed); 0 for an `offline` answer."""
    try:
        price = price_for(model, prices, offline=offline)
    except ValueError:
        return None
    return cost(
        price,
        input_tokens=usage.prompt_tokens,
        output_tokens=billed_output(
            usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
        ),
        cached_tokens=usage.cached_tokens,
    )


def dollars(amount: float) -> str:
    """A cost as shown: ``$0.0123``, ``$1.50``, or ``<$0.0001`` for a fraction of a cent."""
    if amount >= 1:
        return f"${amount:,.2f}"
    if amount >= 0.0001:
        return f"${amount:.4f}"
    return "$0" if amount == 0 else "<$0.0001"
