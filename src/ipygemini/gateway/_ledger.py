"""What a `FakeGateway` keeps between requests: recorded requests, queued faults and tool-call
rounds, prompts seen, the rate window and the counters, behind one lock."""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from typing import Any

from ._directives import check_combination, check_fault, check_options
from ._limits import RateWindow
from ._records import RecordedRequest
from ._tool_calls import ScriptedCall, check_script

__all__ = ["GatewayLedger"]


class GatewayLedger:
    """The scripting and inspection half of `FakeGateway`; every method is thread-safe."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.disconnects = 0
        self.accepted = 0
        self.refused = 0
        self.bad_json_sent = 0
        self.peak_in_flight = 0
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self._window = RateWindow()
        self._prompts_seen: collections.Counter[str] = collections.Counter()
        self._tool_rounds: collections.deque[list[ScriptedCall]] = collections.deque()
        self._lock = threading.Lock()
        self._faults: collections.deque[list[Any]] = collections.deque()
        self._disconnected = threading.Event()

    # --- scripting and inspection ------------------------------------------------------------

    def push_fault(self, name: str, *, count: int = 1, **options: object) -> None:
        """Make the next `count` requests (to any endpoint) misbehave as `name`.

        Queued faults are used first in, first out, one per request. Raises ValueError for an
        unknown fault or option.
        """
        check_fault(name)
        checked = check_options(options)
        check_combination([name], checked)
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append([name, checked, count])

    def script_tool_calls(self, rounds: Sequence[Sequence[ScriptedCall]]) -> None:
        """Queue answers made of tool calls: each round is the calls of one answer, e.g.
        ``[[("get_weather", {"city": "Paris"})], [("a", {}), ("b", {"x": 1})]]`` (several calls =
        parallel calls; arguments may also be a raw JSON string, sent as is; an empty round =
        a text answer). A chat request that declares ``tools`` (and whose ``tool_choice`` is not
        "none") takes the next round; with none queued the default applies (the first tool is
        called once, then tool results are quoted in text)."""
        checked = check_script(rounds)
        with self._lock:
            self._tool_rounds.extend(checked)

    @property
    def pending_tool_rounds(self) -> int:
        """Scripted tool-call rounds not used yet."""
        return len(self._tool_rounds)

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._in_flight

    def wait_for_in_flight(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least `count` requests are being handled at once."""
        with self._in_flight_changed:
            return self._in_flight_changed.wait_for(lambda: self._in_flight >= count, timeout)

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Wait until a client has hung up mid-response (since start or the last `clear`)."""
        return self._disconnected.wait(timeout)

    def clear(self) -> None:
        """Forget recorded requests, queued faults and tool-call rounds, prompts seen (fail_times),
        the rate-limit window, and the counters (connections, disconnects, accepted, refused,
        bad_json_sent, peak_in_flight). Settings stay."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._tool_rounds.clear()
            self._prompts_seen.clear()
            self._window.reset()
            self.connections = 0
            self.disconnects = 0
            self.accepted = 0
            self.refused = 0
            self.bad_json_sent = 0
            self.peak_in_flight = self._in_flight
            self._disconnected.clear()

    # --- used by the handler -----------------------------------------------------------------

    def _next_tool_round(self) -> list[ScriptedCall] | None:
        with self._lock:
            return self._tool_rounds.popleft() if self._tool_rounds else None

    def _spend_bad_json(self, times: int) -> bool:
        with self._lock:
            if self.bad_json_sent >= times:
                return False
            self.bad_json_sent += 1
            return True

    def _seen_again(self, key: str) -> int:
        """How many times `key` (a prompt) has been seen, this time included."""
        with self._lock:
            self._prompts_seen[key] += 1
            return self._prompts_seen[key]

    def _begin(self) -> None:
        with self._in_flight_changed:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self._in_flight_changed.notify_all()

    def _end(self) -> None:
        with self._in_flight_changed:
            self._in_flight -= 1
            self._in_flight_changed.notify_all()

    def _count_admission(self, limit: float | None, window: float, now: float) -> float | None:
        with self._lock:
            wait = self._window.admit(limit, window, now)
            if wait is None:
                self.accepted += 1
            else:
                self.refused += 1
            return wait

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_fault(self) -> tuple[str, dict[str, object]] | None:
        with self._lock:
            if not self._faults:
                return None
            entry = self._faults[0]
            entry[2] -= 1
            if entry[2] <= 0:
                self._faults.popleft()
            return entry[0], dict(entry[1])

    def _note_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1
        self._disconnected.set()
