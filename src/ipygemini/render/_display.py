"""`LiveMarkdown`: show a streamed answer in a notebook, live, cheaply and safely.

Finished Markdown blocks are shown once, as their own output; only the open block is
re-rendered, at most ~20 times a second. Every live display handle ends with the content it was
first shown with (an empty placeholder), so the saved notebook and nbval see the same outputs
as a non-streamed run.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from typing import TextIO

    from .._types import Choice, Event, GeneratedImage, Reply

__all__ = [
    "FOOTER_SANITIZE_PATTERN",
    "PLACEHOLDER",
    "BlockSplitter",
    "Bundle",
    "IPythonPublisher",
    "LiveMarkdown",
    "Publisher",
    "RecordingPublisher",
    "SplitEvent",
    "TerminalStream",
    "Throttle",
    "footer_bundle",
    "image_bundle",
]

Bundle = dict[str, str]
Format = Literal["markdown", "text", "code", "json"]

PLACEHOLDER: Bundle = {"text/plain": ""}
"""What a live handle shows first and, again, at the end (see the module docstring)."""

FOOTER_SANITIZE_PATTERN = r"\d+(?:\.\d+)? s\b"
"""The footer's only volatile part (seconds); nbval users can replace it with this regex."""

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


# --- block splitting (pure) --------------------------------------------------------------------


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


class Throttle:
    """Says whether enough time has passed since the last render (`interval` seconds)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last = float("-inf")

    def ready(self) -> bool:
        now = self.clock()
        if now - self._last >= self.interval - 1e-9:
            self._last = now
            return True
        return False


# --- publishing ----------------------------------------------------------------------------------


class Publisher(Protocol):
    """Where outputs go: a notebook's display publisher, or a recorder in tests."""

    def display(self, data: Bundle, display_id: str | None = None) -> None: ...

    def update(self, data: Bundle, display_id: str) -> None: ...


class IPythonPublisher:
    """Publishes through the shell's display publisher (display_data / update_display_data)."""

    def __init__(self, shell: Any) -> None:
        self._pub = shell.display_pub

    def display(self, data: Bundle, display_id: str | None = None) -> None:
        transient = {"display_id": display_id} if display_id else None
        self._pub.publish(data=data, metadata={}, transient=transient)

    def update(self, data: Bundle, display_id: str) -> None:
        self._pub.publish(data=data, metadata={}, transient={"display_id": display_id}, update=True)


class RecordingPublisher:
    """Keeps what would be published, and the notebook it would leave behind (for tests)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Bundle, str | None]] = []

    def display(self, data: Bundle, display_id: str | None = None) -> None:
        self.messages.append(("display", dict(data), display_id))

    def update(self, data: Bundle, display_id: str) -> None:
        self.messages.append(("update", dict(data), display_id))

    @property
    def displayed(self) -> list[Bundle]:
        """What nbval records: each display_data as first sent."""
        return [data for kind, data, _ in self.messages if kind == "display"]

    @property
    def final(self) -> list[Bundle]:
        """What the saved notebook holds: each output with its handle's latest content."""
        latest: dict[str, Bundle] = {}
        for _kind, data, display_id in self.messages:
            if display_id is not None:
                latest[display_id] = data
        return [
            latest[display_id] if display_id is not None else data
            for kind, data, display_id in self.messages
            if kind == "display"
        ]


# --- bundles -------------------------------------------------------------------------------------


def _markdown_bundle(text: str) -> Bundle:
    from ._markdown import render_markdown

    return {"text/html": render_markdown(text), "text/plain": text}


def _text_bundle(text: str) -> Bundle:
    return {"text/plain": text}


def _json_bundle(text: str) -> Bundle:
    from ._markdown import escape

    html = f'<pre><code class="language-json">{escape(text)}</code></pre>'
    return {"text/html": html, "text/plain": text}


_RENDERERS: dict[str, Callable[[str], Bundle]] = {
    "markdown": _markdown_bundle,
    "code": _markdown_bundle,
    "text": _text_bundle,
    "json": _json_bundle,
}


def image_bundle(image: GeneratedImage) -> Bundle:
    """An image from its bytes; a remote URL only as a link (it is never loaded)."""
    if image.data is not None and image.mime_type in _IMAGE_MIMES:
        return {
            image.mime_type: base64.b64encode(image.data).decode("ascii"),
            "text/plain": repr(image),
        }
    if image.url:
        from ._markdown import escape, sanitize_html

        link = sanitize_html(
            f'<p><a href="{escape(image.url)}">[image: {escape(image.url)}]</a></p>'
        )
        return {"text/html": link, "text/plain": f"[image: {image.url}]"}
    return {"text/plain": f"[{image!r}: not shown; see the reply's images]"}


def _thinking_bundle(text: str, *, live: bool) -> Bundle:
    from ._markdown import render_markdown

    if live:
        summary, attrs = "Thinking…", " open"
    else:
        words = len(text.split())
        summary, attrs = f"Thinking ({words:,} words)", ""
    body = render_markdown(text)
    html = (
        f'<details{attrs} style="color:var(--jp-ui-font-color2,#666)">'
        f"<summary>{summary}</summary>{body}</details>"
    )
    return {"text/html": html, "text/plain": f"[{summary}]\n{text}"}


def footer_bundle(
    reply: Reply | None,
    *,
    model: str,
    seconds: float,
    offline: bool = False,
    status: str | None = None,
) -> Bundle:
    """The short line under an answer: model, tokens, seconds, and how it ended if not complete."""
    from ._markdown import escape

    parts = [reply.model if reply is not None and reply.model else model]
    usage = reply.usage if reply is not None else None
    if usage is not None and usage.total_tokens:
        parts.append(f"{usage.total_tokens:,} tokens")
    if reply is not None and len(reply.choices) > 1:
        parts.append(f"{len(reply.choices)} answers")
    parts.append(f"{seconds:.1f} s")
    status = status or (reply.status if reply is not None else "complete")
    if status != "complete":
        parts.append(status)
    if offline:
        parts.append("offline")
    text = " · ".join(parts)
    color = "var(--jp-error-color1,#c00)" if status in ("failed", "interrupted") else "inherit"
    html = (
        '<div style="font-size:0.85em;color:var(--jp-ui-font-color2,#777)">'
        f'<span style="color:{color}">{escape(text)}</span></div>'
    )
    return {"text/html": html, "text/plain": f"— {text}"}


# --- the live renderer ------------------------------------------------------------------------------


class LiveMarkdown:
    """Turns stream events into notebook outputs.

    Outputs, in order: for a thinking section, a placeholder handle (live `<details open>`
    while thinking) followed by the folded section; for each Markdown block, a placeholder
    handle (the live open block while it grows) followed by the finished block; images as they
    arrive. Handles are reverted to the placeholder when their content is final elsewhere.
    With ``live=False`` the same outputs appear without the live updates (the non-streamed
    view), so both views leave identical notebooks.

    Renders happen on the chunk that arrives once `interval` has passed (no timer thread:
    output from threads is unreliable in kernels), so the live view trails the stream by at
    most one gap between chunks, and each chunk costs O(its length).
    """

    def __init__(
        self,
        publisher: Publisher,
        *,
        fmt: str = "markdown",
        live: bool = True,
        final: bool = True,
        placeholders: bool = True,
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        preview_chars: int = 1500,
    ) -> None:
        self.publisher = publisher
        self.fmt = fmt
        self.render: Callable[[str], Bundle] = _RENDERERS.get(fmt, _markdown_bundle)
        self.live = live
        self.final = final  # False: live view only; the finished blocks are not kept
        self.placeholders = placeholders
        self.preview_chars = preview_chars
        self.throttle = Throttle(interval, clock)
        whole = fmt == "json" or not final
        self.splitter = BlockSplitter(split=not whole)
        self.renders = 0  # live updates sent (for benchmarks and tests)
        self._handle: str | None = None  # live handle of the open block
        self._handle_shown = False  # it shows something other than the placeholder
        self._dirty = False
        self._thinking: list[str] = []
        self._thinking_chars = 0
        self._thinking_handle: str | None = None
        self._thinking_shown = False
        self._closed = False

    # -- events ---------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Show one stream event (events of choices other than the first are ignored)."""
        if getattr(event, "index", 0) != 0:
            return
        if event.type == "text":
            self.text(event.text)
        elif event.type == "reasoning":
            self.reasoning(event.text)
        elif event.type == "image":
            self.image(event.image)

    def text(self, text: str) -> None:
        if self._thinking:
            self._end_thinking()
        events = self.splitter.feed(text)
        if events:
            self._apply(events)
        self._dirty = True
        if self.live and self.throttle.ready():
            self._render_live()

    def reasoning(self, text: str) -> None:
        if not self._thinking:
            self._thinking_handle = self._open_handle()
            self._thinking_shown = False
        self._thinking.append(text)
        self._thinking_chars += len(text)
        self._dirty = True
        if self.live and self.throttle.ready():
            self._render_live()

    def image(self, image: GeneratedImage) -> None:
        if self._thinking:
            self._end_thinking()
        self._apply(self.splitter.flush())
        self.publisher.display(image_bundle(image))

    def close(self) -> None:
        """The stream ended (however it ended): make every output final."""
        if self._closed:
            return
        self._closed = True
        if self._thinking:
            self._end_thinking()
        self._apply(self.splitter.flush())
        if self._handle is not None:  # only when an open block had no visible text
            self._release(self._handle, self._handle_shown)
            self._handle = None

    def show(self, data: Bundle) -> None:
        """Add a plain output (the footer)."""
        self.publisher.display(data)

    def extra_choice(self, choice: Choice, number: int, total: int) -> None:
        """Show another of the `n` answers after the first (not live; images after the text)."""
        if not self.final:
            return
        label = f"Answer {number} of {total}"
        self.publisher.display(
            {"text/html": f"<p><strong>{label}</strong></p>", "text/plain": f"— {label} —"}
        )
        view = LiveMarkdown(self.publisher, fmt=self.fmt, live=False, placeholders=False)
        view.text(choice.text)
        for image in choice.images:
            view.image(image)
        view.close()

    # -- internals ------------------------------------------------------------------------------

    def _open_handle(self) -> str | None:
        if not self.placeholders:
            return None
        display_id = uuid.uuid4().hex
        self.publisher.display(PLACEHOLDER, display_id)
        return display_id

    def _release(self, display_id: str | None, shown: bool) -> None:
        if display_id is not None and shown:
            self.publisher.update(PLACEHOLDER, display_id)

    def _apply(self, events: list[SplitEvent]) -> None:
        for event in events:
            if event.kind == "start":
                self._handle = self._open_handle()
                self._handle_shown = False
            else:
                self._release(self._handle, self._handle_shown)
                self._handle = None
                if self.final:
                    self.publisher.display(self.render(event.text))

    def _end_thinking(self) -> None:
        text = "".join(self._thinking)
        self._thinking = []
        self._thinking_chars = 0
        self._release(self._thinking_handle, self._thinking_shown)
        self._thinking_handle = None
        if self.final:
            self.publisher.display(_thinking_bundle(text, live=False))

    def _render_live(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self._thinking:
            if self._thinking_handle is None:
                return
            text = self._thinking_preview()
            self.publisher.update(_thinking_bundle(text, live=True), self._thinking_handle)
            self._thinking_shown = True
        else:
            if self._handle is None:
                return
            self.publisher.update(
                self.render(self.splitter.preview(self.preview_chars)), self._handle
            )
            self._handle_shown = True
        self.renders += 1

    def _thinking_preview(self) -> str:
        return tail_text(self._thinking, self._thinking_chars, self.preview_chars)


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
                self._write(event.text)
        elif event.type == "image":
            self._end_thinking()
            prefix = "" if self._at_line_start else "\n"
            self._write(f"{prefix}{image_bundle(event.image)['text/plain']}\n")

    def _end_thinking(self) -> None:
        if self._thinking:
            self._thinking = False
            self._write(f"{self._reset}\n\n")

    def close(self) -> None:
        self._end_thinking()
        if not self._at_line_start:
            self._write("\n")

    def show(self, data: Bundle) -> None:
        self._write(f"{self._dim}{data.get('text/plain', '')}{self._reset}\n")

    def extra_choice(self, choice: Choice, number: int, total: int) -> None:
        self._write(f"\n— Answer {number} of {total} —\n{choice.text}\n")
        for image in choice.images:
            self._write(image_bundle(image)["text/plain"] + "\n")


def replay_events(reply: Reply) -> list[Event]:
    """The events a non-streamed reply would have produced, in answer order.

    Used by the non-streamed view so that images appear where they were in the answer, exactly
    as they do when the same answer streams.
    """
    from ..client._reply import ReplyAssembler

    assembler = ReplyAssembler()
    raw = reply.raw
    if isinstance(raw, list):
        events: list[Event] = []
        for chunk in raw:
            events.extend(assembler.feed(chunk))
    else:
        events = assembler.feed(raw)
    events.extend(assembler.finish(streamed=False))
    if not events and (reply.text or reply.reasoning or reply.images):
        from .._types import ImageEvent, ReasoningDelta, TextDelta

        if reply.reasoning:
            events.append(ReasoningDelta(reply.reasoning))
        if reply.text:
            events.append(TextDelta(reply.text))
        events.extend(ImageEvent(image) for image in reply.images)
    return events
