"""``%gemini fix``: send the last error (type, message, the user's frames of its traceback) and
the cell that raised it, stream an explanation, and propose the corrected cell below
(``--explain``: only explain). It takes the cell magic's request options (``-m``, ``-s``, ``-t``,
``--top-p``, ``--max-tokens``, ``--stop``, ``--thinking``, ``--no-stream``, ``--cache``,
``--refresh``) from the same option table; the others are refused by name. The API key is
masked in everything sent."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._options import build_parser, request_options

if TYPE_CHECKING:
    from ..tools._context import ErrorRecord

__all__ = ["FixRequest", "fix_arguments", "fix_prompt", "fix_usage"]

fix_usage = (
    "%gemini fix [--explain] [-m MODEL] [-s SYSTEM] [-t T] [--top-p P] [--max-tokens N] "
    "[--stop TEXT] [--thinking LEVEL] [--no-stream] [--cache] [--refresh]: explain the last "
    "error and propose the corrected cell"
)
REFUSED = {
    "n": "-n (fix proposes one cell)",
    "json": "--json",
    "output": "-o/--output",
    "chat": "-c/--chat",
    "attach": "-a/--attach",
    "format": "-f/--format",
    "tools": "--tools",
    "context": "--context",
    "vars": "--vars",
    "schema": "--schema",
    "each": "--each",
    "max_rpm": "--max-rpm",
    "concurrency": "--concurrency",
    "aspect_ratio": "--aspect-ratio",
    "image_size": "--image-size",
}
"""Cell options that say nothing about asking for a fix: refused by name, never dropped."""

_ASK_FIX = (
    "A cell in my Jupyter notebook raised an error. Explain briefly what went wrong, then give "
    "the whole corrected cell as one fenced python code block."
)
_ASK_EXPLAIN = (
    "A cell in my Jupyter notebook raised an error. Explain what went wrong and how to fix it."
)


class FixRequest:
    """What ``%gemini fix ...`` asked for: only an explanation or not, and the request options
    the cell magic's option table gives them."""

    def __init__(self, explain_only: bool, args: argparse.Namespace, options: dict[str, Any]):
        self.explain_only = explain_only
        self.args = args
        self.options = options


def fix_arguments(rest: list[str], thinking_style: str | None = None) -> FixRequest:
    """`rest` read with the cell magic's parser: a one-line UsageError names what fix cannot
    take (an unknown option, or a cell option that does not apply to a fix)."""
    parser = build_parser()
    argv = [a for a in rest if a != "--explain"]
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        raise UsageError(f"%gemini fix: {exc}; usage: {fix_usage}") from None
    except UsageError as exc:
        message = str(exc).removeprefix("%%gemini: ").split(" (see %gemini --help)")[0]
        raise UsageError(f"%gemini fix: {message}; usage: {fix_usage}") from None
    defaults = parser.parse_args([])
    for dest, flag in REFUSED.items():
        if getattr(args, dest) != getattr(defaults, dest):
            raise UsageError(f"%gemini fix: {flag} does not apply to a fix; usage: {fix_usage}")
    if args.help:
        raise UsageError(f"usage: {fix_usage}")
    try:
        options = request_options(args, thinking_style)
    except UsageError as exc:
        raise UsageError(str(exc).replace("%%gemini", "%gemini fix", 1)) from None
    options.pop("conversation", None)
    options["source"] = "fix"
    return FixRequest("--explain" in rest, args, options)


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
    config = magics.session.config
    request = fix_arguments(rest, config.thinking_style)
    log = getattr(magics, "cell_log", None)
    error = log.last_error if log is not None else None
    if error is None:
        print("No error yet: %gemini fix explains the last exception a cell raised.")
        return None
    settings = magics.session.settings()
    prompt = fix_prompt(error, explain_only=request.explain_only, secret=settings.api_key)
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    system = request.args.system or config.system
    if system:
        messages.insert(0, {"role": "system", "content": system})
    reply = magics._ask(
        messages,
        request.options,
        fmt="markdown",
        stream=config.stream and not request.args.no_stream,
        keep_result=True,
        output=None,
    )
    if not request.explain_only and reply.complete:
        code = corrected_cell(reply.text)
        if code:
            from ..panel import offer_fix

            why = offer_fix(code, error.execution_count)
            if why is not None:  # today's fallback: the front end proposes the cell below
                magics.ip.set_next_input(code, replace=False)
                print(f"The corrected cell is proposed below (set_next_input): {why}.")
    return None
