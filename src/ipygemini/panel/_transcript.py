"""The panel's transcript as data, and the append-only HTML deltas ("ops") that show it.

Every piece of HTML here comes from `ipygemini.render` (markdown-it-py -> nh3) or is escaped
text of our own; the front end inserts nothing else. A streaming answer sends each finished
Markdown block once (``block``) and replaces only its open tail (``tail``); a new view gets the
whole transcript as the same ops (`Transcript.snapshot`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._types import Event, GeneratedImage, sniff_mime
from ..render import BlockSplitter, tail_text
from ..render._markdown import escape, render_markdown, sanitize_html

__all__ = ["IMAGE_TYPES", "AnswerBuilder", "Entry", "Op", "Transcript", "note_html"]

Op = dict[str, Any]
"""One change to the shown transcript; an op's ``data`` (bytes) travels as a binary buffer."""

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PREVIEW_CHARS = 1500  # the live tail (and live thinking) shows at most this much


def note_html(text: str, *, error: bool = False) -> str:
    """A one-line note of our own (escaped)."""
    color = "var(--jp-error-color1,#c00)" if error else "var(--jp-ui-font-color2,#777)"
    mark = "⚠ " if error else ""
    return f'<div style="color:{color};font-size:0.9em">{mark}{escape(text)}</div>'


def image_part(image: GeneratedImage) -> tuple[str, bytes] | str:
    """An image as (mime, bytes) when it is one of `IMAGE_TYPES`; else HTML saying what it was.

    The type is read from the bytes, never trusted from a label; a remote URL is never loaded.
    """
    if image.data is not None:
        mime = sniff_mime(image.data)
        if mime in IMAGE_TYPES:
            return mime, image.data
        return note_html(f"[an image of a type the panel does not show: {image.mime_type}]")
    url = image.url or ""
    return sanitize_html(f'<p><a href="{escape(url)}">[image: {escape(url)}]</a></p>')


@dataclass
class Entry:
    """One message in the transcript: a user turn, an answer, or a note of ours."""

    id: int
    role: str  # "user", "assistant" or "note"
    text: str = ""  # the Markdown typed or answered (a note's own text)
    parts: list[str | tuple[str, bytes]] = field(default_factory=list)  # HTML blocks, images
    tail: str = ""  # HTML of the open block (answers, while streaming)
    reasoning: str = ""
    thinking: Op | None = None  # the last thinking op sent
    status: str = "complete"  # answers: streaming, complete, truncated, interrupted, failed
    footer: str = ""
    error: str = ""
    attachments: list[str] = field(default_factory=list)  # labels (user turns)
    content: Any = None  # what was sent (user turns), for regenerate
    tool_calls: list[str] = field(default_factory=list)  # "f(x=1) → 42" (answers)

    def data(self) -> dict[str, Any]:
        """The entry as plain data (`ChatPanel.messages`)."""
        out: dict[str, Any] = {"role": self.role, "text": self.text}
        if self.role == "assistant":
            out["status"] = self.status
            if self.reasoning:
                out["reasoning"] = self.reasoning
            if self.error:
                out["error"] = self.error
            images = sum(1 for p in self.parts if isinstance(p, tuple))
            if images:
                out["images"] = images
            if self.tool_calls:
                out["tool_calls"] = list(self.tool_calls)
        if self.attachments:
            out["attachments"] = list(self.attachments)
        return out

    def html(self) -> str:
        """The HTML shown for the entry's body (blocks, and the tail while streaming)."""
        return "".join(p for p in self.parts if isinstance(p, str)) + self.tail

    def ops(self) -> list[Op]:
        """The ops that show this entry as it is now (for a new view)."""
        ops: list[Op] = [{"op": "add", "id": self.id, "role": self.role}]
        if self.role == "user":
            ops[0]["text"] = self.text  # plain text, for Edit (the page never inserts it as HTML)
        if self.thinking is not None:
            ops.append(self.thinking)
        ops.extend(_part_op(self.id, part) for part in self.parts)
        if self.tail:
            ops.append({"op": "tail", "id": self.id, "html": self.tail})
        if self.role == "assistant" and self.status != "streaming":
            ops.append(self.end_op())
        return ops

    def end_op(self) -> Op:
        return {
            "op": "end",
            "id": self.id,
            "status": self.status,
            "footer": self.footer,
            "error": note_html(self.error, error=True) if self.error else "",
        }


def _part_op(entry_id: int, part: str | tuple[str, bytes]) -> Op:
    if isinstance(part, tuple):
        return {"op": "image", "id": entry_id, "mime": part[0], "data": part[1]}
    return {"op": "block", "id": entry_id, "html": part}


class Transcript:
    """The entries shown, oldest first; each change returns the ops that show it."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._next_id = 1

    def _new(self, role: str, text: str) -> Entry:
        entry = Entry(self._next_id, role, text)
        self._next_id += 1
        self.entries.append(entry)
        return entry

    def add_user(
        self,
        text: str,
        *,
        attachments: list[str] | None = None,
        images: list[bytes] | None = None,
        content: Any = None,
    ) -> tuple[Entry, list[Op]]:
        entry = self._new("user", text)
        entry.content = content if content is not None else text
        entry.attachments = list(attachments or [])
        labels = "".join(
            f'<div style="font-size:0.85em;opacity:0.8">📎 {escape(label)}</div>'
            for label in entry.attachments
        )
        entry.parts.append(render_markdown(text) + labels)
        for data in images or []:
            mime = sniff_mime(data)
            if mime in IMAGE_TYPES:
                entry.parts.append((mime, data))
        return entry, entry.ops()

    def add_answer(self, text: str = "", *, status: str = "streaming") -> Entry:
        """An answer entry (empty while it streams; whole when it comes from the conversation)."""
        entry = self._new("assistant", text)
        entry.status = status
        if text:
            entry.parts.append(render_markdown(text))
        return entry

    def add_note(self, text: str, *, error: bool = False) -> list[Op]:
        entry = self._new("note", text)
        entry.parts.append(note_html(text, error=error))
        return entry.ops()

    def remove_from(self, entry: Entry) -> list[Op]:
        """Drop `entry` and every entry after it (edit and regenerate)."""
        index = self.entries.index(entry)
        gone, self.entries = self.entries[index:], self.entries[:index]
        return [{"op": "remove", "id": e.id} for e in gone]

    def clear(self) -> list[Op]:
        self.entries = []
        return [{"op": "clear"}]

    def last(self, role: str) -> Entry | None:
        return next((e for e in reversed(self.entries) if e.role == role), None)

    def find(self, entry_id: int) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def snapshot(self) -> list[Op]:
        ops: list[Op] = [{"op": "clear"}]
        for entry in self.entries:
            ops.extend(entry.ops())
        return ops


class AnswerBuilder:
    """One answer while it streams: events in, append-only ops out (when `take` is called).

    Finished Markdown blocks are rendered once and sent once; the open block is re-rendered
    from a preview of at most `PREVIEW_CHARS` and replaces the previous tail. Thinking is shown
    live (its last `PREVIEW_CHARS`) and sent whole, folded, once the answer text starts.
    """

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.splitter = BlockSplitter()
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._reasoning_chars = 0
        self._reasoning_shown = 0
        self._thinking_done = False
        self._text_started = False
        self._new: list[str | tuple[str, bytes]] = []  # finished, not yet sent
        self._new_bytes = 0
        self._tail_shown = ""
        self.dirty = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, event: Event) -> int:
        """Take one stream event; returns how many characters of answer it carried."""
        if getattr(event, "index", 0) != 0:
            return 0
        if event.type == "text":
            self._text_started = True
            self._text.append(event.text)
            for split in self.splitter.feed(event.text):
                if split.kind == "done":
                    self._finish_block(split.text)
            size = len(event.text)
        elif event.type == "reasoning":
            self._reasoning.append(event.text)
            self._reasoning_chars += len(event.text)
            size = len(event.text)
        elif event.type == "image":
            self._flush_splitter()
            part = image_part(event.image)
            self._new.append(part)
            self._new_bytes += len(part[1]) if isinstance(part, tuple) else len(part)
            size = 200  # an image is worth a push of its own
        elif event.type == "tool_call":
            from ..render._bundles import tool_call_bundle

            self._flush_splitter()
            html = tool_call_bundle(event.call)["text/html"]  # escaped, folded like thinking
            self._new.append(html)
            self._new_bytes += len(html)
            self.entry.tool_calls.append(event.call.describe())
            for image in event.call.images:  # a tool's images, inline from bytes
                part = image_part(image)
                self._new.append(part)
                self._new_bytes += len(part[1]) if isinstance(part, tuple) else len(part)
            size = 200
        else:
            return 0
        self.dirty = True
        return size

    def cost(self) -> int:
        """About how many content bytes the next `take` would send."""
        tail = min(self.splitter.tail_chars, PREVIEW_CHARS) * 6 // 5
        cost = self._new_bytes + tail
        if self._reasoning_chars != self._reasoning_shown:
            cost += min(self._reasoning_chars, PREVIEW_CHARS)
        return cost

    def _flush_splitter(self) -> None:
        for split in self.splitter.flush():
            if split.kind == "done":
                self._finish_block(split.text)

    def _finish_block(self, text: str) -> None:
        html = render_markdown(text)
        self._new.append(html)
        self._new_bytes += len(html)

    def take(self, *, final: bool = False) -> list[Op]:
        """The ops that bring the shown answer up to date (final: the stream has ended)."""
        self.dirty = False
        entry = self.entry
        if final:
            self._flush_splitter()
        ops: list[Op] = []
        thinking = self._thinking_op(final)
        if thinking is not None:
            entry.thinking = thinking
            ops.append(thinking)
        for part in self._new:
            entry.parts.append(part)
            ops.append(_part_op(entry.id, part))
        self._new = []
        self._new_bytes = 0
        tail = ""
        if not final and self.splitter.tail_chars:
            preview = self.splitter.preview(PREVIEW_CHARS)
            tail = render_markdown(preview) if preview.strip() else ""
        if tail != self._tail_shown:
            ops.append({"op": "tail", "id": entry.id, "html": tail})
            self._tail_shown = tail
        entry.tail = tail
        entry.text = self.text
        entry.reasoning = "".join(self._reasoning)
        return ops

    def _thinking_op(self, final: bool) -> Op | None:
        if not self._reasoning or self._thinking_done:
            return None
        done = self._text_started or final
        if not done and self._reasoning_chars == self._reasoning_shown:
            return None
        self._reasoning_shown = self._reasoning_chars
        if done:
            self._thinking_done = True
            text = "".join(self._reasoning)
            title = f"Thinking ({len(text.split()):,} words)"
        else:
            text = tail_text(self._reasoning, self._reasoning_chars, PREVIEW_CHARS)
            title = "Thinking…"
        return {
            "op": "thinking",
            "id": self.entry.id,
            "html": render_markdown(text),
            "title": title,
            "done": done,
        }
