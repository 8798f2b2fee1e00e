"""The tool loop's decisions, shared by `Stream` and `AsyncStream`: which calls of a finished
round to run, how a call's outcome is recorded and shown, what the next request's messages are,
and when to stop (an answer without calls, `max_tool_rounds`, an interrupt). No I/O: the two
streams only run the calls (a sync function in the kernel, an async one awaited) and send."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._errors import OptionError
from .._types import Event, Reply, TextDelta, ToolCall, ToolCallEvent, Usage
from ._toolcalls import assistant_message

if TYPE_CHECKING:
    from ..tools._functions import Tool, ToolResult

__all__ = ["DEFAULT_MAX_TOOL_ROUNDS", "ToolLoop", "added_usage", "tool_loop"]

DEFAULT_MAX_TOOL_ROUNDS = 8

Functions = Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]]


def tool_loop(
    tools: Functions | None, max_tool_rounds: int | None, *, secret: str | None = None
) -> ToolLoop | None:
    """The loop for a request's `tools` (None without tools); `OptionError` for bad input.
    `secret` (the API key) is masked in every result sent back or shown."""
    rounds = DEFAULT_MAX_TOOL_ROUNDS if max_tool_rounds is None else max_tool_rounds
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise OptionError(f"max_tool_rounds must be a whole number >= 1; got {rounds!r}")
    if not tools:
        return None
    if callable(tools) and not isinstance(tools, Mapping):
        tools = [tools]
    from ..tools._functions import tools_from

    return ToolLoop(tools_from(tools), rounds, secret=secret)


class ToolLoop:
    """One request's tools and the rounds run so far."""

    def __init__(
        self, tools: dict[str, Tool], max_rounds: int, *, secret: str | None = None
    ) -> None:
        self.tools = tools
        self.secret = secret
        self.max_rounds = max_rounds
        self.rounds = 0  # rounds whose calls were run
        self._calls_start = 0  # reply.tool_calls before this round
        self._text_start = 0  # answer text before this round
        self._spent: Usage | None = None  # usage of the rounds before this one
        self._ended = False

    def specs(self) -> list[dict[str, Any]]:
        """The request's ``tools`` list."""
        return [tool.spec() for tool in self.tools.values()]

    def due(self, reply: Reply) -> list[ToolCall]:
        """The calls of the round that just ended, to run now; [] when the answer is final
        (no calls, a failed or interrupted round, or `max_rounds` reached: noted)."""
        if self._ended:
            return []
        calls = reply.tool_calls[self._calls_start :]
        if calls and reply.complete and self.rounds >= self.max_rounds:
            for call in calls:
                call.error = "not run: max_tool_rounds reached"
            names = ", ".join(sorted({call.name for call in calls}))
            reply.note(
                f"stopped after {self.max_rounds} tool rounds (max_tool_rounds); the model "
                f"still asked for {names}"
            )
            calls = []
        if not calls or not reply.complete:
            self._ended = True
            reply.usage = added_usage(self._spent, reply.usage)
            return []
        return calls

    def check(self, call: ToolCall) -> tuple[Tool | None, ToolResult | None]:
        """(the tool to run, None), or (None, the refusal) for an unknown name."""
        tool = self.tools.get(call.name)
        if tool is not None:
            return tool, None
        from ..tools._functions import ToolResult

        known = ", ".join(self.tools) or "none"
        problem = f"unknown tool {call.name!r}; the tools are: {known}"
        return None, ToolResult(content=json.dumps({"error": problem}), error=problem)

    def ran(self, call: ToolCall, result: ToolResult, events: list[Event]) -> None:
        """Record what a call gave, on the call and as an event for the front ends."""
        from ..tools import McpToolOutput
        from ..tools._context import mask

        call.result = mask(result.content, self.secret)
        call.error = None if result.error is None else mask(result.error, self.secret)
        tool = self.tools.get(call.name)
        if tool is not None and tool.shown_name != call.name:
            call.shown_name = tool.shown_name
        if isinstance(result.value, McpToolOutput):  # what the front ends show besides the text
            call.images = list(result.value.images)
            if result.value.structured is not None:
                shown = json.dumps(result.value.structured, ensure_ascii=False, default=str)
                call.structured = json.loads(mask(shown, self.secret))
        events.append(ToolCallEvent(call))

    @contextmanager
    def running(self, reply: Reply) -> Iterator[None]:
        """Around running a round's calls: Ctrl-C or a cancelled task marks the reply
        interrupted (what arrived and the calls that ran are kept)."""
        try:
            yield
        except BaseException:
            reply.interrupted = True
            reply.note("stopped while running the tools")
            self._ended = True
            raise

    def next_body(
        self, body: Mapping[str, Any], reply: Reply, events: list[Event]
    ) -> dict[str, Any]:
        """The next round's request: the messages so far, the assistant's calls (signatures
        echoed) and one ``tool`` message per call, paired by position. Prepares `reply` to
        grow with the next answer."""
        calls = reply.tool_calls[self._calls_start :]
        text = reply.text[self._text_start :]
        results = [
            {"role": "tool", "tool_call_id": call.id, "content": call.result or ""}
            for call in calls
        ]
        messages = [*body["messages"], assistant_message(text, calls), *results]
        self.rounds += 1
        self._spent = added_usage(self._spent, reply.usage)
        reply.usage = None
        for choice in reply.choices:
            choice.finish_reason = None
        reply.truncated = False
        if reply.text and not reply.text.endswith("\n"):
            choice = reply.choices[0]
            choice._text.append("\n\n")
            events.append(TextDelta("\n\n"))
        self._calls_start = len(reply.tool_calls)
        self._text_start = len(reply.text)
        following = {**body, "messages": messages}
        if body.get("tool_choice") == "required" or isinstance(body.get("tool_choice"), Mapping):
            # a forced call holds for the first round; forced again, the model could never
            # answer with the results (servers call every time: max_tool_rounds would end it)
            following["tool_choice"] = "auto"
        return following


def added_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """The tokens of two requests together (None when neither reported any)."""
    if a is None or b is None:
        return b or a
    cached = (
        None
        if a.cached_tokens is None and b.cached_tokens is None
        else (a.cached_tokens or 0) + (b.cached_tokens or 0)
    )
    return Usage(
        a.prompt_tokens + b.prompt_tokens,
        a.completion_tokens + b.completion_tokens,
        a.total_tokens + b.total_tokens,
        a.reasoning_tokens + b.reasoning_tokens,
        cached,
    )
