"""The exchange log's costs, side by side: logging overhead per exchange, a cached answer in a
real kernel vs the same answer from the gateway, ``%gemini log`` over 100,000 exchanges, and
database bytes per exchange.

Run: python benchmarks/log.py [--exchanges 100000] [--repeat 15]

Everything is written under a temporary ``IPYGEMINI_HOME``; nothing touches the real log.
"""

from __future__ import annotations

import argparse
import os
import queue
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOME = Path(tempfile.mkdtemp(prefix="ipygemini-bench-log-"))
os.environ["IPYGEMINI_HOME"] = str(HOME)

from ipygemini._settings import Settings  # noqa: E402
from ipygemini._types import Choice, Reply, Usage  # noqa: E402
from ipygemini.log._exchange import exchange_from  # noqa: E402
from ipygemini.log._recording import LogTags, Recorder, exchange_log  # noqa: E402
from ipygemini.log._store import _COLUMNS, _row  # noqa: E402
from ipygemini.testing import FakeGateway  # noqa: E402

KEY = "sk-bench-log-key-0000"
WORDS = "the quick brown fox jumps over a lazy dog while the log keeps every answer".split()


def text(n_words: int, seed: int) -> str:
    return " ".join(WORDS[(seed + i * 7) % len(WORDS)] for i in range(n_words))


def body(prompt: str) -> dict[str, Any]:
    return {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": prompt},
        ],
        "temperature": 0.3,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def reply(answer: str) -> Reply:
    return Reply(
        choices=[Choice(text=answer, finish_reason="stop")],
        usage=Usage(40, 300, 340),
        model="gemini-2.5-flash",
    )


def logging_overhead(repeat: int) -> float:
    """Median ms for `Recorder.finish` (build the entry, write it) of a 1 KB answer."""
    settings = Settings(api_key=KEY, base_url="https://gateway.example/v1/")
    answer = text(180, 3)
    times = []
    for i in range(max(200, repeat * 20)):
        recorder = Recorder(settings, LogTags(source="client"))
        b, r = body(f"question {i}: {text(20, i)}"), reply(answer)
        started = time.perf_counter()
        recorder.finish(b, r)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def cache_hit_in_process(repeat: int) -> float:
    """Median ms for ``client.chat(..., cache=True)`` answered from the log (the lookup, the
    reply, and the hit written to the log), without any display."""
    with FakeGateway(api_key=KEY, delay=0.0) as gateway:
        from ipygemini import Client

        with Client(base_url=gateway.base_url, api_key=gateway.api_key) as client:
            prompt = "in process [fake:words=1700]"
            client.chat(prompt)
            times = []
            for _ in range(max(50, repeat * 5)):
                started = time.perf_counter()
                assert client.chat(prompt, cache=True).cached
                times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def fill(path: Path, count: int) -> None:
    """`count` realistic exchanges (a 20-word prompt, a ~150-word answer) in one transaction."""
    exchange_log(path)  # creates the schema (and the FTS index with its trigger)
    exchange_log(path).record(
        exchange_from(
            body("warm up"),
            reply("x"),
            source="client",
            base_url="https://gateway.example/v1/",
            started=time.time(),
            duration=1.0,
        )
    )
    connection = sqlite3.connect(path)
    marks = ", ".join("?" * len(_COLUMNS.split(",")))
    rows = []
    for i in range(count - 1):
        e = exchange_from(
            body(f"question {i}: {text(20, i)}"),
            reply(text(150, i)),
            source="batch" if i % 3 else "magic",
            base_url="https://gateway.example/v1/",
            started=time.time() - (count - i),
            duration=1.5,
        )
        rows.append(_row(e))
    with connection:
        connection.executemany(f"INSERT INTO exchanges ({_COLUMNS}) VALUES ({marks})", rows)
    connection.close()


def log_command_ms(repeat: int, args: list[str]) -> float:
    from ipygemini.magic._log_commands import log_command

    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        shown = log_command(args)
        assert shown is not None and shown.html
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def kernel_cell_ms(repeat: int) -> tuple[float, float, int]:
    """Median ms from execute to idle for a 10 KB answer: from the gateway, and from the log."""
    from jupyter_client import KernelManager

    with FakeGateway(api_key=KEY, chunk_chars=40, delay=0.0) as gateway:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_")}
        env.update(GEMINI_BASE_URL=gateway.base_url, GEMINI_API_KEY=gateway.api_key)
        km = KernelManager(kernel_name="python3")
        km.start_kernel(env=env)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)

        def run(code: str) -> float:
            started = time.perf_counter()
            msg_id = kc.execute(code)
            while True:
                try:
                    msg = kc.get_iopub_msg(timeout=30)
                except queue.Empty:
                    raise TimeoutError(code) from None
                if (
                    msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"
                ):
                    return (time.perf_counter() - started) * 1000

        try:
            run("%load_ext ipygemini")
            live, cached = [], []
            for i in range(repeat):
                prompt = f"Answer number {i} at length [fake:words=1700]"
                live.append(run(f"%%gemini\n{prompt}"))
                run(f"%%gemini --cache\n{prompt} (cached)")  # the first time: asked and stored
                cached.append(run(f"%%gemini --cache\n{prompt} (cached)"))
            answer_bytes = len(exchange_log().entries(1)[0].answer.encode())
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return statistics.median(live), statistics.median(cached), answer_bytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    overhead = logging_overhead(args.repeat)
    live, cached, answer_bytes = kernel_cell_ms(args.repeat)
    hit = cache_hit_in_process(args.repeat)

    big = HOME / "big" / "log.sqlite3"
    os.environ["IPYGEMINI_HOME"] = str(big.parent)
    fill(big, args.exchanges)
    listing = log_command_ms(args.repeat, ["-n", "20"])
    search = log_command_ms(args.repeat, ["lazy", "fox"])
    wal = big.with_name(big.name + "-wal")
    size = big.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    print(
        f"ipygemini exchange log, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
    print(f"{'measure':58} {'value':>12} {'goal':>10}")
    print(f"{'logging overhead per exchange (median)':58} {overhead:9.3f} ms {'≤ 1 ms':>10}")
    print(
        f"{f'%%gemini, {answer_bytes / 1024:.0f} KB answer from FakeGateway (median)':58} "
        f"{live:9.1f} ms {'':>10}"
    )
    print(
        f"{'%%gemini --cache, the same size from the log (median)':58} {cached:9.1f} ms "
        f"{'≤ 20 ms':>10}"
    )
    print(f"{'  cache hit / gateway':58} {cached / live:9.2f} ×")
    print(f"{'  of which the cache (lookup + reply + logging the hit)':58} {hit:9.3f} ms")
    print(
        f"{f'%gemini log -n 20 over {args.exchanges:,} exchanges (median)':58} "
        f"{listing:9.1f} ms {'≤ 100 ms':>10}"
    )
    print(
        f"{f'%gemini log lazy fox (FTS search) over {args.exchanges:,}':58} {search:9.1f} ms "
        f"{'≤ 100 ms':>10}"
    )
    print(f"{'database bytes per exchange (~1 KB answer)':58} {size / args.exchanges:9.0f} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
