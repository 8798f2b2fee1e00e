"""SSEDecoder: framing, line endings split at any byte, limits, and linear-time joining."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import split_at
from ipygemini.client._sse import ServerSentEvent, SSEDecoder

FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def decode(*chunks: bytes, max_event_bytes: int = 64 * 1024 * 1024) -> list[ServerSentEvent]:
    dec = SSEDecoder(max_event_bytes=max_event_bytes)
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    out.extend(dec.close())
    return out


def datas(events: list[ServerSentEvent]) -> list[bytes]:
    return [e.data for e in events]


# --- framing --------------------------------------------------------------------------------


def test_single_event_defaults() -> None:
    (ev,) = decode(b'data: {"a":1}\n\n')
    assert ev == ServerSentEvent(b'{"a":1}', "message", None)


def test_feed_returns_events_as_soon_as_they_end() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: one\n") == []
    assert datas(dec.feed(b"\ndata: two\n\n")) == [b"one", b"two"]
    assert dec.close() == []


def test_multi_line_data_is_joined_with_lf() -> None:
    assert datas(decode(b"data: a\ndata: b\ndata:\ndata: c\n\n")) == [b"a\nb\n\nc"]


def test_only_one_leading_space_is_stripped() -> None:
    assert datas(decode(b"data:x\n\ndata:  two\n\n")) == [b"x", b" two"]


def test_empty_data_line_dispatches_an_empty_event() -> None:
    assert datas(decode(b"data:\n\n")) == [b""]


def test_comments_and_keepalives_are_skipped() -> None:
    stream = b": OPENROUTER PROCESSING\n\n: PING\n\ndata: x\n: in between\ndata: y\n\n"
    assert datas(decode(stream)) == [b"x\ny"]


def test_event_field_and_reset_after_dispatch() -> None:
    events = decode(b"event: error\ndata: e\n\ndata: m\n\n")
    assert [(e.event, e.data) for e in events] == [("error", b"e"), ("message", b"m")]


def test_event_without_data_is_not_dispatched_and_its_type_is_forgotten() -> None:
    events = decode(b"event: ping\n\ndata: m\n\n")
    assert [(e.event, e.data) for e in events] == [("message", b"m")]


def test_id_persists_and_nul_id_is_ignored() -> None:
    events = decode(b"id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid:\ndata: d\n\n")
    assert [e.id for e in events] == ["7", "7", "7", ""]


def test_retry_and_unknown_fields_are_ignored() -> None:
    assert datas(decode(b"retry: 1000\nfoo: bar\nnocolon\ndata: x\n\n")) == [b"x"]


def test_done_sentinel_is_plain_data() -> None:
    assert datas(decode(b"data: {}\n\ndata: [DONE]\n\n")) == [b"{}", b"[DONE]"]


def test_non_utf8_field_values_are_replaced_not_raised() -> None:
    (ev,) = decode(b"event: \xff\xfe\ndata: \xff\n\n")
    assert ev.event == "\ufffd\ufffd"
    assert ev.data == b"\xff"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol: bytes) -> None:
    stream = b"data: a" + eol + b"data: b" + eol + eol + b"event: x" + eol + b"data: c" + eol + eol
    events = decode(stream)
    assert [(e.event, e.data) for e in events] == [("message", b"a\nb"), ("x", b"c")]


def test_crlf_split_between_cr_and_lf() -> None:
    assert datas(decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n")) == [b"a", b"b"]


def test_lone_lf_chunk_after_cr_is_swallowed() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\n") == []  # the LF of the CRLF, not a blank line
    assert datas(dec.feed(b"\r\n")) == [b"a"]


def test_cr_cr_is_a_blank_line() -> None:
    assert datas(decode(b"data: a\r", b"\r", b"data: b\r\r")) == [b"a", b"b"]


def test_empty_chunks_are_harmless() -> None:
    assert datas(decode(b"", b"data: a", b"", b"\n\n", b"")) == [b"a"]


def test_partial_line_after_complete_lines_in_one_chunk() -> None:
    # Regression: the unterminated tail of a chunk was glued in front of the chunk's first line.
    dec = SSEDecoder()
    assert datas(dec.feed(b"data: a\n\ndata: b")) == [b"a"]
    assert datas(dec.feed(b"c\n\ndata: d")) == [b"bc"]
    assert datas(dec.feed(b"\n\n")) == [b"d"]


# --- close() --------------------------------------------------------------------------------


def test_close_flushes_unterminated_final_line() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n\ndata: tail") == [ServerSentEvent(b"a")]
    assert datas(dec.close()) == [b"tail"]
    assert dec.close() == []


def test_close_flushes_event_missing_blank_line() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: x\ndata: y\n") == []
    assert datas(dec.close()) == [b"x\ny"]


def test_close_with_nothing_pending() -> None:
    dec = SSEDecoder()
    assert dec.close() == []
    dec.feed(b": comment only\n")
    assert dec.close() == []


def test_close_after_trailing_cr_resets_lf_skipping() -> None:
    dec = SSEDecoder()
    assert datas(dec.feed(b"data: a\r\r")) == [b"a"]
    assert dec.close() == []
    assert datas(dec.feed(b"\ndata: b\n\n")) == [b"b"]


# --- limits ---------------------------------------------------------------------------------


def test_oversize_single_line_raises_value_error() -> None:
    dec = SSEDecoder(max_event_bytes=10)
    with pytest.raises(ValueError, match=r"10-byte limit \(max_event_bytes\)"):
        dec.feed(b"data: 0123456789A\n\n")


def test_oversize_line_in_pieces_raises_before_the_line_ends() -> None:
    dec = SSEDecoder(max_event_bytes=32)
    dec.feed(b"data: " + b"x" * 20)
    with pytest.raises(ValueError, match="max_event_bytes"):
        dec.feed(b"y" * 20)


def test_oversize_across_data_lines_raises() -> None:
    dec = SSEDecoder(max_event_bytes=10)
    dec.feed(b"data: 123456\n")
    with pytest.raises(ValueError):
        dec.feed(b"data: 123456\n")


def test_limit_is_per_event_not_per_stream() -> None:
    # Regression: the previous event's size was counted against the next event's first piece.
    chunks = [b"data: 0123456789", b"\n\ndata: abcdef", b"ghij\n\n"]
    assert datas(decode(*chunks, max_event_bytes=20)) == [b"0123456789", b"abcdefghij"]
    assert datas(decode(b"".join(chunks), max_event_bytes=20)) == [b"0123456789", b"abcdefghij"]


def test_exactly_at_the_limit_is_fine() -> None:
    assert datas(decode(b"data: " + b"z" * 16 + b"\n\n", max_event_bytes=16)) == [b"z" * 16]


def test_decoder_is_usable_after_an_overflow() -> None:
    dec = SSEDecoder(max_event_bytes=8)
    with pytest.raises(ValueError):
        dec.feed(b"data: 0123456789\n")
    assert datas(dec.feed(b"\ndata: ok\n\n")) == [b"ok"]


class CountingList(list[bytes]):
    """A fragment list that counts how often it is emptied (once per join of a line)."""

    def __init__(self) -> None:
        super().__init__()
        self.clears = 0

    def clear(self) -> None:
        self.clears += 1
        super().clear()


def test_huge_line_in_small_pieces_is_joined_once() -> None:
    size, piece = 20 * 1024 * 1024, 4096
    payload = b"data: " + b"A" * size
    dec = SSEDecoder()
    fragments = CountingList()
    dec._fragments = fragments  # type: ignore[misc]
    pieces = [payload[i : i + piece] for i in range(0, len(payload), piece)]
    for p in pieces:
        assert dec.feed(p) == []
    # every piece is stored as it came: nothing is re-concatenated while the line grows
    assert len(fragments) == len(pieces)
    assert fragments.clears == 0
    assert sum(map(len, fragments)) == len(payload)
    (event,) = dec.feed(b"\n\n")
    assert fragments.clears == 1  # one join for the whole line
    assert len(event.data) == size
    assert event.data[:1] == b"A" and event.data[-1:] == b"A"
    assert len(fragments) == 0


# --- properties -----------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)),
    max_size=20,
)


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[list[str], list[tuple[bytes, str, str | None]]]:
    """Lines of a stream (without terminators) and the events it must decode to."""
    lines: list[str] = []
    expected: list[tuple[bytes, str, str | None]] = []
    last_id: str | None = None
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            lines.append(":" + draw(_text))
        event = draw(st.one_of(st.none(), _text))
        if event is not None:
            lines.append(f"event: {event}")
        if draw(st.booleans()):
            last_id = draw(_text)
            lines.append(f"id: {last_id}")
        data = draw(st.lists(_text, min_size=1, max_size=4))
        lines.extend(f"data: {d}" for d in data)
        lines.append("")
        expected.append(("\n".join(data).encode(), event or "message", last_id))
    return lines, expected


@FAST
@given(
    sse_streams(),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.lists(st.integers(0, 10_000), max_size=30),
    st.booleans(),
)
def test_rechunking_yields_identical_events(
    stream: tuple[list[str], list[tuple[bytes, str, str | None]]],
    eol: bytes,
    cuts: list[int],
    unterminated: bool,
) -> None:
    lines, expected = stream
    blob = b"".join(line.encode() + eol for line in lines)
    if unterminated and expected:
        blob = blob[: -2 * len(eol)]  # drop the last data line's terminator and the blank line
    whole = decode(blob)
    assert [(e.data, e.event, e.id) for e in whole] == expected
    assert decode(*split_at(blob, cuts)) == whole
    assert decode(*(blob[i : i + 1] for i in range(len(blob)))) == whole


_sse_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [
                b"data:",
                b"data: x",
                b"event: e",
                b"id: 1",
                b":",
                b"\r",
                b"\n",
                b"\0",
                b"\xff",
                b"y" * 40,
            ]
        ),
        max_size=60,
    ).map(b"".join),
)


@FAST
@given(_sse_bytes, st.lists(st.integers(0, 1000), max_size=20), st.integers(1, 128))
def test_arbitrary_bytes_only_raise_the_documented_value_error(
    blob: bytes, cuts: list[int], limit: int
) -> None:
    dec = SSEDecoder(max_event_bytes=limit)
    for chunk in split_at(blob, cuts):
        try:
            events = dec.feed(chunk)
        except ValueError as exc:
            assert "max_event_bytes" in str(exc)
            continue
        for ev in events:
            assert isinstance(ev.data, bytes) and isinstance(ev.event, str)
            assert ev.event and "\n" not in ev.event
    for ev in dec.close():
        assert isinstance(ev.data, bytes)


def test_feed_data_gives_the_data_of_the_same_events() -> None:
    body = b"event: x\ndata: a\ndata: b\n\n: c\r\ndata: [DONE]\r\n\r\nid: 7\ndata: {}\n\n"
    for size in (1, 3, len(body)):
        full, bare = SSEDecoder(), SSEDecoder()
        events, payloads = [], []
        for i in range(0, len(body), size):
            events += full.feed(body[i : i + size])
            payloads += bare.feed_data(body[i : i + size])
        assert payloads == [e.data for e in events] == [b"a\nb", b"[DONE]", b"{}"]


def test_data_only_fast_path_forgets_the_event_name_after_dispatch() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_data(b"event: custom\ndata: first\n\n") == [b"first"]
    [event] = decoder.feed(b"data: second\n\n")
    assert event.event == "message" and event.data == b"second"


def test_end_data_stops_decoding_in_the_same_chunk_and_later() -> None:
    decoder = SSEDecoder(max_event_bytes=1024, end_data=b"[DONE]")
    over_the_limit = b"data: " + b"x" * 4096
    assert decoder.feed_data(b"data: a\n\ndata: [DONE]\n\ndata: b\n\n" + over_the_limit) == [
        b"a",
        b"[DONE]",
    ]
    assert decoder.feed_data(b"data: c\n\n") == [] and decoder.close() == []
