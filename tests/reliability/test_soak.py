"""Bounded soak over loopback: 1,000 sequential streams and 200 concurrent async streams through
one client each, and 200 ``%%gemini`` cells (every tenth interrupted) in one real kernel.

Every reply must be complete and equal to the gateway's answer; afterwards no descriptor or
socket may be left open and resident memory may not have grown by 10 % after warm-up.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections import Counter
from typing import Any

from _reliability import client_fds, rss_bytes, sockets_to
from ipygemini import AsyncClient, Client
from ipygemini.render import PLACEHOLDER
from ipygemini.testing import FakeGateway, answer_for
from kernel_driver import Cell, KernelSession, answer_blocks, footer, ok

KEY = "sk-soak-test-3e9a7b21"
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)
MODEL = "gemini-2.5-flash"
SEQUENTIAL = 1000
CONCURRENT = 200
CELLS = 200
WORDS = "[fake:words=30]"


def expected(prompt: str) -> str:
    return answer_for({"model": MODEL, "messages": [{"role": "user", "content": prompt}]})


def growth(before: int, after: int) -> float:
    return 100.0 * (after - before) / before


def settled_rss() -> int:
    gc.collect()
    return rss_bytes()


def test_sequential_streams_through_one_client(gw: FakeGateway, reliability: Any) -> None:
    gw.clear()
    fds_before = client_fds(gw.port)
    correct = 0
    with Client(base_url=gw.base_url, api_key=KEY, model=MODEL) as client:

        def ask(i: int) -> bool:
            prompt = f"soak {i} {WORDS}"
            with client.stream(prompt) as stream:
                text = "".join(stream.text_deltas())
            reply = stream.reply
            gw.requests.clear()  # the gateway's own record is not the client's memory
            return text == reply.text == expected(prompt) and reply.status == "complete"

        assert all(ask(i) for i in range(100))  # warm-up: caches, pools, first allocations
        rss_warm = settled_rss()
        for i in range(SEQUENTIAL):
            assert ask(i), f"request {i} was not complete and correct"
            correct += 1
        rss_after = settled_rss()
        assert sockets_to(gw.port) == 1  # one kept-alive connection did all of it
    assert gw.connections == 1
    assert sockets_to(gw.port) == 0
    leaked = sorted(set(client_fds(gw.port).items()) - set(fds_before.items()))
    assert leaked == [], leaked
    assert growth(rss_warm, rss_after) < 10.0, (rss_warm, rss_after)
    reliability.record(
        "soak",
        name="sequential",
        label="sequential streams, one Client",
        requests=SEQUENTIAL,
        correct=correct,
        leaked_fds=len(leaked),
        rss_growth=growth(rss_warm, rss_after),
        note=f"{SEQUENTIAL:,} sequential streams used {gw.connections} TCP connection (keep-alive).",
    )


def test_concurrent_async_streams_through_one_client(gw: FakeGateway, reliability: Any) -> None:
    gw.clear()
    fds_before = client_fds(gw.port)

    async def main() -> tuple[int, int, int, int]:
        async with AsyncClient(base_url=gw.base_url, api_key=KEY, model=MODEL) as client:

            async def ask(i: int) -> bool:
                prompt = f"async soak {i} {WORDS}"
                async with client.stream(prompt) as stream:
                    text = "".join([e.text async for e in stream if e.type == "text"])
                reply = stream.reply
                return text == reply.text == expected(prompt) and reply.status == "complete"

            async def round_() -> int:
                results = await asyncio.gather(*(ask(i) for i in range(CONCURRENT)))
                gw.requests.clear()
                assert all(results), [i for i, r in enumerate(results) if not r]
                return sum(results)

            await round_()  # warm-up: the pool opens its connections
            rss_warm = settled_rss()
            correct = await round_()
            rss_after = settled_rss()
            open_during = sockets_to(gw.port)
        return correct, rss_warm, rss_after, open_during

    correct, rss_warm, rss_after, open_during = asyncio.run(main())
    assert correct == CONCURRENT
    assert 0 < open_during <= 100  # httpx's pool limit
    assert sockets_to(gw.port) == 0
    leaked = sorted(set(client_fds(gw.port).items()) - set(fds_before.items()))
    assert leaked == [], leaked
    assert growth(rss_warm, rss_after) < 10.0, (rss_warm, rss_after)
    reliability.record(
        "soak",
        name="concurrent",
        label="concurrent async streams, one AsyncClient",
        requests=CONCURRENT,
        correct=correct,
        leaked_fds=len(leaked),
        rss_growth=growth(rss_warm, rss_after),
        note=(
            f"{CONCURRENT} streams at once (after a warm-up round of {CONCURRENT}); "
            f"{gw.connections} TCP connections over both rounds, {open_during} kept alive."
        ),
    )


# --- %%gemini in a real kernel -----------------------------------------------------------------------

FDS = (
    "import os, json\n"
    "print(json.dumps([get_ipython().profile_dir.location] + sorted(\n"
    "    os.readlink(f'/proc/self/fd/{n}') for n in os.listdir('/proc/self/fd')\n"
    "    if os.path.exists(f'/proc/self/fd/{n}'))))"
)


def kinds(listing: list[str]) -> Counter[str]:
    """Open descriptors by kind, from the `FDS` listing: sockets counted as such (a reconnect
    gets a new inode), and what IPython's history database opens now and then from its saving
    thread (the profile directory, the journal, SQLite's temp files) left out."""
    profile, targets = listing[0], listing[1:]
    return Counter(
        "socket" if t.startswith("socket:") else t
        for t in targets
        if not (t.startswith(profile) or t.endswith("(deleted)"))
    )


def run_interrupted(kernel: KernelSession, code: str) -> Cell:
    """Run `code` and interrupt the kernel once the answer is visibly streaming."""
    sent: list[bool] = []

    def interrupt(msg: dict[str, Any], cell: Cell) -> None:
        if sent or msg["msg_type"] != "update_display_data":
            return
        if msg["content"]["data"] != PLACEHOLDER:
            sent.append(True)
            kernel.interrupt()

    cell = kernel.run(code, on_message=interrupt)
    assert sent, "the answer never streamed"
    return cell


def footer_of(cell: Cell) -> str:
    return footer(cell)


def test_many_cells_in_one_kernel_with_interrupts(
    kernel: KernelSession, magic_gateway: FakeGateway, reliability: Any
) -> None:
    ok(kernel.run("%%gemini\nwarm up"))
    fds_before = json.loads(ok(kernel.run(FDS)).stdout)
    interrupted = completed = 0
    for i in range(1, CELLS + 1):
        magic_gateway.clear()
        if i % 10 == 0:
            cell = run_interrupted(kernel, f"%%gemini\nsoak {i} [fake:slow] [fake:words=2000]")
            assert cell.status == "error" and cell.error is not None
            assert cell.error["ename"] == "AnswerInterrupted"  # a KeyboardInterrupt, one line
            assert footer_of(cell).endswith("interrupted")
            assert answer_blocks(cell), "the partial answer is not shown"
            interrupted += 1
        else:
            cell = kernel.run(f"%%gemini\nsoak {i} {WORDS}")
            assert cell.status == "ok", (i, cell.stderr, cell.error)
            body = magic_gateway.requests[-1].body
            shown = "\n\n".join(b["text/plain"] for b in answer_blocks(cell))
            assert shown == answer_for(body), i
            assert footer_of(cell).startswith("— gemini-2.5-flash · ")
            completed += 1
    # the kernel is healthy: it computes, it is not stuck in an interrupt, and the magic works
    check = ok(kernel.run("40 + 2"))
    assert check.of_type("execute_result")[0]["content"]["data"]["text/plain"] == "42"
    magic_gateway.clear()
    last = ok(kernel.run("%%gemini\nthe last cell [fake:words=50]"))
    assert "\n\n".join(b["text/plain"] for b in answer_blocks(last)) == answer_for(
        magic_gateway.requests[-1].body
    )
    status = json.loads(ok(kernel.run("import json; print(json.dumps(_gemini.status))")).stdout)
    assert status == "complete"
    fds_after = json.loads(ok(kernel.run(FDS)).stdout)
    leaked = sorted((kinds(fds_after) - kinds(fds_before)).elements())
    assert leaked == [], (fds_before, fds_after)
    reliability.record(
        "soak",
        name="kernel",
        label="%%gemini cells in one kernel (every tenth interrupted)",
        requests=CELLS,
        correct=completed,
        leaked_fds=len(leaked),
        note=(
            f"{completed} cells complete and equal to the gateway's answer, {interrupted} "
            "interrupted mid-stream (partial answer shown, footer marked); afterwards the "
            "kernel computed, answered a last cell in full, and held no more descriptors."
        ),
    )
