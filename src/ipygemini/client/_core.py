"""Settings → request arguments: what `Client` and `AsyncClient` share besides waiting for bytes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urljoin

import httpx

from .._errors import (
    APIStatusError,
    BadRequestError,
    ConnectionError,
    GeminiError,
    InsecureURLError,
    OptionError,
    RateLimitError,
    ServerError,
    TimeoutError,
    error_for_status,
)
from .._settings import Settings
from .._types import Reply
from .._version import __version__
from ..log._gateways import recall, remember
from ..log._recording import LogTags, Recorder
from ._adapt import GatewayMemory
from ._parse import completion_error, reported_error
from ._reply import ReplyAssembler
from ._request import Thinking, build_chat_body
from ._retry import Attempts, names_invalid_body
from ._stream import StreamMachine
from ._structured import schema_for
from ._toolloop import Functions, ToolLoop, tool_loop

if TYPE_CHECKING:
    from ._schema import OutputSchema

__all__ = ["ChatOptions", "ChatRequest", "ClientOptions", "Core", "build_messages", "os_reason"]


class ClientOptions(TypedDict, total=False):
    """Keyword settings of `Client` and `AsyncClient`: `Settings` fields, all optional."""

    api_key: str | None
    base_url: str | None
    model: str | None
    timeout: float
    idle_timeout: float
    connect_timeout: float
    max_retries: int
    backoff: float
    thinking_style: str | None
    allow_insecure: bool
    max_event_bytes: int
    headers: Mapping[str, str] | None
    log: bool
    cache: bool


class ChatOptions(TypedDict, total=False):
    """Options of `chat` and `stream` (all optional; validated before anything is sent)."""

    model: str | None
    system: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    frequency_penalty: float | None
    presence_penalty: float | None
    stop: str | Sequence[str] | None
    n: int | None
    json: bool
    response_format: Mapping[str, Any] | None
    thinking: Thinking
    attachments: Sequence[Any]
    extra_body: Mapping[str, Any] | None
    schema: Any
    """A pydantic model, dataclass, TypedDict, ``list[...]`` of them or a JSON-Schema dict:
    the answer is checked against it and kept as `Reply.parsed`."""
    source: str
    conversation: str | None
    cache: bool | None
    refresh: bool
    tools: Functions | None
    max_tool_rounds: int | None


def client_settings(settings: Settings | None, options: Mapping[str, Any]) -> Settings:
    """`settings` with `options` over it. Without settings: `options` > ``GEMINI_*``
    environment > defaults, with neither ``%config Gemini.*`` (front ends that honour it pass
    ``Settings.resolve()``, as `ipygemini.connect` does) nor the offline fallback (a bare client
    with nothing configured needs a key)."""
    if settings is None:
        return Settings.resolve({}, offline_fallback=False, **options)
    changes = {name: value for name, value in options.items() if value is not None}
    return settings.replace(**changes) if changes else settings


def _header_safe(name: str, value: str) -> None:
    if not value.isascii() or any(c in value for c in "\r\n\0"):
        raise OptionError(
            f"{name} has characters that cannot be sent in an HTTP header "
            "(only ASCII, no line breaks): check for a pasted space or quote."
        )


class Core:
    """One client's settings, request building and error mapping; no I/O of its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        try:
            httpx.URL(settings.base_url)
        except httpx.InvalidURL as exc:
            raise InsecureURLError(
                f"base_url is not a valid URL ({exc}); got {settings.base_url!r}."
            ) from None
        keep = settings.log and not settings.offline  # log=False: this process only
        self.memory = GatewayMemory(
            recall(settings.base_url, persist=keep),
            on_learn=lambda facts: remember(settings.base_url, facts, persist=keep),
        )
        self.clock: Callable[[], float] = time.time
        """The Unix time (``Retry-After`` as an HTTP date is read against it); injectable."""
        self.retry_hint: str | None = None
        """What a rate limit tells the user to do instead of the default
        ("raise max_retries"), where that does not apply (a batch retries by itself)."""
        self.timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        self.stream_timeout = httpx.Timeout(settings.idle_timeout, connect=settings.connect_timeout)
        self.headers = {"User-Agent": f"ipygemini/{__version__}", **(settings.headers or {})}
        for name, value in self.headers.items():
            _header_safe(f"header {name}", value)
        if settings.api_key:
            _header_safe("api_key", settings.api_key)
            self.headers["Authorization"] = f"Bearer {settings.api_key}"

    @property
    def thinking_style(self) -> str:
        """The style thinking is asked for in: the chosen one, else what suits this gateway."""
        return self.settings.thinking_style or self.memory.thinking_style()

    def chat_request(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        *,
        stream: bool,
        model: str | None = None,
        system: str | None = None,
        json: bool = False,
        response_format: Mapping[str, Any] | None = None,
        attachments: Sequence[Any] = (),
        tools: Functions | None = None,
        max_tool_rounds: int | None = None,
        schema: Any = None,
        **options: Any,
    ) -> ChatRequest:
        """A validated chat request; its body is built now, or (with attachments, which read
        files and render figures) when `ChatRequest.body` is called. The log's tags (source,
        conversation, cache, refresh: see `_record.LogTags`) go to the request's recorder."""
        recorder = Recorder(self.settings, LogTags.take(options))
        shape = None
        if schema is not None:
            shape = schema_for(schema, json=json, response_format=response_format)
            response_format = shape.response_format()
        if json and response_format is None:
            response_format = {"type": "json_object"}
        arguments = {
            "model": model or self.settings.model,
            "stream": stream,
            "response_format": response_format,
            "thinking_style": self.settings.thinking_style,
            "gateway": self.memory,
            **options,
        }
        loop = tool_loop(tools, max_tool_rounds, secret=self.settings.api_key)
        request = ChatRequest(prompt, system, attachments, arguments, recorder, loop)
        request.schema = shape
        return request

    def chat_body(
        self, prompt: str | Sequence[Mapping[str, Any]], *, stream: bool, **options: Any
    ) -> dict[str, Any]:
        """The request body for `prompt` and `options` (validated; attachments read now)."""
        return self.chat_request(prompt, stream=stream, **options).body()

    def request_args(self, path: str, body: Any, stream: bool) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client.build_request`` (the same for sync and async)."""
        headers = dict(self.headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        timeout = self.stream_timeout if stream else self.timeout
        return {
            "url": self.settings.base_url + path,
            "json": body,
            "headers": headers,
            "timeout": timeout,
        }

    def attempts(
        self, method: str, path: str, body: Any = None, *, stream: bool = False
    ) -> Attempts:
        return Attempts(self, method, path, body, stream=stream)

    def moved_base_url(self, location: str | None) -> str | None:
        """The base URL a redirect's Location suggests (the Location minus the request path)."""
        if not location:
            return None
        absolute = urljoin(self.settings.base_url, location)
        for path in ("chat/completions", "embeddings", "models"):
            if absolute.rstrip("/").endswith("/" + path):
                return absolute.rstrip("/")[: -len(path)]
        return absolute

    def status_error(self, status: int, raw: bytes) -> APIStatusError:
        """The error for an HTTP error status, with a hint that fits: a 5xx that names the
        request body as invalid is a `BadRequestError` (never retried, never "temporary"), and
        a rate limit says `retry_hint` when one was given (a batch says its own)."""
        error = error_for_status(status, raw, secret=self.settings.api_key)
        kind: type[APIStatusError] = type(error)
        hint: str | None = None
        if status >= 500 and names_invalid_body(error.message, error.body):
            kind = BadRequestError
        elif isinstance(error, RateLimitError) and self.retry_hint is not None:
            hint = f"{kind.hint.split(':')[0]}: {self.retry_hint}"
        if kind is type(error) and hint is None:
            return error
        return kind(error.message, status_code=status, code=error.code, body=error.body, hint=hint)

    def check_body_error(self, obj: Any) -> None:
        """Some gateways answer 200 with an error object; raise it as what it is."""
        if reported_error(obj) is not None:
            raise completion_error(obj, secret=self.settings.api_key)

    def reply_from_completion(self, obj: Any, body: Mapping[str, Any]) -> Reply:
        self.check_body_error(obj)
        assembler = ReplyAssembler(requested_choices=requested_choices(body))
        assembler.feed(obj)
        assembler.finish(streamed=False)
        assembler.reply.raw = obj
        return assembler.reply

    def stream_machine(self, body: Mapping[str, Any], reply: Reply | None = None) -> StreamMachine:
        return StreamMachine(
            reply or Reply(),
            max_event_bytes=self.settings.max_event_bytes,
            idle_timeout=self.settings.idle_timeout,
            secret=self.settings.api_key,
            requested_choices=requested_choices(body),
        )

    def transport_error(self, exc: Exception) -> GeminiError:
        """The error for an httpx failure outside a stream's body."""
        where = self.settings.host
        if isinstance(exc, httpx.TimeoutException):
            return TimeoutError(f"Timed out talking to {where} ({type(exc).__name__}).")
        if isinstance(exc, httpx.DecodingError):
            return ServerError(
                f"The gateway at {where} sent a body that cannot be decoded ({exc}).",
                status_code=200,
            )
        return ConnectionError(f"Could not reach {where}: {os_reason(exc)}.")


def requested_choices(body: Mapping[str, Any]) -> int:
    """How many answers the request asked for (``n``)."""
    n = body.get("n")
    return n if isinstance(n, int) and n > 1 else 1


class ChatRequest:
    """A chat request whose options are valid; `body` builds the JSON body."""

    def __init__(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        system: str | None,
        attachments: Sequence[Any],
        arguments: dict[str, Any],
        recorder: Recorder,
        tool_loop: ToolLoop | None = None,
    ) -> None:
        self.recorder = recorder
        self.tool_loop = tool_loop
        if attachments and not isinstance(prompt, str):
            raise OptionError(
                "attachments go with a prompt string; put them in the messages instead."
            )
        self.prompt, self.system, self.attachments, self.arguments = (
            prompt,
            system,
            attachments,
            arguments,
        )
        self._body: dict[str, Any] | None = None
        self.schema: OutputSchema | None = None
        """The answer's schema (``schema=``): the loops parse the finished answer with it."""
        if attachments:
            placeholder = [{"role": "user", "content": ""}]
            build_chat_body(placeholder, **arguments)  # validate now; attachments are read later
        else:
            self._body = self.body()

    def body(self) -> dict[str, Any]:
        """The body to send. The recorder keys the request on what the user asked: the body
        before what the gateway taught this client (a ``json_object`` fallback, a thinking
        level it accepts, its thinking style) rewrote it."""
        if self._body is None:
            messages = build_messages(self.prompt, system=self.system, attachments=self.attachments)
            memory: GatewayMemory | None = self.arguments.get("gateway")
            asked = build_chat_body(messages, **{**self.arguments, "gateway": None})
            if self.tool_loop is not None:
                asked["tools"] = self.tool_loop.specs()
            self.recorder.asked(asked)  # keyed now: later revisions of the body do not count
            body = asked
            if memory is not None and not memory.pristine:
                body = build_chat_body(messages, **self.arguments)
                if self.tool_loop is not None:
                    body["tools"] = asked["tools"]
            self._body = body
        return self._body

    def next_round(self, body: dict[str, Any]) -> ChatRequest:
        """The same request with the tool loop's next `body`."""
        request = ChatRequest.__new__(ChatRequest)
        request.__dict__.update(self.__dict__)
        request._body = body
        return request

    async def abody(self) -> dict[str, Any]:
        """`body` without blocking the event loop: attachments are converted in a thread."""
        if self._body is None:
            return await asyncio.to_thread(self.body)
        return self._body


def build_messages(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    system: str | None = None,
    attachments: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Messages for a prompt string (plus attachments) or a ready list of messages."""
    if isinstance(prompt, str):
        if attachments:
            from ..attachments import to_content_parts

            content: Any = [{"type": "text", "text": prompt}, *to_content_parts(attachments)]
        else:
            content = prompt
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    else:
        messages = [dict(m) for m in prompt]
        if attachments:
            raise OptionError(
                "attachments go with a prompt string; put them in the messages instead."
            )
    if system and not (messages and messages[0].get("role") == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def os_reason(exc: BaseException) -> str:
    """The operating system's reason behind a transport error (``[Errno 111] Connection
    refused``), the same for the sync and the async client (anyio only says "All connection
    attempts failed" and keeps the reason in the exception chain)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and isinstance(seen.errno, int):
            text = os.strerror(seen.errno) if seen.errno > 0 else seen.strerror
            return f"[Errno {seen.errno}] {text or seen}"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__
