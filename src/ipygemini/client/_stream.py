"""The stream state machine: bytes in, events out, no I/O and no clock (h11's lesson).

    RECEIVING ──[DONE], or every choice finished and usage came──▶ DONE ──▶ CLOSED
        │
        ├── a bad event, an error event, a broken or silent connection ──▶ FAILED
        └── the reader stopped (Ctrl-C, break + close, a cancelled task) ──▶ INTERRUPTED

Nothing after DONE can fail the reply: bytes after ``[DONE]`` never count (whether they came in
the same read or later), and a broken, silent or junk-filled connection after it only closes the
stream. The I/O loops (`_sync`, `_async`) pass the time in (``now``) and do what the machine
says: keep reading, drain briefly after DONE, or close.
"""

from __future__ import annotations

import enum

from .._errors import GeminiError, StreamError, error_parts, sentence, short_code
from .._types import Event, Reply
from ._parse import RawChunks, completion_error, load_payload, parse_json, reported_error
from ._reply import ReplyAssembler
from ._sse import SSEDecoder

__all__ = [
    "DRAIN_BYTES",
    "DRAIN_SECONDS",
    "PROGRESS_BYTES",
    "Progress",
    "StreamMachine",
    "StreamState",
]

DONE_DATA = b"[DONE]"
DRAIN_SECONDS = 0.25
"""After DONE, how long the loop waits for the body's end (so the connection can be reused)."""
DRAIN_BYTES = 64 * 1024
"""After DONE, how many more bytes the loop reads before it closes the connection instead."""
PROGRESS_BYTES = 4096
"""Bytes that count as progress on their own. httpx's read timeout restarts at every byte, so a
server dribbling a byte a second would hold a request forever: a body that brings less than
this (and, in a stream, no complete line) within the timeout is given up."""


class StreamState(enum.Enum):
    RECEIVING = "receiving"
    DONE = "done"
    CLOSED = "closed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


_RECEIVING, _DONE = StreamState.RECEIVING, StreamState.DONE


class Progress:
    """Says when a body has stalled: under `PROGRESS_BYTES` and no line end in `window` s."""

    __slots__ = ("quiet", "since", "window")

    def __init__(self, window: float, now: float) -> None:
        self.window = window
        self.since = now
        self.quiet = 0  # bytes since the last progress

    def stalled(self, data: bytes, now: float, *, lines: bool) -> bool:
        if self.quiet + len(data) >= PROGRESS_BYTES or (lines and (b"\n" in data or b"\r" in data)):
            self.since, self.quiet = now, 0
            return False
        self.quiet += len(data)
        return now - self.since > self.window


class StreamMachine:
    """One streamed response: `feed` it bytes with the time; read `state`, `reply`, `events`.

    It never raises: a failure sets `error` (what the loop raises once the events before it are
    out) and moves to FAILED. `events` records every event handed out, in order, so a finished
    stream can be replayed.
    """

    def __init__(
        self,
        reply: Reply | None = None,
        *,
        max_event_bytes: int = 64 * 1024 * 1024,
        idle_timeout: float = 120.0,
        secret: str | None = None,
        requested_choices: int = 1,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.state = _RECEIVING
        self.assembler = ReplyAssembler(reply, requested_choices=requested_choices)
        self.decoder = SSEDecoder(max_event_bytes=max_event_bytes, end_data=DONE_DATA)
        self.events: list[Event] = []
        self.error: GeminiError | None = None
        self.max_event_bytes = max_event_bytes
        self.idle_timeout = idle_timeout
        self.requested_choices = requested_choices
        self.drain_seconds = drain_seconds
        self._secret = secret
        self._progress: Progress | None = None  # started by the first bytes
        self._drain_until: float | None = None
        self._drained = 0
        self.raw = RawChunks()
        self.assembler.reply.raw = self.raw

    @property
    def reply(self) -> Reply:
        return self.assembler.reply

    @property
    def reading(self) -> bool:
        """True while the loop should read on (to the end of the answer, or draining after it)."""
        return self.state is _RECEIVING or self.state is _DONE

    # -- whole answers and rounds -------------------------------------------------------------

    def replay(self, events: list[Event]) -> None:
        """The answer came from the log (`reply` already holds it): record its `events` as if
        they had streamed, and close; nothing is read."""
        if self.state is _RECEIVING:
            self.events += events
            self.state = StreamState.CLOSED

    def next_round(self, requested_choices: int = 1) -> StreamMachine:
        """The machine of the next tool round: a fresh stream that grows the same `reply` and
        the same event record (so iteration, replay and `interrupted` span every round)."""
        machine = StreamMachine(
            self.reply,
            max_event_bytes=self.max_event_bytes,
            idle_timeout=self.idle_timeout,
            secret=self._secret,
            requested_choices=requested_choices,
            drain_seconds=self.drain_seconds,
        )
        machine.events = self.events
        return machine

    # -- bytes -----------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> list[Event]:
        """The events `data` completes (also appended to `events`)."""
        if self.state is not _RECEIVING:
            if self.state is _DONE:
                self._drained += len(data)  # after DONE nothing counts
            return []
        out: list[Event] = []
        progress = self._progress
        if progress is None:
            progress = self._progress = Progress(self.idle_timeout, now)
        if progress.stalled(data, now, lines=True):
            self._fail(
                f"only {progress.quiet} bytes and no complete line in "
                f"{self.idle_timeout:g} s (idle_timeout)",
                out,
            )
        else:
            try:
                payloads = self.decoder.feed_data(data)
            except ValueError as exc:
                self._fail(str(exc), out)
            else:
                self._payloads(payloads, out, strict=True)
        if out:
            self.events += out
        return out

    def _payloads(self, payloads: list[bytes], out: list[Event], *, strict: bool) -> None:
        feed = self.assembler.feed_into
        keep = self.raw.payloads.append
        for payload in payloads:
            if payload == DONE_DATA:
                self._done(out)
                return
            try:
                chunk = load_payload(payload)
            except (ValueError, RecursionError):
                if not strict or not payload.strip():
                    continue
                self._fail(f"the gateway sent an event that is not JSON: {payload[:60]!r}", out)
                return
            if chunk.__class__ is dict and "error" in chunk and reported_error(chunk) is not None:
                message, code, _ = error_parts(payload, secret=self._secret)
                shown = short_code(code)
                where = f" (code {shown})" if shown else ""
                self._fail(
                    f"the gateway reported an error mid-stream{where}: {message or 'no message'}",
                    out,
                    code=code,
                )
                return
            keep(payload)
            feed(chunk, out)
            if chunk.__class__ is dict and chunk.get("usage") and self._all_finished():
                self._done(out)  # a finish with usage: the answer is whole even without [DONE]
                return

    def _all_finished(self) -> bool:
        choices = self.reply.choices
        return len(choices) >= self.requested_choices and all(c.finish_reason for c in choices)

    # -- the end of reading ------------------------------------------------------------------

    def drain_wait(self, now: float) -> float:
        """In DONE: seconds the loop may still wait for the body's end; 0 means close now."""
        if self.state is not _DONE:
            return 0.0
        if self._drain_until is None:
            self._drain_until = now + self.drain_seconds
        if self._drained > DRAIN_BYTES:
            return 0.0
        return max(0.0, self._drain_until - now)

    def end(self) -> list[Event]:
        """The body ended (or the loop closed it after DONE)."""
        out: list[Event] = []
        if self.state is _RECEIVING:
            try:
                last = self.decoder.close()
            except ValueError:
                last = []
            self._payloads([e.data for e in last], out, strict=False)
            if self.state is _RECEIVING:
                out.extend(self.assembler.finish())
        if self.state is _RECEIVING or self.state is _DONE:
            self.state = StreamState.CLOSED
        self.events += out
        return out

    def broke(self, how: str) -> list[Event]:
        """The connection broke, or its bytes could not be decoded (`how` says which, e.g.
        "the connection broke (RemoteProtocolError)")."""
        return self._lost(how)

    def timed_out(self) -> list[Event]:
        """No byte came for `idle_timeout` seconds."""
        return self._lost(f"no data for {self.idle_timeout:g} s (idle_timeout)")

    def _lost(self, message: str) -> list[Event]:
        out: list[Event] = []
        if self.state is _RECEIVING:
            try:  # a [DONE] without its blank line is still an ending
                last = self.decoder.close()
            except ValueError:
                last = []
            if any(e.data == DONE_DATA for e in last):
                self._payloads([e.data for e in last], out, strict=False)
            else:
                self._fail(message, out)
        if self.state is _DONE:
            self.state = StreamState.CLOSED
        self.events += out
        return out

    def interrupted(self) -> list[Event]:
        """The reader stopped: the events this flushes (held-back text), also recorded.

        An answer that had finished (DONE) is not marked: it just closes.
        """
        out: list[Event] = []
        if self.state is _RECEIVING:
            out = self.assembler.finish(cut=True)
            self.reply.interrupted = True
            self.reply.truncated = False
            self.state = StreamState.INTERRUPTED
            self.events += out
        elif self.state is _DONE:
            self.state = StreamState.CLOSED
        return out

    def failed_to_start(self, error: GeminiError) -> None:
        """The request failed before any byte of the answer: the empty reply says how."""
        if self.state is _RECEIVING:
            self.reply.error = self.error = error
            self.state = StreamState.FAILED

    def whole(self, raw: bytes) -> list[Event]:
        """The gateway ignored ``stream: true`` and sent one completion: fold it in."""
        if self.state is not _RECEIVING:
            return []
        out: list[Event] = []
        try:
            obj = parse_json(raw, "body")
        except GeminiError as exc:
            self.failed_to_start(exc)
            return out
        if reported_error(obj) is not None:
            self.failed_to_start(completion_error(obj, secret=self._secret))
            return out
        self.assembler.feed_into(obj, out)
        out.extend(self.assembler.finish(streamed=False))
        self.reply.raw = obj
        self.state = StreamState.CLOSED
        self.events += out
        return out

    def _done(self, out: list[Event]) -> None:
        out.extend(self.assembler.finish())
        self.state = _DONE

    def _fail(self, message: str, out: list[Event], *, code: str | int | None = None) -> None:
        out.extend(self.assembler.finish(cut=True))
        self.error = StreamError(sentence(f"Stream failed: {message}"), reply=self.reply, code=code)
        self.reply.error = self.error
        self.state = StreamState.FAILED
