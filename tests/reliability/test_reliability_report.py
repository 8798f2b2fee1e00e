"""The reliability page is made by an explicit command from the figures a run left in build/:
the test run itself writes no tracked file. Also the recorded-sleep helper of the fault matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import reliability_report
from _reliability import MODULES, Figures, recording_sleep


def complete_figures() -> Figures:
    figures = Figures()
    for module in MODULES:
        nodeid = f"tests/{module}::test_x"
        figures.collected.add(nodeid)
        recorder = figures.recorder(nodeid)
        recorder.record("hostile", label=f"server of {module}", front_end="Client", outcome="ok")
        figures.report(nodeid, "setup", "passed", None)
        figures.report(nodeid, "call", "passed", None)
    return figures


def test_a_complete_run_renders_and_copies_the_page(tmp_path: Path) -> None:
    figures_json = tmp_path / "build" / "figures.json"
    assert complete_figures().write(figures_json) is None
    out = tmp_path / "docs" / "RELIABILITY.md"
    assert reliability_report.main(["--figures", str(figures_json), "--out", str(out)]) == 0
    page = out.read_text()
    assert page == (tmp_path / "build" / "RELIABILITY.md").read_text()
    assert page.startswith("# Reliability and security report")
    assert "python tests/reliability_report.py" in page
    assert "server of reliability/test_soak.py" in page  # the figures are in it
    check = ["--figures", str(figures_json), "--out", str(out), "--check"]
    assert reliability_report.main(check) == 0
    out.write_text(page + "edited by hand\n")
    assert reliability_report.main(check) == 1


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda f: f.outcomes.pop(next(iter(f.outcomes))), "not all reliability modules ran"),
        (lambda f: f.report(next(iter(f.outcomes)), "call", "failed", None), "failed"),
        (lambda f: setattr(f, "deselected", 2), "2 reliability test(s) were deselected"),
        (
            lambda f: f.collected.add("tests/reliability/test_soak.py::test_y"),
            "did not run to the end",
        ),
    ],
)
def test_an_incomplete_run_makes_no_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil: Any, why: str
) -> None:
    figures = complete_figures()
    spoil(figures)
    figures_json = tmp_path / "figures.json"
    incomplete = figures.write(figures_json)
    assert incomplete is not None and why in incomplete
    assert json.loads(figures_json.read_text())["incomplete"] == incomplete
    out = tmp_path / "RELIABILITY.md"
    assert reliability_report.main(["--figures", str(figures_json), "--out", str(out)]) == 2
    assert not out.exists()
    message = capsys.readouterr().err
    assert why in message and "bash .ci/run" in message and "\n" not in message.rstrip("\n")


def test_missing_figures_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "RELIABILITY.md"
    code = reliability_report.main(["--figures", str(tmp_path / "none.json"), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "run the test suite first" in capsys.readouterr().err


class WithSleep:
    def __init__(self, *, base_url: str, sleep: Any = None) -> None:
        self.base_url, self.sleep = base_url, sleep


class AsyncWithSleep(WithSleep):
    async def aclose(self) -> None:
        pass


def test_recording_sleep_injects_sleep() -> None:
    slept: list[float] = []
    client = recording_sleep(WithSleep, {"base_url": "u"}, slept)
    assert client.base_url == "u"
    client.sleep(1.5)
    assert slept == [1.5]


def test_recording_sleep_is_a_coroutine_for_async_clients() -> None:
    import asyncio

    slept: list[float] = []
    client = recording_sleep(AsyncWithSleep, {"base_url": "u"}, slept)
    asyncio.run(client.sleep(0.25))
    assert slept == [0.25]
