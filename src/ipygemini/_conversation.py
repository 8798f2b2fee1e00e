"""`Conversation`: a named chat history (system prompt + turns) that any front end can continue."""

# The %%gemini magic (``-c NAME``) and the chat panel both keep their turns here; nothing in this
# module knows how the turns are shown.

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._types import Reply

__all__ = ["Content", "Conversation"]

Content = str | list[dict[str, Any]]
"""A user message's content: plain text, or content parts (text, images, files)."""

_RECORDED = frozenset({"complete", "truncated"})


def content_text(content: Any) -> str:
    """The text of a message's content, with non-text parts shown as ``[image]``/``[file]``."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            parts.append(str(part.get("text", "")))
        elif kind == "image_url":
            parts.append("[image]")
        elif kind == "file":
            name = (
                part.get("file", {}).get("filename") if isinstance(part.get("file"), dict) else None
            )
            parts.append(f"[file {name}]" if name else "[file]")
        else:
            parts.append(f"[{kind}]")
    return "\n".join(parts)


class Conversation:
    """A system prompt and the user/assistant turns so far.

    `messages_for(content)` gives the messages to send for a new user turn; after the answer,
    `record(content, reply)` keeps the turn. Only answers that ended normally are kept (an
    interrupted or failed turn is usually asked again), so history never holds half answers.
    """

    def __init__(self, name: str = "default", system: str | None = None) -> None:
        self.name = name
        self.system = system
        self.messages: list[dict[str, Any]] = []
        self._listeners: list[Callable[[Conversation], None]] = []

    def on_change(self, listener: Callable[[Conversation], None]) -> Callable[[], None]:
        """Call `listener(self)` after every recorded turn and reset; returns the unsubscriber.

        The magic and a panel can share one conversation: turns added by either reach the other.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener(self)

    def messages_for(self, content: Content) -> list[dict[str, Any]]:
        """System prompt (if any), the history, then a new user message with `content`."""
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.extend(dict(m) for m in self.messages)
        messages.append({"role": "user", "content": content})
        return messages

    def record(self, content: Content, reply: Reply | str) -> bool:
        """Keep a finished turn; returns False (and keeps nothing) for a failed or cut-off answer."""
        if isinstance(reply, str):
            text = reply
        else:
            if reply.status not in _RECORDED:
                return False
            text = reply.text
        self.messages.append({"role": "user", "content": content})
        self.messages.append({"role": "assistant", "content": text})
        self._changed()
        return True

    def reset(self) -> None:
        """Forget every turn (the system prompt stays)."""
        self.messages.clear()
        self._changed()

    @property
    def turns(self) -> int:
        """Number of user turns kept."""
        return sum(1 for m in self.messages if m.get("role") == "user")

    def __len__(self) -> int:
        return self.turns

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.messages)

    def transcript(self, width: int = 200) -> str:
        """The history as plain text, one line per message (long ones cut to `width`)."""
        lines = [f"Conversation {self.name!r}: {self.turns} turn(s)"]
        if self.system:
            lines.append(f"system: {_clip(self.system, width)}")
        for message in self.messages:
            text = content_text(message.get("content"))
            lines.append(f"{message.get('role')}: {_clip(text, width)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        system = _clip(self.system, 40) if self.system else None
        return f"Conversation(name={self.name!r}, system={system!r}, turns={self.turns})"


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
