"""Shared machinery of the reliability and security suite (issue 7).

- `Figures`: what each reliability test proved, committed only when the test passed, written to
  ``build/reliability/figures.json`` at the end of a run (conftest.py);
  ``python tests/reliability_report.py`` renders ``docs/RELIABILITY.md`` from that file.
- The fault catalogue (`FAULTS`) and the runners that drive `Client` and `AsyncClient` through it.
- Process probes: open file descriptors, sockets to a port, resident memory.
- `SecretScan`: counts occurrences of an API key in everything a test path produced.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel_driver import chat_bodies

MODULES = (
    "reliability/test_faults.py",
    "reliability/test_hostile.py",
    "reliability/test_soak.py",
    "reliability/test_fuzz.py",
    "reliability/test_bad_input.py",
    "reliability/test_secrets.py",
    "reliability/test_payloads.py",
)
"""The test modules whose figures make up docs/RELIABILITY.md (paths under tests/)."""

ROOT = Path(__file__).resolve().parent.parent
FIGURES_JSON = ROOT / "build" / "reliability" / "figures.json"
"""Where a test run leaves its figures (ignored); reliability_report.py renders the page from it."""

FRONT_ENDS = ("Client", "AsyncClient", "%%gemini", "ChatPanel")


# --- figures -----------------------------------------------------------------------------------


class Recorder:
    """Handed to one test by the ``reliability`` fixture; `record` keeps a figure for the report.

    Figures are committed only if the test passes (conftest's makereport hook), so everything
    in the report was asserted by a test that fails when it regresses.
    """

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self.pending: list[dict[str, Any]] = []

    def record(self, section: str, **data: Any) -> None:
        self.pending.append({"section": section, "test": self.nodeid, **data})


@dataclass
class Figures:
    """Everything the reliability modules proved in this session."""

    records: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # nodeid -> passed/failed/skipped
    skips: dict[str, str] = field(default_factory=dict)  # nodeid -> reason
    deselected: int = 0
    collected: set[str] = field(default_factory=set)  # reliability tests pytest will run
    recorders: dict[str, Recorder] = field(default_factory=dict)

    @staticmethod
    def module_of(nodeid: str) -> str | None:
        path = nodeid.split("::", 1)[0]
        return next((m for m in MODULES if path == m or path.endswith(f"/{m}")), None)

    def recorder(self, nodeid: str) -> Recorder:
        recorder = self.recorders[nodeid] = Recorder(nodeid)
        return recorder

    def report(self, nodeid: str, when: str, outcome: str, skip_reason: str | None) -> None:
        """One phase of a reliability test ended (pytest's makereport)."""
        if outcome == "failed":
            self.outcomes[nodeid] = "failed"
            self.recorders.pop(nodeid, None)
        elif outcome == "skipped":
            self.outcomes[nodeid] = "skipped"
            self.skips[nodeid] = skip_reason or ""
            self.recorders.pop(nodeid, None)
        elif when == "call":
            self.outcomes[nodeid] = "passed"
            recorder = self.recorders.pop(nodeid, None)
            if recorder is not None:
                self.records.extend(recorder.pending)

    def complete(self) -> str | None:
        """Why the report cannot be rendered from this session (None: it can)."""
        ran = {self.module_of(n) for n in self.outcomes}
        missing = [m for m in MODULES if m not in ran]
        if missing:
            return f"not all reliability modules ran (missing: {', '.join(missing)})"
        failed = [n for n, o in self.outcomes.items() if o == "failed"]
        if failed:
            return f"{len(failed)} reliability test(s) failed"
        if self.deselected:
            return f"{self.deselected} reliability test(s) were deselected"
        unfinished = self.collected - set(self.outcomes)
        if unfinished:
            return f"{len(unfinished)} reliability test(s) did not run to the end"
        return None

    def dump(self) -> dict[str, Any]:
        return {
            "incomplete": self.complete(),  # None, or why no report can be rendered from it
            "records": self.records,
            "outcomes": self.outcomes,
            "skips": self.skips,
            "environment": environment(),
        }

    def write(self, path: Path = FIGURES_JSON) -> str | None:
        """Write the figures as JSON to `path`; returns why they cannot make a report (or None)."""
        data = self.dump()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, default=str))
        incomplete: str | None = data["incomplete"]
        return incomplete


def environment() -> dict[str, str]:
    import httpx
    import ipykernel

    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "httpx": httpx.__version__,
        "ipykernel": ipykernel.__version__,
    }


# --- the fault catalogue ----------------------------------------------------------------------

RECOVERED = "recovered by retry"
COMPLETE = "survived, complete"
ERROR = "clear one-line error"
FAILED = "partial kept, marked failed"
TRUNCATED = "partial kept, marked truncated"

ISSUE_FAULTS = (
    "429 with Retry-After",
    "429 without Retry-After",
    "5xx",
    "model_not_found",
    "array error body",
    "empty error body",
    "connection refused",
    "reset before the first byte",
    "disconnect mid-stream",
    "error event mid-stream",
    "no finish_reason",
    "stall past the idle timeout",
    "keep-alive comments",
    "multi-MB event",
)
"""The faults issue 7 names; `FAULTS` must cover each (tests/reliability/test_faults.py checks)."""

_RID = r"\(request id: \d+\)"
_HINT_429 = "Too many requests or quota used up: wait a moment and run again, or raise max_retries."
_HINT_5XX = "The gateway or the model failed; this is usually temporary: try again in a moment."
_HINT_STREAM = "The partial answer is kept in the reply; run again to get the rest."


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: how to provoke a fault and what every front end must do."""

    id: str
    label: str
    covers: str  # the name of the fault in the issue (ISSUE_FAULTS)
    outcome: str
    push: tuple[str, dict[str, Any], int] | None = None  # gw.push_fault(name, count=, **opts)
    directive: str = ""  # added to the prompt
    requests: int = 1  # chat requests that reach the gateway
    slept: tuple[float, ...] | None = ()  # the retry waits (None: backoff, checked by range)
    error: str | None = None  # exception class
    message: str | None = None  # regex the one-line message must match in full
    refused: bool = False  # the base URL points at a port nobody listens on
    idle_timeout: float | None = None
    model: str | None = None
    image_bytes: int = 0  # the answer carries an image at least this big

    def prompt(self) -> str:
        return f"matrix {self.id} {self.directive}".strip()

    def pattern(self, port: int = 0) -> str:
        assert self.message is not None
        return self.message.replace(re.escape("{PORT}"), str(port))


WORDS = "[fake:words=120]"
BACKOFF = 1.0  # the client's backoff in the matrix; waits are recorded, never slept

FAULTS: tuple[Fault, ...] = (
    Fault(
        "429-retry-after",
        "429 with Retry-After: 7",
        "429 with Retry-After",
        RECOVERED,
        push=("rate_limit", {"retry_after": 7}, 1),
        requests=2,
        slept=(7.0,),
    ),
    Fault(
        "429-backoff",
        "429 without Retry-After",
        "429 without Retry-After",
        RECOVERED,
        push=("rate_limit", {}, 1),
        requests=2,
        slept=None,
    ),
    Fault(
        "429-exhausted",
        "429 on every attempt (1 + 2 retries)",
        "429 without Retry-After",
        ERROR,
        push=("rate_limit", {"retry_after": 0}, 3),
        requests=3,
        slept=(0.0, 0.0),
        error="RateLimitError",
        message=re.escape(
            "HTTP 429 [rate_limit_exceeded]: You have reached the request limit: at most 60 "
            "requests per minute "
        )
        + _RID
        + re.escape(". " + _HINT_429),
    ),
    Fault(
        "503-once",
        "503 once, then OK",
        "5xx",
        RECOVERED,
        push=("status", {"code": 503}, 1),
        requests=2,
        slept=None,
    ),
    Fault(
        "502-exhausted",
        "502 on every attempt",
        "5xx",
        ERROR,
        push=("status", {"code": 502}, 3),
        requests=3,
        slept=None,
        error="ServerError",
        message=re.escape("HTTP 502: bad gateway ") + _RID + re.escape(". " + _HINT_5XX),
    ),
    Fault(
        "model-not-found",
        "503 model_not_found (not retried)",
        "model_not_found",
        ERROR,
        push=("model_not_found", {}, 1),
        error="NotFoundError",
        message=re.escape(
            "HTTP 503 [model_not_found]: No available channel for model gemini-2.5-flash under "
            "group default (distributor). Check GEMINI_BASE_URL and the model name; "
            "%gemini models lists the models this gateway offers."
        ),
    ),
    Fault(
        "array-error",
        "400 with Google's JSON-array body",
        "array error body",
        ERROR,
        push=("array_error", {}, 1),
        error="BadRequestError",
        message=re.escape(
            'HTTP 400: Invalid JSON payload received. Unknown name "thinking": '
            "Cannot find field. The gateway rejected the request: check the model name and "
            "parameters."
        ),
    ),
    Fault(
        "empty-error",
        "429 with an empty body, every attempt",
        "empty error body",
        ERROR,
        push=("empty_error", {"code": 429}, 3),
        requests=3,
        slept=None,
        error="RateLimitError",
        message=re.escape("HTTP 429 (empty response body). " + _HINT_429),
    ),
    Fault(
        "refused",
        "connection refused",
        "connection refused",
        ERROR,
        refused=True,
        requests=0,
        slept=None,
        error="ConnectionError",
        message=re.escape(
            "Could not reach 127.0.0.1:{PORT}: [Errno 111] Connection refused. "
            "Check GEMINI_BASE_URL and your network connection."
        ),
    ),
    Fault(
        "reset",
        "connection reset before the first byte",
        "reset before the first byte",
        RECOVERED,
        push=("reset", {}, 1),
        requests=2,
        slept=None,
    ),
    Fault(
        "disconnect",
        "disconnect mid-stream",
        "disconnect mid-stream",
        FAILED,
        directive=f"{WORDS} [fake:disconnect after=4]",
        error="StreamError",
        message=re.escape(
            f"Stream failed: the connection broke (RemoteProtocolError). {_HINT_STREAM}"
        ),
    ),
    Fault(
        "error-event",
        "error event mid-stream",
        "error event mid-stream",
        FAILED,
        directive=f"{WORDS} [fake:error_event after=4]",
        error="StreamError",
        message=re.escape(
            "Stream failed: the gateway reported an error mid-stream (code 500): upstream error: "
            f"overloaded. {_HINT_STREAM}"
        ),
    ),
    Fault(
        "no-finish",
        "stream ends without finish_reason",
        "no finish_reason",
        TRUNCATED,
        directive=f"{WORDS} [fake:no_finish]",
    ),
    Fault(
        "stall",
        "stall past the idle timeout (0.3 s)",
        "stall past the idle timeout",
        FAILED,
        directive=f"{WORDS} [fake:stall seconds=60 after=4]",
        idle_timeout=0.3,
        error="StreamError",
        message=re.escape(f"Stream failed: no data for 0.3 s (idle_timeout). {_HINT_STREAM}"),
    ),
    Fault(
        "keepalive",
        "keep-alive comments and event: lines",
        "keep-alive comments",
        COMPLETE,
        directive=f"{WORDS} [fake:keepalive]",
    ),
    Fault(
        "big-event",
        "one 3 MB event (an image)",
        "multi-MB event",
        COMPLETE,
        directive="[fake:big_image mb=3]",
        model="gemini-2.5-flash-image",
        image_bytes=2_500_000,
    ),
    Fault(
        "ignore-stream",
        "gateway ignores stream=true (one JSON body)",
        "",
        COMPLETE,
        directive=f"{WORDS} [fake:ignore_stream]",
    ),
)


def setting_default(name: str) -> Any:
    """The default of one `ipygemini.Settings` field (what a front end uses when not told)."""
    import dataclasses

    from ipygemini import Settings

    (default,) = (f.default for f in dataclasses.fields(Settings) if f.name == name)
    return default


def refused_port() -> tuple[socket.socket, int]:
    """A loopback port that refuses connections: bound (so nobody else gets it), not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, int(sock.getsockname()[1])


@dataclass
class Outcome:
    """What a front end did with one fault."""

    reply: Any  # the Reply the front end kept (None if it kept none)
    error: BaseException | None
    shown: str  # the answer text the front end showed or streamed to its caller
    slept: list[float]
    requests: int
    expected: str  # the gateway's full answer to the request
    images: int = 0
    image_bytes: int = 0
    status: str = ""  # the status the front end reports (reply.status, or the panel's)
    error_line: str = ""  # the one line the user sees for the error
    marked: str = ""  # how the front end marks an unfinished answer (footer / note)
    backoff: float = BACKOFF  # the front end's client's backoff setting
    error_name: str = ""  # the error's class name (as the front end reports it)

    def __post_init__(self) -> None:
        if self.error is not None and not self.error_name:
            self.error_name = type(self.error).__name__


def expected_answer(gw: Any, fault: Fault) -> str:
    from ipygemini.testing import answer_for

    bodies = chat_bodies(gw)
    if bodies:
        return answer_for(bodies[-1])
    body = {
        "model": fault.model or "gemini-2.5-flash",
        "messages": [{"role": "user", "content": fault.prompt()}],
    }
    return answer_for(body)


def client_options(gw: Any, key: str, fault: Fault, port: int) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": f"http://127.0.0.1:{port}/v1" if fault.refused else gw.base_url,
        "api_key": key,
        "backoff": BACKOFF,
        "max_retries": 2,
    }
    if fault.idle_timeout is not None:
        options["idle_timeout"] = fault.idle_timeout
    return options


def chat_options(fault: Fault) -> dict[str, Any]:
    return {"model": fault.model} if fault.model else {}


def client_outcome(
    gw: Any, fault: Fault, reply: Any, error: Any, shown: list[str], slept: list[float]
) -> Outcome:
    """The Outcome of a client run (sync or async) through one fault."""
    return Outcome(
        reply=reply,
        error=error,
        shown="".join(shown),
        slept=slept,
        requests=len(chat_bodies(gw)),
        expected=expected_answer(gw, fault),
        images=len(reply.images),
        image_bytes=max((len(i.data or b"") for i in reply.images), default=0),
        status=reply.status,
        error_line=str(error) if error is not None else "",
        marked=reply.status,
    )


def recording_sleep(client_class: Any, options: dict[str, Any], slept: list[float]) -> Any:
    """`client_class(**options)` whose retry waits (the injected ``sleep=``) are appended to
    `slept` instead of slept."""
    import inspect

    is_async = inspect.iscoroutinefunction(getattr(client_class, "aclose", None))

    def record(seconds: float) -> None:
        slept.append(seconds)

    async def record_async(seconds: float) -> None:
        slept.append(seconds)

    return client_class(**options, sleep=record_async if is_async else record)


def run_client(gw: Any, key: str, fault: Fault, port: int = 0) -> Outcome:
    """`Client.stream` through one fault; retry waits are recorded instead of slept (sleep=)."""
    from ipygemini import Client, GeminiError

    gw.clear()
    slept: list[float] = []
    shown: list[str] = []
    error: BaseException | None = None
    with recording_sleep(Client, client_options(gw, key, fault, port), slept) as client:
        if fault.push:
            name, opts, count = fault.push
            gw.push_fault(name, count=count, **opts)
        stream = client.stream(fault.prompt(), **chat_options(fault))
        try:
            with stream:
                for event in stream:
                    if event.type == "text":
                        shown.append(event.text)
        except GeminiError as exc:
            error = exc
    reply = stream.reply
    return client_outcome(gw, fault, reply, error, shown, slept)


def run_async_client(gw: Any, key: str, fault: Fault, port: int = 0) -> Outcome:
    """`AsyncClient.stream` through one fault, in a fresh event loop."""
    from ipygemini import AsyncClient, GeminiError

    gw.clear()
    slept: list[float] = []
    shown: list[str] = []

    async def main() -> tuple[Any, BaseException | None]:
        error: BaseException | None = None
        options = client_options(gw, key, fault, port)
        async with recording_sleep(AsyncClient, options, slept) as client:
            if fault.push:
                name, opts, count = fault.push
                gw.push_fault(name, count=count, **opts)
            stream = client.stream(fault.prompt(), **chat_options(fault))
            try:
                async with stream:
                    async for event in stream:
                        if event.type == "text":
                            shown.append(event.text)
            except GeminiError as exc:
                error = exc
        return stream.reply, error

    reply, error = asyncio.run(main())
    return client_outcome(gw, fault, reply, error, shown, slept)


def widget_tree(root: Any) -> Iterator[Any]:
    yield root
    for child in getattr(root, "children", ()):
        yield from widget_tree(child)


def blocks_html(text: str) -> str:
    """What a finished answer shows: each Markdown block rendered on its own."""
    from ipygemini.render import BlockSplitter, render_markdown

    splitter = BlockSplitter()
    events = splitter.feed(text) + splitter.flush()
    return "".join(render_markdown(e.text) for e in events if e.kind == "done")


def _inner_text(html_value: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", html_value))


def run_panel(
    gw: Any,
    key: str,
    fault: Fault,
    port: int = 0,
    inspect: Callable[[Any], None] | None = None,
) -> Outcome:
    """`ChatPanel.send` through one fault (widgets without a front end, real sockets);
    `inspect(panel)` sees the panel before it is closed."""
    from ipygemini import AsyncClient, ChatPanel

    gw.clear()
    slept: list[float] = []

    async def main() -> tuple[Any, Any, list[str], list[Any]]:
        client = recording_sleep(AsyncClient, client_options(gw, key, fault, port), slept)
        panel = ChatPanel(client=client, model=fault.model, load_models=False)
        try:
            if fault.push:
                name, opts, count = fault.push
                gw.push_fault(name, count=count, **opts)
            reply = await panel.send(fault.prompt())
            (view,) = [e for e in panel._session.transcript.entries if e.role == "assistant"]
            values = [v for v in (view.end_op()["error"], view.footer) if v]
            images = [p[1] for p in view.parts if isinstance(p, tuple)]
            assert panel.busy is False and panel.last_reply is reply
            if inspect is not None:
                inspect(panel)
            return reply, view, values, images
        finally:
            panel.close()
            await client.aclose()

    reply, view, values, images = asyncio.run(main())
    html = view.html()
    assert html == blocks_html(reply.text), html  # what stays on screen is what the reply holds
    notes = [_inner_text(v) for v in values if "⚠" in v]
    feet = [_inner_text(v) for v in values if "font-size:0.85em" in v]
    error_line = notes[0].removeprefix("⚠ ") if notes else ""
    assert len(notes) <= 1 and len(feet) <= 1, values
    if reply.text:
        assert feet, "no footer under the answer"
    marked = feet[0].rsplit(" · ", 1)[-1] if feet else ""
    return Outcome(
        reply=reply,
        error=reply.error if reply.error is not None else None,
        shown=reply.text if html else "",
        slept=slept,
        requests=len(chat_bodies(gw)),
        expected=expected_answer(gw, fault),
        images=len(images),
        image_bytes=max((len(data) for data in images), default=0),
        status=reply.status,
        error_line=error_line,
        marked=marked if marked in ("failed", "truncated", "interrupted") else "",
    )


def check_waits(fault: Fault, slept: list[float], backoff: float = BACKOFF) -> None:
    retries = max(fault.requests - 1, 0) if not fault.refused else 2
    assert len(slept) == retries, slept
    if fault.slept is not None:
        assert tuple(slept) == fault.slept, slept
    else:  # exponential backoff with ±25 % jitter
        for attempt, seconds in enumerate(slept):
            base = backoff * 2**attempt
            assert 0.75 * base <= seconds <= 1.25 * base, slept


def check_outcome(fault: Fault, out: Outcome, *, port: int = 0) -> None:
    """Assert exactly the outcome the matrix promises for `fault` (any front end)."""
    assert out.requests == fault.requests, (out.requests, fault.requests)
    check_waits(fault, out.slept, out.backoff)
    if fault.outcome in (RECOVERED, COMPLETE):
        assert not out.error_name, out.error_line
        assert out.status == "complete", out.status
        assert out.shown == out.expected
        if out.reply is not None:
            assert out.reply.text == out.expected and out.reply.finish_reason == "stop"
        assert out.images == (1 if fault.image_bytes else 0)
        assert out.image_bytes >= fault.image_bytes
        return
    if fault.outcome == TRUNCATED:
        assert not out.error_name, out.error_line
        assert out.status == "truncated" and out.marked == "truncated"
        assert out.shown == out.expected  # everything that came is kept
        if out.reply is not None:
            assert out.reply.text == out.expected and out.reply.finish_reason is None
        return
    assert out.error_name, "the fault was not reported"
    assert out.error_name == fault.error, (out.error_name, out.error_line)
    assert "\n" not in out.error_line
    assert re.fullmatch(fault.pattern(port), out.error_line), out.error_line
    if fault.outcome == ERROR:
        assert out.shown == ""
        if out.reply is not None:  # what the front end keeps says it failed, and why
            assert out.reply.text == "" and out.reply.status == "failed"
            assert out.reply.error is out.error
        return
    assert fault.outcome == FAILED
    assert out.status == "failed" and out.marked == "failed", (out.status, out.marked)
    assert out.shown, "nothing of the answer was kept"
    assert out.expected.startswith(out.shown) and len(out.shown) < len(out.expected)
    if out.reply is not None:
        assert out.reply.text == out.shown and out.reply.error is out.error


# --- process probes ------------------------------------------------------------------------------


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what they point at."""
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the directory listing's own descriptor, already closed
    return fds


def _tcp_table() -> dict[str, tuple[int, int]]:
    """socket inode -> (local port, remote port) for this process's network namespace."""
    table: dict[str, tuple[int, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/self/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            table[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16))
    return table


def client_fds(server_port: int) -> dict[int, str]:
    """Open descriptors other than the server side of connections to `server_port`.

    The fake gateway runs in this process; its accepted sockets close when it notices the
    client went away, which is its business, not the client's. Eventfds are left out too: the
    ZeroMQ contexts of kernels started earlier in this process (jupyter_client) open and close
    them from their own threads, while neither httpx nor asyncio ever creates one.
    """
    table = _tcp_table()
    out: dict[int, str] = {}
    for fd, target in open_fds().items():
        if target == "anon_inode:[eventfd]":
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match and table.get(match.group(1), (0, 0))[0] == server_port:
            continue
        out[fd] = target
    return out


def sockets_to(port: int) -> int:
    """Open sockets of this process connected to `port` (the client side)."""
    table = _tcp_table()
    count = 0
    for target in open_fds().values():
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match and table.get(match.group(1), (0, 0))[1] == port:
            count += 1
    return count


def rss_bytes() -> int:
    """Resident set size from /proc/self/statm."""
    resident = int(Path("/proc/self/statm").read_text().split()[1])
    return resident * os.sysconf("SC_PAGE_SIZE")


# --- secrets -------------------------------------------------------------------------------------


class SecretScan:
    """Counts where a key (or its unmasked body) appears in texts a test path produced."""

    def __init__(self, key: str) -> None:
        assert len(key) > 12
        self.needles = (key, key[:-4])  # the key, and the key minus its masked tail
        self.texts = 0
        self.chars = 0
        self.hits: list[str] = []
        self.kinds: dict[str, int] = {}

    def scan(self, kind: str, text: Any) -> None:
        if not isinstance(text, str):
            text = (
                json.dumps(text, default=repr)
                if not isinstance(text, bytes)
                else text.decode("utf-8", "replace")
            )
        self.texts += 1
        self.chars += len(text)
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        for needle in self.needles:
            if needle in text:
                self.hits.append(
                    f"{kind}: …{text[max(0, text.find(needle) - 60) : text.find(needle)]}"
                )
                break

    def scan_all(self, kind: str, texts: Iterable[Any]) -> None:
        for text in texts:
            self.scan(kind, text)

    def scan_exception(self, exc: BaseException) -> None:
        import traceback

        self.scan("exception str", str(exc))
        self.scan("exception repr", repr(exc))
        self.scan("traceback", "".join(traceback.format_exception(exc)))
        self.scan("exception attributes", {k: repr(v) for k, v in vars(exc).items()})
        render = getattr(exc, "_render_traceback_", None)
        if render is not None:
            self.scan("rendered traceback", render())


class LogCapture:
    """A handler on the root logger that keeps every record, fully formatted, at DEBUG."""

    LOGGERS = ("", "httpx", "httpcore", "ipygemini", "asyncio", "hpack", "urllib3", "traitlets")

    def __init__(self) -> None:
        import logging

        self.lines: list[str] = []
        capture = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    text = self.format(record)
                except Exception as exc:  # a record that cannot be formatted still counts
                    text = f"{record.msg!r} {record.args!r} ({exc})"
                capture.lines.append(f"{text} | args={record.args!r} | {vars(record)!r}")

        self.handler = Handler(logging.DEBUG)
        self.handler.setFormatter(
            logging.Formatter("%(name)s %(levelname)s %(message)s %(exc_text)s")
        )

    @contextmanager
    def installed(self) -> Iterator[LogCapture]:
        import logging

        saved = {name: logging.getLogger(name).level for name in self.LOGGERS}
        root = logging.getLogger()
        root.addHandler(self.handler)
        for name in self.LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            root.removeHandler(self.handler)
            for name, level in saved.items():
                logging.getLogger(name).setLevel(level)
