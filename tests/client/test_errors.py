"""parse_error_body, error_for_status and the exception tree."""

from __future__ import annotations

import json

import pytest

from ipygemini._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    GeminiError,
    InsecureURLError,
    MissingKeyError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
    error_for_status,
    parse_error_body,
)
from ipygemini._types import Reply

NEW_API_401 = b'{"error":{"message":"Invalid token (request id: 2026042812)","type":"new_api_error","code":""}}'
NEW_API_503 = json.dumps(
    {
        "error": {
            "message": "No available channel for model gemini-9 under group default (distributor)",
            "type": "new_api_error",
            "code": "model_not_found",
        }
    }
).encode()
GOOGLE_ARRAY = json.dumps(
    [
        {
            "error": {
                "code": 400,
                "message": 'Invalid JSON payload received. Unknown name "thinking": Cannot find field.',
                "status": "INVALID_ARGUMENT",
                "details": [],
            }
        }
    ]
).encode()


# --- parse_error_body -----------------------------------------------------------------------


def test_parse_new_api_object() -> None:
    message, code, body = parse_error_body(NEW_API_401)
    assert message == "Invalid token (request id: 2026042812)"
    assert code == "new_api_error"  # empty code: the type stands in
    assert body == json.loads(NEW_API_401)


def test_parse_google_array() -> None:
    message, code, body = parse_error_body(GOOGLE_ARRAY)
    assert message.startswith("Invalid JSON payload received.")
    assert code == 400
    assert isinstance(body, list)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"error":{"message":"m","code":429}}', 429),
        (b'{"error":{"message":"m","type":"x","param":"","code":"429"}}', "429"),
        (
            b'{"error":{"message":"m","code":"","status":"RESOURCE_EXHAUSTED"}}',
            "RESOURCE_EXHAUSTED",
        ),
        (b'{"error":{"message":"m","code":null}}', None),
        (b'{"error":{"message":"m","code":true}}', None),
        (b'{"error":{"message":"m","code":{"x":1}}}', None),
        (b'{"error":{"message":"m","code":1.5}}', None),
    ],
)
def test_parse_string_and_numeric_codes(raw: bytes, code: object) -> None:
    message, parsed, _ = parse_error_body(raw)
    assert message == "m"
    assert parsed == code and type(parsed) is type(code)


@pytest.mark.parametrize("raw", [b"", b"   \n", b"\r\n"])
def test_parse_empty_body(raw: bytes) -> None:
    assert parse_error_body(raw) == ("", None, None)


def test_parse_plain_text_and_html() -> None:
    message, code, body = parse_error_body(b"<html>\n  <b>Bad   Gateway</b>\n</html>")
    assert message == "<html> <b>Bad Gateway</b> </html>"
    assert code is None and body == "<html>\n  <b>Bad   Gateway</b>\n</html>"
    long, _, _ = parse_error_body(b"x" * 1000)
    assert len(long) == 300


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"message":"top level"}', "top level"),
        (b'{"error":"just a string"}', "just a string"),
        (b'{"error":{"message":"multi\\n  line"}}', "multi line"),
        (b'{"error":{"message":42}}', "42"),
        (b'{"error":{}}', ""),
        (b"[]", "[]"),
        (b"123", "123"),
        (b'"quoted"', '"quoted"'),
        (b'{"error": 5}', '{"error": 5}'),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
def test_parse_odd_bodies(raw: bytes, message: str) -> None:
    assert parse_error_body(raw)[0] == message


# --- error_for_status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, BadRequestError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, BadRequestError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (524, ServerError),
        (529, ServerError),
        (302, ServerError),
    ],
)
def test_status_to_class(status: int, cls: type[APIStatusError]) -> None:
    err = error_for_status(status, b'{"error":{"message":"boom"}}')
    assert type(err) is cls
    assert err.status_code == status
    assert str(err).startswith(f"HTTP {status}: boom. ")
    assert err.hint and str(err).endswith(err.hint)
    assert err.message == f"HTTP {status}: boom."


def test_503_model_not_found_is_not_found() -> None:
    err = error_for_status(503, NEW_API_503)
    assert type(err) is NotFoundError
    assert err.code == "model_not_found"
    assert "[model_not_found]" in str(err) and "No available channel" in str(err)


def test_503_other_code_is_server_error() -> None:
    err = error_for_status(503, b'{"error":{"message":"busy","code":"overloaded"}}')
    assert type(err) is ServerError


def test_google_array_body() -> None:
    err = error_for_status(400, GOOGLE_ARRAY)
    assert isinstance(err, BadRequestError)
    assert err.code == 400
    assert str(err).startswith('HTTP 400: Invalid JSON payload received. Unknown name "thinking"')
    assert "[400]" not in str(err)  # a code equal to the status is not repeated


def test_empty_body() -> None:
    err = error_for_status(429, b"")
    assert isinstance(err, RateLimitError)
    assert err.code is None and err.body is None
    assert str(err).startswith("HTTP 429 (empty response body).")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b'{"error":{"message":"slow down","code":"rate_limited"}}', "[rate_limited]"),
        (b'{"error":{"message":"slow down","code":42}}', "[42]"),
        (b'{"error":{"message":"slow down","code":"429"}}', None),
        (b'{"error":{"message":"slow down","code":429}}', None),
    ],
)
def test_codes_in_the_message(raw: bytes, shown: str | None) -> None:
    text = str(error_for_status(429, raw))
    if shown is None:
        assert text.startswith("HTTP 429: slow down.")
    else:
        assert text.startswith(f"HTTP 429 {shown}: slow down.")


def test_chinese_message_is_kept() -> None:
    raw = '{"error":{"message":"您已达到请求数限制：1分钟内最多请求10次"}}'.encode()
    assert "您已达到请求数限制" in str(error_for_status(429, raw))


KEY = "sk-live-0123456789abcdefghijklmnopqrstuvwxyzWXYZ"


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"error": {"message": f"Invalid token {KEY} (request id: 1)"}}).encode(),
        json.dumps([{"error": {"message": f"bad key {KEY}", "code": 401}}]).encode(),
        f"plain text: key={KEY} rejected".encode(),
        ("x" * 280 + f" key={KEY} rejected").encode(),  # the key straddles the 300-char cut
        json.dumps({"error": {"message": "nope", "code": KEY}}).encode(),
    ],
)
def test_secret_is_masked(raw: bytes) -> None:
    err = error_for_status(401, raw, secret=KEY)
    for text in (str(err), repr(err), err.message, repr(err.body), repr(err.code), repr(err.args)):
        assert KEY not in text
        assert KEY[:12] not in text  # not even a cut-off prefix
    assert "…WXYZ" in str(err) or "…WXYZ" in repr(err.body)


def test_short_or_missing_secret_changes_nothing() -> None:
    raw = b'{"error":{"message":"abc"}}'
    assert str(error_for_status(401, raw, secret="abc")).startswith("HTTP 401: abc.")
    assert str(error_for_status(401, raw, secret=None)).startswith("HTTP 401: abc.")
    assert str(error_for_status(401, raw, secret="")).startswith("HTTP 401: abc.")


# --- the exception tree ---------------------------------------------------------------------


def test_tree() -> None:
    for cls in (
        BadRequestError,
        AuthenticationError,
        NotFoundError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(cls, APIStatusError) and issubclass(cls, GeminiError)
    assert issubclass(MissingKeyError, ValueError) and issubclass(InsecureURLError, ValueError)
    assert issubclass(StreamError, GeminiError)


def test_render_traceback_is_one_line() -> None:
    err = error_for_status(401, NEW_API_401)
    lines = err._render_traceback_()
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "AuthenticationError" in lines[0] and "Invalid token" in lines[0]
    assert lines[0].endswith(str(err))
    missing = MissingKeyError("No API key: GEMINI_API_KEY is not set.")
    (line,) = missing._render_traceback_()
    assert "\n" not in line and "GEMINI_API_KEY" in line and "%gemini login" in line


def test_message_and_hint() -> None:
    err = GeminiError("Something failed.")
    assert str(err) == "Something failed." and err.hint == ""
    custom = ServerError("x.", status_code=500, hint="Do y.")
    assert str(custom) == "x. Do y." and custom.hint == "Do y."
    assert ServerError.hint != "Do y."  # the class default is untouched


def test_stream_error_keeps_the_reply() -> None:
    reply = Reply()
    err = StreamError("Stream failed: x.", reply=reply)
    assert err.reply is reply
    assert str(err).startswith("Stream failed: x. ")
