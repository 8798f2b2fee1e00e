"""ChatPanel in a real kernel (jupyter_client) against a FakeGateway running in this process.

The panel is driven by code executed in the kernel, exactly as a notebook would; waiting is
done by polling kernel state with further execute requests, never by sleeping. The pacing and
block-freezing logic is also checked directly, without a kernel, at the end.
"""

from __future__ import annotations

import json
import os
import random
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import FakeClock, chat_bodies
from ipygemini._png import solid_png
from ipygemini.testing import FakeGateway, answer_for
from kernel_driver import KernelSession

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

KEY = "sk-panel-SECRET-7c41zqxw"  # a non-hex tail: widget ids are hex
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    return solid_png(width, height, (200, 40, 40))


class KernelError(AssertionError):
    pass


class Kernel:
    """The shared `KernelSession`, answering each cell with its text (stdout and value) and
    raising `KernelError` when the cell fails: what these tests compare."""

    def __init__(self, env: dict[str, str]) -> None:
        self.session = KernelSession(env)

    @property
    def iopub(self) -> list[dict[str, Any]]:
        return self.session.iopub

    def run(self, code: str, timeout: float = 30.0, subshell: str | None = None) -> str:
        cell = self.session.run(textwrap.dedent(code), timeout=timeout, subshell=subshell)
        error = cell.error
        if error is not None:
            trace = "\n".join(error.get("traceback", []))
            raise KernelError(f"{error['ename']}: {error['evalue']}\n{trace}")
        values = [
            m["content"]["data"].get("text/plain", "") for m in cell.of_type("execute_result")
        ]
        return cell.stdout + "".join(values)

    def eval(self, expression: str) -> Any:
        """The JSON value of `expression` in the kernel."""
        return json.loads(self.run(f"print(__import__('json').dumps({expression}))"))

    def wait_for(self, expression: str) -> None:
        self.session.wait_for(expression)

    def subshell(self) -> str:
        return self.session.subshell()

    def drain(self) -> None:
        self.session.drain()

    def shutdown(self) -> None:
        self.session.shutdown()


@pytest.fixture(scope="module")
def kernel(magic_gateway: FakeGateway) -> Iterator[Kernel]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    env.update(GEMINI_BASE_URL=magic_gateway.base_url, GEMINI_API_KEY=KEY)
    k = Kernel(env)
    k.run(
        """
        import asyncio, time, pathlib, threading
        import ipywidgets as W
        import ipygemini
        from ipygemini import AsyncClient, ChatPanel, GeneratedImage, Settings
        from ipygemini._conversation import Conversation

        def watch(panel):
            '''Record every custom message the panel sends to the page, with its buffers.'''
            panel.wire = []
            post = panel._post
            def recording(content, buffers=None):
                panel.wire.append((content, [bytes(b) for b in buffers or ()]))
                post(content, buffers)
            panel._post = recording
            return panel

        def page(panel, **content):
            '''A message from the page, as the widget receives it (any thread).'''
            panel._received(panel, content, [bytes(b) for b in content.pop("buffers", ())])

        def ops(panel, kind=None):
            found = [op for content, _ in panel.wire if content["type"] == "ops" for op in content["ops"]]
            return [op for op in found if kind is None or op["op"] == kind]

        def acks(panel):
            return [c for c, _ in panel.wire if c["type"] == "ack"]

        def notes(panel):
            return [m["text"] for m in panel.messages if m["role"] == "note"]
        """
    )
    yield k
    k.shutdown()


def expected_html(text: str) -> str:
    """What the finished answer must show: each Markdown block rendered on its own."""
    from ipygemini.render import BlockSplitter
    from ipygemini.render._markdown import render_markdown

    splitter = BlockSplitter()
    events = splitter.feed(text) + splitter.flush()
    return "".join(render_markdown(e.text) for e in events if e.kind == "done")


# --- kernel tests ----------------------------------------------------------------------------


def test_send_streams_append_only_deltas(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run("panel = watch(ChatPanel(load_models=False))")
    kernel.run("reply = await panel.send('Explain streams [fake:delay=0.004 chunk_chars=5]')")
    body = chat_bodies(fresh)[-1]
    expected = answer_for(body)
    assert kernel.eval("reply.text") == expected
    assert kernel.eval("reply.status") == "complete"
    assert body["stream"] is True and body["model"] == "gemini-2.5-flash"
    # each finished block was sent once, in order: together they are the one-shot rendering
    blocks = kernel.eval("[op['html'] for op in ops(panel, 'block') if op['id'] == 2]")
    assert "".join(blocks) == expected_html(expected)
    assert len(blocks) == len(set(blocks)) >= 2
    assert len(kernel.eval("ops(panel, 'tail')")) >= 1  # the open tail was shown live
    assert kernel.eval("panel.messages") == [
        {"role": "user", "text": "Explain streams [fake:delay=0.004 chunk_chars=5]"},
        {"role": "assistant", "text": expected, "status": "complete"},
    ]
    end = kernel.eval("ops(panel, 'end')[-1]")
    assert end["status"] == "complete" and end["error"] == ""
    assert "gemini-2.5-flash" in end["footer"] and "tokens" in end["footer"]
    assert " s" in end["footer"] and "offline" not in end["footer"]
    assert kernel.eval("[panel.busy, panel.conversation.turns]") == [False, 1]


def test_send_from_the_page_is_acknowledged_and_streams_in_the_background(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        page(panel, type="send", seq=1, text="typed [fake:slow] [fake:words=40]")
        """
    )
    # the message returned at once: the cell is over while the answer is still streaming
    assert kernel.eval("panel.busy") is True
    assert kernel.eval("acks(panel)") == [{"type": "ack", "seq": 1, "accepted": True}]
    # a second Send while streaming is refused with a note, and its text stays with the page
    kernel.run("page(panel, type='send', seq=2, text='too early')")
    assert kernel.eval("acks(panel)[-1]") == {"type": "ack", "seq": 2, "accepted": False}
    assert "still streaming" in kernel.eval("notes(panel)[-1]")
    kernel.wait_for("not panel.busy")
    assert kernel.eval("panel.last_reply.text") == answer_for(chat_bodies(fresh)[-1])
    assert len(chat_bodies(fresh)) == 1


def test_stop_keeps_the_partial_answer_marked_interrupted(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        task = panel.send("[fake:slow] [fake:words=600] go on and on")
        """
    )
    kernel.wait_for("panel.last_reply is not None and len(panel.last_reply.text) > 80")
    kernel.run("page(panel, type='stop')")
    kernel.wait_for("task.done()")
    assert fresh.wait_for_disconnect(5.0), "the gateway never saw the connection close"
    text = kernel.eval("task.result().text")
    full = answer_for(chat_bodies(fresh)[-1])
    assert 80 < len(text) < len(full) and full.startswith(text)
    assert kernel.eval("task.result().status") == "interrupted"
    end = kernel.eval("ops(panel, 'end')[-1]")
    assert end["status"] == "interrupted" and "interrupted" in end["footer"]
    assert kernel.eval("panel.messages[-1]") == {
        "role": "assistant",
        "text": text,
        "status": "interrupted",
    }
    assert kernel.eval("panel._session.transcript.entries[-1].html()") == expected_html(text)
    assert kernel.eval("panel.conversation.turns") == 0  # a cut-off answer is not remembered
    assert kernel.eval("[panel.busy, panel.status]") == [
        False,
        "Stopped; the partial answer is kept.",
    ]
    kernel.run("again = await panel.send('after the stop')")
    assert kernel.eval("again.status") == "complete"


def test_new_chat_clears_transcript_and_conversation(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        await panel.send("first question")
        await panel.send("second question")
        """
    )
    assert kernel.eval("panel.conversation.turns") == 2
    assert len(chat_bodies(fresh)[-1]["messages"]) == 3  # history went along
    kernel.run("page(panel, type='new_chat')")
    assert kernel.eval("[panel.conversation.turns, panel.messages]") == [0, []]
    assert kernel.eval("ops(panel)[-1]") == {"op": "clear"}
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-flash', turns=0)"
    kernel.run("await panel.send('fresh start')")
    assert [m["role"] for m in chat_bodies(fresh)[-1]["messages"]] == ["user"]


def test_regenerate_and_edit_replace_the_last_turn(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        await panel.send("keep this one")
        await panel.send("ask me again")
        first_id = panel._session.transcript.entries[-1].id
        page(panel, type="regenerate", id=first_id)
        """
    )
    kernel.wait_for("not panel.busy and panel.conversation.turns == 2")
    assert [b["messages"][-1]["content"] for b in chat_bodies(fresh)] == [
        "keep this one",
        "ask me again",
        "ask me again",
    ]
    assert len(chat_bodies(fresh)[-1]["messages"]) == 3  # the replaced turn did not go along
    assert [m["text"] for m in kernel.eval("panel.messages") if m["role"] == "user"] == [
        "keep this one",
        "ask me again",
    ]
    removed = kernel.eval("[op['id'] for op in ops(panel, 'remove')]")
    assert kernel.eval("first_id") in removed
    # only the last answer can be regenerated
    kernel.run("page(panel, type='regenerate', id=2)")
    assert "Only the last answer" in kernel.eval("notes(panel)[-1]")
    kernel.run("page(panel, type='send', seq=5, text='asked differently', edit=True)")
    kernel.wait_for("not panel.busy and panel.conversation.turns == 2")
    users = [m["content"] for m in chat_bodies(fresh)[-1]["messages"] if m["role"] == "user"]
    assert users == ["keep this one", "asked differently"]
    assert kernel.eval("[m['content'] for m in panel.conversation.messages][::2]") == users


def test_conversation_turns_from_cells_appear_even_while_streaming(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    kernel.run(
        """
        conv = Conversation("shared", system="Answer briefly.")
        conv.record("What is 2+2?", "4")
        panel = watch(ChatPanel(conversation=conv, load_models=False))
        """
    )
    assert kernel.eval("[m['text'] for m in panel.messages]") == ["What is 2+2?", "4"]
    kernel.run("await panel.send('And 3+3?')")
    messages = chat_bodies(fresh)[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    # a turn added from a cell (as %%gemini -c does) shows at once, also while streaming
    kernel.run(
        """
        task = panel.send("[fake:slow] [fake:words=80] a slow one")
        """
    )
    kernel.wait_for("panel.last_reply is not None and len(panel.last_reply.text) > 10")
    kernel.run("conv.record('from a cell', 'noted')")
    texts = kernel.eval("[m['text'] for m in panel.messages]")
    assert texts[-2:] == ["from a cell", "noted"]
    kernel.wait_for("task.done()")
    assert kernel.eval("task.result().status") == "complete"
    streamed = kernel.eval("[m for m in panel.messages if m['role'] == 'assistant'][-2]")
    assert streamed["text"] == kernel.eval("task.result().text")  # not lost
    assert kernel.eval("conv.turns") == 4
    kernel.run("await panel.send('and now?')")
    contents = [m["content"] for m in chat_bodies(fresh)[-1]["messages"]]
    assert "from a cell" in contents and "noted" in contents
    assert len(kernel.eval("panel.messages")) == 10  # no turn shown twice
    kernel.run("conv.reset()")
    assert kernel.eval("notes(panel)") == ["The conversation was reset elsewhere."]


def test_errors_are_one_line_notes_and_the_panel_keeps_working(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    kernel.run("panel = watch(ChatPanel(max_retries=0, load_models=False))")
    fresh.push_fault("status", code=500)
    kernel.run("bad = await panel.send('this fails')")
    assert kernel.eval("bad.status") == "failed"
    message = kernel.eval("str(bad.error)")
    assert "HTTP 500" in message and "\n" not in message
    end = kernel.eval("ops(panel, 'end')[-1]")
    assert "HTTP 500" in end["error"] and "⚠" in end["error"]
    assert kernel.eval("[panel.busy, panel.conversation.turns]") == [False, 0]

    kernel.run(
        "broken = await panel.send('[fake:error_event after=4] a long answer [fake:words=200]')"
    )
    assert kernel.eval("broken.status") == "failed"
    assert len(kernel.eval("broken.text")) > 0  # the text before the error is kept
    end = kernel.eval("ops(panel, 'end')[-1]")
    assert "Stream failed" in end["error"] and "failed" in end["footer"]
    assert kernel.eval("panel.messages[-1]['text']") == kernel.eval("broken.text")

    kernel.run("good = await panel.send('now it works')")
    assert kernel.eval("good.text") == answer_for(chat_bodies(fresh)[-1])
    assert kernel.eval("panel.conversation.turns") == 1


def test_bad_input_is_a_note_and_the_text_is_kept(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        page(panel, type="send", seq=1, text="   ")
        page(panel, type="send", seq=2, text="x" * 1_000_000)
        page(panel, type="file", name="tool.exe", buffers=[b"MZ\\x90\\x00\\x03" + bytes(range(256))])
        """
    )
    assert [a["accepted"] for a in kernel.eval("acks(panel)")] == [False, False]
    found = kernel.eval("notes(panel)")
    assert found[0] == "Type a message first."
    assert found[1].startswith("The message is too long (1,000,000 characters")
    assert "cannot" in found[2] and "tool.exe" in found[2]
    assert all("\n" not in note for note in found)
    assert kernel.eval("[panel.pending, panel.busy]") == [[], False]
    assert chat_bodies(fresh) == []
    kernel.run("page(panel, type='send', seq=3, text='fine')")
    kernel.wait_for("not panel.busy")
    assert kernel.eval("panel.last_reply.status") == "complete"


def test_a_dropped_image_pillow_cannot_decode_is_one_line_and_skipped(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    png = tiny_png()
    huge = png[:16] + b"\x7f" * 8 + png[24:]  # an IHDR claiming 2 billion pixels a side
    kernel.run(
        f"""
        panel = watch(ChatPanel(load_models=False))
        page(panel, type="file", name="broken.gif", buffers=[b"GIF89a" + bytes(range(200))])
        page(panel, type="file", name="huge.png", buffers=[{huge!r}])
        page(panel, type="file", name="fine.png", buffers=[{png!r}])
        """
    )
    found = kernel.eval("notes(panel)")
    assert len(found) == 2 and all("\n" not in note for note in found)
    assert found[0].startswith("cannot attach broken.gif: it could not be read as an image")
    assert found[1].startswith("cannot attach huge.png")
    (attached,) = kernel.eval("panel.pending_labels")
    assert "fine.png" in attached  # the good one was attached, the broken ones skipped
    kernel.run("reply = await panel.send('what is in it?')")
    body = chat_bodies(fresh)[-1]
    parts = body["messages"][-1]["content"]
    assert [p["type"] for p in parts].count("image_url") == 1


def test_a_missing_key_is_a_note_until_one_is_set(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        import os
        saved_key = os.environ.pop("GEMINI_API_KEY")
        try:
            panel = watch(ChatPanel(base_url="https://gateway.invalid/v1"))
            nokey = await panel.send("hello?")
            page(panel, type="send", seq=1, text="typed while not connected")
        finally:
            os.environ["GEMINI_API_KEY"] = saved_key
        """
    )
    assert kernel.eval("panel.client is None") is True
    assert kernel.eval("type(nokey.error).__name__") == "MissingKeyError"
    assert "GEMINI_API_KEY" in kernel.eval("notes(panel)[-1]")
    assert kernel.eval("acks(panel)[-1]['accepted']") is False  # the page keeps the text
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-flash', turns=0)"
    assert chat_bodies(fresh) == []


def test_settings_mean_what_they_mean_in_the_magic(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = ChatPanel(settings=Settings.resolve(timeout=7.5, max_retries=0), load_models=False)
        client_settings = panel.client.settings
        made = [panel.settings.timeout, client_settings.max_retries, panel.offline]
        try:
            ChatPanel(temprature=0.2)
        except TypeError as exc:
            typo = str(exc)
        insecure = watch(ChatPanel(base_url="http://gateway.example:8080/v1", load_models=False))
        refused = await insecure.send("hi")
        allowed = ChatPanel(base_url="http://gateway.example:8080/v1", allow_insecure=True,
                            load_models=False)
        """
    )
    assert kernel.eval("made") == [7.5, 0, False]
    assert "temprature" in kernel.eval("typo")
    advice = kernel.eval("notes(insecure)[-1]")
    assert "ChatPanel(allow_insecure=True)" in advice and "set allow_insecure" not in advice
    assert kernel.eval("type(refused.error).__name__") == "InsecureURLError"
    assert kernel.eval("allowed.client is not None and allowed.settings.allow_insecure") is True


def test_nothing_configured_answers_offline_until_a_key_is_set(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    kernel.run(
        """
        import os
        saved = {name: os.environ.pop(name) for name in ("GEMINI_API_KEY", "GEMINI_BASE_URL")}
        try:
            panel = watch(ChatPanel(load_models=False))
            offline_reply = await panel.send("hello without a key")
        finally:
            os.environ.update(saved)
        """
    )
    assert kernel.eval("[panel.offline, offline_reply.status]") == [True, "complete"]
    assert kernel.eval("ops(panel, 'end')[-1]['footer']").count("offline") == 1
    assert "built-in offline gateway" in kernel.eval("panel.status")
    assert chat_bodies(fresh) == []  # the test gateway saw nothing
    kernel.run("online_reply = await panel.send('and now?')")
    assert kernel.eval("[panel.offline, online_reply.status]") == [False, "complete"]
    assert [b["messages"][-1]["content"] for b in chat_bodies(fresh)] == ["and now?"]
    assert "offline" not in kernel.eval("ops(panel, 'end')[-1]['footer']")


def test_model_menu_comes_from_the_gateway(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run("panel = ChatPanel()")
    kernel.wait_for("len(panel.models) > 1")
    options = kernel.eval("panel.models")
    assert options[0] == "gemini-2.5-flash"
    assert "gemini-2.5-pro" in options and "gemini-2.5-flash-image" in options
    assert not any("embedding" in o for o in options)
    kernel.run("panel.model = 'gemini-2.5-pro'")  # what the menu sets
    kernel.run("await panel.send('which model?')")
    assert chat_bodies(fresh)[-1]["model"] == "gemini-2.5-pro"
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-pro', turns=1)"


def test_model_menu_failure_falls_back(kernel: Kernel, fresh: FakeGateway) -> None:
    fresh.push_fault("status", code=503)
    kernel.run("panel = ChatPanel(client=AsyncClient(max_retries=0))")
    kernel.wait_for("panel._models_task.done()")
    assert kernel.eval("panel.models") == ["gemini-2.5-flash"]
    assert "Could not list models" in kernel.eval("panel.status")
    kernel.run("ok = await panel.send('still fine')")
    assert kernel.eval("ok.status") == "complete"


def test_thinking_temperature_images_and_code(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        panel.thinking = True
        panel.temperature = 0.3
        thought = await panel.send("show me some code")
        """
    )
    body = chat_bodies(fresh)[-1]
    assert body["temperature"] == 0.3
    assert body["extra_body"]["google"]["thinking_config"]["include_thoughts"] is True
    reasoning = kernel.eval("thought.reasoning")
    assert reasoning
    thinking = kernel.eval("ops(panel, 'thinking')[-1]")
    assert thinking["title"] == f"Thinking ({len(reasoning.split()):,} words)"
    assert thinking["done"] is True  # folded once the answer started
    assert kernel.eval("panel.messages[-1]['reasoning']") == reasoning
    # "To cell": a new cell through the shell (tests/test_sidebar_browser.py), also kept for %load
    kernel.run("page(panel, type='insert', code='print(42)')")
    assert kernel.eval("_gemini_code") == "print(42)"
    assert "new cell below the active cell" in kernel.eval("panel.status")
    # Copy: the whole answer as Markdown goes back to the page
    kernel.run("page(panel, type='copy', id=panel._session.transcript.entries[-1].id)")
    clip = kernel.eval("[c for c, _ in panel.wire if c['type'] == 'clipboard'][-1]['text']")
    assert clip == kernel.eval("thought.text") and "```python" in clip

    kernel.run(
        """
        panel.thinking = False
        panel.model = "gemini-2.5-flash-image"
        drawn = await panel.send("draw a red square")
        images = [(c, b) for c, b in panel.wire if c["type"] == "ops"
                  and any(op["op"] == "image" for op in c["ops"])]
        image_op = [op for op in images[-1][0]["ops"] if op["op"] == "image"][0]
        """
    )
    assert kernel.eval("len(drawn.images)") == 1
    assert kernel.eval("image_op['mime']") == "image/png"
    assert kernel.eval("images[-1][1][image_op['buffer']] == drawn.images[0].data") is True
    assert kernel.eval("'data' not in image_op") is True  # bytes travel as a binary buffer
    assert kernel.eval("panel.messages[-1]['images']") == 1


def test_attachments_variables_files_and_chips(
    kernel: Kernel, fresh: FakeGateway, tmp_path: Any
) -> None:
    png = tiny_png()
    pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the milk")
    kernel.run(
        f"""
        picture = GeneratedImage({png!r})
        panel = watch(ChatPanel(load_models=False))
        page(panel, type="refresh")
        page(panel, type="attach", name="picture")
        page(panel, type="file", name="report.pdf", buffers=[{pdf!r}])
        page(panel, type="file", name="", buffers=[{png!r}])
        panel.attach(b"drop me", "extra")
        """
    )
    assert ["picture", kernel.eval("panel.variables[0][1]")][0] in kernel.eval(
        "[n for n, _ in panel.variables]"
    )
    labels = kernel.eval("panel.pending_labels")
    assert [label.split(" (")[0] for label in labels] == [
        "picture",
        "report.pdf",
        "pasted file",
        "extra",
    ]
    kernel.run("page(panel, type='detach', index=3)")  # the chip's ✕ removes it
    assert len(kernel.eval("panel.pending_labels")) == 3
    kernel.run(
        f"withfiles = await panel.send('what is in these?', attachments=[pathlib.Path({str(notes)!r})])"
    )
    request = [r for r in fresh.requests if r.path.endswith("/chat/completions")][-1]
    kinds = [(a.kind, a.mime_type, a.filename) for a in request.attachments]
    assert kinds.count(("image_url", "image/png", None)) == 2  # the variable and the pasted one
    assert ("file", "application/pdf", "report.pdf") in kinds
    image = next(a for a in request.attachments if a.kind == "image_url")
    assert image.data == png and image.image_size == (3, 2)
    texts = [p["text"] for p in request.body["messages"][-1]["content"] if p["type"] == "text"]
    assert texts[0] == "what is in these?" and any("remember the milk" in t for t in texts)
    assert kernel.eval("[panel.pending, panel.pending_labels]") == [[], []]
    user = kernel.eval("panel.messages[-2]")
    assert len(user["attachments"]) == 4 and "report.pdf" in " ".join(user["attachments"])
    thumbs = kernel.eval(
        "[op['buffer'] for op in ops(panel, 'image') if op['id'] == panel._session.transcript.entries[-2].id]"
    )
    assert len(thumbs) == 2  # both images shown from their bytes
    kernel.run("refused = await panel.send('and this?', attachments=[object()])")
    assert kernel.eval("refused.status") == "failed"
    assert "cannot attach" in kernel.eval("notes(panel)[-1]")


def test_a_new_view_gets_the_whole_transcript(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        await panel.send("draw a red square")
        page(panel, type="hello", view="v2")
        snapshot = [(c, b) for c, b in panel.wire if c.get("view") == "v2"][0]
        """
    )
    snapshot_ops = kernel.eval("snapshot[0]['ops']")
    assert snapshot_ops[0] == {"op": "clear"}
    assert [op["op"] for op in snapshot_ops][1:3] == ["add", "block"]
    assert snapshot_ops[-1]["op"] == "end"
    live = kernel.eval("[op['html'] for op in ops(panel, 'block') if 'view' not in op]")
    assert [op["html"] for op in snapshot_ops if op["op"] == "block"] == live[
        -len([op for op in snapshot_ops if op["op"] == "block"]) :
    ]


def test_a_cell_runs_while_an_answer_streams(kernel: Kernel, fresh: FakeGateway) -> None:
    kernel.run(
        """
        panel = ChatPanel(load_models=False)
        task = panel.send("[fake:delay=0.01] [fake:words=300] keep going")
        """
    )
    kernel.wait_for("panel.last_reply is not None and len(panel.last_reply.text) > 20")
    during = kernel.eval(
        "[panel.busy, len(panel.last_reply.text), sum(i * i for i in range(300_000)),"
        " len(panel.last_reply.text)]"
    )
    assert during[0] is True and during[2] == sum(i * i for i in range(300_000))
    assert during[1] == during[3]
    assert kernel.eval("task.done()") is False
    kernel.wait_for("task.done()")
    assert kernel.eval("task.result().text") == answer_for(chat_bodies(fresh)[-1])


def test_messages_from_a_subshell_stream_on_the_kernel_loop(
    kernel: Kernel, fresh: FakeGateway
) -> None:
    """JupyterLab 4.4+ sends widget messages to a subshell: they arrive in another thread."""
    subshell = kernel.subshell()
    kernel.run(
        """
        panel = watch(ChatPanel(load_models=False))
        ran_on = []
        original_run = panel._session._run
        async def traced_run(*args):
            ran_on.append(threading.current_thread().name)
            return await original_run(*args)
        panel._session._run = traced_run
        """
    )
    where = kernel.run(
        "print(threading.current_thread().name != 'MainThread')\n"
        "page(panel, type='send', seq=1, text='first click')",
        subshell=subshell,
    )
    assert where.strip() == "True"
    kernel.wait_for("panel.conversation.turns == 1")
    kernel.run("page(panel, type='send', seq=2, text='second click')", subshell=subshell)
    kernel.wait_for("panel.conversation.turns == 2")
    kernel.run("from_subshell = await panel.send('awaited in a subshell')", subshell=subshell)
    assert kernel.eval("from_subshell.status") == "complete"
    kernel.run("from_main = await panel.send('awaited in the main shell')")
    assert kernel.eval("[from_main.status, panel.conversation.turns]") == ["complete", 4]
    assert kernel.eval("ran_on") == ["MainThread"] * 4
    assert [a["seq"] for a in kernel.eval("acks(panel)")] == [1, 2]
    assert [b["messages"][-1]["content"] for b in chat_bodies(fresh)] == [
        "first click",
        "second click",
        "awaited in a subshell",
        "awaited in the main shell",
    ]


def test_it_is_a_real_widget(kernel: Kernel, fresh: FakeGateway) -> None:
    shown = kernel.run("panel = ChatPanel(model='gemini-2.5-pro', load_models=False)\npanel")
    assert shown == "ChatPanel(model='gemini-2.5-pro', turns=0)"
    kernel.run("await panel.send('one')")
    bundle = kernel.eval("panel._repr_mimebundle_()[0]")
    assert bundle["text/plain"] == "ChatPanel(model='gemini-2.5-pro', turns=1)"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == kernel.eval(
        "panel.model_id"
    )
    assert kernel.eval("isinstance(panel, W.DOMWidget)") is True
    kernel.run("box = W.VBox([panel])")
    assert kernel.eval("box.children[0] is panel") is True
    assert kernel.eval("'ipygemini-send' in panel._esm and 'ipygemini-panel' in panel._css")
    assert kernel.run("print(panel)") == "ChatPanel(model='gemini-2.5-pro', turns=1)\n"
    kernel.run("panel.close()")
    assert kernel.eval("panel.comm is None") is True
    assert kernel.eval("repr(panel)") == "ChatPanel(model='gemini-2.5-pro', turns=1)"


def test_importing_ipygemini_does_not_import_widgets(kernel: Kernel) -> None:
    out = kernel.run(
        """
        import subprocess, sys
        print(subprocess.run([sys.executable, "-c",
            "import sys, ipygemini; print('ipywidgets' in sys.modules or 'anywidget' in sys.modules)"],
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


def test_pacer_limits_messages_per_second() -> None:
    from ipygemini.panel import Pacer

    clock = FakeClock()
    pacer = Pacer(rate=20, ratio=1e9, clock=clock)
    sent = []
    for step in range(2000):  # a chunk every millisecond for two seconds
        clock.now = step / 1000
        pacer.add(4)
        if pacer.delay(100) == 0.0:
            pacer.pushed(100)
            sent.append(clock.now)
    for start in (0.0, 0.5, 1.0):
        assert len([t for t in sent if start <= t < start + 1.0]) <= 20


def test_pacer_bounds_bytes_per_character_on_a_slow_stream() -> None:
    from ipygemini.panel import Pacer

    clock = FakeClock()
    pacer = Pacer(rate=20, ratio=2, allowance=3000, patience=1.0, clock=clock)
    for step in range(1000):  # 4 characters every 10 ms: a slow stream
        clock.now = step / 100
        pacer.add(4)
        if pacer.delay(900) == 0.0:
            pacer.pushed(900)
    assert pacer.spent <= 2 * pacer.chars + 3000 + 900
    assert pacer.pushes > 8  # yet the screen kept moving


def test_answer_builder_sends_blocks_independently_of_chunking() -> None:
    from ipygemini._types import TextDelta
    from ipygemini.panel._transcript import AnswerBuilder, Transcript

    text = answer_for({"model": "m", "messages": [{"role": "user", "content": "code please"}]})
    text += "\n\n- a list\n- of items\n\n# Heading\n\nLast words."
    rng = random.Random(5)
    results = set()
    for _ in range(3):
        builder = AnswerBuilder(Transcript().add_answer())
        blocks: list[str] = []
        pos = 0
        while pos < len(text):
            size = rng.randint(1, 40)
            builder.feed(TextDelta(text[pos : pos + size]))
            pos += size
            if rng.random() < 0.3:
                blocks += [op["html"] for op in builder.take() if op["op"] == "block"]
        blocks += [op["html"] for op in builder.take(final=True) if op["op"] == "block"]
        results.add("".join(blocks))
        assert builder.entry.html() == "".join(blocks) and builder.entry.tail == ""
    assert results == {expected_html(text)}


def test_images_are_shown_only_from_whitelisted_bytes() -> None:
    from ipygemini._types import GeneratedImage
    from ipygemini.panel._transcript import image_part

    png = tiny_png()
    assert image_part(GeneratedImage(png, "image/png")) == ("image/png", png)
    assert image_part(GeneratedImage(png, "image/svg+xml")) == ("image/png", png)  # sniffed
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    shown = image_part(GeneratedImage(svg, "image/png"))
    assert isinstance(shown, str) and "<svg" not in shown and "does not show" in shown
    remote = image_part(GeneratedImage.from_url("https://remote.invalid/x.png"))  # type: ignore[arg-type]
    assert isinstance(remote, str) and "<img" not in remote and "remote.invalid" in remote
