"""What a client learns about its gateway, and how a body the gateway rejected is revised.

Pure and I/O-free: the sync and async loops call `GatewayMemory.observe` with every response's
headers and `GatewayMemory.revise` with every 400, and resend at once when it returns True;
`build_chat_body(..., gateway=memory)` asks it which thinking style to use and applies what
it learned to every new body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ._structured import drop_schema, json_object_fallback, refuses_json_schema
from ._thinking import LEVELS, find_level, nearest_level

__all__ = ["GatewayMemory", "accepted_levels", "auto_thinking_style"]

_UNKNOWN_FIELD = re.compile(r'Unknown name \\?"(\w+)"')
_VALID_VALUES = re.compile(r"valid values are:?\s*([^\n]*)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_]+")
_ABOUT_THINKING = re.compile(r"thinking|reasoning|effort", re.IGNORECASE)
_PROTECTED = frozenset({"model", "messages"})


def auto_thinking_style(kind: str | None) -> str:
    """The thinking style for a gateway of `kind` when the user has not chosen one.

    LiteLLM unwraps a literal ``"extra_body"`` the way openai-python does, so
    ``extra_body.google`` arrives upstream as a top-level ``google`` key that is silently
    dropped: there ``reasoning_effort`` is the form it maps to Gemini's thinking config
    (PROTOCOL.md §2.4). For every other gateway the literal ``extra_body.google.thinking_config``
    is the one form that works most widely: Google's endpoint reads it (and rejects unknown
    top-level keys), new-api's native Gemini channels read only it (``reasoning_effort`` is
    ignored there unless an admin enabled the thinking adapter), and one-api's Gemini
    OpenAI-compatible channel forwards the raw body to Google (§2.1-2.3, §2.6).
    """
    return "reasoning_effort" if kind == "litellm" else "google"


def accepted_levels(message: str) -> tuple[str, ...]:
    """The thinking levels a 400 message says are valid ("Invalid thinking_level: medium.
    Valid values are: high, low"), or () when it is about something else (such as tool_choice,
    whose values include "none")."""
    match = _VALID_VALUES.search(message)
    if match is None or not _ABOUT_THINKING.search(message):
        return ()
    found: list[str] = []
    for word in _WORD.findall(match.group(1)):
        level = word.lower().removeprefix("thinking_level_")
        if level in LEVELS and level not in found:
            found.append(level)
    return tuple(found)


class GatewayMemory:
    """Facts about one gateway learned from its answers; one per client, kept between calls."""

    def __init__(
        self,
        facts: Mapping[str, Any] | None = None,
        *,
        on_learn: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """`facts`: what this gateway taught earlier clients (`facts()`'s form); `on_learn` is
        called with the new facts whenever a lesson is learned (to keep them for new clients)."""
        facts = facts or {}
        kind = facts.get("kind")
        self.kind: str | None = kind if isinstance(kind, str) else None
        """"litellm" once the gateway announced itself as LiteLLM; None while unknown."""
        levels = facts.get("levels")
        self.levels: dict[str, tuple[str, ...]] = {
            str(model): tuple(accepted)
            for model, accepted in (levels.items() if isinstance(levels, Mapping) else ())
        }
        """The thinking levels each model accepts, learned from the gateway's 400s."""
        self.json_schema_refused = facts.get("json_schema_refused") is True
        """The gateway refused ``response_format`` ``json_schema``: ask ``json_object`` instead."""
        self._on_learn = on_learn

    def facts(self) -> dict[str, Any]:
        """What was learned, as plain JSON data (what `GatewayMemory(facts)` takes back)."""
        facts: dict[str, Any] = {}
        if self.kind is not None:
            facts["kind"] = self.kind
        if self.json_schema_refused:
            facts["json_schema_refused"] = True
        if self.levels:
            facts["levels"] = {model: list(accepted) for model, accepted in self.levels.items()}
        return facts

    def _learned(self) -> None:
        if self._on_learn is not None:
            self._on_learn(self.facts())

    @property
    def pristine(self) -> bool:
        """Nothing learned yet: a body is sent as it was asked."""
        return self.kind is None and not self.levels and not self.json_schema_refused

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's headers (LiteLLM sends ``x-litellm-*`` headers)."""
        if self.kind is None and any(name.lower().startswith("x-litellm-") for name in headers):
            self.kind = "litellm"
            self._learned()

    def thinking_style(self) -> str:
        """The thinking style to use when the user chose none (see `auto_thinking_style`)."""
        return auto_thinking_style(self.kind)

    def prepare(self, body: dict[str, Any]) -> None:
        """Apply what was learned to a new body: a level its model refused becomes the
        nearest level it accepts, so the gateway is not asked twice."""
        if self.json_schema_refused:
            json_object_fallback(body)
        accepted = self.levels.get(str(body.get("model")))
        place = find_level(body) if accepted else None
        if accepted and place is not None:
            holder, key = place
            nearest = nearest_level(holder[key], accepted)
            if nearest is not None:
                holder[key] = nearest

    def revise(self, body: dict[str, Any], status: int, message: str) -> bool:
        """Change `body` so the gateway may accept it; True when it changed and is worth resending.

        A refusal of ``json_schema`` (by what it says, whatever the status: see
        `refuses_json_schema`) turns the body into the ``json_object`` fallback, remembered.
        Google's endpoint answers 400 to a top-level field it does not know (``Unknown name
        "stream_options"``): that field is dropped. A 400 naming the thinking levels the model
        accepts ("Valid values are: low, high") turns the body's level into the nearest of
        them, and the levels are remembered for that model.
        """
        if refuses_json_schema(status, message) and json_object_fallback(body):
            if not self.json_schema_refused:
                self.json_schema_refused = True
                self._learned()
            return True
        if status >= 400 and drop_schema(body, message):
            return True
        if status != 400:
            return False
        match = _UNKNOWN_FIELD.search(message)
        if match and match.group(1) in body and match.group(1) not in _PROTECTED:
            del body[match.group(1)]
            return True
        accepted = accepted_levels(message)
        place = find_level(body)
        if not accepted or place is None:
            return False
        holder, key = place
        nearest = nearest_level(holder[key], accepted)
        if nearest is None or nearest == holder[key]:
            return False
        self.levels[str(body.get("model"))] = accepted
        self._learned()
        holder[key] = nearest
        return True
