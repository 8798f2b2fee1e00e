"""Markdown as a terminal shows it: emphasis in bold or italics (plain on a pipe), headings
bold, bullets as •, links as ``text (url)``, code blocks as they are. Line by line, since a
marker can only be read once its line is complete."""

from __future__ import annotations

import re

__all__ = ["MarkdownLines"]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\(([^)\s]+)\)")


class MarkdownLines:
    """Turns streamed Markdown into terminal text: `feed` returns what is ready to print."""

    def __init__(self, *, tty: bool) -> None:
        self._bold, self._italic, self._reset = (
            ("\x1b[1m", "\x1b[3m", "\x1b[0m") if tty else ("", "", "")
        )
        self._pending = ""
        self._in_code = False

    def feed(self, text: str) -> str:
        """The complete lines so far, formatted; the open line waits for its end."""
        self._pending += text
        done, newline, self._pending = self._pending.rpartition("\n")
        if not newline:
            self._pending = done + self._pending
            return ""
        return "".join(self._line(line) + "\n" for line in done.split("\n"))

    def flush(self) -> str:
        """The open line (the answer ended or stopped)."""
        rest, self._pending = self._pending, ""
        return self._line(rest) if rest else ""

    def _line(self, line: str) -> str:
        if _FENCE.match(line):
            self._in_code = not self._in_code
            return line
        if self._in_code:
            return line
        heading = _HEADING.match(line)
        if heading:
            return f"{self._bold}{self._inline(heading.group(2))}{self._reset}"
        line = _BULLET.sub(r"\1• ", line)
        return self._inline(line)

    def _inline(self, text: str) -> str:
        spans: list[str] = []

        def keep(match: re.Match[str]) -> str:  # code spans are left alone
            spans.append(match.group(1))
            return f"\x00{len(spans) - 1}\x00"

        text = _CODE.sub(keep, text)
        text = _LINK.sub(r"\1 (\2)", text)
        text = _STRONG.sub(lambda m: f"{self._bold}{m.group(2)}{self._reset}", text)
        text = _EMPHASIS.sub(lambda m: f"{self._italic}{m.group(2)}{self._reset}", text)
        return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text)
