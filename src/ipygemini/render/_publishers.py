"""Where a live answer's outputs go: the shell's display publisher, a recorder for tests, or
nowhere (parts only collected)."""

from __future__ import annotations

from typing import Any, Protocol

from ._bundles import Bundle

__all__ = ["NOWHERE", "IPythonPublisher", "Publisher", "RecordingPublisher"]


class Publisher(Protocol):
    """Where outputs go: a notebook's display publisher, or a recorder in tests."""

    def display(self, data: Bundle, display_id: str | None = None) -> None: ...

    def update(self, data: Bundle, display_id: str) -> None: ...

    def clear(self) -> None: ...


class IPythonPublisher:
    """Publishes through the shell's display publisher (display_data / update_display_data /
    clear_output)."""

    def __init__(self, shell: Any) -> None:
        self._pub = shell.display_pub

    def display(self, data: Bundle, display_id: str | None = None) -> None:
        transient = {"display_id": display_id} if display_id else None
        self._pub.publish(data=data, metadata={}, transient=transient)

    def update(self, data: Bundle, display_id: str) -> None:
        self._pub.publish(data=data, metadata={}, transient={"display_id": display_id}, update=True)

    def clear(self) -> None:
        self._pub.clear_output(wait=True)  # cleared when the final output arrives: no flicker


class RecordingPublisher:
    """Keeps what would be published, and the notebook it would leave behind (for tests)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Bundle, str | None]] = []

    def display(self, data: Bundle, display_id: str | None = None) -> None:
        self.messages.append(("display", dict(data), display_id))

    def update(self, data: Bundle, display_id: str) -> None:
        self.messages.append(("update", dict(data), display_id))

    def clear(self) -> None:
        self.messages.append(("clear", {}, None))

    @property
    def displayed(self) -> list[Bundle]:
        """What nbval compares: each display_data as first sent, those with no data left out."""
        return [data for kind, data, _ in self.messages if kind == "display" and data]

    @property
    def final(self) -> list[Bundle]:
        """What the saved notebook holds: the outputs since the last clear, each with its
        handle's latest content."""
        latest: dict[str, Bundle] = {}
        shown: list[tuple[Bundle, str | None]] = []
        for kind, data, display_id in self.messages:
            if kind == "clear":
                shown = []
            elif kind == "display":
                shown.append((data, display_id))
            if display_id is not None:
                latest[display_id] = data
        return [latest[d] if d is not None else data for data, d in shown]


class _Nowhere:
    """A publisher that shows nothing (the parts of a further answer are only collected)."""

    def display(self, data: Bundle, display_id: str | None = None) -> None:
        pass

    def update(self, data: Bundle, display_id: str) -> None:
        pass

    def clear(self) -> None:
        pass


NOWHERE = _Nowhere()
