"""One ``%%gemini`` cell's request, built once from its options whatever the mode.

Every option is read here, before the cell chooses how to answer (streamed, ``--no-stream``,
``--schema``, ``--each``, ``-c``), so each mode sends the same chat options, notebook context,
attachments and tools. A combination that cannot mean anything is refused here with one line
naming both options, before anything is sent (`COMBINATIONS`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import GeminiError
from ._options import (
    PLACEHOLDER,
    PromptError,
    interpolate,
    request_options,
    resolve_placeholder,
)

if TYPE_CHECKING:
    from ._session import Session

__all__ = [
    "COMBINATIONS",
    "AnswerError",
    "AnswerInterrupted",
    "CellRequest",
    "build_request",
    "each_template",
    "message_content",
    "notebook_variable",
    "template_columns",
]


class AnswerError(GeminiError, ValueError):
    """The answer is not what the options asked for (not JSON under ``--json``)."""


class AnswerInterrupted(KeyboardInterrupt):
    """Ctrl-C / Stop during an answer: still a KeyboardInterrupt, so the cell fails and the
    kernel drops the cells queued behind it, but shown as one line, not a traceback wall."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mKeyboardInterrupt\x1b[0m: {self}"]


# (first option, its argparse name, second option, its name, why they do not go together):
# documented in README.md ("Answers as data"); each is a one-line UsageError, nothing sent.
COMBINATIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("--json", "json", "--schema", "schema", "the schema already sets the answer's format"),
    ("-n", "n", "--schema", "schema", "a schema answer is one answer"),
    ("-n", "n", "--each", "each", "each row gets one answer"),
    ("-c/--chat", "chat", "--each", "each", "rows are separate requests, not one conversation"),
    ("-f/--format", "format", "--schema", "schema", "a schema answer is shown as a table"),
    ("-f/--format", "format", "--each", "each", "the answers become a DataFrame"),
    ("-n", "n", "--cache", "cache", "the log keeps one answer, so several are never replayed"),
    ("--tools", "tools", "--cache", "cache", "the log keeps no tool calls to replay"),
    ("--mcp", "mcp", "--cache", "cache", "the log keeps no tool calls to replay"),
)

_EACH_ONLY = (("--max-rpm", "max_rpm"), ("--concurrency", "concurrency"))


def refuse_combinations(args: argparse.Namespace) -> None:
    """One line naming both options of the first combination that makes no sense."""
    for first, first_name, second, second_name, why in COMBINATIONS:
        if _given(args, first_name) and _given(args, second_name):
            raise UsageError(f"%%gemini: {first} and {second} do not go together ({why}).")
    for option, name in _EACH_ONLY:
        if _given(args, name) and args.each is None:
            raise UsageError(f"%%gemini {option}: it paces --each; add --each DF or leave it out.")
    if _given(args, "mcp_allow") and not _given(args, "mcp"):
        raise UsageError(
            "%%gemini --mcp-allow: it allows tools of --mcp servers; add --mcp SERVER."
        )


def _given(args: argparse.Namespace, name: str) -> bool:
    value = getattr(args, name, None)
    return value is not None and value is not False


@dataclass
class CellRequest:
    """What one cell asks, in every mode: the prompt (for ``--each``, the row template, braces of
    notebook values doubled), the ``-a`` objects, the chat options (model, sampling, thinking,
    json, tools, cache tags, image options), the system prompt, and the footer's context line."""

    args: argparse.Namespace
    prompt: str
    attachments: list[tuple[str, Any]]
    options: dict[str, Any]
    system: str | None
    context: str | None

    @property
    def mode(self) -> str:
        if self.args.each is not None:
            return "each"
        return "schema" if self.args.schema is not None else "answer"

    def content(self) -> Any:
        """The user message of a single answer: the prompt and a part per ``-a`` variable."""
        return message_content(self.prompt, self.attachments)


def build_request(
    session: Session, args: argparse.Namespace, cell: str, ns: dict[str, Any], cell_log: Any
) -> CellRequest:
    """Read every option of the cell (refusing what cannot go together) into one request."""
    refuse_combinations(args)
    options = request_options(args, session.config.thinking_style)
    if args.each is not None:
        data = notebook_variable(ns, args.each, "--each")
        prompt = each_template(cell, template_columns(data), ns)
    else:
        prompt = interpolate(cell, ns).strip()
    if not prompt:
        raise UsageError("%%gemini: the cell is empty; write the prompt below %%gemini")
    attachments = []
    for name in args.attach or ():
        if name not in ns:
            raise PromptError(f"-a/--attach: no variable {name!r} in the notebook.")
        attachments.append((name, ns[name]))
    from ._context import NotebookContext, context_count, notebook_tools

    if args.tools:
        options["tools"] = notebook_tools(args.tools, ns)
    if args.mcp:
        from ._mcp import cell_servers

        configured = session.settings().mcp_servers or {}
        servers = cell_servers(args.mcp, args.mcp_allow or (), configured)
        options["tools"] = [*options.get("tools", ()), *servers]
    count = context_count(args.context if args.context is not None else session.config.context)
    context = None
    if count is not False or args.vars:
        notebook = NotebookContext()
        secret = session.settings().api_key
        if count is not False:
            notebook.add_cells(cell_log, count, secret)
        if args.vars:
            notebook.add_variables(session.shell, secret)
        prompt = notebook.prompt(prompt, template=args.each is not None)
        context = notebook.footer()
    system = args.system if args.system is not None else (session.config.system or None)
    return CellRequest(args, prompt, attachments, options, system, context)


def message_content(prompt: str, attachments: Sequence[tuple[str, Any]]) -> Any:
    """`prompt`, or a text part and a part per attachment (errors name the ``-a`` variable)."""
    if not attachments:
        return prompt
    from ..attachments import AttachmentError, to_content_parts

    parts = [{"type": "text", "text": prompt}]
    for name, obj in attachments:
        try:
            parts.extend(to_content_parts([obj]))
        except AttachmentError as exc:
            raise AttachmentError(f"-a {name}: {exc}") from None
    return parts


def notebook_variable(ns: dict[str, Any], name: str, option: str) -> Any:
    """The notebook variable an option names; a `PromptError` naming the option if missing."""
    if name not in ns:
        raise PromptError(f"{option}: no variable {name!r} in the notebook.")
    return ns[name]


def template_columns(data: Any) -> list[str]:
    """The names a ``--each`` row offers its template (columns, dict keys, a Series' name)."""
    columns = getattr(data, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
        return sorted({str(k) for d in data for k in d})
    name = getattr(data, "name", None)
    return [str(name) if name is not None else "text"]


def each_template(cell: str, columns: list[str], ns: dict[str, Any]) -> str:
    """`cell` with notebook ``{name}``s filled (braces in their values doubled) and row
    placeholders (columns, ``{index}``) and literal ``{{``/``}}`` left for each row."""
    row_names = {*columns, "index"}

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}") or match.group(1) in row_names:
            return token
        if re.split(r"[.\[]", match.group(1), maxsplit=1)[0] not in ns:
            return token  # neither a column nor a variable: the row check names the columns
        value = str(resolve_placeholder(match.group(1), ns))
        return value.replace("{", "{{").replace("}", "}}")

    return PLACEHOLDER.sub(fill, cell).strip()
