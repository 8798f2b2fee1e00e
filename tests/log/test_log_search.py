"""Searching the log (issue 17, item 14): user words are words. Quotes, ``*``, ``-`` and ``"``
are never query syntax, FTS5 and the LIKE fallback find the same exchanges for them, a search of
whitespace alone is no search (not an fts5 syntax error reported as a broken log), and
``%gemini log don't`` searches for "don't"."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipygemini._types import Choice, Reply, Usage
from ipygemini.log import ExchangeLog, exchange_from

PROMPTS = [
    "don't stop me now",
    "multiply 6 * 7",
    "a - b in Python",
    'say "hello" to me',
    "do not touch",
    "plain question",
]


def record(log: ExchangeLog, prompt: str, answer: str = "an answer") -> None:
    exchange = exchange_from(
        {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": prompt}]},
        Reply(choices=[Choice(text=answer)], usage=Usage(3, 2, 5)),
        source="client",
        base_url="https://gateway.example/v1/",
        started=1_700_000_000.0,
        duration=0.1,
    )
    assert log.record(exchange) is not None


@pytest.fixture(params=[True, False], ids=["fts", "like"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> ExchangeLog:
    made = ExchangeLog(tmp_path / "log.sqlite3", fts=request.param)
    for prompt in PROMPTS:
        record(made, prompt)
    return made


def found(log: ExchangeLog, search: str) -> list[str]:
    return sorted(e.prompt for e in log.entries(50, search))


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("*", ["multiply 6 * 7"]),
        ("-", ["a - b in Python"]),
        ('"', ['say "hello" to me']),
        ("don't", ["don't stop me now"]),
        ("'", ["don't stop me now"]),
        ('"hello"', ['say "hello" to me']),
        ("* multiply", ["multiply 6 * 7"]),
        ("* plain", []),  # every word is required, punctuation too
        ("- Python", ["a - b in Python"]),
        ('"unbalanced', []),
        ("AND", []),  # FTS5 operators are words here
        ("NEAR(", []),
    ],
)
def test_every_word_is_a_word_in_both_search_paths(
    log: ExchangeLog, search: str, expected: list[str]
) -> None:
    assert found(log, search) == expected


@pytest.mark.parametrize("blank", ["", " ", "   \t ", "\n"])
def test_whitespace_alone_is_no_search(
    log: ExchangeLog, blank: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert [e.prompt for e in log.entries(3, blank)] == PROMPTS[::-1][:3]
    assert capsys.readouterr().err == ""


def test_fts_and_like_agree(tmp_path: Path) -> None:
    both = []
    for fts in (True, False):
        made = ExchangeLog(tmp_path / f"log-{fts}.sqlite3", fts=fts)
        for prompt in PROMPTS:
            record(made, prompt)
        both.append([found(made, w) for w in ("*", "-", '"', "'", "don't", "*  -")])
    assert both[0] == both[1]


def test_the_log_command_takes_the_line_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipygemini.magic._log_commands import log_command

    monkeypatch.setenv("IPYGEMINI_HOME", str(tmp_path))
    from ipygemini.log._recording import exchange_log

    for prompt in PROMPTS:
        record(exchange_log(), prompt)
    shown = log_command("don't")
    assert shown is not None and "don't stop me now" in shown.text
    assert shown.text.count("\n") == 1  # the header and one exchange
    shown = log_command('-n 5 say "hello"')
    assert shown is not None and 'say "hello" to me' in shown.text
    assert shown.text.count("\n") == 1
    blank = log_command("   ")
    assert blank is not None and blank.text.count("\n") == len(PROMPTS)
    assert log_command(["   "]) is not None
    nothing = log_command("*  plain")
    assert nothing is not None and nothing.text.startswith("No exchanges matching")


def test_a_failed_read_says_read_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    assert ExchangeLog(path).entries(5, "anything") == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not read the log" in err
    assert "logging resumes" not in err and "answer is still shown" not in err
