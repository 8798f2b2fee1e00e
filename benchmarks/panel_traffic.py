"""Widget traffic of ChatPanel for a long streamed answer, next to a naive per-chunk widget update.

Run: python benchmarks/panel_traffic.py [--chunks 2000] [--big 20000]

A real kernel (jupyter_client) runs the panel against a FakeGateway in this process; every comm
message the kernel publishes on iopub during the answer is counted. Bytes are each message as
JSON (header, parent header, metadata, content) plus its binary buffers: what jupyter_server
forwards to the browser. Goals: bytes <= 3x the final answer, <= 20 messages in any second,
and >= 10 updates per second shown in the page while the answer streams ("page upd/s": the
page reveals arrived text every 40 ms at the pace it arrives; this column replays panel.js's
reveal over the messages' timestamps; tests/test_look_browser.py measures it in chromium).
The naive row (one HTML widget re-sent whole at every chunk) is the contrast.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ipygemini.testing import FakeGateway

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from kernel_driver import KernelSession, ok

KEY = "bench-key-panel"
WORD_CHARS = 5.2  # the fake's filler words average about this many characters with a space
CHUNK_CHARS = 4


@dataclass
class Result:
    name: str
    chunks: int
    answer_bytes: int
    messages: int
    nbytes: int
    max_per_second: int
    max_updates_per_second: int
    seconds: float
    page_updates_per_second: float | None = None

    @property
    def ratio(self) -> float:
        return self.nbytes / max(self.answer_bytes, 1)

    @property
    def mean_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float(self.messages)


def run(kernel: KernelSession, code: str) -> tuple[str, list[dict[str, Any]]]:
    """Run `code`; its stdout and every iopub message that arrived meanwhile."""
    start = len(kernel.iopub)
    cell = ok(kernel.run(textwrap.dedent(code), timeout=300))
    return cell.stdout, kernel.iopub[start:]


def size(msg: dict[str, Any]) -> int:
    parts = [msg["header"], msg["parent_header"], msg["metadata"], msg["content"]]
    text = sum(len(json.dumps(p, default=str, separators=(",", ":"))) for p in parts)
    return text + sum(len(b) for b in msg.get("buffers") or ())


def stamp(msg: dict[str, Any]) -> float:
    date = msg["header"]["date"]
    return (date if isinstance(date, datetime) else datetime.fromisoformat(date)).timestamp()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure(kernel: KernelSession, name: str, chunks: int, code: str) -> Result:
    out, seen = run(kernel, code)
    answer_bytes = int(out.strip().splitlines()[-1])
    comms = [m for m in seen if m["msg_type"] in ("comm_open", "comm_msg", "comm_close")]
    times = sorted(stamp(m) for m in comms)
    updates = sorted(
        stamp(m)
        for m in comms
        if m["content"].get("data", {}).get("method") in ("update", "custom")
    )
    deltas = sorted(
        (stamp(m), m["content"]["data"]["content"]["ops"])
        for m in comms
        if m["content"].get("data", {}).get("method") == "custom"
        and m["content"]["data"].get("content", {}).get("type") == "ops"
    )
    return Result(
        name=name,
        chunks=chunks,
        answer_bytes=answer_bytes,
        messages=len(comms),
        nbytes=sum(size(m) for m in comms),
        max_per_second=max_in_window(times),
        max_updates_per_second=max_in_window(updates),
        seconds=(times[-1] - times[0]) if len(times) > 1 else 0.0,
        page_updates_per_second=page_rate(deltas) if "chunks/s" in name else None,
    )


REVEAL_MS = 40.0  # panel.js: a streaming answer's text is revealed every REVEAL_MS


def visible_chars(fragment: str) -> int:
    return len(html.unescape(re.sub(r"<[^>]*>", "", fragment)))


def page_rate(deltas: list[tuple[float, list[dict[str, Any]]]]) -> float:
    """Text updates per second the page shows while the answer streams: panel.js's reveal
    (arrivals set the pace, a tick every REVEAL_MS shows the next characters) replayed on the
    kernel's message times."""
    blocks = tail = 0
    shown = rate = 0.0
    gap, last_arrival = 250.0, None
    updates, first, end = 0, None, None
    next_tick = math.inf
    for when, ops in deltas:
        now = when * 1000
        while next_tick <= now and shown < blocks + tail:  # ticks between two arrivals
            shown = min(blocks + tail, shown + max(1, math.ceil(rate * REVEAL_MS)))
            updates += 1
            next_tick = next_tick + REVEAL_MS if shown < blocks + tail else math.inf
        grew = False
        for op in ops:
            if op.get("op") == "block":
                blocks, grew = blocks + visible_chars(op.get("html", "")), True
            elif op.get("op") == "tail":
                tail, grew = visible_chars(op.get("html", "")), True
            elif op.get("op") == "end":
                end = now
        if end is not None:
            updates += 1
            break
        if not grew:
            continue
        updates += 1
        first = now if first is None else first
        if last_arrival is not None:
            gap = min(1500.0, max(100.0, 0.5 * gap + 0.5 * (now - last_arrival)))
        last_arrival = now
        shown = min(shown, blocks + tail)
        rate = (blocks + tail - shown) / gap
        if next_tick == math.inf and shown < blocks + tail:
            next_tick = now + REVEAL_MS
    if first is None or end is None or end <= first:
        return 0.0
    return updates / ((end - first) / 1000)


def prompt(chunks: int, delay: float) -> str:
    words = int(chunks * CHUNK_CHARS / WORD_CHARS)
    return f"[fake:words={words} chunk_chars={CHUNK_CHARS} delay={delay:g}] benchmark"


def panel_code(text: str) -> str:
    return f"""
        reply = await panel.send({text!r})
        assert reply.status == "complete", reply
        print(len(reply.text.encode()))
        """


def naive_code(text: str) -> str:
    # the obvious implementation: one HTML widget, re-rendered with the whole text per chunk
    return f"""
        view = W.HTML()
        text = ""
        async with AsyncClient() as client:
            async with client.stream({text!r}) as stream:
                async for event in stream:
                    if event.type == "text":
                        text += event.text
                        view.value = escape(text)
        print(len(text.encode()))
        """


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--big", type=int, default=20000, help="a longer answer (0: skip)")
    parser.add_argument(
        "--quick", action="store_true", help="a small run (CI): 1,000 chunks, no long answer"
    )
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.big = min(args.chunks, 1000), 0

    with FakeGateway(api_key=KEY) as gw:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
        env.update(GEMINI_BASE_URL=gw.base_url, GEMINI_API_KEY=KEY)
        kernel = KernelSession(env)
        try:
            run(
                kernel,
                """
                import ipywidgets as W
                from ipygemini import AsyncClient, ChatPanel
                from ipygemini.render._markdown import escape
                """,
            )
            n = args.chunks
            # the panel is built (and warmed up) first: only the answer's traffic is measured
            run(kernel, "panel = ChatPanel(load_models=False)")
            run(kernel, panel_code(prompt(50, 0)))
            results = [
                measure(kernel, "panel, instant", n, panel_code(prompt(n, 0))),
                measure(kernel, "panel, 250 chunks/s", n, panel_code(prompt(n, 0.004))),
                measure(kernel, "naive per-chunk update", n, naive_code(prompt(n, 0))),
            ]
            if args.big:
                results.append(
                    measure(kernel, "panel, instant", args.big, panel_code(prompt(args.big, 0)))
                )
        finally:
            kernel.shutdown()

    head = (
        f"{'scenario':<24} {'chunks':>6} {'answer B':>9} {'msgs':>6} {'widget B':>10} "
        f"{'B/answer':>8} {'max msg/s':>9} {'max upd/s':>9} {'mean/s':>7} {'secs':>6}"
        f" {'page upd/s':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.name:<24} {r.chunks:>6} {r.answer_bytes:>9,} {r.messages:>6} {r.nbytes:>10,} "
            f"{r.ratio:>7.1f}x {r.max_per_second:>9} {r.max_updates_per_second:>9} "
            f"{r.mean_per_second:>7.1f} {r.seconds:>6.2f}"
            + (f" {r.page_updates_per_second:>10.1f}" if r.page_updates_per_second else "")
        )
    panel = [r for r in results if r.name.startswith("panel")]
    streamed = [r for r in panel if "chunks/s" in r.name]
    ok = all(r.ratio <= 3 and r.max_per_second <= 20 for r in panel) and all(
        (r.page_updates_per_second or 0) >= 10 for r in streamed
    )
    print(
        "\nmsgs: comm messages (opens, state updates, custom deltas); max msg/s and max upd/s"
        " (updates + deltas): the most in any"
        "\none-second window; mean/s: messages per second of the answer's duration; page upd/s:"
        "\ntext updates a second the page shows while streaming (panel.js's reveal, replayed)."
    )
    print(
        "goals (bytes <= 3x answer, <= 20 messages in any second, >= 10 page updates a second"
        f" while streaming): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
