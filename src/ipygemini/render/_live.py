"""`LiveMarkdown`: show a streamed answer in a notebook, live, cheaply and safely."""

# Finished Markdown blocks are shown once, as their own output; only the open block is
# re-rendered, at most ~20 times a second. Every live display handle ends with the content it was
# first shown with (an empty placeholder), so the saved notebook and nbval see the same outputs
# as a non-streamed run.

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ._blocks import BlockSplitter, SplitEvent, tail_text
from ._bundles import (
    PLACEHOLDER,
    RENDERERS,
    Bundle,
    image_bundle,
    markdown_bundle,
    thinking_bundle,
    tool_call_bundle,
)

if TYPE_CHECKING:
    from .._types import Choice, Event, GeneratedImage, Reply, ToolCall

__all__ = [
    "IPythonPublisher",
    "LiveMarkdown",
    "Publisher",
    "RecordingPublisher",
    "Throttle",
    "replay_events",
]


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
        self.render: Callable[[str], Bundle] = RENDERERS.get(fmt, markdown_bundle)
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
        elif event.type == "tool_call":
            self.tool_call(event.call)

    def tool_call(self, call: ToolCall) -> None:
        """A call ran: shown folded in the answer's flow, where it happened."""
        if self._thinking:
            self._end_thinking()
        self._apply(self.splitter.flush())
        self.publisher.display(tool_call_bundle(call))

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
            self.publisher.display(thinking_bundle(text, live=False))

    def _render_live(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self._thinking:
            if self._thinking_handle is None:
                return
            text = self._thinking_preview()
            self._thinking_shown = True  # first: an interrupt during the update still reverts it
            self.publisher.update(thinking_bundle(text, live=True), self._thinking_handle)
        else:
            if self._handle is None:
                return
            self._handle_shown = True  # first: an interrupt during the update still reverts it
            self.publisher.update(
                self.render(self.splitter.preview(self.preview_chars)), self._handle
            )
        self.renders += 1

    def _thinking_preview(self) -> str:
        return tail_text(self._thinking, self._thinking_chars, self.preview_chars)


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
    from .._types import ToolCallEvent

    ran = [ToolCallEvent(call) for call in reply.tool_calls if call.result or call.error]
    events[:0] = ran  # the calls of earlier rounds came before this answer
    if not events and (reply.text or reply.reasoning or reply.images):
        from .._types import ImageEvent, ReasoningDelta, TextDelta

        if reply.reasoning:
            events.append(ReasoningDelta(reply.reasoning))
        if reply.text:
            events.append(TextDelta(reply.text))
        events.extend(ImageEvent(image) for image in reply.images)
    return events
