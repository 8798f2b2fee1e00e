"""`AsyncClient` and `AsyncStream`: the asyncio loops around the sans-IO core, with the same
surface as `Client` and `Stream` (every method awaitable)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, Unpack

import httpx

from .._settings import Settings
from .._types import Event, Model, Reply, ToolCall

if TYPE_CHECKING:
    from ..batch._runner import Batch
from ..log._recording import Recorder, reply_from_entry
from ._base import RECEIVING, ClientBase, StreamBase
from ._body import aread_body, aread_error_body
from ._core import ChatOptions, ChatRequest, ClientOptions
from ._parse import embedding_bodies, parse_embeddings, parse_json, parse_models
from ._retry import Attempts
from ._structured import AnswerValidationError, corrected_body, settle

__all__ = ["AsyncClient", "AsyncStream"]


class AsyncClient(ClientBase):
    """The asyncio twin of `Client`: the same arguments (`sleep` is awaited, default
    `asyncio.sleep`) and methods. Request bodies with attachments (files, figures) are built
    in a thread, so the event loop stays responsive."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(settings, options)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self._core.timeout)
        self._sleep = sleep or asyncio.sleep

    async def aclose(self) -> None:
        """Close the connections (only those of an httpx client this client created)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, attempts: Attempts) -> httpx.Response:
        """The answer to a request, after the retries `attempts` allows (redirects not followed)."""
        for request in attempts.requests(self._http):
            try:
                response = await self._http.send(request, stream=True, follow_redirects=False)
            except httpx.TransportError as exc:
                await self._sleep(attempts.after_transport_error(exc))
                continue
            if attempts.accept(response):
                return response
            raw = await aread_error_body(response, self._core.timeout.read)
            await self._sleep(attempts.after_rejection(response, raw))
        raise AssertionError("unreachable: the last attempt raises")

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._send(self._core.attempts(method, path, body))
        limit = self.settings.max_event_bytes
        try:
            obj = parse_json(
                await aread_body(response, limit, window=self._core.timeout.read), "response"
            )
        except httpx.HTTPError as exc:
            raise self._core.transport_error(exc) from None
        self._core.check_body_error(obj)
        return obj

    async def chat(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply:
        """Ask once and wait for the whole answer. Options: see `Client.stream`."""
        request = self._core.chat_request(prompt, stream=False, **options)
        if request.tool_loop is not None:  # the rounds run in AsyncStream
            async with AsyncStream(self, request) as stream:
                return await stream.until_done()
        body, recorder = await request.abody(), request.recorder
        if recorder.uses_cache and (hit := recorder.cached_reply(body)) is not None:
            return hit if request.schema is None else settle(request.schema, hit)
        reply = await self._complete(body, recorder)
        if request.schema is None:
            return reply
        try:
            return settle(request.schema, reply)
        except AnswerValidationError as exc:  # ask once more, saying what was wrong
            body = corrected_body(body, reply, exc)
            again = await self._complete(body, recorder)
            return settle(request.schema, again, earlier=exc)

    async def _complete(self, body: dict[str, Any], recorder: Recorder) -> Reply:
        """One non-streamed answer to `body`, logged by `recorder`."""
        try:
            obj = await self._json("POST", "chat/completions", body)
            reply = self._core.reply_from_completion(obj, body)
        except BaseException as exc:
            recorder.failed(body, exc)
            raise
        recorder.finish(body, reply)
        return reply

    async def cached_reply(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply | None:
        """`Client.cached_reply`: the logged answer to this very request, sending nothing."""
        request = self._core.chat_request(prompt, stream=False, **options)
        entry = request.recorder.lookup(await request.abody())
        return None if entry is None else reply_from_entry(entry)

    def stream(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> AsyncStream:
        """Ask and stream: ``async with client.stream("hi") as s: async for event in s: ...``."""
        return AsyncStream(self, self._core.chat_request(prompt, stream=True, **options))

    async def map(
        self,
        rows: Any,
        template: str | None = None,
        *,
        schema: Any = None,
        concurrency: int = 16,
        max_rpm: float | None = None,
        progress: bool = True,
        **options: Any,
    ) -> Batch:
        """`Client.map` awaited on the running loop (cancelling the task keeps nothing: use
        `Client.map` for a batch that Ctrl-C should stop and keep)."""
        from ..batch import BatchPlan, amap_with_bar
        from ._structured import schema_for

        shape = None
        if schema is not None:
            fmt = options.get("response_format")
            shape = schema_for(schema, json=bool(options.get("json")), response_format=fmt)
        plan = BatchPlan(rows, template, shape)
        return await amap_with_bar(
            AsyncClient,
            self.settings,
            plan,
            progress=progress,
            concurrency=concurrency,
            max_rpm=max_rpm,
            **options,
        )

    async def models(self) -> list[Model]:
        """The models the gateway offers (ids without a leading ``models/``)."""
        return parse_models(await self._json("GET", "models"))

    async def embed(
        self, texts: str | Sequence[str], *, model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        """One vector per text, in input order (requests of at most 100 texts each)."""
        vectors: list[list[float]] = []
        for body in embedding_bodies(texts, model=model, dimensions=dimensions):
            obj = await self._json("POST", "embeddings", body)
            vectors.extend(parse_embeddings(obj, len(body["input"])))
        return vectors


class AsyncStream(StreamBase):
    """`Stream` for asyncio: ``async with`` / ``async for``, `until_done`, `text_deltas`,
    `interrupted` and `aclose` awaitable; cancelling the reading task marks it interrupted."""

    def __init__(self, client: AsyncClient, request: ChatRequest) -> None:
        super().__init__(client._core, request)
        self._client = client
        self._chunks: AsyncIterator[bytes] | None = None

    async def __aenter__(self) -> Self:
        if self._response is None and self._machine.reading:
            with self._starting():
                body = await self._request.abody()
                if self._replayed(body):
                    return self
                response = await self._client._send(
                    self._core.attempts("POST", "chat/completions", body, stream=True)
                )
            self._chunks = self._opened(response).aiter_bytes()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading; a reply that had not finished is marked interrupted."""
        self._machine.interrupted()
        self._ended()
        if self._response is not None:
            await self._response.aclose()

    async def interrupted(self) -> list[Event]:
        """`Stream.interrupted`: stop, and the events the caller has not been given yet."""
        await self.aclose()
        return self._unseen()

    async def __aiter__(self) -> AsyncIterator[Event]:
        shown = 0
        while True:
            batch, shown = self._recorded(shown)
            for event in batch:
                yield event
            if not self._machine.reading:
                calls = self._due_calls()
                if not calls:
                    break
                await self._run_tools(calls)
                continue
            await self._read()
        self._raise_failure()
        self._parse_answer()

    async def _run_tools(self, calls: list[ToolCall]) -> None:
        """Run a round's calls (async functions awaited, sync ones in a thread), then ask again."""
        loop = self._request.tool_loop
        assert loop is not None
        with loop.running(self.reply):
            for call in calls:
                tool, refusal = loop.check(call)
                result = refusal if tool is None else await tool.run(call.arguments)
                assert result is not None
                loop.ran(call, result, self._machine.events)
        self._next_round()

    async def _read(self) -> None:
        """One read, handed to the machine; the connection closes when it says reading is over."""
        response = self._response or (await self.__aenter__())._response
        if response is None or self._chunks is None:
            return  # answered from the log
        try:
            if not self._sse:
                self._machine.whole(await aread_body(response, **self._whole_limits()))
            elif self._machine.state is RECEIVING:  # the hot path
                self._took(await anext(self._chunks, None))
            else:
                with self._read_window(response) as reading:
                    self._took(await anext(self._chunks, None) if reading else None)
        except BaseException as exc:
            if not self._lost(exc):
                await self.aclose()
                raise
        if not self._machine.reading:
            await response.aclose()
            self._ended()

    async def until_done(self) -> Reply:
        """Read the rest of the stream and return the finished reply."""
        async for _ in self:
            pass
        return self.reply

    async def text_deltas(self) -> AsyncIterator[str]:
        """Just the answer text, piece by piece."""
        async for event in self:
            if event.type == "text":
                yield event.text
