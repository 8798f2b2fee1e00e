"""`ChatPanel(tools=[mcp_server(...)])` in a real kernel: a tool that is not read-only and not
allowed waits for the panel's confirm control; the answer comes back as a real widget message
(a ``comm_msg`` on the shell channel, as the page sends it). Denied is answered to the model as
refused and nothing runs; allowed runs; a tool allowed by name never asks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import EDGE_SERVER, KernelSession
from ipygemini.testing import FakeGateway

pytest.importorskip("mcp")
pytest.importorskip("anywidget")

EDGE = str(EDGE_SERVER)

SETUP = f"""
import sys, ipygemini
from ipygemini import ChatPanel

def watch(panel):
    panel.wire = []
    post = panel._post
    def recording(content, buffers=None):
        panel.wire.append(content)
        post(content, buffers)
    panel._post = recording
    return panel

def asked(panel):
    return [c for c in panel.wire if c["type"] == "confirm"]

edge = ipygemini.mcp_server(sys.executable, {EDGE!r}, name="edge")
"""


def ok(session: KernelSession, code: str) -> str:
    cell = session.run(code)
    assert cell.status == "ok", (cell.stderr, cell.error)
    return cell.stdout


def value(session: KernelSession, expression: str) -> Any:
    return json.loads(ok(session, f"print(__import__('json').dumps({expression}))"))


def click(session: KernelSession, comm_id: str, **content: Any) -> None:
    """What the page's button sends: a custom widget message over the shell channel."""
    data = {"method": "custom", "content": content}
    kc = session.kc
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))


def tool_contents(gw: FakeGateway) -> list[str]:
    bodies = [r.body for r in gw.requests if r.path.endswith("/chat/completions")]
    return [m["content"] for b in bodies for m in b["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("allow", [False, True])
def test_the_confirm_control_decides_whether_a_writing_tool_runs(
    kernel: KernelSession, magic_gateway: FakeGateway, allow: bool
) -> None:
    magic_gateway.clear()
    ok(kernel, SETUP)
    ok(kernel, "panel = watch(ChatPanel(load_models=False, tools=[edge]))")
    magic_gateway.script_tool_calls([[("edge__write_note", {"note": "hi"})]])
    ok(kernel, "task = panel.send('keep a note')")
    kernel.wait_for("len(asked(panel)) == 1")
    question = value(kernel, "asked(panel)[0]")
    assert question["tool"] == "edge.write_note" and question["arguments"] == '{"note": "hi"}'
    assert value(kernel, "panel.busy") is True  # the call waits; nothing ran yet
    assert tool_contents(magic_gateway) == []
    click(
        kernel, value(kernel, "panel.comm.comm_id"), type="confirm", id=question["id"], allow=allow
    )
    kernel.wait_for("not panel.busy")
    [sent] = tool_contents(magic_gateway)
    call = value(kernel, "[task.result().tool_calls[0].error, task.result().tool_calls[0].result]")
    if allow:
        assert json.loads(sent) == {"result": "stored 1 note(s)"} and call[0] is None
    else:
        assert "refused" in sent and "declined" in sent and "nothing ran" in sent
        assert call[0] and call[0].startswith("refused")
    assert value(kernel, "[c['id'] for c in panel.wire if c['type'] == 'confirmed']") == [
        question["id"]
    ]


def test_a_tool_allowed_by_name_or_read_only_never_asks(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    magic_gateway.clear()
    ok(kernel, SETUP)
    ok(
        kernel,
        "panel = watch(ChatPanel(load_models=False, tools=[edge.allowing(['write_note'])]))",
    )
    magic_gateway.script_tool_calls(
        [[("edge__write_note", {"note": "a"}), ("edge__echo", {"text": "b"})]]
    )
    ok(kernel, "reply = await panel.send('note and echo')")
    assert value(kernel, "[c.error for c in reply.tool_calls]") == [None, None]
    assert value(kernel, "asked(panel)") == []


def test_the_panel_shows_a_tools_image_from_bytes_and_the_call_as_server_dot_tool() -> None:
    import asyncio
    import sys

    import ipygemini
    from ipygemini import ChatPanel, Settings

    with FakeGateway() as gw:
        settings = Settings.resolve(api_key=gw.api_key, base_url=gw.base_url)
        edge = ipygemini.mcp_server(sys.executable, EDGE, name="edge")
        gw.script_tool_calls([[("edge__picture", {})]])

        async def main() -> list[Any]:
            panel = ChatPanel(settings=settings, load_models=False, tools=[edge])
            sent: list[Any] = []
            panel._post = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
            await panel.send("draw")
            return sent

        sent = asyncio.run(main())
    ops = [(op, buffers) for c, buffers in sent if c["type"] == "ops" for op in c["ops"]]
    images = [buffers[op["buffer"]] for op, buffers in ops if op["op"] == "image"]
    assert len(images) == 1 and bytes(images[0]).startswith(b"\x89PNG")
    blocks = [op["html"] for op, _ in ops if op["op"] == "block"]
    assert any("edge.picture() →" in b for b in blocks), blocks
