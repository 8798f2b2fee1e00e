"""One prompt over many rows against a rate-limited gateway: ipygemini's `Client.map` vs a
sequential loop vs what a user writes today (`openai.AsyncOpenAI` + `asyncio.Semaphore`).

Run: python benchmarks/batch.py [--quick] [--rows 1000] [--short-rows 120] [--rate 20]
     [--latency 0.1] [--memory-rows 100000] [--dask]

The gateway (FakeGateway, in this process) admits `--rate` requests per second (fixed 1 s
windows, refusals counted too, 429 with Retry-After) and answers after `--latency` seconds.
R = 20/s is a common per-key limit (1,200 RPM); L = 100 ms is a short non-streamed answer's
time to first byte. With L x R = 2, one request at a time can reach at most half the limit, so
the table shows what concurrency buys and what pacing costs.

Columns: wall seconds; achieved rate as % of R; share of 429s among all requests sent (the
whole batch, its start included); the most requests sent in the first second and in any one second; rows failed.
Goals: >= 90% of R and <= 2% 429s, for `--rows` and for a short batch of `--short-rows`. A short
batch is measured twice: on a gateway new to the client (it slow-starts, meets the limit once
and waits out that 429's whole-second Retry-After) and on one an earlier, untimed 120-row batch
met the limit of (it starts at the rate that batch kept for the base URL).
The sequential loop is timed on `--sequential-rows` rows and its wall scaled to `--rows` (it is
latency-bound, so the scaling is linear). "Failing rows": `--short-rows` rows of which three
always answer HTTP 500; goal: the batch ends <= 3 s after its last good answer. `--dask`: the
short batch on a 2-worker Dask LocalCluster (partitions share one rate). Memory: `Client.map`
over `--memory-rows` short answers in a fresh interpreter against an unlimited gateway in
another process; peak RSS above the baseline taken after imports. `--quick` (for CI): 120
rows, the short batch with the rate learned, failing rows; no sequential scaling, memory or
Dask runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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
    sent: int
    refused: int
    first_second: int
    peak_second: int = 0
    last_good: float = 0.0
    note: str = ""


class Sampler:
    """Polls the gateway's counters every few ms: requests sent in the first second after the
    first one, and when the last successful answer went out."""

    def __init__(self, gw: FakeGateway, every: float = 0.005) -> None:
        self.gw, self.every = gw, every
        self.base_sent = gw.accepted + gw.refused  # what an untimed warm-up sent
        self.base_good = sum(1 for r in list(gw.requests) if r.status == 200)
        self.first: float | None = None
        self.first_second = 0
        self.last_good = 0.0
        self._good = 0
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def _sample(self) -> None:
        now = time.perf_counter()
        sent = self.gw.accepted + self.gw.refused - self.base_sent
        if sent and self.first is None:
            self.first = now
        if self.first is not None and now - self.first <= 1.0:
            self.first_second = sent
        self.timeline.append((now, sent))
        good = sum(1 for r in list(self.gw.requests) if r.status == 200) - self.base_good
        if good > self._good:
            self._good, self.last_good = good, now

    def finish(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def peak_second(self) -> int:
        """The most requests sent in any one second (sliding)."""
        peak, j = 0, 0
        for t, sent in self.timeline:
            while self.timeline[j][0] < t - 1.0:
                j += 1
            peak = max(peak, sent - self.timeline[j][1])
        return peak


def measure(
    name: str,
    run: Callable[[FakeGateway, list[str]], int],
    rows: list[str],
    args: argparse.Namespace,
    warm_up: Callable[[FakeGateway], object] | None = None,
) -> Result:
    with FakeGateway(rate_limit=args.rate, rate_window=1.0, latency=args.latency) as gw:
        if warm_up is not None:  # untimed: what a user ran on this gateway before
            warm_up(gw)
            time.sleep(1.0)  # ... a moment before this batch (the gateway's window ends)
        base_sent, base_refused = gw.accepted + gw.refused, gw.refused
        sampler = Sampler(gw)
        t0 = time.perf_counter()
        failed = run(gw, rows)
        end = time.perf_counter()
        sampler.finish()
        sent = gw.accepted + gw.refused - base_sent
        refused = gw.refused - base_refused
        result = Result(name, end - t0, len(rows), failed, sent, refused, sampler.first_second)
        result.last_good = end - sampler.last_good
        result.peak_second = sampler.peak_second()
        return result


def run_map(gw: FakeGateway, rows: list[str]) -> int:
    batch = Client(base_url=gw.base_url, api_key=gw.api_key).map(rows, progress=False)
    return len(rows) - batch.statuses.get("complete", 0)


def run_map_at_limit(gw: FakeGateway, rows: list[str]) -> int:
    """`Client.map` told the limit (`max_rpm` at 95% of R): it starts there, no probing."""
    assert gw.rate_limit is not None
    client = Client(base_url=gw.base_url, api_key=gw.api_key)
    batch = client.map(rows, progress=False, max_rpm=gw.rate_limit * 60 * 0.95)
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


def run_dask(gw: FakeGateway, rows: list[str]) -> int:
    """The rows as a 4-partition Dask DataFrame on the running cluster (the magic's ``--each``
    path for Dask): every partition's runner asks one shared governor."""
    import dask.dataframe as dd
    import pandas as pd

    from ipygemini import Settings
    from ipygemini.batch import map_dask
    from ipygemini.client import AsyncClient

    settings = Settings.resolve(
        {}, offline_fallback=False, base_url=gw.base_url, api_key="fake-key"
    )
    frame = dd.from_pandas(pd.DataFrame({"text": rows}), npartitions=4)
    out = map_dask(AsyncClient, settings, frame, "{text}").compute()
    return int((out.status != "complete").sum())


@contextlib.contextmanager
def dask_cluster() -> Iterator[None]:
    """A 2-worker LocalCluster (worker processes), started before the clock starts."""
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=2, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        yield


def table(results: list[Result], rate: float) -> None:
    print(
        f"{'contender':38} {'rows':>5} {'wall s':>7} {'% of R':>7} {'429 %':>6} "
        f"{'1st s':>6} {'peak s':>6} {'failed':>6}"
    )
    for r in results:
        achieved = r.rows / r.wall / rate * 100
        share = r.refused / r.sent * 100 if r.sent else 0.0
        print(
            f"{r.name:38} {r.rows:5d} {r.wall:7.2f} {achieved:6.1f}% {share:5.1f}% "
            f"{r.first_second:6d} {r.peak_second:6d} {r.failed:6d} {r.note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast run for CI")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--short-rows", type=int, default=120)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--sequential-rows", type=int, default=100)
    parser.add_argument("--memory-rows", type=int, default=100_000)
    parser.add_argument("--dask", action="store_true", help="also the short batch on Dask")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.memory_rows, args.dask = args.short_rows, 0, False
    os.environ.setdefault("IPYGEMINI_HOME", tempfile.mkdtemp(prefix="bench-home-"))
    run_id = os.urandom(3).hex()  # rows never answered from an earlier run's log
    rows = [f"Label row {i} ({run_id}): short" for i in range(args.rows)]
    short = [f"Label short row {i} ({run_id}): short" for i in range(args.short_rows)]
    results = [measure("ipygemini Client.map", run_map, rows, args)]
    if not args.quick:
        results.append(measure("ipygemini Client.map, short batch", run_map, short, args))
    # the same short batch on a gateway an earlier batch met the limit of: it starts at the
    # rate that batch kept (per base URL, in the log), with no slow start and no 429 pause
    earlier = [f"Earlier batch row {i} ({run_id}): short" for i in range(120)]
    learned = [f"{row} (learned)" for row in short]
    results.append(
        measure(
            "Client.map, short, rate learned before",
            run_map,
            learned,
            args,
            warm_up=lambda gw: run_map(gw, earlier),
        )
    )
    if not args.quick:
        at_limit = [f"{row} (max_rpm)" for row in short]
        results.append(
            measure("Client.map(max_rpm=0.95 R), short", run_map_at_limit, at_limit, args)
        )
        results.append(measure("openai.AsyncOpenAI + Semaphore(16)", run_openai, rows, args))
        subset = rows[: args.sequential_rows]
        seq = measure("sequential Client.chat loop", run_sequential, subset, args)
        seq.wall *= args.rows / len(subset)
        seq.note = f"estimated from {len(subset)} rows"
        seq.rows = args.rows
        results.append(seq)
    if args.dask:
        with dask_cluster():
            results.append(measure("Client.map on Dask, 2 workers", run_dask, short, args))
    failing = [f"Failing-rows run {i} ({run_id}): short" for i in range(args.short_rows)]
    for i in (10, args.short_rows // 2, args.short_rows - 5):
        failing[i] = f"[fake:status code=500] always fails {i} ({run_id})"
    broken = measure("Client.map, 3 rows always HTTP 500", run_map, failing, args)
    broken.note = f"ends {broken.last_good:.2f} s after its last good row (goal <= 3 s)"
    results.append(broken)
    print(
        f"\ngateway limit R = {args.rate:g}/s (fixed 1 s windows), latency "
        f"{args.latency * 1000:.0f} ms; goals: >= 90% of R, <= 2% 429s (whole batch)\n"
    )
    table(results, args.rate)
    if args.memory_rows:
        mb, seconds, complete = memory(args)
        print(
            f"\nmemory: Client.map over {args.memory_rows:,} short answers: {mb:.0f} MB above "
            f"baseline (goal <= 200 MB), {complete:,} complete in {seconds:.0f} s"
        )


if __name__ == "__main__":
    main()
