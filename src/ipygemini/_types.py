"""Plain data the client returns: replies, images, usage, models, stream events.

Small dataclasses with one job each, no I/O. `GeneratedImage` and the image MIME whitelist
live in `_images`, the stream events in `_events`; both are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._events import (
    Event,
    FinishEvent,
    ImageEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from ._images import (
    GEMINI_MIME_TYPES,
    IMAGE_MIME_TYPES,
    GeneratedImage,
    decode_data_url,
    read_image_url,
    sniff_mime,
)

if TYPE_CHECKING:
    from ._errors import GeminiError

__all__ = [
    "GEMINI_MIME_TYPES",
    "IMAGE_MIME_TYPES",
    "Choice",
    "Event",
    "FinishEvent",
    "GeneratedImage",
    "ImageEvent",
    "ImageList",
    "Model",
    "ReasoningDelta",
    "Reply",
    "TextDelta",
    "ToolCall",
    "ToolCallEvent",
    "Usage",
    "UsageEvent",
    "decode_data_url",
    "read_image_url",
    "sniff_mime",
]


@dataclass(slots=True)
class Usage:
    """Token counts as the gateway reported them (gateways may estimate them).

    `cached_tokens` is None when the gateway did not say (many layers drop it): unknown, not 0.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int | None = None

    @classmethod
    def from_json(cls, obj: Any) -> Usage | None:
        if not isinstance(obj, dict):
            return None

        def count(value: Any) -> int | None:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
            return None

        details = obj.get("completion_tokens_details")
        reasoning = count(details.get("reasoning_tokens")) if isinstance(details, dict) else None
        reasoning = reasoning or count(obj.get("reasoning_tokens")) or 0
        prompt_details = obj.get("prompt_tokens_details")
        cached = (
            count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else None
        )
        prompt = count(obj.get("prompt_tokens")) or 0
        completion = count(obj.get("completion_tokens")) or 0
        total = count(obj.get("total_tokens")) or prompt + completion
        return cls(prompt, completion, total, reasoning, cached)

    def __repr__(self) -> str:
        cached = "" if self.cached_tokens is None else f", cached_tokens={self.cached_tokens}"
        return (
            f"Usage(prompt_tokens={self.prompt_tokens}, completion_tokens={self.completion_tokens}, "
            f"total_tokens={self.total_tokens}, reasoning_tokens={self.reasoning_tokens}{cached})"
        )


class ImageList(list[GeneratedImage]):
    """A choice's images, each remembered with where it came in the text (`offsets`), so a
    finished reply can replay its images in answer order (`Reply.events`)."""

    __slots__ = ("_parts", "offsets")

    def __init__(self, parts: list[str], images: Iterable[GeneratedImage] = ()) -> None:
        super().__init__(images)
        self._parts = parts  # the choice's text pieces (the same list for the choice's life)
        self.offsets: list[int | None] = [None] * len(self)

    def append(self, image: GeneratedImage) -> None:
        super().append(image)
        self.offsets.append(sum(len(p) for p in self._parts))

    def offset(self, i: int) -> int | None:
        """Characters of text before image `i` (None: not known, shown after the text)."""
        offsets = getattr(self, "offsets", None)
        return offsets[i] if offsets is not None and i < len(offsets) else None


class Choice:
    """One of the `n` answers of a request.

    Text arrives in pieces; they are kept in a list and joined only when read, so streaming
    costs O(1) per chunk however long the answer grows.
    """

    __slots__ = ("_images", "_reasoning", "_text", "finish_reason", "index")

    def __init__(
        self,
        index: int = 0,
        text: str = "",
        reasoning: str = "",
        images: list[GeneratedImage] | None = None,
        finish_reason: str | None = None,
    ) -> None:
        self.index = index
        self._text: list[str] = [text] if text else []
        self._reasoning: list[str] = [reasoning] if reasoning else []
        self._images = ImageList(self._text, images or ())
        self.finish_reason = finish_reason

    @property
    def images(self) -> list[GeneratedImage]:
        return self._images

    @images.setter
    def images(self, images: list[GeneratedImage]) -> None:
        self._images = ImageList(self._text, images)

    def events(self) -> list[Event]:
        """This choice's thinking, text and images as stream events, images where they came."""
        index = self.index
        events: list[Event] = []
        if self.reasoning:
            events.append(ReasoningDelta(self.reasoning, index))
        text, done = self.text, 0
        trailing: list[GeneratedImage] = []
        for i, image in enumerate(self._images):
            at = self._images.offset(i)
            if at is None:
                trailing.append(image)
                continue
            at = min(max(at, done), len(text))
            if at > done:
                events.append(TextDelta(text[done:at], index))
                done = at
            events.append(ImageEvent(image, index))
        if done < len(text):
            events.append(TextDelta(text[done:], index))
        events.extend(ImageEvent(image, index) for image in trailing)
        if self.finish_reason:
            events.append(FinishEvent(self.finish_reason, index))
        return events

    @staticmethod
    def _joined(parts: list[str]) -> str:
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    @property
    def text(self) -> str:
        return self._joined(self._text)

    @property
    def reasoning(self) -> str:
        return self._joined(self._reasoning)

    def __repr__(self) -> str:
        return (
            f"Choice(index={self.index}, text={self.text!r}, reasoning={self.reasoning!r}, "
            f"images={self.images!r}, finish_reason={self.finish_reason!r})"
        )


@dataclass(eq=False, slots=True)
class Reply:
    """A model's answer. While streaming it grows; afterwards it holds everything that arrived.

    `text`, `reasoning`, `images` and `finish_reason` are those of the first choice; `choices`
    has all of them when `n > 1`. `truncated` means the stream ended without any finish_reason;
    `interrupted` means the caller stopped reading (Ctrl-C, break, Stop); `error` holds the
    mid-stream failure, if any. In every case the text that arrived is kept. `notes` are plain
    one-line remarks a front end shows in its footer (fewer answers than asked for, images
    skipped, an answer spent on thinking).
    """

    choices: list[Choice] = field(default_factory=lambda: [Choice()])
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    truncated: bool = False
    interrupted: bool = False
    error: GeminiError | None = None
    raw: Any = None
    notes: list[str] = field(default_factory=list)
    parsed: Any = None
    """The answer as an instance of the requested schema (``schema=``), else None."""
    cached: bool = False
    """True when the answer was replayed from the exchange log (the cache), not asked for."""
    tool_calls: list[ToolCall] = field(default_factory=list)

    def events(self) -> list[Event]:
        """The events this reply's answer streams as, in answer order: the one replay source for
        a non-streamed, cached or finished reply (tool calls that ran first, then each choice's
        thinking, text and images where they came, then the usage)."""
        events: list[Event] = [
            ToolCallEvent(call) for call in self.tool_calls if call.result or call.error
        ]
        for choice in self.choices:
            events.extend(choice.events())
        if self.usage is not None:
            events.append(UsageEvent(self.usage))
        return events

    def note(self, text: str) -> None:
        """Add a one-line note unless the reply already has it."""
        if text not in self.notes:
            self.notes.append(text)

    @property
    def text(self) -> str:
        return self.choices[0].text

    @property
    def reasoning(self) -> str:
        return self.choices[0].reasoning

    @property
    def images(self) -> list[GeneratedImage]:
        return self.choices[0].images

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason

    @property
    def complete(self) -> bool:
        """True when the answer ended normally (not truncated, interrupted or failed)."""
        return not (self.truncated or self.interrupted or self.error is not None)

    @property
    def status(self) -> str:
        """One word for how the answer ended: complete, interrupted, failed, truncated."""
        if self.interrupted:
            return "interrupted"
        if self.error is not None:
            return "failed"
        if self.truncated:
            return "truncated"
        return "complete"

    def json(self) -> Any:
        """The answer parsed as JSON (JSON mode). A ```json fence around it is tolerated."""
        text = self.text.strip()
        if text.startswith("```"):
            first_nl = text.find("\n")
            if first_nl != -1 and text.endswith("```"):
                text = text[first_nl + 1 : -3].strip()
        preview = self.text[:80].replace("\n", " ")
        if self.finish_reason == "length":  # asking for JSON mode again would not help
            advice = (
                "The answer was cut off at max_tokens: raise it (--max-tokens) or read reply.text."
            )
        else:
            advice = "Ask for JSON mode (json=True or --json) or read reply.text instead."
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"the answer is not valid JSON ({exc.msg} at position {exc.pos}); it begins {preview!r}. "
                + advice
            ) from None
        except RecursionError:
            raise ValueError(
                f"the answer is JSON nested too deeply to parse; it begins {preview!r}. "
                "Read reply.text instead."
            ) from None

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        parts = [f"text={preview!r}"]
        if self.reasoning:
            parts.append(f"reasoning={len(self.reasoning)} chars")
        if self.images:
            parts.append(f"images={len(self.images)}")
        if len(self.choices) > 1:
            parts.append(f"choices={len(self.choices)}")
        parts.append(f"finish_reason={self.finish_reason!r}")
        if self.status != "complete":
            parts.append(f"status={self.status!r}")
        if self.tool_calls:
            parts.append(f"tool_calls={len(self.tool_calls)}")
        if self.notes:
            parts.append(f"notes={len(self.notes)}")
        return f"Reply({', '.join(parts)})"


@dataclass(eq=False)
class ToolCall:
    """A function call the model asked for, and (once run) what it gave.

    `arguments` is the parsed JSON object (the raw string when it is not valid JSON);
    `result` the text sent back; `error` why the call failed or was refused (then the function
    did not run, or raised). `signature` is Gemini 3's thought signature, echoed back unchanged.
    What front ends show besides: `shown_name` (an MCP tool as ``server.tool``, not the
    model-facing ``server__tool``), `images` a tool gave (bytes, shown inline, never sent to the
    model) and `structured` data it gave (shown as JSON).
    """

    name: str
    arguments: Any
    id: str | None = None
    result: str | None = None
    error: str | None = None
    signature: str | None = None
    raw_arguments: str = field(default="", repr=False)
    extra: dict[str, Any] | None = field(default=None, repr=False)  # extra_content, echoed as is
    shown_name: str | None = field(default=None, repr=False)
    images: list[GeneratedImage] = field(default_factory=list, repr=False)
    structured: Any = field(default=None, repr=False)

    def describe(self, limit: int = 120) -> str:
        """One line, as folded in a transcript: ``f(x=1) → 42``."""
        if isinstance(self.arguments, dict):
            args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        else:
            args = repr(self.arguments)
        outcome = (
            f"error: {self.error}"
            if self.error
            else self.result
            if self.result is not None
            else "…"
        )
        line = f"{self.shown_name or self.name}({args}) → {outcome}"
        return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class Model:
    """An entry of the gateway's model list."""

    id: str
    owned_by: str | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
