"""Declared once: the settings, the command table and key masking each have one source that
the other lists are generated from (and README's list of commands is checked against it)."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from conftest import ROOT
from ipygemini import MissingKeyError, Settings
from ipygemini._errors import InsecureURLError
from ipygemini._masking import mask_key, mask_secret
from ipygemini._settings import client_options_source, configurable_settings
from ipygemini.client import Client
from ipygemini.magic._commands import COMMAND_TABLE, command_list
from ipygemini.magic._config import Gemini
from ipygemini.testing import FakeGateway

SRC = ROOT / "src" / "ipygemini"


def test_client_options_are_generated_from_settings() -> None:
    core = (SRC / "client" / "_core.py").read_text(encoding="utf-8")
    assert client_options_source() in core, (
        "ClientOptions in client/_core.py differs from Settings: paste "
        "ipygemini._settings.client_options_source() over it"
    )


def test_gemini_traits_are_generated_from_settings() -> None:
    traits = Gemini().traits(config=True)
    for item in configurable_settings():
        assert item.name in traits, item.name
        assert traits[item.name].help.startswith(item.metadata["help"])
    assert "api_key" not in traits and "offline" not in traits and "headers" not in traits


@pytest.mark.parametrize(
    ("name", "value"),
    [("timeout", -1.0), ("connect_timeout", 0.0), ("max_retries", -2), ("backoff", -1.0)],
)
def test_a_setting_is_checked_the_same_way_everywhere(name: str, value: float) -> None:
    with pytest.raises(Exception) as settings_error:
        Settings(base_url="http://127.0.0.1:1/", **{name: value})
    with pytest.raises(Exception) as trait_error:
        setattr(Gemini(), name, value)
    assert str(trait_error.value) == settings_error.value.message


def test_every_setting_is_a_client_option() -> None:
    names = {f.name for f in fields(Settings)} - {"offline"}
    assert set(re.findall(r"^    (\w+): ", client_options_source(), re.M)) == names


def test_readme_lists_the_command_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`%gemini {command_list()}`" in readme
    assert {c.name for c in COMMAND_TABLE} >= {"log", "usage", "fix", "help"}


def test_key_masking_is_one_function() -> None:
    assert mask_key("sk-123456789") == "…6789" and mask_key("12345678") == "…"
    assert mask_secret("key=sk-123456789.", "sk-123456789") == "key=…6789."
    copies = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if re.search(r'"…" \+ \w+\[-4:\]|…\{\w+\[-4:\]\}', path.read_text(encoding="utf-8"))
    }
    # the `log` engineer's store should call mask_secret too
    assert copies - {"log/_store.py"} == {"_masking.py"}, copies


# Item 11: a base URL with user:password@ is refused in one line, before anything is sent


@pytest.mark.parametrize(
    "url",
    ["http://alice:s3cret-pw@127.0.0.1:{port}/v1", "http://alice@127.0.0.1:{port}/v1"],
)
def test_userinfo_in_the_base_url_is_refused_and_never_shown(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGateway(api_key="the-real-key-1234") as gw:
        base_url = url.format(port=gw.port)
        with pytest.raises(InsecureURLError) as refused:
            Client(api_key=gw.api_key, base_url=base_url).chat("hi")
        monkeypatch.setenv("GEMINI_BASE_URL", base_url)
        monkeypatch.setenv("GEMINI_API_KEY", gw.api_key)
        with pytest.raises(InsecureURLError) as from_env:
            Settings.resolve({})
        assert gw.requests == []  # nothing sent: no Basic auth replacing the Bearer key
    for error in (refused.value, from_env.value):
        text = f"{error}\n{error!r}"
        assert "alice" not in text and "s3cret" not in text
        assert len(str(error).splitlines()) == 1 and "user name or password" in str(error)


def test_offline_is_decided_by_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    offline = Settings.resolve({})
    assert offline.offline and offline.host.startswith("127.0.0.1:")
    chosen = Settings.resolve({}, offline=True, api_key="a-real-key-0000")
    assert chosen.offline and chosen.api_key != "a-real-key-0000"
    with pytest.raises(MissingKeyError):
        Settings.resolve({}, offline_fallback=False)


def test_a_client_is_made_in_one_place() -> None:
    """`ipygemini._connect` makes every front end's client; the remaining copies are in other
    engineers' files (magic/_session.make_client, panel/_connection.make_client, batch's
    client) and should call `connect` / `connect_async` with the settings they hold."""
    makers = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if not path.relative_to(SRC).as_posix().startswith("client/")
        and re.search(r"(?<![\w.`])(Async)?Client\(", path.read_text(encoding="utf-8"))
    }
    assert makers - {"magic/_session.py", "panel/_connection.py", "batch/_map.py"} == {
        "_connect.py"
    }


def test_connect_takes_settings_and_how_to_wait() -> None:
    from ipygemini import connect

    waits: list[float] = []
    with FakeGateway(api_key="the-real-key-1234") as gw:
        settings = Settings(api_key=gw.api_key, base_url=gw.base_url, backoff=0.25)
        with connect(settings, sleep=waits.append, max_retries=1) as client:
            assert client.settings.max_retries == 1
            reply = client.chat("hi [fake:status code=503 fail_times=1]")
    assert reply.complete and len(waits) == 1  # one retry, waited through the given sleep
