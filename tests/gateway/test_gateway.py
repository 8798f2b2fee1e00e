"""Integration tests for `ipygemini.testing.FakeGateway` over real loopback sockets."""

from __future__ import annotations

import base64
import json
import math
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema  # installed with nbformat; checks the fake's documents independently
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import data_url
from ipygemini.testing import (
    FAULTS,
    FakeGateway,
    ReceivedAttachment,
    answer_for,
    reasoning_for,
)

# --- helpers ---------------------------------------------------------------------------------

# Building an SSL context costs ~30 ms; every client here shares one (the gateway is plain HTTP).
TLS = ssl.create_default_context()


@pytest.fixture(scope="module")
def plain() -> Iterator[httpx.Client]:
    """A client without credentials (plain.get() would build a new SSL context per call)."""
    with httpx.Client(timeout=10, verify=TLS) as c:
        yield c


@pytest.fixture
def client(gw: FakeGateway) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {gw.api_key}"}
    with httpx.Client(base_url=gw.base_url, headers=headers, timeout=10, verify=TLS) as c:
        yield c


def chat(
    content: Any = "Hello there", *, model: str = "gemini-2.5-flash", **extra: Any
) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def read_sse(response: httpx.Response) -> tuple[list[Any], list[str]]:
    """(payloads of data: lines, decoded JSON or the string "[DONE]"; all raw lines)."""
    lines = list(response.iter_lines())
    events: list[Any] = []
    for line in lines:
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events, lines


def stream(client: httpx.Client, body: dict[str, Any], **kw: Any) -> tuple[list[Any], list[str]]:
    with client.stream("POST", "/chat/completions", json={**body, "stream": True}, **kw) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"] == "text/event-stream"
        return read_sse(r)


def joined(events: list[Any], field: str = "content", index: int = 0) -> str:
    out = []
    for event in events:
        if not isinstance(event, dict):
            continue
        for choice in event.get("choices") or []:
            value = choice["delta"].get(field)
            if choice["index"] == index and isinstance(value, str):
                out.append(value)
    return "".join(out)


def stream_reasoning(events: list[Any], shape: str) -> str:
    if shape in ("reasoning_content", "reasoning"):
        return joined(events, shape)
    if shape == "thinking_blocks":
        return "".join(
            block["thinking"]
            for e in events
            if isinstance(e, dict)
            for c in e.get("choices") or []
            for block in c["delta"].get("thinking_blocks") or []
        )
    return split_tags(joined(events), shape)[0]


def split_tags(content: str, shape: str) -> tuple[str, str]:
    if shape == "think_tags":
        match = re.fullmatch(r"<think>\n(.*)\n</think>\n(.*)", content, re.DOTALL)
    else:
        match = re.fullmatch(r"<thought>(.*)</thought>(.*)", content, re.DOTALL)
    assert match, content[:200]
    return match.group(1), match.group(2)


def make_png(width: int, height: int, pixels: bytes, channels: int = 3) -> bytes:
    """An independent PNG writer that cycles all five filter types, to exercise the decoder."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    stride = width * channels
    rows = [pixels[y * stride : (y + 1) * stride] for y in range(height)]
    raw = bytearray()
    for y, row in enumerate(rows):
        prev = rows[y - 1] if y else bytes(stride)
        kind = y % 5
        raw.append(kind)
        for i, value in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            raw.append((value - pred) % 256)
    colour_type = 2 if channels == 3 else 6
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, pixels) of a filter-0 8-bit RGB PNG as the gateway writes it; checks CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            assert (depth, colour_type) == (8, 2)
            size = (width, height)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height = size
    raw = zlib.decompress(idat)
    stride = width * 3
    assert len(raw) == (stride + 1) * height
    rows = [raw[y * (stride + 1) : (y + 1) * (stride + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, b"".join(row[1:] for row in rows)


def png_from_url(url: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return base64.b64decode(url[len(prefix) :], validate=True)


MARKDOWN_IMAGE = re.compile(r"!\[image\]\((data:image/png;base64,[A-Za-z0-9+/=]+)\)")
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + (
    b"\xff\xc0\x00\x11\x08"
    + struct.pack(
        ">HH", 40, 30
    )  # height 40, width 30 + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
)

# --- lifecycle, auth, routes -----------------------------------------------------------------


def test_start_is_fast_and_stop_is_idempotent() -> None:
    gateway = FakeGateway()
    with pytest.raises(RuntimeError):
        _ = gateway.base_url
    gateway.start()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", gateway.base_url)
    assert "fake-key" not in repr(gateway)
    gateway.stop()
    gateway.stop()
    assert not gateway.running


@pytest.mark.parametrize("auth", [None, "Bearer wrong-secret-key", "Basic fake-key", "fake-key"])
def test_auth_is_required_and_the_presented_key_is_never_echoed(
    gw: FakeGateway, plain: httpx.Client, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    for method, path, body in [
        ("GET", "/models", None),
        ("POST", "/chat/completions", chat()),
        ("POST", "/embeddings", {"model": "gemini-embedding-001", "input": "x"}),
    ]:
        r = plain.request(method, gw.base_url + path, json=body, headers=headers)
        assert r.status_code == 401
        error = r.json()["error"]
        assert re.fullmatch(r"Invalid token \(request id: \d+\)", error["message"])
        assert (error["type"], error["code"]) == ("new_api_error", "")
        assert "wrong-secret" not in r.text
    recorded = gw.requests[-1]
    assert not recorded.authorized
    if auth == "Bearer wrong-secret-key":
        assert recorded.headers["authorization"] == "Bearer …-key"  # the last four of a long key
        assert "wrong-secret" not in repr(gw.requests)


def test_unknown_route_is_404_even_without_auth(
    gw: FakeGateway, client: httpx.Client, plain: httpx.Client
) -> None:
    r = plain.get(gw.base_url + "/foo")
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/foo)",
            "type": "invalid_request_error",
            "param": "",
            "code": "",
        }
    }
    assert client.get("/chat/completions").status_code == 404  # wrong method


def test_models_list_new_api_shape(client: httpx.Client) -> None:
    body = client.get("/models").json()
    assert body["success"] is True and body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == [
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash-lite",
        "gemini-2.5-flash-image",
        "gemini-3-pro-preview",
        "gemini-3-pro-image-preview",
        "gemini-embedding-001",
    ]
    assert body["data"][0] == {
        "id": "gemini-2.5-flash",
        "object": "model",
        "created": 1626777600,
        "owned_by": "custom",
        "supported_endpoint_types": ["openai"],
    }
    assert client.get("/models/gemini-2.5-pro").json()["id"] == "gemini-2.5-pro"
    assert client.get("/models/gpt-4").status_code == 404


def test_model_prefix_and_v1beta_openai_paths(plain: httpx.Client) -> None:
    with FakeGateway(model_prefix="models/", api_key="k2") as gateway:
        root = gateway.base_url.removesuffix("/v1")
        r = plain.get(root + "/v1beta/openai/models", headers={"Authorization": "Bearer k2"})
        assert r.status_code == 200
        assert all(m["id"].startswith("models/gemini-") for m in r.json()["data"])
        r = plain.post(
            root + "/v1beta/openai/chat/completions",
            json=chat(model="models/gemini-2.5-flash"),
            headers={"Authorization": "Bearer k2"},
        )
        assert r.json()["model"] == "models/gemini-2.5-flash"


def test_requests_are_recorded_in_order(gw: FakeGateway, client: httpx.Client) -> None:
    client.get("/models")
    client.post("/chat/completions", json=chat("hi"), headers={"X-Extra": "1"})
    assert [(r.method, r.path) for r in gw.requests] == [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
    ]
    last = gw.requests[-1]
    assert last.body == chat("hi") and last.authorized
    assert last.headers["x-extra"] == "1"
    assert (
        last.headers["authorization"] == "Bearer …"
    )  # an 8-character key shows nothing (_masking.SHOWN_FROM)
    gw.clear()
    assert gw.requests == []


# --- embeddings ------------------------------------------------------------------------------


def test_embeddings_float_vectors_are_deterministic_unit_length(client: httpx.Client) -> None:
    texts = ["alpha", "beta", "alpha"]
    body = client.post("/embeddings", json={"model": "gemini-embedding-001", "input": texts}).json()
    assert body["object"] == "list" and body["model"] == "gemini-embedding-001"
    vectors = [item["embedding"] for item in body["data"]]
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert all(len(v) == 8 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1, rel_tol=1e-5) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert body["usage"]["prompt_tokens"] == 2 + 2 + 2  # len(text) // 4 + 1 each
    single = client.post("/embeddings", json={"model": "m", "input": "beta", "dimensions": 16})
    assert len(single.json()["data"][0]["embedding"]) == 16


def test_embeddings_base64_matches_floats(client: httpx.Client) -> None:
    request = {"model": "gemini-embedding-001", "input": ["one", "two"]}
    floats = client.post("/embeddings", json=request).json()["data"]
    encoded = client.post("/embeddings", json={**request, "encoding_format": "base64"}).json()
    for f, e in zip(floats, encoded["data"], strict=True):
        assert isinstance(e["embedding"], str)
        raw = base64.b64decode(e["embedding"])
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == f["embedding"]


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"model": "m", "input": [f"t{i}" for i in range(101)]}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [1, 2]}, "input"),
        ({"input": "x"}, "model"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
    ],
)
def test_embeddings_rejections(
    client: httpx.Client, request_body: dict[str, Any], param: str
) -> None:
    r = client.post("/embeddings", json=request_body)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param
    assert param in r.json()["error"]["message"] or param == "input"


def test_embeddings_accept_exactly_100_inputs(client: httpx.Client) -> None:
    r = client.post("/embeddings", json={"model": "m", "input": [f"t{i}" for i in range(100)]})
    assert r.status_code == 200 and len(r.json()["data"]) == 100


def test_embeddings_index_bug_fault(gw: FakeGateway, client: httpx.Client) -> None:
    gw.push_fault("index_bug")
    body = client.post("/embeddings", json={"model": "m", "input": ["a", "b", "c"]}).json()
    assert [item["index"] for item in body["data"]] == [0, 0, 0]


# --- chat: answers ---------------------------------------------------------------------------


def test_non_stream_answer_shape_and_usage(client: httpx.Client) -> None:
    body = chat("Tell me about tides")
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    result = r.json()
    assert re.fullmatch(r"chatcmpl-\d+", result["id"])
    assert result["object"] == "chat.completion" and result["model"] == "gemini-2.5-flash"
    assert isinstance(result["created"], int)
    (choice,) = result["choices"]
    assert choice["finish_reason"] == "stop" and choice["index"] == 0
    text = choice["message"]["content"]
    assert text == answer_for(body)
    assert text.startswith("**Offline answer** from ipygemini's built-in FakeGateway")
    assert 'You asked: "Tell me about tides"' in text
    assert "```" not in text
    usage = result["usage"]
    assert usage["prompt_tokens"] == len("Tell me about tides") // 4 + 1
    assert usage["completion_tokens"] == len(text.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_has_new_api_chunk_sequence(client: httpx.Client) -> None:
    body = chat("Stream this, please")
    with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["transfer-encoding"] == "chunked"
        events, lines = read_sse(r)
    assert all(line.startswith("data: ") for line in lines if line)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and re.fullmatch(r"chatcmpl-\d+", ids.pop())
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["model"] == "gemini-2.5-flash" for c in chunks)
    role, *content, finish, usage = chunks
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert role["usage"] is None and role["choices"][0]["finish_reason"] is None
    pieces = [c["choices"][0]["delta"]["content"] for c in content]
    assert all(set(c["choices"][0]["delta"]) == {"content"} for c in content)
    assert all(len(p) == 12 for p in pieces[:-1]) and 0 < len(pieces[-1]) <= 12
    assert all(c["choices"][0]["finish_reason"] is None for c in content)
    assert "".join(pieces) == answer_for(body)
    assert finish["choices"] == [
        {"delta": {}, "logprobs": None, "finish_reason": "stop", "index": 0}
    ]
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(answer_for(body).split())


def test_include_usage_false_and_no_usage_fault(client: httpx.Client) -> None:
    events, _ = stream(client, chat("x", stream_options={"include_usage": False}))
    assert all(e == "[DONE]" or e["choices"] for e in events)
    events, _ = stream(client, chat("x [fake:no_usage]"))
    assert all(e == "[DONE]" or e["choices"] for e in events)
    r = client.post("/chat/completions", json=chat("x [fake:no_usage]"))
    assert "usage" not in r.json()


def test_chunk_chars_by_directive_header_and_constructor(client: httpx.Client) -> None:
    events, _ = stream(client, chat("hello [fake:chunk_chars=5]"))
    pieces = [c for c in (e["choices"][0]["delta"].get("content") for e in events[1:-3]) if c]
    assert {len(p) for p in pieces[:-1]} == {5}
    events, _ = stream(client, chat("hello"), headers={"X-Fake-Fault": "chunk_chars=40"})
    assert len(events[1]["choices"][0]["delta"]["content"]) == 40
    with FakeGateway(chunk_chars=3) as gateway:
        auth = {"Authorization": f"Bearer {gateway.api_key}"}
        with httpx.Client(base_url=gateway.base_url, headers=auth, verify=TLS) as c:
            events, _ = stream(c, chat("hello"))
    assert len(events[1]["choices"][0]["delta"]["content"]) == 3


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": None}, "messages"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": 5}, "stop"),
    ],
)
def test_chat_validation(client: httpx.Client, change: dict[str, Any], param: str) -> None:
    body = {k: v for k, v in {**chat(), **change}.items() if v is not None}
    for streamed in (False, True):
        r = client.post("/chat/completions", json={**body, "stream": streamed})
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert error["param"] == param and param in error["message"]


def test_accepted_edge_values(client: httpx.Client) -> None:
    body = chat(temperature=2, top_p=0, n=1, max_tokens=1)
    assert client.post("/chat/completions", json=body).status_code == 200


def test_system_prompt_and_code(client: httpx.Client) -> None:
    body = {
        "model": "gemini-2.5-pro",
        "messages": [
            {"role": "system", "content": "You are terse. " * 10},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "Show me some CODE"}]},
        ],
    }
    text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert text == answer_for(body)
    assert 'You asked: "Show me some CODE"' in text
    assert f'System prompt: "{("You are terse. " * 10)[:80]}…"' in text
    assert "```python\ndef fibonacci" in text and text.endswith("```")


def test_words_option_gives_exact_length(client: httpx.Client) -> None:
    body = chat("long one [fake:words=500]")
    text = answer_for(body)
    header = answer_for(chat("long one [fake:words=0]"))
    assert len(text.split()) - len(header.split()) == 500
    assert 'You asked: "long one"' in text
    events, _ = stream(client, body)
    assert joined(events) == text


def test_json_mode(client: httpx.Client) -> None:
    for fmt in ({"type": "json_object"}, {"type": "json_schema", "json_schema": {"name": "x"}}):
        body = chat("Give   me\nJSON [fake:chunk_chars=7]", response_format=fmt)
        expected = json.dumps({"answer": "offline", "prompt": "Give me JSON", "words": 3})
        assert answer_for(body) == expected
        r = client.post("/chat/completions", json=body)
        assert r.json()["choices"][0]["message"]["content"] == expected
        events, _ = stream(client, body)
        assert joined(events) == expected


def test_n_choices_non_stream_and_interleaved_stream(client: httpx.Client) -> None:
    body = chat("pick", n=2)
    first = answer_for(body)
    choices = client.post("/chat/completions", json=body).json()["choices"]
    assert [c["index"] for c in choices] == [0, 1]
    assert choices[0]["message"]["content"] == first
    assert choices[1]["message"]["content"] == first + " (choice 2)"
    events, _ = stream(client, body)
    assert [e["choices"][0]["index"] for e in events[:2]] == [0, 1]
    content_indexes = [
        e["choices"][0]["index"] for e in events[2:6] if e["choices"][0]["delta"].get("content")
    ]
    assert content_indexes == [0, 1, 0, 1]
    assert joined(events, index=0) == first
    assert joined(events, index=1) == first + " (choice 2)"
    finishes = [e["choices"][0] for e in events[:-2] if e["choices"][0]["finish_reason"]]
    assert [(f["index"], f["finish_reason"]) for f in finishes] == [(0, "stop"), (1, "stop")]


def test_max_tokens_cuts_words_with_length(client: httpx.Client) -> None:
    body = chat("cut me", max_tokens=7)
    text = answer_for(body)
    assert len(text.split()) == 7
    assert answer_for(chat("cut me")).startswith(text)
    choice = client.post("/chat/completions", json=body).json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == (text, "length")
    events, _ = stream(client, body)
    assert joined(events) == text
    *_, last_content, usage, done = events
    assert last_content["choices"][0]["finish_reason"] == "length"
    assert last_content["choices"][0]["delta"]["content"]  # no separate empty-delta chunk
    assert usage["choices"] == [] and done == "[DONE]"


@pytest.mark.parametrize("stop", ["You asked", ["zzz", "FakeGateway", "asked"]])
def test_stop_sequences(client: httpx.Client, stop: str | list[str]) -> None:
    body = chat("halt", stop=stop)
    text = answer_for(body)
    full = answer_for(chat("halt"))
    cut_at = "FakeGateway" if isinstance(stop, list) else "You asked"
    assert text == full[: full.index(cut_at)]
    choice = client.post("/chat/completions", json=body).json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == (text, "stop")
    assert joined(stream(client, body)[0]) == text


# --- chat: thinking --------------------------------------------------------------------------

THINKING_ON: dict[str, dict[str, Any]] = {
    "google": {"extra_body": {"google": {"thinking_config": {"thinking_budget": 1024}}}},
    "google_include": {
        "extra_body": {
            "google": {"thinking_config": {"thinking_budget": -1, "include_thoughts": True}}
        }
    },
    "reasoning_effort": {"reasoning_effort": "low"},
    "enable_thinking": {"extra_body": {"enable_thinking": True}},
    "openrouter": {"reasoning": {"effort": "high"}},
}
THINKING_OFF: dict[str, dict[str, Any]] = {
    "nothing": {},
    "google_zero": {"extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}}},
    "effort_none": {"reasoning_effort": "none"},
    "enable_false": {"extra_body": {"enable_thinking": False}},
    "openrouter_off": {"reasoning": {"enabled": False}},
    "top_level_google": {"google": {"thinking_config": {"thinking_budget": 1024}}},
}
SHAPES = ["reasoning_content", "reasoning", "thinking_blocks", "think_tags", "thought_tags"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("form", list(THINKING_ON))
def test_thinking_forms_and_reasoning_shapes(client: httpx.Client, form: str, shape: str) -> None:
    body = chat(f"Why is the sky blue? [fake:reasoning_shape={shape}]", **THINKING_ON[form])
    reasoning = reasoning_for(body)
    answer = answer_for(body)
    assert reasoning is not None and reasoning.startswith('Thinking about "Why is the sky blue?"')
    result = client.post("/chat/completions", json=body).json()
    message = result["choices"][0]["message"]
    if shape in ("think_tags", "thought_tags"):
        assert split_tags(message["content"], shape) == (reasoning, answer)
    else:
        assert message["content"] == answer
        if shape == "thinking_blocks":
            assert message["thinking_blocks"][0]["type"] == "thinking"
            assert message["thinking_blocks"][0]["thinking"] == reasoning
        else:
            assert message[shape] == reasoning
    details = result["usage"]["completion_tokens_details"]
    assert details["reasoning_tokens"] == len(reasoning.split())
    assert result["usage"]["completion_tokens"] == len(answer.split()) + len(reasoning.split())
    events, _ = stream(client, body)
    assert stream_reasoning(events, shape) == reasoning
    content = joined(events)
    if shape in ("think_tags", "thought_tags"):
        assert split_tags(content, shape)[1] == answer
    else:
        assert content == answer
        first_content = next(i for i, e in enumerate(events) if joined([e]))
        last_reasoning = max(i for i, e in enumerate(events) if stream_reasoning([e], shape))
        assert last_reasoning < first_content  # thoughts come first


@pytest.mark.parametrize("form", list(THINKING_OFF))
def test_thinking_off_forms(client: httpx.Client, form: str) -> None:
    body = chat("No thoughts", **THINKING_OFF[form])
    assert reasoning_for(body) is None
    message = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert set(message) == {"role", "content"}


def test_constructor_reasoning_shape(plain: httpx.Client) -> None:
    with FakeGateway(reasoning_shape="reasoning") as gateway:
        auth = {"Authorization": f"Bearer {gateway.api_key}"}
        body = chat("x", reasoning_effort="high")
        r = plain.post(gateway.base_url + "/chat/completions", json=body, headers=auth)
        assert r.json()["choices"][0]["message"]["reasoning"] == reasoning_for(body)


def test_camel_case_google_config_is_rejected(client: httpx.Client) -> None:
    for google in (
        {"thinkingConfig": {"thinkingBudget": 10}},
        {"thinking_config": {"thinkingBudget": 10}},
        {"imageConfig": {"aspectRatio": "16:9"}},
    ):
        body = chat("x", model="gemini-2.5-flash-image", extra_body={"google": google})
        r = client.post("/chat/completions", json={**body, "stream": True})
        assert r.status_code == 500
        error = r.json()["error"]
        assert (error["type"], error["code"]) == ("new_api_error", "convert_request_failed")


# --- chat: images ----------------------------------------------------------------------------


def image_from_reply(message: dict[str, Any], shape: str) -> tuple[str, bytes]:
    """(text, png) of a non-stream image reply in one of the three shapes."""
    if shape == "markdown":
        text, _, tail = message["content"].partition("\n")
        match = MARKDOWN_IMAGE.fullmatch(tail)
        assert match
        return text, png_from_url(match.group(1))
    if shape == "images":
        (image,) = message["images"]
        assert image["type"] == "image_url"
        return message["content"], png_from_url(image["image_url"]["url"])
    text_part, image_part = message["content"]
    assert text_part["type"] == "text" and image_part["type"] == "image_url"
    return text_part["text"], png_from_url(image_part["image_url"]["url"])


def image_from_stream(events: list[Any], shape: str) -> tuple[str, bytes]:
    deltas = [c["delta"] for e in events if isinstance(e, dict) for c in e["choices"]]
    if shape == "markdown":
        strings = [d["content"] for d in deltas if isinstance(d.get("content"), str)]
        image_deltas = [s for s in strings if "![image]" in s]
        assert len(image_deltas) == 1  # the whole image arrives in one delta
        match = MARKDOWN_IMAGE.fullmatch(image_deltas[0])
        assert match
        return "".join(s for s in strings if "![image]" not in s), png_from_url(match.group(1))
    if shape == "images":
        (images,) = [d["images"] for d in deltas if "images" in d]
        return joined(events), png_from_url(images[0]["image_url"]["url"])
    (parts,) = [d["content"] for d in deltas if isinstance(d.get("content"), list)]
    return parts[0]["text"], png_from_url(parts[1]["image_url"]["url"])


@pytest.mark.parametrize("shape", ["markdown", "images", "parts"])
def test_image_shapes(client: httpx.Client, shape: str) -> None:
    body = chat(f"Draw a lighthouse [fake:image_shape={shape}]", model="gemini-2.5-flash-image")
    assert answer_for(body) == "Here is the generated image (offline)."
    result = client.post("/chat/completions", json=body).json()
    text, png = image_from_reply(result["choices"][0]["message"], shape)
    assert text == answer_for(body)
    width, height, pixels = read_png(png)
    assert (width, height) == (64, 48) and len(pixels) == 64 * 48 * 3
    assert pixels[:3] != pixels[-3:]  # a gradient, not a solid colour
    assert result["usage"]["completion_tokens_details"]["image_tokens"] == 1290
    events, _ = stream(client, body)
    streamed_text, streamed_png = image_from_stream(events, shape)
    assert streamed_text == text and streamed_png == png


def test_constructor_image_shape(plain: httpx.Client) -> None:
    with FakeGateway(image_shape="images") as gateway:
        auth = {"Authorization": f"Bearer {gateway.api_key}"}
        body = chat("cat", model="gemini-3-pro-image-preview")
        r = plain.post(gateway.base_url + "/chat/completions", json=body, headers=auth)
        assert "images" in r.json()["choices"][0]["message"]


def test_colour_word_gives_solid_colour(client: httpx.Client) -> None:
    body = chat("a big RED balloon", model="gemini-2.5-flash-image")
    content = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    match = MARKDOWN_IMAGE.search(content)
    assert match
    _, _, pixels = read_png(png_from_url(match.group(1)))
    assert set(pixels[i : i + 3] for i in range(0, len(pixels), 3)) == {bytes((220, 40, 40))}


@pytest.mark.parametrize(
    ("ratio", "size"), [("16:9", (85, 48)), ("9:16", (48, 85)), ("1:1", (48, 48))]
)
def test_aspect_ratio(client: httpx.Client, ratio: str, size: tuple[int, int]) -> None:
    extra = {"google": {"image_config": {"aspect_ratio": ratio}}}
    body = chat("x", model="gemini-2.5-flash-image", extra_body=extra, stream=False)
    message = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert read_png(image_from_reply(message, "markdown")[1])[:2] == size
    bad = {"google": {"image_config": {"aspect_ratio": "7:5"}}}
    r = client.post("/chat/completions", json={**body, "extra_body": bad})
    assert r.status_code == 400 and "aspect_ratio" in r.json()["error"]["message"]


@pytest.mark.parametrize("channels", [3, 4])
def test_image_editing_keeps_size_and_tints(client: httpx.Client, channels: int) -> None:
    width, height = 10, 7
    source = bytes((x * 20 + y) % 256 for y in range(height) for x in range(width * channels))
    content = [
        {"type": "text", "text": "Make it blue"},
        {
            "type": "image_url",
            "image_url": {"url": data_url(make_png(width, height, source, channels), "image/png")},
        },
    ]
    body = chat(content, model="gemini-2.5-flash-image")
    message = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    _, png = image_from_reply(message, "markdown")
    assert struct.unpack(">II", png[16:24]) == (width, height)
    if channels == 3:
        _, _, pixels = read_png(png)
        blue = (40, 90, 220)
        expected = bytes((v + blue[i % 3]) // 2 for i, v in enumerate(source))
        assert pixels == expected


def test_image_editing_with_jpeg_keeps_header_size(client: httpx.Client) -> None:
    content = [
        {"type": "text", "text": "recolour green"},
        {"type": "image_url", "image_url": {"url": data_url(JPEG_HEADER, "image/jpeg")}},
    ]
    body = chat(content, model="gemini-2.5-flash-image")
    message = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert read_png(image_from_reply(message, "markdown")[1])[:2] == (30, 40)


# --- faults ----------------------------------------------------------------------------------


def test_rate_limit_fault(gw: FakeGateway, client: httpx.Client) -> None:
    gw.push_fault("rate_limit")
    r = client.post("/chat/completions", json=chat(stream=True))
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "new_api_error"
    assert "retry-after" not in r.headers
    gw.push_fault("rate_limit", retry_after=2, retry_after_ms=1500)
    r = client.get("/models")
    assert r.status_code == 429
    assert (r.headers["retry-after"], r.headers["retry-after-ms"]) == ("2", "1500")
    assert client.get("/models").status_code == 200


@pytest.mark.parametrize("code", [500, 502, 503, 504, 524, 529])
def test_status_fault(gw: FakeGateway, client: httpx.Client, code: int) -> None:
    gw.push_fault("status", code=code)
    r = client.post("/chat/completions", json=chat(stream=True))
    assert r.status_code == code
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == code


def test_status_fault_default_and_model_not_found(gw: FakeGateway, client: httpx.Client) -> None:
    gw.push_fault("status")
    assert client.post("/chat/completions", json=chat()).status_code == 500
    gw.push_fault("model_not_found")
    r = client.post("/chat/completions", json=chat(model="gemini-9"))
    assert r.status_code == 503
    assert r.json() == {
        "error": {
            "message": "No available channel for model gemini-9 under group default (distributor)",
            "type": "new_api_error",
            "code": "model_not_found",
        }
    }


def test_array_and_empty_error_faults(gw: FakeGateway, client: httpx.Client) -> None:
    gw.push_fault("array_error")
    r = client.post("/chat/completions", json=chat())
    assert r.status_code == 400
    assert r.json() == [
        {
            "error": {
                "code": 400,
                "message": 'Invalid JSON payload received. Unknown name "thinking": Cannot find field.',
                "status": "INVALID_ARGUMENT",
            }
        }
    ]
    gw.push_fault("empty_error")
    r = client.post("/chat/completions", json=chat())
    assert (r.status_code, r.content) == (429, b"")
    gw.push_fault("empty_error", code=503)
    assert client.get("/models").status_code == 503


def test_queued_faults_are_fifo_with_counts(gw: FakeGateway, client: httpx.Client) -> None:
    gw.push_fault("status", count=2, code=502)
    gw.push_fault("rate_limit")
    codes = [client.get("/models").status_code for _ in range(4)]
    assert codes == [502, 502, 429, 200]
    gw.push_fault("rate_limit")
    gw.clear()
    assert client.get("/models").status_code == 200


def test_push_fault_rejects_unknown_names_and_options(gw: FakeGateway) -> None:
    with pytest.raises(ValueError, match="unknown FakeGateway fault"):
        gw.push_fault("explode")
    with pytest.raises(ValueError, match="unknown FakeGateway option"):
        gw.push_fault("status", cod=500)
    with pytest.raises(ValueError, match="code"):
        gw.push_fault("status", code="abc")
    assert set(FAULTS) >= {"rate_limit", "stall", "big_image", "index_bug"}


def test_error_event_fault(client: httpx.Client) -> None:
    events, _ = stream(client, chat("x [fake:error_event after=2]"))
    assert len(events) == 1 + 2 + 3
    assert [bool(joined([e])) for e in events[1:3]] == [True, True]
    assert events[3] == {
        "error": {"message": "upstream error: overloaded", "type": "upstream_error", "code": "500"}
    }
    assert events[4]["choices"] == [] and events[4]["usage"]
    assert events[5] == "[DONE]"
    assert not any(
        c.get("finish_reason") for e in events if isinstance(e, dict) for c in e.get("choices", [])
    )
    r = client.post("/chat/completions", json=chat("x [fake:error_event]"))
    assert r.status_code == 500


def test_disconnect_fault(gw: FakeGateway, client: httpx.Client) -> None:
    gw.push_fault("disconnect", after=4)
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", "/chat/completions", json=chat(stream=True)) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line:
                    received.append(line)
    assert len(received) == 1 + 4
    assert gw.disconnects == 0  # the gateway hung up, not the client
    assert client.get("/models").status_code == 200  # the client recovers on a new connection
    gw.push_fault("disconnect")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=chat())


def test_reset_fault(gw: FakeGateway, client: httpx.Client) -> None:
    gw.push_fault("reset")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=chat(stream=True))
    assert client.get("/models").status_code == 200


def test_no_finish_fault(client: httpx.Client) -> None:
    body = chat("truncate [fake:no_finish]")
    events, _ = stream(client, body)
    assert joined(events) == answer_for(body)
    assert all(c["finish_reason"] is None for e in events[:-1] for c in e["choices"])
    assert events[-2]["choices"] == [] and events[-1] == "[DONE]"


def test_stall_fault_pauses_then_continues(client: httpx.Client) -> None:
    body = chat("wait [fake:stall seconds=0.3 after=2]")
    began = time.monotonic()
    with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as r:
        lines = r.iter_lines()
        first = [next(lines) for _ in range(6)]  # 3 events, each followed by a blank line
        rest = list(lines)
    assert time.monotonic() - began >= 0.3
    events = [json.loads(x[6:]) for x in first if x] + [
        x[6:] if x == "data: [DONE]" else json.loads(x[6:]) for x in rest if x
    ]
    assert joined(events) == answer_for(body) and events[-1] == "[DONE]"


def test_keepalive_fault(client: httpx.Client) -> None:
    body = chat("ping me")
    events, lines = stream(client, body, headers={"X-Fake-Fault": "keepalive"})
    assert lines[0] == ": OPENROUTER PROCESSING"
    assert ": PING" in lines and "event: message" in lines
    assert joined(events) == answer_for(body) and events[-1] == "[DONE]"


def test_big_image_fault(client: httpx.Client) -> None:
    body = chat("huge [fake:big_image mb=2]")
    with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as r:
        events, lines = read_sse(r)
    assert max(len(line) for line in lines) > 2_000_000
    _, png = image_from_stream(events, "markdown")
    assert len(png) > 1_900_000
    width, height, pixels = read_png(png)
    assert len(pixels) == width * height * 3


def test_slow_fault_and_delay_option(client: httpx.Client) -> None:
    body = chat("slowly [fake:slow chunk_chars=100]")
    events_expected = len(stream(client, chat("slowly [fake:chunk_chars=100]"))[0])
    began = time.monotonic()
    events, _ = stream(client, body)
    assert len(events) == events_expected
    assert time.monotonic() - began >= 0.05 * (len(events) - 1) * 0.9
    began = time.monotonic()
    stream(client, chat("slowly [fake:delay=0.02 chunk_chars=100]"))
    assert time.monotonic() - began >= 0.02 * (len(events) - 1) * 0.9


def test_prompt_directives_are_removed_and_header_directives_apply(client: httpx.Client) -> None:
    body = chat("  Hello [fake:words=3]\n world [fake:chunk_chars=4]  ")
    text = answer_for(body)
    assert 'You asked: "Hello world"' in text and "fake" not in text
    assert joined(stream(client, body)[0]) == text
    r = client.post("/chat/completions", json=chat(), headers={"X-Fake-Fault": "status code=503"})
    assert r.status_code == 503


@pytest.mark.parametrize("spec", ["[fake:explode]", "[fake:words=many]", "[fake:image_shape=gif]"])
def test_bad_directives_are_400(client: httpx.Client, spec: str) -> None:
    r = client.post("/chat/completions", json=chat(f"hi {spec}"))
    assert r.status_code == 400 and "FakeGateway" in r.json()["error"]["message"]
    r = client.get("/models", headers={"X-Fake-Fault": spec[6:-1]})
    assert r.status_code == 400


# --- attachments -----------------------------------------------------------------------------


def test_attachments_are_recorded_and_decoded(gw: FakeGateway, client: httpx.Client) -> None:
    png = make_png(5, 3, bytes(range(45)))
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF"
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt "
    url = "https://example.com/cat.png?size=large&x=1"
    content = [
        {"type": "text", "text": "What are these?"},
        {"type": "image_url", "image_url": {"url": data_url(png, "image/png"), "detail": "auto"}},
        {"type": "image_url", "image_url": url},
        {
            "type": "file",
            "file": {"filename": "report.pdf", "file_data": data_url(pdf, "application/pdf")},
        },
        {
            "type": "file",
            "file": {"filename": "raw.pdf", "file_data": base64.b64encode(pdf).decode()},
        },
        {"type": "file", "file": {"file_id": "file-123"}},
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"},
        },
    ]
    body = chat(content)
    text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert text == answer_for(body)
    found = gw.requests[-1].attachments
    assert found == [
        ReceivedAttachment("image_url", "image/png", png, None, None),
        ReceivedAttachment("image_url", None, None, url, None),
        ReceivedAttachment("file", "application/pdf", pdf, None, "report.pdf"),
        ReceivedAttachment("file", "application/pdf", pdf, None, "raw.pdf"),
        ReceivedAttachment("file", None, None, None, None, file_id="file-123"),
        ReceivedAttachment("input_audio", "audio/wav", wav, None, None),
    ]
    assert found[0].image_size == (5, 3) and found[2].image_size is None
    lines = [line for line in text.splitlines() if line.startswith("- received")]
    assert lines == [
        f"- received image/png 5×3 ({len(png):,} bytes)",
        f"- received image URL {url}",
        f"- received file report.pdf (application/pdf, {len(pdf):,} bytes)",
        f"- received file raw.pdf (application/pdf, {len(pdf):,} bytes)",
        "- received file id file-123",
        f"- received audio/wav ({len(wav):,} bytes)",
    ]


def test_attachments_from_every_user_message_are_recorded(
    gw: FakeGateway, client: httpx.Client
) -> None:
    png = make_png(2, 2, bytes(12))
    image = {"type": "image_url", "image_url": {"url": data_url(png, "image/png")}}
    body = {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "one"}, image]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "two"},
        ],
    }
    text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert len(gw.requests[-1].attachments) == 1
    assert "- received" not in text  # only the last user message is described


def test_jpeg_attachment_size(client: httpx.Client, gw: FakeGateway) -> None:
    part = {"type": "image_url", "image_url": {"url": data_url(JPEG_HEADER, "image/jpeg")}}
    client.post("/chat/completions", json=chat([part]))
    assert gw.requests[-1].attachments[0].image_size == (30, 40)


@pytest.mark.parametrize(
    ("part", "status", "needle"),
    [
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO\nRw=="}},
            400,
            "base64",
        ),
        (
            {
                "type": "file",
                "file": {"filename": "a.md", "file_data": "data:text/markdown;base64,IyBo"},
            },
            500,
            "text/markdown",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGODlh"}},
            500,
            "image/gif",
        ),
    ],
)
def test_attachment_rejections_like_new_api(
    client: httpx.Client, part: dict[str, Any], status: int, needle: str
) -> None:
    r = client.post("/chat/completions", json=chat([{"type": "text", "text": "x"}, part]))
    assert r.status_code == status
    assert needle in r.json()["error"]["message"]


# --- connections -----------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(gw: FakeGateway, client: httpx.Client) -> None:
    client.get("/models")
    client.post("/chat/completions", json=chat())
    stream(client, chat())
    client.post("/embeddings", json={"model": "m", "input": "x"})
    client.post("/chat/completions", json=chat("[fake:error_event]", stream=True))
    assert len(gw.requests) == 5
    assert gw.connections == 1


def test_client_disconnect_mid_stream_is_detected(gw: FakeGateway, client: httpx.Client) -> None:
    assert not gw.wait_for_disconnect(timeout=0.01)
    body = chat("[fake:delay=0.05 words=300] go", stream=True)
    with client.stream("POST", "/chat/completions", json=body) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
    assert gw.wait_for_disconnect(timeout=2)
    assert gw.disconnects == 1


def test_client_disconnect_during_stall_is_detected_quickly(
    gw: FakeGateway, client: httpx.Client
) -> None:
    body = chat("[fake:stall seconds=30 after=1] go", stream=True)
    with client.stream("POST", "/chat/completions", json=body) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
    assert gw.wait_for_disconnect(timeout=2)  # noticed at once, not after the 30 s stall
    assert gw.disconnects == 1


def test_stop_ends_a_stalled_stream_promptly(plain: httpx.Client) -> None:
    gateway = FakeGateway().start()
    auth = {"Authorization": f"Bearer {gateway.api_key}"}
    with httpx.Client(base_url=gateway.base_url, headers=auth, timeout=10, verify=TLS) as c:
        body = chat("[fake:stall seconds=60 after=1] go", stream=True)
        with c.stream("POST", "/chat/completions", json=body) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")
            began = time.monotonic()
            gateway.stop()
            assert time.monotonic() - began < 10  # not after the 60 s stall
            with pytest.raises(httpx.RemoteProtocolError):
                list(lines)
    with pytest.raises(httpx.ConnectError):
        plain.get(gateway.base_url + "/models", headers=auth)


def test_stop_closes_idle_keep_alive_connections() -> None:
    gateway = FakeGateway().start()
    auth = {"Authorization": f"Bearer {gateway.api_key}"}
    with httpx.Client(base_url=gateway.base_url, headers=auth, verify=TLS) as c:
        assert c.get("/models").status_code == 200
        began = time.monotonic()
        gateway.stop()
        assert time.monotonic() - began < 10  # far below any stall or keep-alive wait


def test_many_chunks_stream(client: httpx.Client) -> None:
    body = chat("[fake:words=20000 chunk_chars=4] bench")
    events, _ = stream(client, body)
    assert len(events) > 20_000
    assert joined(events) == answer_for(body)


# --- the official SDK ------------------------------------------------------------------------


@pytest.fixture
def sdk(gw: FakeGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.base_url, api_key=gw.api_key, max_retries=0) as c:
        yield c


def test_openai_sdk_chat(sdk: openai.OpenAI) -> None:
    body = chat("Hello SDK", reasoning_effort="low")
    completion = sdk.chat.completions.create(model=body["model"], messages=body["messages"])
    assert completion.choices[0].message.content == answer_for(chat("Hello SDK"))
    assert completion.usage is not None and completion.usage.total_tokens > 0
    chunks = list(
        sdk.chat.completions.create(
            model=body["model"],
            messages=body["messages"],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer_for(body)
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_openai_sdk_models_and_embeddings(sdk: openai.OpenAI) -> None:
    assert "gemini-2.5-flash" in [m.id for m in sdk.models.list()]
    result = sdk.embeddings.create(model="gemini-embedding-001", input=["a", "b"])  # base64 path
    floats = sdk.embeddings.create(
        model="gemini-embedding-001", input=["a", "b"], encoding_format="float"
    )
    assert [d.embedding for d in result.data] == [d.embedding for d in floats.data]
    assert len(result.data[0].embedding) == 8


def test_openai_sdk_sees_errors(gw: FakeGateway, sdk: openai.OpenAI) -> None:
    gw.push_fault("rate_limit")
    with pytest.raises(openai.RateLimitError):
        sdk.models.list()
    bad = openai.OpenAI(base_url=gw.base_url, api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


# --- properties and the command line ---------------------------------------------------------


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prompt=st.text(st.characters(codec="utf-8", exclude_characters="[]"), max_size=80),
    chunk=st.integers(1, 30),
    max_tokens=st.none() | st.integers(1, 60),
)
def test_stream_always_equals_answer_for(
    client: httpx.Client, prompt: str, chunk: int, max_tokens: int | None
) -> None:
    body = chat(f"{prompt} [fake:chunk_chars={chunk}]")
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    text = answer_for(body)
    if max_tokens is not None:
        assert len(text.split()) <= max_tokens
    assert joined(stream(client, body)[0]) == text


def test_command_line_serves_until_interrupted(plain: httpx.Client) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipygemini.testing", "--port", "0", "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", first)
        assert match, first
        r = plain.get(match.group(1) + "/models", headers={"Authorization": "Bearer cli-key"})
        assert r.status_code == 200
        proc.send_signal(__import__("signal").SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_command_line_limits_and_help(plain: httpx.Client) -> None:
    command = [sys.executable, "-m", "ipygemini.testing"]
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True)
    for flag in ("--rate-limit", "--rate-window", "--no-retry-after", "--latency"):
        assert flag in shown.stdout
    for flag in ("--max-body-bytes", "--no-json-schema", "--tool-finish"):
        assert flag in shown.stdout
    limits = ["--rate-limit", "1", "--rate-window", "60", "--no-retry-after"]
    limits += ["--max-body-bytes", "1000", "--no-json-schema", "--tool-finish", "tool_calls"]
    proc = subprocess.Popen([*command, "--port", "0", *limits], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", proc.stdout.readline())
        assert match
        auth = {"Authorization": "Bearer fake-key"}
        body = chat("x", response_format=schema_format({"type": "object"}))
        r = plain.post(match.group(1) + "/chat/completions", json=body, headers=auth)
        assert r.status_code == 400 and "json_schema is not supported" in r.text
        r = plain.get(match.group(1) + "/models", headers=auth)
        assert r.status_code == 429 and "retry-after" not in r.headers
    finally:
        proc.send_signal(__import__("signal").SIGINT)
        proc.wait(timeout=5)


# --- raw-socket helpers: the bytes after [DONE] are what these faults are about ---------------


def raw_post(gw: FakeGateway, body: Any, path: str = "/v1/chat/completions") -> socket.socket:
    """A connected socket that has sent one HTTP/1.1 POST with `body` as JSON."""
    data = json.dumps(body).encode()
    sock = socket.create_connection((gw.host, gw.port), timeout=10)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {gw.host}:{gw.port}\r\n"
        f"Authorization: Bearer {gw.api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def read_until(sock: socket.socket, marker: bytes, received: bytes = b"") -> bytes:
    """Everything received until `marker` has arrived (AssertionError if the peer closes first)."""
    while marker not in received:
        more = sock.recv(65536)
        assert more, f"connection closed before {marker!r}; got {received[-200:]!r}"
        received += more
    return received


def read_to_close(sock: socket.socket, received: bytes = b"") -> bytes:
    while more := sock.recv(65536):
        received += more
    return received


def dechunk(body: bytes) -> tuple[list[bytes], bool]:
    """(the chunks of a chunked body, whether the terminating zero-length chunk arrived)."""
    chunks: list[bytes] = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return chunks, True
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        body = rest[size + 2 :]
    return chunks, False


def split_response(data: bytes) -> tuple[str, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


# --- faults after [DONE] ---------------------------------------------------------------------


def test_silent_after_done_holds_the_body_open_then_ends_it(gw: FakeGateway) -> None:
    body = chat("quiet [fake:silent_after_done seconds=0.2]", stream=True)
    with raw_post(gw, body) as sock:
        data = read_until(sock, b"\r\n0\r\n\r\n")
    head, raw = split_response(data)
    assert head.startswith("HTTP/1.1 200")
    chunks, ended = dechunk(raw)
    assert ended
    text = b"".join(chunks)
    assert text.endswith(b"data: [DONE]\n\n") and b'"finish_reason":"stop"' in text
    assert b'"choices":[],"usage":{' in text


def test_silent_after_done_sends_nothing_more_until_the_client_leaves(gw: FakeGateway) -> None:
    with raw_post(gw, chat("quiet [fake:silent_after_done]", stream=True)) as sock:
        data = read_until(sock, b"data: [DONE]\n\n")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # the body is still open: no terminating chunk
            data += sock.recv(65536)
        assert not data.endswith(b"0\r\n\r\n")
    assert gw.wait_for_disconnect(timeout=2)  # noticed at once, not after 30 s
    assert gw.disconnects == 1


def test_stop_ends_silent_after_done_promptly() -> None:
    gateway = FakeGateway().start()
    with raw_post(gateway, chat("[fake:silent_after_done seconds=60]", stream=True)) as sock:
        read_until(sock, b"data: [DONE]\n\n")
        began = time.monotonic()
        gateway.stop()
        assert time.monotonic() - began < 10  # far below any stall or keep-alive wait


def test_close_after_done_closes_without_the_last_chunk(gw: FakeGateway) -> None:
    with raw_post(gw, chat("cut [fake:close_after_done]", stream=True)) as sock:
        data = read_to_close(sock)
    head, raw = split_response(data)
    assert head.startswith("HTTP/1.1 200") and "transfer-encoding: chunked" in head.lower()
    chunks, ended = dechunk(raw)
    assert not ended
    text = b"".join(chunks)
    assert text.endswith(b"data: [DONE]\n\n") and b'"finish_reason":"stop"' in text
    assert gw.disconnects == 0  # the gateway hung up, not the client


@pytest.mark.parametrize("same_write", [0, 1])
def test_junk_after_done(gw: FakeGateway, same_write: int) -> None:
    body = chat(f"late [fake:junk_after_done same_write={same_write}]", stream=True)
    with raw_post(gw, body) as sock:
        data = read_until(sock, b"\r\n0\r\n\r\n")
    chunks, ended = dechunk(split_response(data)[1])
    assert ended
    text = b"".join(chunks)
    done = text.index(b"data: [DONE]\n\n")
    assert text[done:] == (
        b'data: [DONE]\n\ndata: {"error":{"message":"late","code":500}}\n\ndata: garbage\n\n'
    )
    with_done = [c for c in chunks if b"[DONE]" in c]
    assert len(with_done) == 1
    if same_write:  # one write, one HTTP chunk: DONE and the junk arrive together
        assert with_done[0].endswith(b"data: garbage\n\n")
    else:
        assert with_done[0].endswith(b"data: [DONE]\n\n")
        assert chunks[-2:] == [
            b'data: {"error":{"message":"late","code":500}}\n\n',
            b"data: garbage\n\n",
        ]


# --- redirects and error codes ---------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_fault_on_every_endpoint(gw: FakeGateway, client: httpx.Client, code: int) -> None:
    origin = gw.base_url.removesuffix("/v1")
    gw.push_fault("redirect", code=code, count=3)
    r = client.post("/chat/completions", json=chat())
    assert (r.status_code, r.headers["location"]) == (code, f"{origin}/moved/v1/chat/completions")
    r = client.get("/models?x=1")
    assert (r.status_code, r.headers["location"]) == (code, f"{origin}/moved/v1/models?x=1")
    r = client.post("/embeddings", json={"model": "m", "input": "x"})
    assert (r.status_code, r.headers["location"]) == (code, f"{origin}/moved/v1/embeddings")
    assert [q.path for q in gw.requests] == [
        "/v1/chat/completions",
        "/v1/models?x=1",
        "/v1/embeddings",
    ]
    assert all(q.authorized for q in gw.requests)  # recorded: the key reached this gateway
    followed = client.get(f"{origin}/moved/v1/models")  # the default target is served
    assert followed.status_code == 200 and followed.json()["data"]


def test_redirect_default_code_location_option_and_following(
    gw: FakeGateway, client: httpx.Client
) -> None:
    with FakeGateway(api_key="other-key") as other:
        target = other.base_url + "/chat/completions"
        r = client.post(
            "/chat/completions",
            json=chat(),
            headers={"X-Fake-Fault": f"redirect location={target}"},
        )
        assert (r.status_code, r.headers["location"]) == (307, target)
        assert r.content == b""
        with httpx.Client(follow_redirects=True, verify=TLS) as follower:
            auth = {"Authorization": f"Bearer {gw.api_key}"}
            gw.push_fault("redirect", location=target)
            follower.post(gw.base_url + "/chat/completions", json=chat(), headers=auth)
        (seen,) = other.requests
        assert seen.path == "/v1/chat/completions" and "authorization" not in seen.headers


def test_a_followed_redirect_ends_at_moved(gw: FakeGateway, client: httpx.Client) -> None:
    body = chat("[fake:redirect] where")
    r = client.post("/chat/completions", json=body, follow_redirects=True)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == answer_for(
        chat("where")
    )
    assert [q.path for q in gw.requests] == ["/v1/chat/completions", "/moved/v1/chat/completions"]


@pytest.mark.parametrize(
    "spec", ["redirect code=404", "redirect code=moved", "status code=abc", "redirect location=x"]
)
def test_redirect_and_code_options_are_checked(
    gw: FakeGateway, client: httpx.Client, spec: str
) -> None:
    name, _, option = spec.partition(" ")
    key, _, value = option.partition("=")
    r = client.get("/models", headers={"X-Fake-Fault": spec})
    assert r.status_code == 400 and f"{key} must be" in r.json()["error"]["message"]
    with pytest.raises(ValueError):
        gw.push_fault(name, **{key: int(value) if value.isdigit() else value})


@pytest.mark.parametrize(
    ("spec", "code", "status"),
    [
        ("", "500", 500),
        (" code=503", 503, 503),
        (" code=rate_limit_exceeded", "rate_limit_exceeded", 500),
    ],
)
def test_error_event_carries_a_code(
    client: httpx.Client, spec: str, code: str | int, status: int
) -> None:
    events, _ = stream(client, chat(f"x [fake:error_event after=1{spec}]"))
    (error,) = [e for e in events if isinstance(e, dict) and "error" in e]
    assert error["error"]["code"] == code
    r = client.post("/chat/completions", json=chat(f"x [fake:error_event{spec}]"))
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_error_null_fault_is_a_complete_answer(client: httpx.Client) -> None:
    body = chat("fine [fake:error_null]")
    r = client.post("/chat/completions", json=body)
    result = r.json()
    assert "error" in result and result["error"] is None
    assert result["choices"][0]["message"]["content"] == answer_for(body)
    assert result["choices"][0]["finish_reason"] == "stop" and result["usage"]
    events, lines = stream(client, body)
    assert joined(events) == answer_for(body) and events[-1] == "[DONE]"
    usage = events[-2]
    assert usage["choices"] == [] and usage["usage"] and usage["error"] is None
    data_lines = [line for line in lines if line]
    assert data_lines[-2].endswith(',"error":null}')
    assert all("error" not in e for e in events[:-2])


def test_fewer_choices_fault_answers_one_choice(client: httpx.Client) -> None:
    body = chat("two please [fake:fewer_choices]", n=2)
    (choice,) = client.post("/chat/completions", json=body).json()["choices"]
    assert choice["index"] == 0 and choice["message"]["content"] == answer_for(body)
    events, _ = stream(client, body)
    indexes = {c["index"] for e in events if isinstance(e, dict) for c in e["choices"]}
    assert indexes == {0} and joined(events) == answer_for(body)
    assert len(client.post("/chat/completions", json=chat("two", n=2)).json()["choices"]) == 2


# --- content that trips renderers ------------------------------------------------------------


def test_unclosed_image_fault(client: httpx.Client) -> None:
    body = chat("chart [fake:unclosed_image]")
    text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert text == answer_for(body)
    start = text.index("![chart](https://example.com/chart.png\n")
    assert ")" not in text[start : text.index("\n", start)]
    assert text[text.index("\n", start) + 1 :].strip()  # more answer text follows
    assert joined(stream(client, body)[0]) == text


def test_paren_url_fault(client: httpx.Client) -> None:
    body = chat("links [fake:paren_url]")
    text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert "![plot](https://example.com/wiki/File_(1).png)" in text
    assert "[see](https://en.wikipedia.org/wiki/Python_(programming_language))" in text
    assert joined(stream(client, body)[0]) == text == answer_for(body)


def test_unclosed_think_fault(client: httpx.Client) -> None:
    body = chat("think [fake:unclosed_think]")
    text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert text.startswith("<think>\n") and "</think>" not in text
    assert text[len("<think>\n") :] == answer_for(chat("think"))
    assert joined(stream(client, body)[0]) == text == answer_for(body)


def check_bad_images(images: list[dict[str, Any]], prompt_body: dict[str, Any]) -> None:
    urls = [item["image_url"]["url"] for item in images]
    assert all(item["type"] == "image_url" for item in images)
    html, empty, invalid, valid = urls
    assert html.startswith("data:text/html;base64,")
    assert b"<" in base64.b64decode(html.split(",", 1)[1])
    assert empty == "data:image/png;base64,"
    assert invalid.startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        base64.b64decode(invalid.split(",", 1)[1], validate=True)
    width, height, _ = read_png(png_from_url(valid))
    assert (width, height) == (64, 48)


def test_bad_images_fault(client: httpx.Client) -> None:
    body = chat("pictures [fake:bad_images]")
    message = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert message["content"] == answer_for(body)
    check_bad_images(message["images"], body)
    events, _ = stream(client, body)
    deltas = [c["delta"] for e in events if isinstance(e, dict) for c in e["choices"]]
    (with_images,) = [d for d in deltas if "images" in d]
    check_bad_images(with_images["images"], body)
    assert joined(events) == answer_for(body)


# --- gateway personalities -------------------------------------------------------------------

GOOGLE_THINKING = {"extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}}


def test_litellm_fault_headers_and_extra_body(gw: FakeGateway, client: httpx.Client) -> None:
    litellm = {"X-Fake-Fault": "litellm"}
    r = client.post("/chat/completions", json=chat("x", **GOOGLE_THINKING), headers=litellm)
    assert r.headers["x-litellm-version"] and len(r.headers["x-litellm-model-id"]) == 64
    assert set(r.json()["choices"][0]["message"]) == {"role", "content"}  # google key ignored
    assert reasoning_for(chat("x [fake:litellm]", **GOOGLE_THINKING)) is None
    assert client.post("/chat/completions", json=chat("x", **GOOGLE_THINKING)).json()["choices"][0][
        "message"
    ]["reasoning_content"]  # without the fault, new-api reads it
    camel = {"extra_body": {"google": {"thinkingConfig": {"thinkingBudget": 10}}}}
    assert client.post("/chat/completions", json=chat("x", **camel), headers=litellm).is_success
    body = chat("x [fake:litellm]", reasoning_effort="low")
    events, _ = stream(client, body)
    assert joined(events, "reasoning_content") == reasoning_for(body) is not None
    r = client.get("/models", headers=litellm)
    assert r.headers["x-litellm-version"] and "x-litellm-model-id" not in r.headers
    gw.push_fault("litellm")
    r = client.post("/embeddings", json={"model": "gemini-embedding-001", "input": "x"})
    assert r.headers["x-litellm-version"]
    assert "x-litellm-version" not in client.get("/models").headers


def level_fields(how: str, level: str) -> dict[str, Any]:
    if how == "reasoning_effort":
        return {"reasoning_effort": level}
    return {"extra_body": {"google": {"thinking_config": {"thinking_level": level}}}}


@pytest.mark.parametrize("how", ["reasoning_effort", "thinking_level"])
@pytest.mark.parametrize(
    ("model", "accepted", "rejected", "valid"),
    [
        (
            "gemini-3-flash-preview",
            ["none", "low", "medium", "high"],
            ["minimal"],
            "high, low, medium, none",
        ),
        ("gemini-3-pro-preview", ["low", "high"], ["medium", "minimal", "none"], "low, high"),
    ],
)
def test_gemini_3_thinking_levels_are_checked_per_model(
    client: httpx.Client, how: str, model: str, accepted: list[str], rejected: list[str], valid: str
) -> None:
    for level in accepted:
        body = chat("levels", model=model, **level_fields(how, level))
        r = client.post("/chat/completions", json=body)
        assert r.status_code == 200, r.text
        reasoning = r.json()["choices"][0]["message"].get("reasoning_content")
        assert (reasoning is None) == (level == "none")
    for level in rejected:
        body = chat("levels", model=model, **level_fields(how, level))
        r = client.post("/chat/completions", json={**body, "stream": True})
        assert r.status_code == 400
        (item,) = r.json()
        assert item["error"]["status"] == "INVALID_ARGUMENT"
        assert item["error"]["message"] == f"Invalid {how}: {level}. Valid values are: {valid}"


def test_gemini_2_5_takes_budgets_and_is_not_level_checked(client: httpx.Client) -> None:
    for effort in ("minimal", "medium"):
        assert client.post("/chat/completions", json=chat(reasoning_effort=effort)).is_success
    budget = {"extra_body": {"google": {"thinking_config": {"thinking_budget": 512}}}}
    body = chat("b", model="gemini-3-pro-preview", **budget)
    assert client.post("/chat/completions", json=body).is_success


# --- usage details ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["reasoning_content", "think_tags"])
def test_length_thinking_fault(client: httpx.Client, shape: str) -> None:
    body = chat(f"hard one [fake:length_thinking tokens=777 reasoning_shape={shape}]")
    assert answer_for(body) == "" and reasoning_for(body)
    result = client.post("/chat/completions", json=body).json()
    (choice,) = result["choices"]
    assert choice["finish_reason"] == "length"
    usage = result["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 777
    assert usage["completion_tokens"] == 777
    events, _ = stream(client, body)
    assert stream_reasoning(events, shape) == reasoning_for(body)
    if shape == "think_tags":
        assert split_tags(joined(events), shape)[1] == ""
        assert choice["message"]["content"] == f"<think>\n{reasoning_for(body)}\n</think>\n"
    else:
        assert joined(events) == "" and choice["message"]["content"] == ""
        assert choice["message"]["reasoning_content"] == reasoning_for(body)
    finishes = [c["finish_reason"] for e in events[:-1] for c in e["choices"] if c["finish_reason"]]
    assert finishes == ["length"]
    assert events[-2]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 777
    default = client.post("/chat/completions", json=chat("x [fake:length_thinking]")).json()
    assert default["usage"]["completion_tokens_details"]["reasoning_tokens"] == 1000


def test_cached_option_adds_prompt_tokens_details(client: httpx.Client) -> None:
    plain_usage = client.post("/chat/completions", json=chat("x")).json()["usage"]
    assert "prompt_tokens_details" not in plain_usage
    events, _ = stream(client, chat("x"))
    assert "prompt_tokens_details" not in events[-2]["usage"]
    usage = client.post("/chat/completions", json=chat("x [fake:cached=42]")).json()["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 42}
    events, _ = stream(client, chat("x"), headers={"X-Fake-Fault": "cached=7"})
    assert events[-2]["usage"]["prompt_tokens_details"] == {"cached_tokens": 7}


# --- structured output (response_format json_schema, the system-message fallback) -------------

RICH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "price": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
        "mood": {"type": "string", "enum": ["calm", "busy", "odd"]},
        "kind": {"const": "review"},
        "open": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "when": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "author": {"$ref": "#/$defs/person"},
        "editor": {"anyOf": [{"$ref": "#/$defs/person"}, {"type": "null"}]},
        "scores": {"type": "array", "items": {"type": "number", "minimum": -1, "maximum": 1}},
    },
    "required": ["title", "rating", "price", "mood", "kind", "tags", "author"],
    "$defs": {
        "person": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        }
    },
}


def schema_format(schema: Any, name: str = "review") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def test_schema_answers_are_valid_deterministic_and_made_from_the_prompt(
    client: httpx.Client,
) -> None:
    prompt = "Review the little bakery on Elm Street [fake:chunk_chars=5]"
    body = chat(prompt, response_format=schema_format(RICH_SCHEMA))
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200, r.text
    text = r.json()["choices"][0]["message"]["content"]
    doc = json.loads(text)
    jsonschema.validate(doc, RICH_SCHEMA)
    assert set(doc) == set(RICH_SCHEMA["properties"])  # optional and nullable fields are filled
    assert doc["note"] is not None and doc["editor"] is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["when"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", doc["day"])
    words = set("Review the little bakery on Elm Street".split())
    assert set(doc["title"].split()) <= words and set(doc["author"]["name"].split()) <= words
    assert 1 <= len(doc["tags"]) <= 3
    assert text == answer_for(body)
    assert client.post("/chat/completions", json=body).json() | {"created": 0, "id": ""} == (
        r.json() | {"created": 0, "id": ""}
    )
    events, _ = stream(client, body)
    assert joined(events) == text
    assert sum(1 for e in events if isinstance(e, dict) and joined([e])) > 3  # streamed in pieces
    other = answer_for(
        chat("A different prompt altogether", response_format=body["response_format"])
    )
    assert other != text
    jsonschema.validate(json.loads(other), RICH_SCHEMA)


json_leaf = st.sampled_from(
    [
        {"type": "string"},
        {"type": "integer"},
        {"type": "integer", "minimum": 3, "maximum": 4},
        {"type": "number", "minimum": 0.5, "maximum": 0.75},
        {"type": "boolean"},
        {"type": "null"},
        {"type": ["integer", "null"]},
        {"type": "string", "enum": ["a", "b", "c"]},
        {"enum": [1, "two", None]},
        {"type": "string", "maxLength": 4},
        {"type": "string", "minLength": 30},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "time"},
    ]
)
json_schemas = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.builds(
            lambda props, n: {
                "type": "object",
                "properties": props,
                "required": sorted(props)[:n],
            },
            st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=4),
            st.integers(0, 4),
        ),
        st.builds(lambda items: {"type": "array", "items": items}, inner),
        st.builds(
            lambda items, lo: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + 1},
            inner,
            st.integers(0, 4),
        ),
        st.builds(lambda a, b: {"anyOf": [a, b]}, inner, inner),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(schema=json_schemas, prompt=st.text(max_size=40))
def test_schema_answers_are_valid_for_any_schema(schema: dict[str, Any], prompt: str) -> None:
    body = chat(prompt.replace("[", "("), response_format=schema_format(schema))
    jsonschema.validate(json.loads(answer_for(body)), schema)


def test_schema_in_the_system_message_is_followed(client: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    system = (
        "Answer with one JSON object only, no prose and no code fence, that follows this "
        "JSON Schema:\n" + json.dumps(schema) + "\nThanks."
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Paris facts"}]
    for extra in ({"response_format": {"type": "json_object"}}, {}):
        body = {"model": "gemini-2.5-flash", "messages": messages, **extra}
        text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
        jsonschema.validate(json.loads(text["content"]), schema)
        events, _ = stream(client, body)
        assert joined(events) == text["content"]
    as_text = {
        "model": "gemini-2.5-flash",
        "messages": messages,
        "response_format": {"type": "text"},
    }
    assert answer_for(as_text).startswith("**Offline answer**")
    unparsable = [{"role": "system", "content": "Follow the JSON Schema {not json"}, messages[1]]
    assert answer_for({"model": "gemini-2.5-flash", "messages": unparsable}).startswith("**Off")


def test_no_json_schema_refuses_json_schema_but_not_json_mode(client: httpx.Client) -> None:
    body = chat("shape it", response_format=schema_format(RICH_SCHEMA))
    with FakeGateway(no_json_schema=True) as gateway:
        url = gateway.base_url + "/chat/completions"
        auth = {"Authorization": f"Bearer {gateway.api_key}"}
        r = client.post(url, json={**body, "stream": True}, headers=auth)
        assert r.status_code == 400
        assert r.json() == {
            "error": {
                "message": "response_format type json_schema is not supported",
                "type": "invalid_request_error",
                "param": "response_format",
                "code": "unsupported_response_format",
            }
        }
        json_mode = chat("shape it", response_format={"type": "json_object"})
        assert client.post(url, json=json_mode, headers=auth).status_code == 200
        gateway.no_json_schema = False
        assert client.post(url, json=body, headers=auth).status_code == 200
    r = client.post("/chat/completions", json=body, headers={"X-Fake-Fault": "no_json_schema"})
    assert r.json()["error"]["message"] == "response_format type json_schema is not supported"
    assert client.post("/chat/completions", json=body).status_code == 200


def test_bad_json_breaks_the_first_schema_answers_then_answers_valid_json(
    gw: FakeGateway, client: httpx.Client
) -> None:
    fmt = schema_format(RICH_SCHEMA)
    body = chat("Review the bakery [fake:bad_json]", response_format=fmt)
    first = json.loads(
        client.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    )
    assert "title" not in first  # the first required field is left out
    with pytest.raises(jsonschema.ValidationError, match="'title' is a required property"):
        jsonschema.validate(first, RICH_SCHEMA)
    assert gw.bad_json_sent == 1
    events, _ = stream(client, body)
    jsonschema.validate(json.loads(joined(events)), RICH_SCHEMA)  # times=1 per gateway: spent
    gw.clear()
    body = chat("Review the bakery [fake:bad_json times=2]", response_format=fmt)
    broken = [joined(stream(client, body)[0]) for _ in range(3)]
    assert ["title" in json.loads(text) for text in broken] == [False, False, True]
    gw.clear()
    gw.push_fault("bad_json")
    plain = chat("no schema", response_format={"type": "json_object"})
    assert client.post("/chat/completions", json=plain).status_code == 200
    assert gw.bad_json_sent == 0  # only schema answers spend it


# --- gateway-wide limits: requests per window, latency, body size; per-prompt failures --------


def gateway_client(gateway: FakeGateway) -> httpx.Client:
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    return httpx.Client(base_url=gateway.base_url, headers=headers, timeout=10, verify=TLS)


def test_rate_limit_refuses_over_the_limit_with_retry_after() -> None:
    with FakeGateway(rate_limit=2, rate_window=60) as gateway, gateway_client(gateway) as c:
        codes = [c.post("/chat/completions", json=chat()).status_code for _ in range(2)]
        r = c.get("/models")
        assert [*codes, r.status_code] == [200, 200, 429]
        error = r.json()["error"]
        assert error["type"] == "new_api_error" and error["code"] == "rate_limit_exceeded"
        assert error["message"].startswith(
            "You have reached the request limit: at most 2 requests per 60 seconds (request id: "
        )
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert (gateway.accepted, gateway.refused) == (2, 1)
        assert [q.status for q in gateway.requests] == [200, 200, 429]
        gateway.rate_limit_retry_after = False
        r = c.post("/chat/completions", json=chat(stream=True))
        assert r.status_code == 429 and "retry-after" not in r.headers
        gateway.rate_limit = 5  # settable at runtime; refused requests counted in the window too
        assert [c.get("/models").status_code for _ in range(2)] == [200, 429]
        gateway.rate_limit = None
        assert c.get("/models").status_code == 200
        gateway.clear()
        gateway.rate_limit = 1
        assert [c.get("/models").status_code for _ in range(2)] == [200, 429]
        assert (gateway.accepted, gateway.refused) == (1, 1)
    with pytest.raises(ValueError, match="rate_limit"):
        FakeGateway(rate_limit=0)


def test_rate_window_counts_every_request_in_fixed_windows() -> None:
    from ipygemini.gateway._limits import RateWindow

    window = RateWindow()
    assert [window.admit(2, 1.0, t) for t in (10.0, 10.2)] == [None, None]
    assert window.admit(2, 1.0, 10.25) == pytest.approx(0.75)
    assert window.admit(2, 1.0, 11.0) is None  # a new window starts with this request
    assert window.admit(None, 1.0, 11.1) is None


def test_latency_holds_64_concurrent_requests_without_blocking_each_other() -> None:
    results: list[int] = []
    with FakeGateway(latency=60) as gateway:

        def one(i: int) -> None:
            with gateway_client(gateway) as c:
                body = chat(f"row {i}", stream=i % 2 == 0)
                results.append(c.post("/chat/completions", json=body).status_code)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
        for thread in threads:
            thread.start()
        try:
            assert gateway.wait_for_in_flight(64, timeout=20), gateway.in_flight
            assert results == []  # all 64 are waiting out the latency at the same time
        finally:
            gateway.latency = 0  # waiting requests see the change at once
            for thread in threads:
                thread.join(20)
        assert results == [200] * 64
        assert gateway.peak_in_flight == 64 and gateway.in_flight == 0
    with pytest.raises(ValueError, match="latency"):
        FakeGateway(latency=-1)


def test_latency_comes_before_the_first_byte_and_stop_ends_it() -> None:
    gateway = FakeGateway(latency=60).start()
    try:
        sock = raw_post(gateway, chat("slow start"))
        assert gateway.wait_for_in_flight(1)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing yet: the latency is not over
        sock.settimeout(10)
    finally:
        gateway.stop()
    assert sock.recv(1) == b""  # stop() ended the waiting request without an answer
    sock.close()


def test_status_directive_in_parallel_non_streamed_rows(client: httpx.Client) -> None:
    statuses: dict[int, int] = {}

    def row(i: int) -> None:
        marker = " [fake:status code=503]" if i % 3 == 0 else ""
        with gateway_client_for(client) as c:
            statuses[i] = c.post("/chat/completions", json=chat(f"row {i}{marker}")).status_code

    threads = [threading.Thread(target=row, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == {i: 503 if i % 3 == 0 else 200 for i in range(24)}


def gateway_client_for(client: httpx.Client) -> httpx.Client:
    return httpx.Client(base_url=client.base_url, headers=client.headers, timeout=10, verify=TLS)


def test_fail_times_fails_a_prompt_only_the_first_times_it_is_seen(
    gw: FakeGateway, client: httpx.Client
) -> None:
    body = chat("row 7 [fake:status code=500 fail_times=2]")
    codes = [client.post("/chat/completions", json=body).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200]
    answer = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert answer["content"] == answer_for(chat("row 7"))
    other = chat("row 8 [fake:status code=500 fail_times=2]")
    assert client.post("/chat/completions", json=other).status_code == 500  # counted per prompt
    cut = chat("row 9 [fake:disconnect after=1 fail_times=1]", stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client, cut)
    events, _ = stream(client, cut)  # the retry gets the whole answer
    assert events[-1] == "[DONE]"
    gw.clear()
    assert client.post("/chat/completions", json=body).status_code == 500  # clear() forgets


def test_fail_times_in_parallel_fails_each_row_once(client: httpx.Client) -> None:
    rounds: list[dict[int, int]] = [{}, {}]

    def row(i: int, round_: int) -> None:
        body = chat(f"row {i} [fake:status code=502 fail_times=1]")
        with gateway_client_for(client) as c:
            rounds[round_][i] = c.post("/chat/completions", json=body).status_code

    for round_ in (0, 1):
        threads = [threading.Thread(target=row, args=(i, round_)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    assert rounds == [dict.fromkeys(range(16), 502), dict.fromkeys(range(16), 200)]


def test_max_body_bytes_refuses_larger_bodies_with_413() -> None:
    with FakeGateway(max_body_bytes=300) as gateway, gateway_client(gateway) as c:
        small = chat("short")
        assert c.post("/chat/completions", json=small).status_code == 200
        big = chat("long " * 100)
        size = len(json.dumps(big).encode())
        r = c.post("/chat/completions", content=json.dumps(big).encode())
        assert r.status_code == 413
        assert r.json() == {
            "error": {
                "message": f"Request body too large: {size} bytes, the limit is 300 bytes "
                "(max_body_bytes)",
                "type": "new_api_error",
                "code": "request_body_too_large",
            }
        }
        assert r.headers["connection"] == "close"
        chunks = iter([json.dumps(big).encode()[:200], json.dumps(big).encode()[200:]])
        r = c.post("/chat/completions", content=chunks)  # chunked: no length known up front
        assert r.status_code == 413
        assert "more than 300 bytes, the limit is 300 bytes" in r.json()["error"]["message"]
        assert gateway.requests[-1].status == 413 and gateway.requests[-1].body is None
        gateway.max_body_bytes = None
        assert c.post("/chat/completions", json=big).status_code == 200


# --- tool calls ---------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "unit": {"type": "string", "enum": ["C", "F"]},
            },
            "required": ["city", "days"],
        },
    },
}
CLOCK_TOOL = {"type": "function", "function": {"name": "get_time"}}


def tool_deltas(events: list[Any]) -> list[dict[str, Any]]:
    return [
        call
        for e in events
        if isinstance(e, dict)
        for c in e.get("choices") or []
        for call in c["delta"].get("tool_calls") or []
    ]


def streamed_calls(events: list[Any]) -> list[dict[str, Any]]:
    """The tool calls of a stream put together by index, as a client does."""
    calls: dict[int, dict[str, Any]] = {}
    for delta in tool_deltas(events):
        call = calls.setdefault(delta["index"], {"arguments": ""})
        for key in ("id", "type", "extra_content"):
            if key in delta:
                call[key] = delta[key]
        function = delta.get("function") or {}
        if "name" in function:
            call["name"] = function["name"]
        call["arguments"] += function.get("arguments", "")
    return [calls[i] for i in sorted(calls)]


def finish_reasons(events: list[Any]) -> list[str]:
    return [
        c["finish_reason"]
        for e in events
        if isinstance(e, dict)
        for c in e.get("choices") or []
        if c["finish_reason"]
    ]


def test_default_tool_call_non_streamed(client: httpx.Client) -> None:
    body = chat("What is the weather in Paris?", tools=[WEATHER_TOOL, CLOCK_TOOL])
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    message = choice["message"]
    assert message["content"] is None and choice["finish_reason"] == "stop"
    [call] = message["tool_calls"]
    assert set(call) == {"id", "type", "function"}  # no signature for Gemini 2.5
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])
    assert set(arguments["city"].split()) <= set("What is the weather in Paris?".split())
    assert client.post("/chat/completions", json=body).json()["choices"][0]["message"] == message


def test_default_tool_call_streamed_in_pieces(client: httpx.Client) -> None:
    body = chat("Weather in Oslo?", tools=[WEATHER_TOOL])
    whole = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    events, _ = stream(client, body)
    deltas = tool_deltas(events)
    first = deltas[0]
    assert first == {
        "index": 0,
        "id": whole["tool_calls"][0]["id"],
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    pieces = [d["function"]["arguments"] for d in deltas[1:]]
    assert len(pieces) >= 2 and all(set(d) == {"index", "function"} for d in deltas[1:])
    assert "".join(pieces) == whole["tool_calls"][0]["function"]["arguments"]
    assert joined(events) == ""
    assert finish_reasons(events) == ["stop"]
    assert events[-2]["usage"]["completion_tokens"] > 0 and events[-1] == "[DONE]"
    events, _ = stream(
        client, {**body, "messages": [{"role": "user", "content": "x [fake:finish=tool_calls]"}]}
    )
    assert finish_reasons(events) == ["tool_calls"]
    with FakeGateway(tool_finish="tool_calls") as gateway, gateway_client(gateway) as c:
        r = c.post("/chat/completions", json=body)
        assert r.json()["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_results_are_quoted_in_text(client: httpx.Client) -> None:
    body = chat("Weather in Rome?", tools=[WEATHER_TOOL])
    call = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    result = {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"], "content": "Sunny, 24 C"}
    follow = {**body, "messages": [*body["messages"], call, result]}
    r = client.post("/chat/completions", json=follow)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "The tool said: Sunny, 24 C"
    assert "tool_calls" not in r.json()["choices"][0]["message"]
    assert answer_for(follow) == "The tool said: Sunny, 24 C"
    events, _ = stream(client, follow)
    assert joined(events) == "The tool said: Sunny, 24 C" and not tool_deltas(events)
    later = {**follow, "messages": [*follow["messages"], {"role": "user", "content": "And?"}]}
    assert answer_for(later).startswith("**Offline answer**")  # a tool message came already


def test_scripted_rounds_with_parallel_calls(gw: FakeGateway, client: httpx.Client) -> None:
    gw.script_tool_calls(
        [
            [("get_weather", {"city": "Paris", "days": 2})],
            [("get_time", {}), ("get_weather", '{"city": "Oslo"')],  # raw (broken) JSON as is
            [],
        ]
    )
    assert gw.pending_tool_rounds == 3
    assert client.post("/chat/completions", json=chat("no tools")).status_code == 200
    assert gw.pending_tool_rounds == 3  # only requests that declare tools take a round
    body = chat("Go", tools=[WEATHER_TOOL, CLOCK_TOOL])
    [call] = client.post("/chat/completions", json=body).json()["choices"][0]["message"][
        "tool_calls"
    ]
    assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == (
        "get_weather",
        {"city": "Paris", "days": 2},
    )
    events, _ = stream(client, body)
    calls = streamed_calls(events)
    assert [(c["name"], c["arguments"]) for c in calls] == [
        ("get_time", "{}"),
        ("get_weather", '{"city": "Oslo"'),
    ]
    assert len({c["id"] for c in calls}) == 2
    assert {d["index"] for d in tool_deltas(events)} == {0, 1}
    text = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    assert text["content"].startswith("**Offline answer**") and gw.pending_tool_rounds == 0
    assert (
        "tool_calls" in client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    )
    gw.script_tool_calls([[("a", {})]])
    gw.clear()
    assert gw.pending_tool_rounds == 0
    for bad in ([("", {})], [("f", 3)], ["f"], "f"):
        with pytest.raises(ValueError, match="round 0"):
            gw.script_tool_calls([bad])  # type: ignore[list-item]


def test_tool_choice(client: httpx.Client) -> None:
    tools = [WEATHER_TOOL, CLOCK_TOOL]
    none = chat("Weather?", tools=tools, tool_choice="none")
    assert client.post("/chat/completions", json=none).json()["choices"][0]["message"]["content"]
    named = chat(
        "Time?", tools=tools, tool_choice={"type": "function", "function": {"name": "get_time"}}
    )
    [call] = client.post("/chat/completions", json=named).json()["choices"][0]["message"][
        "tool_calls"
    ]
    assert call["function"] == {"name": "get_time", "arguments": "{}"}


@pytest.mark.parametrize(
    ("tools", "fragment"),
    [
        ({"type": "function"}, "tools must be an array"),
        ([{"type": "function", "function": {}}], "tools[0] must be"),
        ([{"type": "retrieval"}], "tools[0] must be"),
    ],
)
def test_malformed_tools_are_400(client: httpx.Client, tools: Any, fragment: str) -> None:
    r = client.post("/chat/completions", json=chat("x", tools=tools))
    assert r.status_code == 400 and fragment in r.json()["error"]["message"]


def test_tool_messages_must_answer_a_call_of_the_previous_assistant_message(
    client: httpx.Client,
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assistant = {"role": "assistant", "content": None, "tool_calls": [call]}
    user = {"role": "user", "content": "hi"}
    ok = {"role": "tool", "tool_call_id": "call_1", "content": "done"}
    body = chat("x", tools=[CLOCK_TOOL])
    body["messages"] = [user, assistant, ok]
    assert client.post("/chat/completions", json=body).status_code == 200
    for tool_message, fragment in [
        ({"role": "tool", "content": "done"}, "messages[2] (role tool) needs a tool_call_id"),
        (
            {"role": "tool", "tool_call_id": "call_2", "content": "done"},
            "messages[2].tool_call_id 'call_2' matches no tool call of the previous assistant",
        ),
    ]:
        body["messages"] = [user, assistant, tool_message]
        r = client.post("/chat/completions", json=body)
        assert r.status_code == 400 and fragment in r.json()["error"]["message"], r.text
    body["messages"] = [user, {"role": "tool", "tool_call_id": "call_1", "content": "?"}]
    assert client.post("/chat/completions", json=body).status_code == 400


def test_gemini_3_thought_signatures_must_come_back_unchanged(
    gw: FakeGateway, client: httpx.Client
) -> None:
    gw.script_tool_calls([[("get_weather", {"city": "Paris"}), ("get_time", {})]])
    body = chat("Weather?", model="gemini-3-pro-preview", tools=[WEATHER_TOOL, CLOCK_TOOL])
    events, _ = stream(client, body)
    firsts = [d for d in tool_deltas(events) if "id" in d]
    signatures = [d["extra_content"]["google"]["thought_signature"] for d in firsts]
    assert len(set(signatures)) == 2 and all(
        re.fullmatch(r"[A-Za-z0-9+/=]{40,}", s) for s in signatures
    )
    assert all("extra_content" not in d for d in tool_deltas(events) if "id" not in d)
    calls = streamed_calls(events)
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
                "extra_content": c["extra_content"],
            }
            for c in calls
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": c["id"], "content": f"{c['name']} ok"} for c in calls
    ]
    follow = {**body, "messages": [*body["messages"], assistant, *results]}
    r = client.post("/chat/completions", json=follow)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == (
        "The tools said:\n- get_weather: get_weather ok\n- get_time: get_time ok"
    )
    assert gw.requests[-1].thought_signatures == signatures
    missing = json.loads(json.dumps(follow))
    del missing["messages"][1]["tool_calls"][1]["extra_content"]
    r = client.post("/chat/completions", json=missing)
    assert r.status_code == 400
    assert r.json() == [
        {
            "error": {
                "code": 400,
                "message": "Function call is missing a thought_signature in functionCall parts. "
                "This is required for tools to work correctly, and missing thought_signature may "
                "lead to degraded model performance. Additional data, function call "
                "`default_api:get_time` , position 2. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                "status": "INVALID_ARGUMENT",
            }
        }
    ]
    changed = json.loads(json.dumps(follow))
    changed["messages"][1]["tool_calls"][0]["extra_content"]["google"]["thought_signature"] = "AAAA"
    r = client.post("/chat/completions", json=changed)
    assert (
        r.status_code == 400 and r.json()[0]["error"]["message"] == "Corrupted thought signature."
    )
    earlier = {
        **missing,
        "messages": [
            *missing["messages"],
            {"role": "assistant", "content": "x"},
            {"role": "user", "content": "next"},
        ],
    }
    assert client.post("/chat/completions", json=earlier).status_code == 200  # current turn only
    on_25 = {**missing, "model": "gemini-2.5-flash"}
    assert client.post("/chat/completions", json=on_25).status_code == 200


def test_gemini_3_non_streamed_calls_carry_signatures(client: httpx.Client) -> None:
    body = chat("Weather?", model="gemini-3-pro-preview", tools=[WEATHER_TOOL])
    message = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
    [call] = message["tool_calls"]
    assert isinstance(call["extra_content"]["google"]["thought_signature"], str)
    result = {"role": "tool", "tool_call_id": call["id"], "content": "rain"}
    follow = {**body, "messages": [*body["messages"], message, result]}
    assert client.post("/chat/completions", json=follow).status_code == 200
