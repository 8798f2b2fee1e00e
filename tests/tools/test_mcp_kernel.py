"""MCP tools in a real kernel: called from cells (the kernel's main thread, its asyncio loop
present), the server reused by later cells, its stderr kept out of the notebook, and the process
ended with the kernel."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import EDGE_SERVER
from ipygemini.testing import FakeGateway
from kernel_driver import KernelSession, kernel_env, ok

pytest.importorskip("mcp")

EDGE = str(EDGE_SERVER)

CALL = """
import sys, ipygemini
edge = ipygemini.mcp_server(sys.executable, {edge!r}, name="edge")
reply = ipygemini.connect(model="gemini-2.5-flash").chat("{prompt}", tools=[edge])
print(reply.tool_calls[0].result)
"""


def test_cells_share_one_quiet_server_that_ends_with_the_kernel() -> None:
    with FakeGateway() as gw:
        session = KernelSession(kernel_env(gw))
        try:
            gw.script_tool_calls([[("edge__process_id", {})]])
            first = ok(session.run(CALL.format(edge=EDGE, prompt="pid?")))
            gw.script_tool_calls([[("edge__process_id", {})]])
            second = ok(session.run(CALL.format(edge=EDGE, prompt="pid again?")))
            pid = int(first.stdout.strip().split(": ")[-1].rstrip("}"))
            assert second.stdout == first.stdout  # the same process answered
            os.kill(pid, 0)  # alive while the kernel is
            streams = [m for m in session.iopub if m["msg_type"] == "stream"]
            assert not any("edge: ready" in m["content"]["text"] for m in streams)
            session.km.request_shutdown()
            session.km.finish_shutdown(waittime=30)
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        finally:
            session.kc.stop_channels()
            if session.km.is_alive():
                session.km.shutdown_kernel(now=True)


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX process checks")
