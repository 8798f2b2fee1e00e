"""Pure helpers: _types (images, usage, data URLs) and the I/O-free functions of the client
(_parse, _retry, _core)."""

from __future__ import annotations

import base64
import math
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import data_url
from ipygemini import Client, OptionError
from ipygemini._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    error_for_status,
)
from ipygemini._png import solid_png
from ipygemini._settings import is_loopback, mask_key
from ipygemini._types import (
    Choice,
    GeneratedImage,
    Model,
    Usage,
    decode_data_url,
    sniff_mime,
)
from ipygemini.client._core import build_messages
from ipygemini.client._parse import (
    DEFAULT_EMBEDDING_MODEL,
    decode_embedding,
    embedding_bodies,
    order_embeddings,
    parse_models,
)
from ipygemini.client._retry import retry_delay, should_retry

PNG = solid_png(7, 5, (10, 20, 30))
GIF = b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 20
# SOI, an APP0 segment, then SOF0 with height 300 and width 400
JPEG = (
    b"\xff\xd8"
    + b"\xff\xe0"
    + struct.pack(">H", 16)
    + b"JFIF\x00"
    + b"\x00" * 9
    + b"\xff\xc0"
    + struct.pack(">HBHH", 17, 8, 300, 400)
    + b"\x00" * 12
)
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 10


# --- sniff_mime / decode_data_url -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (b"GIF87a" + b"\x00" * 6, "image/gif"),
        (WEBP, "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"", None),
        (b"hello", None),
    ],
)
def test_sniff_mime(data: bytes, mime: str | None) -> None:
    assert sniff_mime(data) == mime


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (data_url(b"hi", "text/plain"), ("text/plain", b"hi")),
        ("data:;base64,aGk=", ("application/octet-stream", b"hi")),
        ("data:image/png;name=a.png;base64,aGk=", ("image/png", b"hi")),
        ("data:image/png;base64, aG\nk= ", ("image/png", b"hi")),
        ("data:image/png;base64,", ("image/png", b"")),
        ("data:image/png,aGk=", None),
        ("data:image/png;base64", None),
        ("data:image/png;base64,abc", None),  # bad padding
        ("data:image/png;base64,é", None),  # not ASCII
        ("https://e.com/a.png", None),
        ("", None),
    ],
)
def test_decode_data_url(url: str, expected: tuple[str, bytes] | None) -> None:
    assert decode_data_url(url) == expected


# --- GeneratedImage -------------------------------------------------------------------------


def test_from_data_url_sniffs_the_real_type() -> None:
    image = GeneratedImage.from_url(data_url(PNG, "image/jpeg"))
    assert image is not None
    assert (image.data, image.mime_type, image.url) == (PNG, "image/png", None)
    # only PNG/JPEG/GIF/WebP bytes are images (ipygemini._images.IMAGE_MIME_TYPES)
    assert GeneratedImage.from_url(data_url(b"\x00\x01", "image/heic")) is None


@pytest.mark.parametrize("url", ["https://e.com/a.png", "http://127.0.0.1:8000/a.png"])
def test_from_remote_url_is_a_reference(url: str) -> None:
    image = GeneratedImage.from_url(url)
    assert image is not None
    assert (image.data, image.mime_type, image.url) == (None, "", url)
    assert image.size is None
    assert image._repr_png_() is None and image._repr_jpeg_() is None
    assert repr(image) == f"GeneratedImage(url={url!r})"


@pytest.mark.parametrize("url", ["ftp://e.com/a.png", "javascript:alert(1)", "a.png", "data:x"])
def test_from_other_urls_is_none(url: str) -> None:
    assert GeneratedImage.from_url(url) is None


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (PNG, (7, 5)),
        (GIF, (640, 480)),
        (JPEG, (400, 300)),
        (WEBP, None),
        (b"\x89PNG\r\n\x1a\n", None),  # too short for a header
        (b"\xff\xd8\xff", None),
        (b"", None),
    ],
)
def test_size(data: bytes, size: tuple[int, int] | None) -> None:
    assert GeneratedImage(data).size == size


def test_repr_and_rich_display() -> None:
    png = GeneratedImage(PNG, "image/png")
    assert repr(png) == f"GeneratedImage(image/png, 7x5, {len(PNG):,} bytes)"
    assert png._repr_png_() == PNG and png._repr_jpeg_() is None
    jpeg = GeneratedImage(JPEG, "image/jpeg")
    assert jpeg._repr_png_() is None and jpeg._repr_jpeg_() == JPEG
    assert repr(jpeg) == f"GeneratedImage(image/jpeg, 400x300, {len(JPEG)} bytes)"
    assert repr(GeneratedImage(b"abc", "image/webp")) == "GeneratedImage(image/webp, 3 bytes)"


def test_save(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    assert GeneratedImage(PNG).save(target) == str(target)
    assert target.read_bytes() == PNG
    assert GeneratedImage(PNG).save(str(target)) == str(target)


def test_save_remote_image_explains(tmp_path: Path) -> None:
    image = GeneratedImage(None, "", url="https://e.com/a.png")
    with pytest.raises(ValueError, match=r"https://e\.com/a\.png.*not downloaded"):
        image.save(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --- Usage / Choice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "usage"),
    [
        ({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, Usage(1, 2, 3, 0)),
        ({"prompt_tokens": 1, "completion_tokens": 2}, Usage(1, 2, 3, 0)),
        ({"completion_tokens_details": {"reasoning_tokens": 9}}, Usage(0, 0, 0, 9)),
        ({"reasoning_tokens": 4, "completion_tokens_details": None}, Usage(0, 0, 0, 4)),
        ({"prompt_tokens": True, "completion_tokens": "2", "total_tokens": 1.5}, Usage(0, 0, 0, 0)),
        ({}, Usage()),
        (None, None),
        ([1, 2], None),
        ("usage", None),
    ],
)
def test_usage_from_json(obj: Any, usage: Usage | None) -> None:
    assert Usage.from_json(obj) == usage


def test_choice_joins_pieces_once() -> None:
    choice = Choice(text="a")
    choice._text.extend(["b", "c"])
    assert choice.text == "abc"
    assert choice._text == ["abc"]
    assert Choice().text == "" and Choice().reasoning == ""
    assert "text='abc'" in repr(choice)


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "-5"}, 0.0),
        ({"retry-after-ms": "9999999"}, 60.0),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "3600"}, 60.0),
        ({"retry-after": "inf"}, 60.0),
        ({"retry-after": "-1"}, 0.0),
        ({"retry-after": "nan"}, 0.0),  # a sleep(nan) would raise
        ({"retry-after-ms": "nan"}, 0.0),
        (httpx.Headers({"Retry-After": "4"}), 4.0),
        (httpx.Headers({"Retry-After-Ms": "100"}), 0.1),
    ],
)
def test_retry_delay_honours_headers(headers: Any, delay: float) -> None:
    got = retry_delay(3, headers, backoff=10.0)
    assert got == pytest.approx(delay)
    assert math.isfinite(got) and 0.0 <= got <= 60.0


@pytest.mark.parametrize(
    "headers", [None, {}, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, {"retry-after": ""}]
)
@pytest.mark.parametrize("attempt", [0, 1, 2, 5])
def test_retry_delay_backoff_with_jitter(headers: Any, attempt: int) -> None:
    base = 0.5 * 2**attempt
    for _ in range(50):
        assert 0.75 * base <= retry_delay(attempt, headers, backoff=0.5) <= 1.25 * base


def test_retry_delay_exact_without_jitter() -> None:
    no_jitter = lambda a, b: 1.0  # noqa: E731
    assert [retry_delay(a, None, backoff=1.0, jitter=no_jitter) for a in range(4)] == [
        1.0,
        2.0,
        4.0,
        8.0,
    ]


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (RateLimitError("x", status_code=429), True),
        (ServerError("x", status_code=500), True),
        (ServerError("x", status_code=502), True),
        (ServerError("x", status_code=503), True),
        (ServerError("x", status_code=504), True),
        (ServerError("x", status_code=524), True),
        (ServerError("x", status_code=529), True),
        (ServerError("x", status_code=501), False),
        (NotFoundError("x", status_code=503, code="model_not_found"), False),
        (BadRequestError("x", status_code=400), False),
        (AuthenticationError("x", status_code=401), False),
        (AuthenticationError("x", status_code=403), False),
        (NotFoundError("x", status_code=404), False),
        (ServerError("x", status_code=200), False),
    ],
)
def test_should_retry(error: APIStatusError, retry: bool) -> None:
    assert should_retry(error) is retry


def test_should_retry_on_parsed_bodies() -> None:
    model_not_found = b'{"error":{"message":"No available channel","code":"model_not_found"}}'
    assert not should_retry(error_for_status(503, model_not_found))
    assert should_retry(error_for_status(503, b""))
    assert should_retry(error_for_status(429, b""))
    assert not should_retry(error_for_status(401, b'{"error":{"message":"Invalid token"}}'))


# --- embeddings -----------------------------------------------------------------------------


def b64_floats(*values: float) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def test_decode_embedding() -> None:
    assert decode_embedding([1, 2.5, -3]) == [1.0, 2.5, -3.0]
    assert decode_embedding(b64_floats(0.5, -1.25, 2.0)) == [0.5, -1.25, 2.0]
    assert decode_embedding("") == []
    raw = struct.pack("<2f", 1.0, 2.0) + b"\x01\x02"  # a ragged tail is ignored
    assert decode_embedding(base64.b64encode(raw).decode()) == [1.0, 2.0]
    with pytest.raises(ValueError, match="NoneType"):
        decode_embedding(None)
    with pytest.raises(ValueError):
        decode_embedding("abc")  # bad base64
    with pytest.raises(ValueError):
        decode_embedding(["x"])


def test_order_embeddings_by_unique_index() -> None:
    data = [
        {"index": 2, "embedding": [2.0]},
        {"index": 0, "embedding": b64_floats(0.0)},
        {"index": 1, "embedding": [1.0]},
    ]
    assert order_embeddings(data) == [[0.0], [1.0], [2.0]]


@pytest.mark.parametrize(
    "indices",
    [[0, 0, 0], [1, None, 0], [0, "1", 2], [5, 5, 1]],
)
def test_order_embeddings_by_position_when_indices_are_unusable(indices: list[Any]) -> None:
    data = [{"index": i, "embedding": [float(k)]} for k, i in enumerate(indices)]
    assert order_embeddings(data) == [[0.0], [1.0], [2.0]]


def test_order_embeddings_skips_non_objects() -> None:
    assert order_embeddings([None, {"embedding": [1]}, "x"]) == [[1.0]]
    assert order_embeddings([]) == []


def test_embedding_bodies_batches_of_100() -> None:
    texts = [f"t{i}" for i in range(250)]
    bodies = list(embedding_bodies(texts, model=None, dimensions=768))
    assert [len(b["input"]) for b in bodies] == [100, 100, 50]
    assert [t for b in bodies for t in b["input"]] == texts
    assert all(b["model"] == DEFAULT_EMBEDDING_MODEL and b["dimensions"] == 768 for b in bodies)


def test_embedding_bodies_single_string() -> None:
    assert list(embedding_bodies("hello", model="text-embedding-004", dimensions=None)) == [
        {"model": "text-embedding-004", "input": ["hello"]}
    ]


@pytest.mark.parametrize(
    ("texts", "dimensions", "words"),
    [
        ([], None, "at least one text"),
        (["a", 1], None, "a string or a list of strings"),
        (["a"], 0, "dimensions must be a whole number >= 1; got 0"),
        (["a"], True, "got True"),
        (["a"], 1.5, "got 1.5"),
    ],
)
def test_embedding_bodies_errors(texts: Any, dimensions: Any, words: str) -> None:
    with pytest.raises(OptionError, match=words.replace(".", r"\.")):
        list(embedding_bodies(texts, model=None, dimensions=dimensions))


# --- models ---------------------------------------------------------------------------------


def test_parse_models_new_api() -> None:
    obj = {
        "success": True,
        "object": "list",
        "data": [
            {
                "id": "gemini-2.5-flash",
                "object": "model",
                "created": 1626777600,
                "owned_by": "custom",
            },
            {"id": "models/gemini-2.5-flash-image", "owned_by": None, "created": "x"},
            {"id": 7},
            "models/text-embedding-004",
            None,
        ],
    }
    models = parse_models(obj)
    assert [m.id for m in models] == [
        "gemini-2.5-flash",
        "gemini-2.5-flash-image",
        "text-embedding-004",
    ]
    assert models[0] == Model("gemini-2.5-flash", "custom", 1626777600, obj["data"][0])
    assert (models[1].owned_by, models[1].created) == (None, None)
    assert models[2].raw == {}


def test_parse_models_google_native_and_lists() -> None:
    assert [m.id for m in parse_models({"models": [{"name": "models/gemini-2.5-pro"}]})] == [
        "gemini-2.5-pro"
    ]
    assert [m.id for m in parse_models([{"id": "a"}, "b"])] == ["a", "b"]
    for junk in (None, {}, {"data": None}, "list", 5, {"models": "x"}):
        assert parse_models(junk) == []


# --- keys, hosts, messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        (None, "(not set)"),
        ("", "(not set)"),
        ("short", "…"),
        ("12345678", "…"),
        ("sk-123456789", "…6789"),
    ],
)
def test_mask_key(key: str | None, shown: str) -> None:
    assert mask_key(key) == shown


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_build_messages_from_a_prompt() -> None:
    assert build_messages("hi") == [{"role": "user", "content": "hi"}]
    assert build_messages("hi", system="be brief") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]


def test_build_messages_from_a_list() -> None:
    given = [{"role": "user", "content": "a"}]
    out = build_messages(given, system="s")
    assert out == [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}]
    assert out[1] is not given[0] and given == [{"role": "user", "content": "a"}]
    with_system = [{"role": "system", "content": "mine"}, {"role": "user", "content": "a"}]
    assert build_messages(with_system, system="other") == with_system
    assert build_messages([], system="s") == [{"role": "system", "content": "s"}]


def test_build_messages_rejects_attachments_with_a_message_list() -> None:
    with pytest.raises(OptionError, match="attachments go with a prompt string"):
        build_messages([{"role": "user", "content": "a"}], attachments=["x.png"])


def test_json_option_sets_response_format() -> None:
    core = Client(api_key="sk-test-key-1234", base_url="https://gw.example/v1")._core
    body = core.chat_body("hi", stream=False, json=True)
    assert body["response_format"] == {"type": "json_object"}
    explicit = {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
    body = core.chat_body("hi", stream=True, json=True, response_format=explicit)
    assert body["response_format"] == explicit
    assert "response_format" not in core.chat_body("hi", stream=False)
