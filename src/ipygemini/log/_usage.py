"""Tokens and cost by model: this session's tally, and the log's totals for today and all time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._prices import billed_output, cost, price_for

if TYPE_CHECKING:
    from .._types import Reply

__all__ = ["SESSION", "UsageRow", "UsageTally", "midnight", "usage_rows"]


@dataclass
class UsageRow:
    """Totals for one model; `cost` is None when the model has no known price, and 0 for the
    offline gateway's answers (`offline`), which are free whatever the model is called."""

    model: str
    answers: int = 0
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cached: int = 0
    cost: float | None = None
    offline: bool = False


class UsageTally:
    """Tokens per model since this process started (answers replayed from the cache add none;
    the offline gateway's are kept apart, as free)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, bool], UsageRow] = {}

    def add(
        self,
        model: str,
        *,
        input_tokens: int | None,
        output_tokens: int | None,
        reasoning_tokens: int | None = None,
        cached_tokens: int | None = None,
        answered: bool = True,
        offline: bool = False,
    ) -> None:
        """Add one request's tokens; `answered=False` (a failure that still reported usage)
        adds its tokens but no answer."""
        with self._lock:
            row = self._rows.setdefault((model, offline), UsageRow(model, offline=offline))
            row.answers += int(answered)
            row.input += input_tokens or 0
            row.output += output_tokens or 0
            row.reasoning += reasoning_tokens or 0
            row.cached += cached_tokens or 0

    def add_reply(self, model: str, reply: Reply, *, offline: bool = False) -> None:
        """Add what `reply` cost, as the log counts it: nothing for a replay from the cache,
        nothing for an exchange that neither answered nor reported usage, output tokens as
        billed (thinking included)."""
        from ._exchange import answered

        usage = reply.usage
        if reply.cached or (usage is None and not answered(reply)):
            return
        self.add(
            reply.model or model,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=(
                billed_output(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
                if usage
                else None
            ),
            reasoning_tokens=usage.reasoning_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
            answered=answered(reply),
            offline=offline,
        )

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
                    "offline": r.offline,
                }
                for r in sorted(self._rows.values(), key=lambda r: (r.model, r.offline))
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
    """`totals` (dicts with model, answers, input, output, reasoning, cached, and optionally
    offline) with their cost.

    A model with no known price gets ``cost=None``: tokens are shown, a cost is never guessed.
    The offline gateway's answers cost 0: they are canned and free.
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
            offline=bool(t.get("offline", False)),
        )
        if row.offline:
            row.cost = 0.0
            rows.append(row)
            continue
        row.cost = cost(
            price_for(row.model, prices),
            input_tokens=row.input,
            output_tokens=row.output,
            cached_tokens=row.cached,
        )
        rows.append(row)
    return rows
