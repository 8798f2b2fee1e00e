"""Shared fixtures and helpers: the FakeGateway of a test (`gw`) or of a module's kernel
(`magic_gateway`), a real kernel per module, clients and request bodies of a gateway, and the
figures the reliability tests record (written to the ignored build/reliability/, never to docs/).

Test modules live in folders that mirror the packages (tests/README.md); this file and the
helpers beside it (kernel_driver.py, html_check.py, _lab.py, _reliability.py) are imported by
name because pytest puts this folder on sys.path when it loads this conftest. The kernel driver
itself lives in kernel_driver.py; its names are re-exported here because test modules import
them from conftest (``from conftest import KERNEL_KEY, KernelSession, ok``).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _reliability
from ipygemini import Client
from ipygemini.testing import FakeGateway
from kernel_driver import (
    OUTPUT_TYPES,
    Cell,
    KernelSession,
    chat_bodies,
    gateway_env,
    kernel_env,
    ok,
)

# Every exchange is logged to $IPYGEMINI_HOME: tests, and the kernels and subprocesses they start
# (which inherit this environment), log into a temporary home, never the user's.
os.environ["IPYGEMINI_HOME"] = tempfile.mkdtemp(prefix="ipygemini-test-home-")

__all__ = [
    "EDGE_SERVER",
    "KERNEL_KEY",
    "OUTPUT_TYPES",
    "ROOT",
    "Cell",
    "FakeClock",
    "KernelSession",
    "chat_bodies",
    "client_for",
    "data_url",
    "gateway_env",
    "kernel_env",
    "ok",
    "prompts_sent",
    "response_formats",
    "split_at",
]

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root (test modules sit one folder deeper, in tests/<package>/)."""

EDGE_SERVER = Path(__file__).with_name("mcp_edge_server.py")
"""The MCP server with awkward edges that the tools tests (and benchmarks/mcp.py) start."""

KERNEL_KEY = "sk-ipygemini-TEST-KEY-7c1f9d2e-do-not-leak"
"""A distinctive API key: tests assert it appears in no iopub message."""


# --- gateways ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_key(request: pytest.FixtureRequest) -> str | None:
    """The API key of the module's gateways: the module's ``GATEWAY_KEY`` when it sets one (a
    distinctive key its tests prove never leaks), else None: FakeGateway's own for `gw`,
    KERNEL_KEY for `magic_gateway`."""
    key: str | None = getattr(request.module, "GATEWAY_KEY", None)
    return key


@pytest.fixture
def gw(gateway_key: str | None) -> Iterator[FakeGateway]:
    """A fresh FakeGateway for one test, over a real loopback socket."""
    with FakeGateway(**({"api_key": gateway_key} if gateway_key else {})) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def magic_gateway(gateway_key: str | None) -> Iterator[FakeGateway]:
    """A FakeGateway with a distinctive key, shared by the kernel of one test module."""
    with FakeGateway(api_key=gateway_key or KERNEL_KEY, chunk_chars=12) as gateway:
        yield gateway


@pytest.fixture
def fresh(magic_gateway: FakeGateway) -> FakeGateway:
    """The module's kernel gateway with its records cleared for this test. A module whose every
    test wants that says ``pytestmark = pytest.mark.usefixtures("fresh")``."""
    magic_gateway.clear()
    return magic_gateway


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log home of this test's own ($IPYGEMINI_HOME), logging on (no $IPYGEMINI_LOG)."""
    monkeypatch.setenv("IPYGEMINI_HOME", str(tmp_path))
    monkeypatch.delenv("IPYGEMINI_LOG", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def mcp_servers_end() -> Iterator[None]:
    """Ends every MCP server the module's tests started, after its last test (a module asks
    with ``pytestmark = pytest.mark.usefixtures("mcp_servers_end")``)."""
    yield
    from ipygemini.tools import stop_mcp_servers

    stop_mcp_servers()


class FakeClock:
    """Time that moves only when told: by `advance`, or by the code under test's `sleep` (each
    wait recorded in `slept`, none waited). Pass it where code takes ``clock=`` / ``sleep=``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def client_for(gw: FakeGateway, **options: Any) -> Client:
    """A Client of `gw` with its key; `options` are Client's own (max_retries, model, ...)."""
    return Client(base_url=gw.base_url, api_key=gw.api_key, **options)


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


def prompts_sent(gw: FakeGateway) -> list[str]:
    """The last message's content of every request `gw` received, in order."""
    return [r.body["messages"][-1]["content"] for r in gw.requests]


def response_formats(gw: FakeGateway) -> list[str]:
    """The ``response_format`` type of every chat request `gw` received, in order."""
    return [
        r.body["response_format"]["type"] for r in gw.requests if r.path.endswith("completions")
    ]


# --- pure helpers -------------------------------------------------------------------------------


def data_url(data: bytes, mime: str = "image/png") -> str:
    """`data` as a base64 ``data:`` URL, written out here (not by the code under test)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def split_at(blob: bytes, cuts: list[int]) -> list[bytes]:
    """`blob` cut at the positions `cuts` (taken modulo its length + 1): pieces that join to it."""
    points = sorted({c % (len(blob) + 1) for c in cuts})
    bounds = [0, *points, len(blob)]
    return [blob[a:b] for a, b in itertools.pairwise(bounds)]
