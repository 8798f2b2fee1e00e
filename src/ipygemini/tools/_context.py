"""The notebook as context: the cells run so far, a summary of the user's variables, and the
last error with the cell that raised it — with secrets kept out of all of it.

`CellLog` listens to IPython's ``post_run_cell`` event (installed by ``%load_ext``), so it sees
exactly what ran, in order, with its outcome; nothing is read back from the notebook file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._secrets import credential_shape, looks_secret, may_hold_secret, redact

__all__ = [
    "CellLog",
    "CellRecord",
    "ErrorRecord",
    "cells_context",
    "looks_secret",
    "mask",
    "variables_summary",
]

CONTEXT_BUDGET = 20_000
"""Characters of cells (or variables) sent at most; the oldest cells are dropped first."""
OUTPUT_CHARS = 500
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FILE = re.compile(r'"[^"\n]*[/\\]ipykernel_\d+[/\\]\d+\.py"')
_HIDDEN = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


@dataclass
class ErrorRecord:
    """An exception a cell raised: type, message, the traceback as plain text, and the cell."""

    type: str
    message: str
    traceback: str
    source: str
    execution_count: int | None


@dataclass
class CellRecord:
    execution_count: int | None
    source: str
    output: str | None
    error: str | None


class CellLog:
    """What ran in this kernel: every cell and its outcome, and the last error."""

    def __init__(self, limit: int = 1000) -> None:
        self.cells: list[CellRecord] = []
        self.last_error: ErrorRecord | None = None
        self.limit = limit

    def install(self, shell: Any) -> None:
        shell.events.register("post_run_cell", self.post_run_cell)

    def uninstall(self, shell: Any) -> None:
        try:
            shell.events.unregister("post_run_cell", self.post_run_cell)
        except ValueError:
            pass

    def post_run_cell(self, result: Any) -> None:
        info = getattr(result, "info", None)
        source = getattr(info, "raw_cell", None) or ""
        if not source.strip():
            return
        count = getattr(result, "execution_count", None)
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        value = getattr(result, "result", None)
        output = None if value is None else _short_repr(value, OUTPUT_CHARS)
        self.cells.append(
            CellRecord(count, source, output, f"{type(error).__name__}: {error}" if error else None)
        )
        del self.cells[: -self.limit]
        if error is not None:
            self.last_error = ErrorRecord(
                type=type(error).__name__,
                message=str(error),
                traceback=plain_traceback(error),
                source=source,
                execution_count=count,
            )


def plain_traceback(error: BaseException) -> str:
    """The traceback as text: only the user's frames, cells as ``<cell>`` (tools/_traceback)."""
    from ._traceback import user_traceback

    return user_traceback(error)


def mask(text: str, secret: str | None) -> str:
    """`text` with `secret` (the API key) replaced by ``…abcd`` (the one rule: _masking)."""
    from .._masking import mask_secret

    return mask_secret(text, secret)


def cells_context(
    cells: list[CellRecord],
    count: int | None,
    *,
    budget: int = CONTEXT_BUDGET,
    secret: str | None = None,
) -> tuple[str, int]:
    """The last `count` cells (all when None) as prompt text within `budget` characters, oldest
    dropped first (and said so); and how many cells it holds."""
    chosen = cells if count is None else cells[-count:] if count > 0 else []
    blocks: list[str] = []
    used = 0
    # Numbered in run order: execution counts differ between front ends and re-runs.
    last = len(cells)
    for offset, cell in enumerate(reversed(chosen)):
        block = f"# Cell {last - offset}\n{cell.source.rstrip()}"
        if cell.output:
            block += f"\n# Out: {cell.output}"
        if cell.error:
            block += f"\n# Error: {cell.error}"
        block = redact(mask(block, secret))
        if used + len(block) > budget and blocks:
            break
        blocks.append(block[:budget])
        used += len(block)
    dropped = len(chosen) - len(blocks)
    text = "\n\n".join(reversed(blocks))
    if dropped:
        text = (
            f"[{dropped} earlier cell(s) left out to stay within {budget:,} characters]\n\n" + text
        )
    return text, len(blocks)


def variables_summary(
    namespace: Mapping[str, Any], *, secret: str | None = None, budget: int = CONTEXT_BUDGET
) -> tuple[str, int]:
    """One line per user variable (type, shape, columns, a short repr); never the value of a
    name that looks secret, nor of a value that holds the API key or anything shaped like a
    credential (URL userinfo, ``Bearer …``, a known token prefix, a random-looking string; in
    a dict or list too), nor a description that shows one. Returns (text, count)."""
    lines: list[str] = []
    used = 0
    for name, value in namespace.items():
        if name.startswith("_") or name in _HIDDEN or type(value).__name__ == "module":
            continue
        withheld = f"{name}: {type(value).__name__} (value withheld: it may be a secret)"
        if looks_secret(name) or may_hold_secret(value, secret=secret):
            line = withheld
        else:
            line = f"{name}: {_describe(value)}"
            if credential_shape(line) or (secret and secret in line):
                line = withheld
        line = mask(line, secret)
        if used + len(line) > budget:
            lines.append(f"[more variables left out to stay within {budget:,} characters]")
            break
        lines.append(line)
        used += len(line) + 1
    count = sum(1 for line in lines if not line.startswith("["))
    return "\n".join(lines), count


def _describe(value: Any) -> str:
    kind = type(value).__name__
    module = type(value).__module__.split(".", 1)[0]
    if module == "pandas" and hasattr(value, "dtypes") and hasattr(value, "columns"):
        columns = ", ".join(f"{c} ({t})" for c, t in list(value.dtypes.items())[:30])
        more = f", … {len(value.columns) - 30} more" if len(value.columns) > 30 else ""
        return f"DataFrame {value.shape[0]}×{value.shape[1]}: {columns}{more}"
    if module == "pandas" and hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"Series len {len(value)} ({value.dtype}), name {getattr(value, 'name', None)!r}"
    if module == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"ndarray shape {tuple(value.shape)} {value.dtype}"
    if callable(value) and hasattr(value, "__name__"):
        try:
            import inspect

            return f"{'class' if isinstance(value, type) else 'function'} {value.__name__}{inspect.signature(value)}"
        except (TypeError, ValueError):
            return f"{kind} {value.__name__}"
    if isinstance(value, list | tuple | set | dict | frozenset):
        return f"{kind} of {len(value)}: {_short_repr(value, 80)}"
    return f"{kind} = {_short_repr(value, 80)}"


def _short_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the prompt
        text = f"<{type(value).__name__}: repr failed ({type(exc).__name__})>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def last_exception() -> BaseException | None:
    """The exception IPython showed last (``sys.last_value``), when no `CellLog` saw it."""
    return getattr(sys, "last_value", None)
