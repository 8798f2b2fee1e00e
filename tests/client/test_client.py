"""Client and AsyncClient against FakeGateway over real loopback sockets."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest

import ipygemini
from conftest import client_for
from ipygemini import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConnectionError,
    InsecureURLError,
    MissingKeyError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
)
from ipygemini._png import solid_png
from ipygemini.testing import FakeGateway, answer_for
from kernel_driver import last_body

KEY = "sk-test-DISTINCTIVE-9f3b2c"
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)


@pytest.fixture
def slept() -> list[float]:
    """Retry waits the `client` fixture was asked to sleep (recorded, never slept)."""
    return []


@pytest.fixture
def client(gw: FakeGateway, slept: list[float]) -> Any:
    with client_for(gw, backoff=0.0, sleep=slept.append) as c:
        yield c


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- configuration ---------------------------------------------------------------------------


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, gw: FakeGateway) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_BASE_URL", gw.base_url)
    monkeypatch.setenv("GEMINI_MODEL", "gemini-2.5-pro")
    with Client() as c:
        assert c.base_url == gw.base_url + "/"
        assert c.model == "gemini-2.5-pro"
        assert c.chat("hi").model == "gemini-2.5-pro"


def test_default_base_url_is_googles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_BASE_URL", raising=False)
    monkeypatch.delenv("GEMINI_MODEL", raising=False)
    c = Client(api_key=KEY)
    assert c.base_url == "https://generativelanguage.googleapis.com/v1beta/openai/"
    assert c.model == "gemini-2.5-flash"


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(MissingKeyError) as info:
        Client(base_url="https://fast-token.com/v1")
    message = str(info.value)
    assert "GEMINI_API_KEY" in message and "\n" not in message
    assert "notebook" in message


def test_plain_http_to_remote_host_is_refused() -> None:
    with pytest.raises(InsecureURLError, match="allow_insecure"):
        Client(base_url="http://gateway.example/v1", api_key=KEY)
    Client(base_url="http://gateway.example/v1", api_key=KEY, allow_insecure=True)
    Client(base_url="http://127.0.0.1:9/v1", api_key=KEY)
    Client(base_url="http://localhost:9/v1", api_key=KEY)


def test_repr_masks_key(client: Client) -> None:
    text = repr(client)
    assert KEY not in text
    assert "…" + KEY[-4:] in text


# --- chat ------------------------------------------------------------------------------------


def test_chat_answer_matches_gateway(client: Client, gw: FakeGateway) -> None:
    reply = client.chat("Tell me about moons")
    assert reply.text == answer_for(last_body(gw))
    assert reply.finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    assert reply.id and reply.model == client.model
    assert reply.raw["object"] == "chat.completion"
    assert reply.status == "complete"


def test_every_documented_parameter_is_sent(client: Client, gw: FakeGateway) -> None:
    client.chat(
        "hello",
        model="gemini-2.5-pro",
        system="Be brief.",
        temperature=0.5,
        top_p=0.9,
        max_tokens=50,
        frequency_penalty=0.1,
        presence_penalty=-0.1,
        stop=["END"],
        n=1,
        response_format={"type": "text"},
    )
    body = last_body(gw)
    assert body["model"] == "gemini-2.5-pro"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    for key, value in {
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 50,
        "frequency_penalty": 0.1,
        "presence_penalty": -0.1,
        "stop": ["END"],
        "n": 1,
        "response_format": {"type": "text"},
    }.items():
        assert body[key] == value
    assert "stream" not in body


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("temperature", 2.5, "temperature must be between 0 and 2"),
        ("temperature", -0.1, "temperature must be between 0 and 2"),
        ("top_p", 1.5, "top_p must be between 0 and 1"),
        ("frequency_penalty", 3, "frequency_penalty must be between -2 and 2"),
        ("presence_penalty", -2.5, "presence_penalty must be between -2 and 2"),
        ("n", 0, "n must be >= 1"),
        ("max_tokens", 0, "max_tokens must be >= 1"),
    ],
)
def test_out_of_range_is_refused_before_sending(
    client: Client, gw: FakeGateway, option: str, value: Any, words: str
) -> None:
    before = len(gw.requests)
    with pytest.raises(ValueError, match=words):
        client.chat("hi", **{option: value})
    with pytest.raises(ValueError, match=words):
        client.stream("hi", **{option: value})
    assert len(gw.requests) == before


def test_json_mode(client: Client, gw: FakeGateway) -> None:
    reply = client.chat("list three colours", json=True)
    assert last_body(gw)["response_format"] == {"type": "json_object"}
    data = reply.json()
    assert data["prompt"] == "list three colours"


def test_json_error_is_one_line(client: Client) -> None:
    reply = client.chat("plain text please")
    with pytest.raises(ValueError) as info:
        reply.json()
    assert "\n" not in str(info.value) and "not valid JSON" in str(info.value)


def test_n_choices(client: Client, gw: FakeGateway) -> None:
    reply = client.chat("two answers", n=2)
    assert len(reply.choices) == 2
    assert reply.choices[0].text == answer_for(last_body(gw))
    assert reply.choices[1].text.endswith("(choice 2)")
    with client.stream("two answers", n=2) as stream:
        streamed = stream.until_done()
    assert [c.text for c in streamed.choices] == [c.text for c in reply.choices]


def test_max_tokens_and_stop(client: Client, gw: FakeGateway) -> None:
    reply = client.chat("a long story please", max_tokens=5)
    assert reply.finish_reason == "length"
    assert len(reply.text.split()) == 5
    reply = client.chat("stop at offline", stop="Offline")
    assert "Offline" not in reply.text


# --- streaming -------------------------------------------------------------------------------


def test_stream_events_and_reply(client: Client, gw: FakeGateway) -> None:
    with client.stream("stream this") as stream:
        events = list(stream)
        reply = stream.reply
    text = "".join(e.text for e in events if e.type == "text")
    assert text == reply.text == answer_for(last_body(gw))
    kinds = [e.type for e in events]
    assert kinds.count("finish") == 1 and kinds.count("usage") == 1
    assert kinds.index("finish") > kinds.index("text")
    assert reply.finish_reason == "stop" and not reply.truncated and not reply.interrupted
    body = last_body(gw)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_reply_grows_while_streaming(client: Client) -> None:
    seen = []
    with client.stream("[fake:chunk_chars=4] grow") as stream:
        for event in stream:
            if event.type == "text":
                seen.append(len(stream.reply.text))
    assert seen == sorted(seen) and len(seen) > 5


def test_break_closes_connection_and_marks_interrupted(client: Client, gw: FakeGateway) -> None:
    with client.stream("[fake:slow words=400] interrupt me") as stream:
        for event in stream:
            if event.type == "text" and len(stream.reply.text) > 20:
                break
    reply = stream.reply
    assert reply.interrupted and reply.status == "interrupted"
    assert 20 < len(reply.text) < len(answer_for(last_body(gw)))
    assert gw.wait_for_disconnect(5)
    assert client.chat("still works").finish_reason == "stop"


def test_keyboard_interrupt_keeps_partial_reply(client: Client, gw: FakeGateway) -> None:
    stream = client.stream("[fake:slow words=400] interrupt me")
    with pytest.raises(KeyboardInterrupt), stream:
        for event in stream:
            if event.type == "text":
                raise KeyboardInterrupt
    assert stream.reply.interrupted and stream.reply.text
    assert gw.wait_for_disconnect(5)


def test_keepalive_comments_and_event_lines(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("keepalive")
    with client.stream("ping me") as stream:
        reply = stream.until_done()
    assert reply.text == answer_for(last_body(gw))


def test_connection_reused_across_requests(gw: FakeGateway) -> None:
    with Client(base_url=gw.base_url, api_key=KEY) as c:
        c.chat("warm up")
        before = gw.connections
        for i in range(5):
            with c.stream(f"request {i}") as s:
                s.until_done()
        assert gw.connections == before


# --- thinking --------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["google", "reasoning_effort", "enable_thinking", "openrouter"])
def test_thinking_styles_produce_reasoning(gw: FakeGateway, style: str) -> None:
    with Client(base_url=gw.base_url, api_key=KEY, thinking_style=style) as c:
        reply = c.chat("think first", thinking="high")
        body = last_body(gw)
        assert reply.reasoning, body
        with c.stream("think first", thinking=2048) as s:
            streamed = s.until_done()
        assert streamed.reasoning == reply.reasoning
        assert streamed.text == reply.text
    if style == "google":
        config = body["extra_body"]["google"]["thinking_config"]
        assert config == {"thinking_budget": 24576, "include_thoughts": True}
    elif style == "reasoning_effort":
        assert body["reasoning_effort"] == "high"
    elif style == "enable_thinking":
        assert body["extra_body"]["enable_thinking"] is True
    else:
        assert body["reasoning"] == {"effort": "high"}


@pytest.mark.parametrize(
    "shape", ["reasoning_content", "reasoning", "thinking_blocks", "think_tags", "thought_tags"]
)
def test_every_reasoning_shape_is_read(client: Client, shape: str) -> None:
    prompt = f"[fake:reasoning_shape={shape} chunk_chars=3] ponder"
    reply = client.chat(prompt, thinking=True)
    with client.stream(prompt, thinking=True) as s:
        streamed = s.until_done()
    for r in (reply, streamed):
        assert r.reasoning.startswith("Thinking about")
        assert "<think" not in r.text and "<thought" not in r.text
        assert r.text.startswith("**Offline answer**")


def test_extra_body_is_merged(client: Client, gw: FakeGateway) -> None:
    client.chat(
        "hi",
        thinking="low",
        extra_body={"extra_body": {"google": {"cached_content": "c1"}}, "seed": 7},
    )
    body = last_body(gw)
    assert body["seed"] == 7
    assert body["extra_body"]["google"]["cached_content"] == "c1"
    assert body["extra_body"]["google"]["thinking_config"]["thinking_budget"] == 1024


# --- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["markdown", "images", "parts"])
def test_generated_images_every_shape(client: Client, shape: str) -> None:
    prompt = f"[fake:image_shape={shape}] a red square"
    reply = client.chat(prompt, model="gemini-2.5-flash-image")
    with client.stream(prompt, model="gemini-2.5-flash-image") as s:
        events = list(s)
        streamed = s.reply
    for r in (reply, streamed):
        assert len(r.images) == 1
        image = r.images[0]
        assert image.mime_type == "image/png" and image.data and image.data[:4] == b"\x89PNG"
        assert image.size == (64, 48)
        assert "data:image" not in r.text and "![" not in r.text
    assert any(e.type == "image" for e in events)
    assert streamed.images[0].data == reply.images[0].data


def test_image_save_and_reattach_for_editing(
    client: Client, gw: FakeGateway, tmp_path: Any
) -> None:
    reply = client.chat("a blue square", model="gemini-2.5-flash-image")
    path = reply.images[0].save(tmp_path / "out.png")
    assert open(path, "rb").read() == reply.images[0].data
    client.chat("make it red", model="gemini-2.5-flash-image", attachments=[reply])
    received = gw.requests[-1].attachments
    assert len(received) == 1 and received[0].data == reply.images[0].data


def test_big_single_image_event(client: Client) -> None:
    with client.stream("[fake:big_image mb=3] huge", model="gemini-2.5-flash-image") as s:
        reply = s.until_done()
    assert len(reply.images) == 1 and len(reply.images[0].data or b"") > 2_500_000
    assert reply.finish_reason == "stop"


def test_event_over_the_limit_fails_cleanly(gw: FakeGateway) -> None:
    with Client(base_url=gw.base_url, api_key=KEY, max_event_bytes=1_000_000) as c:
        with pytest.raises(StreamError, match="limit") as info:
            with c.stream("[fake:big_image mb=3] huge", model="gemini-2.5-flash-image") as s:
                s.until_done()
        assert info.value.reply is s.reply and s.reply.error is info.value


# --- attachments -----------------------------------------------------------------------------


def test_attachments_arrive_decoded(client: Client, gw: FakeGateway, tmp_path: Any) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    (tmp_path / "report.pdf").write_bytes(pdf)
    png = ipygemini.GeneratedImage.from_url(
        "data:image/png;base64," + base64.b64encode(solid_png(2, 3, (10, 20, 30))).decode()
    )
    url = "https://example.com/cat.jpg?x=1"
    client.chat("describe", attachments=[tmp_path / "report.pdf", png, url])
    received = gw.requests[-1].attachments
    assert [a.kind for a in received] == ["file", "image_url", "image_url"]
    assert received[0].data == pdf and received[0].filename == "report.pdf"
    assert received[0].mime_type == "application/pdf"
    assert received[1].image_size == (2, 3)
    assert received[2].url == url


# --- models and embeddings -------------------------------------------------------------------


def test_models(client: Client) -> None:
    ids = [m.id for m in client.models()]
    assert "gemini-2.5-flash" in ids and "gemini-2.5-flash-image" in ids


def test_models_prefix_stripped() -> None:
    with FakeGateway(api_key=KEY, model_prefix="models/") as gw2:
        with Client(base_url=gw2.base_url, api_key=KEY) as c:
            ids = [m.id for m in c.models()]
    assert ids and not any(i.startswith("models/") for i in ids)


def test_embeddings_order_dims_and_batches(client: Client, gw: FakeGateway) -> None:
    texts = [f"text {i}" for i in range(250)]
    vectors = client.embed(texts, dimensions=16)
    assert len(vectors) == 250 and all(len(v) == 16 for v in vectors)
    batches = [r for r in gw.requests if r.path.endswith("/embeddings")]
    assert [len(r.body["input"]) for r in batches] == [100, 100, 50]
    assert client.embed("text 7", dimensions=16)[0] == vectors[7]


def test_embeddings_index_bug_uses_position(client: Client, gw: FakeGateway) -> None:
    expected = client.embed(["a", "b", "c"])
    gw.push_fault("index_bug")
    assert client.embed(["a", "b", "c"]) == expected


# --- errors and retries ----------------------------------------------------------------------


def test_wrong_key_is_authentication_error(gw: FakeGateway) -> None:
    bad = "sk-wrong-key-123456789"
    with Client(base_url=gw.base_url, api_key=bad) as c:
        with pytest.raises(AuthenticationError) as info:
            c.chat("hi")
    text = str(info.value)
    assert "401" in text and "GEMINI_API_KEY" in text and bad not in text and "\n" not in text


def test_rate_limit_retried_with_retry_after(
    client: Client, gw: FakeGateway, slept: list[float]
) -> None:
    gw.push_fault("rate_limit", retry_after=3)
    assert client.chat("retry me").finish_reason == "stop"
    assert slept == [3.0]
    gw.push_fault("rate_limit", retry_after_ms=250)
    client.chat("retry me")
    assert slept[-1] == 0.25


def test_retries_exhausted(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("rate_limit", count=3)
    with pytest.raises(RateLimitError, match="429"):
        client.chat("always limited")
    assert len(gw.requests) == 3  # 1 + max_retries


@pytest.mark.parametrize("code", [500, 502, 503, 504, 524, 529])
def test_server_errors_are_retried(client: Client, gw: FakeGateway, code: int) -> None:
    gw.push_fault("status", code=code)
    with client.stream("flaky") as s:
        assert s.until_done().finish_reason == "stop"
    assert len(gw.requests) == 2


def test_model_not_found_is_not_retried(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("model_not_found")
    with pytest.raises(NotFoundError, match="model_not_found") as info:
        client.chat("hi", model="gemini-9")
    assert len(gw.requests) == 1
    assert "%gemini models" in str(info.value)


def test_google_array_error_body(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("array_error")
    with pytest.raises(BadRequestError, match="Unknown name"):
        client.chat("hi")


def test_empty_error_body(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("empty_error", code=429, count=3)
    with pytest.raises(RateLimitError, match="empty response body"):
        client.chat("hi")


def test_reset_before_first_byte_is_retried(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("reset")
    assert client.chat("reset once").finish_reason == "stop"


def test_connection_refused() -> None:
    with FakeGateway(api_key=KEY) as tmp:
        url = tmp.base_url
    with Client(base_url=url, api_key=KEY, max_retries=1, backoff=0.0) as c:
        with pytest.raises(ConnectionError, match="Could not reach"):
            c.chat("anyone?")


def test_error_event_mid_stream_keeps_partial(client: Client) -> None:
    with pytest.raises(StreamError, match="overloaded") as info:
        with client.stream("[fake:error_event after=3] hi") as s:
            for _ in s:
                pass
    reply = info.value.reply
    assert reply is not None and reply.text and reply.status == "failed"


def test_disconnect_mid_stream_keeps_partial(client: Client) -> None:
    with pytest.raises(StreamError, match="connection broke") as info:
        with client.stream("[fake:disconnect after=3] hi") as s:
            for _ in s:
                pass
    assert info.value.reply is not None and info.value.reply.text


def test_stream_without_finish_is_truncated(client: Client) -> None:
    with client.stream("[fake:no_finish] hi") as s:
        reply = s.until_done()
    assert reply.truncated and reply.status == "truncated" and reply.text


def test_idle_timeout_keeps_partial(gw: FakeGateway) -> None:
    with Client(base_url=gw.base_url, api_key=KEY, idle_timeout=0.3) as c:
        with pytest.raises(StreamError, match="idle_timeout") as info:
            with c.stream("[fake:stall seconds=30 after=2] hi") as s:
                for _ in s:
                    pass
    assert info.value.reply is not None and info.value.reply.text


def test_key_never_logged(gw: FakeGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "ipygemini"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    with Client(base_url=gw.base_url, api_key=KEY, backoff=0.0) as c:
        c.chat("hello")
        gw.push_fault("status", code=500)
        with c.stream("hello") as s:
            s.until_done()
    assert caplog.records
    assert KEY not in caplog.text


# --- async -----------------------------------------------------------------------------------


def test_async_chat_stream_models_embed(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            reply = await c.chat("async hello")
            assert reply.text == answer_for(last_body(gw))
            async with c.stream("async stream") as s:
                texts = [e.text async for e in s if e.type == "text"]
            assert "".join(texts) == s.reply.text == answer_for(last_body(gw))
            assert "gemini-2.5-flash" in [m.id for m in await c.models()]
            assert len(await c.embed(["x", "y"])) == 2
            assert KEY not in repr(c)

    run(main())


def test_async_retry_and_errors(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY, backoff=0.0) as c:
            gw.push_fault("status", code=503)
            assert (await c.chat("retry")).finish_reason == "stop"
            gw.push_fault("model_not_found")
            with pytest.raises(NotFoundError):
                await c.chat("x")
            with pytest.raises(StreamError) as info:
                async with c.stream("[fake:error_event after=2] hi") as s:
                    async for _ in s:
                        pass
            assert info.value.reply is not None and info.value.reply.text

    run(main())


def test_async_cancel_marks_interrupted(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            stream = c.stream("[fake:slow words=400] cancel me")
            started = asyncio.Event()

            async def consume() -> None:
                async with stream:
                    async for event in stream:
                        if event.type == "text":
                            started.set()

            task = asyncio.create_task(consume())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert stream.reply.interrupted and stream.reply.text
            assert gw.wait_for_disconnect(5)
            assert (await c.chat("after cancel")).finish_reason == "stop"

    gw.clear()
    run(main())


def test_server_error_class(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("status", code=500, count=3)
    with pytest.raises(ServerError, match="HTTP 500"):
        client.chat("x")


def test_unknown_field_400_is_retried_without_it(client: Client, gw: FakeGateway) -> None:
    gw.push_fault("array_error")  # Google: 'Unknown name "thinking": Cannot find field.'
    reply = client.chat("hi", extra_body={"thinking": {"type": "enabled"}})
    assert reply.finish_reason == "stop"
    assert "thinking" in gw.requests[0].body and "thinking" not in gw.requests[1].body


def test_decompression_bomb_is_bounded(gw: FakeGateway) -> None:
    with Client(base_url=gw.base_url, api_key=KEY, max_event_bytes=8_000_000) as c:
        gw.push_fault("gzip_bomb", mb=64)
        with pytest.raises(ServerError, match="larger than 8,000,000 bytes"):
            c.chat("bomb")
        gw.push_fault("gzip_bomb", mb=64)
        with pytest.raises(StreamError, match="limit"):
            with c.stream("bomb") as s:
                s.until_done()
        assert c.chat("fine").finish_reason == "stop"


def test_gateway_that_ignores_stream_still_gives_events(client: Client, gw: FakeGateway) -> None:
    with client.stream("[fake:ignore_stream] hi", thinking=True) as s:
        reply = s.reply
        events = list(s)
    assert s.reply is reply  # the same object the caller held before iterating
    assert "".join(e.text for e in events if e.type == "text") == reply.text
    assert reply.text == answer_for(last_body(gw)) and reply.reasoning
    assert [e.type for e in events].count("finish") == 1


def test_events_before_a_failure_are_all_yielded(client: Client) -> None:
    shown = []
    with (
        pytest.raises(StreamError),
        client.stream("[fake:error_event after=4 chunk_chars=3] hi") as s,
    ):
        for event in s:
            if event.type == "text":
                shown.append(event.text)
    assert "".join(shown) == s.reply.text != ""


def test_async_gateway_that_ignores_stream(gw: FakeGateway) -> None:
    async def main() -> None:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY) as c:
            stream = c.stream("[fake:ignore_stream] hi")
            reply = stream.reply
            async with stream:
                texts = [e.text async for e in stream if e.type == "text"]
            assert stream.reply is reply and "".join(texts) == reply.text != ""

    run(main())
