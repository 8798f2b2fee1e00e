"""`TerminalStream`: an answer as plain text on a terminal (IPython without a kernel)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._bundles import Bundle, image_bundle
from ._terminal_markdown import MarkdownLines

if TYPE_CHECKING:
    from typing import TextIO

    from .._types import Choice, Event

__all__ = ["TerminalStream"]


class TerminalStream:
    """The answer as plain text on a terminal (IPython without a kernel), as it arrives."""

    def __init__(self, out: TextIO, *, fmt: str = "markdown", show_text: bool = True) -> None:
        self.out = out
        self.fmt = fmt
        self.show_text = show_text  # False for --json: the parsed result is shown instead
        isatty = getattr(out, "isatty", None)
        tty = bool(isatty()) if callable(isatty) else False
        self._dim, self._reset = ("\x1b[2m", "\x1b[0m") if tty else ("", "")
        self._thinking = False
        self._at_line_start = True
        self._markdown = MarkdownLines(tty=tty) if fmt == "markdown" else None

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._at_line_start = text.endswith("\n")

    def feed(self, event: Event) -> None:
        if getattr(event, "index", 0) != 0:
            return
        if event.type == "reasoning":
            if not self._thinking:
                self._thinking = True
                self._write(f"{self._dim}[thinking] ")
            self._write(event.text)
        elif event.type == "text":
            self._end_thinking()
            if self.show_text:
                markdown = self._markdown
                self._write(markdown.feed(event.text) if markdown else event.text)
        elif event.type == "tool_call":
            self._end_text()
            self._end_thinking()
            prefix = "" if self._at_line_start else "\n"
            self._write(f"{prefix}{self._dim}[tool] {event.call.describe()}{self._reset}\n")
        elif event.type == "image":
            self._end_text()
            self._end_thinking()
            prefix = "" if self._at_line_start else "\n"
            self._write(f"{prefix}{image_bundle(event.image)['text/plain']}\n")

    def _end_text(self) -> None:
        """The open Markdown line, before something else is shown (or the end)."""
        if self._markdown is not None:
            self._write(self._markdown.flush())

    def _end_thinking(self) -> None:
        if self._thinking:
            self._thinking = False
            self._write(f"{self._reset}\n\n")

    def close(self) -> None:
        self._end_text()
        self._end_thinking()
        if not self._at_line_start:
            self._write("\n")

    def show(self, data: Bundle) -> None:
        self._write(f"{self._dim}{data.get('text/plain', '')}{self._reset}\n")

    def extra_choice(self, choice: Choice, number: int, total: int) -> None:
        self._write(f"\n— Answer {number} of {total} —\n{choice.text}\n")
        for image in choice.images:
            self._write(image_bundle(image)["text/plain"] + "\n")
