"""README's promise (item 24): its install makes every tutorial work, the URL Jupyter prints
opens the quickstart, and the tutorials' own README counts and numbers them right."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DISTRIBUTION = {"PIL": "pillow"}  # import name -> what pip installs
NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def notebook_imports() -> set[str]:
    found: set[str] = set()
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                found |= set(re.findall(r"^\s*(?:from|import)\s+(\w+)", source, re.M))
    return found


def test_the_tutorials_extra_installs_what_the_tutorials_import() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installed = {
        re.split(r"[<>=!\[ ]", requirement)[0].lower()
        for requirement in project["dependencies"] + project["optional-dependencies"]["tutorials"]
    }
    third_party = notebook_imports() - set(sys.stdlib_module_names) - {"ipygemini"}
    assert third_party, "the notebooks import nothing? the check would be empty"
    missing = {DISTRIBUTION.get(name, name).lower() for name in third_party} - installed
    assert not missing, f"pip install -e '.[tutorials]' lacks {sorted(missing)}"


def test_the_printed_url_opens_the_quickstart() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "jupyter lab" in line)
    match = re.search(r"--(?:LabApp|ServerApp)\.default_url=/lab/tree/(\S+\.ipynb)", command)
    assert match, "Jupyter prints /lab (the Launcher) unless default_url names the quickstart"
    assert (ROOT / match.group(1)).name == "01-quickstart.ipynb"
    assert (ROOT / match.group(1)).exists()


def test_the_tutorials_readme_counts_and_numbers_them() -> None:
    text = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    assert text.split("\n\n")[1].lower().startswith(f"{NUMBERS[len(NOTEBOOKS)]} short notebooks")
    for path in NOTEBOOKS:
        assert f"]({path.name})" in text, path.name
        title = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        number = int(path.name.split("-")[0])
        assert title.startswith(f"# {number}. "), f"{path.name}'s title lacks its number"


def test_jupyter_prints_the_quickstarts_url(tmp_path: Path) -> None:
    """README's own command (its Jupyter options), started for real: the address Jupyter prints
    (what a user without a display copies) opens the quickstart, not the Launcher."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "jupyter lab" in line)
    options = shlex.split(command.split("jupyter lab", 1)[1])
    env = {
        **os.environ,
        **{name: str(tmp_path / name) for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR")},
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", *options, "--no-browser", "--port=0",
         "--ip=127.0.0.1", "--LabApp.news_url=None"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    watchdog = threading.Timer(120, lambda: os.killpg(lab.pid, signal.SIGKILL))
    watchdog.start()
    try:
        assert lab.stdout is not None
        url = next(
            (
                m.group(0)
                for line in lab.stdout
                if (m := re.search(r"http://127\.0\.0\.1:\d+/\S+", line))
            ),
            None,
        )
    finally:
        watchdog.cancel()
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(30)
    assert url is not None, "jupyter lab printed no address"
    assert urlsplit(url).path == "/lab/tree/notebooks/01-quickstart.ipynb", url
