"""The tutorial notebooks in notebooks/: the proof that they stay true.

- They pass ``pytest --nbval notebooks/`` (strict, with notebooks/sanitize.cfg), twice in a row,
  with the same cell results, in under 3 minutes, leaving nothing behind.
- nbval really compares them: a copy with one stored output changed fails at that cell only.
- The quickstart runs top to bottom with no key and no base URL (the first-run path): every
  answer comes from the offline gateway and says so. So do the other six.
- They hold no API key, no test plumbing and no machine-specific paths; they are stored
  executed top to bottom, and each ends with a "Try it yourself" cell.

nbval runs in a subprocess, where notebooks/conftest.py starts the gateway in
``pytest_sessionstart``; the python tests' own conftest never meets it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest

from conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
NAMES = [
    "01-quickstart",
    "02-streaming-and-thinking",
    "03-vision-and-documents",
    "04-image-generation-and-editing",
    "05-dataframes-and-plots",
    "06-chat-panel",
    "07-embeddings-and-the-client",
    "08-answers-as-data",
    "09-errors-context-and-tools",
    "10-log-cache-and-usage",
    "11-mcp-tools",
]
PATHS = [NOTEBOOKS / f"{name}.ipynb" for name in NAMES]
_RESULT = re.compile(r"^(\S+::Cell \d+) (PASSED|FAILED|ERROR|SKIPPED)", re.MULTILINE)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerate() -> ModuleType:
    """notebooks/regenerate.py: runs a notebook the way nbval does (used for the first run)."""
    return _load("ipygemini_notebooks_regenerate", NOTEBOOKS / "regenerate.py")


def _env(tmpdir: Path | None = None) -> dict[str, str]:
    """This environment without GEMINI_* (the notebooks' conftest sets its own); with
    `tmpdir`, the kernels' temporary files go there (so a check sees only this run's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return env


def _nbval(
    *args: str, cwd: Path, tmpdir: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    # -rN: no short summary, which would repeat each failure (in full when CI is set)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "-v",
        "-rN",
        "-p",
        "no:cacheprovider",
        *args,
    ]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=cwd, env=_env(tmpdir), capture_output=True, text=True, timeout=600
    )
    return done, time.monotonic() - started


def _results(output: str) -> dict[str, str]:
    """``{"notebooks/01-quickstart.ipynb::Cell 3": "PASSED", ...}`` from ``pytest -v`` output.

    (nbval 0.11 under pytest 9 spells the node ids ``01-quickstart::ipynb::Cell 3``.)
    """
    return {
        node.replace("::ipynb::", ".ipynb::"): outcome for node, outcome in _RESULT.findall(output)
    }


def _snapshot() -> dict[str, str]:
    """Every file under notebooks/ (bytecode caches aside) with the hash of its content."""
    files = {}
    for path in sorted(NOTEBOOKS.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[str(path.relative_to(NOTEBOOKS))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _code_cells(nb: Any) -> list[Any]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


# --- (a) + (e): nbval passes, twice in a row, the same way --------------------------------------


def test_all_seven_notebooks_are_there() -> None:
    found = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    assert found == NAMES


def _scratch_folders(tmpdir: Path) -> set[Path]:
    """Temporary folders the tutorials made in `tmpdir` (they delete them again)."""
    return set(tmpdir.glob("ipygemini-tutorial-*"))


def test_notebooks_pass_nbval_twice_in_a_row_and_leave_nothing_behind(tmp_path: Path) -> None:
    before = _snapshot()
    cells = sum(len(_code_cells(_read(path))) for path in PATHS)

    first, seconds = _nbval("notebooks/", cwd=ROOT, tmpdir=tmp_path)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    print(f"the notebooks took {seconds:.0f} s under nbval")
    results = _results(first.stdout)
    assert len(results) == cells, "every code cell is a test item"
    assert set(results.values()) == {"PASSED"}
    assert f"{cells} passed" in first.stdout

    second, _ = _nbval("notebooks/", cwd=ROOT, tmpdir=tmp_path)
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-2000:]
    assert _results(second.stdout) == results

    assert _snapshot() == before, "running the notebooks changed or left files in notebooks/"
    assert _scratch_folders(tmp_path) == set(), "a tutorial left its temporary folder behind"


# --- (b): nbval notices a changed output ------------------------------------------------------


def _first_output(nb: Any, want: Any) -> tuple[int, Any]:
    """(code cell number, output) of the first output for which `want(output)` is true."""
    for number, cell in enumerate(_code_cells(nb)):
        for output in cell.outputs:
            if want(output):
                return number, output
    raise AssertionError("the quickstart has no such output")


def _answer(output: Any) -> bool:
    text = output.get("data", {}).get("text/plain", "")
    return output.output_type == "display_data" and "You asked:" in text  # the one output


def _printed(output: Any) -> bool:
    return output.output_type == "stream" and output.name == "stdout" and "complete" in output.text


def _result(output: Any) -> bool:
    return output.output_type == "execute_result" and "Reply(" in output.data["text/plain"]


def test_nbval_fails_exactly_where_a_stored_output_was_changed(tmp_path: Path) -> None:
    shutil.copy(NOTEBOOKS / "conftest.py", tmp_path)
    shutil.copy(NOTEBOOKS / "sanitize.cfg", tmp_path)
    source = NOTEBOOKS / "01-quickstart.ipynb"
    shutil.copy(source, tmp_path / "unchanged.ipynb")
    changed: dict[str, int] = {}
    for label, want in (("answer", _answer), ("printed", _printed), ("result", _result)):
        nb = _read(source)
        number, output = _first_output(nb, want)
        if output.output_type == "stream":
            output.text = output.text.replace("complete", "completed")
        else:
            output.data["text/plain"] = output.data["text/plain"].replace("a", "the", 1)
        nbformat.write(nb, tmp_path / f"{label}.ipynb")
        changed[f"{label}.ipynb::Cell {number}"] = number

    done, _ = _nbval(".", "--rootdir", str(tmp_path), cwd=tmp_path)
    results = _results(done.stdout)
    failed = {name for name, outcome in results.items() if outcome != "PASSED"}

    assert done.returncode == 1, done.stdout[-4000:]
    assert failed == set(changed), done.stdout[-4000:]
    assert results, done.stdout[-4000:]
    assert all(
        outcome == "PASSED" for name, outcome in results.items() if name.startswith("unchanged")
    )
    assert done.stdout.count("Cell outputs differ") == len(changed)


# --- (c): the first run, with no key and no base URL ------------------------------------------


@pytest.fixture
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No GEMINI_* at all, and no way out of the machine: only loopback connections work."""
    for name in [n for n in os.environ if n.startswith("GEMINI_")]:
        monkeypatch.delenv(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # discard port: any real request fails
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield


def _texts(cell: Any) -> list[str]:
    out = []
    for output in cell.outputs:
        if output.output_type == "stream":
            out.append(output.text)
        elif output.output_type in ("display_data", "execute_result"):
            out.append(output.data.get("text/plain", ""))
    return out


def _errors(cell: Any) -> list[Any]:
    return [o for o in cell.outputs if o.output_type == "error"]


def _footer_of(text: str) -> str | None:
    """The footer line ending an answer's one output (``— model · tokens · seconds ...``)."""
    if text.startswith("— "):
        return text
    _, found, footer = text.rpartition("\n\n— ")
    return "— " + footer if found else None


def _footers(cells: list[Any]) -> list[str]:
    """The footer line of each ``%%gemini`` answer."""
    asked = [cell for cell in cells if cell.source.startswith("%%gemini")]
    return [f for cell in asked for t in _texts(cell) if (f := _footer_of(t)) is not None]


def test_quickstart_runs_offline_with_no_key_and_no_base_url(
    nothing_configured: None, regenerate: ModuleType
) -> None:
    nb = regenerate.execute(NOTEBOOKS / "01-quickstart.ipynb", timeout=120)
    cells = _code_cells(nb)
    assert not [error for cell in cells for error in _errors(cell)]
    assert all(cell.execution_count is not None for cell in cells)

    notices = [t for cell in cells for t in _texts(cell) if "OFFLINE gateway" in t]
    assert len(notices) == 1, "the offline notice is shown once, when the extension loads"
    assert not [o for o in cells[0].outputs if o.output_type == "stream"], "a note, not stderr"
    assert "%load_ext ipygemini" in cells[0].source and cells[0].outputs

    asked = [cell for cell in cells if cell.source.startswith("%%gemini")]
    footers = _footers(cells)
    assert len(footers) == len(asked) >= 5
    assert all(footer.endswith("offline") for footer in footers), footers
    config = "".join(t for cell in cells if cell.source == "%gemini config" for t in _texts(cell))
    assert "(offline gateway)" in config
    answers = [t for cell in asked for t in _texts(cell)]
    assert any(t.startswith("**Offline answer**") for t in answers)


@pytest.mark.parametrize("name", NAMES[1:])
def test_every_other_tutorial_also_runs_with_no_key(
    name: str, nothing_configured: None, regenerate: ModuleType
) -> None:
    """Streaming, thinking, images, attachments, the panel and the client: all work offline."""
    nb = regenerate.execute(NOTEBOOKS / f"{name}.ipynb", timeout=120)
    cells = _code_cells(nb)
    for number, cell in enumerate(cells):
        if "raises-exception" not in cell.metadata.get("tags", []):
            assert not _errors(cell), f"{name} cell {number}: {_errors(cell)[0].evalue}"
    assert all(footer.endswith("offline") for footer in _footers(cells))
    printed = "".join(t for cell in cells for t in _texts(cell))
    # an answer made of tool results (tutorial 11) quotes them: its footer says offline
    assert "Offline answer" in printed or "(offline)" in printed or "tool call · offline" in printed


# --- (d): no key, no plumbing, stored executed, a "Try it yourself" ending --------------------

KEY_PATTERNS = [
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API keys
    re.compile(r"\bsk-[0-9A-Za-z_\-]{16,}"),  # OpenAI-style gateway keys (Fast-Token, AnyFast, ...)
]
PLUMBING = (
    "os.environ",
    "putenv",
    "%env",
    "%set_env",
    "FakeGateway",
    "ipygemini.testing",
    "127.0.0.1",
    "localhost",
    "api_key=",
    "base_url=",
    "conftest",
    "pytest",
    "nbval",
    "NBVAL_SKIP",
    "NBVAL_CHECK_OUTPUT",
    "NBVAL_RAISES_EXCEPTION",
    "getpass",
)
MACHINE_PATHS = re.compile(r"(/tmp/|/home/|/root/|/work/|/Users/|[A-Z]:\\|ipygemini-tutorial-)")


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_notebook_holds_no_key(path: Path) -> None:
    conftest = _load("ipygemini_notebooks_conftest", NOTEBOOKS / "conftest.py")
    text = path.read_text(encoding="utf-8")
    assert conftest.TEST_KEY not in text
    for pattern in KEY_PATTERNS:
        assert not pattern.search(text), f"{path.name} contains something like an API key"


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_notebook_code_has_no_test_plumbing(path: Path) -> None:
    for number, cell in enumerate(_code_cells(_read(path))):
        for word in PLUMBING:
            assert word not in cell.source, f"{path.name} code cell {number} mentions {word!r}"
        lines = [line.strip() for line in cell.source.splitlines()]
        if "# NBVAL_IGNORE_OUTPUT" in lines:
            reasons = [line for line in lines if line.startswith("#") and "NBVAL" not in line]
            assert reasons, f"{path.name} cell {number}: say why its output is not compared"


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_notebook_is_stored_executed_top_to_bottom(path: Path) -> None:
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb.metadata, "widget state is live-only (see regenerate.py)"
    cells = _code_cells(nb)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert sum(len(cell.outputs) for cell in cells) >= len(cells) // 2
    for number, cell in enumerate(cells):
        if _errors(cell):
            assert "raises-exception" in cell.metadata.get("tags", []), (
                f"{path.name} cell {number} failed when the notebook was stored"
            )
        for text in _texts(cell):
            assert not MACHINE_PATHS.search(text), f"{path.name} cell {number}: {text[:200]!r}"


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_notebook_explains_itself_and_ends_with_try_it_yourself(path: Path) -> None:
    nb = _read(path)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    markdown = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]
    last = markdown[-1]
    assert "Try it yourself" in nb.cells[last].source
    rest = nb.cells[last + 1 :]
    assert rest and all(cell.cell_type == "code" for cell in rest)
    assert len(markdown) >= len(_code_cells(nb)) // 3, "explain what happens and why"


# --- the README, as a new user meets it ---------------------------------------------------------

README = ROOT / "README.md"
_FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_readme_notebook_example_runs_as_pasted(
    nothing_configured: None, regenerate: ModuleType, tmp_path: Path
) -> None:
    """The code blocks of "In a notebook", pasted into cells in order, run without an error."""
    blocks = [body for _, body in _FENCED.findall(_readme_section("In a notebook"))]
    assert len(blocks) >= 2 and blocks[1].startswith("%%gemini")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(b.rstrip()) for b in blocks])
    path = tmp_path / "readme.ipynb"
    nbformat.write(nb, path)
    cells = _code_cells(regenerate.execute(path, timeout=120))
    assert not [error.evalue for cell in cells for error in _errors(cell)]
    assert any((_footer_of(t) or "").endswith("offline") for t in _texts(cells[1]))


def test_readme_first_commands_work_for_root_and_without_a_display() -> None:
    """Jupyter refuses to start as root without --allow-root (a normal user's Jupyter ignores
    it); both READMEs install the same extras."""
    text = README.read_text(encoding="utf-8")
    first = _FENCED.search(text)
    assert first is not None and first.group(1) == "bash"
    commands = [line for line in first.group(2).splitlines() if line and not line.startswith("#")]
    assert commands[1] == "bash .ci/run"
    assert (
        "jupyter lab --allow-root --LabApp.default_url=/lab/tree/notebooks/01-quickstart.ipynb"
        in commands[0]
    )
    extras = re.search(r'pip install -q -e "\.\[(\w+)\]"', commands[0])
    assert extras is not None
    tutorials = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    assert f'pip install -e ".[{extras.group(1)}]"' in tutorials
    assert "jupyter lab notebooks" not in tutorials  # every command there passes --allow-root
