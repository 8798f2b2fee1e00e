"""A notebook of %%gemini cells, executed with nbclient and saved, passes nbval when re-run.

This is the end-to-end form of the display-handle rule: nbval records display_data as first
sent and ignores updates, while the saved notebook holds each handle's latest content.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import KERNEL_KEY, kernel_env
from ipygemini.render import FOOTER_SANITIZE_PATTERN
from ipygemini.testing import FakeGateway

CELLS = [
    "%load_ext ipygemini",
    "topic = 'display handles'",
    "%%gemini --thinking\nExplain {topic} [fake:delay=0.002] [fake:words=150] and code",
    "%%gemini -m gemini-2.5-flash-image\na blue square",
    "%%gemini -n 2 --no-stream\nTwo answers please",
    "%%gemini --json\nGive JSON",
    "%%gemini -f text\nPlain text [fake:delay=0.002]",
]


def test_saved_notebook_passes_nbval(
    magic_gateway: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = kernel_env(magic_gateway)
    for name in ("GEMINI_BASE_URL", "GEMINI_API_KEY", "GEMINI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_BASE_URL", env["GEMINI_BASE_URL"])  # the kernel inherits them
    monkeypatch.setenv("GEMINI_API_KEY", env["GEMINI_API_KEY"])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    saved = nb.cells[2].outputs
    assert any("<details" in o.get("data", {}).get("text/html", "") for o in saved)
    path = tmp_path / "gemini.ipynb"
    nbformat.write(nb, path)
    sanitize = tmp_path / "sanitize.cfg"
    sanitize.write_text(f"[footer seconds]\nregex: {FOOTER_SANITIZE_PATTERN}\nreplace: S s\n")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "--nbval", str(path), "-q", "-p", "no:cacheprovider"),
            *("--nbval-sanitize-with", str(sanitize), "--rootdir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert f"{len(CELLS)} passed" in done.stdout
    assert KERNEL_KEY not in path.read_text()
