"""Reply assembly and request bodies over real sockets against FakeGateway's faults.

The first group goes through the public `Client`/`AsyncClient`; the second drives the pure
pieces (`build_chat_body(gateway=...)`, `GatewayMemory`, `ReplyAssembler(requested_choices=)`)
with plain httpx against the gateway, as the client loops do.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from conftest import client_for
from ipygemini import AsyncClient, Client
from ipygemini._types import Event, FinishEvent, Reply, TextDelta
from ipygemini.client._adapt import GatewayMemory
from ipygemini.client._reply import ReplyAssembler
from ipygemini.client._request import build_chat_body
from ipygemini.testing import FakeGateway

KEY = "sk-test-reply-wire-7c1d"
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)


@pytest.fixture
def client(gw: FakeGateway) -> Any:
    with client_for(gw, backoff=0.0) as c:
        yield c


def streamed(client: Client, prompt: str, **options: Any) -> tuple[Reply, list[Event]]:
    with client.stream(prompt, **options) as stream:
        events = list(stream)
        return stream.reply, events


# --- through the client ---------------------------------------------------------------------


def test_unclosed_image_does_not_hold_back_the_answer(client: Client) -> None:
    reply, events = streamed(client, "[fake:unclosed_image chunk_chars=4 words=40] plot it")
    assert "The chart shows a steady rise." in reply.text
    assert "![chart](https://example.com/chart.png\n" in reply.text and reply.images == []
    # released as it streams: no delta carries the rest of the answer at once
    assert max(len(e.text) for e in events if isinstance(e, TextDelta)) < 100


def test_paren_urls_are_whole(client: Client) -> None:
    for reply in (
        client.chat("[fake:paren_url] plot"),
        streamed(client, "[fake:paren_url chunk_chars=3] plot")[0],
    ):
        assert [i.url for i in reply.images] == ["https://example.com/wiki/File_(1).png"]
        assert "[see](https://en.wikipedia.org/wiki/Python_(programming_language))." in reply.text
        assert ".png)" not in reply.text


def test_unclosed_think_is_the_answer(client: Client) -> None:
    reply, events = streamed(client, "[fake:unclosed_think chunk_chars=5] answer me")
    assert reply.text.strip() and reply.reasoning == ""
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == reply.text
    assert isinstance(events[-1], FinishEvent) or any(isinstance(e, FinishEvent) for e in events)
    assert any("never closed" in n for n in reply.notes)
    whole = client.chat("[fake:unclosed_think] answer me")
    assert whole.text == reply.text and whole.reasoning == ""


def test_bad_images_are_skipped_with_notes(client: Client) -> None:
    model = "gemini-2.5-flash-image"
    for reply in (
        client.chat("[fake:bad_images image_shape=images] a red square", model=model),
        streamed(client, "[fake:bad_images image_shape=images] a red square", model=model)[0],
    ):
        # the answer's own image and the one valid entry of the fault; the other three skipped
        assert len(reply.images) == 2 and all(i.displayable for i in reply.images)
        assert {i.mime_type for i in reply.images} == {"image/png"}
        skipped = [n for n in reply.notes if n.startswith("skipped")]
        assert len(skipped) == 3, reply.notes


def test_length_thinking_note_and_cached_tokens(client: Client) -> None:
    reply = client.chat("[fake:length_thinking tokens=321] think hard", max_tokens=5)
    assert reply.text == "" and reply.finish_reason == "length"
    assert reply.notes == [
        "the model spent max_tokens thinking (321 reasoning tokens): "
        "raise --max-tokens or lower --thinking"
    ]
    assert client.chat("[fake:cached=7] hi").usage.cached_tokens == 7  # type: ignore[union-attr]
    assert client.chat("[fake] hi").usage.cached_tokens is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("model", "asked", "sent"), [("gemini-3-pro-preview", "medium", "high")])
def test_refused_thinking_level_is_revised_and_resent(
    client: Client, gw: FakeGateway, model: str, asked: str, sent: str
) -> None:
    reply = client.chat("[fake] think", model=model, thinking=asked)
    assert reply.reasoning  # the resent request asked for thinking the model accepts
    config = [r.body["extra_body"]["google"]["thinking_config"] for r in gw.requests]
    assert [c["thinking_level"] for c in config] == [asked, sent]


def test_async_client_sees_the_same(gw: FakeGateway) -> None:
    async def main() -> Reply:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY, backoff=0.0) as c:
            async with c.stream("[fake:paren_url unclosed_think chunk_chars=7] x") as stream:
                async for _ in stream:
                    pass
                return stream.reply

    reply = asyncio.run(main())
    assert [i.url for i in reply.images] == ["https://example.com/wiki/File_(1).png"]
    assert reply.reasoning == "" and "For background" in reply.text


# --- the pure pieces over the wire ----------------------------------------------------------


def post(gw: FakeGateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        gw.base_url.rstrip("/") + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    )


def assemble(response: httpx.Response, *, requested: int = 1) -> Reply:
    assembler = ReplyAssembler(requested_choices=requested)
    assembler.feed(response.json())
    assembler.finish(streamed=False)
    return assembler.reply


MESSAGES = [{"role": "user", "content": "[fake:litellm] think about it"}]


def test_litellm_is_learned_and_thinking_then_works(gw: FakeGateway) -> None:
    memory = GatewayMemory()
    first = post(
        gw,
        build_chat_body(
            MESSAGES, model="gemini-2.5-flash", stream=False, thinking="low", gateway=memory
        ),
    )
    memory.observe(first.headers)
    assert memory.kind == "litellm"
    assert assemble(first).reasoning == ""  # the google form is dropped by LiteLLM
    body = build_chat_body(
        MESSAGES, model="gemini-2.5-flash", stream=False, thinking="low", gateway=memory
    )
    assert body["reasoning_effort"] == "low"
    assert assemble(post(gw, body)).reasoning


def test_remembered_level_is_used_directly(gw: FakeGateway) -> None:
    memory = GatewayMemory()
    messages = [{"role": "user", "content": "[fake] think"}]
    model = "gemini-3-flash-preview"
    body = build_chat_body(messages, model=model, stream=False, thinking=False, gateway=memory)
    refused = post(gw, body)
    assert refused.status_code == 400
    message = refused.json()[0]["error"]["message"]
    assert memory.revise(body, 400, message) is True
    assert post(gw, body).status_code == 200
    again = build_chat_body(messages, model=model, stream=False, thinking=False, gateway=memory)
    assert again["extra_body"]["google"]["thinking_config"]["thinking_level"] == "none"
    assert post(gw, again).status_code == 200


def test_fewer_choices_note(gw: FakeGateway) -> None:
    messages = [{"role": "user", "content": "[fake:fewer_choices] two please"}]
    reply = assemble(post(gw, build_chat_body(messages, model="m", stream=False, n=2)), requested=2)
    assert reply.notes == ["asked for 2 answers, the gateway returned 1"]
    messages = [{"role": "user", "content": "[fake] two please"}]
    reply = assemble(post(gw, build_chat_body(messages, model="m", stream=False, n=2)), requested=2)
    assert len(reply.choices) == 2 and reply.notes == []


# --- wired through Client / AsyncClient ---------------------------------------------------------


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
    gw.clear()  # a gateway no client has learned from yet

    async def main() -> tuple[str, str]:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY, backoff=0.0) as c:
            a = await c.chat("[fake:litellm] think", thinking=True)
            b = await c.chat("[fake:litellm] think", thinking=True)
            return a.reasoning, b.reasoning

    first, second = asyncio.run(main())
    assert first == "" and second
