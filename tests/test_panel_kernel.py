"""ChatPanel in a real kernel (jupyter_client) against a FakeGateway running in this process.

The panel is driven by code executed in the kernel, exactly as a notebook would; waiting is
done by polling kernel state with further execute requests, never by sleeping. The pacing and
block-freezing logic is also checked directly, without a kernel, at the end.
"""

from __future__ import annotations

import json
import os
import queue
import random
import struct
import textwrap
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from ipygemini.testing import FakeGateway, answer_for

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

KEY = "sk-panel-SECRET-7c41zqxw"  # a non-hex tail: widget ids are hex


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc8\x28\x28" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class KernelError(AssertionError):
    pass


class Kernel:
    """One IPython kernel; every iopub message it sends is kept in `iopub`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.manager = jupyter_client.KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env)
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.iopub: list[dict[str, Any]] = []

    def run(self, code: str, timeout: float = 30.0, subshell: str | None = None) -> str:
        """Execute `code` (in `subshell`, if given); return its stdout and execute_result."""
        content = {
            "code": textwrap.dedent(code),
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        request = self.client.session.msg("execute_request", content)
        if subshell is not None:
            request["header"]["subshell_id"] = subshell
        self.client.shell_channel.send(request)
        msg_id = request["header"]["msg_id"]
        out: list[str] = []
        error: dict[str, Any] | None = None
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            self.iopub.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "execute_result":
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error = content
            elif kind == "status" and content["execution_state"] == "idle":
                break
        if error is not None:
            trace = "\n".join(error.get("traceback", []))
            raise KernelError(f"{error['ename']}: {error['evalue']}\n{trace}")
        return "".join(out)

    def eval(self, expression: str) -> Any:
        """The JSON value of `expression` in the kernel."""
        text = self.run(f"print(__import__('json').dumps({expression}))")
        return json.loads(text)

    def wait_for(self, expression: str, timeout_polls: int = 5000) -> None:
        """Poll `expression` with execute requests until it is true (the loop runs between)."""
        for _ in range(timeout_polls):
            if self.eval(f"bool({expression})"):
                return
        raise AssertionError(f"never became true: {expression}")

    def subshell(self) -> str:
        """Create a kernel subshell (JupyterLab sends widget messages to one) and return its id."""
        self.client.control_channel.send(self.client.session.msg("create_subshell_request", {}))
        reply = self.client.control_channel.get_msg(timeout=30)
        assert reply["content"]["status"] == "ok", reply["content"]
        return str(reply["content"]["subshell_id"])

    def drain(self) -> None:
        while True:
            try:
                self.iopub.append(self.client.get_iopub_msg(timeout=0.3))
            except queue.Empty:
                return

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def gw() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=KEY) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def kernel(gw: FakeGateway) -> Iterator[Kernel]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    env.update(GEMINI_BASE_URL=gw.base_url, GEMINI_API_KEY=KEY)
    k = Kernel(env)
    k.run(
        """
        import asyncio, time, pathlib
        import ipywidgets as W
        import ipygemini
        from ipygemini import AsyncClient, ChatPanel, GeneratedImage
        from ipygemini._conversation import Conversation

        def widgets(root):
            '''Every widget under root, depth first.'''
            yield root
            for child in getattr(root, "children", ()):
                yield from widgets(child)

        def last_note():
            '''The last HTML shown in the transcript's newest message.'''
            return [w.value for w in widgets(panel._messages[-1]) if isinstance(w, W.HTML)][-1]
        """
    )
    yield k
    k.shutdown()


@pytest.fixture
def fresh(gw: FakeGateway) -> FakeGateway:
    gw.clear()
    return gw


def expected_html(text: str) -> str:
    """What the frozen answer must show: each Markdown block rendered on its own."""
    from ipygemini.render import BlockSplitter
    from ipygemini.render._markdown import render_markdown

    splitter = BlockSplitter()
    events = splitter.feed(text) + splitter.flush()
    return "".join(render_markdown(e.text) for e in events if e.kind == "done")


def chat_bodies(gw: FakeGateway) -> list[dict[str, Any]]:
    return [r.body for r in gw.requests if r.path.endswith("/chat/completions")]


# --- kernel tests ----------------------------------------------------------------------------


def test_send_streams_and_shows_the_whole_answer(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run("panel = ChatPanel(load_models=False)")
    kernel.run("reply = await panel.send('Explain streams [fake:delay=0.004 chunk_chars=5]')")
    body = chat_bodies(fresh)[-1]
    expected = answer_for(body)
    assert kernel.eval("reply.text") == expected
    assert kernel.eval("reply.status") == "complete"
    assert body["stream"] is True and body["model"] == "gemini-2.5-flash"
    # the live view was updated several times, at most 20 messages a second
    pushes, messages = kernel.eval(
        "[panel._answers[-1].pacer.pushes, panel._answers[-1].pacer.messages]"
    )
    assert pushes >= 2 and messages >= pushes
    # what stays on screen is each block rendered once, exactly as a one-shot render would be
    assert kernel.eval("panel.transcript_html()[-1]") == expected_html(expected)
    footer = kernel.eval("panel._answers[-1].box.children[-1].value")
    assert "gemini-2.5-flash" in footer and "tokens" in footer and " s" in footer
    assert kernel.eval(
        "[panel.busy, panel._send_button.disabled, panel._stop_button.disabled]"
    ) == [
        False,
        False,
        True,
    ]


def test_send_button_streams_in_the_background(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = ChatPanel(load_models=False)
        panel._prompt.value = "typed [fake:slow] [fake:words=40]"
        panel._send_button.click()
        """
    )
    # the click returned at once: the cell is over while the answer is still streaming
    assert kernel.eval("panel.busy") is True
    assert kernel.eval("panel._prompt.value") == ""
    kernel.wait_for("not panel.busy")
    assert kernel.eval("panel.last_reply.text") == answer_for(chat_bodies(fresh)[-1])


def test_stop_keeps_the_partial_answer_marked_interrupted(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    kernel.run(
        """
        panel = ChatPanel(load_models=False)
        task = panel.send("[fake:slow] [fake:words=600] go on and on")
        stopped_at = []
        task.add_done_callback(lambda _: stopped_at.append(time.monotonic()))
        """
    )
    kernel.wait_for("panel.last_reply is not None and len(panel.last_reply.text) > 80")
    kernel.run("clicked_at = time.monotonic(); panel._stop_button.click()")
    kernel.wait_for("task.done()")
    assert kernel.eval("stopped_at[0] - clicked_at") < 1.0
    assert fresh.wait_for_disconnect(5.0), "the gateway never saw the connection close"
    text = kernel.eval("task.result().text")
    full = answer_for(chat_bodies(fresh)[-1])
    assert 80 < len(text) < len(full) and full.startswith(text)
    assert kernel.eval("task.result().status") == "interrupted"
    footer = kernel.eval("panel._answers[-1].box.children[-1].value")
    assert "interrupted" in footer
    shown = kernel.eval("panel.transcript_html()[-1]")
    assert shown == expected_html(text)
    assert kernel.eval("panel.conversation.turns") == 0  # a cut-off answer is not remembered
    assert kernel.eval("[panel.busy, panel._send_button.disabled]") == [False, False]
    # and the panel works again
    kernel.run("again = await panel.send('after the stop')")
    assert kernel.eval("again.status") == "complete"


def test_new_chat_clears_transcript_and_conversation(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = ChatPanel(load_models=False)
        await panel.send("first question")
        await panel.send("second question")
        """
    )
    assert kernel.eval("panel.conversation.turns") == 2
    assert len(chat_bodies(fresh)[-1]["messages"]) == 3  # history went along
    kernel.run("panel._new_chat_button.click()")
    assert kernel.eval("panel.conversation.turns") == 0
    assert kernel.eval("panel._transcript.children == (panel._hint,)") is True
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-flash', turns=0)"
    kernel.run("await panel.send('fresh start')")
    assert [m["role"] for m in chat_bodies(fresh)[-1]["messages"]] == ["user"]


def test_conversation_is_shared_with_cells(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        conv = Conversation("shared", system="Answer briefly.")
        conv.record("What is 2+2?", "4")
        panel = ChatPanel(conversation=conv, load_models=False)
        """
    )
    # the earlier turn is shown
    assert kernel.eval("len(panel._messages)") == 2
    kernel.run("await panel.send('And 3+3?')")
    messages = chat_bodies(fresh)[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "4"
    assert kernel.eval("panel.conversation is conv and conv.turns == 2") is True
    # a turn added from a cell (as %%gemini -c does) goes along with the panel's next message
    kernel.run("conv.record('from a cell', 'noted')")
    kernel.run("await panel.send('and now?')")
    contents = [m["content"] for m in chat_bodies(fresh)[-1]["messages"]]
    assert "from a cell" in contents and "noted" in contents
    assert kernel.eval("conv.turns") == 4
    assert kernel.eval("len(panel._messages)") == 8  # 2 old + 2 panel + 2 cell + 2 panel


def test_errors_are_inline_and_the_panel_keeps_working(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run("panel = ChatPanel(client=AsyncClient(max_retries=0), load_models=False)")
    fresh.push_fault("status", code=500)
    kernel.run("bad = await panel.send('this fails')")
    assert kernel.eval("bad.status") == "failed"
    message = kernel.eval("str(bad.error)")
    assert "HTTP 500" in message and "\n" not in message
    note = kernel.eval("last_note()")
    assert "HTTP 500" in note and "⚠" in note
    assert kernel.eval("[panel.busy, panel.conversation.turns]") == [False, 0]

    kernel.run(
        "broken = await panel.send('[fake:error_event after=4] a long answer [fake:words=200]')"
    )
    assert kernel.eval("broken.status") == "failed"
    assert len(kernel.eval("broken.text")) > 0  # the text before the error is kept
    tail = kernel.eval("[w.value for w in panel._answers[-1].box.children[-2:]]")
    assert "Stream failed" in tail[0] and "failed" in tail[1]

    kernel.run("good = await panel.send('now it works')")
    assert kernel.eval("good.text") == answer_for(chat_bodies(fresh)[-1])
    assert kernel.eval("panel.conversation.turns") == 1


def test_a_missing_key_does_not_break_the_panel(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        import os
        saved_key = os.environ.pop("GEMINI_API_KEY")
        panel = ChatPanel(base_url="https://gateway.invalid/v1")
        nokey = await panel.send("hello?")
        os.environ["GEMINI_API_KEY"] = saved_key
        """
    )
    assert kernel.eval("panel.client is None") is True
    assert kernel.eval("type(nokey.error).__name__") == "MissingKeyError"
    assert "GEMINI_API_KEY" in kernel.eval("last_note()")
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-flash', turns=0)"
    assert chat_bodies(fresh) == []


def test_nothing_configured_answers_offline_until_a_key_is_set(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    kernel.run(
        """
        import os
        saved = {name: os.environ.pop(name) for name in ("GEMINI_API_KEY", "GEMINI_BASE_URL")}
        try:
            panel = ChatPanel(load_models=False)
            offline_reply = await panel.send("hello without a key")
        finally:
            os.environ.update(saved)
        """
    )
    assert kernel.eval("[panel.offline, offline_reply.status]") == [True, "complete"]
    assert kernel.eval("panel._answers[-1].box.children[-1].value").count("offline") == 1
    assert "built-in offline gateway" in kernel.eval("panel._status.value")
    assert chat_bodies(fresh) == []  # the test gateway saw nothing
    kernel.run("online_reply = await panel.send('and now?')")
    assert kernel.eval("[panel.offline, online_reply.status]") == [False, "complete"]
    assert [b["messages"][-1]["content"] for b in chat_bodies(fresh)] == ["and now?"]
    assert "offline" not in kernel.eval("panel._answers[-1].box.children[-1].value")


def test_model_menu_comes_from_the_gateway(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run("panel = ChatPanel()")
    kernel.wait_for("len(panel._model_picker.options) > 1")
    options = kernel.eval("list(panel._model_picker.options)")
    assert options[0] == "gemini-2.5-flash"
    assert "gemini-2.5-pro" in options and "gemini-2.5-flash-image" in options
    assert not any("embedding" in o for o in options)
    # choosing in the menu sets the model of the next message
    kernel.run("panel._model_picker.value = 'gemini-2.5-pro'")
    kernel.run("await panel.send('which model?')")
    assert chat_bodies(fresh)[-1]["model"] == "gemini-2.5-pro"
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-pro', turns=1)"


def test_model_menu_failure_falls_back(kernel: Kernel, fresh: FakeGateway) -> None:
    fresh.push_fault("status", code=503)
    kernel.run("panel = ChatPanel(client=AsyncClient(max_retries=0))")
    kernel.wait_for("panel._models_task.done()")
    assert kernel.eval("list(panel._model_picker.options)") == ["gemini-2.5-flash"]
    assert "Could not list models" in kernel.eval("panel._status.value")
    kernel.run("ok = await panel.send('still fine')")
    assert kernel.eval("ok.status") == "complete"


def test_thinking_temperature_images_and_code(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = ChatPanel(load_models=False)
        panel._thinking_box.value = True
        panel._temperature_slider.value = 0.3
        thought = await panel.send("show me some code")
        """
    )
    body = chat_bodies(fresh)[-1]
    assert body["temperature"] == 0.3
    assert body["extra_body"]["google"]["thinking_config"]["include_thoughts"] is True
    reasoning = kernel.eval("thought.reasoning")
    assert reasoning
    title, index = kernel.eval(
        "[panel._answers[-1]._thinking.titles[0], panel._answers[-1]._thinking.selected_index]"
    )
    assert title == f"Thinking ({len(reasoning.split()):,} words)" and index is None
    # the code block got a button that stores its code for %load
    kernel.run("[b for b in widgets(panel._answers[-1].box) if isinstance(b, W.Button)][0].click()")
    from ipygemini.render._markdown import code_blocks

    assert kernel.eval("_gemini_code") == code_blocks(kernel.eval("thought.text"))[0][1]
    assert "%load _gemini_code" in kernel.eval("panel._status.value")

    kernel.run(
        """
        panel.thinking = False
        panel.model = "gemini-2.5-flash-image"
        drawn = await panel.send("draw a red square")
        shown = [w for w in widgets(panel._answers[-1].box) if isinstance(w, W.Image)]
        """
    )
    assert kernel.eval("len(drawn.images)") == 1
    assert kernel.eval("len(shown) == 1 and shown[0].value == drawn.images[0].data") is True
    assert kernel.eval("shown[0].format") == "png"


def test_attachments_arrive_decoded(kernel: Kernel, fresh: FakeGateway, tmp_path: Any) -> None:
    png = tiny_png()
    pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the milk")
    kernel.run(
        f"""
        import datetime
        picture = GeneratedImage({png!r})
        panel = ChatPanel(load_models=False)
        panel.refresh_variables()
        panel._variable_picker.value = "picture"
        panel._attach_button.click()
        panel._upload.value = ({{
            "name": "report.pdf", "type": "application/pdf", "size": {len(pdf)},
            "content": memoryview({pdf!r}),
            "last_modified": datetime.datetime.now(datetime.timezone.utc),
        }},)
        panel.attach(b"drop me", "extra")
        """
    )
    labels = kernel.eval("[a.name for a in panel.pending]")
    assert labels == ["picture", "report.pdf", "extra"]
    assert kernel.eval("len(panel._pending_row.children)") == 3
    assert kernel.eval("panel._upload.value") == []
    kernel.run("panel._pending_row.children[2].click()")  # the chip's ✕ removes it
    assert kernel.eval("[a.name for a in panel.pending]") == ["picture", "report.pdf"]
    kernel.run(
        f"withfiles = await panel.send('what is in these?', attachments=[pathlib.Path({str(notes)!r})])"
    )
    request = [r for r in fresh.requests if r.path.endswith("/chat/completions")][-1]
    kinds = [(a.kind, a.mime_type, a.filename) for a in request.attachments]
    assert ("image_url", "image/png", None) in kinds
    assert ("file", "application/pdf", "report.pdf") in kinds
    image = next(a for a in request.attachments if a.kind == "image_url")
    assert image.data == png and image.image_size == (3, 2)
    document = next(a for a in request.attachments if a.kind == "file")
    assert document.data == pdf
    texts = [p["text"] for p in request.body["messages"][-1]["content"] if p["type"] == "text"]
    assert texts[0] == "what is in these?" and any("remember the milk" in t for t in texts)
    assert kernel.eval("panel.pending") == []
    # the sent message lists its attachments and shows the image from its bytes
    assert kernel.eval(
        "[w.value for w in widgets(panel._messages[-2]) if isinstance(w, W.Image)] == [picture.data]"
    )
    user_html = kernel.eval(
        "[w.value for w in widgets(panel._messages[-2]) if isinstance(w, W.HTML)][0]"
    )
    assert "picture" in user_html and "report.pdf" in user_html and "notes.txt" in user_html
    # an attachment that cannot be sent is an inline error, not a crash
    kernel.run("refused = await panel.send('and this?', attachments=[object()])")
    assert kernel.eval("refused.status") == "failed"
    assert "cannot attach" in kernel.eval("last_note()")


def test_a_cell_runs_while_an_answer_streams(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = ChatPanel(load_models=False)
        task = panel.send("[fake:delay=0.01] [fake:words=300] keep going")
        """
    )
    kernel.wait_for("panel.last_reply is not None and len(panel.last_reply.text) > 20")
    # a blocking cell runs now; the answer waits for it (same event loop) and then goes on
    during = kernel.eval(
        "[panel.busy, len(panel.last_reply.text), sum(i * i for i in range(300_000)),"
        " len(panel.last_reply.text)]"
    )
    assert during[0] is True and during[2] == sum(i * i for i in range(300_000))
    assert during[1] == during[3]
    assert kernel.eval("task.done()") is False
    kernel.wait_for("task.done()")
    assert kernel.eval("task.result().text") == answer_for(chat_bodies(fresh)[-1])
    assert kernel.eval("task.result().status") == "complete"


def test_callbacks_from_a_subshell_stream_on_the_kernel_loop(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    """JupyterLab 4.4+ sends widget messages to a subshell: callbacks run in another thread."""
    subshell = kernel.subshell()
    kernel.run(
        """
        import threading
        panel = ChatPanel(load_models=False)
        ran_on = []
        original_run = panel._run
        async def traced_run(*args):
            ran_on.append(threading.current_thread().name)
            return await original_run(*args)
        panel._run = traced_run
        """
    )
    where = kernel.run(
        "print(threading.current_thread().name != 'MainThread')\n"
        "panel._prompt.value = 'first click'\npanel._send_button.click()",
        subshell=subshell,
    )
    assert where.strip() == "True"
    kernel.wait_for("panel.conversation.turns == 1")
    # a second click reuses the pooled connection: it must be on the same loop as the first
    kernel.run(
        "panel._prompt.value = 'second click'\npanel._send_button.click()", subshell=subshell
    )
    kernel.wait_for("panel.conversation.turns == 2")
    kernel.run("from_subshell = await panel.send('awaited in a subshell')", subshell=subshell)
    assert kernel.eval("from_subshell.status") == "complete"
    kernel.run("from_main = await panel.send('awaited in the main shell')")
    assert kernel.eval("[from_main.status, panel.conversation.turns]") == ["complete", 4]
    assert kernel.eval("ran_on") == ["MainThread"] * 4
    assert [b["messages"][-1]["content"] for b in chat_bodies(fresh)] == [
        "first click",
        "second click",
        "awaited in a subshell",
        "awaited in the main shell",
    ]


def test_repr_is_deterministic(kernel: Kernel, fresh: FakeGateway) -> None:
    shown = kernel.run("panel = ChatPanel(model='gemini-2.5-pro', load_models=False)\npanel")
    assert shown == "ChatPanel(model='gemini-2.5-pro', turns=0)"
    kernel.run("await panel.send('one')")
    bundle = kernel.eval("panel._repr_mimebundle_()")
    assert bundle["text/plain"] == "ChatPanel(model='gemini-2.5-pro', turns=1)"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert kernel.run("print(panel)") == "ChatPanel(model='gemini-2.5-pro', turns=1)\n"
    kernel.run("panel.close()")
    assert kernel.eval("all(w.comm is None for w in widgets(panel.widget))") is True
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-pro', turns=1)"


def test_importing_ipygemini_does_not_import_ipywidgets(kernel: Kernel) -> None:
    out = kernel.run(
        """
        import subprocess, sys
        print(subprocess.run([sys.executable, "-c",
            "import sys, ipygemini; print('ipywidgets' in sys.modules)"],
            capture_output=True, text=True).stdout)
        """
    )
    assert out.strip() == "False"


def test_the_key_is_in_no_iopub_message(kernel: Kernel) -> None:
    """Runs last in this module: every message of every test above is checked."""
    kernel.run("panel = ChatPanel(load_models=False); await panel.send('is my key safe?')")
    kernel.drain()
    assert len(kernel.iopub) > 200
    comms = [m for m in kernel.iopub if m["msg_type"].startswith("comm")]
    assert comms, "no widget traffic was recorded"
    leaks = [m["msg_type"] for m in kernel.iopub if KEY in json.dumps(m, default=str)]
    assert leaks == []
    assert KEY[-4:] not in json.dumps([m["content"] for m in comms])


# --- the pure parts, without a kernel ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_pacer_limits_messages_per_second() -> None:
    from ipygemini.panel._panel import Pacer

    clock = FakeClock()
    pacer = Pacer(rate=20, ratio=1e9, clock=clock)
    sent = []
    for step in range(2000):  # a chunk every millisecond for two seconds
        clock.now = step / 1000
        pacer.add(4)
        if pacer.delay(100) == 0.0:
            pacer.pushed(2 if step % 7 == 0 else 1, 100)
            sent.append((clock.now, pacer.messages))
    for start in (0.0, 0.5, 1.0):
        window = [m for t, m in sent if start <= t < start + 1.0]
        assert window[-1] - window[0] <= 20


def test_pacer_bounds_bytes_per_character_on_a_slow_stream() -> None:
    from ipygemini.panel._panel import Pacer

    clock = FakeClock()
    pacer = Pacer(rate=20, ratio=5, allowance=6000, patience=1.0, clock=clock)
    for step in range(1000):  # 4 characters every 10 ms: a slow stream
        clock.now = step / 100
        pacer.add(4)
        cost = 900
        if pacer.delay(cost) == 0.0:
            pacer.pushed(1, cost)
    assert pacer.spent <= 5 * pacer.chars + 6000 + 900
    assert pacer.pushes > 20  # yet the screen kept moving


def test_answer_view_freezes_blocks_independently_of_chunking() -> None:
    from ipygemini._types import TextDelta
    from ipygemini.panel._panel import AnswerView, Pacer, _Kit

    text = answer_for({"model": "m", "messages": [{"role": "user", "content": "code please"}]})
    text += "\n\n- a list\n- of items\n\n# Heading\n\nLast words."
    kit = _Kit()
    rng = random.Random(5)
    results = set()
    for _ in range(3):
        clock = FakeClock()
        view = AnswerView(kit, Pacer(clock=clock))
        pos = 0
        while pos < len(text):
            size = rng.randint(1, 40)
            clock.now += 0.01
            view.feed(TextDelta(text[pos : pos + size]))
            pos += size
        view.finish(None, model="m", seconds=1.0)
        results.add(view.html())
        assert len(view.codes) == 1
    assert results == {expected_html(text)}
