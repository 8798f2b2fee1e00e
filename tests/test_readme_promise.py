"""README's promise (item 24): its install makes every tutorial work, the URL Jupyter prints
opens the quickstart, and the tutorials' own README counts and numbers them right."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
