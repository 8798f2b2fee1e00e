"""The magic's one `Settings` in a real kernel: %gemini config, %gemini panel, shared turns, errors.

`%gemini panel` is checked with a recording stand-in for `ChatPanel` so the test sees exactly what
the magic passes (the panel's own use of it is tested in test_panel_*).
"""

from __future__ import annotations

import json

import pytest

from conftest import Cell, KernelSession
from ipygemini.testing import FakeGateway
from kernel_driver import ok

pytestmark = pytest.mark.usefixtures("fresh")  # every test starts with a cleared gateway


def last_json(cell: Cell) -> dict[str, object]:
    lines = ok(cell).stdout.strip().splitlines()
    result: dict[str, object] = json.loads(lines[-1])
    return result


RECORDING_PANEL = """\
import ipygemini.panel as _panel_module
class _RecordingPanel:
    def __init__(self, *, settings=None, conversation=None, **others):
        self.arguments = {"settings": settings, "conversation": conversation, **others}
_real_panel = _panel_module.ChatPanel
_panel_module.ChatPanel = _RecordingPanel
"""


def test_config_command_reaches_settings_resolve_anywhere(kernel: KernelSession) -> None:
    ok(kernel.run("%gemini config timeout=7 allow_insecure=true max_retries=5"))
    try:
        resolved = last_json(
            kernel.run(
                "import json\nfrom ipygemini import Settings\ns = Settings.resolve()\n"
                "print(json.dumps([s.timeout, s.allow_insecure, s.max_retries]))"
            )
        )
        assert resolved == [7.0, True, 5]
    finally:
        ok(kernel.run("%gemini config timeout=60 allow_insecure=false max_retries=2"))


def test_thinking_style_defaults_to_per_gateway(kernel: KernelSession) -> None:
    cell = ok(kernel.run("%gemini config"))
    assert "thinking_style     = None  (picked per gateway)" in cell.stdout


def test_panel_command_passes_the_magics_settings_and_conversation(
    kernel: KernelSession,
) -> None:
    ok(kernel.run(RECORDING_PANEL))
    try:
        ok(
            kernel.run(
                "%gemini config allow_insecure=true thinking_style=openrouter timeout=9 "
                "idle_timeout=11 max_retries=4"
            )
        )
        ok(kernel.run("%gemini offline"))
        got = last_json(
            kernel.run(
                "p = get_ipython().run_line_magic('gemini', 'panel notes')\n"
                "import json, ipygemini.magic as _m\n"
                "s = p.arguments['settings']\n"
                "magics = _m._LOADED[id(get_ipython())]\n"
                "print(json.dumps({'keys': sorted(p.arguments), 'same': "
                "p.arguments['conversation'] is magics.session.conversations['notes'], "
                "'values': [s.allow_insecure, s.thinking_style, s.timeout, s.idle_timeout, "
                "s.max_retries, s.offline], 'equal': s == magics.session.settings()}))"
            )
        )
    finally:
        ok(kernel.run("%gemini offline off"))
        ok(
            kernel.run(
                "%gemini config allow_insecure=false thinking_style=none timeout=60 "
                "idle_timeout=120 max_retries=2"
            )
        )
        ok(kernel.run("_panel_module.ChatPanel = _real_panel"))
    assert got == {
        "keys": ["conversation", "settings"],
        "same": True,
        "values": [True, "openrouter", 9.0, 11.0, 4, True],
        "equal": True,
    }


def test_cell_turns_reach_a_listener_of_the_panels_conversation(kernel: KernelSession) -> None:
    ok(kernel.run(RECORDING_PANEL))
    try:
        ok(
            kernel.run(
                "p = get_ipython().run_line_magic('gemini', 'panel shared2')\n"
                "heard = []\n"
                "p.arguments['conversation'].on_change(lambda c: heard.append(c.turns))"
            )
        )
        ok(kernel.run("%%gemini -c shared2\nFirst question"))
        ok(kernel.run("%%gemini -c shared2\nSecond question"))
        heard = last_json(kernel.run("import json\nprint(json.dumps({'heard': heard}))"))
    finally:
        ok(kernel.run("_panel_module.ChatPanel = _real_panel"))
    assert heard == {"heard": [1, 2]}


def test_a_value_error_while_displaying_is_a_real_error(kernel: KernelSession) -> None:
    """A bug in the display path must surface as an error nbval counts, not a UsageError."""
    patch = (
        "from ipygemini.render import _live\n"
        "_real_text = _live.LiveMarkdown.text\n"
        "def _broken(self, text):\n"
        "    raise ValueError('display bug')\n"
        "_live.LiveMarkdown.text = _broken\n"
    )
    ok(kernel.run(patch))
    try:
        cell = kernel.run("%%gemini\nhello")
    finally:
        ok(kernel.run("_live.LiveMarkdown.text = _real_text"))
    assert cell.status == "error"
    assert cell.error is not None and cell.error["ename"] == "ValueError", cell.stderr
    assert "UsageError" not in cell.stderr


def test_option_errors_stay_usage_errors(kernel: KernelSession) -> None:
    cell = kernel.run("%%gemini -t 7\nhi")
    assert cell.status == "error"
    assert "UsageError" in cell.stderr and "-t/--temperature" in cell.stderr


def test_a_reply_as_the_cells_value_is_the_same_safe_html(kernel: KernelSession) -> None:
    streamed = ok(kernel.run("%%gemini\nSay hi [fake:words=12]"))
    (output,) = [o["data"] for o in streamed.final if o["output_type"] == "display_data"]
    answer = output["text/html"].split('<div style="font-size:0.85em')[0]  # the footer left out
    shown = ok(kernel.run("_gemini"))
    (result,) = [m["content"]["data"] for m in shown.messages if m["msg_type"] == "execute_result"]
    assert answer and result["text/html"] == answer
    assert result["text/plain"].startswith("Reply(text=")
    hostile = ok(
        kernel.run(
            "from ipygemini import Reply\nr = Reply()\n"
            "r.choices[0]._text.append('<img src=x onerror=alert(1)> **bold**')\nr"
        )
    )
    (data,) = [m["content"]["data"] for m in hostile.messages if m["msg_type"] == "execute_result"]
    assert "<img" not in data["text/html"] and "&lt;img" in data["text/html"]
    assert "<strong>bold</strong>" in data["text/html"]


def test_the_client_is_kept_until_the_settings_change(kernel: KernelSession) -> None:
    probe = (
        "import ipygemini.magic as _m\n"
        "_c = _m._LOADED[id(get_ipython())].session\n"
        "print(id(_c.client()))"
    )
    first = ok(kernel.run(probe)).stdout
    ok(kernel.run("%%gemini\nhello"))
    assert ok(kernel.run(probe)).stdout == first
    ok(kernel.run("%gemini config timeout=30"))
    try:
        assert ok(kernel.run(probe)).stdout != first
    finally:
        ok(kernel.run("%gemini config timeout=60"))


# Item 22: %gemini --help names the cell magic %%gemini and lists every line command


def test_help_names_the_cell_magic_and_every_line_command(kernel: KernelSession) -> None:
    from ipygemini.magic._commands import COMMAND_TABLE

    shown = ok(kernel.run("%gemini --help")).stdout
    assert shown.startswith("usage: %%gemini [options]")
    listed = [line for line in shown.splitlines() if line.startswith("%gemini ")]
    assert [line.split()[1] for line in listed] == [c.name for c in COMMAND_TABLE]
    assert {"log", "usage", "fix"} <= {c.name for c in COMMAND_TABLE}
    assert ok(kernel.run("%gemini help")).stdout.strip() in shown  # the same table


def test_config_shows_every_setting_once(kernel: KernelSession) -> None:
    from ipygemini._settings import configurable_settings

    shown = ok(kernel.run("%gemini config")).stdout
    names = [line.split()[0] for line in shown.splitlines() if " = " in line]
    assert len(names) == len(set(names))
    assert {f.name for f in configurable_settings()} <= set(names)


# Item 29: %gemini config shows what a gateway taught the client (kept per base URL)


def test_a_lesson_reads_as_one_line() -> None:
    from ipygemini.magic._commands import lesson_text

    facts = {
        "kind": "litellm",
        "json_schema_refused": True,
        "levels": {"gemini-3-flash": ["high", "low"]},
    }
    assert lesson_text(facts) == (
        "a litellm gateway; refuses json_schema (schemas go as json_object); "
        "gemini-3-flash thinks at high, low"
    )
    assert lesson_text({"kind": None, "json_schema_refused": False, "levels": {}}) == ""


def test_config_shows_what_the_gateway_taught(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    pytest.importorskip("ipygemini.log._gateways")  # the `policy` work keeps the lessons
    teach = (
        "from ipygemini.log import _gateways as G\n"
        f"G.remember({magic_gateway.base_url!r}, {{'kind': 'litellm', 'json_schema_refused': "
        "True, 'levels': {'gemini-3-flash': ['high', 'low']}}, persist=False)"
    )
    ok(kernel.run(teach))
    try:
        shown = ok(kernel.run("%gemini config")).stdout
    finally:
        ok(kernel.run(f"G.forget({magic_gateway.base_url!r})"))
    [line] = [line for line in shown.splitlines() if line.startswith("learned ")]
    assert "a litellm gateway; refuses json_schema" in line
    assert "gemini-3-flash thinks at high, low" in line and "kept per base URL" in line
    assert "learned " not in ok(kernel.run("%gemini config")).stdout  # forgotten: no row
