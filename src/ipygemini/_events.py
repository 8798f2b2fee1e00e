"""Stream events: what a reply's answer arrives as, and what a finished `Reply` replays
(`Reply.events`). Plain data, re-exported by `_types`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._images import GeneratedImage
    from ._types import ToolCall, Usage

__all__ = [
    "Event",
    "FinishEvent",
    "ImageEvent",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallEvent",
    "UsageEvent",
]


@dataclass(slots=True)
class TextDelta:
    """New answer text."""

    text: str
    index: int = 0
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ReasoningDelta:
    """New thinking text."""

    text: str
    index: int = 0
    type: Literal["reasoning"] = "reasoning"


@dataclass(slots=True)
class ImageEvent:
    """A complete image arrived."""

    image: GeneratedImage
    index: int = 0
    type: Literal["image"] = "image"


@dataclass(slots=True)
class UsageEvent:
    """Token counts arrived (usually in the last chunk)."""

    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(slots=True)
class FinishEvent:
    """A choice finished, with the gateway's reason (stop, length, content_filter, ...)."""

    reason: str
    index: int = 0
    type: Literal["finish"] = "finish"


@dataclass(slots=True)
class ToolCallEvent:
    """A tool call ran (or was refused): `call` holds its name, arguments, result or error."""

    call: ToolCall
    index: int = 0
    type: Literal["tool_call"] = "tool_call"


Event = TextDelta | ReasoningDelta | ImageEvent | UsageEvent | FinishEvent | ToolCallEvent
