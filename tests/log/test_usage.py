"""Usage tallies and totals with costs (never a guessed one)."""

from __future__ import annotations

import time

import pytest

from ipygemini.log._prices import billed_output
from ipygemini.log._usage import UsageTally, midnight, usage_rows


def test_tally_adds_by_model() -> None:
    tally = UsageTally()
    tally.add("gemini-2.5-flash", input_tokens=10, output_tokens=5, reasoning_tokens=2)
    tally.add("gemini-2.5-flash", input_tokens=1, output_tokens=None, cached_tokens=4)
    tally.add("my-local-model", input_tokens=3, output_tokens=3)
    assert tally.rows() == [
        {
            "model": "gemini-2.5-flash",
            "answers": 2,
            "input": 11,
            "output": 5,
            "reasoning": 2,
            "cached": 4,
            "offline": False,
        },
        {
            "model": "my-local-model",
            "answers": 1,
            "input": 3,
            "output": 3,
            "reasoning": 0,
            "cached": 0,
            "offline": False,
        },
    ]
    tally.clear()
    assert tally.rows() == []


def test_rows_carry_cost_only_where_the_price_is_known() -> None:
    tally = UsageTally()
    tally.add("gemini-2.5-flash", input_tokens=1_000_000, output_tokens=1_000_000)
    tally.add("my-local-model", input_tokens=3, output_tokens=3)
    flash, local = usage_rows(tally.rows())
    assert flash.cost == pytest.approx(2.80)
    assert local.cost is None and local.input == 3
    (custom,) = usage_rows(tally.rows()[1:], {"my-local-model": {"input": 1e6, "output": 0}})
    assert custom.cost == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("prompt", "completion", "total", "billed"),
    [(10, 5, 15, 5), (10, 5, 25, 15), (10, 5, None, 5), (None, 5, 40, 5), (10, None, 20, None)],
)
def test_thinking_left_out_of_completion_is_billed(
    prompt: int | None, completion: int | None, total: int | None, billed: int | None
) -> None:
    assert billed_output(prompt, completion, total) == billed


def test_midnight_is_the_start_of_the_local_day() -> None:
    noon = time.mktime((2026, 3, 14, 12, 30, 0, 0, 0, -1))
    assert midnight(noon) == time.mktime((2026, 3, 14, 0, 0, 0, 0, 0, -1))
