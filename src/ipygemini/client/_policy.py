"""ONE request path, sans-IO: cache lookup -> schema and its one repair -> retries -> record.

The policy is written once, as generators that yield steps (`Send` these request arguments,
`ReadBody` / `ReadError` of a response, `Sleep` so long) and are sent what each step gave, the
way h11 is fed bytes: no socket, no clock of their own. `Client` and `AsyncClient` only perform
the steps (`Runner` hands them out and takes the answers back), so the sync and async clients
cannot drift apart. Tool rounds run in the streams (`StreamMachine.next_round`), whose bodies
open through `send_steps` and whose cache hits come from `usable_entry` like here.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from .._errors import OptionError
from .._types import Reply
from ..log._recording import reply_from_entry
from ._parse import parse_json
from ._structured import AnswerValidationError, corrected_body, settle
from ._toolloop import added_usage

if TYPE_CHECKING:
    from ..log._recording import Recorder
    from ..log._store import Entry
    from ._core import ChatRequest, Core
    from ._retry import Attempts
    from ._schema import OutputSchema

__all__ = [
    "ReadBody",
    "ReadError",
    "Runner",
    "Send",
    "Sleep",
    "Step",
    "Steps",
    "chat_steps",
    "json_steps",
    "send_steps",
    "usable_entry",
    "usable_reply",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Send:
    """Build and send this request (``http.build_request(method, **arguments)``, streamed, no
    redirects); answer with the `httpx.Response`, or throw what sending raised."""

    method: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReadError:
    """Read (at most `ERROR_BODY_LIMIT` of) an error response's body; answer with the bytes."""

    response: httpx.Response


@dataclass(frozen=True, slots=True)
class ReadBody:
    """Read a whole answer body under `limit` bytes and the progress `window`; the bytes."""

    response: httpx.Response
    limit: int
    window: float | None


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait `seconds` (through the client's injected `sleep`); answer with anything."""

    seconds: float


Step = Send | ReadError | ReadBody | Sleep
Steps = Generator[Step, Any, T]


class Runner(Generic[T]):
    """Hands out a policy's steps and takes back what performing them gave (or raised).

    The I/O loops are then all alike: ``while not run.finished: try: run.answer(perform(
    run.step)) except BaseException as exc: run.fail(exc)``, and `result` at the end.
    """

    __slots__ = ("_result", "_steps", "finished", "step")

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self.finished = False
        self._result: T | None = None
        self.step: Step = Sleep(0.0)
        self._advance(None, None)

    def answer(self, value: Any) -> None:
        self._advance(value, None)

    def fail(self, error: BaseException) -> None:
        self._advance(None, error)

    def _advance(self, value: Any, error: BaseException | None) -> None:
        try:
            self.step = self._steps.send(value) if error is None else self._steps.throw(error)
        except StopIteration as stop:
            self.finished = True
            self._result = stop.value

    @property
    def result(self) -> T:
        assert self.finished
        return self._result  # type: ignore[return-value]


def send_steps(attempts: Attempts) -> Steps[httpx.Response]:
    """The answer to a request after the retries `attempts` allows: a status below 300."""
    for arguments in attempts.arguments():
        try:
            response: httpx.Response = yield Send(attempts.method, arguments)
        except (TypeError, ValueError) as exc:  # e.g. an object in extra_body, a NaN
            raise OptionError(f"The request cannot be sent as JSON: {exc}.") from None
        except httpx.TransportError as exc:
            yield Sleep(attempts.after_transport_error(exc))
            continue
        if attempts.accept(response):
            return response
        raw = yield ReadError(response)
        wait = attempts.after_rejection(response, raw)
        if wait is not None:  # None: a revised body (a gateway's lesson) goes at once
            yield Sleep(wait)
    raise AssertionError("unreachable: the last attempt raises")


def json_steps(core: Core, method: str, path: str, body: Any = None) -> Steps[Any]:
    """A request whose answer is one JSON object (models, embeddings, a whole completion)."""
    response = yield from send_steps(core.attempts(method, path, body))
    try:
        raw = yield ReadBody(response, core.settings.max_event_bytes, core.timeout.read)
    except httpx.HTTPError as exc:
        raise core.transport_error(exc) from None
    obj = parse_json(raw, "response")
    core.check_body_error(obj)
    return obj


def _completion_steps(core: Core, body: dict[str, Any], recorder: Recorder | None) -> Steps[Reply]:
    """One non-streamed answer to `body` (a failure is logged by `recorder` before it
    propagates; without one the caller logs it)."""
    try:
        obj = yield from json_steps(core, "POST", "chat/completions", body)
        return core.reply_from_completion(obj, body)
    except BaseException as exc:
        if recorder is not None:
            recorder.failed(body, exc)
        raise


def chat_steps(core: Core, request: ChatRequest, body: dict[str, Any]) -> Steps[Reply]:
    """A whole (non-streamed) answer to `request`, whose built body is `body`.

    From the log when the cache may answer and has an answer that follows the schema; else
    asked, and with a schema asked once more (saying what was wrong) when the answer does not
    follow it. What is logged is the answer that was used, with every request's tokens.
    """
    recorder, schema = request.recorder, request.schema
    if recorder.uses_cache and (hit := usable_reply(recorder, schema, body)) is not None:
        recorder.finish(body, hit)
        return hit
    reply = yield from _completion_steps(core, body, recorder)
    if schema is None:
        recorder.finish(body, reply)
        return reply
    try:
        settle(schema, reply)
    except AnswerValidationError as exc:  # ask once more, saying what was wrong
        if reply.finish_reason == "length":  # ... unless it was cut off: that would recur
            recorder.finish(body, reply)
            raise
        try:
            again = yield from _completion_steps(core, corrected_body(body, reply, exc), None)
        except BaseException:
            recorder.finish(body, reply)  # the tokens of the first answer still count
            raise
        again.usage = added_usage(reply.usage, again.usage)
        recorder.finish(body, again)
        return settle(schema, again, earlier=exc)
    recorder.finish(body, reply)
    return reply


def usable_entry(
    recorder: Recorder, schema: OutputSchema | None, body: dict[str, Any]
) -> Entry | None:
    """The logged answer to `body` that may be replayed: with a schema, only one that follows
    it (a logged answer that does not is a miss, so the request is asked again)."""
    entry = recorder.lookup(body)
    if entry is None or schema is None:
        return entry
    try:
        schema.parse(entry.answer)
    except AnswerValidationError:
        return None
    return entry


def usable_reply(
    recorder: Recorder, schema: OutputSchema | None, body: dict[str, Any]
) -> Reply | None:
    """`usable_entry` as a `Reply` (``cached=True``, `parsed` set with a schema), or None."""
    entry = usable_entry(recorder, schema, body)
    if entry is None:
        return None
    reply = reply_from_entry(entry)
    return reply if schema is None else settle(schema, reply)
