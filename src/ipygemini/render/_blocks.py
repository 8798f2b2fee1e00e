"""`BlockSplitter`: cut streamed Markdown into finished blocks, incrementally (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["BlockSplitter", "SplitEvent", "tail_text"]

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")


@dataclass(frozen=True, slots=True)
class SplitEvent:
    """``start``: a block got its first visible character; ``done``: a block is finished."""

    kind: Literal["start", "done"]
    text: str = ""


_START = SplitEvent("start")


class BlockSplitter:
    """Split streamed Markdown into finished blocks, incrementally and chunk-independently.

    A block ends at a blank line followed by an unindented line (an indented one may continue a
    list item), before an unindented code fence or ATX heading, after a heading, and after a
    closing fence that opened the block. Blank lines inside fences and ``$$`` math never split.
    The events depend only on the text, never on how it was cut into chunks; each chunk costs
    time proportional to its length, however long the answer grows.
    """

    def __init__(self, *, split: bool = True) -> None:
        self.split = split
        self._lines: list[str] = []  # complete lines of the open block
        self._lines_chars = 0
        self._partial: list[str] = []  # pieces of the line being received
        self._partial_chars = 0
        self._started = False  # the open block has a visible character
        self._after_blank = False  # a blank line ended the last line of a started block
        self._fence: tuple[str, int] | None = None  # (char, length) while inside a fence
        self._fence_line = ""  # the line that opened the current fence
        self._fence_opened_block = False
        self._math = False  # inside a $$ … $$ display-math block

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, text: str) -> list[SplitEvent]:
        out: list[SplitEvent] = []
        pos = 0
        while True:
            nl = text.find("\n", pos)
            piece = text[pos:] if nl == -1 else text[pos:nl]
            if piece:
                self._add(piece, out)
            if nl == -1:
                return out
            self._end_line(out)
            pos = nl + 1

    def flush(self) -> list[SplitEvent]:
        """The end of the text (or an image in it): finish the open block."""
        out: list[SplitEvent] = []
        if self._partial:
            self._end_line(out)
        self._complete(out)
        self._fence = None
        self._fence_opened_block = False
        self._math = False
        return out

    def _add(self, piece: str, out: list[SplitEvent]) -> None:
        if (self._after_blank or not self._started) and not piece.isspace():
            first = self._partial[0][0] if self._partial else piece[0]
            if not self._started:
                self._started = True
                out.append(_START)
            elif first in " \t":
                self._after_blank = False  # an indented line continues the block
            elif self.split:
                self._complete(out)
                self._started = True
                out.append(_START)
            else:
                self._after_blank = False
        self._partial.append(piece)
        self._partial_chars += len(piece)

    def _end_line(self, out: list[SplitEvent]) -> None:
        line = "".join(self._partial)
        self._partial = []
        self._partial_chars = 0
        if self._fence is not None:
            self._append(line)
            char, length = self._fence
            stripped = line.strip()
            if len(stripped) >= length and stripped == char * len(stripped):
                self._fence = None
                if self._fence_opened_block and self.split:
                    self._complete(out)
            return
        if self._math:
            self._append(line)
            if line.strip() == "$$":
                self._math = False
            return
        if not line or line.isspace():
            if self._started:
                self._append(line)
                self._after_blank = True
            return
        fence = _FENCE.fullmatch(line)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            unindented = line[0] not in " \t"
            if unindented and self._lines and self.split:
                self._complete(out)
                self._started = True
                out.append(_START)
            self._fence = (fence.group(1)[0], len(fence.group(1)))
            self._fence_line = line
            self._fence_opened_block = unindented and not self._lines
            self._append(line)
            return
        stripped = line.strip()
        if stripped == "$$" or (stripped.startswith("$$") and stripped.count("$$") == 1):
            self._math = True
            self._append(line)
            return
        if self.split and _HEADING.match(line):
            if self._lines:
                self._complete(out)
                self._started = True
                out.append(_START)
            self._append(line)
            self._complete(out)
            return
        self._append(line)

    def _append(self, line: str) -> None:
        self._lines.append(line)
        self._lines_chars += len(line) + 1

    def _complete(self, out: list[SplitEvent]) -> None:
        lines = self._lines
        while lines and (not lines[-1] or lines[-1].isspace()):
            lines.pop()
        if lines:
            out.append(SplitEvent("done", "\n".join(lines)))
        self._lines = []
        self._lines_chars = 0
        self._started = False
        self._after_blank = False
        self._fence_opened_block = False

    # -- reading the open block ------------------------------------------------------------

    @property
    def tail_chars(self) -> int:
        """Length of the open block's text (O(1))."""
        return self._lines_chars + self._partial_chars

    @property
    def tail(self) -> str:
        """The open block's text so far."""
        head = "\n".join(self._lines) + "\n" if self._lines else ""
        return head + "".join(self._partial)

    def preview(self, max_chars: int) -> str:
        """The end of the open block, about `max_chars` long, still valid Markdown.

        Reads only the last `max_chars` characters, so a huge open block (a long code fence)
        costs the same to preview as a short one. A cut-off fence keeps its opening line.
        """
        if self.tail_chars <= max_chars:
            return self.tail
        if self._partial_chars >= max_chars:
            text = tail_text(self._partial, self._partial_chars, max_chars)
            kept: list[str] = []
        else:
            budget = max_chars - self._partial_chars
            kept = []
            for line in reversed(self._lines):
                if len(line) + 1 > budget:
                    break
                kept.append(line)
                budget -= len(line) + 1
            kept.reverse()
            text = "\n".join([*kept, "".join(self._partial)])
            if self._fence is None:
                text = "… " + text
        if self._fence is not None and (not kept or kept[0] != self._fence_line):
            return f"{self._fence_line}\n…\n{text.removeprefix('… ')}"
        return text


def tail_text(pieces: list[str], total: int, max_chars: int) -> str:
    """The last ~`max_chars` characters of ``"".join(pieces)``, touching only those pieces."""
    if total <= max_chars:
        return "".join(pieces)
    budget = max_chars
    parts: list[str] = []
    for piece in reversed(pieces):
        if len(piece) >= budget:
            parts.append(piece[len(piece) - budget :])
            break
        parts.append(piece)
        budget -= len(piece)
    text = "".join(reversed(parts))
    cut = text.find(" ")
    if 0 <= cut < 40:
        text = text[cut + 1 :]
    return "… " + text
