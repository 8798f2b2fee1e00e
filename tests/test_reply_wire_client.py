"""Client-level wire tests that pass once _client.py is wired (build/client-wiring.patch)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ipygemini import AsyncClient, Client
from ipygemini.testing import FakeGateway

KEY = "sk-test-reply-wired-3e9a"


@pytest.fixture(scope="module")
def gw() -> Any:
    with FakeGateway(api_key=KEY) as gateway:
        yield gateway


@pytest.fixture
def client(gw: FakeGateway) -> Any:
    gw.clear()
    with Client(base_url=gw.base_url, api_key=KEY, backoff=0.0) as c:
        yield c


def test_fewer_choices_note_chat_and_stream(client: Client) -> None:
    note = "asked for 2 answers, the gateway returned 1"
    assert client.chat("[fake:fewer_choices] two", n=2).notes == [note]
    with client.stream("[fake:fewer_choices] two", n=2) as s:
        list(s)
    assert s.reply.notes == [note]
    assert client.chat("[fake] two", n=2).notes == []


def test_litellm_learned_then_reasoning_effort(client: Client, gw: FakeGateway) -> None:
    first = client.chat("[fake:litellm] think", thinking="low")
    assert first.reasoning == ""  # the google form is dropped by LiteLLM
    second = client.chat("[fake:litellm] think", thinking="low")
    assert second.reasoning
    assert gw.requests[-1].body["reasoning_effort"] == "low"


def test_refused_level_remembered(client: Client, gw: FakeGateway) -> None:
    model = "gemini-3-pro-preview"
    assert client.chat("[fake] a", model=model, thinking="medium").reasoning
    assert client.chat("[fake] b", model=model, thinking="medium").reasoning
    levels = [
        r.body["extra_body"]["google"]["thinking_config"]["thinking_level"] for r in gw.requests
    ]
    assert levels == ["medium", "high", "high"]  # one 400, then used directly


def test_async_litellm(gw: FakeGateway) -> None:
    async def main() -> tuple[str, str]:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY, backoff=0.0) as c:
            a = await c.chat("[fake:litellm] think", thinking=True)
            b = await c.chat("[fake:litellm] think", thinking=True)
            return a.reasoning, b.reasoning

    first, second = asyncio.run(main())
    assert first == "" and second
