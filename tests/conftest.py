"""Shared fixtures: a FakeGateway for kernels, a real kernel per module, and the figures the
reliability tests record (written to the ignored build/reliability/, never to docs/).

The kernel driver itself lives in kernel_driver.py; its names are re-exported here because
test modules import them from conftest (``from conftest import KERNEL_KEY, KernelSession``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

import _reliability
from ipygemini.testing import FakeGateway
from kernel_driver import OUTPUT_TYPES, Cell, KernelSession, gateway_env, kernel_env

# Every exchange is logged to $IPYGEMINI_HOME: tests, and the kernels and subprocesses they start
# (which inherit this environment), log into a temporary home, never the user's.
os.environ["IPYGEMINI_HOME"] = tempfile.mkdtemp(prefix="ipygemini-test-home-")

__all__ = [
    "KERNEL_KEY",
    "OUTPUT_TYPES",
    "Cell",
    "KernelSession",
    "gateway_env",
    "kernel_env",
]

KERNEL_KEY = "sk-ipygemini-TEST-KEY-7c1f9d2e-do-not-leak"
"""A distinctive API key: tests assert it appears in no iopub message."""


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


# --- the reliability figures (issue 7) ---------------------------------------------------------
# Reliability tests record what they proved through the `reliability` fixture; a figure is kept
# only if its test passed. At the end of the session the figures go to the ignored
# build/reliability/figures.json, and nothing else: docs/RELIABILITY.md is rendered from them by
# an explicit command, `python tests/reliability_report.py`, which refuses an incomplete run.

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
    incomplete = figures.write()
    where = _reliability.FIGURES_JSON.relative_to(_reliability.ROOT)
    if incomplete is None:
        note = (
            f"reliability: figures in {where}; `python tests/reliability_report.py` "
            "renders docs/RELIABILITY.md from them"
        )
    else:
        note = f"reliability: figures in {where} (no report from this run: {incomplete})"
    session.config.stash[_NOTE] = note


def pytest_terminal_summary(terminalreporter: Any) -> None:
    note = terminalreporter.config.stash.get(_NOTE, None)
    if note:
        terminalreporter.write_line(note)
