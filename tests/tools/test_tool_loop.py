"""The tool loop over real sockets against FakeGateway: calls run, results sent back, answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from conftest import client_for
from ipygemini import AsyncClient, Client, OptionError
from ipygemini._types import ToolCallEvent, UsageEvent
from ipygemini.testing import FakeGateway


def client(gw: FakeGateway, model: str = "gemini-2.5-flash") -> Client:
    return client_for(gw, model=model, max_retries=0)


def aclient(gw: FakeGateway, model: str = "gemini-2.5-flash") -> AsyncClient:
    return AsyncClient(api_key=gw.api_key, base_url=gw.base_url, model=model, max_retries=0)


ran: list[tuple[str, Any]] = []


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    ran.append(("add", (a, b)))
    return a + b


def shout(text: str) -> str:
    """Upper-case a text."""
    ran.append(("shout", text))
    return text.upper()


def broken(x: int) -> int:
    """Always fails."""
    raise ValueError(f"no good: {x}")


async def slow_double(x: int) -> int:
    """Double a number, asynchronously."""
    await asyncio.sleep(0)
    return 2 * x


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m.get("role") == "tool"]


def test_single_call_runs_and_the_result_goes_back(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("add", {"a": 2, "b": 3})]])
    with client(gw) as c:
        reply = c.chat("two plus three?", tools=[add, shout])
    assert ran == [("add", (2, 3))]
    assert reply.text == "The tool said: 5"
    [call] = reply.tool_calls
    assert (call.name, call.arguments, call.result, call.error) == (
        "add",
        {"a": 2, "b": 3},
        "5",
        None,
    )
    first, second = gw.requests[0].body, gw.requests[1].body
    assert [t["function"]["name"] for t in first["tools"]] == ["add", "shout"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["a", "b"]
    assert tool_messages(second) == [{"role": "tool", "tool_call_id": call.id, "content": "5"}]
    assert reply.complete


def test_parallel_calls_stream_events_and_pair_results_in_order(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("add", {"a": 1, "b": 1}), ("shout", {"text": "hi"})]])
    with client(gw).stream("both", tools=[add, shout]) as s:
        events = list(s)
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [c.describe() for c in calls] == ["add(a=1, b=1) → 2", "shout(text='hi') → HI"]
    assert ran == [("add", (1, 1)), ("shout", "hi")]
    body = gw.requests[1].body
    assistant = [m for m in body["messages"] if m.get("role") == "assistant"][-1]
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert [m["tool_call_id"] for m in tool_messages(body)] == ids
    assert [m["content"] for m in tool_messages(body)] == ["2", "HI"]
    assert s.reply.text == "The tools said:\n- add: 2\n- shout: HI"
    assert gw.requests[0].body["stream"] is True
    rounds = [e.usage.total_tokens for e in events if isinstance(e, UsageEvent)]
    assert len(rounds) == 2 and s.reply.usage is not None
    assert s.reply.usage.total_tokens == sum(rounds)  # the reply's usage spans every round


def test_unknown_name_gets_an_error_result_and_nothing_runs(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("os_system", {"cmd": "rm -rf /"})]])
    reply = client(gw).chat("go", tools=[add])
    [call] = reply.tool_calls
    assert ran == []
    assert call.error is not None and "unknown tool 'os_system'" in call.error
    [message] = tool_messages(gw.requests[1].body)
    assert "unknown tool" in json.loads(message["content"])["error"]


@pytest.mark.parametrize(
    "arguments, problem",
    [
        ({"a": "one", "b": 2}, "argument 'a'"),
        ('{"a": 1,', "must be a JSON object"),
        ({"a": 1}, "missing"),
    ],
)
def test_bad_arguments_are_refused_before_running(
    gw: FakeGateway, arguments: Any, problem: str
) -> None:
    gw.script_tool_calls([[("add", arguments)]])
    reply = client(gw).chat("go", tools=[add])
    assert ran == []
    [call] = reply.tool_calls
    assert call.error is not None and problem in call.error
    assert problem in json.loads(tool_messages(gw.requests[1].body)[0]["content"])["error"]


def test_a_raising_function_sends_its_error_back_and_the_model_answers(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("broken", {"x": 7})]])
    reply = client(gw).chat("go", tools=[broken])
    [call] = reply.tool_calls
    assert call.error == "ValueError: no good: 7"
    assert "no good: 7" in reply.text and reply.complete


def test_async_function_runs_in_the_sync_client(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("slow_double", {"x": 21})]])
    reply = client(gw).chat("go", tools=[slow_double])
    assert reply.tool_calls[0].result == "42"


def test_async_client_runs_sync_and_async_functions(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("slow_double", {"x": 4}), ("add", {"a": 1, "b": 2})]])

    async def main() -> Any:
        async with aclient(gw) as c:
            return await c.chat("go", tools=[slow_double, add])

    reply = asyncio.run(main())
    assert [c.result for c in reply.tool_calls] == ["8", "3"]
    assert reply.text.startswith("The tools said:")


def test_max_rounds_stops_with_a_note(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("add", {"a": 1, "b": 1})]] * 3)
    reply = client(gw).chat("loop", tools=[add], max_tool_rounds=2)
    assert len(gw.requests) == 3 and len(ran) == 2
    assert reply.tool_calls[-1].error == "not run: max_tool_rounds reached"
    assert any("stopped after 2 tool rounds" in note for note in reply.notes)


def test_max_rounds_must_be_positive(gw: FakeGateway) -> None:
    with pytest.raises(OptionError, match="max_tool_rounds"):
        client(gw).chat("x", tools=[add], max_tool_rounds=0)
    with pytest.raises(OptionError, match="tools must be functions"):
        client(gw).chat("x", tools=[1])  # type: ignore[list-item]


def test_interrupt_during_a_call_keeps_what_ran(gw: FakeGateway) -> None:
    def stop(x: int) -> int:
        """Stands for Ctrl-C pressed while a tool runs."""
        raise KeyboardInterrupt

    gw.script_tool_calls([[("add", {"a": 1, "b": 2}), ("stop", {"x": 1})]])
    c = client(gw)
    s = c.stream("go", tools=[add, stop])
    with pytest.raises(KeyboardInterrupt), s:
        for _ in s:
            pass
    assert s.reply.interrupted and s.reply.status == "interrupted"
    assert [call.result for call in s.reply.tool_calls] == ["3", None]
    assert len(gw.requests) == 1  # nothing asked after the stop


def test_cancelling_the_task_during_an_async_call_interrupts(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("wait_forever", {})]])
    started = asyncio.Event

    async def main() -> Any:
        entered = started()

        async def wait_forever() -> None:
            """Never returns."""
            entered.set()
            await asyncio.Event().wait()

        async with aclient(gw) as c:
            stream = c.stream("go", tools=[wait_forever])

            async def consume() -> None:
                async with stream:
                    async for _ in stream:
                        pass

            task = asyncio.create_task(consume())
            await entered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return stream.reply

    reply = asyncio.run(main())
    assert reply.interrupted and reply.tool_calls[0].result is None


@pytest.mark.parametrize("streamed", [True, False])
def test_thought_signatures_are_echoed_sync(gw: FakeGateway, streamed: bool) -> None:
    gw.script_tool_calls([[("add", {"a": 1, "b": 2}), ("shout", {"text": "x"})]])
    c = client(gw, "gemini-3-pro-preview")
    if streamed:
        with c.stream("go", tools=[add, shout]) as s:
            reply = s.until_done()
    else:
        reply = c.chat("go", tools=[add, shout])
    signatures = [call.signature for call in reply.tool_calls]
    assert all(signatures) and gw.requests[1].thought_signatures == signatures
    assert reply.complete and reply.text.startswith("The tools said")


def test_thought_signatures_are_echoed_async(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("add", {"a": 1, "b": 2})]])

    async def main() -> Any:
        async with aclient(gw, "gemini-3-flash-preview") as c:
            async with c.stream("go", tools=[add]) as s:
                return await s.until_done()

    reply = asyncio.run(main())
    assert gw.requests[1].thought_signatures == [reply.tool_calls[0].signature]
    assert reply.complete


def test_finish_reason_tool_calls_works_too() -> None:
    with FakeGateway(tool_finish="tool_calls") as gw:
        gw.script_tool_calls([[("add", {"a": 2, "b": 2})]])
        reply = client(gw).chat("go", tools=[add])
    assert reply.text == "The tool said: 4"


def test_without_tools_calls_are_listed_but_not_run(gw: FakeGateway) -> None:
    gw.script_tool_calls([[("add", {"a": 2, "b": 2})]])
    tools = [{"type": "function", "function": {"name": "add", "parameters": {}}}]
    reply = client(gw).chat("go", extra_body={"tools": tools})
    assert [c.name for c in reply.tool_calls] == ["add"] and ran == []
    assert len(gw.requests) == 1


def test_the_key_is_masked_in_tool_results_and_errors(gw: FakeGateway) -> None:
    def leak() -> str:
        """Returns something holding the key."""
        return f"the key is {gw.api_key}!"

    def leak_error() -> str:
        """Raises with the key in the message."""
        raise RuntimeError(f"bad key {gw.api_key}")

    with FakeGateway(api_key="sk-tool-test-SECRET-1234") as keyed:
        gw = keyed
        keyed.script_tool_calls([[("leak", {}), ("leak_error", {})]])
        reply = client(keyed).chat("go", tools=[leak, leak_error])
        sent = json.dumps(keyed.requests[1].body)
    assert "sk-tool-test-SECRET-1234" not in sent + repr(reply.tool_calls) + reply.text
    assert reply.tool_calls[0].result == "the key is …1234!"
    assert reply.tool_calls[1].error == "RuntimeError: bad key …1234"


@pytest.mark.parametrize("forced", ["required", {"type": "function", "function": {"name": "add"}}])
def test_a_forced_tool_choice_holds_for_the_first_round_only(gw: FakeGateway, forced: Any) -> None:
    """Servers call a forced tool every time (llama-cpp-python, LiteLLM): forced again, the
    model could never answer with the result, and the loop ran to max_tool_rounds."""
    reply = client(gw).chat("two plus three?", tools=[add], extra_body={"tool_choice": forced})
    assert reply.complete and len(reply.tool_calls) == 1 and reply.tool_calls[0].result
    bodies = [r.body for r in gw.requests if r.path.endswith("/chat/completions")]
    assert [body.get("tool_choice") for body in bodies] == [forced, "auto"]
    assert reply.text and not reply.notes
