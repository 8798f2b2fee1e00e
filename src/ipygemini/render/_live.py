"""`LiveMarkdown`: show a streamed answer in a notebook live, cheaply and safely, and leave it
as ONE output.

While the answer streams, each part of it (a thinking section, a Markdown block, an image, a tool
call) has a live display handle: first shown empty (no MIME data, so nbval, which records every
display_data as first sent, compares nothing for it), then updated: only the open block is
re-rendered, at most ~20 times a second. When the answer ends the live handles give way to one
final output (answer, images, footer): the cell's outputs are cleared and that output is shown
once, so the saved notebook and nbval both hold exactly it. A cell that printed something else
meanwhile (a tool's print, a warning) keeps it: the handles are emptied instead of cleared.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._blocks import BlockSplitter, SplitEvent, tail_text
from ._bundles import (
    RENDERERS,
    Bundle,
    answer_bundle,
    image_bundle,
    markdown_bundle,
    thinking_bundle,
    tool_call_bundle,
)
from ._publishers import NOWHERE, IPythonPublisher, Publisher, RecordingPublisher

if TYPE_CHECKING:
    from .._types import Choice, Event, GeneratedImage, ToolCall

__all__ = [
    "EMPTY",
    "IPythonPublisher",
    "LiveMarkdown",
    "Publisher",
    "RecordingPublisher",
    "Throttle",
]

EMPTY: Bundle = {}
"""What a live handle is first shown as: nothing to render and nothing for nbval to compare."""

MESSAGE_BYTES = 600
"""About what one iopub message costs besides its data (header, parent header, metadata)."""

SEGMENT_CHARS = 1200
"""Consecutive Markdown blocks share one live handle until they hold this much text: two
messages per handle instead of two per block, and a render re-sends at most a segment."""

LIVE_BYTES_PER_CHAR = 5.5
LIVE_FLOOR_BYTES = 16_000
"""The live view's budget: its messages stay within ~5.5 bytes per character of answer so far
(at least 16 KB, so short answers stream too); with the final output (~2.2 bytes a character:
HTML and text) a long answer's display traffic stays within 4x of what the notebook keeps. A
render that would overspend is skipped; the next chunk tries again."""


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


class LiveMarkdown:
    """Turns stream events into notebook outputs: live handles while streaming, then one output.

    `pieces` collects the finished parts in answer order (folded thinking, Markdown blocks,
    images, tool calls, further answers, the footer); `finish` shows them as the one output.
    With ``live=False`` (``--no-stream``, a cached answer) nothing is shown until `finish`.
    ``final=False`` (``--json``: the value is the result) keeps no answer text in the output.

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
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        preview_chars: int = 1500,
    ) -> None:
        self.publisher = publisher
        self.fmt = fmt
        self.render: Callable[[str], Bundle] = RENDERERS.get(fmt, markdown_bundle)
        self.live = live
        self.final = final
        self.preview_chars = preview_chars
        self.throttle = Throttle(interval, clock)
        self.splitter = BlockSplitter(split=not (fmt == "json" or not final))
        self.pieces: list[Bundle] = []
        self.renders = 0  # live updates of an open block or thinking (benchmarks, tests)
        self.live_bytes = 0  # what the live messages cost so far (see MESSAGE_BYTES)
        self.received = 0  # characters of answer and thinking so far
        self.handles: list[str] = []  # every live handle shown
        self._handle: str | None = None  # live handle of the open segment (blocks in a row)
        self._segment: list[Bundle] = []  # its finished blocks
        self._segment_chars = 0
        self._segment_bytes = 0
        self._dirty = False
        self._thinking: list[str] = []
        self._thinking_chars = 0
        self._thinking_handle: str | None = None
        self._closed = False
        self._finished = False

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
        elif event.type == "tool_call":
            self.tool_call(event.call)

    def tool_call(self, call: ToolCall) -> None:
        """A call ran: shown folded in the answer's flow, where it happened."""
        self._end_text()
        self._add(tool_call_bundle(call))
        for image in call.images:  # a tool's images, inline from bytes (never from a URL)
            self._add(image_bundle(image))

    def text(self, text: str) -> None:
        if self._thinking:
            self._end_thinking()
        self.received += len(text)
        events = self.splitter.feed(text)
        if events:
            self._apply(events)
        self._dirty = True
        if self.live and self.throttle.ready():
            self._render_live()

    def reasoning(self, text: str) -> None:
        if not self._thinking:
            self._thinking_handle = self._open_handle()
        self._thinking.append(text)
        self._thinking_chars += len(text)
        self.received += len(text)
        self._dirty = True
        if self.live and self.throttle.ready():
            self._render_live()

    def image(self, image: GeneratedImage) -> None:
        self._end_text()
        self._add(image_bundle(image))

    def close(self) -> None:
        """The stream ended (however it ended): every part of the answer is finished."""
        if self._closed:
            return
        self._closed = True
        self._end_text(show=False)

    def show(self, data: Bundle) -> None:
        """Add a part after the answer (the footer) to the final output."""
        self.close()
        self.pieces.append(data)

    def extra_choice(self, choice: Choice, number: int, total: int) -> None:
        """Add another of the `n` answers after the first (images after the text)."""
        self.close()
        if not self.final:
            return
        label = f"Answer {number} of {total}"
        self.pieces.append(
            {"text/html": f"<p><strong>{label}</strong></p>", "text/plain": f"— {label} —"}
        )
        view = LiveMarkdown(NOWHERE, fmt=self.fmt, live=False)
        view.text(choice.text)
        for image in choice.images:
            view.image(image)
        view.close()
        self.pieces.extend(view.pieces)

    def withdraw(self, *, clear: bool = True) -> None:
        """No answer to show (the request failed before one began): the live handles go
        (cleared; or, `clear` False, emptied beside what else the cell showed)."""
        self.close()
        self._finished = True
        if not self.handles:
            return
        if clear:
            self.publisher.clear()
        else:
            for display_id in self.handles:
                self.publisher.update(EMPTY, display_id)

    def finish(self, *, clear: bool = True) -> Bundle:
        """Replace the live handles with the one final output (shown, and returned). `clear`:
        the cell showed nothing else, so its outputs may be cleared; otherwise the handles are
        emptied and stay (empty) beside what else it showed."""
        self.close()
        final = answer_bundle(self.pieces)
        if self._finished:
            return final
        self._finished = True
        if self.handles:
            if clear:
                self.publisher.clear()
            else:
                for display_id in self.handles:
                    self.publisher.update(EMPTY, display_id)
        self.publisher.display(final)
        return final

    # -- internals ------------------------------------------------------------------------------

    def _end_text(self, *, show: bool = True) -> None:
        """The text so far is finished (an image, a tool call or the end follows): its segment
        is shown whole once more (`show`; not at the end, where the final output follows)."""
        if self._thinking:
            self._end_thinking()
        self._apply(self.splitter.flush())
        self._end_segment(show=show)

    def _end_segment(self, *, show: bool = True) -> None:
        if self._handle is not None and self._segment and self._dirty and show:
            self._update(answer_bundle(self._segment), self._handle)
        self._handle = None
        self._segment = []
        self._segment_chars = 0
        self._segment_bytes = 0

    def _add(self, piece: Bundle, display_id: str | None = None) -> None:
        """A finished part: kept for the final output; shown live in its handle (or a new one)."""
        self.pieces.append(piece)
        if not self.live:
            return
        if display_id is None:
            display_id = self._open_handle()
        if display_id is not None:
            self._update(piece, display_id)

    def _open_handle(self) -> str | None:
        if not self.live:
            return None
        display_id = uuid.uuid4().hex
        self.publisher.display(EMPTY, display_id)
        self.live_bytes += MESSAGE_BYTES
        self.handles.append(display_id)
        return display_id

    def _apply(self, events: list[SplitEvent]) -> None:
        """Blocks start in the open segment's handle (a new one when there is none); finished
        blocks join the segment, which is closed once it holds `SEGMENT_CHARS` of text."""
        for event in events:
            if event.kind == "start":
                if self._handle is None:
                    self._handle = self._open_handle()
            elif self.final:
                block = self.render(event.text)
                self.pieces.append(block)
                self._segment.append(block)
                self._segment_chars += len(event.text)
                self._segment_bytes += len(block.get("text/html", block.get("text/plain", "")))
                self._dirty = True
                if self._segment_chars >= SEGMENT_CHARS:
                    self._end_segment()

    def _end_thinking(self) -> None:
        text = "".join(self._thinking)
        self._thinking = []
        self._thinking_chars = 0
        handle, self._thinking_handle = self._thinking_handle, None
        if self.final:
            self._add(thinking_bundle(text, live=False), handle)
        elif handle is not None:
            self.publisher.update(EMPTY, handle)

    def _render_live(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self._thinking:
            if self._thinking_handle is None:
                return
            text = tail_text(self._thinking, self._thinking_chars, self.preview_chars)
            if not self._affordable(text):
                self._dirty = True
                return
            self._update(thinking_bundle(text, live=True), self._thinking_handle)
        else:
            if self._handle is None:
                return
            text = self.splitter.preview(self.preview_chars)
            if not self._affordable(text, self._segment_bytes):
                self._dirty = True
                return
            parts = [*self._segment, self.render(text)] if text else self._segment
            self._update(answer_bundle(parts), self._handle)
        self.renders += 1

    def _affordable(self, text: str, shown: int = 0) -> bool:
        """A render of about `text` (its HTML ~1.2x) after `shown` bytes of finished blocks
        fits the live view's byte budget."""
        cost = MESSAGE_BYTES + shown + 1.2 * len(text)
        budget = max(LIVE_FLOOR_BYTES, LIVE_BYTES_PER_CHAR * self.received)
        return self.live_bytes + cost <= budget

    def _update(self, data: Bundle, display_id: str) -> None:
        """A live update: HTML only where there is HTML (the final output carries the text)."""
        if "text/html" in data:
            data = {"text/html": data["text/html"]}
        self.publisher.update(data, display_id)
        self.live_bytes += MESSAGE_BYTES + sum(len(v) for v in data.values())
