"""A fake OpenAI-compatible Gemini gateway on loopback, for tests, tutorials and trying ipygemini
without an API key: ``with FakeGateway() as gw: ...`` then point a client at ``gw.base_url``.

The public test entry: it re-exports the built-in gateway (`ipygemini.gateway`)."""

from __future__ import annotations

from ..gateway import (
    FAULTS,
    IMAGE_SHAPES,
    OPTIONS,
    REASONING_SHAPES,
    FakeGateway,
    ReceivedAttachment,
    RecordedRequest,
    answer_for,
    reasoning_for,
)

__all__ = [
    "FAULTS",
    "IMAGE_SHAPES",
    "OPTIONS",
    "REASONING_SHAPES",
    "FakeGateway",
    "ReceivedAttachment",
    "RecordedRequest",
    "answer_for",
    "reasoning_for",
]
