"""benchmarks/log.py stays runnable (issue 17, item 23): ``--quick`` runs it at a small size,
prints its table and exits 0 (it writes only under its own temporary IPYGEMINI_HOME)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytest.importorskip("jupyter_client")


def test_the_log_benchmark_runs_quick_and_prints_its_table(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "log.py"), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ipygemini exchange log")
    for measure in ("logging overhead", "--cache", "kernel time", "%gemini log -n 20 over 2,000"):
        assert any(measure in line for line in lines), measure
    assert not list(tmp_path.iterdir())  # nothing written where it ran
