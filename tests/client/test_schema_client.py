"""`schema=` on chat and stream over real sockets against FakeGateway: json_schema sent, the
json_object fallback remembered per gateway, one corrective retry, one clear error after."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from conftest import client_for, response_formats
from ipygemini import AsyncClient
from ipygemini._errors import APIStatusError, OptionError
from ipygemini.client._schema import AnswerValidationError
from ipygemini.testing import FakeGateway


class Label(BaseModel):
    sentiment: str
    score: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


SCHEMA = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}


def test_chat_sends_json_schema_and_parses_into_the_type(gw: FakeGateway) -> None:
    reply = client_for(gw).chat("I love this film", schema=Label)
    assert isinstance(reply.parsed, Label) and isinstance(reply.parsed.score, int)
    sent = gw.requests[-1].body["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"]["required"] == ["sentiment", "score"]


@pytest.mark.parametrize(
    ("schema", "kind"),
    [(Point, Point), (Movie, dict), (list[Label], list), (SCHEMA, dict)],
    ids=["dataclass", "typeddict", "list", "json-schema-dict"],
)
def test_every_kind_of_schema(gw: FakeGateway, schema: object, kind: type) -> None:
    parsed = client_for(gw).chat("Give me one", schema=schema).parsed
    assert isinstance(parsed, kind)
    if kind is list:
        assert all(isinstance(item, Label) for item in parsed)


def test_gateway_without_json_schema_falls_back_once_and_remembers() -> None:
    with FakeGateway(no_json_schema=True) as gw:
        client = client_for(gw, max_retries=0)
        first = client.chat("One", schema=Label)
        second = client.chat("Two", schema=Label)
    assert isinstance(first.parsed, Label) and isinstance(second.parsed, Label)
    assert response_formats(gw) == ["json_schema", "json_object", "json_object"]
    system = gw.requests[-1].body["messages"][0]
    assert system["role"] == "system" and '"sentiment"' in system["content"]


def test_fallback_keeps_the_users_system_message() -> None:
    with FakeGateway(no_json_schema=True) as gw:
        client_for(gw).chat("One", schema=Label, system="Be terse.")
    system = gw.requests[-1].body["messages"][0]["content"]
    assert system.startswith("Be terse.") and "JSON Schema" in system


def test_invalid_answer_is_asked_again_with_what_was_wrong(gw: FakeGateway) -> None:
    gw.push_fault("bad_json")
    reply = client_for(gw).chat("Rate this", schema=Label)
    assert isinstance(reply.parsed, Label)
    assert len(gw.requests) == 2
    again = gw.requests[1].body["messages"]
    assert again[-2]["role"] == "assistant"
    assert "does not follow" in again[-1]["content"] and "sentiment" in again[-1]["content"]


def test_still_invalid_raises_one_error_keeping_the_raw_text(gw: FakeGateway) -> None:
    gw.push_fault("bad_json", count=2, times=2)
    with pytest.raises(AnswerValidationError) as caught:
        client_for(gw).chat("Rate this", schema=Label)
    error = caught.value
    assert error.field == "sentiment"
    assert "'sentiment'" in str(error) and "asked twice" in str(error)
    assert "\n" not in str(error)
    assert error.reply is not None and '"score"' in error.reply.text


def test_stream_parses_when_it_finishes(gw: FakeGateway) -> None:
    with client_for(gw).stream("Rate this", schema=Label) as stream:
        seen = "".join(stream.text_deltas())
        assert stream.reply.parsed is not None
    assert isinstance(stream.reply.parsed, Label) and seen == stream.reply.text


def test_async_chat_and_stream_with_a_schema(gw: FakeGateway) -> None:
    async def run() -> tuple[object, object]:
        async with AsyncClient(base_url=gw.base_url, api_key=gw.api_key) as client:
            reply = await client.chat("Rate", schema=Label)
            async with client.stream("Rate", schema=Point) as stream:
                streamed = await stream.until_done()
        return reply.parsed, streamed.parsed

    chat, streamed = asyncio.run(run())
    assert isinstance(chat, Label) and isinstance(streamed, Point)


def test_async_fallback_and_retry() -> None:
    with FakeGateway(no_json_schema=True) as gw:
        gw.push_fault("bad_json", count=2)

        async def run() -> object:
            async with AsyncClient(base_url=gw.base_url, api_key=gw.api_key) as client:
                return (await client.chat("Rate", schema=Label)).parsed

        assert isinstance(asyncio.run(run()), Label)
    assert response_formats(gw) == ["json_schema", "json_object", "json_object"]


def test_a_schema_that_cannot_be_json_schema_is_one_line(gw: FakeGateway) -> None:
    class Odd:
        pass

    with pytest.raises(OptionError, match="cannot be turned into a JSON Schema"):
        client_for(gw).chat("x", schema=Odd)
    with pytest.raises(OptionError, match="leave out json"):
        client_for(gw).chat("x", schema=Label, json=True)
    assert gw.requests == []


def test_status_errors_carry_retry_after(gw: FakeGateway) -> None:
    gw.push_fault("rate_limit", retry_after=7)
    with pytest.raises(APIStatusError) as caught:
        client_for(gw, max_retries=0).chat("x")
    assert caught.value.retry_after == 7.0
    gw.push_fault("rate_limit", retry_after_ms=250)
    with pytest.raises(APIStatusError) as caught:
        client_for(gw, max_retries=0).chat("x")
    assert caught.value.retry_after == 0.25
