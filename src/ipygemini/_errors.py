"""One exception tree for everything ipygemini raises; messages never contain the API key.

    GeminiError                      every error; ``str(err)`` is one line: what, then what to do
    ├── OptionError (ValueError)     an option or setting has a value that cannot work
    │   ├── MissingKeyError          no API key for a gateway that needs one
    │   └── InsecureURLError         a malformed base URL, or the key would go out in clear text
    ├── AttachmentError (ValueError) a notebook object cannot be attached
    ├── ConnectionError (builtins.ConnectionError)   the gateway could not be reached
    ├── TimeoutError (builtins.TimeoutError)         the gateway did not answer in time
    ├── APIStatusError               the gateway answered with an error status
    │   ├── BadRequestError          400, 422
    │   ├── AuthenticationError      401, 403
    │   ├── NotFoundError            404, 503 model_not_found
    │   ├── RateLimitError           429
    │   ├── RedirectError            3xx: the base URL moved; the key is not sent after it
    │   └── ServerError              5xx, and answers that are not what the protocol promises
    └── StreamError                  a stream failed after it started; ``.reply`` keeps what came

Nothing from httpx escapes this tree. `TimeoutError` and `ConnectionError` also subclass the
built-ins of the same name, so ``except TimeoutError`` catches them.
"""

from __future__ import annotations

import builtins
import json
import re
from typing import TYPE_CHECKING, Any

from ._masking import SEARCHED_FROM, mask_key

if TYPE_CHECKING:
    from ._types import Reply

__all__ = [
    "APIStatusError",
    "AttachmentError",
    "AuthenticationError",
    "BadRequestError",
    "ConnectionError",
    "GeminiError",
    "InsecureURLError",
    "MissingKeyError",
    "NotFoundError",
    "OptionError",
    "RateLimitError",
    "RedirectError",
    "ServerError",
    "StreamError",
    "TimeoutError",
    "error_for_status",
    "error_parts",
    "parse_error_body",
]


class GeminiError(Exception):
    """Base of every ipygemini error. ``str(err)`` is one line: what happened, then what to do."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        if hint is not None:
            self.hint = hint
        self.message = message
        super().__init__(f"{message} {self.hint}".strip() if self.hint else message)

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback wall: one red line that says what to do.
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class OptionError(GeminiError, ValueError):
    """An option or setting has a value that cannot work; the message names it and the range."""


class AttachmentError(GeminiError, ValueError):
    """An object cannot be attached; the one-line message says which one and what to do."""


class MissingKeyError(OptionError):
    """No API key was configured."""

    hint = (
        "Set the GEMINI_API_KEY environment variable before starting Jupyter, or run "
        "%gemini login (it asks without echoing and keeps the key in memory only); "
        "never write the key into the notebook."
    )


class APIStatusError(GeminiError):
    """The gateway answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | int | None = None,
        body: Any = None,
        hint: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.body = body
        self.retry_after: float | None = None
        """Seconds the gateway asked to wait (``retry-after-ms`` / ``Retry-After``), if it did."""
        super().__init__(message, hint=hint)


class BadRequestError(APIStatusError):
    hint = "The gateway rejected the request: check the model name and parameters."


class AuthenticationError(APIStatusError):
    hint = (
        "Check GEMINI_API_KEY (or %gemini login) and that the key is allowed to use this model "
        "and has quota left."
    )


class NotFoundError(APIStatusError):
    hint = "Check GEMINI_BASE_URL and the model name; %gemini models lists the models this gateway offers."


class RateLimitError(APIStatusError):
    hint = "Too many requests or quota used up: wait a moment and run again, or raise max_retries."


class ServerError(APIStatusError):
    hint = "The gateway or the model failed; this is usually temporary: try again in a moment."


class RedirectError(APIStatusError):
    """The gateway answered 3xx. Redirects are not followed: the key must not go to another host."""

    def __init__(
        self, status_code: int, location: str | None, *, base_url: str | None = None
    ) -> None:
        self.location = location
        where = f" to {location}" if location else ""
        target = base_url or location
        super().__init__(
            f"HTTP {status_code}: the gateway redirects{where}.",
            status_code=status_code,
            hint=(
                f"Set GEMINI_BASE_URL (or base_url) to {target}; "
                if target
                else "Set GEMINI_BASE_URL (or base_url) to the gateway's current address; "
            )
            + "redirects are not followed so that the key never goes to another host.",
        )


class ConnectionError(GeminiError, builtins.ConnectionError):
    hint = "Check GEMINI_BASE_URL and your network connection."


class TimeoutError(GeminiError, builtins.TimeoutError):
    hint = "The gateway did not answer in time: try again, or raise the timeout."


class StreamError(GeminiError):
    """The stream failed after it started. `reply` keeps everything that arrived before;
    `code` is the code the gateway gave with an error it reported mid-stream (else None)."""

    hint = "The partial answer is kept in the reply; run again to get the rest."

    def __init__(
        self,
        message: str,
        *,
        reply: Reply | None = None,
        code: str | int | None = None,
        hint: str | None = None,
    ) -> None:
        self.reply = reply
        self.code = code
        super().__init__(message, hint=hint)


def _as_error_dict(body: Any) -> dict[str, Any] | None:
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str):
            return {"message": inner}
    return None


_SERVER_TRACE = re.compile(r'\n\s*File "[^"\n]*", line \d+')
"""Where a server's message goes on with its own traceback (llama-cpp-python's server appends
``File "/…/app.py", line 376, in …``): the user is shown what went wrong, not its paths."""


def parse_error_body(raw: bytes) -> tuple[str, str | int | None, Any]:
    """(message, code, parsed body) from any error body gateways send.

    Accepts ``{"error": {...}}``, Google's ``[{"error": {...}}]``, ``{"message": ...}``, plain
    text and empty bodies; ``code`` may be a string or a number.
    """
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return "", None, None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return " ".join(text.split())[:300], None, text
    err = _as_error_dict(body)
    if err is None:
        return " ".join(text.split())[:300], None, body
    message = err.get("message")
    message = " ".join(_SERVER_TRACE.split(str(message))[0].split()) if message is not None else ""
    code = err.get("code")
    if code in ("", None):
        code = err.get("status") or err.get("type") or None
    if not isinstance(code, str | int) or isinstance(code, bool):
        code = None
    return message, code, body


_STATUS_CLASS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def sentence(text: str) -> str:
    """`text` ending in a full stop (unless it already ends a sentence)."""
    return text if text.endswith((".", "!", "?", "。", "！", "？")) else text + "."


def _masked(value: Any, secret: str, hint: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, hint)
    if isinstance(value, list):
        return [_masked(v, secret, hint) for v in value]
    if isinstance(value, dict):
        return {_masked(k, secret, hint): _masked(v, secret, hint) for k, v in value.items()}
    return value


def error_parts(raw: bytes, *, secret: str | None = None) -> tuple[str, str | int | None, Any]:
    """`parse_error_body` with the key masked everywhere (message, code and body)."""
    hint = ""
    if (
        secret and len(secret) >= SEARCHED_FROM
    ):  # before parsing: not in the message, its cut-off, nor `body`
        hint = mask_key(secret)
        raw = raw.replace(secret.encode(), hint.encode())
    message, code, body = parse_error_body(raw)
    if hint and secret:  # and after: JSON escapes (\u0073k-…, \/) hide the key from the byte search
        message, code = _masked(message, secret, hint), _masked(code, secret, hint)
        try:
            body = _masked(body, secret, hint)
        except RecursionError:
            body = None
    return message, code, body


def short_code(code: str | int | None) -> str:
    """A code as it may stand in a one-line message (blank when there is none)."""
    return " ".join(str(code).split())[:80] if code is not None else ""


def error_for_status(status: int, raw: bytes, *, secret: str | None = None) -> APIStatusError:
    """The exception for an HTTP error response, with the gateway's own words and a hint."""
    message, code, body = error_parts(raw, secret=secret)
    if status == 503 and code == "model_not_found":
        cls: type[APIStatusError] = NotFoundError
    elif status >= 500:
        cls = ServerError
    else:
        cls = _STATUS_CLASS.get(status, BadRequestError if 400 <= status < 500 else ServerError)
    detail = f": {message}" if message else " (empty response body)"
    shown = short_code(code)
    code_text = f" [{shown}]" if shown and shown != str(status) else ""
    return cls(
        sentence(f"HTTP {status}{code_text}{detail}"), status_code=status, code=code, body=body
    )


class InsecureURLError(OptionError):
    """The base URL is malformed, or would send the key in clear text."""
