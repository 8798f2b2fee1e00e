"""Tokens and cost by model: this session's tally, and the log's totals for today and all time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._prices import cost, price_for

__all__ = ["SESSION", "UsageRow", "UsageTally", "midnight", "usage_rows"]


@dataclass
class UsageRow:
    """Totals for one model; `cost` is None when the model has no known price."""

    model: str
    answers: int = 0
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cached: int = 0
    cost: float | None = None


class UsageTally:
    """Tokens per model since this process started (answers replayed from the cache add none)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, UsageRow] = {}

    def add(
        self,
        model: str,
        *,
        input_tokens: int | None,
        output_tokens: int | None,
        reasoning_tokens: int | None = None,
        cached_tokens: int | None = None,
    ) -> None:
        with self._lock:
            row = self._rows.setdefault(model, UsageRow(model))
            row.answers += 1
            row.input += input_tokens or 0
            row.output += output_tokens or 0
            row.reasoning += reasoning_tokens or 0
            row.cached += cached_tokens or 0

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "model": r.model,
                    "answers": r.answers,
                    "input": r.input,
                    "output": r.output,
                    "reasoning": r.reasoning,
                    "cached": r.cached,
                }
                for r in sorted(self._rows.values(), key=lambda r: r.model)
            ]

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


SESSION = UsageTally()
"""The process's tally, which every front end adds to."""


def midnight(now: float | None = None) -> float:
    """The Unix time at which today (local time) began."""
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def usage_rows(
    totals: Iterable[Mapping[str, Any]], prices: Mapping[str, Any] | None = None
) -> list[UsageRow]:
    """`totals` (dicts with model, answers, input, output, reasoning, cached) with their cost.

    A model with no known price gets ``cost=None``: tokens are shown, a cost is never guessed.
    """
    rows = []
    for t in totals:
        row = UsageRow(
            model=str(t["model"]),
            answers=int(t["answers"]),
            input=int(t["input"]),
            output=int(t["output"]),
            reasoning=int(t["reasoning"]),
            cached=int(t["cached"]),
        )
        row.cost = cost(
            price_for(row.model, prices),
            input_tokens=row.input,
            output_tokens=row.output,
            cached_tokens=row.cached,
        )
        rows.append(row)
    return rows
