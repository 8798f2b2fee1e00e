"""`ChatPanel(tools=[...])`: the model's calls run, and each is shown folded and escaped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ipygemini import OptionError
from ipygemini.testing import FakeGateway

pytest.importorskip("anywidget")


def hostile_echo(text: str) -> str:
    """Give the text back."""
    return text


def test_panel_runs_tools_and_shows_each_call_escaped() -> None:
    from ipygemini import ChatPanel, Settings

    with FakeGateway() as gw:
        gw.script_tool_calls([[("hostile_echo", {"text": "<img src=x onerror=alert(1)>"})]])
        settings = Settings.resolve(api_key=gw.api_key, base_url=gw.base_url)

        async def main() -> tuple[Any, list[dict[str, Any]], list[Any]]:
            panel = ChatPanel(settings=settings, load_models=False, tools=[hostile_echo])
            sent: list[Any] = []
            post = panel._post
            panel._post = lambda content, buffers=None: (
                sent.append(content),
                post(content, buffers),
            )  # type: ignore[method-assign]
            reply = await panel.send("echo please")
            return reply, panel.messages, sent

        reply, messages, sent = asyncio.run(main())
    assert reply.tool_calls[0].result == "<img src=x onerror=alert(1)>"
    assert messages[-1]["tool_calls"] == [
        "hostile_echo(text='<img src=x onerror=alert(1)>') → <img src=x onerror=alert(1)>"
    ]
    blocks = [
        op["html"] for c in sent if c.get("type") == "ops" for op in c["ops"] if op["op"] == "block"
    ]
    shown = [b for b in blocks if "hostile_echo(" in b]
    assert shown and "<details" in shown[0]
    assert all("<img" not in b for b in blocks)
    assert gw.requests[0].body["tools"][0]["function"]["name"] == "hostile_echo"


def test_panel_refuses_a_function_that_cannot_be_a_tool() -> None:
    from ipygemini import ChatPanel

    def positional(x: int, /) -> int:
        return x

    with pytest.raises(OptionError, match="positional-only"):
        ChatPanel(
            load_models=False, tools=[positional], api_key="k", base_url="http://127.0.0.1:9/v1"
        )
