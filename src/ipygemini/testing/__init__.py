"""A fake OpenAI-compatible Gemini gateway on loopback, for tests, tutorials and trying ipygemini
without an API key: ``with FakeGateway() as gw: ...`` then point a client at ``gw.base_url``."""

from __future__ import annotations

from ._answers import answer_for, reasoning_for
from ._directives import FAULTS, IMAGE_SHAPES, OPTIONS, REASONING_SHAPES
from ._gateway import FakeGateway
from ._records import ReceivedAttachment, RecordedRequest

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
