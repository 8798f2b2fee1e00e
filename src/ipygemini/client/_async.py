"""`AsyncClient` and `AsyncStream`: the asyncio loops around the sans-IO core, with the same
surface as `Client` and `Stream` (every method awaitable)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack

import httpx

from .._settings import Settings
from .._types import Event, Model, Reply, ToolCall

if TYPE_CHECKING:
    from ..batch._runner import Batch
from . import _policy
from ._base import RECEIVING, ClientBase, StreamBase, batch_plan
from ._body import aread_body, aread_error_body
from ._core import ChatOptions, ChatRequest, ClientOptions
from ._parse import embedding_bodies, parse_embeddings, parse_models

__all__ = ["AsyncClient", "AsyncStream"]

T = TypeVar("T")


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
        clock: Callable[[], float] | None = None,
        retry_hint: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(settings, options, clock=clock, retry_hint=retry_hint)
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

    async def _run(self, steps: _policy.Steps[T]) -> T:
        """Perform a policy's steps (see `ipygemini.client._policy`) and return its result."""
        run = _policy.Runner(steps)
        while not run.finished:
            try:
                run.answer(await self._perform(run.step))
            except BaseException as exc:
                run.fail(exc)
        return run.result

    async def _perform(self, step: _policy.Step) -> Any:
        """The I/O of one step: nothing else happens here."""
        if isinstance(step, _policy.Send):
            self._check_open(self._http)
            request = self._http.build_request(step.method, **step.arguments)
            return await self._http.send(request, stream=True, follow_redirects=False)
        if isinstance(step, _policy.ReadError):
            return await aread_error_body(step.response, self._core.timeout.read)
        if isinstance(step, _policy.ReadBody):
            return await aread_body(step.response, step.limit, window=step.window)
        return await self._sleep(step.seconds)

    async def _json(self, method: str, path: str, body: Any = None) -> Any:
        return await self._run(_policy.json_steps(self._core, method, path, body))

    async def chat(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply:
        """Ask once and wait for the whole answer. Options: see `Client.stream`."""
        request = self._core.chat_request(prompt, stream=False, **options)
        if request.tool_loop is not None:  # the rounds run in AsyncStream
            async with AsyncStream(self, request) as stream:
                return await stream.until_done()
        return await self._run(_policy.chat_steps(self._core, request, await request.abody()))

    async def cached_reply(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply | None:
        """`Client.cached_reply`: the logged answer to this very request, sending nothing."""
        request = self._core.chat_request(prompt, stream=False, **options)
        return _policy.usable_reply(request.recorder, request.schema, await request.abody())

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
        from ..batch import amap_with_bar

        plan = batch_plan(rows, template, schema, options)
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
                response = await self._client._run(_policy.send_steps(self._opening(body)))
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
