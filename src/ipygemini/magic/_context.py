"""What ``%%gemini --context N|all``, ``--vars`` and ``--tools`` add to a cell's request: the
last cells run, a summary of the user's variables (secrets withheld, the key masked) and the
notebook functions the model may call; and the footer's line saying what was sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from ..tools._context import CellLog

__all__ = ["NotebookContext", "context_count", "notebook_tools"]


def context_count(value: str | None) -> int | bool | None:
    """``--context`` / ``Gemini.context`` as a cell count: N, None for all, False for none."""
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("", "0", "none", "off"):
        return False
    if text == "all":
        return None
    if text.isdigit():
        return int(text)
    raise UsageError(f"%%gemini --context: give a number of cells or 'all'; got {value!r}")


class NotebookContext:
    """The context text of one cell's request, and how it is described in the footer."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.described: list[str] = []

    def add_cells(self, log: CellLog | None, count: int | None, secret: str | None) -> None:
        from ..tools._context import cells_context

        text, held = cells_context(log.cells if log is not None else [], count, secret=secret)
        self.described.append(f"{held} cell{'s' if held != 1 else ''}")
        if text:
            self.blocks.append(f"Cells run so far in my notebook (oldest first):\n\n{text}")

    def add_variables(self, shell: Any, secret: str | None) -> None:
        from ..tools._context import variables_summary

        text, count = variables_summary(user_namespace(shell), secret=secret)
        self.described.append(f"{count} variable{'s' if count != 1 else ''}")
        if text:
            self.blocks.append(f"Variables in my notebook:\n{text}")

    def prompt(self, prompt: str, *, template: bool = False) -> str:
        """`prompt` with the context before it; for a ``--each`` row `template`, the context's
        braces are doubled so that only the cell's own placeholders are filled per row."""
        if not self.blocks:
            return prompt
        blocks = self.blocks
        if template:
            blocks = [b.replace("{", "{{").replace("}", "}}") for b in blocks]
        return "\n\n".join([*blocks, f"My request:\n{prompt}"])

    def footer(self) -> str | None:
        return f"context: {', '.join(self.described)}" if self.described else None


def user_namespace(shell: Any) -> dict[str, Any]:
    """The user's own names: IPython's start-up names (``user_ns_hidden``) left out."""
    hidden = getattr(shell, "user_ns_hidden", {})
    return {k: v for k, v in shell.user_ns.items() if k not in hidden}


def notebook_tools(names: Sequence[str], namespace: dict[str, Any]) -> list[Callable[..., Any]]:
    """The functions ``--tools`` names, from the notebook; a UsageError for anything else."""
    found = []
    for name in names:
        value = namespace.get(name)
        if value is None:
            raise UsageError(f"%%gemini --tools: no function {name!r} in the notebook.")
        if not callable(value):
            raise UsageError(
                f"%%gemini --tools: {name!r} is a {type(value).__name__}, not a function."
            )
        found.append(value)
    return found
