"""Streams over real loopback sockets: endings after [DONE], replay, redirects, errors the
gateway reports, and what httpx raises never escaping the GeminiError tree."""

from __future__ import annotations

import asyncio
import builtins
import gzip
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

import ipygemini
from conftest import client_for
from ipygemini import (
    AsyncClient,
    AttachmentError,
    Client,
    GeminiError,
    InsecureURLError,
    MissingKeyError,
    OptionError,
    RedirectError,
    ServerError,
    Settings,
    StreamError,
)
from ipygemini._png import solid_png
from ipygemini.client import StreamState
from ipygemini.testing import FakeGateway, answer_for

KEY = "sk-wire-DISTINCTIVE-7c1d"
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)


@pytest.fixture
def client(gw: FakeGateway) -> Iterator[Client]:
    with client_for(gw, idle_timeout=5.0, sleep=lambda s: None) as c:
        yield c


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def last_answer(gw: FakeGateway) -> str:
    return answer_for(gw.requests[-1].body)


# --- nothing after [DONE] can fail an answer (items 1 and 16) ----------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        "silent_after_done seconds=60",
        "close_after_done",
        "junk_after_done",
        "junk_after_done same_write=1",
    ],
)
def test_a_finished_answer_is_never_failed_by_what_follows_done(
    client: Client, gw: FakeGateway, fault: str
) -> None:
    with client.stream(f"[fake:{fault}] hello") as s:
        reply = s.until_done()
    assert reply.status == "complete" and reply.error is None
    assert reply.text == last_answer(gw) and s.state is StreamState.CLOSED
    assert client.chat("next one").status == "complete"  # a fresh connection if need be


@pytest.mark.parametrize(
    "fault", ["silent_after_done seconds=60", "close_after_done", "junk_after_done same_write=1"]
)
def test_async_a_finished_answer_is_never_failed_by_what_follows_done(
    gw: FakeGateway, fault: str
) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY, idle_timeout=5.0) as c:
            async with c.stream(f"[fake:{fault}] hello") as s:
                reply = await s.until_done()
            assert reply.status == "complete" and reply.text == last_answer(gw)
            assert (await c.chat("next one")).status == "complete"

    run(main())


def test_async_streams_reuse_one_connection(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            await c.chat("warm up")
            before = gw.connections
            for i in range(5):
                async with c.stream(f"request {i}") as s:
                    await s.until_done()
            assert gw.connections == before

    gw.clear()
    run(main())


# --- replay, and until_done after a partial loop (item 2) ---------------------------------------


def test_a_finished_stream_replays_its_events(client: Client) -> None:
    with client.stream("[fake:chunk_chars=5] replay me") as s:
        first = list(s)
        second = list(s)
        assert s.until_done() is s.reply
    assert first == second and len(first) > 3
    assert list(s) == first  # after the block as well
    assert "".join(s.text_deltas()) == s.reply.text


def test_until_done_after_a_partial_loop_reads_the_rest(client: Client, gw: FakeGateway) -> None:
    with client.stream("[fake:chunk_chars=3] a partial loop") as s:
        for event in s:
            if event.type == "text":
                break
        reply = s.until_done()
        events = list(s)
    assert reply.status == "complete" and reply.text == last_answer(gw)
    assert "".join(e.text for e in events if e.type == "text") == reply.text


def test_async_replay_and_until_done_after_a_partial_loop(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            async with c.stream("[fake:chunk_chars=3] a partial loop") as s:
                async for event in s:
                    if event.type == "text":
                        break
                reply = await s.until_done()
                again = [e async for e in s]
                deltas = [t async for t in s.text_deltas()]
            assert reply.status == "complete" and reply.text == last_answer(gw)
            assert (
                "".join(deltas) == reply.text == "".join(e.text for e in again if e.type == "text")
            )

    run(main())


def test_a_failed_stream_raises_its_error_again_on_replay(client: Client) -> None:
    s = client.stream("[fake:error_event after=2] hi")
    with pytest.raises(StreamError) as first, s:
        list(s)
    with pytest.raises(StreamError) as second:
        list(s)
    assert second.value is first.value


def test_interrupted_returns_the_events_not_yet_shown(client: Client) -> None:
    shown: list[Any] = []
    with client.stream(
        "[fake:slow reasoning_shape=think_tags chunk_chars=3] ponder", thinking=True
    ) as s:
        for event in s:
            shown.append(event)
            if len(shown) == 4:
                break
        rest = s.interrupted()
    everything = shown + rest
    assert s.reply.status == "interrupted" and s.interrupted() == []
    assert "".join(e.text for e in everything if e.type == "text") == s.reply.text
    assert "".join(e.text for e in everything if e.type == "reasoning") == s.reply.reasoning


def test_async_interrupted_returns_the_events_not_yet_shown(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            s = c.stream("[fake:slow chunk_chars=3] cancel me")
            shown: list[Any] = []
            async with s:
                async for event in s:
                    shown.append(event)
                    if len(shown) == 3:
                        break
                rest = await s.interrupted()
            assert s.reply.status == "interrupted"
            assert "".join(e.text for e in shown + rest if e.type == "text") == s.reply.text

    run(main())


# --- "error": null, error events (items 3 and 17) ------------------------------------------------


def test_error_null_is_complete_streamed_and_not(client: Client, gw: FakeGateway) -> None:
    with client.stream("[fake:error_null] hi") as s:
        assert s.until_done().status == "complete"
    assert client.chat("[fake:error_null] hi").status == "complete"


@pytest.mark.parametrize(("code", "shown"), [("429", "429"), ("overloaded", "overloaded")])
def test_an_error_event_says_what_the_gateway_said(client: Client, code: str, shown: str) -> None:
    with (
        pytest.raises(StreamError) as info,
        client.stream(f"[fake:error_event code={code}] hi") as s,
    ):
        s.until_done()
    message = str(info.value)
    assert message.startswith(
        f"Stream failed: the gateway reported an error mid-stream (code {shown}):"
    )
    assert "HTTP 500" not in message and "\n" not in message
    assert str(info.value.code) == shown and info.value.reply is s.reply


# --- redirects (item 4) --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_names_the_new_address_and_the_key_stays_home(
    gw: FakeGateway, status: int
) -> None:
    with FakeGateway(api_key=KEY) as elsewhere:
        target = elsewhere.base_url + "/chat/completions"
        following = httpx.Client(follow_redirects=True)
        for http_client in (None, following):
            with Client(base_url=gw.base_url, api_key=KEY, http_client=http_client) as c:
                for call in (lambda: c.chat("hi"), lambda: c.stream("hi").until_done()):
                    gw.push_fault("redirect", code=status, location=target)
                    with pytest.raises(RedirectError) as info:
                        call()
                    error = info.value
                    assert error.status_code == status and error.location == target
                    assert f"HTTP {status}" in str(error) and "GEMINI_BASE_URL" in str(error)
                    assert elsewhere.base_url + "/" in str(error) and KEY not in str(error)
        following.close()
        assert elsewhere.requests == []


def test_async_redirect(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            gw.push_fault(
                "redirect", code=308, location="https://moved.example/v1/chat/completions"
            )
            with pytest.raises(RedirectError, match=r"https://moved\.example/v1/"):
                await c.chat("hi")

    run(main())


# --- http_client ownership (item 13) -------------------------------------------------------------


def test_a_given_http_client_is_not_closed(gw: FakeGateway) -> None:
    mine = httpx.Client()
    with Client(base_url=gw.base_url, api_key=KEY, http_client=mine) as c:
        c.chat("hi")
    assert not mine.is_closed
    mine.close()

    async def main() -> None:
        theirs = httpx.AsyncClient()
        async with AsyncClient(base_url=gw.base_url, api_key=KEY, http_client=theirs) as c:
            await c.chat("hi")
        assert not theirs.is_closed
        await theirs.aclose()
        own = AsyncClient(base_url=gw.base_url, api_key=KEY)
        await own.aclose()
        assert own._http.is_closed

    run(main())


# --- built-in exceptions, AttachmentError, OptionError (item 14) -----------------------------------


def test_a_refused_port_is_a_builtin_connection_error() -> None:
    with FakeGateway(api_key=KEY) as gone:
        url = gone.base_url
    with Client(base_url=url, api_key=KEY, max_retries=0) as c:
        with pytest.raises(builtins.ConnectionError):
            c.chat("anyone?")

    async def main() -> None:
        async with AsyncClient(base_url=url, api_key=KEY, max_retries=0) as c:
            s = c.stream("anyone?")
            with pytest.raises(builtins.ConnectionError):
                async with s:
                    await s.until_done()
            assert s.state is StreamState.FAILED and s.reply.status == "failed"

    run(main())


@contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def test_a_stalled_gateway_is_a_builtin_timeout_error() -> None:
    with silent_server() as url, Client(base_url=url, api_key=KEY, timeout=0.2, max_retries=0) as c:
        with pytest.raises(builtins.TimeoutError):
            c.chat("anyone?")

    async def main() -> None:
        async with AsyncClient(base_url=url, api_key=KEY, timeout=0.2, max_retries=0) as c:
            with pytest.raises(builtins.TimeoutError):
                await c.chat("anyone?")

    with silent_server() as url:
        run(main())


def test_attachment_error_is_exported_and_in_the_tree(client: Client, gw: FakeGateway) -> None:
    assert ipygemini.AttachmentError is AttachmentError and issubclass(AttachmentError, GeminiError)
    with pytest.raises(AttachmentError):
        client.chat("describe", attachments=[object()])
    assert gw.requests == []


def test_option_errors(gw: FakeGateway) -> None:
    with Client(base_url=gw.base_url, api_key=KEY) as c:
        with pytest.raises(OptionError, match="at least one text"):
            c.embed([])
        with pytest.raises(OptionError, match="attachments go with a prompt string"):
            c.chat([{"role": "user", "content": "hi"}], attachments=["x.png"])
    with pytest.raises(OptionError, match="unknown setting"):
        Client(base_url=gw.base_url, api_key=KEY, colour="red")  # type: ignore[call-arg]
    with pytest.raises(OptionError, match="HTTP header"):
        Client(base_url=gw.base_url, api_key="sk-ключ-1234567")
    with pytest.raises(InsecureURLError, match="base_url"):
        Client(base_url="http://[::1/v1", api_key=KEY)


# --- settings ------------------------------------------------------------------------------------


def test_settings_and_options(gw: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(api_key=KEY, base_url=gw.base_url, model="gemini-2.5-pro", max_retries=0)
    with Client(settings, model="gemini-2.5-flash") as c:
        assert c.settings.model == "gemini-2.5-flash" and c.settings.max_retries == 0
        assert c.settings.base_url == gw.base_url + "/"
    with Client(settings) as c:
        assert c.settings is settings
    for name in ("GEMINI_API_KEY", "GEMINI_BASE_URL", "GEMINI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingKeyError):
        Client()
    offline = ipygemini.connect()
    try:
        assert offline.settings.offline and offline.chat("hello").status == "complete"
    finally:
        offline.close()


def test_retry_waits_go_through_the_injected_sleep(gw: FakeGateway) -> None:
    slept: list[float] = []
    with Client(base_url=gw.base_url, api_key=KEY, sleep=slept.append) as c:
        gw.push_fault("rate_limit", retry_after=3)
        assert c.chat("retry me").status == "complete"
    assert slept == [3.0]

    async def main() -> None:
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        async with AsyncClient(base_url=gw.base_url, api_key=KEY, sleep=record) as c:
            gw.push_fault("rate_limit", retry_after_ms=250)
            assert (await c.chat("retry me")).status == "complete"
        assert waits == [0.25]

    run(main())


# --- the event loop stays free while attachments are read (item 15) ---------------------------------


def test_async_attachments_are_built_off_the_event_loop(gw: FakeGateway) -> None:
    released = threading.Event()

    class Inches:
        def __mul__(self, dpi: float) -> tuple[float, float]:
            return (4.0, 3.0)

    class Figure:
        """Looks like a matplotlib figure; rendering waits until another task has run."""

        __module__ = "matplotlib.figure"

        def get_size_inches(self) -> Any:
            return Inches()

        def savefig(self, buffer: Any, **options: Any) -> None:
            if not released.wait(10):
                raise RuntimeError("the event loop was blocked while rendering the figure")
            buffer.write(solid_png(4, 3, (200, 10, 10)))

    async def release() -> None:
        released.set()

    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            for ask in ("chat", "stream"):
                released.clear()
                other = asyncio.create_task(release())
                if ask == "chat":
                    reply = await c.chat("describe", attachments=[Figure()])
                else:
                    async with c.stream("describe", attachments=[Figure()]) as s:
                        reply = await s.until_done()
                await other
                assert reply.status == "complete"
                assert gw.requests[-1].attachments[0].image_size == (4, 3)

    gw.clear()
    run(main())


# --- what httpx raises stays inside the tree (item 2) ---------------------------------------------


@contextmanager
def one_answer_server(head: bytes, body: bytes) -> Iterator[str]:
    """Answers every request with `head` + `body` and closes (a gateway FakeGateway cannot be)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(
                    head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        listener.close()
        thread.join(5)


def test_an_undecodable_body_is_a_gemini_error() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
    with one_answer_server(head + b"Content-Type: application/json\r\n", b"not gzip") as url:
        with Client(base_url=url, api_key=KEY, max_retries=0) as c:
            with pytest.raises(ServerError, match="cannot be decoded"):
                c.chat("hi")
    with one_answer_server(head + b"Content-Type: text/event-stream\r\n", b"not gzip") as url:
        with Client(base_url=url, api_key=KEY, max_retries=0) as c:
            with pytest.raises(StreamError, match="could not be decoded"):
                c.stream("hi").until_done()


def test_the_gateway_kind_is_learned_from_every_response() -> None:
    completion = gzip.decompress(
        gzip.compress(b'{"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}')
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-litellm-version: 1.0\r\n"
    with one_answer_server(head, completion) as url, Client(base_url=url, api_key=KEY) as c:
        assert c._core.memory.kind is None
        assert c.chat("hi").text == "ok"
        assert c._core.memory.kind == "litellm"


def test_a_closed_client_and_an_unsendable_body_are_gemini_errors(gw: FakeGateway) -> None:
    c = Client(base_url=gw.base_url, api_key=KEY)
    with pytest.raises(OptionError, match="cannot be sent as JSON"):
        c.chat("hi", extra_body={"seed": object()})
    c.close()
    with pytest.raises(GeminiError, match="client is closed"):
        c.chat("hi")


def test_async_stream_has_the_surface_of_stream() -> None:
    def public(cls: type) -> set[str]:
        return {name.removeprefix("a") for name in dir(cls) if not name.startswith("_")}

    assert public(ipygemini.AsyncStream) == public(ipygemini.Stream)
    assert public(ipygemini.AsyncClient) == public(ipygemini.Client)
