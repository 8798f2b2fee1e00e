"""What the live %%gemini display costs: iopub traffic, kernel CPU and wall time, in a real kernel.

Runs the magic on a 2,000- and a 20,000-chunk answer from FakeGateway (served by a separate
process), instantly and paced at 250 chunks/s, next to the same stream consumed with no display,
and measures ``%load_ext ipygemini``. Usage: ``python benchmarks/display.py [--quick]``
(``--quick``: the 2,000-chunk answers only).
Goals: ONE saved output per answer (as a notebook keeps it after clear_output and display
updates), bytes <= 4x that output, <= 20 renders/s, paced wall time <= 1.05x the stream without
display, %load_ext <= 100 ms importing nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipygemini.testing import answer_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from kernel_driver import KernelSession, gateway_env

CHUNK_CHARS = 12
PACED_DELAY = 1 / 250
HEAVY = ("ipywidgets", "pandas", "matplotlib", "PIL", "numpy", "httpx", "markdown_it", "nh3")

MAGIC_CELL = """\
import time as _t, json as _j
_c0, _w0 = _t.process_time(), _t.perf_counter()
get_ipython().run_cell_magic("gemini", {line!r}, {prompt!r})
print("BENCH" + _j.dumps({{"cpu": _t.process_time() - _c0, "wall": _t.perf_counter() - _w0}}))
"""

PLAIN_CELL = """\
import time as _t, json as _j
from ipygemini import Client as _Client
_client = _Client()
_c0, _w0 = _t.process_time(), _t.perf_counter()
with _client.stream({prompt!r}) as _s:
    for _e in _s:
        pass
print("BENCH" + _j.dumps({{"cpu": _t.process_time() - _c0, "wall": _t.perf_counter() - _w0}}))
"""

LOAD_PROBE = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
before = set(sys.modules)
t0 = time.perf_counter()
ip.run_line_magic("load_ext", "ipygemini")
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "new": sorted(set(sys.modules) - before)}))
"""


def words_for_chunks(chunks: int) -> int:
    """The [fake:words=N] that makes the answer about `chunks` chunks long."""
    lo, hi = 1, chunks * 4
    while lo < hi:
        mid = (lo + hi) // 2
        if answer_chunks(mid) < chunks:
            lo = mid + 1
        else:
            hi = mid
    return lo


def prompt_for(words: int, delay: float) -> str:
    return f"Benchmark [fake:words={words}] [fake:delay={delay:g}]"


def answer_text(words: int) -> str:
    body = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": prompt_for(words, 0)}],
    }
    return answer_for(body)


def answer_chunks(words: int) -> int:
    return math.ceil(len(answer_text(words)) / CHUNK_CHARS)


@dataclass
class Result:
    messages: int
    bytes: int
    updates: int
    renders: int
    final_bytes: int
    cpu: float
    wall: float
    blocks: int


def wire_size(msg: dict[str, Any]) -> int:
    parts = {k: msg[k] for k in ("header", "parent_header", "metadata", "content")}
    return len(json.dumps(parts, default=str).encode())


def measure(kernel: KernelSession, code: str) -> Result:
    messages = kernel.run(code, timeout=600).messages
    numbers: dict[str, float] = {}
    saved: list[dict[str, Any]] = []  # the outputs as a notebook keeps them
    clear_pending = False
    counted = []
    for msg in messages:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and "BENCH" in content["text"]:
            numbers = json.loads(content["text"].split("BENCH", 1)[1])
            continue
        if kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        if kind in ("execute_input",):
            continue
        counted.append(msg)
        display_id = content.get("transient", {}).get("display_id")
        if kind == "clear_output":
            if content.get("wait"):
                clear_pending = True
            else:
                saved.clear()
        elif kind in ("display_data", "stream"):
            if clear_pending:
                saved.clear()
                clear_pending = False
            saved.append({"id": display_id, "data": content.get("data", content.get("text"))})
        elif kind == "update_display_data":
            for out in saved:
                if display_id is not None and out["id"] == display_id:
                    out["data"] = content["data"]
    updates = [m for m in counted if m["msg_type"] == "update_display_data"]
    return Result(
        messages=len(counted),
        bytes=sum(wire_size(m) for m in counted),
        updates=len(updates),
        renders=len(updates),
        final_bytes=sum(len(json.dumps(o["data"]).encode()) for o in saved),
        cpu=float(numbers.get("cpu", 0.0)),
        wall=float(numbers.get("wall", 0.0)),
        blocks=len(saved),
    )


def load_ext_numbers(runs: int = 5) -> tuple[float, list[str]]:
    times: list[float] = []
    heavy: set[str] = set()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", LOAD_PROBE], capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout)
        times.append(result["seconds"])
        new = set(result["new"])
        heavy |= {m for m in HEAVY if m in new or any(n.startswith(m + ".") for n in new)}
    return statistics.median(times), sorted(heavy)


def start_gateway() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipygemini.testing", "--port", "0", "--api-key", "bench-key"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.rsplit(" ", 1)[-1].strip()
    return proc, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the paced 20,000-chunk run")
    args = parser.parse_args()
    gateway, url = start_gateway()
    kernel = KernelSession(gateway_env(url, "bench-key"))
    rows: list[tuple[str, Result, Result]] = []
    try:
        kernel.run("%load_ext ipygemini")
        kernel.run("%%gemini\nwarm up")  # first-use imports (httpx, markdown-it) out of the way
        for chunks in (2_000, 20_000):
            words = words_for_chunks(chunks)
            for label, delay in (("instant", 0.0), ("250/s", PACED_DELAY)):
                if args.quick and chunks == 20_000 and delay:
                    continue
                prompt = prompt_for(words, delay)
                shown = measure(kernel, MAGIC_CELL.format(line="", prompt=prompt))
                plain = measure(kernel, PLAIN_CELL.format(prompt=prompt))
                rows.append((f"{answer_chunks(words):,} chunks {label}", shown, plain))
        # The same 2,000-chunk answer from the log (--cache): shown once, directly; its
        # "plain" columns are the streamed display of that answer (the first row).
        cached_cell = MAGIC_CELL.format(
            line="--cache", prompt=prompt_for(words_for_chunks(2_000), 0)
        )
        kernel.run(cached_cell)  # into the log (the first row's answer may predate the cache)
        rows.append(("2,000 chunks cached", measure(kernel, cached_cell), rows[0][1]))
    finally:
        kernel.shutdown()
        gateway.terminate()
        gateway.wait(5)
    load_seconds, heavy = load_ext_numbers()

    head = (
        f"{'answer':<24}{'iopub msgs':>11}{'bytes':>12}{'final':>10}{'bytes/final':>12}"
        f"{'updates':>8}{'limit':>7}{'updates/s':>10}{'outputs':>8}{'CPU s':>7}{'CPU plain':>10}"
        f"{'wall s':>8}{'wall ratio':>11}"
    )
    print(head)
    print("-" * len(head))
    for label, r, p in rows:
        limit = math.floor(r.wall * 20) + 1
        print(
            f"{label:<24}{r.messages:>11,}{r.bytes:>12,}{r.final_bytes:>10,}"
            f"{r.bytes / r.final_bytes:>12.2f}{r.renders:>8,}{limit:>7,}"
            f"{r.renders / r.wall:>10.1f}{r.blocks:>8,}{r.cpu:>7.2f}{p.cpu:>10.2f}"
            f"{r.wall:>8.2f}{r.wall / p.wall:>11.3f}"
        )
    print()
    print("bytes: every iopub message of the cell as JSON (header, parent, metadata, content);")
    print("final: the outputs a saved notebook keeps (goal: bytes <= 4x final). updates: live")
    print("renders of the open block plus one finished content per block (limit: 20/s of wall")
    print("time, plus the first). outputs: saved outputs of the answer: one saved output per")
    print("answer is the goal (live handles start empty and are cleared for the final output).")
    print("CPU plain / wall ratio: the same stream consumed in the kernel with no display; the")
    print("wall ratio matters for the paced rows (instant rows are CPU-bound by construction).")
    print("cached row: the 2,000-chunk answer from the log; its CPU plain / wall ratio compare it")
    print("with the same answer streamed and displayed (the first row).")
    print(f"%load_ext ipygemini: {load_seconds * 1000:.1f} ms (median of 5 fresh interpreters);")
    print(f"heavy modules imported by it: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
