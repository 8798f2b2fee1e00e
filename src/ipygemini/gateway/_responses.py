"""What the gateway sends for one request, decided before any byte is written.

Its directives, the answers of faults that replace a response, and a chat answer as one JSON
object or a `StreamScript`.
"""

from __future__ import annotations

import base64
import functools
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._answers import PlanHooks, plan_chat
from ._chat_request import GatewayError, read_prompt
from ._chat_wire import ChatEvents, WireShape, chat_completion, chat_events
from ._directives import DirectiveError, Directives, check_combination, parse_spec
from ._images import bad_image_urls, image_for
from ._wire import DONE, JUNK_AFTER_DONE, error_body, keepalive

__all__ = [
    "RawAnswer",
    "ServeDefaults",
    "StreamScript",
    "chat_answer",
    "collect_directives",
    "fault_answer",
]

_STATUS_MESSAGES = {
    500: "internal server error",
    502: "bad gateway",
    503: "The model is overloaded. Please try again later.",
    504: "gateway timeout",
    524: "a timeout occurred while waiting for the upstream",
    529: "the upstream is overloaded",
}


@dataclass(frozen=True)
class ServeDefaults:
    """The gateway-wide settings a request's directives may override."""

    chunk_chars: int = 12
    delay: float = 0.0
    image_shape: str = "markdown"
    reasoning_shape: str = "reasoning_content"


@dataclass(frozen=True)
class RawAnswer:
    """A whole response that is not SSE: status, headers and body bytes as they go on the wire."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class StreamScript:
    """A chat stream with its faults applied.

    Write `events` (one write each when `delay` > 0, else as few writes as `splits` and `pause_at`
    allow), pause `pause` seconds before event `pause_at` (== len(events): after the last one),
    then end the body, or close the connection without ending it when `close`.
    """

    events: list[bytes]
    delay: float = 0.0
    pause_at: int | None = None
    pause: float = 30.0
    close: bool = False
    splits: frozenset[int] = field(default_factory=frozenset)


def _directive_error(message: str) -> GatewayError:
    return GatewayError(
        400, error_body(message, "invalid_request_error", "fake_directive", param="")
    )


def collect_directives(
    queued: tuple[str, dict[str, object]] | None, header: str | None, chat_body: Any
) -> Directives:
    """The faults and options of a request: the queued fault, then the ``X-Fake-Fault`` header,
    then ``[fake:...]`` in a chat prompt (later options win). GatewayError 400 when they are bad."""
    directives = Directives()
    if queued is not None:
        directives.add([queued[0]], queued[1])
    try:
        if header:
            directives.add(*parse_spec(header))
    except DirectiveError as exc:
        raise _directive_error(f"X-Fake-Fault: {exc}") from None
    if isinstance(chat_body, Mapping):
        _, found = read_prompt(chat_body)
        directives.add(found.faults, found.options)
    try:
        check_combination(directives.faults, directives.options)
    except DirectiveError as exc:
        raise _directive_error(f"FakeGateway directive: {exc}") from None
    return directives


@functools.lru_cache(maxsize=4)
def _gzip_of_spaces(megabytes: int) -> bytes:
    """A small gzip stream that inflates to `megabytes` MB of spaces (a decompression bomb)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


def fault_answer(
    fault: str, directives: Directives, body: Any, *, request_id: str, target: str, origin: str
) -> RawAnswer:
    """The response of an immediate fault (see IMMEDIATE_FAULTS) other than ``reset``; the error
    faults raise GatewayError. `target` is the request's path and query, `origin` the gateway's."""
    rid = request_id
    if fault == "rate_limit":
        headers = {}
        if "retry_after" in directives.options:
            headers["Retry-After"] = directives.get_str("retry_after", "1")
        if "retry_after_ms" in directives.options:
            headers["retry-after-ms"] = str(directives.get_int("retry_after_ms", 1000))
        message = f"You have reached the request limit: at most 60 requests per minute (request id: {rid})"
        raise GatewayError(
            429, error_body(message, "new_api_error", "rate_limit_exceeded"), headers
        )
    if fault == "status":
        status = directives.get_int("code", 500)
        reason = _STATUS_MESSAGES.get(status, f"upstream returned status {status}")
        body_ = error_body(f"{reason} (request id: {rid})", "upstream_error", status, param="")
        raise GatewayError(status, body_)
    if fault == "model_not_found":
        model = body.get("model") if isinstance(body, Mapping) else None
        message = (
            f"No available channel for model {model or 'unknown'} under group default (distributor)"
        )
        raise GatewayError(503, error_body(message, "new_api_error", "model_not_found"))
    if fault == "array_error":
        message = 'Invalid JSON payload received. Unknown name "thinking": Cannot find field.'
        raise GatewayError(
            400, [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]
        )
    if fault == "empty_error":
        raise GatewayError(directives.get_int("code", 429), None)
    if fault == "redirect":
        location = directives.get_str("location", f"{origin}/moved{target}")
        headers = {"X-Oneapi-Request-Id": rid, "Content-Length": "0", "Location": location}
        return RawAnswer(directives.get_int("code", 307), headers)
    if fault == "gzip_bomb":
        data = _gzip_of_spaces(directives.get_int("mb", 100))
        stream = isinstance(body, Mapping) and body.get("stream") is True
        kind = "text/event-stream" if stream else "application/json"
        headers = {"Content-Type": kind, "Content-Encoding": "gzip"}
        return RawAnswer(200, {**headers, "Content-Length": str(len(data))}, data)
    raise ValueError(f"{fault} is not an immediate fault with an answer")


def _event_code(directives: Directives) -> str | int:
    """The error_event fault's ``code``: as given (a number or a word), else the string "500"."""
    code = directives.options.get("code", "500")
    return code if isinstance(code, str | int) else "500"


def chat_answer(
    body: Any,
    directives: Directives,
    defaults: ServeDefaults,
    request_id: str,
    hooks: PlanHooks | None = None,
) -> dict[str, Any] | StreamScript:
    """The ``chat.completion`` object, or the stream script, that answers `body` (`directives`
    are all of the request's, its prompt's included: see `collect_directives`)."""
    plan = plan_chat(body, directives, hooks)
    image_url = None
    if plan.is_image:
        png = image_for(body, directives)
        image_url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    shape = WireShape(
        image_url=image_url,
        image_shape=directives.get_str("image_shape", defaults.image_shape),
        reasoning_shape=directives.get_str("reasoning_shape", defaults.reasoning_shape),
        extra_images=tuple(bad_image_urls(body, directives))
        if directives.has("bad_images")
        else (),
        no_finish=directives.has("no_finish"),
        error_null=directives.has("error_null"),
    )
    created = int(time.time())
    no_usage = directives.has("no_usage")
    if not body.get("stream") or directives.has("ignore_stream"):
        if directives.has("error_event"):
            code = _event_code(directives)
            status = code if isinstance(code, int) and 400 <= code <= 599 else 500
            message = f"upstream error: overloaded (request id: {request_id})"
            raise GatewayError(status, error_body(message, "upstream_error", code))
        return chat_completion(
            plan, shape, request_id=request_id, created=created, no_usage=no_usage
        )
    options = body.get("stream_options")
    include_usage = not (isinstance(options, Mapping) and options.get("include_usage") is False)
    events = chat_events(
        plan,
        shape,
        request_id=request_id,
        created=created,
        chunk_chars=directives.get_int("chunk_chars", defaults.chunk_chars),
        include_usage=include_usage and not no_usage,
    )
    return _stream_script(events, directives, defaults)


def _stream_script(
    events: ChatEvents, directives: Directives, defaults: ServeDefaults
) -> StreamScript:
    """`events` cut, paused, extended or closed as the stream faults say."""
    sequence = events.head + events.body
    after = len(events.head) + directives.get_int("after", 3)
    pause_at: int | None = None
    close = False
    splits: frozenset[int] = frozenset()
    if directives.has("error_event"):
        error = events.error_event(code=_event_code(directives))
        sequence = [*sequence[:after], error, *events.usage, DONE]
    elif directives.has("disconnect"):
        sequence = sequence[:after]
        close = True
    else:
        sequence = [*sequence, *events.usage, DONE]
        if directives.has("stall"):
            pause_at = min(after, len(sequence) - 1)
        elif directives.has("silent_after_done"):
            pause_at = len(sequence)
        if directives.has("close_after_done"):
            close = True
        if directives.has("junk_after_done"):
            if directives.get_int("same_write", 0):
                sequence[-1] += b"".join(JUNK_AFTER_DONE)
            else:
                splits = frozenset(len(sequence) + i for i in range(len(JUNK_AFTER_DONE)))
                sequence.extend(JUNK_AFTER_DONE)
    if directives.has("keepalive"):
        sequence = keepalive(sequence)
    default_delay = 0.05 if directives.has("slow") else defaults.delay
    return StreamScript(
        sequence,
        delay=directives.get_float("delay", default_delay),
        pause_at=pause_at,
        pause=directives.get_float("seconds", 30.0),
        close=close,
        splits=splits,
    )
