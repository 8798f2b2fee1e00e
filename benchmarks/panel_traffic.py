"""Widget traffic of ChatPanel for a long streamed answer, next to a naive per-chunk widget update.

Run: python benchmarks/panel_traffic.py [--chunks 2000] [--big 20000]

A real kernel (jupyter_client) runs the panel against a FakeGateway in this process; every comm
message the kernel publishes on iopub during the answer is counted. Bytes are each message as
JSON (header, parent header, metadata, content) plus its binary buffers: what jupyter_server
forwards to the browser. Goals: bytes <= 3x the final answer, <= 20 messages in any second.
The naive row (one HTML widget re-sent whole at every chunk) is the contrast.
"""

from __future__ import annotations

import argparse
import json
import os
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
    return Result(
        name=name,
        chunks=chunks,
        answer_bytes=answer_bytes,
        messages=len(comms),
        nbytes=sum(size(m) for m in comms),
        max_per_second=max_in_window(times),
        max_updates_per_second=max_in_window(updates),
        seconds=(times[-1] - times[0]) if len(times) > 1 else 0.0,
    )


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
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.name:<24} {r.chunks:>6} {r.answer_bytes:>9,} {r.messages:>6} {r.nbytes:>10,} "
            f"{r.ratio:>7.1f}x {r.max_per_second:>9} {r.max_updates_per_second:>9} "
            f"{r.mean_per_second:>7.1f} {r.seconds:>6.2f}"
        )
    panel = [r for r in results if r.name.startswith("panel")]
    ok = all(r.ratio <= 3 and r.max_per_second <= 20 for r in panel)
    print(
        "\nmsgs: comm messages (opens, state updates, custom deltas); max msg/s and max upd/s"
        " (updates + deltas): the most in any"
        "\none-second window; mean/s: messages per second of the answer's duration."
    )
    print(f"goals (bytes <= 3x answer, <= 20 messages in any second): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
