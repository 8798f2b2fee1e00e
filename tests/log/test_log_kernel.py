"""The log, the cache and usage in a real kernel: ``%%gemini --cache`` sends nothing the second
time and says "cached", ``%gemini log`` / ``log ID`` / ``usage`` show safe HTML, a corrupt log
file costs one warning line and never the answer."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Cell, KernelSession, kernel_env
from html_check import assert_inert
from ipygemini.testing import FakeGateway
from kernel_driver import ok

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def home() -> Path:
    return Path(tempfile.mkdtemp(prefix="ipygemini-log-kernel-"))


@pytest.fixture(scope="module")
def kernel(magic_gateway: FakeGateway, home: Path) -> Iterator[KernelSession]:
    session = KernelSession(kernel_env(magic_gateway, IPYGEMINI_HOME=str(home)))
    try:
        assert session.run("%load_ext ipygemini").status == "ok"
        yield session
    finally:
        session.shutdown()


def displays(cell: Cell) -> list[dict[str, str]]:
    return [o["data"] for o in cell.final if o["output_type"] in ("display_data", "execute_result")]


def footer(cell: Cell) -> str:
    """The footer line of the cell's one answer output (answer, then a blank line, then it)."""
    (answer,) = [d for d in displays(cell) if d]
    return "— " + answer["text/plain"].rpartition("\n\n— ")[2]


def answer_outputs(cell: Cell) -> list[str]:
    """The answer text of the cell's one output (its footer left out; a cell that printed
    a warning meanwhile keeps it, and the emptied live handles, beside the answer)."""
    (answer,) = [d for d in displays(cell) if d]
    return [answer["text/plain"].rpartition("\n\n— ")[0]]


def rows(home: Path) -> list[dict[str, Any]]:
    connection = sqlite3.connect(home / "log.sqlite3")
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute("SELECT * FROM exchanges ORDER BY id")]
    finally:
        connection.close()


def test_a_cell_is_logged_as_magic_with_its_conversation(kernel: KernelSession, home: Path) -> None:
    ok(kernel.run("%%gemini -c notes -s 'Be brief.'\nWhat is a log?"))
    last = rows(home)[-1]
    assert (last["source"], last["conversation"], last["system"]) == ("magic", "notes", "Be brief.")
    assert last["prompt"] == "What is a log?" and last["status"] == "complete"


def test_cache_replays_a_cell_with_no_request_and_says_cached(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    cell = "%%gemini --cache\nExplain caching in two lines [fake:words=60]"
    first = ok(kernel.run(cell))
    sent = len(magic_gateway.requests)
    again = ok(kernel.run(cell))
    assert len(magic_gateway.requests) == sent  # the gateway saw nothing
    assert answer_outputs(again) == answer_outputs(first)
    assert "cached" in footer(again) and "cached" not in footer(first)
    assert (
        ok(kernel.run("_gemini.cached")).of_type("execute_result")[0]["content"]["data"][
            "text/plain"
        ]
        == "True"
    )
    ok(kernel.run(cell.replace("--cache", "--cache --refresh")))
    assert len(magic_gateway.requests) == sent + 1


def test_cache_on_everywhere_with_config(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run("%gemini config cache=on"))
    try:
        ok(kernel.run("%%gemini\nConfigured cache"))
        sent = len(magic_gateway.requests)
        assert "cached" in footer(ok(kernel.run("%%gemini\nConfigured cache")))
        assert len(magic_gateway.requests) == sent
    finally:
        ok(kernel.run("%gemini config cache=off"))


def test_footer_shows_the_cost_and_prices_can_be_overridden(kernel: KernelSession) -> None:
    assert "$" in footer(ok(kernel.run("%%gemini\nWhat does it cost?")))
    ok(kernel.run("%config Gemini.prices = {'gemini-2.5-flash': {'input': 0, 'output': 0}}"))
    try:
        assert "· $0 ·" in footer(ok(kernel.run("%%gemini\nWhat does it cost now?")))
    finally:
        ok(kernel.run("%config Gemini.prices = {}"))
    assert "$" not in footer(ok(kernel.run("%%gemini -m no-such-model-x\nUnpriced?")))


def test_log_table_is_safe_html_and_searchable(kernel: KernelSession) -> None:
    ok(kernel.run(f"%%gemini\nQuote this exactly: {HOSTILE} zebra"))
    table = ok(kernel.run("%gemini log -n 3"))
    (result,) = table.of_type("execute_result")
    html, text = result["content"]["data"]["text/html"], result["content"]["data"]["text/plain"]
    assert html.startswith("<table>") and "zebra" in html and "zebra" in text
    assert_inert(html)
    assert "&lt;img" in html
    found = ok(kernel.run("%gemini log zebra"))
    data = found.of_type("execute_result")[0]["content"]["data"]["text/plain"]
    assert "zebra" in data and data.count("\n") == 1  # the header and one exchange


def test_log_id_shows_one_exchange_rendered_safely(kernel: KernelSession, home: Path) -> None:
    entry_id = rows(home)[-1]["id"]
    cell = ok(kernel.run(f"%gemini log {entry_id}"))
    shown = displays(cell)
    assert shown[0]["text/plain"].startswith(f"Exchange {entry_id}")
    html = "".join(d.get("text/html", "") for d in shown)
    assert_inert(html)
    assert HOSTILE.replace("<", "&lt;").replace(">", "&gt;") in html  # shown as text
    unknown = kernel.run("%gemini log 999999")
    assert unknown.status == "error" and "no such exchange" in unknown.stderr


def test_usage_shows_session_today_and_all_time(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%gemini usage"))
    data = cell.of_type("execute_result")[0]["content"]["data"]
    text = data["text/plain"]
    for title in ("This session", "Today (log)", "All time (log)"):
        assert title in text and title in data["text/html"]
    assert "gemini-2.5-flash" in text and "$" in text
    assert "no-such-model-x" in text  # tokens shown, no cost
    line = next(x for x in text.splitlines() if x.startswith("no-such-model-x"))
    assert "$" not in line
    assert "2025-12" in text  # the price table's date


def test_log_off_in_config(kernel: KernelSession, home: Path) -> None:
    before = len(rows(home))
    ok(kernel.run("%gemini config log=off"))
    try:
        ok(kernel.run("%%gemini\nNot written down"))
    finally:
        ok(kernel.run("%gemini config log=on"))
    assert len(rows(home)) == before


def test_a_corrupt_log_file_warns_once_and_the_answer_shows(magic_gateway: FakeGateway) -> None:
    home = Path(tempfile.mkdtemp(prefix="ipygemini-corrupt-"))
    (home / "log.sqlite3").write_bytes(b"this is not a database" * 200)
    session = KernelSession(kernel_env(magic_gateway, IPYGEMINI_HOME=str(home)))
    try:
        ok(session.run("%load_ext ipygemini"))
        first = ok(session.run("%%gemini\nStill answer me"))
        second = ok(session.run("%%gemini\nAnd again"))
    finally:
        session.shutdown()
    assert any("Still answer me" in text for text in answer_outputs(first))
    assert first.stderr.count("could not write to the log") == 1
    assert "could not" not in second.stderr  # one line per kind of failure, not per answer


def test_the_panel_logs_its_exchanges_as_panel(kernel: KernelSession, home: Path) -> None:
    ok(kernel.run("from ipygemini import ChatPanel\npanel = ChatPanel()"))
    ok(kernel.run("reply = await panel.send('From the panel')"))
    last = rows(home)[-1]
    assert (last["source"], last["conversation"], last["prompt"]) == (
        "panel",
        "default",
        "From the panel",
    )
    assert last["status"] == "complete"


def test_log_search_words_are_words_and_blank_is_no_search(kernel: KernelSession) -> None:
    ok(kernel.run("%%gemini\nWhat is 6 * 7, asterisk included?"))
    starred = ok(kernel.run("%gemini log '*'"))
    text = starred.of_type("execute_result")[0]["content"]["data"]["text/plain"]
    assert "6 * 7" in text and starred.stderr == ""
    blank = ok(kernel.run("%gemini log -n 2 '   '"))
    text = blank.of_type("execute_result")[0]["content"]["data"]["text/plain"]
    assert "6 * 7" in text and text.count("\n") == 2  # the newest two, as with no search
    assert "could not" not in blank.stderr and "fts5" not in blank.stderr
    ok(kernel.run("%%gemini\nWhy don't cats bark?"))
    quoted = ok(kernel.run("%gemini log don't"))  # an unbalanced quote is part of the word
    text = quoted.of_type("execute_result")[0]["content"]["data"]["text/plain"]
    assert "don't cats bark" in text and "6 * 7" not in text


def logged(home: Path, prompt: str, reply: Any, *, model: str, offline: bool = False) -> int:
    from ipygemini.log import ExchangeLog, exchange_from

    log = ExchangeLog(home / "log.sqlite3")
    try:
        entry_id = log.record(
            exchange_from(
                {"model": model, "messages": [{"role": "user", "content": prompt}]},
                reply,
                source="client",
                base_url="http://127.0.0.1:9/v1",
                started=__import__("time").time(),
                duration=0.5,
                **({"offline": True} if offline else {}),
            )
        )
    finally:
        log.close()
    assert entry_id is not None
    return entry_id


def usage_all_time(kernel: KernelSession) -> list[str]:
    text = ok(kernel.run("%gemini usage")).of_type("execute_result")[0]["content"]["data"][
        "text/plain"
    ]
    return text.split("All time (log)")[1].splitlines()


def test_usage_counts_answered_exchanges_only(kernel: KernelSession, home: Path) -> None:
    from ipygemini._errors import GeminiError
    from ipygemini._types import Choice, Reply, Usage

    model = "usage-probe-model"
    logged(home, "answered", Reply([Choice(text="yes")], Usage(10, 5, 15)), model=model)
    logged(home, "failed", Reply(error=GeminiError("HTTP 500")), model=model)
    logged(home, "stopped", Reply(interrupted=True), model=model)
    probe = next(x for x in usage_all_time(kernel) if x.startswith(model)).split()
    assert probe[1:4] == ["1", "10", "5"]  # one answer; the failure and the early stop are not


def test_offline_answers_are_free_in_usage(kernel: KernelSession, home: Path) -> None:
    from ipygemini._types import Choice, Reply, Usage

    for _ in range(2):
        logged(
            home,
            "canned",
            Reply([Choice(text="offline")], Usage(1000, 1000, 2000)),
            model="gemini-2.5-pro",
            offline=True,
        )
    lines = usage_all_time(kernel)
    free = next(x for x in lines if x.startswith("gemini-2.5-pro (offline)"))
    assert free.split()[-1] == "free" and free.split()[2:5] == ["2", "2,000", "2,000"]
    assert not any(x.startswith("gemini-2.5-pro ") and "$" in x for x in lines)


def test_log_id_says_not_reported_for_missing_usage(kernel: KernelSession, home: Path) -> None:
    from ipygemini._types import Choice, Reply

    entry_id = logged(home, "no usage here", Reply([Choice(text="ok")]), model="m")
    shown = displays(ok(kernel.run(f"%gemini log {entry_id}")))[0]
    assert "tokens in/out: not reported" in shown["text/plain"]
    assert "None" not in shown["text/plain"] and "None" not in shown["text/html"]
