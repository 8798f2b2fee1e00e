"""The built-in OpenAI-compatible gateway on loopback: it answers offline mode (a first run
without a key), the tutorials and the tests. ``ipygemini.testing`` is its public entry."""

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
