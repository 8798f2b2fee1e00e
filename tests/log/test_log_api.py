"""`ipygemini.log` (entries as a DataFrame or a list, get, path) and the footer's cost and
"cached" marker, on a real log written by a client over a real socket."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

import ipygemini.log
from ipygemini import Client
from ipygemini._types import Choice, Reply, Usage
from ipygemini.render import footer_bundle
from ipygemini.testing import FakeGateway


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IPYGEMINI_HOME", str(tmp_path))
    with FakeGateway(api_key="sk-log-api-test-0001", delay=0.0) as gw:
        with Client(base_url=gw.base_url, api_key=gw.api_key) as c:
            c.chat("alpha question")
            c.chat("beta question", source="batch")
    return tmp_path


def test_entries_is_a_dataframe_newest_first_and_searchable(home: Path) -> None:
    frame = ipygemini.log.entries()
    assert list(frame["prompt"]) == ["beta question", "alpha question"]
    assert list(frame["source"]) == ["batch", "client"] and "images" not in frame.columns
    assert str(frame["started"].dtype).startswith("datetime64")
    assert list(ipygemini.log.entries(search="alpha")["prompt"]) == ["alpha question"]
    assert len(ipygemini.log.entries(1)) == 1
    with pytest.raises(ValueError, match="n must be"):
        ipygemini.log.entries(0)


def test_entries_without_pandas_is_a_list(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas":
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    found = ipygemini.log.entries()
    assert isinstance(found, list) and isinstance(found[0], ipygemini.log.Entry)
    assert ipygemini.log.get(found[0].id) == found[0]


def test_get_and_path(home: Path) -> None:
    assert ipygemini.log.path() == home / "log.sqlite3"
    first = ipygemini.log.get(1)
    assert first is not None and first.prompt == "alpha question" and first.images == []
    assert ipygemini.log.get(999) is None
    (row,) = ipygemini.log.usage()
    assert row["answers"] == 2 and row["input"] > 0


def reply(model: str, *, cached: bool = False) -> Reply:
    return Reply(
        choices=[Choice(text="hi", finish_reason="stop")],
        usage=Usage(1_000_000, 100_000, 1_100_000),
        model=model,
        cached=cached,
    )


def test_footer_cost_where_known_cached_otherwise() -> None:
    priced = footer_bundle(reply("gemini-2.5-flash"), model="x", seconds=1.0)["text/plain"]
    assert "$0.55" in priced  # 1M input at $0.30 + 100k output at $2.50
    cached = footer_bundle(reply("gemini-2.5-flash", cached=True), model="x", seconds=0.0)
    assert "cached" in cached["text/plain"] and "$" not in cached["text/plain"]
    unknown = footer_bundle(reply("mystery-model"), model="x", seconds=1.0)["text/plain"]
    assert "$" not in unknown and "tokens" in unknown
    offline = footer_bundle(reply("gemini-2.5-flash"), model="x", seconds=1.0, offline=True)
    assert "$" not in offline["text/plain"]
    mine = {"gemini-2.5-flash": {"input": 1.0, "output": 10.0}}
    overridden = footer_bundle(reply("gemini-2.5-flash"), model="x", seconds=1.0, prices=mine)
    assert "$2.00" in overridden["text/plain"]
