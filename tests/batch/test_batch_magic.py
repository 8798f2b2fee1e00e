"""``%%gemini --schema`` and ``%%gemini --each`` in a real kernel against FakeGateway."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import Cell, KernelSession
from ipygemini.testing import FakeGateway
from kernel_driver import ok


@pytest.fixture(autouse=True)
def _fresh(fresh: FakeGateway) -> None:
    fresh.latency = 0.0


def error_of(cell: Cell) -> dict[str, Any]:
    assert cell.status == "error" and cell.error is not None, cell.messages
    return cell.error


SETUP = """
import pandas as pd
from pydantic import BaseModel
class Label(BaseModel):
    sentiment: str
    score: int
reviews = pd.DataFrame({"text": ["great <b>film</b>", "dull", "fine"], "lang": ["en"] * 3},
                       index=["a", "b", "c"])
"""


def test_schema_answer_is_a_safe_table_and_kept(kernel: KernelSession) -> None:
    ok(kernel.run(SETUP))
    cell = ok(kernel.run("%%gemini --schema Label -o labelled\nRate <img src=x onerror=alert(1)>"))
    shown = [m["content"]["data"] for m in cell.of_type("display_data")]
    assert len(shown) == 1
    html = shown[0]["text/html"]
    assert html.startswith("<table>") and "<th>sentiment</th>" in html
    assert "<img" not in html and "onerror" not in html.replace("&lt;", "").split("<td>")[0]
    check = ok(kernel.run("print(type(labelled.parsed).__name__, labelled is _gemini)"))
    assert check.stdout == "Label True\n"


def test_each_row_becomes_a_row_of_the_result(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run(SETUP + "\ntext = 'NOTEBOOK'\ntone = 'kind'"))
    cell = ok(kernel.run("%%gemini --each reviews -o out\nIn a {tone} way, rate {text} ({index})"))
    assert "3 rows (3 complete)" in cell.stdout and "→ out" in cell.stdout
    sent = sorted(r.body["messages"][-1]["content"] for r in magic_gateway.requests)
    # row columns win over a notebook variable of the same name; other names come from the notebook
    assert sent == [
        "In a kind way, rate dull (b)",
        "In a kind way, rate fine (c)",
        "In a kind way, rate great <b>film</b> (a)",
    ]
    check = ok(kernel.run("print(list(out.index), list(out.columns)[:3])"))
    assert check.stdout == "['a', 'b', 'c'] ['answer', 'status', 'error']\n"


def test_each_with_a_schema_gives_its_fields_as_columns(kernel: KernelSession) -> None:
    ok(kernel.run(SETUP))
    ok(kernel.run("%%gemini --each reviews --schema Label -o rated --max-rpm 600\nRate {text}"))
    check = ok(kernel.run("print(list(rated.columns[:3]), rated.score.dtype.kind in 'iO')"))
    assert check.stdout == "['sentiment', 'score', 'status'] True\n"


def test_each_bad_input_is_one_line(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run(SETUP + "\nnumber = 3"))
    cell = kernel.run("%%gemini --each reviews -o x\nRate {txt}")
    assert cell.status == "error" and cell.stderr.startswith("UsageError:")
    assert "{txt}" in cell.stderr and "text, lang" in cell.stderr
    assert cell.stderr.count("\n") == 1
    cell = kernel.run("%%gemini --each number\nRate {text}")
    assert cell.status == "error" and "DataFrame" in cell.stderr and "int" in cell.stderr
    error = error_of(kernel.run("%%gemini --each missing\nRate {text}"))
    assert "no variable 'missing'" in error["evalue"]
    assert magic_gateway.requests == []


def test_each_over_an_empty_frame_sends_nothing(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run(SETUP + "\nempty = reviews.iloc[:0]"))
    cell = ok(kernel.run("%%gemini --each empty -o none\nRate {text}"))
    assert "0 rows" in cell.stdout
    assert ok(kernel.run("print(len(none))")).stdout == "0\n"
    assert magic_gateway.requests == []


def test_interrupt_keeps_the_finished_rows_and_stops_queued_cells(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("import pandas as pd\nmany = pd.DataFrame({'q': [f'q{i}' for i in range(300)]})"))
    ok(kernel.run("queued_ran = False"))
    magic_gateway.latency = 0.05
    kc = kernel.kc
    first = kc.execute("%%gemini --each many -o part --concurrency 2\nAnswer {q}")
    second = kc.execute("queued_ran = True")
    interrupted_at = 0.0
    replies: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while len(replies) < 2 and time.monotonic() < deadline:
        if not interrupted_at and magic_gateway.accepted >= 6:
            interrupted_at = time.monotonic()
            kernel.km.interrupt_kernel()
        try:
            msg = kc.get_shell_msg(timeout=0.05)
        except Exception:
            continue
        replies[msg["parent_header"]["msg_id"]] = msg["content"]
        if msg["parent_header"]["msg_id"] == first:
            assert time.monotonic() - interrupted_at < 2.0
    assert replies[first]["status"] == "error"
    assert replies[first]["ename"] == "AnswerInterrupted"
    assert "partial table is in part" in replies[first]["evalue"]
    assert replies[second]["status"] == "aborted"
    check = ok(
        kernel.run(
            "print(len(part), (part.status == 'complete').sum() >= 1, "
            "(part.status == 'not run').sum() >= 100, queued_ran)"
        )
    )
    assert check.stdout == "300 True True False\n"


def test_each_honours_refresh_and_logs_its_rows_as_batch(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("import pandas as pd\nwords = pd.DataFrame({'w': ['refresh-a', 'refresh-b']})"))
    ok(kernel.run("%%gemini --each words -o first\nDefine {w}"))
    assert len(magic_gateway.requests) == 2
    magic_gateway.clear()
    resumed = ok(kernel.run("%%gemini --each words -o again\nDefine {w}"))
    assert "2 from the log" in resumed.stdout and magic_gateway.requests == []
    ok(kernel.run("%%gemini --each words -o fresh --refresh\nDefine {w}"))
    assert len(magic_gateway.requests) == 2  # --refresh sends every row again
    sources = ok(kernel.run("from ipygemini import log\nprint(set(log.entries(2).source))"))
    assert sources.stdout == "{'batch'}\n"


def test_each_without_placeholder_sends_each_row(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("import pandas as pd\nphrases = pd.DataFrame({'text': ['bonjour', 'merci']})"))
    ok(kernel.run("%%gemini --each phrases -o fr\nTranslate to English"))
    sent = sorted(r.body["messages"][-1]["content"] for r in magic_gateway.requests)
    assert sent == ["Translate to English\n\nbonjour", "Translate to English\n\nmerci"]
