"""Fold chat-completion chunks (streamed or not) into a `Reply`, yielding typed events. No I/O.

Gateways disagree on where things go (see PROTOCOL.md): images come in ``images[]``, in
content-part arrays or as Markdown data/https URLs inside the text; thinking comes as
``reasoning_content``, ``reasoning``, ``thinking_blocks`` or a leading ``<think>``/``<thought>``
block. This module accepts all of them. Work per chunk is proportional to the chunk, never
to the answer so far: text that might start a tag or an image is held back only until it is
decided, and a long image URL is collected in pieces.
"""

from __future__ import annotations

from typing import Any

from .._types import (
    Choice,
    Event,
    FinishEvent,
    GeneratedImage,
    ImageEvent,
    ReasoningDelta,
    Reply,
    TextDelta,
    Usage,
    UsageEvent,
)

__all__ = ["ReplyAssembler"]

_OPEN_TAGS = ("<think>", "<thought>")
_CLOSE_FOR = {"<think>": "</think>", "<thought>": "</thought>"}
_MAX_ALT = 300  # longer "![..." text is not treated as an image
_URL_PREFIXES = ("data:image/", "https://", "http://")

_PLAIN_DELTA = frozenset({"role", "content"})  # a delta with nothing but these has no extras

# content states
_START, _THINK, _TEXT, _ALT, _URL, _AFTER_THINK = range(6)


class _ChoiceState:
    """Per-choice parser state for the content channel."""

    __slots__ = ("choice", "close_tag", "hold", "mode", "think_fresh", "url_parts")

    def __init__(self, choice: Choice) -> None:
        self.choice = choice
        self.mode = _START
        self.hold = ""  # undecided text: a partial tag, or "![alt" / "![alt](" while deciding
        self.close_tag = ""
        self.think_fresh = False  # inside <think> before its first non-blank character
        self.url_parts: list[str] = []  # pieces of an image URL being collected


def _extract_url(part: Any) -> str | None:
    """The URL of an ``image_url`` item, whichever way it is spelled."""
    if isinstance(part, dict):
        inner = part.get("image_url", part.get("url"))
        if isinstance(inner, dict):
            inner = inner.get("url")
        if isinstance(inner, str):
            return inner
    elif isinstance(part, str):
        return part
    return None


class ReplyAssembler:
    """Feed parsed chunk objects with `feed`; read `reply` at any time; call `finish` at the end."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply if reply is not None else Reply()
        self._states: dict[int, _ChoiceState] = {0: _ChoiceState(self.reply.choices[0])}
        self._identified = False  # id and model taken from the first chunk that has them

    # -- public ------------------------------------------------------------------------------

    def feed(self, chunk: Any) -> list[Event]:
        """Fold one chunk (a ``chat.completion.chunk`` or a whole ``chat.completion``) in."""
        events: list[Event] = []
        self.feed_into(chunk, events)
        return events

    def feed_into(self, chunk: Any, events: list[Event]) -> None:
        """`feed`, appending the events to `events` (saves a list per chunk on the hot path)."""
        if chunk.__class__ is not dict:
            return
        if not self._identified:
            self._identify(chunk)
        choices = chunk.get("choices")
        if choices.__class__ is list:
            for raw in choices:
                if raw.__class__ is not dict:
                    continue
                # The hot path, inlined: one text delta for a known choice in plain-text mode.
                delta = raw.get("delta")
                if delta.__class__ is dict and raw.get("finish_reason") is None:
                    content = delta.get("content")
                    index = raw.get("index", 0)  # odd indices (lists, bools) take the slow path
                    state = self._states.get(index) if index.__class__ is int else None
                    if (
                        content.__class__ is str
                        and state is not None
                        and state.mode == _TEXT
                        and not state.hold
                        and "!" not in content
                        and delta.keys() <= _PLAIN_DELTA
                    ):
                        if content:
                            state.choice._text.append(content)
                            events.append(TextDelta(content, state.choice.index))
                        continue  # (index may be 1.0 or True: the choice's own index is used)
                self._choice(raw, events)
        usage = chunk.get("usage")
        if usage:
            parsed = Usage.from_json(usage)
            if parsed is not None:
                self.reply.usage = parsed
                events.append(UsageEvent(parsed))

    def _identify(self, chunk: dict[str, Any]) -> None:
        reply = self.reply
        cid = chunk.get("id")
        if reply.id is None and isinstance(cid, str):
            reply.id = cid
        model = chunk.get("model")
        if reply.model is None and isinstance(model, str):
            reply.model = model
        self._identified = reply.id is not None and reply.model is not None

    def finish(self, *, streamed: bool = True) -> list[Event]:
        """End of input: release held-back text; mark the reply truncated if nothing finished."""
        events: list[Event] = []
        for state in self._states.values():
            self._flush(state, events)
        if streamed and not any(c.finish_reason for c in self.reply.choices):
            self.reply.truncated = True
        return events

    # -- choices -----------------------------------------------------------------------------

    def _state(self, index: int) -> _ChoiceState:
        state = self._states.get(index)
        if state is None:
            choices = self.reply.choices
            while len(choices) <= index:
                choices.append(Choice(index=len(choices)))
            state = self._states[index] = _ChoiceState(choices[index])
        return state

    def _choice(self, raw: dict[str, Any], events: list[Event]) -> None:
        index = raw.get("index", 0)
        state = self._states.get(index) if index.__class__ is int else None
        if state is None:
            if index.__class__ is not int or not 0 <= index < 128:
                index = 0
            state = self._state(index)
        delta = raw.get("delta")
        if delta.__class__ is not dict:
            delta = raw.get("message")
        if delta.__class__ is dict:
            content = delta.get("content")
            if content:
                if content.__class__ is str:
                    if state.mode == _TEXT and not state.hold and "!" not in content:
                        state.choice._text.append(content)  # the hot path: plain text
                        events.append(TextDelta(content, index))
                    else:
                        self._content(state, content, events)
                elif isinstance(content, list):
                    self._parts(state, content, events)
            if not delta.keys() <= _PLAIN_DELTA:
                self._extras(state, delta, events)
        reason = raw.get("finish_reason")
        if isinstance(reason, str) and reason:
            self._flush(state, events)
            state.choice.finish_reason = reason
            events.append(FinishEvent(reason, index))

    def _extras(self, state: _ChoiceState, delta: dict[str, Any], events: list[Event]) -> None:
        for key in ("reasoning_content", "reasoning"):
            value = delta.get(key)
            if isinstance(value, str) and value:
                self._reasoning(state, value, events)
                break
        blocks = delta.get("thinking_blocks")
        if isinstance(blocks, list):
            for block in blocks:
                if isinstance(block, dict):
                    thought = block.get("thinking")
                    if isinstance(thought, str) and thought:
                        self._reasoning(state, thought, events)
        images = delta.get("images")
        if isinstance(images, list):
            for item in images:
                url = _extract_url(item)
                if url:
                    self._image_url(state, url, events)

    def _parts(self, state: _ChoiceState, parts: list[Any], events: list[Event]) -> None:
        for part in parts:
            if isinstance(part, str):
                self._content(state, part, events)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    self._content(state, part["text"], events)
                elif kind in ("image_url", "image", "output_image"):
                    url = _extract_url(part)
                    if url:
                        self._image_url(state, url, events)
                elif kind in ("thinking", "reasoning"):
                    value = part.get("thinking", part.get("text"))
                    if isinstance(value, str) and value:
                        self._reasoning(state, value, events)

    # -- emitting ----------------------------------------------------------------------------

    @staticmethod
    def _text(state: _ChoiceState, text: str, events: list[Event]) -> None:
        if text:
            state.choice._text.append(text)
            events.append(TextDelta(text, state.choice.index))

    @staticmethod
    def _reasoning(state: _ChoiceState, text: str, events: list[Event]) -> None:
        state.choice._reasoning.append(text)
        events.append(ReasoningDelta(text, state.choice.index))

    @staticmethod
    def _image_url(state: _ChoiceState, url: str, events: list[Event]) -> bool:
        image = GeneratedImage.from_url(url)
        if image is None:
            return False
        state.choice.images.append(image)
        events.append(ImageEvent(image, state.choice.index))
        return True

    # -- the content state machine -----------------------------------------------------------

    def _content(self, state: _ChoiceState, s: str, events: list[Event]) -> None:
        mode = state.mode
        if mode == _TEXT and not state.hold and "!" not in s:
            self._text(state, s, events)  # the common case
            return
        if mode == _URL:
            rest = self._url(state, s, events)
            if rest:
                self._scan(state, rest, events)
            return
        if state.hold:
            s = state.hold + s  # hold is short in every mode but _URL
            state.hold = ""
        if mode == _AFTER_THINK:
            s = s.lstrip()  # the blank lines after </think> are not part of the answer
            if s:
                state.mode = _TEXT
                self._scan(state, s, events)
        elif mode == _START:
            self._start(state, s, events)
        elif mode == _THINK:
            self._think(state, s, events)
        else:  # _TEXT, or _ALT whose held text starts with "!["
            self._scan(state, s, events)

    def _start(self, state: _ChoiceState, s: str, events: list[Event]) -> None:
        stripped = s.lstrip()
        if not stripped:
            state.hold = s
            return
        for tag in _OPEN_TAGS:
            if stripped.startswith(tag):
                state.mode = _THINK
                state.close_tag = _CLOSE_FOR[tag]
                state.think_fresh = True
                self._think(state, stripped[len(tag) :], events)
                return
            if tag.startswith(stripped):
                state.hold = s  # could still become a tag
                return
        state.mode = _TEXT
        self._scan(state, s, events)

    def _think(self, state: _ChoiceState, s: str, events: list[Event]) -> None:
        """Inside ``<think>``: route text to reasoning until the closing tag.

        The blank lines just inside the tags are not part of the thought, so leading blanks
        are skipped and trailing ones held back until more thought text proves them inner.
        """
        if state.think_fresh:
            s = s.lstrip()
            if not s:
                return
            state.think_fresh = False
        close = state.close_tag
        end = s.find(close)
        if end == -1:
            keep = 0  # hold back a suffix that may be the start of the closing tag
            for k in range(min(len(close) - 1, len(s)), 0, -1):
                if close.startswith(s[-k:]):
                    keep = k
                    break
            body = s[: len(s) - keep]
            emit = body.rstrip()
            if emit:
                self._reasoning(state, emit, events)
            state.hold = body[len(emit) :] + s[len(s) - keep :]
            return
        thought = s[:end].rstrip()
        if thought:
            self._reasoning(state, thought, events)
        state.mode = _AFTER_THINK
        rest = s[end + len(close) :].lstrip()
        if rest:
            state.mode = _TEXT
            self._scan(state, rest, events)

    def _scan(self, state: _ChoiceState, s: str, events: list[Event]) -> None:
        """Text mode: pass text through, stopping at anything that may be ``![alt](url)``."""
        while s:  # a loop, not recursion: one delta may hold thousands of "![" (or images)
            start = s.find("![")
            if start == -1:
                if s.endswith("!"):
                    self._text(state, s[:-1], events)
                    state.hold = "!"
                else:
                    self._text(state, s, events)
                return
            self._text(state, s[:start], events)
            state.mode = _ALT
            s = self._alt(state, s[start:], events) or ""

    def _alt(self, state: _ChoiceState, s: str, events: list[Event]) -> str | None:
        """`s` starts with ``![``: decide whether it is an image whose URL we should collect.

        Returns the text still to scan, or None when everything was used or held back.
        """
        # only an alt text shorter than _MAX_ALT counts, however the text was split into deltas
        close = s.find("](", 2, _MAX_ALT + 1)
        bad = s.find("\n", 2, _MAX_ALT + 1)
        if close == -1 or (bad != -1 and bad < close):
            if bad == -1 and len(s) <= _MAX_ALT:
                state.hold = s  # alt text still arriving
                return None
            return self._not_image(state, s, events)
        url_start = close + 2
        head = s[url_start : url_start + 11]
        if not any(p.startswith(head) or head.startswith(p) for p in _URL_PREFIXES):
            return self._not_image(state, s, events)
        if len(head) < 11 and not any(head.startswith(p) for p in _URL_PREFIXES):
            state.hold = s  # prefix not yet decided
            return None
        state.mode = _URL
        state.hold = s[:url_start]  # the "![alt](" part, kept for release if this is no image
        state.url_parts = []
        return self._url(state, s[url_start:], events)

    def _not_image(self, state: _ChoiceState, s: str, events: list[Event]) -> str:
        state.mode = _TEXT
        self._text(state, s[:2], events)
        return s[2:]

    def _url(self, state: _ChoiceState, s: str, events: list[Event]) -> str | None:
        """Collect the URL; at its ")" emit the image and return the text after it."""
        end = s.find(")")
        if end == -1:
            state.url_parts.append(s)
            return None
        state.url_parts.append(s[:end])
        url = "".join(state.url_parts)
        state.url_parts = []
        prefix = state.hold
        state.hold = ""
        state.mode = _TEXT
        target = url.strip().split(" ", 1)[0]  # drop an optional "title"
        if not self._image_url(state, target, events):
            self._text(state, prefix + url + ")", events)
        return s[end + 1 :]

    def _flush(self, state: _ChoiceState, events: list[Event]) -> None:
        """Release whatever is held back: nothing more is coming for this choice."""
        if state.mode == _URL:
            text = state.hold + "".join(state.url_parts)
            state.url_parts = []
        else:
            text = state.hold
        state.hold = ""
        if text:
            if state.mode == _THINK:
                self._reasoning(state, text, events)
            else:
                self._text(state, text, events)
        if state.mode not in (_THINK, _AFTER_THINK):
            state.mode = _TEXT
