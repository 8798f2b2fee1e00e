"""What the fake gateway reads from a chat request, and what it refuses (`GatewayError`).

Validation, the thinking switches and Gemini 3 levels, the prompt and its directives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._directives import DirectiveError, Directives, strip_directives
from ._records import SUPPORTED_MIME_TYPES, all_attachments, last_user_message, message_text

__all__ = [
    "THINKING_LEVELS",
    "GatewayError",
    "accepted_levels",
    "check_attachments",
    "check_thinking_levels",
    "convert_failed",
    "google_invalid",
    "google_options",
    "invalid",
    "is_image_model",
    "json_mode",
    "litellm_body",
    "max_tokens_of",
    "prompt_tokens",
    "read_prompt",
    "reject_camel_case",
    "stop_sequences",
    "system_text",
    "thinking_requested",
    "validate_chat",
]


class GatewayError(ValueError):
    """A request the gateway refuses: HTTP `status` with JSON `body` (None = empty body)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        message = body["error"]["message"] if _has_message(body) else f"HTTP {status}"
        super().__init__(message)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _has_message(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), dict)
        and "message" in body["error"]
    )


def invalid(message: str, param: str = "", code: str = "invalid_request") -> GatewayError:
    """A 400 in the shape new-api uses for request validation errors."""
    return GatewayError(
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        },
    )


def convert_failed(message: str) -> GatewayError:
    """new-api's HTTP 500 for a request its Gemini converter rejects."""
    return GatewayError(
        500,
        {"error": {"message": message, "type": "new_api_error", "code": "convert_request_failed"}},
    )


def google_invalid(message: str) -> GatewayError:
    """A 400 in the shape Google's OpenAI-compatible endpoint uses (a JSON array)."""
    return GatewayError(
        400, [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]
    )


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _check_number(body: Mapping[str, Any], name: str, lo: float, hi: float | None) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} must be a number, not {value!r}", name)
    if value < lo or (hi is not None and value > hi):
        rng = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
        raise invalid(f"{name} must be {rng}; got {value!r}", name)


def _check_int(body: Mapping[str, Any], name: str, lo: int, hi: int) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise invalid(f"{name} must be a whole number from {lo} to {hi}; got {value!r}", name)


def validate_chat(body: Any) -> Mapping[str, Any]:
    """`body` if it is a chat request a gateway would accept, else GatewayError 400."""
    if not isinstance(body, Mapping):
        raise invalid("Invalid request body: expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages is required and must be a non-empty array", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise invalid(f"messages[{i}] must be an object with a role", "messages")
    _check_number(body, "temperature", 0, 2)
    _check_number(body, "top_p", 0, 1)
    _check_number(body, "frequency_penalty", -2, 2)
    _check_number(body, "presence_penalty", -2, 2)
    _check_int(body, "n", 1, 16)
    _check_int(body, "max_tokens", 1, 10_000_000)
    _check_int(body, "max_completion_tokens", 1, 10_000_000)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise invalid("stop must be a string or an array of strings", "stop")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("stream must be a boolean", "stream")
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid(
                "response_format.type must be text, json_object or json_schema", "response_format"
            )
    return body


def litellm_body(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`body` as a LiteLLM proxy reads it: a literal ``extra_body``'s keys become top-level keys."""
    extra = body.get("extra_body")
    if not isinstance(extra, Mapping):
        return body
    return {**{k: v for k, v in body.items() if k != "extra_body"}, **extra}


def google_options(body: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = body.get("extra_body")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    return google if isinstance(google, Mapping) else {}


_CAMEL = {
    "thinkingConfig": "thinking_config",
    "imageConfig": "image_config",
    "thinkingBudget": "thinking_budget",
    "includeThoughts": "include_thoughts",
    "thinkingLevel": "thinking_level",
    "aspectRatio": "aspect_ratio",
    "imageSize": "image_size",
}


def reject_camel_case(google: Mapping[str, Any]) -> None:
    """new-api only reads snake_case keys under extra_body.google and rejects camelCase ones."""
    scopes: list[tuple[str, Mapping[str, Any]]] = [("extra_body.google", google)]
    for key in ("thinking_config", "image_config"):
        inner = google.get(key)
        if isinstance(inner, Mapping):
            scopes.append((f"extra_body.google.{key}", inner))
    for where, scope in scopes:
        for key in scope:
            if key in _CAMEL:
                raise convert_failed(
                    f"{where}.{key} is not supported, use snake_case {_CAMEL[key]} instead"
                )


# Thinking levels Gemini 3 models accept (reasoning_effort or thinking_config.thinking_level), in
# the order Google lists them in its 400; other models are not checked (2.5 takes budgets).
THINKING_LEVELS: dict[str, tuple[str, ...]] = {
    "gemini-3-flash": ("high", "low", "medium", "none"),
    "gemini-3-pro": ("low", "high"),
}


def accepted_levels(model: object) -> tuple[str, ...] | None:
    """The thinking levels `model` accepts, or None when it takes no levels (or is not checked)."""
    if not isinstance(model, str):
        return None
    name = model.lower().removeprefix("models/")
    for prefix, levels in THINKING_LEVELS.items():
        if name.startswith(prefix):
            return levels
    return None


def check_thinking_levels(body: Mapping[str, Any]) -> None:
    """Reject a reasoning_effort or thinking_level the Gemini 3 model does not take, as Google does."""
    levels = accepted_levels(body.get("model"))
    if levels is None:
        return
    effort = body.get("reasoning_effort")
    if isinstance(effort, Mapping):
        effort = effort.get("effort")
    config = google_options(body).get("thinking_config")
    level = config.get("thinking_level") if isinstance(config, Mapping) else None
    for name, value in (("reasoning_effort", effort), ("thinking_level", level)):
        if value is not None and (not isinstance(value, str) or value.lower() not in levels):
            raise google_invalid(f"Invalid {name}: {value}. Valid values are: {', '.join(levels)}")


def thinking_requested(body: Mapping[str, Any]) -> bool:
    """Whether `body` switches thinking on, in any form a gateway understands."""
    model = body.get("model")
    if isinstance(model, str) and model.endswith("-nothinking"):
        return False
    config = google_options(body).get("thinking_config")
    if isinstance(config, Mapping):
        include = config.get("include_thoughts")
        budget = config.get("thinking_budget")
        level = config.get("thinking_level")
        if isinstance(include, bool):
            if include:
                return True
        elif isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            return True
        elif isinstance(level, str) and level.lower() not in ("", "none", "minimal"):
            return True
    effort = body.get("reasoning_effort")
    if isinstance(effort, Mapping):
        effort = effort.get("effort")
    if isinstance(effort, str) and effort.lower() not in ("", "none", "disable", "disabled"):
        return True
    extra = body.get("extra_body")
    if isinstance(extra, Mapping) and extra.get("enable_thinking") is True:
        return True
    if body.get("enable_thinking") is True:
        return True
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping):
        off = (
            reasoning.get("enabled") is False
            or reasoning.get("exclude") is True
            or reasoning.get("effort") == "none"
        )
        if not off:
            return True
    thinking = body.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") == "enabled"


def read_prompt(body: Mapping[str, Any]) -> tuple[str, Directives]:
    """The last user message's text without directives (whitespace collapsed), and the directives."""
    message = last_user_message(body)
    text = message_text(message.get("content")) if message is not None else ""
    try:
        cleaned, names, options = strip_directives(text)
    except DirectiveError as exc:
        raise invalid(f"FakeGateway directive: {exc}", "messages", "fake_directive") from None
    directives = Directives()
    directives.add(names, options)
    return _collapse(cleaned), directives


def system_text(body: Mapping[str, Any]) -> str | None:
    for message in body.get("messages") or ():
        if isinstance(message, Mapping) and message.get("role") in ("system", "developer"):
            return _collapse(message_text(message.get("content")))
    return None


def prompt_tokens(body: Mapping[str, Any]) -> int:
    text = "".join(
        message_text(m.get("content")) for m in body.get("messages") or () if isinstance(m, Mapping)
    )
    return len(text) // 4 + 1


def check_attachments(body: Mapping[str, Any]) -> None:
    """Reject undecodable payloads and MIME types outside new-api's whitelist, like new-api does."""
    for attachment in all_attachments(body):
        if attachment.problem is not None:
            raise invalid(f"invalid {attachment.kind} part: {attachment.problem}", "messages")
        mime = attachment.mime_type
        if attachment.data is not None and mime is not None and mime not in SUPPORTED_MIME_TYPES:
            supported = ", ".join(sorted(SUPPORTED_MIME_TYPES))
            where = attachment.filename or f"data:{mime};base64,..."
            raise convert_failed(
                f"mime type is not supported by Gemini: '{mime}', url: '{where}', "
                f"supported types are: [{supported}]"
            )


def is_image_model(model: str) -> bool:
    return "image" in model.lower()


def json_mode(body: Mapping[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema")


def stop_sequences(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def max_tokens_of(body: Mapping[str, Any]) -> int | None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
