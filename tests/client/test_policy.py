"""The one request path (client/_policy.py) and the seams issue 17 found in it, over real
loopback sockets against FakeGateway: the answer that was used is logged with every request's
tokens, a cache hit must follow its schema, the cache key is what the user asked, Retry-After as
an HTTP date, refusals recognised by what they say, and a tool round's assistant turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import chat_bodies, client_for
from ipygemini import AsyncClient, Client, Settings
from ipygemini._errors import APIStatusError, BadRequestError, RateLimitError
from ipygemini.client._adapt import GatewayMemory
from ipygemini.client._policy import Runner, Send, Sleep, send_steps
from ipygemini.client._retry import retry_after
from ipygemini.client._schema import AnswerValidationError
from ipygemini.gateway._llama import JSON_SCHEMA_MESSAGE
from ipygemini.log import Entry
from ipygemini.log._recording import exchange_log
from ipygemini.log._usage import SESSION
from ipygemini.testing import FakeGateway


class Label(BaseModel):
    sentiment: str
    score: int


def logged() -> list[Entry]:
    """The exchanges in this test's log, oldest first."""
    return exchange_log().entries(100)[::-1]


# -- item 2: the repaired answer is the one logged, with every request's tokens ----------------


def test_a_repaired_answer_is_logged_with_both_requests_tokens_and_replayed(
    home: Path, gw: FakeGateway
) -> None:
    single = client_for(gw, log=False).chat("Rate the bakery", schema=Label).usage
    assert single is not None
    gw.clear()
    gw.push_fault("bad_json")
    SESSION.clear()
    reply = client_for(gw).chat("Rate the bakery", schema=Label)
    assert isinstance(reply.parsed, Label) and len(chat_bodies(gw)) == 2
    [row] = logged()
    assert row.answer == reply.text  # the repaired answer, not the invalid one
    assert row.input_tokens > 2 * single.prompt_tokens  # both requests (the repair is longer)
    assert reply.usage is not None and row.input_tokens == reply.usage.prompt_tokens
    [tally] = SESSION.rows()
    assert tally["input"] == reply.usage.prompt_tokens

    again = client_for(gw, cache=True).chat("Rate the bakery", schema=Label)
    assert again.cached and again.parsed == reply.parsed
    assert len(chat_bodies(gw)) == 2  # answered from the log


@pytest.mark.parametrize("mode", ["chat", "stream", "async"])
def test_a_logged_answer_that_fails_its_schema_is_a_cache_miss(
    home: Path, gw: FakeGateway, mode: str
) -> None:
    gw.push_fault("bad_json", count=2, times=2)
    with pytest.raises(AnswerValidationError):
        client_for(gw).chat("Rate the cafe", schema=Label)
    assert logged(), "the invalid answer was logged"
    sent = len(chat_bodies(gw))

    if mode == "chat":
        reply = client_for(gw, cache=True).chat("Rate the cafe", schema=Label)
    elif mode == "stream":
        with client_for(gw, cache=True).stream("Rate the cafe", schema=Label) as stream:
            reply = stream.until_done()
    else:

        async def run() -> Any:
            async with AsyncClient(base_url=gw.base_url, api_key=gw.api_key, cache=True) as c:
                return await c.chat("Rate the cafe", schema=Label)

        reply = asyncio.run(run())
    assert not reply.cached and isinstance(reply.parsed, Label)
    assert len(chat_bodies(gw)) == sent + 1  # asked again instead of replaying the invalid answer
    assert client_for(gw).cached_reply("Rate the cafe", schema=Label) is not None


# -- item 17: the cache key is what the user asked ------------------------------------------------


def test_a_request_revised_by_the_json_object_fallback_is_found_by_a_new_client(
    home: Path,
) -> None:
    with FakeGateway(no_json_schema=True, delay=0.0) as gw:
        first = client_for(gw, cache=True).chat("Label this", schema=Label)
        sent = len(chat_bodies(gw))
        assert chat_bodies(gw)[-1]["response_format"]["type"] == "json_object"
        again = client_for(gw, cache=True).chat("Label this", schema=Label)
        assert again.cached and again.parsed == first.parsed
        assert len(chat_bodies(gw)) == sent


def test_offline_answers_are_found_after_the_offline_gateway_moved(home: Path) -> None:
    offline = {"api_key": "offline", "delay": 0.0}
    with FakeGateway(**offline) as before, FakeGateway(**offline) as after:
        assert before.base_url != after.base_url
        settings = Settings(api_key="offline", base_url=before.base_url, offline=True, cache=True)
        first = Client(settings).chat("Say hello")
        moved = settings.replace(base_url=after.base_url)
        again = Client(moved).chat("Say hello")
        assert again.cached and again.text == first.text
        assert chat_bodies(after) == []


# -- item 10: Retry-After as an HTTP date; hints that apply -------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_retry_after_as_an_http_date_is_waited_for(gw: FakeGateway, kind: str) -> None:
    now = 1_800_000_000.0
    gw.push_fault("rate_limit", retry_after=formatdate(now + 7, usegmt=True))
    slept: list[float] = []
    if kind == "sync":
        reply = client_for(gw, clock=lambda: now, sleep=slept.append).chat("hi")
    else:

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        async def run() -> Any:
            async with AsyncClient(
                base_url=gw.base_url, api_key=gw.api_key, clock=lambda: now, sleep=sleep
            ) as client:
                return await client.chat("hi")

        reply = asyncio.run(run())
    assert reply.complete and slept == [7.0]


def test_retry_after_reads_seconds_and_http_dates_against_the_clock() -> None:
    now = 1_800_000_000.0

    def asked(value: str) -> float | None:
        return retry_after({"retry-after": value}, now=now)

    assert asked(formatdate(now + 30, usegmt=True)) == 30.0
    assert asked(formatdate(now + 3600, usegmt=True)) == 60.0  # capped
    assert asked(formatdate(now - 5, usegmt=True)) is None  # past: back off instead
    assert asked("12") == 12.0 and asked("soon") is None


def test_a_rate_limit_says_the_hint_of_where_it_is_shown(gw: FakeGateway) -> None:
    gw.push_fault("rate_limit")
    with pytest.raises(RateLimitError) as plain:
        client_for(gw, max_retries=0).chat("hi")
    assert "max_retries" in str(plain.value)
    gw.push_fault("rate_limit")
    batch_hint = "the batch retries the row; run it again to resume the failed rows"
    with pytest.raises(RateLimitError) as caught:
        client_for(gw, max_retries=0, retry_hint=batch_hint).chat("hi")
    assert batch_hint in str(caught.value) and "max_retries" not in str(caught.value)


# -- item 25: a refusal of json_schema recognised by what it says -------------------------------


@pytest.mark.parametrize("kind", ["chat", "stream"])
def test_a_500_refusing_json_schema_falls_back_to_json_object_at_once(
    gw: FakeGateway, kind: str
) -> None:
    gw.push_fault("llama_cpp", count=5)
    slept: list[float] = []
    client = client_for(gw, max_retries=3, sleep=slept.append)
    if kind == "chat":
        reply = client.chat("Label this", schema=Label)
    else:
        with client.stream("Label this", schema=Label) as stream:
            reply = stream.until_done()
    assert isinstance(reply.parsed, Label)  # the fake, like llama, follows only the grammar
    sent = [body["response_format"] for body in chat_bodies(gw)]
    assert [fmt["type"] for fmt in sent] == ["json_schema", "json_object"] and slept == []
    assert sent[1]["schema"] == sent[0]["json_schema"]["schema"]  # the grammar llama follows


def test_a_gateway_refusing_the_schema_beside_json_object_gets_json_object_alone() -> None:
    """The fallback's ``schema`` key is llama-cpp-python's; a gateway that refuses it by name
    is asked with ``json_object`` alone (the schema is still in the system message)."""
    memory = GatewayMemory()
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "Label this"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "Label", "schema": {"type": "object"}},
        },
    }
    assert memory.revise(body, 500, JSON_SCHEMA_MESSAGE)  # llama's own words
    assert body["response_format"] == {"type": "json_object", "schema": {"type": "object"}}
    assert "JSON Schema" in body["messages"][0]["content"]
    assert memory.revise(body, 400, "response_format: unknown field 'schema'")
    assert body["response_format"] == {"type": "json_object"}
    assert not memory.revise(body, 400, "response_format: unknown field 'schema'")


def test_an_answer_cut_off_at_max_tokens_is_not_asked_again(gw: FakeGateway) -> None:
    """Asking again would be cut off again: one request, and the error says max_tokens."""
    with pytest.raises(AnswerValidationError) as caught:
        client_for(gw, max_retries=0).chat("Label this", schema=Label, max_tokens=3)
    message = str(caught.value)
    assert "cut off (finish_reason 'length'" in message and "--max-tokens" in message
    assert "simplify the schema" not in message  # the schema is not what went wrong
    assert caught.value.reply is not None and caught.value.reply.finish_reason == "length"
    assert len(chat_bodies(gw)) == 1


def test_a_500_naming_the_body_invalid_is_not_retried_nor_called_temporary(
    gw: FakeGateway,
) -> None:
    gw.push_fault("llama_cpp", count=5)
    slept: list[float] = []
    client = client_for(gw, max_retries=3, sleep=slept.append)
    body = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "user", "content": "again"},
    ]
    with pytest.raises(APIStatusError) as caught:
        client.chat(body)
    error = caught.value
    assert isinstance(error, BadRequestError) and error.status_code == 500
    assert "Input should be a valid string" in str(error)
    assert "app.py" not in str(error)  # the server's traceback is not the user's business
    assert "temporary" not in str(error) and len(chat_bodies(gw)) == 1 and slept == []


# -- item 26: the assistant turn of a tool round carries a string -------------------------------


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_a_tool_round_sends_the_assistant_turn_with_empty_string_content(
    gw: FakeGateway,
) -> None:
    gw.push_fault("llama_cpp", count=5)
    gw.script_tool_calls([[("add", {"a": 2, "b": 3})]])
    reply = client_for(gw, max_retries=0).chat("two plus three?", tools=[add])
    assert reply.complete and reply.tool_calls[0].result == "5"
    assistant = [m for m in chat_bodies(gw)[1]["messages"] if m["role"] == "assistant"]
    assert assistant and assistant[0]["content"] == ""


# -- the policy itself is sans-IO -----------------------------------------------------------------


def test_the_policy_asks_for_steps_and_is_fed_their_outcomes() -> None:
    """No socket: a retry is a Sleep step between two Send steps, driven by hand."""

    class FakeAttempts:
        method = "POST"
        waited = 0

        def arguments(self) -> Iterator[dict[str, Any]]:
            yield {"url": "first"}
            yield {"url": "second"}

        def after_transport_error(self, exc: Exception) -> float:
            return 1.5

        def accept(self, response: Any) -> bool:
            return True

    import httpx

    run = Runner(send_steps(FakeAttempts()))  # type: ignore[arg-type]
    assert run.step == Send("POST", {"url": "first"})
    run.fail(httpx.ConnectError("refused"))
    assert run.step == Sleep(1.5)
    run.answer(None)
    assert run.step == Send("POST", {"url": "second"})
    run.answer("the response")
    assert run.finished and run.result == "the response"
