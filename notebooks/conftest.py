"""``pytest --nbval notebooks/``: the tutorials run in real kernels against a local FakeGateway.

nbval runs cells as plain pytest items, so session fixtures never run for them; the gateway
starts in `pytest_sessionstart` instead, and its URL and a test key go into ``os.environ``
before the first kernel starts (kernels inherit the environment). The notebooks themselves
hold no plumbing: to them it looks like a user who set ``GEMINI_BASE_URL`` and
``GEMINI_API_KEY`` before starting Jupyter. ``regenerate.py`` uses the same environment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from ipygemini.testing import FakeGateway

HERE = Path(__file__).resolve().parent
SANITIZE = HERE / "sanitize.cfg"

TEST_KEY = "sk-ipygemini-notebooks-test"
"""The key the kernels see; ``%gemini config`` shows it masked as ``…test``."""

GATEWAY_OPTIONS = {"api_key": TEST_KEY, "delay": 0.0, "chunk_chars": 12}
"""Answers as fast as the socket allows (delay 0) so the tutorials stay well under 3 minutes;
a cell that wants a visible pace asks for it in its prompt (``[fake:slow]``)."""

_saved: dict[str, str] = {}
_gateway: FakeGateway | None = None


def start_environment() -> FakeGateway:
    """Start the gateway and point this process's environment (and so every kernel) at it.

    Every ``GEMINI_*`` variable of the caller is removed first (``GEMINI_MODEL`` included), so a
    developer's own settings cannot change the stored answers; `stop_environment` puts them back.
    """
    global _gateway
    gateway = FakeGateway(**GATEWAY_OPTIONS).start()
    for name in [n for n in os.environ if n.startswith("GEMINI_")]:
        _saved[name] = os.environ.pop(name)
    os.environ["GEMINI_BASE_URL"] = gateway.base_url
    os.environ["GEMINI_API_KEY"] = gateway.api_key
    os.environ.setdefault("IPYGEMINI_HOME", tempfile.mkdtemp(prefix="ipygemini-nb-home-"))
    _gateway = gateway
    return gateway


def stop_environment() -> None:
    """Stop the gateway and restore the ``GEMINI_*`` variables as they were."""
    global _gateway
    if _gateway is None:
        return
    _gateway.stop()
    _gateway = None
    for name in [n for n in os.environ if n.startswith("GEMINI_")]:
        del os.environ[name]
    os.environ.update(_saved)
    _saved.clear()


def _nbval(config: pytest.Config) -> bool:
    return bool(
        getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False)
    )


def pytest_configure(config: pytest.Config) -> None:
    """Defaults that make a bare ``pytest --nbval notebooks/`` right from any directory.

    The sanitize file is given as an absolute path (nbval resolves a relative one from the
    current directory), and the kernel is this interpreter (the one ipygemini is installed in),
    not whatever kernelspec named ``python3`` happens to be first on the machine. Either can
    still be chosen on the command line.
    """
    if not _nbval(config):
        return
    option = config.option
    if not getattr(option, "nbval_sanitize_with", None):
        option.nbval_sanitize_with = str(SANITIZE)
    if not getattr(option, "nbval_kernel_name", None) and not getattr(
        option, "nbval_current_env", False
    ):
        option.nbval_current_env = True


def pytest_sessionstart(session: pytest.Session) -> None:
    if _nbval(session.config):
        start_environment()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_environment()
