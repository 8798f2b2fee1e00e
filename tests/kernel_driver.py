"""The one way tests and benchmarks drive a real Jupyter kernel: `KernelSession` and `Cell`.

`KernelSession.run(code)` executes a cell in a real ipykernel (jupyter_client) and returns a
`Cell`: the iopub messages of that cell, the execute_reply, and the outputs two ways: as first
sent (what nbval records) and as a notebook would keep them after display updates (what gets
saved). `eval`, `wait_for`, `subshell` and `drain` serve widget tests; `ok(cell)` asserts a
cell ran cleanly; `kernel_env(gateway)` is this process's environment pointed at a FakeGateway;
`chat_bodies` / `last_body` are what the gateway was sent; `the_output`, `answer_text`, `footer`,
`answer_blocks`, `one_line_error` ... read what a ``%%gemini`` cell shows (one definition each,
for the magic, log, fault, soak and secrets tests).

Benchmarks import it by putting the tests directory on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

OUTPUT_TYPES = ("display_data", "execute_result", "stream", "error")


@dataclass
class Cell:
    """What one executed cell produced."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.reply.get("status"))

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def recorded(self) -> list[dict[str, Any]]:
        """Outputs as nbval records them: every display_data as first sent; updates ignored."""
        outs: list[dict[str, Any]] = []
        for m in self.messages:
            kind = m["msg_type"]
            if kind in OUTPUT_TYPES:
                outs.append({"output_type": kind, **m["content"]})
        return outs

    @property
    def final(self) -> list[dict[str, Any]]:
        """Outputs as a notebook keeps them: display handles hold their latest content."""
        outs: list[dict[str, Any]] = []
        for m in self.messages:
            kind, content = m["msg_type"], m["content"]
            if kind == "clear_output":
                outs.clear()
            elif kind in OUTPUT_TYPES:
                outs.append({"output_type": kind, **content})
            elif kind == "update_display_data":
                display_id = content.get("transient", {}).get("display_id")
                for out in outs:
                    if out.get("transient", {}).get("display_id") == display_id:
                        out["data"] = content["data"]
        return outs

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
        )

    @property
    def error(self) -> dict[str, Any] | None:
        errors = self.of_type("error")
        return errors[0]["content"] if errors else None

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return list(self.reply.get("payload", []))


class KernelSession:
    """One running kernel and its client; `run` executes a cell and collects its messages.

    `output`: a file that receives the kernel process's own stdout and stderr (None: inherited).
    Usable as a context manager (shuts the kernel down on exit).
    """

    def __init__(self, env: Mapping[str, str], *, output: Path | None = None) -> None:
        from jupyter_client import KernelManager

        self.output = output
        self._output_file: BinaryIO | None = open(output, "wb") if output is not None else None
        self.km = KernelManager(kernel_name="python3")
        streams: dict[str, Any] = {}
        if self._output_file is not None:
            streams = {"stdout": self._output_file, "stderr": self._output_file}
        self.km.start_kernel(env=dict(env), **streams)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.all_messages: list[dict[str, Any]] = []  # every cell's iopub and reply messages
        self.iopub: list[dict[str, Any]] = []  # every iopub message seen, whatever its parent

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def run(
        self,
        code: str,
        *,
        timeout: float = 60,
        on_message: Callable[[dict[str, Any], Cell], None] | None = None,
        stdin: Callable[[dict[str, Any]], str] | None = None,
        subshell: str | None = None,
    ) -> Cell:
        """Execute `code` (in kernel subshell `subshell`, if given); `on_message(msg, cell)` sees
        each of the cell's iopub messages as it arrives; `stdin(request)` answers input()."""
        kc = self.kc
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": stdin is not None,
            "stop_on_error": False,
        }
        request = kc.session.msg("execute_request", content)
        if subshell is not None:
            request["header"]["subshell_id"] = subshell
        kc.shell_channel.send(request)
        msg_id = request["header"]["msg_id"]
        cell = Cell()
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout} s: {code[:80]!r}")
            if stdin is not None:
                try:
                    request = kc.get_stdin_msg(timeout=0.01)
                except queue.Empty:
                    pass
                else:
                    self.all_messages.append(request)
                    kc.input(stdin(request))
            try:
                msg = kc.get_iopub_msg(timeout=min(remaining, 0.05 if stdin else 1.0))
            except queue.Empty:
                continue
            self.iopub.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                idle = msg["content"]["execution_state"] == "idle"
                continue
            cell.messages.append(msg)
            self.all_messages.append(msg)
            if on_message is not None:
                on_message(msg, cell)
        while True:
            reply = kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                self.all_messages.append(reply)
                cell.reply = reply["content"]
                return cell

    def eval(self, expression: str, *, timeout: float = 60) -> Any:
        """The value of `expression` in the kernel, through JSON (AssertionError if it fails)."""
        cell = ok(self.run(f"print(__import__('json').dumps({expression}))", timeout=timeout))
        return json.loads(cell.stdout)

    def wait_for(self, expression: str, *, polls: int = 5000) -> None:
        """Evaluate `expression` until it is true; the kernel's event loop runs between polls, so
        this waits for background work without sleeping."""
        for _ in range(polls):
            if self.eval(f"bool({expression})"):
                return
        raise AssertionError(f"never became true after {polls} polls: {expression}")

    def subshell(self) -> str:
        """Create a kernel subshell (JupyterLab 4.4+ sends widget messages to one); its id."""
        kc = self.kc
        kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
        reply = kc.control_channel.get_msg(timeout=30)
        assert reply["content"]["status"] == "ok", reply["content"]
        return str(reply["content"]["subshell_id"])

    def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Collect iopub messages not tied to a running cell (background tasks, comms) until
        none arrives for `quiet` seconds; they are also kept in `iopub`."""
        drained: list[dict[str, Any]] = []
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=quiet)
            except queue.Empty:
                return drained
            drained.append(msg)
            self.iopub.append(msg)

    def interrupt(self) -> None:
        """Send SIGINT to the kernel (as the notebook's stop button does)."""
        self.km.interrupt_kernel()

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        if self._output_file is not None:
            self._output_file.close()


def ok(cell: Cell) -> Cell:
    """`cell`, after asserting it ran without error."""
    assert cell.status == "ok", (cell.reply, cell.stderr, cell.error)
    return cell


def displays(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data bundles of the display_data among `outputs` (``cell.final`` or ``cell.recorded``)."""
    return [o["data"] for o in outputs if o["output_type"] == "display_data"]


# --- what a %%gemini cell shows (the magic, fault, soak, secrets and log tests read it) --------


def compared(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What nbval compares of `outputs`: a display with no data (a live handle as first sent)
    contributes nothing."""
    return [o for o in outputs if o["output_type"] != "display_data" or o["data"]]


def the_output(cell: Cell) -> dict[str, str]:
    """The ONE output an answer leaves in the saved notebook (and in what nbval records)."""
    shown = displays(cell.final)
    assert len(shown) == 1, shown
    assert compared(cell.recorded) == compared(cell.final)
    return shown[0]


def split_output(cell: Cell) -> tuple[str, str]:
    """The final output's text as (answer, footer line and notes)."""
    plain = the_output(cell)["text/plain"]
    if plain.startswith("— "):
        return "", plain
    answer, sep, foot = plain.rpartition("\n\n— ")
    assert sep, plain
    return answer, "— " + foot


def answer_text(cell: Cell) -> str:
    return split_output(cell)[0]


def footer(cell: Cell) -> str:
    return split_output(cell)[1]


_IMAGE_TEXT = re.compile(r"GeneratedImage\([^\n]*\)")


def answer_blocks(cell: Cell) -> list[dict[str, str]]:
    """The answer's text in the cell's one output as one block (none when it shows no text),
    images and footer left out: what the fault, soak and secrets tests read."""
    if not [d for d in displays(cell.final) if d]:
        return []
    parts = [p for p in answer_text(cell).split("\n\n") if not _IMAGE_TEXT.fullmatch(p)]
    text = "\n\n".join(parts)
    return [{"text/plain": text}] if text else []


def images_shown(cell: Cell) -> int:
    """Images (from their bytes) in the cell's outputs."""
    return sum(d.get("text/html", "").count('<img src="data:image/') for d in displays(cell.final))


def is_footer(data: dict[str, str]) -> bool:
    """An output that is only a footer line (an answer with no text to show)."""
    return data.get("text/plain", "").startswith("— ") and "font-size:0.85em" in data.get(
        "text/html", ""
    )


def one_line_error(cell: Cell) -> dict[str, Any]:
    """The error of a cell that failed with ONE traceback line (the project's error promise)."""
    assert cell.status == "error"
    error = cell.error
    assert error is not None, cell.messages
    assert len(error["traceback"]) == 1, error["traceback"]
    assert "\n" not in error["traceback"][0]
    return error


def gateway_env(base_url: str, api_key: str, **extra: str) -> dict[str, str]:
    """This process's environment without GEMINI_*, pointed at a gateway (kernels inherit it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    env.update(GEMINI_BASE_URL=base_url, GEMINI_API_KEY=api_key, **extra)
    return env


def kernel_env(gateway: Any, **extra: str) -> dict[str, str]:
    """The environment for a kernel talking to `gateway` (a FakeGateway: base_url, api_key)."""
    return gateway_env(gateway.base_url, gateway.api_key, **extra)


def chat_bodies(gateway: Any) -> list[dict[str, Any]]:
    """The JSON bodies of the chat-completions requests `gateway` (a FakeGateway) received."""
    return [r.body for r in gateway.requests if r.path.endswith("/chat/completions")]


def last_body(gateway: Any) -> dict[str, Any]:
    """The body of the last chat-completions request `gateway` received (there must be one)."""
    bodies = chat_bodies(gateway)
    assert bodies, "no chat request reached the gateway"
    body: dict[str, Any] = bodies[-1]
    return body
