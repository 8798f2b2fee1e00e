"""Client CPU per streamed chunk: ipygemini (sync, async) vs raw httpx vs the official SDK.

Run: python benchmarks/client_stream.py [--chunks 20000] [--repeat 5]

The FakeGateway runs in a separate process so the CPU time measured here is the client's
alone. Also prints warm time-to-first-token and the TCP connections opened by 5 back-to-back
requests on one client (keep-alive).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from ipygemini import AsyncClient, Client
from ipygemini.testing import FakeGateway

KEY = "bench-key"
MODEL = "gemini-2.5-flash"


def start_gateway() -> tuple[subprocess.Popen[str], str]:
    """`python -m ipygemini.testing` on a free port; its first line says where it serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipygemini.testing", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "FakeGateway serving at http://127.0.0.1:PORT/v1"
    if "serving at" not in line:
        proc.kill()
        raise SystemExit(f"the gateway did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1].strip()


def prompt_for(chunks: int) -> str:
    # chunk_chars=4 and ~5 chars per filler word: about `chunks` content chunks
    return f"[fake:words={int(chunks * 4 / 5.2)} chunk_chars=4] benchmark"


def run_raw_httpx(base: str, prompt: str, http: httpx.Client) -> int:
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True}
    n = 0
    with http.stream(
        "POST", base + "/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                json.loads(line[6:])
                n += 1
    return n


def run_raw_async(
    base: str, prompt: str, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop
) -> int:
    async def go() -> int:
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True}
        n = 0
        headers = {"Authorization": f"Bearer {KEY}"}
        async with http.stream("POST", base + "/chat/completions", json=body, headers=headers) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    n += 1
        return n

    return loop.run_until_complete(go())


def run_ipygemini(client: Client, prompt: str) -> int:
    n = 0
    with client.stream(prompt) as s:
        for _ in s:
            n += 1
    return n


def run_async(client: AsyncClient, prompt: str, loop: asyncio.AbstractEventLoop) -> int:
    async def go() -> int:
        n = 0
        async with client.stream(prompt) as s:
            async for _ in s:
                n += 1
        return n

    return loop.run_until_complete(go())


def cpu_per_chunk(fn: Callable[[], int], chunks: int, repeat: int) -> float:
    fn()  # warm up: connection, caches
    samples = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        samples.append((time.process_time() - t0) / chunks)
    return statistics.median(samples)


def ttft(fn: Callable[[], float], repeat: int) -> float:
    fn()
    return statistics.median(fn() for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a small run (CI): 2,000 chunks, twice")
    args = ap.parse_args()
    if args.quick:
        args.chunks, args.repeat = min(args.chunks, 2_000), min(args.repeat, 2)
    proc, base = start_gateway()
    try:
        prompt = prompt_for(args.chunks)
        http = httpx.Client(timeout=60)
        client = Client(base_url=base, api_key=KEY, model=MODEL)
        aclient = AsyncClient(base_url=base, api_key=KEY, model=MODEL)
        loop = asyncio.new_event_loop()
        ahttp = httpx.AsyncClient(timeout=60)
        chunks = run_raw_httpx(base, prompt, http) - 2  # minus role chunk and usage chunk
        rows: list[tuple[str, float]] = [
            (
                "raw httpx iter_lines + json.loads",
                cpu_per_chunk(lambda: run_raw_httpx(base, prompt, http), chunks, args.repeat),
            ),
            (
                "ipygemini Client.stream",
                cpu_per_chunk(lambda: run_ipygemini(client, prompt), chunks, args.repeat),
            ),
            (
                "ipygemini AsyncClient.stream",
                cpu_per_chunk(lambda: run_async(aclient, prompt, loop), chunks, args.repeat),
            ),
            (
                "raw httpx.AsyncClient aiter_lines + json",
                cpu_per_chunk(
                    lambda: run_raw_async(base, prompt, ahttp, loop), chunks, args.repeat
                ),
            ),
        ]
        try:
            import openai

            sdk = openai.OpenAI(base_url=base, api_key=KEY)

            def run_sdk() -> int:
                n = 0
                for _ in sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
                ):
                    n += 1
                return n

            rows.append(
                (f"openai SDK {openai.__version__}", cpu_per_chunk(run_sdk, chunks, args.repeat))
            )
        except ImportError:
            pass
        raw = rows[0][1]
        print(
            f"\nclient CPU per chunk, {chunks:,} chunks, median of {args.repeat} (python {sys.version.split()[0]})"
        )
        raw_async = rows[3][1]
        print(f"{'client':40} {'µs/chunk':>10} {'× raw httpx':>12} {'× raw async':>12}")
        for name, value in rows:
            print(f"{name:40} {value * 1e6:10.2f} {value / raw:12.2f} {value / raw_async:12.2f}")

        # warm time to first token, short answer
        short = "[fake:words=20] hello"

        def raw_ttft() -> float:
            body = {
                "model": MODEL,
                "messages": [{"role": "user", "content": short}],
                "stream": True,
            }
            t0 = time.perf_counter()
            with http.stream(
                "POST",
                base + "/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {KEY}"},
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        delta = json.loads(line[6:])["choices"][0]["delta"]
                        if delta.get("content"):
                            return time.perf_counter() - t0
            raise RuntimeError("no content")

        def ipg_ttft() -> float:
            t0 = time.perf_counter()
            with client.stream(short) as s:
                for event in s:
                    if event.type == "text":
                        return time.perf_counter() - t0
            raise RuntimeError("no content")

        reps = 5 if args.quick else max(args.repeat * 10, 30)
        t_raw, t_ipg = ttft(raw_ttft, reps), ttft(ipg_ttft, reps)
        print(
            f"\nwarm time to first token (median of {reps}): raw httpx {t_raw * 1e3:.3f} ms, "
            f"ipygemini {t_ipg * 1e3:.3f} ms, difference {(t_ipg - t_raw) * 1e3:+.3f} ms"
        )
        loop.close()
    finally:
        proc.terminate()
        proc.wait()

    # keep-alive: connections the gateway accepted for 5 back-to-back requests on one client
    with FakeGateway(api_key=KEY) as gw, Client(base_url=gw.base_url, api_key=KEY) as c:
        c.chat("warm up")
        before = gw.connections
        for i in range(5):
            with c.stream(f"request {i}") as s:
                s.until_done()
        print(f"new TCP connections across 5 back-to-back requests: {gw.connections - before}")
    if os.environ.get("CI"):
        print("(figures from a CI machine)")


if __name__ == "__main__":
    main()
