"""The ``llama_cpp`` fault: refusals in the shape llama-cpp-python's server gives them.

Its OpenAI-compatible server validates the body with pydantic and answers a body it cannot
take with HTTP 500 (not 400) and the validation message, e.g. for ``response_format`` type
``json_schema`` ("Input should be 'text' or 'json_object'") and for an assistant turn whose
``content`` is null ("Input should be a valid string"), with the server's own file and line
after it. LiteLLM passes such errors through. Clients must recognise them by what they say,
whatever the status. With ``{"type": "json_object", "schema": ...}`` it constrains the answer
to the schema (a grammar); a schema only in the system message it does not follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._chat_request import GatewayError
from ._schema_answers import schema_refused

__all__ = ["JSON_SCHEMA_MESSAGE", "NULL_CONTENT_MESSAGE", "llama_cpp_refusal"]

JSON_SCHEMA_MESSAGE = (  # as llama-cpp-python 0.3.36 words it, its source file's path included
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
    "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File "
    '"/srv/llama_cpp/server/app.py", line 376, in create_chat_completion\n'
    "    POST /v1/chat/completions"
)
NULL_CONTENT_MESSAGE = (
    "1 validation error:\n  {'type': 'string_type', 'loc': ('body', 'messages', 1, 'content'), "
    "'msg': 'Input should be a valid string', 'input': None}\n\n  File "
    '"/srv/llama_cpp/server/app.py", line 376, in create_chat_completion\n'
    "    POST /v1/chat/completions"
)


def _server_error(message: str) -> GatewayError:
    return GatewayError(
        500, {"error": {"message": message, "type": "internal_server_error", "code": 500}}
    )


def llama_cpp_refusal(body: Mapping[str, Any]) -> GatewayError | None:
    """The 500 llama-cpp-python answers `body` with, or None when it takes the body."""
    if schema_refused(body):
        return _server_error(JSON_SCHEMA_MESSAGE)
    for message in body.get("messages") or ():
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            if message.get("content") is None:
                return _server_error(NULL_CONTENT_MESSAGE)
    return None
