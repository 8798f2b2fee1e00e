"""Tool calls: which calls the fake gateway answers with, and what it refuses in tool turns.

The declared ``tools``, scripted rounds or the default first-tool call, Gemini 3 thought
signatures (issued and checked), ``tool`` messages paired with the assistant's calls, and the
text answer that quotes tool results.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._chat_request import google_invalid, invalid
from ._records import message_text
from ._schema_answers import document_for

__all__ = [
    "SIGNATURE_DOCS",
    "PlannedToolCall",
    "ScriptedCall",
    "check_script",
    "check_tool_turns",
    "declared_tools",
    "plan_tool_calls",
    "signature_for",
    "signs_tool_calls",
    "tool_results_text",
]

SIGNATURE_DOCS = "https://ai.google.dev/gemini-api/docs/thought-signatures"

_SIGNING_KEY = b"ipygemini FakeGateway thought signatures"

# One call of a scripted round: (function name, arguments as a dict or a raw JSON string).
ScriptedCall = tuple[str, Mapping[str, Any] | str]


@dataclass(frozen=True)
class PlannedToolCall:
    """One tool call of an answer; `arguments` is the JSON string sent on the wire."""

    id: str
    name: str
    arguments: str
    signature: str | None = None


def signs_tool_calls(model: object) -> bool:
    """Gemini 3 models put a thought signature on every tool call and want it back."""
    return isinstance(model, str) and model.lower().removeprefix("models/").startswith("gemini-3")


def signature_for(call_id: str, name: str) -> str:
    """The opaque signature of a call (an HMAC, so any gateway instance can check it)."""
    digest = hmac.new(_SIGNING_KEY, f"{call_id}\x00{name}".encode(), hashlib.sha256).digest()
    return base64.b64encode(b"\x12\x0a" + digest + digest[:10]).decode("ascii")


def check_script(rounds: Sequence[Sequence[ScriptedCall]]) -> list[list[ScriptedCall]]:
    """`rounds` as lists, or ValueError saying what a round must look like."""
    checked = []
    for r, round_ in enumerate(rounds):
        if isinstance(round_, str | bytes) or not isinstance(round_, Sequence):
            raise ValueError(f"round {r} must be a list of (name, arguments) pairs")
        calls: list[ScriptedCall] = []
        for c, call in enumerate(round_):
            ok = isinstance(call, tuple | list) and len(call) == 2
            name, arguments = call if ok else ("", None)
            if not (isinstance(name, str) and name and isinstance(arguments, Mapping | str)):
                raise ValueError(
                    f"round {r}, call {c} must be (name, arguments) with a non-empty name and "
                    "arguments as a dict or a JSON string"
                )
            if isinstance(arguments, Mapping):
                json.dumps(arguments)  # TypeError now rather than when answering
            calls.append((name, arguments))
        checked.append(calls)
    return checked


def declared_tools(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, parameters schema) of each declared function tool; GatewayError 400 when malformed."""
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise invalid("tools must be an array of function tools", "tools")
    found = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not name:
            raise invalid(
                f'tools[{i}] must be {{"type": "function", "function": {{"name": ...}}}}', "tools"
            )
        assert isinstance(function, Mapping)
        parameters = function.get("parameters")
        found.append((str(name), parameters if isinstance(parameters, Mapping) else {}))
    return found


def _calls_of(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    calls = message.get("tool_calls")
    return [c for c in calls if isinstance(c, Mapping)] if isinstance(calls, list) else []


def _signature_of(call: Mapping[str, Any]) -> Any:
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    return google.get("thought_signature") if isinstance(google, Mapping) else None


def check_tool_turns(body: Mapping[str, Any]) -> None:
    """Refuse a ``tool`` message whose ``tool_call_id`` matches no call of the previous assistant
    message, and (Gemini 3) a current-turn tool call without its thought signature unchanged."""
    messages = [m for m in body["messages"] if isinstance(m, Mapping)]
    previous_ids: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "assistant":
            previous_ids = {c["id"] for c in _calls_of(message) if isinstance(c.get("id"), str)}
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise invalid(f"messages[{i}] (role tool) needs a tool_call_id", "messages")
            if call_id not in previous_ids:
                raise invalid(
                    f"messages[{i}].tool_call_id {call_id!r} matches no tool call of the "
                    "previous assistant message",
                    "messages",
                )
    if signs_tool_calls(body.get("model")):
        _check_signatures(messages)


def _check_signatures(messages: Sequence[Mapping[str, Any]]) -> None:
    """Google checks the current turn only: the messages after the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    position = 0
    for i, message in enumerate(messages):
        if message.get("role") in ("system", "developer"):
            continue
        position += 1
        if i <= last_user or message.get("role") != "assistant":
            continue
        for call in _calls_of(message):
            function = call.get("function")
            name = function.get("name") if isinstance(function, Mapping) else None
            signature = _signature_of(call)
            if not isinstance(signature, str) or not signature:
                raise google_invalid(
                    "Function call is missing a thought_signature in functionCall parts. This is "
                    "required for tools to work correctly, and missing thought_signature may lead "
                    f"to degraded model performance. Additional data, function call "
                    f"`default_api:{name}` , position {position}. Please refer to "
                    f"{SIGNATURE_DOCS} for more details."
                )
            call_id = call.get("id")
            expected = signature_for(str(call_id), str(name))
            if not hmac.compare_digest(signature.encode(), expected.encode()):
                raise google_invalid("Corrupted thought signature.")


def _call_id(body: Mapping[str, Any], prompt: str, index: int, name: str) -> str:
    seed = f"{len(body['messages'])}\x00{prompt}\x00{index}\x00{name}"
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def plan_tool_calls(
    body: Mapping[str, Any],
    prompt: str,
    next_round: Callable[[], Sequence[ScriptedCall] | None],
) -> tuple[PlannedToolCall, ...]:
    """The calls that answer `body`: the next scripted round, taken only when `body` declares
    tools and ``tool_choice`` is not "none" (an empty round = a text answer), else
    one call of the first declared tool (or the one ``tool_choice`` names) with arguments made
    from its parameters schema, as long as the conversation has no ``tool`` message yet or
    ``tool_choice`` forces a call ("required" or a function: real servers then always call)."""
    tools = declared_tools(body)
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return ()
    scripted = next_round()
    if scripted is None:
        forced = choice == "required" or isinstance(choice, Mapping)  # calls every time
        answered = any(isinstance(m, Mapping) and m.get("role") == "tool" for m in body["messages"])
        if answered and not forced:
            return ()
        name, parameters = tools[0]
        function = choice.get("function") if isinstance(choice, Mapping) else None
        wanted = function.get("name") if isinstance(function, Mapping) else None
        for tool_name, tool_parameters in tools:
            if tool_name == wanted:
                name, parameters = tool_name, tool_parameters
        schema = parameters or {"type": "object", "properties": {}}
        scripted = [(name, _as_object(document_for(schema, prompt, seed=name)))]
    signed = signs_tool_calls(body.get("model"))
    planned = []
    for index, (name, arguments) in enumerate(scripted):
        call_id = _call_id(body, prompt, index, name)
        text = (
            arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        )
        signature = signature_for(call_id, name) if signed else None
        planned.append(PlannedToolCall(call_id, name, text, signature))
    return tuple(planned)


def _as_object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {"value": value}


def tool_results_text(body: Mapping[str, Any]) -> str | None:
    """ "The tool said: ..." when the conversation ends with tool results, else None."""
    messages = [m for m in body["messages"] if isinstance(m, Mapping)]
    if not messages or messages[-1].get("role") != "tool":
        return None
    results = []
    names: dict[str, str] = {}
    for message in reversed(messages):
        if message.get("role") != "tool":
            for call in _calls_of(message) if message.get("role") == "assistant" else ():
                function = call.get("function")
                if isinstance(function, Mapping) and isinstance(call.get("id"), str):
                    names[call["id"]] = str(function.get("name"))
            break
        results.append(message)
    quoted = []
    for message in reversed(results):
        content = " ".join(message_text(message.get("content")).split())
        content = content if len(content) <= 500 else content[:500] + "…"
        quoted.append((names.get(str(message.get("tool_call_id")), "tool"), content))
    if len(quoted) == 1:
        return f"The tool said: {quoted[0][1]}"
    return "The tools said:\n" + "\n".join(f"- {name}: {content}" for name, content in quoted)
