"""Shared fixtures: a FakeGateway for kernels, and real Jupyter kernels that run cells for tests.

`KernelSession.run(code)` executes a cell in a real ipykernel (jupyter_client) and returns the
iopub messages of that cell, the execute_reply, and the outputs two ways: as first sent (what
nbval records) and as a notebook would keep them after display updates (what gets saved).
"""

from __future__ import annotations

import os
import queue
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import _reliability

# No test writes to the real exchange log: a temporary IPYGEMINI_HOME for this whole run,
# set at import so every kernel and subprocess the tests start inherits it.
os.environ["IPYGEMINI_HOME"] = tempfile.mkdtemp(prefix="ipygemini-test-home-")
from ipygemini.testing import FakeGateway

KERNEL_KEY = "sk-ipygemini-TEST-KEY-7c1f9d2e-do-not-leak"
"""A distinctive API key: tests assert it appears in no iopub message."""

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
    """One running kernel and its client; `run` executes a cell and collects its messages."""

    def __init__(self, env: dict[str, str]) -> None:
        from jupyter_client import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.all_messages: list[dict[str, Any]] = []  # every cell's iopub and reply messages

    def run(
        self,
        code: str,
        *,
        timeout: float = 60,
        on_message: Callable[[dict[str, Any], Cell], None] | None = None,
        stdin: Callable[[dict[str, Any]], str] | None = None,
    ) -> Cell:
        """Execute `code`; `on_message(msg, cell)` sees each iopub message as it arrives."""
        kc = self.kc
        msg_id = kc.execute(code, allow_stdin=stdin is not None, stop_on_error=False)
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

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def kernel_env(gateway: FakeGateway, **extra: str) -> dict[str, str]:
    """The test process's environment pointed at `gateway` (kernels inherit it at start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    env.update(
        GEMINI_BASE_URL=gateway.base_url,
        GEMINI_API_KEY=gateway.api_key,
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def magic_gateway() -> Iterator[FakeGateway]:
    """A FakeGateway with a distinctive key, shared by the kernel of one test module."""
    with FakeGateway(api_key=KERNEL_KEY, chunk_chars=12) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def kernel(magic_gateway: FakeGateway) -> Iterator[KernelSession]:
    """A real kernel with ``%load_ext ipygemini`` done and the environment set to the gateway."""
    session = KernelSession(kernel_env(magic_gateway))
    try:
        cell = session.run("%load_ext ipygemini")
        assert cell.status == "ok", cell.messages
        yield session
    finally:
        session.shutdown()


# --- the reliability report (issue 7) ----------------------------------------------------------
# Reliability tests record what they proved through the `reliability` fixture; a figure is kept
# only if its test passed. At the end of the session the figures go to
# build/reliability/figures.json, and docs/RELIABILITY.md is rendered from them when every
# reliability module ran, nothing in them failed and nothing was deselected.

_FIGURES = pytest.StashKey[_reliability.Figures]()
_NOTE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = _reliability.Figures()


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> _reliability.Recorder:
    """Record a figure for docs/RELIABILITY.md: ``reliability.record(section, **data)``."""
    return request.config.stash[_FIGURES].recorder(request.node.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if _reliability.Figures.module_of(item.nodeid) is not None:
        reason = None
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        item.config.stash[_FIGURES].report(item.nodeid, call.when, report.outcome, reason)
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    figures = session.config.stash[_FIGURES]
    figures.collected = {
        item.nodeid for item in session.items if figures.module_of(item.nodeid) is not None
    }


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        if _reliability.Figures.module_of(item.nodeid) is not None:
            item.config.stash[_FIGURES].deselected += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    figures = session.config.stash.get(_FIGURES, None)
    if figures is None or not figures.outcomes:
        return  # no reliability test ran
    path, report, why = _reliability.write(figures)
    if report is not None:
        note = f"reliability: wrote {report.relative_to(_reliability.ROOT)}"
    else:
        note = f"reliability: figures in {path}; docs/RELIABILITY.md kept ({why})"
    session.config.stash[_NOTE] = note


def pytest_terminal_summary(terminalreporter: Any) -> None:
    note = terminalreporter.config.stash.get(_NOTE, None)
    if note:
        terminalreporter.write_line(note)
