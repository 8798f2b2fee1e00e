"""A notebook run with ``--cache``, re-run with its gateway gone, gives the same outputs: nbval
passes on the executed notebook with the same ``IPYGEMINI_HOME`` and nothing listening."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT
from ipygemini.testing import FakeGateway

SANITIZE = ROOT / "notebooks" / "sanitize.cfg"

CELLS = [
    "%load_ext ipygemini",
    "%%gemini --cache\nExplain a replay cache in one paragraph [fake:words=80]",
    "%%gemini --cache --no-stream -s 'Be brief.'\nAnd without streaming?",
    "%%gemini --cache -c plan\nA first turn",
    "%%gemini --cache -c plan\nA second turn, with the first as context",
    "_gemini.text[:40]",
]


def execute(path: Path, env: dict[str, str]) -> None:
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    manager = KernelManager(
        kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
    )
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, km=manager, timeout=120, record_timing=False).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nbformat.write(nb, path)


def test_a_cached_notebook_replays_under_nbval_with_the_gateway_gone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    notebook = tmp_path / "replay.ipynb"
    with FakeGateway(api_key="sk-replay-test-key-0001", chunk_chars=12, delay=0.0) as gateway:
        env = {
            "IPYGEMINI_HOME": str(home),
            "GEMINI_BASE_URL": gateway.base_url,
            "GEMINI_API_KEY": gateway.api_key,
        }
        execute(notebook, env)
        assert len(gateway.requests) == 4  # every answer was asked for once
    # The gateway is stopped: its URL is dead. The same notebook, checked by nbval.
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    run_env.update(env)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(SANITIZE),
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            str(notebook),
        ],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"{len(CELLS)} passed" in done.stdout
