"""What the fake gateway answers: deterministic text and reasoning planned from a request.

Pure functions (no I/O), so tests can compute the expected answer with `answer_for(body)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._chat_request import (
    check_attachments,
    check_thinking_levels,
    google_options,
    invalid,
    is_image_model,
    json_mode,
    litellm_body,
    max_tokens_of,
    prompt_tokens,
    read_prompt,
    reject_camel_case,
    stop_sequences,
    system_text,
    thinking_requested,
    validate_chat,
)
from ._directives import Directives
from ._images import image_geometry
from ._llama import llama_cpp_refusal
from ._records import ReceivedAttachment, attachments_of, last_user_message
from ._schema_answers import break_document, document_for, requested_schema, schema_refused
from ._tool_calls import (
    PlannedToolCall,
    ScriptedCall,
    check_tool_turns,
    plan_tool_calls,
    tool_results_text,
)

__all__ = [
    "IMAGE_TEXT",
    "JSON_SCHEMA_REFUSED",
    "PAREN_URLS",
    "UNCLOSED_IMAGE",
    "ChatPlan",
    "PlanHooks",
    "answer_for",
    "plan_chat",
    "reasoning_for",
]


HEADER = "**Offline answer** from ipygemini's built-in FakeGateway (no API key needed)."

IMAGE_TEXT = "Here is the generated image (offline)."

IMAGE_TOKENS = 1290  # what Gemini bills per generated image

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

JSON_SCHEMA_REFUSED = "response_format type json_schema is not supported"

_WORD = re.compile(r"\S+")


def word_count(text: str) -> int:
    return len(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


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
    prompt: str, *, system: str | None, attachments: Sequence[ReceivedAttachment], words: int | None
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
    tool_calls: tuple[PlannedToolCall, ...] = ()  # the same calls in every choice

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
        text += sum(len(c.arguments) // 4 + 1 for c in self.tool_calls) * self.n
        return text + reasoning + images, reasoning, images


def _no_round() -> Sequence[ScriptedCall] | None:
    return None


def _always(times: int) -> bool:
    return times > 0


@dataclass(frozen=True)
class PlanHooks:
    """What planning asks of the running gateway: its tool-call script, its ``bad_json`` budget
    and its settings. The defaults (no script, every ``bad_json`` answer broken) serve
    `answer_for`, which has no gateway."""

    next_tool_round: Callable[[], Sequence[ScriptedCall] | None] = _no_round
    spend_bad_json: Callable[[int], bool] = _always
    no_json_schema: bool = False
    tool_finish: str = "stop"


def _json_texts(
    body: Mapping[str, Any], prompt: str, merged: Directives, hooks: PlanHooks, n: int
) -> list[str] | None:
    """The JSON answers of a schema or JSON-mode request (None: not one)."""
    # llama-cpp-python follows a schema only as a grammar from response_format
    schema = requested_schema(body, from_messages=not merged.has("llama_cpp"))
    if schema is not None:
        doc = document_for(schema, prompt)
        if merged.has("bad_json") and hooks.spend_bad_json(merged.get_int("times", 1)):
            doc = break_document(doc, schema)
        return [json.dumps(doc, ensure_ascii=False)] * n
    if json_mode(body):
        plain: dict[str, Any] = {"answer": "offline", "prompt": prompt, "words": word_count(prompt)}
        return [json.dumps(plain if i == 0 else {**plain, "choice": i + 1}) for i in range(n)]
    return None


def plan_chat(
    body: Any, directives: Directives | None = None, hooks: PlanHooks | None = None
) -> ChatPlan:
    """Validate a chat body and decide the answer. `directives`, when given, are all of the
    request's (the prompt's included); else the prompt's ``[fake:...]`` directives apply.

    Raises GatewayError for anything a gateway would refuse.
    """
    hooks = hooks or PlanHooks()
    body = validate_chat(body)
    prompt, found = read_prompt(body)
    merged = found if directives is None else directives
    if merged.has("litellm"):
        body = litellm_body(body)
    google = google_options(body)
    reject_camel_case(google)
    check_thinking_levels(body)
    check_attachments(body)
    check_tool_turns(body)
    if merged.has("llama_cpp") and (refusal := llama_cpp_refusal(body)) is not None:
        raise refusal
    if (hooks.no_json_schema or merged.has("no_json_schema")) and schema_refused(body):
        raise invalid(JSON_SCHEMA_REFUSED, "response_format", "unsupported_response_format")
    model = body["model"]
    n = 1 if merged.has("fewer_choices") else body.get("n") or 1
    image = is_image_model(model) or merged.has("big_image")
    tool_calls: tuple[PlannedToolCall, ...] = ()
    if image:
        image_geometry(body)  # validate the aspect ratio before anything is sent
        base = IMAGE_TEXT
        texts = [decorate(base if i == 0 else f"{base} (choice {i + 1})", merged) for i in range(n)]
        finishes = ["stop"] * n
    elif tool_calls := plan_tool_calls(body, prompt, hooks.next_tool_round):
        texts = [""] * n
        finishes = [merged.get_str("finish", hooks.tool_finish)] * n
    else:
        raw = _json_texts(body, prompt, merged, hooks, n)
        if raw is None:
            message = last_user_message(body)
            words = merged.options.get("words")
            base = tool_results_text(body) or compose_answer(
                prompt,
                system=system_text(body),
                attachments=attachments_of(message) if message is not None else [],
                words=words if isinstance(words, int) else None,
            )
            raw = [base if i == 0 else f"{base} (choice {i + 1})" for i in range(n)]
        raw = [decorate(text, merged) for text in raw]
        cut = [truncate(text, stop_sequences(body), max_tokens_of(body)) for text in raw]
        texts = [text for text, _ in cut]
        finishes = [finish for _, finish in cut]
    reasoning = compose_reasoning(prompt) if thinking_requested(body) else None
    reasoning_tokens = None
    if merged.has("length_thinking"):  # thinking used the whole budget: no answer text
        texts, finishes, image, tool_calls = [""] * n, ["length"] * n, False, ()
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
        tool_calls=tool_calls,
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
