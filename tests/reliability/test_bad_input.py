"""The catalogue of bad input, each with the exact one-line message the user gets: through the
clients (`Client`, `AsyncClient`) and through ``%%gemini`` in a real kernel.

Nothing bad reaches the gateway unless only the gateway can judge it (an unknown model).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import KernelSession
from ipygemini import AsyncClient, Client
from ipygemini.attachments import SUPPORTED
from ipygemini.magic._session import OFFLINE_HINT
from ipygemini.testing import FakeGateway
from kernel_driver import chat_bodies, displays, is_footer, ok, one_line_error

BIG = 21 * 1024 * 1024  # one MiB over the 20 MiB attachment limit
MISSING_KEY = (
    "No API key: GEMINI_API_KEY is not set. Set the GEMINI_API_KEY environment variable before "
    "starting Jupyter, or run %gemini login (it asks without echoing and keeps the key in memory "
    "only); never write the key into the notebook."
)
TOO_BIG = (
    "{label} is 22.0 MB, over the 21.0 MB attachment limit; attach something smaller (fewer "
    "pages, a smaller image, fewer rows), or pass to_content_parts([obj], max_bytes=N) as the "
    "attachments if your gateway takes more"
)
NOT_JSON = (
    "the answer is not valid JSON (Expecting property name enclosed in double quotes at position "
    '21); it begins \'{"answer": "offline",\'. The answer was cut off at max_tokens: raise it '
    "(--max-tokens) or read reply.text."
)
UNKNOWN_MODEL = (
    "HTTP 503 [model_not_found]: No available channel for model gemini-9 under group default "
    "(distributor). Check GEMINI_BASE_URL and the model name; %gemini models lists the models "
    "this gateway offers."
)


@dataclass(frozen=True)
class Case:
    """One bad input through the clients: `act(client, ctx)` must raise `exception` with `message`."""

    id: str
    label: str
    exception: str
    message: str
    act: Callable[[Front, dict[str, Any]], Any]
    sends: bool = False  # the gateway sees a request (only it can tell)


class Front:
    """`Client` or `AsyncClient` behind one sync surface: ``chat`` and ``new`` (a fresh client)."""

    def __init__(self, kind: str, gw: FakeGateway) -> None:
        self.kind, self.gw = kind, gw
        self.options = {"base_url": gw.base_url, "api_key": KEY}

    def new(self, **options: Any) -> Any:
        return Client(**options) if self.kind == "Client" else AsyncClient(**options)

    def chat(self, *args: Any, **kwargs: Any) -> Any:
        if self.kind == "Client":
            with Client(**self.options) as client:
                return client.chat(*args, **kwargs)

        async def go() -> Any:
            async with AsyncClient(**self.options) as client:
                return await client.chat(*args, **kwargs)

        return asyncio.run(go())


def _attach(obj_of: Callable[[dict[str, Any]], Any]) -> Callable[[Front, dict[str, Any]], Any]:
    return lambda f, ctx: f.chat("look at this", attachments=[obj_of(ctx)])


def _json_answer(f: Front, ctx: dict[str, Any]) -> Any:
    return f.chat("give json", json=True, max_tokens=2).json()


def _unknown_model(f: Front, ctx: dict[str, Any]) -> Any:
    f.gw.push_fault("model_not_found")
    return f.chat("hello", model="gemini-9")


def _new_client(**options: Any) -> Callable[[Front, dict[str, Any]], Any]:
    return lambda f, ctx: f.new(**options)


CLIENT_CASES = [
    Case(
        "unsupported-object",
        "unsupported object",
        "AttachmentError",
        f"cannot attach an object of type object; supported: {SUPPORTED}",
        _attach(lambda ctx: object()),
    ),
    Case(
        "missing-file",
        "missing file",
        "AttachmentError",
        "no such file: missing-report.pdf (the working directory is {cwd})",
        _attach(lambda ctx: Path("missing-report.pdf")),
    ),
    Case(
        "oversized-attachment",
        "oversized attachment (21 MiB PDF)",
        "AttachmentError",
        TOO_BIG.replace("{label}", "{big}"),
        _attach(lambda ctx: ctx["big"]),
    ),
    Case(
        "out-of-range",
        "out-of-range parameter (temperature=3)",
        "OptionError",
        "temperature must be between 0 and 2; got 3",
        lambda f, ctx: f.chat("hello", temperature=3),
    ),
    Case(
        "bad-thinking",
        "unknown thinking level (thinking='lots')",
        "OptionError",
        "thinking must be True, False, 'low', 'medium', 'high' or a token budget; got 'lots'",
        lambda f, ctx: f.chat("hello", thinking="lots"),
    ),
    Case(
        "malformed-json",
        "malformed JSON-mode answer (cut at max_tokens=2)",
        "ValueError",
        NOT_JSON,
        _json_answer,
        sends=True,
    ),
    Case(
        "missing-key",
        "missing key (remote base URL)",
        "MissingKeyError",
        MISSING_KEY,
        _new_client(base_url="https://gateway.example/v1"),
    ),
    Case(
        "insecure-url",
        "insecure base URL (plain http, remote host)",
        "InsecureURLError",
        "Refusing to send the API key over plain http to gateway.example. Use an https:// base "
        "URL, or set allow_insecure=True if you trust the network.",
        _new_client(base_url="http://gateway.example/v1", api_key="sk-some-key-1234"),
    ),
    Case(
        "not-a-url",
        "base URL that is not http(s)",
        "InsecureURLError",
        "base_url must be an http(s) URL such as "
        "'https://generativelanguage.googleapis.com/v1beta/openai/'; got 'ftp://gateway.example/v1'.",
        _new_client(base_url="ftp://gateway.example/v1", api_key="sk-some-key-1234"),
    ),
    Case(
        "unknown-model",
        "unknown model (the gateway's 503 model_not_found)",
        "NotFoundError",
        UNKNOWN_MODEL,
        _unknown_model,
        sends=True,
    ),
    Case(
        "unknown-option",
        "unknown client option",
        "OptionError",
        "unknown setting(s): colour; known: allow_insecure, api_key, backoff, base_url, cache, "
        "connect_timeout, headers, idle_timeout, log, max_event_bytes, max_retries, mcp_servers, "
        "model, thinking_style, timeout.",
        lambda f, ctx: f.new(colour="red"),
    ),
]

KEY = "sk-bad-input-4c2e91"
GATEWAY_KEY = KEY  # the key of this module's gateways (conftest.py: gateway_key)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "big.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(BIG - 9))
    return path


@pytest.mark.parametrize("front_end", ["Client", "AsyncClient"])
@pytest.mark.parametrize("case", CLIENT_CASES, ids=[c.id for c in CLIENT_CASES])
def test_client(
    case: Case,
    front_end: str,
    gw: FakeGateway,
    big: Path,
    monkeypatch: pytest.MonkeyPatch,
    reliability: Any,
) -> None:
    for name in ("GEMINI_API_KEY", "GEMINI_BASE_URL", "GEMINI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    gw.clear()
    with pytest.raises(Exception) as info:
        case.act(Front(front_end, gw), {"big": big})
    assert type(info.value).__name__ == case.exception, repr(info.value)
    expected = case.message.replace("{cwd}", os.getcwd()).replace("{big}", str(big))
    assert str(info.value) == expected
    assert "\n" not in str(info.value)
    assert bool(chat_bodies(gw)) == case.sends  # refused before anything was sent
    reliability.record(
        "bad_input",
        input=case.label,
        front_end=front_end,
        exception=case.exception,
        message=case.message.replace("{cwd}", "<cwd>").replace("{big}", "<tmp>/big.pdf"),
    )


# --- %%gemini in a real kernel ------------------------------------------------------------------------


@dataclass(frozen=True)
class MagicCase:
    id: str
    label: str
    exception: str
    message: str
    cell: str
    setup: str = ""
    teardown: str = ""
    usage: bool = False  # an IPython UsageError: one stderr line, not an error output
    sends: bool = False


MAGIC_CASES = [
    MagicCase(
        "unknown-variable",
        "unknown variable in the prompt",
        "PromptError",
        "no variable 'dff' in the notebook (write {{dff}} for a literal {dff}).",
        "%%gemini\nSummarise {dff}",
    ),
    MagicCase(
        "unknown-attach",
        "unknown variable after -a",
        "PromptError",
        "-a/--attach: no variable 'nope' in the notebook.",
        "%%gemini -a nope\nDescribe it",
    ),
    MagicCase(
        "unsupported-object",
        "unsupported object",
        "AttachmentError",
        f"-a thing: cannot attach an object of type object; supported: {SUPPORTED}",
        "%%gemini -a thing\nDescribe it",
        setup="thing = object()",
    ),
    MagicCase(
        "missing-file",
        "missing file",
        "AttachmentError",
        "-a report: no such file: missing-report.pdf (the working directory is {cwd})",
        "%%gemini -a report\nSummarise it",
        setup="from pathlib import Path\nreport = Path('missing-report.pdf')",
    ),
    MagicCase(
        "oversized-attachment",
        "oversized attachment (21 MiB PDF)",
        "AttachmentError",
        "-a big: " + TOO_BIG.replace("{label}", "bytes"),
        "%%gemini -a big\nSummarise it",
        setup=f"big = b'%PDF-1.4\\n' + bytes({BIG - 9})",
        teardown="del big",
    ),
    MagicCase(
        "out-of-range",
        "out-of-range parameter (-t 3)",
        "UsageError",
        "%%gemini -t/--temperature: temperature must be between 0 and 2; got 3.0",
        "%%gemini -t 3\nhello",
        usage=True,
    ),
    MagicCase(
        "bad-thinking",
        "unknown thinking level (--thinking lots)",
        "UsageError",
        "%%gemini: --thinking takes low, medium, high, off or a token budget; got 'lots'",
        "%%gemini --thinking lots\nhello",
        usage=True,
    ),
    MagicCase(
        "unknown-option",
        "unknown option",
        "UsageError",
        "%%gemini: unrecognized arguments: --colour red (see %gemini --help)",
        "%%gemini --colour red\nhello",
        usage=True,
    ),
    MagicCase(
        "empty-cell",
        "empty prompt",
        "UsageError",
        "%%gemini: the cell is empty; write the prompt below %%gemini",
        "%%gemini\n   \n",
        usage=True,
    ),
    MagicCase(
        "malformed-json",
        "malformed --json answer (cut at --max-tokens 2)",
        "AnswerError",
        NOT_JSON,
        "%%gemini --json --max-tokens 2\ngive json",
        sends=True,
    ),
    MagicCase(
        "missing-key",
        "missing key (remote base URL)",
        "MissingKeyError",
        f"{MISSING_KEY} {OFFLINE_HINT}",
        "%%gemini\nhello",
        setup="import os\n_saved = dict(os.environ)\nos.environ.pop('GEMINI_API_KEY')\n"
        "os.environ['GEMINI_BASE_URL'] = 'https://gateway.example/v1'",
        teardown="os.environ.clear(); os.environ.update(_saved)",
    ),
    MagicCase(
        "insecure-url",
        "insecure base URL (plain http, remote host)",
        "InsecureURLError",
        "Refusing to send the API key over plain http to gateway.example. Use an https:// base "
        "URL, or run %gemini config allow_insecure=true if you trust the network.",
        "%%gemini\nhello",
        setup="%gemini config base_url=http://gateway.example/v1",
        teardown="%gemini config base_url=none",
    ),
    MagicCase(
        "unknown-model",
        "unknown model (the gateway's 503 model_not_found)",
        "NotFoundError",
        UNKNOWN_MODEL,
        "%%gemini -m gemini-9\nhello [fake:model_not_found]",
        sends=True,
    ),
]


@pytest.fixture(scope="module")
def kernel_cwd(kernel: KernelSession) -> str:
    return str(json.loads(ok(kernel.run("import os, json; print(json.dumps(os.getcwd()))")).stdout))


@pytest.mark.parametrize("case", MAGIC_CASES, ids=[c.id for c in MAGIC_CASES])
def test_magic(
    case: MagicCase,
    kernel: KernelSession,
    kernel_cwd: str,
    magic_gateway: FakeGateway,
    reliability: Any,
) -> None:
    if case.setup:
        ok(kernel.run(case.setup))
    magic_gateway.clear()
    try:
        cell = kernel.run(case.cell)
    finally:
        if case.teardown:
            ok(kernel.run(case.teardown))
    expected = case.message.replace("{cwd}", kernel_cwd)
    assert cell.status == "error"
    if case.usage:  # IPython prints a UsageError as one line on stderr
        assert cell.stderr == f"UsageError: {expected}\n", cell.stderr
    else:
        error = one_line_error(cell)
        assert error["ename"] == case.exception
        assert error["evalue"] == expected
    shown = [d for d in displays(cell.final) if d.get("text/plain") and not is_footer(d)]
    assert not shown, shown  # no answer
    assert bool(chat_bodies(magic_gateway)) == case.sends
    reliability.record(
        "bad_input",
        input=case.label,
        front_end="%%gemini",
        exception=case.exception,
        message=case.message.replace("{cwd}", "<cwd>"),
    )
