"""`Client` and `Stream`: the synchronous loops around the sans-IO core."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack

import httpx

from .._settings import Settings
from .._types import Event, Model, Reply, ToolCall

if TYPE_CHECKING:
    from ..batch._runner import Batch
from . import _policy
from ._base import RECEIVING, ClientBase, StreamBase, batch_plan
from ._body import read_body, read_error_body
from ._core import ChatOptions, ChatRequest, ClientOptions
from ._parse import embedding_bodies, parse_embeddings, parse_models

__all__ = ["Client", "Stream"]

T = TypeVar("T")


class Client(ClientBase):
    """A synchronous client for any OpenAI-compatible Gemini endpoint.

    ``Client(settings=None, *, http_client=None, sleep=None, clock=None, retry_hint=None,
    **options)``: `options` are
    `ipygemini.Settings` fields and win over `settings`; without `settings` they win over the
    ``GEMINI_*`` environment (``%config Gemini.*`` is read by ``Settings.resolve()``, which
    `ipygemini.connect()` passes), and a bare client with nothing configured raises
    `MissingKeyError` (`connect()` falls back to the offline gateway instead). One long-lived httpx client keeps the connection alive;
    an `http_client` you pass stays yours to close. Failures before any byte (429, 5xx,
    connection errors) are retried, waiting through `sleep` (default `time.sleep`) as long as
    ``Retry-After`` asks (seconds or an HTTP date, read against `clock`, default `time.time`).
    `retry_hint` replaces "raise max_retries" in a rate limit's message where that does not
    apply (a batch, which retries rows itself, says its own).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] | None = None,
        retry_hint: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(settings, options, clock=clock, retry_hint=retry_hint)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self._core.timeout)
        self._sleep = sleep or time.sleep

    def close(self) -> None:
        """Close the connections (only those of an httpx client this client created)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, steps: _policy.Steps[T]) -> T:
        """Perform a policy's steps (see `ipygemini.client._policy`) and return its result."""
        run = _policy.Runner(steps)
        while not run.finished:
            try:
                run.answer(self._perform(run.step))
            except BaseException as exc:
                run.fail(exc)
        return run.result

    def _perform(self, step: _policy.Step) -> Any:
        """The I/O of one step: nothing else happens here."""
        if isinstance(step, _policy.Send):
            self._check_open(self._http)
            request = self._http.build_request(step.method, **step.arguments)
            return self._http.send(request, stream=True, follow_redirects=False)
        if isinstance(step, _policy.ReadError):
            return read_error_body(step.response, self._core.timeout.read)
        if isinstance(step, _policy.ReadBody):
            return read_body(step.response, step.limit, window=step.window)
        return self._sleep(step.seconds)

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        return self._run(_policy.json_steps(self._core, method, path, body))

    def chat(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply:
        """Ask once and wait for the whole answer. Options: see `Client.stream`."""
        request = self._core.chat_request(prompt, stream=False, **options)
        if request.tool_loop is not None:  # the rounds run in Stream, which takes whole bodies
            with Stream(self, request) as stream:
                return stream.until_done()
        return self._run(_policy.chat_steps(self._core, request, request.body()))

    def cached_reply(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Reply | None:
        """The logged answer to this very request (same body, attachments, model and gateway),
        marked ``cached``, without sending anything; None when the log has no complete one.
        It reads the log whatever the cache setting, and writes nothing."""
        request = self._core.chat_request(prompt, stream=False, **options)
        return _policy.usable_reply(request.recorder, request.schema, request.body())

    def stream(
        self, prompt: str | Sequence[Mapping[str, Any]], **options: Unpack[ChatOptions]
    ) -> Stream:
        """Ask and stream the answer: ``with client.stream("hi") as s: for event in s: ...``.

        Options: model, system, temperature (0–2), top_p (0–1), max_tokens (>= 1),
        frequency_penalty and presence_penalty (−2–2), stop, n (>= 1), json, response_format,
        thinking (True, "low", "medium", "high" or a token budget), attachments, extra_body.
        They are validated here, before anything is sent.
        """
        return Stream(self, self._core.chat_request(prompt, stream=True, **options))

    def map(
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
        """Ask `template` filled from each row (``{column}``, ``{index}``) of a DataFrame, a list
        of dicts or of strings; a `Batch` of replies in input order (`Batch.to_frame()`).

        Requests run concurrently (`concurrency`) on a private event loop, paced by what the
        gateway accepts (429s slow the batch, ``Retry-After`` pauses it, `max_rpm` caps it);
        a row fails only after its retries. Ctrl-C stops within a second and raises
        `BatchInterrupted` whose ``batch`` keeps every finished row. Rows already answered in
        the log are not sent again (``cache=False`` or ``refresh=True`` sends them).
        """
        from ..batch import map_in_thread
        from ._async import AsyncClient

        plan = batch_plan(rows, template, schema, options)
        return map_in_thread(
            AsyncClient,
            self.settings,
            plan,
            progress=progress,
            concurrency=concurrency,
            max_rpm=max_rpm,
            **options,
        )

    def models(self) -> list[Model]:
        """The models the gateway offers (ids without a leading ``models/``)."""
        return parse_models(self._json("GET", "models"))

    def embed(
        self, texts: str | Sequence[str], *, model: str | None = None, dimensions: int | None = None
    ) -> list[list[float]]:
        """One vector per text, in input order (requests of at most 100 texts each)."""
        vectors: list[list[float]] = []
        for body in embedding_bodies(texts, model=model, dimensions=dimensions):
            vectors.extend(
                parse_embeddings(self._json("POST", "embeddings", body), len(body["input"]))
            )
        return vectors


class Stream(StreamBase):
    """A streamed answer: iterate for events; `reply` holds what has arrived so far.

    Use it as a context manager: leaving the block before the answer finished (break, an
    exception, Ctrl-C) closes the connection and marks the reply ``interrupted``. Every
    iteration yields the answer's events from the first: those already read are replayed, then
    reading goes on; so a finished stream can be iterated again, and `until_done` after a loop
    that stopped early reads the rest.
    """

    def __init__(self, client: Client, request: ChatRequest) -> None:
        super().__init__(client._core, request)
        self._client = client
        self._chunks: Iterator[bytes] = iter(())

    def __enter__(self) -> Self:
        if self._response is None and self._machine.reading:
            with self._starting():
                body = self._request.body()
                if self._replayed(body):
                    return self
                response = self._client._run(_policy.send_steps(self._opening(body)))
            self._chunks = self._opened(response).iter_bytes()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading; a reply that had not finished is marked interrupted."""
        self._machine.interrupted()
        self._ended()
        if self._response is not None:
            self._response.close()

    def interrupted(self) -> list[Event]:
        """Stop reading (Ctrl-C, a Stop button) and return the events the caller has not been
        given yet — held-back text the stop flushed included — so the screen matches `reply`."""
        self.close()
        return self._unseen()

    def __iter__(self) -> Iterator[Event]:
        shown = 0
        while True:
            batch, shown = self._recorded(shown)
            yield from batch
            if not self._machine.reading:
                calls = self._due_calls()
                if not calls:
                    break
                self._run_tools(calls)
                continue
            self._read()
        self._raise_failure()
        self._parse_answer()

    def _run_tools(self, calls: list[ToolCall]) -> None:
        """Run a round's calls here (async functions on a private loop), then ask again."""
        loop = self._request.tool_loop
        assert loop is not None
        with loop.running(self.reply):
            for call in calls:
                tool, refusal = loop.check(call)
                result = refusal if tool is None else tool.run_sync(call.arguments)
                assert result is not None
                loop.ran(call, result, self._machine.events)
        self._next_round()

    def _read(self) -> None:
        """One read, handed to the machine; the connection closes when it says reading is over."""
        response = self._response or self.__enter__()._response
        if response is None:
            return  # answered from the log
        try:
            if self._sse and self._machine.state is RECEIVING:  # the hot path
                self._took(next(self._chunks, None))
            elif self._sse:
                with self._read_window(response) as reading:
                    self._took(next(self._chunks, None) if reading else None)
            else:
                self._machine.whole(read_body(response, **self._whole_limits()))
        except BaseException as exc:
            if not self._lost(exc):
                self.close()
                raise
        if not self._machine.reading:
            response.close()
            self._ended()

    def until_done(self) -> Reply:
        """Read the rest of the stream and return the finished reply."""
        for _ in self:
            pass
        return self.reply

    def text_deltas(self) -> Iterator[str]:
        """Just the answer text, piece by piece."""
        for event in self:
            if event.type == "text":
                yield event.text
