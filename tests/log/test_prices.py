"""The price table: lookups by model name, costs with cached and long prompts, overrides."""

from __future__ import annotations

import pytest

from ipygemini.log._prices import PRICES, Price, cost, price_for


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemini-2.5-flash", "gemini-2.5-flash"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("google/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("gemini-3-pro-preview", "gemini-3-pro"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ],
)
def test_known_models_and_their_suffixes(model: str, expected: str) -> None:
    assert price_for(model) is PRICES[expected]


@pytest.mark.parametrize("model", ["gemini-9-ultra", "gpt-4o", "", None, "gemini-2.5-flashy"])
def test_unknown_models_have_no_price_and_no_cost(model: str | None) -> None:
    assert price_for(model) is None
    assert cost(price_for(model), input_tokens=10, output_tokens=10) is None


def test_cost_counts_cached_tokens_at_the_cached_rate() -> None:
    flash = PRICES["gemini-2.5-flash"]
    assert cost(flash, input_tokens=1_000_000, output_tokens=0) == pytest.approx(0.30)
    assert cost(flash, input_tokens=1_000_000, output_tokens=1_000_000) == pytest.approx(2.80)
    assert cost(
        flash, input_tokens=1_000_000, output_tokens=0, cached_tokens=500_000
    ) == pytest.approx(0.5 * 0.30 + 0.5 * 0.03)
    assert cost(flash, input_tokens=None, output_tokens=5) is None


def test_long_prompts_use_the_long_rates() -> None:
    pro = PRICES["gemini-2.5-pro"]
    assert cost(pro, input_tokens=200_000, output_tokens=0) == pytest.approx(0.25)
    assert cost(pro, input_tokens=300_000, output_tokens=100_000) == pytest.approx(0.75 + 1.5)


def test_overrides_win_and_bad_ones_say_what_to_write() -> None:
    mine = price_for("gemini-2.5-flash", {"gemini-2.5-flash": {"input": 1, "output": 2}})
    assert mine == Price(1, 2)
    assert price_for("my-model", {"my-model": Price(3, 4)}) == Price(3, 4)
    with pytest.raises(ValueError, match="dollars per million tokens"):
        price_for("x", {"x": {"inputs": 1}})


def test_offline_answers_are_free_whatever_the_model() -> None:
    from ipygemini._types import Usage
    from ipygemini.log._prices import FREE, answer_cost, price_for

    assert price_for("gemini-2.5-pro", offline=True) is FREE
    assert price_for("gemini-2.5-pro") is not FREE
    assert answer_cost("gemini-2.5-pro", Usage(1000, 1000, 2000), offline=True) == 0
    assert answer_cost("gemini-2.5-pro", Usage(1000, 1000, 2000)) > 0  # type: ignore[operator]
