"""Incremental server-sent-events decoder: bytes in, events out, no I/O.

Lines may end in LF, CRLF or CR and may be split at any byte, including between CR and LF.
A line that arrives in many pieces is joined once, so a many-MB event costs linear time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SSEDecoder", "ServerSentEvent"]


@dataclass(slots=True)
class ServerSentEvent:
    data: bytes
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed it byte chunks with `feed`; call `close` at end of input for a final unterminated event."""

    __slots__ = (
        "_data",
        "_data_size",
        "_end_data",
        "_ended",
        "_event",
        "_fragments",
        "_id",
        "_line_size",
        "_max_event_bytes",
        "_skip_lf",
    )

    def __init__(
        self, *, max_event_bytes: int = 64 * 1024 * 1024, end_data: bytes | None = None
    ) -> None:
        """`end_data`: the data of an event that ends the stream (the chat protocol's
        ``[DONE]``). That event is returned; nothing after it is decoded, in the same chunk or
        later, so what follows it cannot matter however the bytes were split."""
        self._end_data = end_data
        self._ended = False
        self._fragments: list[bytes] = []  # pieces of an unterminated line
        self._data: list[bytes] = []  # data: lines of the event being built
        self._event = ""
        self._id: str | None = None
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._line_size = 0  # bytes held in _fragments
        self._data_size = 0  # bytes held in _data
        self._max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by `chunk`, in order."""
        events: list[ServerSentEvent] = self._feed(chunk, False)
        return events

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """Just the data of the events completed by `chunk` (event names and ids dropped).

        The chat stream needs nothing else, and skipping the event objects is measurably
        cheaper on its hot path.
        """
        payloads: list[bytes] = self._feed(chunk, True)
        return payloads

    def _feed(self, chunk: bytes, data_only: bool) -> list[Any]:
        if not chunk or self._ended:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        fragments = self._fragments
        if fragments:
            if b"\n" not in chunk and b"\r" not in chunk:
                self._hold(chunk)  # still inside one long line
                return []
            fragments.append(chunk)
            text = b"".join(fragments)  # each long line is joined exactly once
            fragments.clear()
            self._line_size = 0
        else:
            text = chunk
        end = text[-1]
        if end == 10 or end == 13:  # \n or \r: every line is complete
            self._skip_lf = end == 13
            lines = text.splitlines()
            rest = b""
        else:
            cut = text.rfind(b"\n")
            if b"\r" in text:
                cut = max(cut, text.rfind(b"\r"))
            if cut == -1:
                self._hold(text)
                return []
            lines = text[: cut + 1].splitlines()
            rest = text[cut + 1 :]
        events: list[Any] = []
        data = self._data
        end_data = self._end_data
        for line in lines:
            if not line:
                if len(data) == 1 and (data_only or not self._event):  # the common case
                    payload = data.pop()
                    events.append(
                        payload if data_only else ServerSentEvent(payload, "message", self._id)
                    )
                    self._data_size = 0
                    self._event = ""  # the event name never outlives its event
                    if payload == end_data:
                        self._ended = True
                        return events
                elif data:
                    event = self._dispatch()
                    events.append(event.data if data_only else event)
                    if event.data == end_data:
                        self._ended = True
                        return events
                else:
                    self._event = ""  # an event with no data is not dispatched (SSE spec)
            elif line[:6] == b"data: ":
                data.append(line[6:])
                self._data_size += len(line) - 6
                if self._data_size > self._max_event_bytes:
                    self._overflow()
            else:
                self._line(line)
        if rest:
            self._hold(rest)  # after the lines: an over-long tail cannot hide an ending before it
        return events

    def _hold(self, piece: bytes) -> None:
        self._line_size += len(piece)
        if self._line_size + self._data_size > self._max_event_bytes:
            self._overflow()
        self._fragments.append(piece)

    def close(self) -> list[ServerSentEvent]:
        """End of input: a trailing line without terminator still counts, as does an open event."""
        if self._ended:
            return []
        if self._fragments:
            line = b"".join(self._fragments)
            self._fragments.clear()
            self._line_size = 0
            self._line(line)
        self._skip_lf = False
        if self._data:
            return [self._dispatch()]
        return []

    def _overflow(self) -> None:
        limit = self._max_event_bytes
        self._fragments.clear()
        self._data.clear()
        self._line_size = self._data_size = 0
        raise ValueError(f"a server-sent event exceeded the {limit:,}-byte limit (max_event_bytes)")

    def _line(self, line: bytes) -> None:
        if line[:5] == b"data:":
            value = line[5:]
            if value[:1] == b" ":
                value = value[1:]
            self._data.append(value)
            self._data_size += len(value)
            if self._data_size > self._max_event_bytes:
                self._overflow()
            return
        if line[:1] == b":":
            return  # comment / keep-alive
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        # "retry" and unknown fields are ignored, as the SSE spec says

    def _dispatch(self) -> ServerSentEvent:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = ServerSentEvent(data, self._event or "message", self._id)
        self._data.clear()
        self._event = ""
        self._data_size = 0
        return event
