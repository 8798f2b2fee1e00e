"""The first run without a key: connect(), the magic and the CLI answer from the offline gateway."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import ipygemini
from ipygemini.gateway import _offline


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GEMINI_BASE_URL", "GEMINI_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_connect_without_config_is_offline(
    no_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    monkey_noticed = _offline._noticed
    _offline._noticed = False
    try:
        with ipygemini.connect() as client:
            reply = client.chat("hello")
    finally:
        _offline._noticed = monkey_noticed or True
    assert client.base_url == _offline.gateway().base_url + "/"
    assert reply.text.startswith("**Offline answer**")
    assert "OFFLINE gateway" in capsys.readouterr().err


def test_connect_with_a_key_is_not_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "sk-real-looking-key-1234")
    monkeypatch.delenv("GEMINI_BASE_URL", raising=False)
    client = ipygemini.connect()
    assert client.base_url.startswith("https://generativelanguage.googleapis.com/")


def test_base_url_without_key_still_asks_for_the_key(no_config: None) -> None:
    with pytest.raises(ipygemini.MissingKeyError):
        ipygemini.connect(base_url="https://fast-token.com/v1")


def test_async_connect_offline(no_config: None) -> None:
    import asyncio

    async def main() -> str:
        async with ipygemini.connect_async() as client:
            return (await client.chat("hi")).text

    assert asyncio.run(main()).startswith("**Offline answer**")


def test_cli_quickstart_runs_offline() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    out = subprocess.run(
        [sys.executable, "-m", "ipygemini", "What can you do?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "OFFLINE" in out.stderr
    assert 'You asked: "What can you do?"' in out.stdout
    # Markdown through the terminal renderer (item 22): no raw markers on a pipe
    assert out.stdout.startswith("Offline answer from") and "**" not in out.stdout
    # the footer every front end shows: model · tokens · seconds · offline
    assert re.search(r"^— gemini-2\.5-flash · \d+ tokens · \d+\.\d s · offline$", out.stderr, re.M)


def test_magic_without_config_answers_offline(no_config: None) -> None:
    code = (
        "from IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython()\n"
        "ip.run_line_magic('load_ext', 'ipygemini')\n"
        "ip.run_cell_magic('gemini', '--no-stream', 'hello offline')\n"
        "print('TEXT', ip.user_ns['_gemini'].text[:40])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("OFFLINE gateway") == 1
    assert "TEXT **Offline answer**" in out.stdout


def test_notebook_notice_is_a_calm_note_not_an_error() -> None:
    """In a kernel the no-key notice is a styled display, not red stderr text."""
    from conftest import KernelSession

    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    session = KernelSession(env)
    try:
        cell = session.run("%load_ext ipygemini")
        assert cell.status == "ok"
        assert cell.stderr == ""
        notes = [m["content"]["data"] for m in cell.messages if m["msg_type"] == "display_data"]
        assert len(notes) == 1
        assert "OFFLINE gateway" in notes[0]["text/plain"]
        assert "%gemini login" in notes[0]["text/plain"]
        assert "<div" in notes[0]["text/html"] and "error" not in notes[0]["text/html"]
        again = session.run("%%gemini --no-stream\nhello")
        assert again.stderr == ""  # said once per kernel
    finally:
        session.shutdown()


def test_cli_notice_gives_advice_that_applies_on_the_command_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
    out = subprocess.run(
        [sys.executable, "-m", "ipygemini", "hi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "OFFLINE" in out.stderr and "GEMINI_API_KEY" in out.stderr
    assert "%gemini" not in out.stderr
