"""%load_ext cost and terminal IPython: fresh interpreters in subprocesses, against FakeGateway."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import KERNEL_KEY, kernel_env
from ipygemini.testing import FakeGateway, answer_for

HEAVY = (
    "ipywidgets",
    "anywidget",
    "pandas",
    "matplotlib",
    "PIL",
    "numpy",
    "pydantic",
    "dask",
    "distributed",
    "tqdm",
    "sqlite3",
)
LAZY = ("httpx", "markdown_it", "nh3", "ipygemini.client._sync", "ipygemini.render._live")

LOAD_PROBE = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
before = set(sys.modules)
t0 = time.perf_counter()
ip.run_line_magic("load_ext", "ipygemini")
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "new": sorted(set(sys.modules) - before),
                  "magics": sorted(ip.magics_manager.magics["cell"])}))
"""


def test_load_ext_imports_nothing_heavy() -> None:
    """(How fast it is, benchmarks/display.py measures.)"""
    out = subprocess.run(
        [sys.executable, "-c", LOAD_PROBE], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert "gemini" in result["magics"]
    loaded = {name.split(".")[0] for name in result["new"]} | set(result["new"])
    for module in HEAVY + LAZY:
        assert module not in loaded, f"%load_ext imported {module}"


def run_ipython(magic_gateway: FakeGateway, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "IPython", "--no-banner", "--quick", "--colors=nocolor"),
            *("--ext", "ipygemini", "-c", code),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=kernel_env(magic_gateway),
    )


def test_terminal_streams_plain_text(magic_gateway: FakeGateway) -> None:
    done = run_ipython(magic_gateway, "%%gemini --thinking -o r\nHello terminal")
    assert done.returncode == 0, done.stderr
    body = magic_gateway.requests[-1].body
    answer = answer_for(body)  # Markdown, shown as a terminal shows it (no ** markers)
    assert answer.replace("**", "") in done.stdout and "**" not in done.stdout
    assert "[thinking] Thinking about" in done.stdout
    assert "<p>" not in done.stdout and "text/html" not in done.stdout
    footer = done.stdout.strip().splitlines()[-1]
    assert footer.startswith("— gemini-2.5-flash") and "tokens" in footer
    assert KERNEL_KEY not in done.stdout + done.stderr


def test_terminal_errors_are_one_line(magic_gateway: FakeGateway) -> None:
    done = run_ipython(magic_gateway, "%%gemini\nhi [fake:status code=400]")
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "BadRequestError" in line]
    assert len(lines) == 1 and "HTTP 400" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_terminal_markdown_lines() -> None:
    """Markers are read once a line is complete, so a marker split across chunks still goes."""
    from ipygemini.render._terminal_markdown import MarkdownLines

    lines = MarkdownLines(tty=False)
    chunks = [
        "# Ti",
        "tle\n- **bo",
        "ld** and `**kept**`",
        " and [a](https://b)\n```\n**x**\n```\nend *it*",
    ]
    shown = "".join(lines.feed(c) for c in chunks) + lines.flush()
    assert shown == "Title\n• bold and **kept** and a (https://b)\n```\n**x**\n```\nend it"
    assert MarkdownLines(tty=True).feed("**b**\n") == "\x1b[1mb\x1b[0m\n"
