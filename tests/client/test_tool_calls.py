"""Tool-call deltas assembled into `ToolCall`s (pure: chunks in, calls out)."""

from __future__ import annotations

from ipygemini.client._reply import ReplyAssembler
from ipygemini.client._toolcalls import assistant_message


def chunk(*calls: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "choices": [{"index": 0, "delta": {"tool_calls": list(calls)}, "finish_reason": finish}]
    }


def test_fragments_join_by_index_across_chunks_and_interleave() -> None:
    asm = ReplyAssembler()
    sig = {"google": {"thought_signature": "SIG-A"}}
    asm.feed(
        chunk(
            {
                "index": 0,
                "id": "a",
                "function": {"name": "f", "arguments": ""},
                "extra_content": sig,
            }
        )
    )
    asm.feed(chunk({"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"y"'}}))
    asm.feed(chunk({"index": 0, "function": {"arguments": '{"x": '}}))
    asm.feed(chunk({"index": 1, "function": {"arguments": ": 2}"}}))
    asm.feed(chunk({"index": 0, "function": {"arguments": "1}"}}, finish="stop"))
    asm.finish()
    a, b = asm.reply.tool_calls
    assert (a.id, a.name, a.arguments, a.signature) == ("a", "f", {"x": 1}, "SIG-A")
    assert (b.id, b.name, b.arguments, b.signature) == ("b", "g", {"y": 2}, None)
    assert asm.reply.finish_reason == "stop"  # "stop" where tool_calls was meant: calls still found


def test_whole_message_calls_and_repeated_ids_pair_by_position() -> None:
    asm = ReplyAssembler()
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "f", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
            {"id": "f", "type": "function", "function": {"name": "f", "arguments": '{"x": 2}'}},
        ],
    }
    asm.feed({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
    asm.finish(streamed=False)
    calls = asm.reply.tool_calls
    assert [c.arguments for c in calls] == [{"x": 1}, {"x": 2}]
    echoed = assistant_message("", calls)
    assert echoed["content"] == ""  # a string: llama-cpp-python and LiteLLM refuse null
    assert [c["function"]["arguments"] for c in echoed["tool_calls"]] == ['{"x": 1}', '{"x": 2}']


def test_bad_json_arguments_stay_raw_and_missing_ids_are_made() -> None:
    asm = ReplyAssembler()
    asm.feed(chunk({"index": 0, "function": {"name": "f", "arguments": '{"x": '}}, finish="stop"))
    asm.finish()
    [call] = asm.reply.tool_calls
    assert call.arguments == '{"x": ' and call.id == "call_0"


def test_signature_echoed_unchanged_with_its_extra_content() -> None:
    asm = ReplyAssembler()
    extra = {"google": {"thought_signature": "S1", "other": [1]}}
    asm.feed(
        chunk(
            {
                "index": 0,
                "id": "i",
                "function": {"name": "f", "arguments": "{}"},
                "extra_content": extra,
            }
        )
    )
    asm.finish()
    assert assistant_message("hm", asm.reply.tool_calls)["tool_calls"][0]["extra_content"] == extra


def test_plain_text_chunks_make_no_tool_calls() -> None:
    asm = ReplyAssembler()
    asm.feed({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]})
    asm.finish()
    assert asm.reply.tool_calls == [] and "tool_calls" not in repr(asm.reply)
