"""What `Client`/`AsyncClient` and `Stream`/`AsyncStream` share: settings, the masked repr, the
stream machine's record (replay, events not yet shown) and the mapping of httpx failures."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from .._errors import GeminiError
from .._settings import Settings
from .._types import Event, Reply, ToolCall
from ..log._recording import fill_from_entry
from ._body import bounded_reads
from ._core import ChatRequest, Core, client_settings, requested_choices
from ._policy import usable_entry
from ._retry import Attempts
from ._stream import StreamMachine, StreamState
from ._structured import settle

__all__ = ["RECEIVING", "ClientBase", "StreamBase", "clock"]

RECEIVING = StreamState.RECEIVING
_NOTHING: Iterator[Event] = iter(())

clock: Callable[[], float] = time.monotonic
"""The time the loops pass to the stream machine."""


class ClientBase:
    """Settings, validation and the masked repr of `Client` and `AsyncClient`."""

    def __init__(
        self,
        settings: Settings | None,
        options: Mapping[str, Any],
        *,
        clock: Callable[[], float] | None = None,
        retry_hint: str | None = None,
    ) -> None:
        self._core = Core(client_settings(settings, options))
        if clock is not None:
            self._core.clock = clock
        self._core.retry_hint = retry_hint

    @property
    def settings(self) -> Settings:
        """The resolved, frozen `Settings` this client uses."""
        return self._core.settings

    @property
    def base_url(self) -> str:
        return self._core.settings.base_url

    @property
    def model(self) -> str:
        return self._core.settings.model

    @property
    def thinking_style(self) -> str:
        return self._core.thinking_style

    @property
    def api_key_hint(self) -> str:
        """The key as it may be shown (``…abcd``)."""
        return self._core.settings.api_key_hint

    @staticmethod
    def _check_open(http: httpx.Client | httpx.AsyncClient) -> None:
        if http.is_closed:
            raise GeminiError(
                "This client is closed.", hint="Make a new one, or use it inside its with block."
            )

    def __repr__(self) -> str:
        settings = self._core.settings
        return (
            f"{type(self).__name__}(base_url={settings.base_url!r}, model={settings.model!r}, "
            f"api_key={settings.api_key_hint!r})"
        )


class StreamBase:
    """The state of one streamed answer, shared by `Stream` and `AsyncStream`."""

    def __init__(self, core: Core, request: ChatRequest) -> None:
        self._core = core
        self._request = request
        self._machine: StreamMachine = core.stream_machine(request.arguments)
        self._response: httpx.Response | None = None
        self._seen = 0  # events handed out, the last batch's unread ones included
        self._batch: Iterator[Event] = iter(())  # the batch being handed out
        self._sse = False  # the answer is an event stream (else one JSON body)
        self._body: dict[str, Any] | None = None  # the request as sent (what the log keeps)

    @property
    def reply(self) -> Reply:
        """Everything that has arrived so far (the same object from start to end)."""
        return self._machine.reply

    @property
    def state(self) -> StreamState:
        """RECEIVING, DONE, CLOSED, FAILED or INTERRUPTED (see `ipygemini.client._stream`)."""
        return self._machine.state

    def _recorded(self, shown: int) -> tuple[Iterator[Event], int]:
        """The recorded events after the first `shown` (a replay, or what the last read
        brought) and the new count. Handed out as one iterator, so `_unseen` can tell how many
        of them the caller has not had yet."""
        events = self._machine.events
        if shown >= len(events):
            return _NOTHING, shown
        self._batch = batch = iter(events[shown:])
        self._seen = len(events)
        return batch, self._seen

    def _unseen(self) -> list[Event]:
        """Recorded events the caller has not been given (and now counts as given)."""
        start = self._seen - operator.length_hint(self._batch)
        self._batch = _NOTHING
        events = self._machine.events[start:]
        self._seen = len(self._machine.events)
        return events

    def _parse_answer(self) -> None:
        """With ``schema=``: the finished answer as `Reply.parsed` (raises when it does not
        follow the schema; a stream shown live is not asked again)."""
        schema = self._request.schema
        if schema is not None and self.reply.parsed is None:
            settle(schema, self.reply)

    def _replayed(self, body: dict[str, Any]) -> bool:
        """Before sending `body`: answer it from the log when the cache is on and has an
        answer that may be replayed (see `usable_entry`; the events are recorded as if they
        had streamed; nothing is sent)."""
        self._body = body
        recorder = self._request.recorder
        if not recorder.uses_cache:
            return False
        entry = usable_entry(recorder, self._request.schema, body)
        if entry is None:
            return False
        self._machine.replay(fill_from_entry(self._machine.reply, entry))
        self._ended()
        return True

    def _opening(self, body: dict[str, Any]) -> Attempts:
        """The tries of this round's streamed request."""
        return self._core.attempts("POST", "chat/completions", body, stream=True)

    def _ended(self) -> None:
        """Once reading is over (the last round, with tools): the exchange goes to the log
        (the recorder writes it once)."""
        if self._body is not None and not self._machine.reading and not self._due_calls():
            self._request.recorder.finish(self._body, self._machine.reply)

    def __del__(self) -> None:
        """A stream dropped while still reading (a loop left without close) is logged as
        interrupted when it is collected (never waiting for another write of this process)."""
        try:
            if self._body is not None and self._machine.reading:
                self._machine.interrupted()
                self._request.recorder.finish(self._body, self._machine.reply, wait=False)
        except Exception:
            pass

    def _due_calls(self) -> list[ToolCall]:
        """The tool calls to run before the next round ([] without tools or when final)."""
        loop = self._request.tool_loop
        return [] if loop is None else loop.due(self.reply)

    def _next_round(self) -> None:
        """Ask again with the tool results: a new request and machine, the same reply and
        event record (so iteration, replay and `interrupted` span every round)."""
        loop, machine = self._request.tool_loop, self._machine
        assert loop is not None
        body = loop.next_body(self._request.body(), machine.reply, machine.events)
        self._request = self._request.next_round(body)
        self._machine = machine.next_round(requested_choices(body))
        self._response = None

    def _raise_failure(self) -> None:
        if self._machine.error is not None:
            raise self._machine.error

    @contextmanager
    def _starting(self) -> Iterator[None]:
        """Around sending the request: a failure fails the empty reply (or, for Ctrl-C or a
        cancelled task, interrupts it) before it propagates."""
        try:
            yield
        except BaseException as exc:
            if not self._lost(exc):
                self._machine.interrupted()
            self._ended()
            raise

    def _opened(self, response: httpx.Response) -> httpx.Response:
        self._response = response
        self._sse = self._is_event_stream(response)
        return response

    def _whole_limits(self) -> dict[str, Any]:
        settings = self._core.settings
        return {"limit": settings.max_event_bytes, "window": settings.idle_timeout}

    def _is_event_stream(self, response: httpx.Response) -> bool:
        content_type: str = response.headers.get("content-type", "")
        return content_type.startswith("text/event-stream")

    @contextmanager
    def _read_window(self, response: httpx.Response) -> Iterator[bool]:
        """Whether to read now: always while receiving; after DONE, only within the drain
        window (reads bounded by it), so a body left open after [DONE] is closed, not waited on."""
        machine = self._machine
        if machine.state is not StreamState.DONE:
            yield True
            return
        wait = machine.drain_wait(clock())
        if wait <= 0:
            yield False
            return
        with bounded_reads(response, wait) as bounded:
            yield bounded

    def _took(self, data: bytes | None) -> None:
        if data is None:
            self._machine.end()
        else:
            self._machine.feed(data, clock())

    def _lost(self, exc: BaseException) -> bool:
        """Tell the machine about a failure while reading; False when it is not a read failure
        (Ctrl-C, a cancelled task: the caller interrupts)."""
        machine = self._machine
        if isinstance(exc, httpx.TimeoutException):
            machine.timed_out()
        elif isinstance(exc, httpx.DecodingError):
            machine.broke(f"the gateway's body could not be decoded ({exc})")
        elif isinstance(exc, httpx.HTTPError | httpx.StreamError):
            machine.broke(f"the connection broke ({type(exc).__name__})")
        elif isinstance(exc, GeminiError):
            machine.failed_to_start(exc)
        else:
            return False
        return True


def batch_plan(rows: Any, template: str | None, schema: Any, options: Mapping[str, Any]) -> Any:
    """The `BatchPlan` for `map` (sync and async alike): the rows, the template, and the
    answer's shape from `schema` and the ``json``/``response_format`` options."""
    from ..batch import BatchPlan
    from ._structured import schema_for

    shape = None
    if schema is not None:
        fmt = options.get("response_format")
        shape = schema_for(schema, json=bool(options.get("json")), response_format=fmt)
    return BatchPlan(rows, template, shape)
