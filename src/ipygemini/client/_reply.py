"""Fold chat-completion chunks (streamed or not) into a `Reply`, yielding typed events. No I/O.

Gateways disagree on where things go (see PROTOCOL.md): images come in ``images[]``, in
content-part arrays or as Markdown data/https URLs inside the text; thinking comes as
``reasoning_content``, ``reasoning``, ``thinking_blocks`` or a leading ``<think>``/``<thought>``
block. This module accepts all of them; the content channel's state machine (think tags, Markdown
images) is `_content.ChoiceState`. Work per chunk is proportional to the chunk, never to the
answer so far. What a front end should tell the user (fewer answers than asked for, images
skipped, an answer spent on thinking) becomes a line in `Reply.notes`.
"""

from __future__ import annotations

from typing import Any

from .._types import Choice, Event, FinishEvent, Reply, TextDelta, Usage, UsageEvent
from ._content import TEXT, ChoiceState
from ._toolcalls import ToolCallParts

__all__ = ["ReplyAssembler"]

_PLAIN_DELTA = frozenset({"role", "content"})  # a delta with nothing but these has no extras


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

    def __init__(self, reply: Reply | None = None, *, requested_choices: int = 1) -> None:
        """`requested_choices` is the request's ``n``: fewer choices than that get a note."""
        self.reply = reply if reply is not None else Reply()
        self.requested_choices = requested_choices
        self._states: dict[int, ChoiceState] = {0: ChoiceState(self.reply.choices[0], self.reply)}
        self._identified = False  # id and model taken from the first chunk that has them
        self._tool_parts: ToolCallParts | None = None  # the first choice's tool calls

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
                        and state.mode == TEXT
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

    def finish(self, *, streamed: bool = True, cut: bool = False) -> list[Event]:
        """End of input: release held-back text, mark the reply truncated if nothing finished,
        and note what the user should know about how it ended. `cut`: the reader stopped or
        the stream broke (an open think block then stays thinking)."""
        events: list[Event] = []
        for state in self._states.values():
            state.flush(events, cut=cut)
        reply = self.reply
        if self._tool_parts:
            reply.tool_calls.extend(self._tool_parts.calls())
            self._tool_parts = None
        if streamed and not any(c.finish_reason for c in reply.choices):
            reply.truncated = True
        returned = len(reply.choices)
        if returned < self.requested_choices:
            reply.note(
                f"asked for {self.requested_choices} answers, the gateway returned {returned}"
            )
        usage = reply.usage
        if usage is not None and usage.reasoning_tokens > 0:
            for choice in reply.choices:
                if choice.finish_reason == "length" and not choice.text.strip():
                    reply.note(
                        f"the model spent max_tokens thinking ({usage.reasoning_tokens} reasoning "
                        "tokens): raise --max-tokens or lower --thinking"
                    )
                    break
        return events

    # -- choices -----------------------------------------------------------------------------

    def _state(self, index: int) -> ChoiceState:
        state = self._states.get(index)
        if state is None:
            choices = self.reply.choices
            while len(choices) <= index:
                choices.append(Choice(index=len(choices)))
            state = self._states[index] = ChoiceState(choices[index], self.reply)
        return state

    def _choice(self, raw: dict[str, Any], events: list[Event]) -> None:
        index = raw.get("index", 0)
        state = self._states.get(index) if index.__class__ is int else None
        if state is None:
            if index.__class__ is not int or not 0 <= index < 128:
                index = 0
            state = self._state(index)
        delta = raw.get("delta")
        whole = delta.__class__ is not dict
        if whole:
            delta = raw.get("message")
        if delta.__class__ is dict:
            content = delta.get("content")
            if content:
                if content.__class__ is str:
                    if state.mode == TEXT and not state.hold and "!" not in content:
                        state.choice._text.append(content)  # the hot path: plain text
                        events.append(TextDelta(content, state.choice.index))
                    else:
                        state.content(content, events)
                elif isinstance(content, list):
                    self._parts(state, content, events)
            if not delta.keys() <= _PLAIN_DELTA:
                self._extras(state, delta, events)
                calls = delta.get("tool_calls")
                if calls.__class__ is list and state.choice.index == 0:
                    if self._tool_parts is None:
                        self._tool_parts = ToolCallParts()
                    self._tool_parts.feed(calls, whole=whole)
        reason = raw.get("finish_reason")
        if isinstance(reason, str) and reason:
            state.flush(events)
            state.choice.finish_reason = reason
            events.append(FinishEvent(reason, index))

    def _extras(self, state: ChoiceState, delta: dict[str, Any], events: list[Event]) -> None:
        for key in ("reasoning_content", "reasoning"):
            value = delta.get(key)
            if isinstance(value, str) and value:
                state.reasoning(value, events)
                break
        blocks = delta.get("thinking_blocks")
        if isinstance(blocks, list):
            for block in blocks:
                if isinstance(block, dict):
                    thought = block.get("thinking")
                    if isinstance(thought, str) and thought:
                        state.reasoning(thought, events)
        images = delta.get("images")
        if isinstance(images, list):
            for item in images:
                url = _extract_url(item)
                if url:
                    state.image_url(url, events)

    def _parts(self, state: ChoiceState, parts: list[Any], events: list[Event]) -> None:
        for part in parts:
            if isinstance(part, str):
                state.content(part, events)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    state.content(part["text"], events)
                elif kind in ("image_url", "image", "output_image"):
                    url = _extract_url(part)
                    if url:
                        state.image_url(url, events)
                elif kind in ("thinking", "reasoning"):
                    value = part.get("thinking", part.get("text"))
                    if isinstance(value, str) and value:
                        state.reasoning(value, events)
