"""What a gateway taught (LiteLLM wants reasoning_effort, json_schema refused, the thinking levels
a model accepts) is kept per base URL in the log file and read by new clients and new processes
(issue 17, item 29); with ``log=False`` it stays in this process. Over real loopback sockets."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import client_for, response_formats
from ipygemini.log import gateways as learned
from ipygemini.testing import FakeGateway
from kernel_driver import last_body

pytestmark = pytest.mark.usefixtures("home")  # each test logs into a home of its own


class Label(BaseModel):
    sentiment: str
    score: int


WORD = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}


def stored(home: Path) -> dict[str, dict[str, Any]]:
    path = home / "log.sqlite3"
    if not path.exists():
        return {}
    connection = sqlite3.connect(path)
    try:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "gateways" not in tables:
            return {}
        rows = connection.execute("SELECT base_url, facts FROM gateways").fetchall()
    finally:
        connection.close()
    return {address: json.loads(facts) for address, facts in rows}


def new_process_body(gw: FakeGateway, home: Path, **chat: Any) -> dict[str, Any]:
    """The body a client in a fresh Python process (a new kernel) sends first."""
    code = (
        "import json, sys\n"
        "from ipygemini import Client\n"
        "c = Client(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0)\n"
        "c.chat('hello again', **json.loads(sys.argv[3]))\n"
    )
    env = {**os.environ, "IPYGEMINI_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", code, gw.base_url, gw.api_key, json.dumps(chat)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return last_body(gw)


def test_a_litellm_proxy_is_asked_in_its_form_by_new_clients_and_kernels(home: Path) -> None:
    with FakeGateway(delay=0.0) as gw:
        client_for(gw, max_retries=0).chat("think [fake:litellm]", thinking="high")
        assert "reasoning_effort" not in last_body(gw)  # the first request could not know
        client_for(gw, max_retries=0).chat("think again", thinking="high")
        assert last_body(gw).get("reasoning_effort") == "high"
        assert new_process_body(gw, home, thinking="high").get("reasoning_effort") == "high"
        [facts] = learned(gw.base_url)
        assert facts["kind"] == "litellm"
        assert gw.api_key not in json.dumps(stored(home))


def test_a_json_schema_refusal_and_accepted_levels_are_kept(home: Path) -> None:
    with FakeGateway(no_json_schema=True, delay=0.0) as gw:
        client_for(gw, max_retries=0).chat("Label one", schema=Label)
        client_for(gw, max_retries=0).chat("go", model="gemini-3-pro-preview", thinking="medium")
        assert len(gw.requests) == 4  # each lesson cost one refused request
        client_for(gw, max_retries=0).chat("Label two", schema=Label)
        client_for(gw, max_retries=0).chat("go", model="gemini-3-pro-preview", thinking="medium")
        assert len(gw.requests) == 6  # a new client asked right the first time
        body = new_process_body(gw, home, model="gemini-3-pro-preview", thinking="medium")
        assert len(gw.requests) == 7
        level = body["extra_body"]["google"]["thinking_config"]["thinking_level"]
        assert level in ("low", "high")
        [facts] = learned(gw.base_url)
    assert facts["json_schema_refused"] is True
    assert set(facts["levels"]["gemini-3-pro-preview"]) == {"low", "high"}


def test_with_log_off_lessons_stay_in_this_process(home: Path) -> None:
    with FakeGateway(no_json_schema=True, delay=0.0) as gw:
        client_for(gw, max_retries=0, log=False).chat("Label one", schema=Label)
        assert stored(home) == {}  # nothing written, not even the file's table
        client_for(gw, max_retries=0, log=False).chat("Label two", schema=Label)
        assert response_formats(gw)[2:] == ["json_object"]
        assert learned(gw.base_url)[0]["json_schema_refused"] is True
        new_process_body(gw, home, schema=WORD)  # a new kernel learns it again
        assert response_formats(gw)[3:] == ["json_schema", "json_object"]


def test_a_new_gateway_at_the_same_address_starts_unknown(home: Path) -> None:
    with FakeGateway(no_json_schema=True, delay=0.0) as gw:
        client_for(gw, max_retries=0).chat("Label one", schema=Label)
        port = gw.port
    assert stored(home)
    with FakeGateway(port=port, delay=0.0) as again:
        client_for(again, max_retries=0).chat("Label one", schema=Label)
        assert response_formats(again) == ["json_schema"]
    assert learned(again.base_url) == [] or not learned(again.base_url)[0]["json_schema_refused"]
