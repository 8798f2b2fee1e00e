"""The progress bar of a batch: rows done and failed, tokens and the estimated cost."""

from __future__ import annotations

from typing import Any

from ._runner import BatchProgress

__all__ = ["ProgressBar"]


class ProgressBar:
    """A `tqdm.auto` bar (a widget in notebooks, text in a terminal): rows done and failed,
    tokens, estimated cost when the model's price is known, and tqdm's own ETA."""

    def __init__(self, total: int, model: str, enabled: bool, *, offline: bool = False) -> None:
        self.bar: Any = None
        if not enabled or total == 0:
            return
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        from ..log._prices import price_for

        self.price = price_for(model, offline=offline)  # the offline gateway's answers are free
        self.bar = tqdm(total=total, unit="row", desc=f"{model}", mininterval=0.2)

    def update(self, progress: BatchProgress) -> None:
        if self.bar is None:
            return
        finished = progress.done + progress.failed
        self.bar.update(finished - self.bar.n)
        postfix: dict[str, Any] = {"failed": progress.failed, "tokens": f"{progress.tokens:,}"}
        if self.price is not None:
            from ..log._prices import cost

            dollars = cost(
                self.price,
                input_tokens=progress.input_tokens,
                output_tokens=progress.output_tokens,
            )
            if dollars is not None:
                postfix["cost"] = f"${dollars:.4f}"
        self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
