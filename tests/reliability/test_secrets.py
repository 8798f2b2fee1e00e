"""The API key never leaks: with one distinctive key, every path of the suite runs while a scan
counts the key in everything those paths produce. The expected count is zero.

Scanned: replies and their reprs, exception strings, reprs, attributes and tracebacks, every
log record of every logger at DEBUG (httpx and httpcore included) through a handler, warnings,
the panel's widget state (what a notebook saves), every iopub and shell message of a real
kernel plus its process output and its own DEBUG log, and the saved copies of the tutorial
notebooks executed with nbclient. Each scan also checks that the key was really used (the
gateway accepted it), so a path that silently ran without the key cannot pass for clean.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from test_faults import run_magic
from test_hostile import Conn, HostileServer

from _reliability import (
    FAULTS,
    LogCapture,
    SecretScan,
    check_outcome,
    refused_port,
    run_async_client,
    run_client,
    run_panel,
    widget_tree,
)
from conftest import ROOT
from ipygemini import AsyncClient, Client, GeminiError
from ipygemini._png import solid_png
from ipygemini.testing import FakeGateway
from kernel_driver import KernelSession, kernel_env, ok

SECRET = "sk-LEAKCHECK-q7w3e9r2t5y8u1-do-not-print"
GATEWAY_KEY = SECRET  # the key of this module's gateways (conftest.py: gateway_key)
"""The distinctive key (its tail is not hex, so no widget or message id can contain it)."""
PNG = solid_png(1, 1, (200, 40, 40))


def accepted(gw: FakeGateway) -> int:
    """Requests the gateway accepted with the key (the proof that the path used it)."""
    return sum(1 for r in gw.requests if r.authorized)


def scan_reply(scan: SecretScan, reply: Any) -> None:
    if reply is None:
        return
    scan.scan("reply repr", repr(reply))
    scan.scan("reply text", reply.text + reply.reasoning)
    raw = reply.raw  # a completion, streamed chunks (parsed when read) or nothing
    scan.scan("reply raw", json.dumps(raw if raw is None or isinstance(raw, dict) else list(raw)))
    if reply.error is not None:
        scan.scan_exception(reply.error)


def echo(conn: Conn, stop: Any) -> None:
    """A careless gateway: it echoes the Authorization header back, in every way seen in the wild."""
    head = conn.request.partition(b"\r\n\r\n")[0].decode()
    auth = next(
        (
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("authorization:")
        ),
        "",
    )
    token = auth.removeprefix("Bearer ")
    escaped = "".join(f"\\u{ord(c):04x}" for c in token)
    if b"ECHO-SSE" in conn.request:  # an error event mid-stream
        event = json.dumps({"error": {"message": f"quota exceeded for key {token}", "code": "500"}})
        body = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n' + (
            b"data: " + event.encode() + b"\n\n"
        )
        head_out = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        )
        conn.send(head_out + body)
        return
    variants = {
        b"ECHO-PLAIN": json.dumps(
            {"error": {"message": f"Incorrect API key provided: {token}", "code": token}}
        ),
        b"ECHO-ESCAPED": '{"error":{"message":"bad key ' + escaped + '","type":"' + escaped + '"}}',
        b"ECHO-SLASHES": json.dumps({"error": {"message": f"key {token}"}}).replace("/", "\\/"),
        b"ECHO-TEXT": f"401 Unauthorized: {auth}",
    }
    kind = next(k for k in variants if k in conn.request)
    body = variants[kind].encode()
    conn.send(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


ECHOES = ("ECHO-PLAIN", "ECHO-ESCAPED", "ECHO-SLASHES", "ECHO-TEXT", "ECHO-SSE")


def test_client_paths(gw: FakeGateway, reliability: Any) -> None:
    gw.clear()
    scan = SecretScan(SECRET)
    logs = LogCapture()
    server = HostileServer(echo)
    other = FakeGateway(api_key="sk-some-other-key-0000").start()
    try:
        with logs.installed(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Client(base_url=gw.base_url, api_key=SECRET, backoff=0.0) as client:
                scan.scan("client repr", repr(client))
                scan.scan("client repr", repr(client._core))
                scan.scan("client key hint", client.api_key_hint)
                scan_reply(scan, client.chat("hello"))
                scan_reply(scan, client.chat("think", thinking="high", n=2))
                scan_reply(scan, client.chat("json please", json=True))
                scan_reply(scan, client.chat("a fox", model="gemini-2.5-flash-image"))
                scan_reply(scan, client.chat("what is this", attachments=[PNG, "notes about it"]))
                with client.stream("stream [fake:keepalive]", thinking=True) as stream:
                    scan.scan_all("stream event", (repr(e) for e in stream))
                scan_reply(scan, stream.reply)
                scan.scan("models", repr(client.models()))
                scan.scan("embeddings", repr(client.embed(["a", "b"])))
                gw.push_fault("status", code=500)
                scan_reply(scan, client.chat("retried once"))
            with Client(base_url=other.base_url, api_key=SECRET, max_retries=0) as client:
                try:  # the wrong key for this gateway
                    client.chat("who am I")
                except GeminiError as exc:
                    scan.scan_exception(exc)
            with Client(base_url=server.base_url, api_key=SECRET, max_retries=0) as client:
                for prompt in ECHOES:
                    stream = client.stream(prompt)
                    try:
                        with stream:
                            stream.until_done()
                    except GeminiError as exc:
                        scan.scan_exception(exc)
                    scan_reply(scan, stream.reply)

            async def async_paths() -> None:
                async with AsyncClient(base_url=gw.base_url, api_key=SECRET) as client:
                    scan.scan("async client repr", repr(client))
                    scan_reply(scan, await client.chat("async hello"))
                    async with client.stream("async stream", thinking=True) as stream:
                        scan.scan_all("stream event", [repr(e) async for e in stream])
                    scan_reply(scan, stream.reply)
                    gw.push_fault("model_not_found")
                    try:
                        await client.chat("missing model", model="gemini-9")
                    except GeminiError as exc:
                        scan.scan_exception(exc)
                async with AsyncClient(base_url=server.base_url, api_key=SECRET) as client:
                    for prompt in ECHOES:
                        try:
                            await client.chat(prompt)
                        except GeminiError as exc:
                            scan.scan_exception(exc)

            asyncio.run(async_paths())
        scan.scan_all("log record", logs.lines)
        scan.scan_all("warning", (str(w.message) for w in caught))
    finally:
        server.close()
        other.stop()
    assert accepted(gw) >= 12
    assert other.requests and not other.requests[0].authorized
    assert any(line.startswith("httpcore") for line in logs.lines), "no httpcore DEBUG record"
    assert any(line.startswith("httpx") for line in logs.lines), "no httpx record"
    assert len(server.conns) == 2 * len(ECHOES)  # the echoing gateway answered every time
    assert scan.hits == [], scan.hits
    reliability.record(
        "secrets",
        path="Client and AsyncClient: every endpoint and option, errors, a wrong key, a gateway "
        "echoing the key (plain, \\u-escaped, \\/-escaped, as text, in a stream error event)",
        texts=scan.texts - len(logs.lines),
        hits=0,
    )
    reliability.record(
        "secrets",
        path="log records of every logger at DEBUG (httpx, httpcore included) on those paths",
        texts=len(logs.lines),
        hits=0,
    )


def test_fault_matrix(gw: FakeGateway, reliability: Any) -> None:
    pytest.importorskip("ipywidgets")
    scan = SecretScan(SECRET)
    logs = LogCapture()
    sock, port = refused_port()
    used = 0

    def widgets(panel: Any) -> None:
        for widget in widget_tree(panel):
            scan.scan("widget state", json.dumps(widget.get_state(), default=repr))
        scan.scan("panel repr", repr(panel))

    try:
        with logs.installed():
            for fault in FAULTS:
                for run in (run_client, run_async_client):
                    out = run(gw, SECRET, fault, port)
                    used += accepted(gw)
                    check_outcome(fault, out, port=port)
                    scan_reply(scan, out.reply)
                    scan.scan("shown", out.shown + out.error_line)
                    if out.error is not None:
                        scan.scan_exception(out.error)
                out = run_panel(gw, SECRET, fault, port, inspect=widgets)
                used += accepted(gw)
                check_outcome(fault, out, port=port)
                scan_reply(scan, out.reply)
        scan.scan_all("log record", logs.lines)
    finally:
        sock.close()
    assert used >= 3 * (len(FAULTS) - 1)
    assert scan.hits == [], scan.hits
    reliability.record(
        "secrets",
        path=f"the fault matrix ({len(FAULTS)} faults) through Client, AsyncClient and ChatPanel, widget state included",
        texts=scan.texts + len(logs.lines),
        hits=0,
    )


# --- a real kernel --------------------------------------------------------------------------------


def log_setup(path: Path) -> str:
    """Kernel code: keep every log record of every logger, at DEBUG, in `path`."""
    return (
        "import logging as _logging\n"
        f"_handler = _logging.FileHandler({str(path)!r})\n"
        "_handler.setLevel(_logging.DEBUG)\n"
        "_handler.setFormatter(_logging.Formatter('%(name)s %(levelname)s %(message)s'))\n"
        "_logging.getLogger().addHandler(_handler)\n"
        "for _name in ('', 'httpx', 'httpcore', 'ipygemini', 'asyncio', 'traitlets', 'comm'):\n"
        "    _logging.getLogger(_name).setLevel(_logging.DEBUG)\n"
    )


def test_magic_in_a_kernel(gw: FakeGateway, tmp_path: Path, reliability: Any) -> None:
    pytest.importorskip("ipywidgets")
    scan = SecretScan(SECRET)
    log_file = tmp_path / "kernel-debug.log"
    kernel = KernelSession(kernel_env(gw), output=tmp_path / "kernel-output.txt")
    sock, port = refused_port()
    try:
        ok(kernel.run("%load_ext ipygemini"))
        ok(kernel.run(log_setup(log_file)))
        cells: dict[str, Any] = {}
        gw.clear()
        for code in (
            "%%gemini\nHello there",
            "%%gemini --thinking low -o kept\nThink it over",
            "%%gemini --no-stream -n 2\nTwo answers",
            "%%gemini --json\nGive JSON",
            "%%gemini -m gemini-2.5-flash-image\nA red fox",
            "import base64\npng = base64.b64decode("
            + repr(__import__("base64").b64encode(PNG).decode())
            + ")",
            "%%gemini -a png -c trip\nWhat is this?",
            "%gemini history trip",
            "%gemini config",
            "%gemini models",
            "%config Gemini",
            "print(repr(_gemini), repr(kept), _gemini.status)",
            "print(get_ipython().find_magic('gemini'))",
            "p = get_ipython().run_line_magic('gemini', 'panel trip')\n"
            "r = await p.send('From the panel')\nprint(repr(p), r.status)",
            "import ipywidgets as W\nfor w in W.Widget.widgets.values(): print(w.get_state())",
        ):
            cells[code] = ok(kernel.run(code))
        used = accepted(gw)
        for fault in FAULTS:
            check_outcome(fault, run_magic(kernel, gw, fault, port), port=port)
            used += accepted(gw)
        gw.clear()
        hint = "…" + SECRET[-4:]
        assert re.search(rf"api_key += {hint}  \(GEMINI_API_KEY\)", cells["%gemini config"].stdout)
        ok(kernel.run("import os\n_saved = os.environ.pop('GEMINI_API_KEY')"))
        login = ok(kernel.run("%gemini login", stdin=lambda request: SECRET))
        assert f"API key {hint} kept in memory" in login.stdout
        ok(kernel.run("%%gemini\nAfter login"))
        config = ok(kernel.run("%gemini config"))
        assert re.search(rf"api_key += {hint}  \(%gemini login \(memory\)\)", config.stdout)
        ok(kernel.run("os.environ['GEMINI_API_KEY'] = _saved; del _saved"))
        failed = kernel.run("%%gemini --max-tokens 0\nx")
        assert failed.status == "error"
        crashed = kernel.run(
            "import ipygemini\nipygemini.Client(base_url='http://gateway.example/v1')"
        )
        assert crashed.status == "error"  # a full traceback, scanned too
        counts = json.loads(
            ok(
                kernel.run(
                    "import json, os\n_handler.flush()\n"
                    "_text = open(" + repr(str(log_file)) + ").read()\n"
                    "print(json.dumps([_text.count(os.environ['GEMINI_API_KEY']), _text.count('httpcore')]))"
                )
            ).stdout
        )
        assert counts[1] > 0, "the kernel logged no httpcore record"
    finally:
        kernel.shutdown()
        sock.close()
    messages = [json.dumps(m, default=str) for m in kernel.all_messages]
    scan.scan_all("iopub/shell message", messages)
    scan.scan("kernel process output", (tmp_path / "kernel-output.txt").read_bytes())
    log_text = log_file.read_text()
    scan.scan("kernel DEBUG log", log_text)
    assert used >= 8 + len(FAULTS) - 1 and accepted(gw) >= 1  # the key was used (and login's)
    assert len(messages) > 200  # an answer streams in fewer messages since blocks share handles
    assert counts[0] == 0 and scan.hits == [], (counts, scan.hits)
    reliability.record(
        "secrets",
        path="%%gemini in a real kernel: answers, options, config, login, the panel, the fault matrix; every iopub/shell message, process output and the kernel's DEBUG log",
        texts=scan.texts + log_text.count("\n"),
        hits=0,
    )


# --- the tutorials ------------------------------------------------------------------------------------

NOTEBOOKS = ROOT / "notebooks"


def test_tutorials(
    gw: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reliability: Any
) -> None:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        pytest.skip("no tutorial notebooks in notebooks/")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, work, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for name in [n for n in os.environ if n.startswith("GEMINI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GEMINI_BASE_URL", gw.base_url)
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    gw.clear()
    scan = SecretScan(SECRET)
    logged = 0
    for path in paths:
        copy = work / path.name
        nb = nbformat.read(copy, as_version=4)
        log_file = tmp_path / f"{path.stem}.log"
        nb.cells.insert(0, nbformat.v4.new_code_cell(log_setup(log_file)))
        output = tmp_path / f"{path.stem}.out"
        with open(output, "wb") as out:
            client = NotebookClient(
                nb,
                km=KernelManager(
                    kernel_name=CURRENT_ENV_KERNEL_NAME,
                    kernel_spec_manager=NbvalKernelspecManager(),
                ),
                timeout=120,
                allow_errors=True,
                store_widget_state=True,  # what a user's saved notebook would hold
                resources={"metadata": {"path": str(work)}},
            )
            client.execute(stdout=out, stderr=out)
        for cell in nb.cells:  # it ran as the tutorial means to: errors only where expected
            errors = [o for o in cell.get("outputs", ()) if o.get("output_type") == "error"]
            tags = cell.get("metadata", {}).get("tags", [])
            assert not errors or "raises-exception" in tags, (path.name, cell.source, errors)
        saved = work / f"{path.stem}.executed.ipynb"
        nbformat.write(nb, saved)
        scan.scan("saved notebook", saved.read_text())
        log_text = log_file.read_text()
        logged += log_text.count("\n")
        scan.scan("kernel DEBUG log", log_text)
        scan.scan("kernel process output", output.read_bytes())
    assert accepted(gw) >= len(paths), "the tutorials did not use the key"
    assert logged > 100, "the kernels logged (almost) nothing"
    assert scan.hits == [], scan.hits
    reliability.record(
        "secrets",
        path=f"the {len(paths)} tutorial notebooks executed with nbclient (saved notebooks with widget state, kernel DEBUG logs, process output)",
        texts=scan.texts,
        hits=0,
    )


def test_repr_and_config_mask_the_key(gw: FakeGateway, reliability: Any) -> None:
    hint = "…" + SECRET[-4:]
    with Client(base_url=gw.base_url, api_key=SECRET) as client:
        assert repr(client) == (
            f"Client(base_url={gw.base_url + '/'!r}, model='gemini-2.5-flash', api_key={hint!r})"
        )
        assert client.api_key_hint == hint
    client2 = AsyncClient(base_url=gw.base_url, api_key=SECRET)
    assert repr(client2) == repr(client).replace("Client(", "AsyncClient(", 1)
    asyncio.run(client2.aclose())
    reliability.record(
        "secrets",
        path=f"repr(Client), repr(AsyncClient), api_key_hint: masked as {hint}",
        texts=3,
        hits=0,
    )
