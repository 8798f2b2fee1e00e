"""``%gemini fix``: send the last error (type, message, plain traceback) and the cell that
raised it, stream an explanation, and propose the corrected cell below (``--explain``: only
explain). The API key is masked in everything sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from ..tools._context import ErrorRecord

__all__ = ["fix_prompt", "fix_usage"]

fix_usage = "%gemini fix [--explain]: explain the last error and propose the corrected cell"

_ASK_FIX = (
    "A cell in my Jupyter notebook raised an error. Explain briefly what went wrong, then give "
    "the whole corrected cell as one fenced python code block."
)
_ASK_EXPLAIN = (
    "A cell in my Jupyter notebook raised an error. Explain what went wrong and how to fix it."
)


def fix_arguments(rest: list[str]) -> bool:
    """Whether only an explanation is wanted; a UsageError for anything else."""
    extra = [a for a in rest if a != "--explain"]
    if extra:
        raise UsageError(f"%gemini fix: unknown option {extra[0]!r}; usage: {fix_usage}")
    return "--explain" in rest


def fix_prompt(error: ErrorRecord, *, explain_only: bool, secret: str | None) -> str:
    """The request for `error`: the cell and the traceback, the key masked."""
    from ..tools._context import mask

    text = "\n\n".join(
        [
            _ASK_EXPLAIN if explain_only else _ASK_FIX,
            f"The cell:\n```python\n{error.source.rstrip()}\n```",
            f"The error: {error.type}: {error.message}",
            f"The traceback:\n```\n{error.traceback.rstrip()}\n```",
        ]
    )
    return mask(text, secret)


def corrected_cell(text: str) -> str | None:
    """The answer's last python (or unlabelled) code block: the corrected cell."""
    from ..render import code_blocks

    blocks = [code for language, code in code_blocks(text) if language in ("", "python", "py")]
    return blocks[-1].rstrip("\n") if blocks else None


def run_fix(magics: Any, rest: list[str]) -> Any:
    """The command, on `magics` (a `GeminiMagics`)."""
    explain_only = fix_arguments(rest)
    log = getattr(magics, "cell_log", None)
    error = log.last_error if log is not None else None
    if error is None:
        print("No error yet: %gemini fix explains the last exception a cell raised.")
        return None
    settings = magics.session.settings()
    prompt = fix_prompt(error, explain_only=explain_only, secret=settings.api_key)
    reply = magics._ask(
        [{"role": "user", "content": prompt}],
        {},
        fmt="markdown",
        stream=magics.session.config.stream,
        keep_result=True,
        output=None,
    )
    if not explain_only and reply.complete:
        code = corrected_cell(reply.text)
        if code:
            magics.ip.set_next_input(code, replace=False)
    return None
