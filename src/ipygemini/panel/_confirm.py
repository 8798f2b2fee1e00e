"""The panel's confirm control for MCP tools: a call of a tool that is not read-only and not
allowed (``allow=[...]``) waits for the user's Allow or Deny in the panel. Denied (or the answer
stopped) is answered to the model as refused, and nothing runs.

It plugs into `McpServer`'s async ``allow`` hook: the call waits on a future of the kernel's
loop, which the view's ``{"type": "confirm", "id", "allow"}`` message resolves."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Confirmations"]

ARGUMENTS_SHOWN = 300
"""Characters of a call's arguments shown in the confirm control (the rest is elided)."""


class Confirmations:
    """The calls waiting for the user's answer, by id; `post` sends a message to the views."""

    def __init__(self, post: Callable[[dict[str, Any]], None]) -> None:
        self._post = post
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self._ids = itertools.count(1)

    def guard(self, tools: Sequence[Any]) -> list[Any]:
        """`tools` with each MCP server that has no allow hook of its own asking in the panel
        (the tools it already allows by name still run without asking)."""
        guarded = []
        for tool in tools:
            allow = getattr(tool, "allow", True)
            if hasattr(tool, "allowing") and (allow is None or isinstance(allow, frozenset)):
                tool = tool.allowing(self._hook(tool.name, allow or frozenset()))
            guarded.append(tool)
        return guarded

    def _hook(self, server: str, listed: frozenset[str]) -> Callable[[str, dict[str, Any]], Any]:
        async def ask(tool: str, arguments: dict[str, Any]) -> bool:
            if tool in listed or f"{server}__{tool}" in listed:
                return True
            return await self.ask(f"{server}.{tool}", arguments)

        return ask

    async def ask(self, label: str, arguments: dict[str, Any]) -> bool:
        """Show Allow / Deny for `label`; True when the user allowed this call."""
        key = next(self._ids)
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[key] = answer
        shown = json.dumps(arguments, ensure_ascii=False, default=str)
        if len(shown) > ARGUMENTS_SHOWN:
            shown = shown[: ARGUMENTS_SHOWN - 1] + "…"
        self._post({"type": "confirm", "id": key, "tool": label, "arguments": shown})
        try:
            return await answer
        finally:
            self._waiting.pop(key, None)
            self._post({"type": "confirmed", "id": key})

    def answer(self, key: Any, allow: Any) -> None:
        """The user's click (from any view; the first answer counts)."""
        waiting = self._waiting.get(key) if isinstance(key, int) else None
        if waiting is not None and not waiting.done():
            waiting.set_result(allow is True)

    @property
    def pending(self) -> int:
        """Calls waiting for an answer now."""
        return len(self._waiting)
