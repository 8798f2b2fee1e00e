"""The shared kernel driver (kernel_driver.py) that kernel tests and benchmarks use."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kernel_driver import KernelSession, displays, gateway_env, ok


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelSession]:
    output = tmp_path_factory.mktemp("kernel") / "output.txt"
    env = gateway_env("http://127.0.0.1:9/v1", "sk-driver-test", DRIVER_MARK="set")
    with KernelSession(env, output=output) as kernel:
        yield kernel
    assert output.exists()


def test_gateway_env_replaces_every_gemini_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_MODEL", "stale")
    env = gateway_env("http://x/v1", "k", EXTRA="1")
    assert {k: v for k, v in env.items() if k.startswith("GEMINI_")} == {
        "GEMINI_BASE_URL": "http://x/v1",
        "GEMINI_API_KEY": "k",
    }
    assert env["EXTRA"] == "1" and env["PATH"] == os.environ["PATH"]


def test_a_cell_collects_its_outputs(session: KernelSession) -> None:
    cell = ok(session.run("import os\nprint(os.environ['DRIVER_MARK'])\n6 * 7"))
    assert cell.stdout == "set\n"
    assert cell.of_type("execute_result")[0]["content"]["data"]["text/plain"] == "42"
    assert [o["output_type"] for o in cell.recorded] == ["stream", "execute_result"]


def test_final_outputs_follow_display_updates(session: KernelSession) -> None:
    cell = ok(
        session.run(
            "from IPython.display import display\n"
            "h = display('first', display_id=True)\n"
            "h.update('second')"
        )
    )
    assert displays(cell.recorded) == [{"text/plain": "'first'"}]  # as nbval records it
    assert displays(cell.final) == [{"text/plain": "'second'"}]  # as a notebook saves it


def test_errors_stdin_and_eval(session: KernelSession) -> None:
    failed = session.run("1 / 0")
    assert failed.status == "error" and failed.error is not None
    assert failed.error["ename"] == "ZeroDivisionError"
    with pytest.raises(AssertionError):
        ok(failed)
    asked = ok(session.run("answer = input('name? ')", stdin=lambda request: "Ada"))
    assert asked.status == "ok"
    assert session.eval("answer") == "Ada"


def test_wait_for_and_a_subshell(session: KernelSession) -> None:
    ok(
        session.run(
            "import asyncio\nflag = []\nasyncio.get_running_loop().call_later(0.01, flag.append, 1)"
        )
    )
    session.wait_for("flag")
    subshell = session.subshell()
    cell = ok(
        session.run("import threading\nprint(threading.current_thread().name)", subshell=subshell)
    )
    assert cell.stdout.strip() != "MainThread"


def test_interrupt_stops_a_running_cell(session: KernelSession) -> None:
    def interrupt(msg: dict, cell: object) -> None:
        if msg["msg_type"] == "stream" and "started" in msg["content"]["text"]:
            session.interrupt()

    cell = session.run(
        "import time\nprint('started', flush=True)\nwhile True: time.sleep(0.01)",
        on_message=interrupt,
    )
    assert cell.error is not None and cell.error["ename"] == "KeyboardInterrupt"
    assert session.eval("1 + 1") == 2


def test_every_message_is_kept(session: KernelSession) -> None:
    before = len(session.all_messages)
    ok(session.run("print('kept')"))
    assert any(
        m.get("msg_type") == "stream" and m["content"].get("text") == "kept\n"
        for m in session.all_messages[before:]
    )
    assert session.iopub and session.iopub[-1]["msg_type"] == "status"
