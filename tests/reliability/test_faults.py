"""The fault × front-end matrix: every scripted FakeGateway fault through `Client`, `AsyncClient`,
``%%gemini`` in a real kernel and `ChatPanel`, each cell checked against its promised outcome.

The rows and their outcomes live in `_reliability.FAULTS`; `check_outcome` asserts them the same
way for every front end. Retry waits are recorded instead of slept (an injected ``sleep=``), so no
test waits for a backoff; only the idle-timeout row waits, for the 0.3 s timeout itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from _reliability import (
    COMPLETE,
    ERROR,
    FAILED,
    FAULTS,
    FRONT_ENDS,
    ISSUE_FAULTS,
    RECOVERED,
    TRUNCATED,
    Fault,
    Outcome,
    chat_bodies,
    check_outcome,
    expected_answer,
    refused_port,
    run_async_client,
    run_client,
    run_panel,
    setting_default,
)
from conftest import KERNEL_KEY
from ipygemini.testing import FakeGateway
from kernel_driver import (
    KernelSession,
    answer_blocks,
    compared,
    displays,
    footer,
    images_shown,
    ok,
    one_line_error,
)

IDS = [f.id for f in FAULTS]


@pytest.fixture(scope="module")
def refused() -> Iterator[int]:
    sock, port = refused_port()
    try:
        yield port
    finally:
        sock.close()


def shown_message(line: str, port: int) -> str:
    """The message as the report shows it: request ids and ports are the run's own."""
    line = re.sub(r"request id: \d+", "request id: …", line)
    return line.replace(f"127.0.0.1:{port}", "127.0.0.1:PORT")


def record(reliability: Any, fault: Fault, front_end: str, out: Outcome, port: int) -> None:
    reliability.record(
        "matrix",
        fault=fault.id,
        label=fault.label,
        front_end=front_end,
        outcome=fault.outcome,
        message=shown_message(out.error_line, port),
        requests=out.requests,
        kept_chars=len(out.shown),
        expected_chars=len(out.expected),
    )


def test_the_matrix_covers_every_fault_of_the_issue_and_every_front_end() -> None:
    covered = {f.covers for f in FAULTS}
    assert set(ISSUE_FAULTS) <= covered, set(ISSUE_FAULTS) - covered
    assert FRONT_ENDS == ("Client", "AsyncClient", "%%gemini", "ChatPanel")
    assert len(IDS) == len(set(IDS))
    outcomes = {f.outcome for f in FAULTS}
    assert outcomes == {RECOVERED, COMPLETE, ERROR, FAILED, TRUNCATED}


# --- Client and AsyncClient ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_client(fault: Fault, magic_gateway: FakeGateway, refused: int, reliability: Any) -> None:
    out = run_client(magic_gateway, KERNEL_KEY, fault, refused)
    check_outcome(fault, out, port=refused)
    record(reliability, fault, "Client", out, refused)


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_async_client(
    fault: Fault, magic_gateway: FakeGateway, refused: int, reliability: Any
) -> None:
    out = run_async_client(magic_gateway, KERNEL_KEY, fault, refused)
    check_outcome(fault, out, port=refused)
    record(reliability, fault, "AsyncClient", out, refused)


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_panel(fault: Fault, magic_gateway: FakeGateway, refused: int, reliability: Any) -> None:
    pytest.importorskip("ipywidgets")
    out = run_panel(magic_gateway, KERNEL_KEY, fault, refused)
    if fault.outcome in (FAILED, TRUNCATED):
        assert out.marked == out.status  # the footer says how the answer ended
    else:
        assert out.marked == ""
    check_outcome(fault, out, port=refused)
    record(reliability, fault, "ChatPanel", out, refused)


# --- %%gemini in a real kernel -------------------------------------------------------------------

PREPARE = """\
import ipygemini.magic as _gm
_slept = []
_gm._LOADED[id(get_ipython())].session.sleep = _slept.append
_gemini = None
"""
KEPT = """\
import json as _json
print(_json.dumps({
    "kept": _gemini is not None,
    "status": getattr(_gemini, "status", None),
    "text": getattr(_gemini, "text", None),
    "error": None if _gemini is None or _gemini.error is None else str(_gemini.error),
    "images": [len(i.data or b"") for i in getattr(_gemini, "images", [])],
    "slept": _slept,
}))
"""


def run_magic(kernel: KernelSession, gw: FakeGateway, fault: Fault, port: int) -> Outcome:
    settings = []
    if fault.refused:
        settings.append(f"%gemini config base_url=http://127.0.0.1:{port}/v1")
    if fault.idle_timeout is not None:
        settings.append(f"%gemini config idle_timeout={fault.idle_timeout}")
    try:
        if settings:
            ok(kernel.run("\n".join(settings)))
        ok(kernel.run(PREPARE))
        gw.clear()
        if fault.push:
            name, opts, count = fault.push
            gw.push_fault(name, count=count, **opts)
        flags = f" -m {fault.model}" if fault.model else ""
        cell = kernel.run(f"%%gemini{flags}\n{fault.prompt()}")
        kept = json.loads(ok(kernel.run(KEPT)).stdout)
    finally:
        if settings:
            ok(kernel.run("%gemini config base_url=none idle_timeout=120"))
    feet = [footer(cell)] if [d for d in displays(cell.final) if d] else []
    blocks = answer_blocks(cell)
    # the image answer's text is "Here is the generated image (offline)." plus the image itself
    shown = "\n\n".join(b["text/plain"] for b in blocks)
    images = images_shown(cell)
    error_line = error_name = ""
    if fault.outcome in (ERROR, FAILED):
        err = one_line_error(cell)
        error_line, error_name = err["evalue"], err["ename"]
        assert err["traceback"] == [f"\x1b[31m{error_name}\x1b[0m: {error_line}"]
    else:
        assert cell.status == "ok", (cell.reply, cell.stderr, cell.error)
    marked = ""
    if feet:
        assert len(feet) == 1, feet
        marked = feet[0].rsplit(" · ", 1)[-1]
    if fault.outcome == ERROR:
        assert not displays(cell.final), displays(cell.final)  # nothing shown, no footer
    else:
        assert feet, "no footer"
        assert compared(cell.recorded) == compared(cell.final)  # nbval records what is saved
    # what _gemini keeps matches what the cell showed
    assert kept["kept"], "_gemini was not set"
    if error_name:
        assert kept["error"] == error_line
    assert (kept["text"] or "").rstrip("\n") == shown
    return Outcome(
        reply=None,
        error=None,
        error_name=error_name,
        shown=shown,
        slept=kept["slept"],
        requests=len(chat_bodies(gw)),
        expected=expected_answer(gw, fault),
        images=images,
        image_bytes=max(kept["images"], default=0),
        status=kept["status"],
        error_line=error_line,
        marked=marked if marked in ("failed", "truncated", "interrupted") else "",
        backoff=setting_default("backoff"),  # the magic has no backoff setting
    )


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_magic(
    fault: Fault,
    kernel: KernelSession,
    magic_gateway: FakeGateway,
    refused: int,
    reliability: Any,
) -> None:
    out = run_magic(kernel, magic_gateway, fault, refused)
    if fault.outcome in (FAILED, TRUNCATED):
        assert out.marked == out.status  # the footer says how the answer ended
    else:
        assert out.marked == ""
    if fault.outcome == ERROR:
        assert out.status == "failed"  # _gemini says the request failed, and why
    check_outcome(fault, out, port=refused)
    record(reliability, fault, "%%gemini", out, refused)


def test_the_kernel_is_healthy_after_the_matrix(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%%gemini\nStill fine after every fault?"))
    assert answer_blocks(cell)
    check = ok(kernel.run("print(_gemini.status)"))
    assert check.stdout == "complete\n"
