"""What the fake gateway answers: deterministic text, reasoning and images derived from a request.

Pure functions (no I/O), so tests can compute the expected answer with `answer_for(body)`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._png import (
    decode_png,
    gradient_png,
    noise_png,
    solid_png,
    tint_png,
)
from ._directives import DirectiveError, Directives, strip_directives
from ._records import (
    SUPPORTED_MIME_TYPES,
    ReceivedAttachment,
    all_attachments,
    attachments_of,
    last_user_message,
    message_text,
)

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_IMAGE_SIZE",
    "IMAGE_TEXT",
    "ChatPlan",
    "GatewayError",
    "answer_for",
    "bad_image_urls",
    "image_for",
    "plan_chat",
    "reasoning_for",
]

HEADER = "**Offline answer** from ipygemini's built-in FakeGateway (no API key needed)."
IMAGE_TEXT = "Here is the generated image (offline)."
DEFAULT_IMAGE_SIZE = (64, 48)
MAX_EDIT_SIDE = 4096
IMAGE_TOKENS = 1290  # what Gemini bills per generated image

# Aspect ratios Gemini image models accept; the short side of the fake image is 48 pixels.
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")

FILLER = (
    "This reply was written by a local stand-in for a Gemini gateway, so it costs nothing "
    "and needs no network. The same request always gets the same answer, which makes it "
    "handy for tutorials and tests. It streams in small chunks exactly like a real model "
    "behind an OpenAI-compatible gateway. Point ipygemini at a real gateway URL and API key "
    "to get real answers."
)

CODE_BLOCK = """```python
def fibonacci(n: int) -> list[int]:
    \"\"\"The first n Fibonacci numbers.\"\"\"
    numbers = [0, 1]
    while len(numbers) < n:
        numbers.append(numbers[-1] + numbers[-2])
    return numbers[:n]


print(fibonacci(10))
```"""

# Markdown a model may write that trips renderers (the unclosed_image and paren_url faults).
UNCLOSED_IMAGE = "![chart](https://example.com/chart.png\nThe chart shows a steady rise."
PAREN_URLS = (
    "![plot](https://example.com/wiki/File_(1).png)\n\n"
    "For background, [see](https://en.wikipedia.org/wiki/Python_(programming_language))."
)

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 90, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
    "pink": (240, 120, 180),
    "brown": (130, 80, 40),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "cyan": (40, 200, 210),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
}
_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOURS) + r")\b", re.IGNORECASE)
_WORD = re.compile(r"\S+")


class GatewayError(ValueError):
    """A request the gateway refuses: HTTP `status` with JSON `body` (None = empty body)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        message = body["error"]["message"] if _has_message(body) else f"HTTP {status}"
        super().__init__(message)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _has_message(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), dict)
        and "message" in body["error"]
    )


def invalid(message: str, param: str = "", code: str = "invalid_request") -> GatewayError:
    """A 400 in the shape new-api uses for request validation errors."""
    return GatewayError(
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        },
    )


def convert_failed(message: str) -> GatewayError:
    """new-api's HTTP 500 for a request its Gemini converter rejects."""
    return GatewayError(
        500,
        {"error": {"message": message, "type": "new_api_error", "code": "convert_request_failed"}},
    )


def word_count(text: str) -> int:
    return len(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _collapse(text: str) -> str:
    return " ".join(text.split())


# --- request reading -----------------------------------------------------------------------


def _check_number(body: Mapping[str, Any], name: str, lo: float, hi: float | None) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} must be a number, not {value!r}", name)
    if value < lo or (hi is not None and value > hi):
        rng = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
        raise invalid(f"{name} must be {rng}; got {value!r}", name)


def _check_int(body: Mapping[str, Any], name: str, lo: int, hi: int) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise invalid(f"{name} must be a whole number from {lo} to {hi}; got {value!r}", name)


def validate_chat(body: Any) -> Mapping[str, Any]:
    """`body` if it is a chat request a gateway would accept, else GatewayError 400."""
    if not isinstance(body, Mapping):
        raise invalid("Invalid request body: expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages is required and must be a non-empty array", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise invalid(f"messages[{i}] must be an object with a role", "messages")
    _check_number(body, "temperature", 0, 2)
    _check_number(body, "top_p", 0, 1)
    _check_number(body, "frequency_penalty", -2, 2)
    _check_number(body, "presence_penalty", -2, 2)
    _check_int(body, "n", 1, 16)
    _check_int(body, "max_tokens", 1, 10_000_000)
    _check_int(body, "max_completion_tokens", 1, 10_000_000)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise invalid("stop must be a string or an array of strings", "stop")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("stream must be a boolean", "stream")
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise invalid(
                "response_format.type must be text, json_object or json_schema", "response_format"
            )
    return body


def litellm_body(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`body` as a LiteLLM proxy reads it: a literal ``extra_body``'s keys become top-level keys."""
    extra = body.get("extra_body")
    if not isinstance(extra, Mapping):
        return body
    return {**{k: v for k, v in body.items() if k != "extra_body"}, **extra}


def _google(body: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = body.get("extra_body")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    return google if isinstance(google, Mapping) else {}


_CAMEL = {
    "thinkingConfig": "thinking_config",
    "imageConfig": "image_config",
    "thinkingBudget": "thinking_budget",
    "includeThoughts": "include_thoughts",
    "thinkingLevel": "thinking_level",
    "aspectRatio": "aspect_ratio",
    "imageSize": "image_size",
}


def _reject_camel_case(google: Mapping[str, Any]) -> None:
    """new-api only reads snake_case keys under extra_body.google and rejects camelCase ones."""
    scopes: list[tuple[str, Mapping[str, Any]]] = [("extra_body.google", google)]
    for key in ("thinking_config", "image_config"):
        inner = google.get(key)
        if isinstance(inner, Mapping):
            scopes.append((f"extra_body.google.{key}", inner))
    for where, scope in scopes:
        for key in scope:
            if key in _CAMEL:
                raise convert_failed(
                    f"{where}.{key} is not supported, use snake_case {_CAMEL[key]} instead"
                )


# Thinking levels Gemini 3 models accept (reasoning_effort or thinking_config.thinking_level), in
# the order Google lists them in its 400; other models are not checked (2.5 takes budgets).
THINKING_LEVELS: dict[str, tuple[str, ...]] = {
    "gemini-3-flash": ("high", "low", "medium", "none"),
    "gemini-3-pro": ("low", "high"),
}


def accepted_levels(model: object) -> tuple[str, ...] | None:
    """The thinking levels `model` accepts, or None when it takes no levels (or is not checked)."""
    if not isinstance(model, str):
        return None
    name = model.lower().removeprefix("models/")
    for prefix, levels in THINKING_LEVELS.items():
        if name.startswith(prefix):
            return levels
    return None


def google_invalid(message: str) -> GatewayError:
    """A 400 in the shape Google's OpenAI-compatible endpoint uses (a JSON array)."""
    return GatewayError(
        400, [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}]
    )


def check_thinking_levels(body: Mapping[str, Any]) -> None:
    """Reject a reasoning_effort or thinking_level the Gemini 3 model does not take, as Google does."""
    levels = accepted_levels(body.get("model"))
    if levels is None:
        return
    effort = body.get("reasoning_effort")
    if isinstance(effort, Mapping):
        effort = effort.get("effort")
    config = _google(body).get("thinking_config")
    level = config.get("thinking_level") if isinstance(config, Mapping) else None
    for name, value in (("reasoning_effort", effort), ("thinking_level", level)):
        if value is not None and (not isinstance(value, str) or value.lower() not in levels):
            raise google_invalid(f"Invalid {name}: {value}. Valid values are: {', '.join(levels)}")


def thinking_requested(body: Mapping[str, Any]) -> bool:
    """Whether `body` switches thinking on, in any form a gateway understands."""
    model = body.get("model")
    if isinstance(model, str) and model.endswith("-nothinking"):
        return False
    config = _google(body).get("thinking_config")
    if isinstance(config, Mapping):
        include = config.get("include_thoughts")
        budget = config.get("thinking_budget")
        level = config.get("thinking_level")
        if isinstance(include, bool):
            if include:
                return True
        elif isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            return True
        elif isinstance(level, str) and level.lower() not in ("", "none", "minimal"):
            return True
    effort = body.get("reasoning_effort")
    if isinstance(effort, Mapping):
        effort = effort.get("effort")
    if isinstance(effort, str) and effort.lower() not in ("", "none", "disable", "disabled"):
        return True
    extra = body.get("extra_body")
    if isinstance(extra, Mapping) and extra.get("enable_thinking") is True:
        return True
    if body.get("enable_thinking") is True:
        return True
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping):
        off = (
            reasoning.get("enabled") is False
            or reasoning.get("exclude") is True
            or reasoning.get("effort") == "none"
        )
        if not off:
            return True
    thinking = body.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") == "enabled"


def read_prompt(body: Mapping[str, Any]) -> tuple[str, Directives]:
    """The last user message's text without directives (whitespace collapsed), and the directives."""
    message = last_user_message(body)
    text = message_text(message.get("content")) if message is not None else ""
    try:
        cleaned, names, options = strip_directives(text)
    except DirectiveError as exc:
        raise invalid(f"FakeGateway directive: {exc}", "messages", "fake_directive") from None
    directives = Directives()
    directives.add(names, options)
    return _collapse(cleaned), directives


def _system_text(body: Mapping[str, Any]) -> str | None:
    for message in body.get("messages") or ():
        if isinstance(message, Mapping) and message.get("role") in ("system", "developer"):
            return _collapse(message_text(message.get("content")))
    return None


def prompt_tokens(body: Mapping[str, Any]) -> int:
    text = "".join(
        message_text(m.get("content")) for m in body.get("messages") or () if isinstance(m, Mapping)
    )
    return len(text) // 4 + 1


def check_attachments(body: Mapping[str, Any]) -> None:
    """Reject undecodable payloads and MIME types outside new-api's whitelist, like new-api does."""
    for attachment in all_attachments(body):
        if attachment.problem is not None:
            raise invalid(f"invalid {attachment.kind} part: {attachment.problem}", "messages")
        mime = attachment.mime_type
        if attachment.data is not None and mime is not None and mime not in SUPPORTED_MIME_TYPES:
            supported = ", ".join(sorted(SUPPORTED_MIME_TYPES))
            where = attachment.filename or f"data:{mime};base64,..."
            raise convert_failed(
                f"mime type is not supported by Gemini: '{mime}', url: '{where}', "
                f"supported types are: [{supported}]"
            )


def is_image_model(model: str) -> bool:
    return "image" in model.lower()


def json_mode(body: Mapping[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema")


def _stops(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


# --- answer composition --------------------------------------------------------------------


def filler_words(count: int) -> str:
    """`count` words of deterministic filler, with a paragraph break every 60 words."""
    vocabulary = FILLER.split()
    parts: list[str] = []
    for i in range(count):
        if i:
            parts.append("\n\n" if i % 60 == 0 else " ")
        parts.append(vocabulary[i % len(vocabulary)])
    return "".join(parts)


def compose_answer(
    prompt: str,
    *,
    system: str | None,
    attachments: Sequence[ReceivedAttachment],
    words: int | None,
) -> str:
    """The full answer text for a prompt, before stop/max_tokens are applied."""
    blocks = [HEADER, f'You asked: "{_clip(prompt, 200)}"']
    if system is not None:
        blocks.append(f'System prompt: "{_clip(system, 80)}"')
    if attachments:
        blocks.append("\n".join(a.describe() for a in attachments))
    if words is not None:
        if words:
            blocks.append(filler_words(words))
    else:
        blocks.append(FILLER)
        if re.search(r"\bcode\b", prompt, re.IGNORECASE):
            blocks.append(CODE_BLOCK)
    return "\n\n".join(blocks)


def compose_reasoning(prompt: str) -> str:
    return (
        f'Thinking about "{_clip(prompt, 60)}": step 1, I read the request and note what is asked. '
        "Step 2, I recall what I know that is relevant. "
        "Step 3, I plan a short, well-structured answer."
    )


def decorate(text: str, directives: Directives) -> str:
    """`text` with the Markdown the content faults ask for (inserted after the first two blocks)."""
    inserts = [
        block
        for name, block in (("unclosed_image", UNCLOSED_IMAGE), ("paren_url", PAREN_URLS))
        if directives.has(name)
    ]
    if inserts:
        blocks = text.split("\n\n")
        blocks[2:2] = inserts
        text = "\n\n".join(blocks)
    if directives.has("unclosed_think"):
        text = "<think>\n" + text
    return text


def truncate(text: str, stops: Sequence[str], max_tokens: int | None) -> tuple[str, str]:
    """`text` cut at the first stop sequence and at `max_tokens` words, with its finish reason."""
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    if positions:
        text = text[: min(positions)]
    if max_tokens is not None:
        words = list(_WORD.finditer(text))
        if len(words) > max_tokens:
            return text[: words[max_tokens - 1].end()], "length"
    return text, "stop"


@dataclass(frozen=True)
class ChatPlan:
    """Everything a chat response says, decided before any byte is written."""

    model: str
    prompt: str
    texts: list[str]
    finish_reasons: list[str]
    reasoning: str | None
    is_image: bool
    prompt_tokens: int
    reasoning_tokens: int | None = None  # reported instead of the reasoning's word count
    cached_tokens: int | None = None  # None: usage has no prompt_tokens_details

    @property
    def n(self) -> int:
        return len(self.texts)

    def usage_numbers(self) -> tuple[int, int, int]:
        """(completion tokens, reasoning tokens, image tokens) over all choices."""
        if self.reasoning_tokens is not None:
            reasoning = self.reasoning_tokens
        else:
            reasoning = word_count(self.reasoning) * self.n if self.reasoning else 0
        images = IMAGE_TOKENS * self.n if self.is_image else 0
        text = sum(word_count(t) for t in self.texts)
        return text + reasoning + images, reasoning, images


def plan_chat(body: Any, directives: Directives | None = None) -> ChatPlan:
    """Validate a chat body and decide the answer. `directives` adds header/queued options.

    Raises GatewayError for anything a gateway would refuse.
    """
    body = validate_chat(body)
    prompt, found = read_prompt(body)
    merged = Directives()
    if directives is not None:
        merged.add(directives.faults, directives.options)
    merged.add(found.faults, found.options)
    if merged.has("litellm"):
        body = litellm_body(body)
    google = _google(body)
    _reject_camel_case(google)
    check_thinking_levels(body)
    check_attachments(body)
    model = body["model"]
    n = 1 if merged.has("fewer_choices") else body.get("n") or 1
    image = is_image_model(model) or merged.has("big_image")
    if image:
        _image_geometry(body)  # validate the aspect ratio before anything is sent
        base = IMAGE_TEXT
        texts = [decorate(base if i == 0 else f"{base} (choice {i + 1})", merged) for i in range(n)]
        finishes = ["stop"] * n
    else:
        if json_mode(body):
            doc: dict[str, Any] = {
                "answer": "offline",
                "prompt": prompt,
                "words": word_count(prompt),
            }
            raw = [json.dumps(doc if i == 0 else {**doc, "choice": i + 1}) for i in range(n)]
        else:
            message = last_user_message(body)
            words = merged.options.get("words")
            base = compose_answer(
                prompt,
                system=_system_text(body),
                attachments=attachments_of(message) if message is not None else [],
                words=words if isinstance(words, int) else None,
            )
            raw = [base if i == 0 else f"{base} (choice {i + 1})" for i in range(n)]
        raw = [decorate(text, merged) for text in raw]
        cut = [truncate(text, _stops(body), _max_tokens(body)) for text in raw]
        texts = [text for text, _ in cut]
        finishes = [finish for _, finish in cut]
    reasoning = compose_reasoning(prompt) if thinking_requested(body) else None
    reasoning_tokens = None
    if merged.has("length_thinking"):  # thinking used the whole budget: no answer text
        texts, finishes, image = [""] * n, ["length"] * n, False
        reasoning = compose_reasoning(prompt)
        reasoning_tokens = merged.get_int("tokens", 1000)
    cached = merged.options.get("cached")
    return ChatPlan(
        model=model,
        prompt=prompt,
        texts=texts,
        finish_reasons=finishes,
        reasoning=reasoning,
        is_image=image,
        prompt_tokens=prompt_tokens(body),
        reasoning_tokens=reasoning_tokens,
        cached_tokens=cached if isinstance(cached, int) else None,
    )


def answer_for(body: Mapping[str, Any]) -> str:
    """The text of the first choice the fake gateway gives for `body` (after max_tokens/stop).

    Reasoning and generated images are not part of it (see `reasoning_for`); ``[fake:...]``
    directives in the prompt are honoured, header and queued ones cannot be seen here.
    """
    return plan_chat(body).texts[0]


def reasoning_for(body: Mapping[str, Any]) -> str | None:
    """The reasoning text the fake gateway emits for `body`, or None when thinking is off."""
    return plan_chat(body).reasoning


# --- images --------------------------------------------------------------------------------


def _aspect_ratio(body: Mapping[str, Any]) -> str | None:
    config = _google(body).get("image_config")
    if not isinstance(config, Mapping):
        config = body.get("image_config")
    ratio = config.get("aspect_ratio") if isinstance(config, Mapping) else None
    if ratio is None:
        return None
    if ratio not in ASPECT_RATIOS:
        raise invalid(
            f"image_config.aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}; got {ratio!r}",
            "extra_body",
        )
    return str(ratio)


def _source_image(body: Mapping[str, Any]) -> ReceivedAttachment | None:
    message = last_user_message(body)
    if message is None:
        return None
    for attachment in attachments_of(message):
        if attachment.data is not None and attachment.image_size is not None:
            return attachment
    return None


def _image_geometry(body: Mapping[str, Any]) -> tuple[int, int]:
    """The size of the generated image: the aspect ratio if given (short side 48 px), else the
    edited image's size (when not larger than 4096 px a side), else 64×48."""
    ratio = _aspect_ratio(body)
    if ratio is not None:
        w, h = (int(part) for part in ratio.split(":"))
        return (round(48 * w / h), 48) if w >= h else (48, round(48 * h / w))
    source = _source_image(body)
    if source is not None and source.image_size is not None:
        width, height = source.image_size
        if 0 < width <= MAX_EDIT_SIDE and 0 < height <= MAX_EDIT_SIDE:
            return width, height
    return DEFAULT_IMAGE_SIZE


def prompt_colour(prompt: str) -> tuple[int, int, int] | None:
    """The first colour word of the prompt as RGB, or None."""
    match = _COLOUR_WORD.search(prompt)
    return COLOURS[match.group(1).lower()] if match else None


def _hash_colour(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return digest[0], digest[1], digest[2]


def image_for(body: Mapping[str, Any], directives: Directives | None = None) -> bytes:
    """The PNG the fake image model returns for `body`.

    A colour word in the prompt gives a solid image of that colour, otherwise a vertical gradient
    of a colour hashed from the prompt. Editing (an image in the last user message) keeps the
    input's size and, for small 8-bit RGB/RGBA PNGs, its pixels tinted half-way to the colour.
    ``big_image`` (mb=N) returns about N MB of incompressible noise instead.
    """
    if directives is not None and directives.has("big_image"):
        return noise_png(int(directives.get_float("mb", 4.0) * 1_000_000))
    prompt, _ = read_prompt(body)
    colour = prompt_colour(prompt)
    width, height = _image_geometry(body)
    source = _source_image(body)
    if source is not None and source.data is not None and _aspect_ratio(body) is None:
        decoded = decode_png(source.data)
        if decoded is not None:
            return tint_png(decoded, colour or _hash_colour(prompt))
    if colour is not None:
        return solid_png(width, height, colour)
    top = _hash_colour(prompt)
    return gradient_png(width, height, top, (top[0] // 2, top[1] // 2, top[2] // 2))


def bad_image_urls(body: Mapping[str, Any], directives: Directives | None = None) -> list[str]:
    """The bad_images fault's data URLs: HTML, empty, invalid base64, then one valid PNG."""
    html = base64.b64encode(b"<img src=x onerror=alert(1)>").decode("ascii")
    valid = base64.b64encode(image_for(body, directives)).decode("ascii")
    return [
        f"data:text/html;base64,{html}",
        "data:image/png;base64,",
        "data:image/png;base64,not*valid*base64!",
        f"data:image/png;base64,{valid}",
    ]
