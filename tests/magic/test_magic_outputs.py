"""One output per answer, in a real kernel against FakeGateway: what a %%gemini cell leaves in the
saved notebook (``Cell.final``) and what nbval compares (``Cell.recorded``, a display with no
data contributing nothing), however the answer came: streamed short or long, not streamed, from
the log, as a schema table; and what ``-f code`` does with an answer that has no code.
"""

from __future__ import annotations

import pytest

from conftest import Cell, KernelSession
from ipygemini.testing import FakeGateway, answer_for
from kernel_driver import compared, last_body, ok

pytestmark = pytest.mark.usefixtures("fresh")  # every test starts with a cleared gateway


def one_output(cell: Cell) -> dict[str, str]:
    """The cell's only saved output; nbval records exactly it too."""
    assert len(cell.final) == 1, [o.get("data", o) for o in cell.final]
    (output,) = cell.final
    assert output["output_type"] == "display_data"
    assert compared(cell.recorded) == cell.final
    data: dict[str, str] = output["data"]
    return data


@pytest.mark.parametrize("words", [20, 4500], ids=["short", "2000-chunks"])
def test_a_streamed_answer_leaves_exactly_one_output(
    kernel: KernelSession, magic_gateway: FakeGateway, words: int
) -> None:
    cell = ok(kernel.run(f"%%gemini\nStream me [fake:words={words}] [fake:delay=0.0005]"))
    answer = answer_for(last_body(magic_gateway))
    if words > 20:
        assert len(answer) / 12 >= 2000  # the gateway sends 12 characters a chunk
    assert [m for m in cell.of_type("update_display_data") if m["content"]["data"]], "not live"
    output = one_output(cell)
    assert output["text/plain"].startswith(answer)
    assert output["text/plain"][len(answer) :].startswith("\n\n— gemini-2.5-flash")


def test_not_streamed_and_cached_answers_are_shown_once_directly(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    still = ok(kernel.run("%%gemini --no-stream\nOnce please"))
    assert [m["msg_type"] for m in still.messages if m["msg_type"] != "execute_input"] == [
        "display_data"
    ]
    one_output(still)
    code = "%%gemini --cache\nFrom the log please [fake:words=200]"
    ok(kernel.run(code))
    cached = ok(kernel.run(code))
    assert [m["msg_type"] for m in cached.messages if m["msg_type"] != "execute_input"] == [
        "display_data"
    ]
    assert "· cached ·" in one_output(cached)["text/plain"]


def test_a_tool_that_prints_keeps_its_output_beside_the_answer(kernel: KernelSession) -> None:
    ok(
        kernel.run(
            'def shout(text: str) -> str:\n    "Shout."\n    print("SHOUTED")\n    return "ok"'
        )
    )
    cell = ok(kernel.run("%%gemini --tools shout\nUse the tool"))
    assert "SHOUTED" in cell.stdout
    assert compared(cell.recorded) == compared(cell.final)  # nbval sees what is saved
    answers = [o for o in compared(cell.final) if o["output_type"] == "display_data"]
    assert len(answers) == 1 and "1 tool call" in answers[0]["data"]["text/plain"]


def test_a_schema_answer_has_the_footer_in_its_one_output(kernel: KernelSession) -> None:
    ok(kernel.run('Pick = {"type": "object", "properties": {"a": {"type": "string"}}}'))
    output = one_output(ok(kernel.run("%%gemini --schema Pick\nChoose")))
    assert output["text/html"].startswith("<table>")
    assert (
        "\n\n— gemini-2.5-flash · " in output["text/plain"]
        and " tokens · " in (output["text/plain"])
    )


def test_format_code_without_a_code_block_says_so_and_makes_no_cell(
    kernel: KernelSession,
) -> None:
    cell = ok(kernel.run("%%gemini -f code\nJust words, please"))
    assert not [p for p in cell.payloads if p.get("source") == "set_next_input"]
    assert "note: -f code: the answer has no code block" in one_output(cell)["text/plain"]
