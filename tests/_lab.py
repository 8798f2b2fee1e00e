"""A throw-away JupyterLab on 127.0.0.1 and a Playwright page in Debian's chromium, for browser tests.

Nothing here downloads anything: chromium comes from apt (never ``playwright install``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_READY = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def missing() -> str | None:
    """Why browser tests cannot run here (None when they can)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"chromium not found at {CHROMIUM} (apt-get install -y chromium; or set CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return (
            "the playwright package is not installed (pip install playwright; no browser download)"
        )
    if importlib.util.find_spec("jupyterlab") is None:
        return "jupyterlab is not installed (pip install jupyterlab)"
    return None


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder for a browser test's servers and page, removed afterwards (kept when
    ``IPYGEMINI_KEEP_BROWSER_SCRATCH`` is set, to look at a failure)."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield scratch
    finally:
        if not os.environ.get("IPYGEMINI_KEEP_BROWSER_SCRATCH"):
            shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def evidence_on_failure(page: Any, scratch: Path, server: Any) -> Iterator[None]:
    """On an exception: a screenshot in `scratch` and the server's last log lines, then re-raise."""
    try:
        yield
    except Exception:
        page.screenshot(path=str(scratch / "failure.png"))
        print(f"failure screenshot: {scratch / 'failure.png'}\n{server.log_tail()}")
        raise


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook with these code cells and an explicit kernelspec (no "Select Kernel" dialog)."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


class Lab:
    """``jupyter lab`` with a token, its own temp dirs and no news/update checks.

    Readiness is read from the server's own log line (no polling loop); the log keeps being
    drained by a thread so the server never blocks on a full pipe.
    """

    def __init__(self, scratch: Path, env: Mapping[str, str], token: str = "panel-test-token"):
        self.scratch = scratch
        self.root = scratch / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.extra_env = dict(env)
        self.port = 0
        self.log_path = scratch / "lab.log"
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}&reset"

    def __enter__(self) -> Lab:
        s = self.scratch
        settings = s / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        # the "get notified about Jupyter news?" toast is a front-end setting
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = {
            **os.environ,
            **self.extra_env,
            "JUPYTER_CONFIG_DIR": str(s / "config"),
            "JUPYTER_RUNTIME_DIR": str(s / "runtime"),
            "JUPYTER_DATA_DIR": str(s / "data"),
            "JUPYTERLAB_SETTINGS_DIR": str(s / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(s / "workspaces"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            "--port=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        self._proc = subprocess.Popen(
            command,
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Lab and its kernels form one process group
        )
        assert self._proc.stdout is not None
        threading.Thread(target=self._drain, args=(self._proc.stdout,), daemon=True).start()
        try:
            if not self._ready.wait(90) or not self.port:
                raise RuntimeError("jupyter lab did not print its URL")
            self._wait_listening(30.0)
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/api/status?token={self.token}", timeout=30
            ) as response:
                assert response.status == 200
        except Exception as exc:
            self.__exit__(None, None, None)
            raise RuntimeError(
                f"jupyter lab did not start ({exc}); log:\n{self.log_tail()}"
            ) from exc
        return self

    def _wait_listening(self, timeout: float) -> None:
        # Lab prints its URL before its loop binds the port (jupyter_server binds in a loop
        # callback), so readiness is the first accepted connection.
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                return
            except ConnectionRefusedError:
                if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                    raise
                pause.wait(0.05)

    def _drain(self, stream: TextIO) -> None:
        with open(self.log_path, "w") as log:
            for line in stream:
                log.write(line)
                log.flush()
                if not self._ready.is_set():
                    found = _READY.search(line)
                    if found and "/lab" in line:
                        self.port = int(found.group(1))
                        self._ready.set()
        self._ready.set()  # the server exited

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def chromium_page(scratch: Path, viewport: tuple[int, int] = (1200, 900)) -> Iterator[Any]:
    """A Playwright page in Debian's chromium with a fresh profile directory."""
    from playwright.sync_api import sync_playwright

    profile = scratch / "chromium-profile"
    with sync_playwright() as playwright:
        # launch_persistent_context is how Playwright accepts an explicit profile directory
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def open_notebook(page: Any, url: str) -> None:
    """Open a notebook and wait until its kernel is attached and idle."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=90_000)
    # the toolbar may say idle before a kernel is attached; the status bar's "| Idle" may not
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=90_000)


def run_cell(page: Any, index: int, attempts: int = 4) -> None:
    """Run one cell (Ctrl+Enter) until its prompt shows it started ([*] or [n])."""
    from playwright.sync_api import expect

    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(attempts):
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+Enter")
        try:
            expect(prompt).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=5_000)
            return
        except AssertionError:
            dialog = page.locator("dialog.jp-Dialog")
            if dialog.count() and dialog.first.is_visible():
                dialog.first.locator("button.jp-mod-accept").click()
    raise RuntimeError(f"cell {index} never started running")
