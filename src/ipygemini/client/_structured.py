"""Structured output on the wire: a schema's ``response_format``, the ``json_object`` fallback for
gateways that refuse ``json_schema``, and the one corrective question after an invalid answer.

Pure: the sync and async clients send; this module decides what is sent and what an answer
means. pydantic is imported (by `ipygemini.client._schema`) only when a schema is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import OptionError
from ._schema import AnswerValidationError

if TYPE_CHECKING:
    from .._types import Reply
    from ._schema import OutputSchema

__all__ = [
    "AnswerValidationError",
    "corrected_body",
    "json_object_fallback",
    "refuses_json_schema",
    "schema_for",
    "settle",
]

_INSTRUCTION = (
    "Answer with one JSON object only, no prose and no code fence, that follows this JSON Schema:\n"
)


def schema_for(
    schema: Any, *, json: bool, response_format: Mapping[str, Any] | None
) -> OutputSchema:
    """The `OutputSchema` of a ``schema=`` option (`OptionError` when it cannot be one)."""
    from ._schema import OutputSchema, output_schema

    if isinstance(schema, OutputSchema):
        return schema
    if json or response_format is not None:
        raise OptionError(
            "schema= sets the answer format itself: leave out json= and response_format=."
        )
    return output_schema(schema)


def refuses_json_schema(status: int, message: str) -> bool:
    """An error that says the gateway does not take ``response_format`` type ``json_schema``,
    whatever its status: a 400 saying so, or a validation message that allows only the other
    types (llama-cpp-python answers HTTP 500 "Input should be 'text' or 'json_object'", and
    LiteLLM passes it through)."""
    if status < 400:
        return False
    lowered = message.lower()
    # what the validation message allows, up to where it goes on about the input: pydantic's
    # "... 'json_object' [type=literal_error" or a dict's "...'json_object'\", 'input': ..."
    allowed = re.split(r"[\[\]\"\n]", lowered.partition("input should be")[2], maxsplit=1)[0]
    if "json_object" in allowed:  # a validation message listing the types it takes
        return "json_schema" not in allowed
    return "json_schema" in lowered and any(
        word in lowered for word in ("support", "unknown", "invalid")
    )


def json_object_fallback(body: dict[str, Any]) -> bool:
    """Turn a ``json_schema`` body into ``json_object`` plus the schema in the system message
    (PROTOCOL.md §7.2); False when the body asks for no ``json_schema``."""
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return False
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    # llama-cpp-python constrains the answer to a ``schema`` beside ``json_object`` (LiteLLM
    # passes it on); a gateway that takes no such key is asked again without it (`drop_schema`)
    body["response_format"] = (
        {"type": "json_object", "schema": schema}
        if isinstance(schema, Mapping)
        else {"type": "json_object"}
    )
    instruction = _INSTRUCTION + json.dumps(schema, ensure_ascii=False)
    messages = body.get("messages")
    if isinstance(messages, list):
        first = messages[0] if messages else None
        if isinstance(first, dict) and first.get("role") == "system":
            content = first.get("content")
            text = content if isinstance(content, str) else ""
            messages[0] = {**first, "content": (text + "\n\n" if text else "") + instruction}
        else:
            messages.insert(0, {"role": "system", "content": instruction})
    return True


def drop_schema(body: dict[str, Any], message: str) -> bool:
    """A gateway refused the ``schema`` beside ``json_object`` (its error names it): ask with
    ``json_object`` alone (the schema is still in the system message). False when that is not
    the case."""
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_object" or "schema" not in fmt:
        return False
    if "schema" not in message.lower():
        return False
    body["response_format"] = {"type": "json_object"}
    return True


def settle(
    schema: OutputSchema, reply: Reply, *, earlier: AnswerValidationError | None = None
) -> Reply:
    """`reply` with `parsed` set from its text; raises `AnswerValidationError` (keeping the
    reply, so ``error.reply.text`` has the raw answer) when it does not follow the schema."""
    if not reply.complete:
        return reply
    try:
        reply.parsed = schema.parse(reply.text)
    except AnswerValidationError as exc:
        if reply.finish_reason == "length":  # asking again would be cut off again
            raise AnswerValidationError(
                f"The answer was cut off (finish_reason 'length': max_tokens, or the server's "
                f"context) before it followed the schema {schema.name}.",
                field=exc.field,
                reply=reply,
                hint="Raise max_tokens (--max-tokens) or ask for less; error.reply.text has "
                "what came.",
            ) from None
        again = " (asked twice)" if earlier is not None else ""
        raise AnswerValidationError(
            f"The answer does not follow the schema {schema.name}{again}: {exc.message}.",
            field=exc.field,
            reply=reply,
        ) from None
    return reply


def corrected_body(
    body: Mapping[str, Any], reply: Reply, error: AnswerValidationError
) -> dict[str, Any]:
    """The request once more, with the invalid answer and what is wrong with it."""
    messages = [dict(m) for m in body.get("messages", [])]
    messages.append({"role": "assistant", "content": reply.text})
    messages.append(
        {
            "role": "user",
            "content": f"That answer does not follow the JSON Schema: {error.message}. "
            "Answer again with only the corrected JSON.",
        }
    )
    return {**body, "messages": messages}
