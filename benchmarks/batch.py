"""One prompt over many rows against a rate-limited gateway: ipygemini's `Client.map` vs a
sequential loop vs what a user writes today (`openai.AsyncOpenAI` + `asyncio.Semaphore`).

Run: python benchmarks/batch.py [--rows 1000] [--rate 20] [--latency 0.1] [--memory-rows 100000]

The gateway (FakeGateway, in this process) admits `--rate` requests per second (fixed 1 s
windows, refusals counted too, 429 with Retry-After) and answers after `--latency` seconds.
R = 20/s is a common per-key limit (1,200 RPM); L = 100 ms is a short non-streamed answer's
time to first byte. With L x R = 2, one request at a time can reach at most half the limit, so
the table shows what concurrency buys and what pacing costs.

Columns: wall seconds; achieved rate as % of R; share of 429s among requests sent after a
warm-up of `--warmup` seconds; rows failed. The sequential loop is timed on `--sequential-rows`
rows and its wall scaled to `--rows` (it is latency-bound, so the scaling is linear). Memory:
`Client.map` over `--memory-rows` short answers in a fresh interpreter against an unlimited
gateway in another process; peak RSS above the baseline taken after imports.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ipygemini import Client
from ipygemini.testing import FakeGateway

MEMORY_PROBE = """
import os, sys, time
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
from ipygemini import Client
import pandas, tqdm.auto  # imported before the baseline: measured is what the rows cost
client = Client(base_url=sys.argv[1], api_key="fake-key")
client.map(["warm up"], progress=False)  # the event loop thread, connections, the log file
rows = [f"Label row {i} in one word [fake:words=3]" for i in range(int(sys.argv[2]))]
base = rss("VmRSS:")
t0 = time.perf_counter()
batch = client.map(rows, progress=False, concurrency=32)
seconds = time.perf_counter() - t0
frame = batch.to_frame()
print(base, rss("VmHWM:"), seconds, batch.statuses.get("complete", 0), len(frame))
"""


@dataclass
class Result:
    name: str
    wall: float
    rows: int
    failed: int
    accepted: int
    refused_after_warmup: int
    sent_after_warmup: int
    note: str = ""


class Sampler:
    """Samples the gateway's counters, to tell refusals during warm-up from those after."""

    def __init__(self, gw: FakeGateway, warmup: float) -> None:
        self.gw, self.warmup = gw, warmup
        self.mark: tuple[int, int] | None = None
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if not self._stop.wait(self.warmup):
            self.mark = (self.gw.accepted, self.gw.refused)

    def finish(self) -> tuple[int, int]:
        """(refused, sent) after the warm-up."""
        self._stop.set()
        self._thread.join()
        accepted, refused = self.mark or (self.gw.accepted, self.gw.refused)
        return self.gw.refused - refused, (self.gw.accepted + self.gw.refused) - (
            accepted + refused
        )


def measure(
    name: str,
    run: Callable[[FakeGateway, list[str]], int],
    rows: list[str],
    args: argparse.Namespace,
) -> Result:
    with FakeGateway(rate_limit=args.rate, rate_window=1.0, latency=args.latency) as gw:
        sampler = Sampler(gw, args.warmup)
        t0 = time.perf_counter()
        failed = run(gw, rows)
        wall = time.perf_counter() - t0
        refused, sent = sampler.finish()
        return Result(name, wall, len(rows), failed, gw.accepted, refused, sent)


def run_map(gw: FakeGateway, rows: list[str]) -> int:
    batch = Client(base_url=gw.base_url, api_key=gw.api_key).map(rows, progress=False)
    return len(rows) - batch.statuses.get("complete", 0)


def run_sequential(gw: FakeGateway, rows: list[str]) -> int:
    client = Client(base_url=gw.base_url, api_key=gw.api_key)
    failed = 0
    for row in rows:
        try:
            client.chat(row)
        except Exception:
            failed += 1
    return failed


def run_openai(gw: FakeGateway, rows: list[str], concurrency: int = 16) -> int:
    import openai

    async def main() -> int:
        client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.api_key)
        gate = asyncio.Semaphore(concurrency)

        async def one(row: str) -> bool:
            async with gate:
                try:
                    await client.chat.completions.create(
                        model="gemini-2.5-flash", messages=[{"role": "user", "content": row}]
                    )
                    return True
                except openai.APIError:
                    return False

        done = await asyncio.gather(*(one(r) for r in rows))
        await client.close()
        return done.count(False)

    return asyncio.run(main())


def memory(args: argparse.Namespace) -> tuple[float, float, int]:
    """(MB above baseline, seconds, rows complete) for `--memory-rows` rows."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = subprocess.Popen(
        [sys.executable, "-m", "ipygemini.testing", "--port", str(port)],
        stdout=subprocess.DEVNULL,  # it logs every request: an unread pipe would fill and stall it
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # the gateway process starts listening
        env = {**os.environ, "IPYGEMINI_HOME": tempfile.mkdtemp(prefix="bench-home-")}
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                MEMORY_PROBE,
                f"http://127.0.0.1:{port}/v1",
                str(args.memory_rows),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    finally:
        gateway.terminate()
        gateway.wait()
    base, peak, seconds, complete, _ = out.stdout.split()
    return float(peak) - float(base), float(seconds), int(complete)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--sequential-rows", type=int, default=100)
    parser.add_argument("--memory-rows", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("IPYGEMINI_HOME", tempfile.mkdtemp(prefix="bench-home-"))
    rows = [f"Label row {i}: short" for i in range(args.rows)]
    ideal = args.rows / args.rate
    results = [measure("ipygemini Client.map", run_map, rows, args)]
    results.append(measure("openai.AsyncOpenAI + Semaphore(16)", run_openai, rows, args))
    subset = rows[: args.sequential_rows]
    seq = measure("sequential Client.chat loop", run_sequential, subset, args)
    seq.wall *= args.rows / len(subset)
    seq.note = f"estimated from {len(subset)} rows"
    seq.rows = args.rows
    results.append(seq)
    print(
        f"\n{args.rows} rows, gateway limit R = {args.rate:g}/s, latency {args.latency * 1000:.0f} ms"
    )
    print(f"ideal wall = rows / R = {ideal:.1f} s; goals: >= 90% of R, <= 2% 429s, wall <= 1.1x\n")
    print(f"{'contender':38} {'wall s':>8} {'x ideal':>8} {'% of R':>7} {'429 %':>7} {'failed':>7}")
    for r in results:
        rate = r.rows / r.wall / args.rate * 100
        share = r.refused_after_warmup / r.sent_after_warmup * 100 if r.sent_after_warmup else 0
        print(
            f"{r.name:38} {r.wall:8.1f} {r.wall / ideal:8.2f} {rate:6.1f}% {share:6.1f}% "
            f"{r.failed:7d} {r.note}"
        )
    if args.memory_rows:
        mb, seconds, complete = memory(args)
        print(
            f"\nmemory: Client.map over {args.memory_rows:,} short answers: {mb:.0f} MB above "
            f"baseline (goal <= 200 MB), {complete:,} complete in {seconds:.0f} s"
        )


if __name__ == "__main__":
    main()
