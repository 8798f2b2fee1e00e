"""``%gemini fix``, ``--context``, ``--vars`` and ``--tools`` in a real kernel against FakeGateway."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

import pytest

from conftest import KERNEL_KEY, Cell, KernelSession
from ipygemini.testing import FakeGateway
from kernel_driver import chat_bodies, ok

pytestmark = pytest.mark.usefixtures("fresh")  # every test starts with a cleared gateway


def user_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m["content"]) for m in body["messages"] if m["role"] == "user")


def plain_outputs(cell: Cell) -> str:
    return "\n".join(
        o["data"].get("text/plain", "") for o in cell.final if o["output_type"] == "display_data"
    )


def next_input(cell: Cell) -> list[dict[str, Any]]:
    return [p for p in cell.payloads if p.get("source") == "set_next_input"]


def test_fix_with_no_error_yet_says_so(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    cell = ok(kernel.run("%gemini fix"))
    assert cell.stdout.strip() == (
        "No error yet: %gemini fix explains the last exception a cell raised."
    )
    assert chat_bodies(magic_gateway) == []


def test_fix_sends_the_traceback_and_cell_and_proposes_the_corrected_cell(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("import os, sys\nsys.modules['ipylab'] = None  # no JupyterLab shell"))
    try:
        kernel.run("raise ValueError('the key is ' + os.environ['GEMINI_API_KEY'])")
        fixed = ok(kernel.run("%gemini fix"))
    finally:
        ok(kernel.run("sys.modules.pop('ipylab')"))
    assert fixed.stdout.strip().endswith(
        "The corrected cell is proposed below (set_next_input): ipylab is not installed "
        "(pip install 'ipygemini[lab]')."
    )
    [body] = chat_bodies(magic_gateway)
    sent = user_text(body)
    assert "raise ValueError('the key is ' + os.environ['GEMINI_API_KEY'])" in sent
    assert "ValueError: the key is" in sent and "Traceback (most recent call last)" in sent
    assert "\x1b[" not in sent  # no ANSI colours
    assert KERNEL_KEY not in json.dumps(body) and "…" + KERNEL_KEY[-4:] in sent
    [payload] = next_input(fixed)
    assert payload["replace"] is False and payload["text"].strip()
    assert "def " in payload["text"]  # the fake's code block: the answer's python block
    assert "corrected cell" in sent


def test_fix_in_a_notebook_shell_offers_insert_below_or_replace(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    failing = kernel.run("1 / 0")
    count = failing.reply["execution_count"]
    fixed = ok(kernel.run("%gemini fix"))
    assert next_input(fixed) == []  # the user chooses; nothing is put anywhere by itself
    widgets = [
        o["data"]
        for o in fixed.final
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert [w["text/plain"] for w in widgets] == [
        "FixChoice(Insert below | Replace the failing cell)"  # the buttons, tested in the browser
    ]
    model = widgets[0]["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert kernel.eval(f"__import__('ipywidgets').Widget.widgets[{model!r}].failing") == count


def test_fix_explain_only_proposes_no_cell(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    kernel.run("1 / 0")
    cell = ok(kernel.run("%gemini fix --explain"))
    [body] = chat_bodies(magic_gateway)
    assert "ZeroDivisionError: division by zero" in user_text(body)
    assert "1 / 0" in user_text(body)
    assert next_input(cell) == []
    assert (
        "%gemini fix: unrecognized arguments: --bogus" in kernel.run("%gemini fix --bogus").stderr
    )


def test_context_sends_the_last_cells_and_says_so(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("alpha_cell = 1"))
    ok(kernel.run("beta_cell = 2\nbeta_cell * 21"))
    cell = ok(kernel.run("%%gemini --context 2\nwhat did I compute?"))
    sent = user_text(chat_bodies(magic_gateway)[-1])
    assert "alpha_cell = 1" in sent and "beta_cell = 2" in sent and "# Out: 42" in sent
    assert sent.rstrip().endswith("what did I compute?")
    assert "context: 2 cells" in plain_outputs(cell)
    ok(kernel.run("%%gemini --context 1\nagain"))
    assert "alpha_cell = 1" not in user_text(chat_bodies(magic_gateway)[-1])


def test_context_all_keeps_within_the_budget(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    for i in range(12):
        ok(kernel.run(f"big_{i} = 1  # " + "x" * 3000))
    ok(kernel.run("%%gemini --context all\nsummarise"))
    sent = user_text(chat_bodies(magic_gateway)[-1])
    assert len(sent) < 21_000
    assert "earlier cell(s) left out to stay within 20,000 characters" in sent
    assert "big_11 = 1" in sent and "big_0 = 1" not in sent


def test_context_default_from_config(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run("gamma_cell = 3"))
    ok(kernel.run("%gemini config context=1"))
    try:
        cell = ok(kernel.run("%%gemini\nwhat is gamma?"))
        assert "gamma_cell = 3" not in user_text(chat_bodies(magic_gateway)[-1])  # config cell
        assert "context: 1 cell" in plain_outputs(cell)
        assert "%gemini config context=1" in user_text(chat_bodies(magic_gateway)[-1])
    finally:
        ok(kernel.run("%gemini config context=none"))


def test_bad_context_is_a_usage_error(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini --context many\nx")
    assert "give a number of cells or 'all'" in cell.stderr


def test_vars_summarises_without_secrets(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(
        kernel.run(
            "import os\n"
            "rows = [1, 2, 3]\n"
            "my_api_token = 'tok-SECRET-VALUE-123'\n"
            "copied = os.environ['GEMINI_API_KEY']\n"
            "def area(r: float) -> float:\n    return 3.14 * r * r\n"
        )
    )
    cell = ok(kernel.run("%%gemini --vars\nwhat do I have?"))
    sent = user_text(chat_bodies(magic_gateway)[-1])
    assert "rows: list of 3: [1, 2, 3]" in sent
    assert "area: function area(r: float) -> float" in sent
    assert "my_api_token: str (value withheld" in sent and "tok-SECRET" not in sent
    assert "copied: str (value withheld" in sent and KERNEL_KEY not in sent
    assert "get_ipython" not in sent and "\nIn:" not in sent
    assert "variables" in plain_outputs(cell)


def test_tools_run_notebook_functions_and_show_each_call(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("calls = []\ndef double(x: int) -> int:\n    calls.append(x)\n    return 2 * x"))
    magic_gateway.script_tool_calls([[("double", {"x": 21})]])
    cell = ok(kernel.run("%%gemini --tools double\nDouble 21 <b>now</b>"))
    text = plain_outputs(cell)
    assert "[tool] double(x=21) → 42" in text and "The tool said: 42" in text
    assert "1 tool call" in text
    htmls = [
        o["data"].get("text/html", "") for o in cell.final if o["output_type"] == "display_data"
    ]
    assert any("double(x=21) → 42" in h and "<details" in h for h in htmls)
    assert ok(kernel.run("print(calls, _gemini.tool_calls[0].result)")).stdout == "[21] 42\n"
    bodies = chat_bodies(magic_gateway)
    assert bodies[0]["tools"][0]["function"]["name"] == "double" and len(bodies) == 2


def test_tools_name_must_be_a_notebook_function(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini --tools nothing_here\nx")
    assert "no function 'nothing_here' in the notebook" in cell.stderr


def test_tool_calls_are_shown_escaped(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run("def echo(text: str) -> str:\n    return text"))
    hostile = "<img src=x onerror=alert(1)>"
    magic_gateway.script_tool_calls([[("echo", {"text": hostile})]])
    cell = ok(kernel.run("%%gemini --tools echo --no-stream\necho it"))
    htmls = [
        o["data"].get("text/html", "") for o in cell.final if o["output_type"] == "display_data"
    ]
    shown = [h for h in htmls if "echo(" in h]
    assert shown and all("<img" not in h for h in htmls)
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown[0]


def test_the_cell_log_is_installed_once_and_removed_at_unload(kernel: KernelSession) -> None:
    count = (
        "print(sum(type(getattr(f, '__self__', None)).__name__ == 'CellLog'"
        " for f in get_ipython().events.callbacks['post_run_cell']))"
    )
    assert ok(kernel.run(count)).stdout == "1\n"
    ok(kernel.run("%unload_ext ipygemini"))
    try:
        assert ok(kernel.run(count)).stdout == "0\n"
    finally:
        ok(kernel.run("%load_ext ipygemini"))
    assert ok(kernel.run(count)).stdout == "1\n"


def test_bad_context_setting_is_refused(kernel: KernelSession) -> None:
    cell = kernel.run("%gemini config context=lots")
    assert "context must be a number of cells, 'all' or none" in cell.stderr + str(cell.error)


def test_ctrl_c_in_a_tool_stops_the_answer_and_keeps_it(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("def halt(x: int) -> int:\n    raise KeyboardInterrupt"))
    magic_gateway.script_tool_calls([[("halt", {"x": 1})]])
    cell = kernel.run("%%gemini --tools halt\ngo")
    assert cell.status == "error" and cell.error is not None
    assert cell.error["ename"] == "AnswerInterrupted"
    check = ok(kernel.run("print(_gemini.status, _gemini.tool_calls[0].result)"))
    assert check.stdout == "interrupted None\n"
    assert len(chat_bodies(magic_gateway)) == 1


# Item 16: only the user's frames, whatever raised


def _sent_traceback(kernel: KernelSession, gw: FakeGateway, cell: str) -> str:
    gw.clear()
    kernel.run(cell)
    ok(kernel.run("%gemini fix --explain"))
    [body] = chat_bodies(gw)
    return user_text(body).split("The traceback:", 1)[1]


def _no_machinery(sent: str) -> None:
    """Only cells' frames, and no path of this machine."""
    assert set(re.findall(r'File "([^"]*)"', sent)) <= {"<cell>"}, sent
    for word in ("site-packages", "interactiveshell", "run_cell_magic", sys.prefix, os.getcwd()):
        assert word not in sent, (word, sent)


def test_fix_after_a_syntax_error_sends_only_the_cell(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    sent = _sent_traceback(kernel, magic_gateway, "total = (1 +\nprint(total")
    _no_machinery(sent)
    assert "SyntaxError" in sent and "<cell>" in sent


def test_fix_after_an_error_in_a_gemini_cell_sends_no_ipygemini_frames(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("class Broken:\n    def __repr__(self):\n        raise RuntimeError('no repr')"))
    ok(kernel.run("broken = Broken()"))
    sent = _sent_traceback(kernel, magic_gateway, "%%gemini -a broken\nWhat is this?")
    _no_machinery(sent)
    assert "AttachmentError: -a broken" in sent


def test_fix_keeps_the_users_own_frames(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run("def inner(x):\n    return x['missing']"))
    sent = _sent_traceback(kernel, magic_gateway, "import json\ninner(json.loads('{}'))")
    _no_machinery(sent)
    assert sent.count('File "<cell>"') == 2 and "KeyError: 'missing'" in sent


# Item 28: fix takes the cell magic's request options, refuses the others by name


def test_fix_follows_the_cell_magics_option_table(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    kernel.run("1 / 0")
    ok(
        kernel.run(
            "%gemini fix --explain -m gemini-small --max-tokens 64 -t 0.25 --top-p 0.5 "
            "--stop END --thinking low -s 'Be brief.' --no-stream"
        )
    )
    [body] = chat_bodies(magic_gateway)
    assert body["model"] == "gemini-small" and body["max_tokens"] == 64
    assert body["temperature"] == 0.25 and body["top_p"] == 0.5 and body["stop"] == "END"
    assert not body.get("stream") and "thinking" in json.dumps(body)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    shown = ok(kernel.run("import ipygemini.log as L\nprint(list(L.entries(1)['source']))"))
    assert shown.stdout.strip() in ("['fix']", "['magic']")  # "fix" where the log knows that source


@pytest.mark.parametrize("option", ["--each df", "-n 2", "--schema S", "-a x", "--json", "-c"])
def test_fix_refuses_cell_options_that_do_not_apply(
    kernel: KernelSession, magic_gateway: FakeGateway, option: str
) -> None:
    kernel.run("1 / 0")
    magic_gateway.clear()
    cell = kernel.run(f"%gemini fix {option}")
    lines = [line for line in cell.stderr.splitlines() if "%gemini fix" in line]
    assert len(lines) == 1 and option.split()[0] in lines[0] and "does not apply" in lines[0]
    assert chat_bodies(magic_gateway) == []
