"""`--vars` withholds credentials by their shape too, not only by their name (issue 17, item
15): URL userinfo, ``Bearer …``, known token prefixes, random-looking strings, names such as
``creds`` and ``passphrase``, and dicts such as ``headers`` holding one. Unit tests on each shape
(and on ordinary values that must stay visible), then the request body a real kernel sends."""

from __future__ import annotations

from typing import Any

import pytest

from ipygemini.testing import FakeGateway
from ipygemini.tools._context import cells_context, variables_summary
from ipygemini.tools._secrets import credential_shape, may_hold_secret
from kernel_driver import KernelSession, ok

# Made-up credentials of the right shapes (none of them is real).
SECRETS: dict[str, Any] = {
    "DATABASE_URL": "postgres://analyst:S3cr3t-pw@db.internal:5432/sales",
    "MIRROR": "https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/org/repo.git",
    "GITHUB_PAT": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "fine_grained": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "openai": "sk-proj-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe",
    "slack": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "aws_id": "AKIA" + "IOSFODNN7EXAMPLE",
    "google": "AIza" + "SyD-abcdefghijklmnopqrstuvwxyz01234",
    "gitlab": "glpat-" + "xY7_abcdEFGH12345678",
    "huggingface": "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345",
    "jwt_value": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----",
    "random_blob": "q8Zr2LmX7vKp4NwT9bYc3HsJ6",
    "hex_key": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "run_id": "123e4567-e89b-12d3-a456-426614174000",
    "bearer_line": "Authorization: Bearer abc.DEF-123_456~xyz",
    "signed_url": "https://storage.example.com/file.csv?expires=1700000000&signature=abcdef0123",
    "creds": ("analyst", "hunter2"),
    "passphrase": "correct horse battery staple",
    "headers": {"Accept": "text/x-distinct", "Authorization": "Bearer t0k3n-Abc123xyz"},
    "config": {"db": {"url": "mysql://root:pw@localhost/app"}},
    "settings": {"user": "ada", "password": "hunter2"},
    "hosts": ["https://mirror.example.net", "redis://:p4ssw0rd@cache:6379/0"],
}

ORDINARY: dict[str, Any] = {
    "model": "gemini-2.5-flash",
    "url": "https://example.org/data.csv",
    "path": "/home/ada/projects/sales_2024_q3_final.parquet",
    "sentence": "The quick brown fox jumps over the lazy dog 42 times",
    "commit": "3f2a9c1",
    "when": "2026-12-06T04:10:52+00:00",
    "email": "ada@example.org",
    "column_names": ["customer_id", "order_total_eur", "shipped_at"],
    "options": {"temperature": 0.2, "max_tokens": 512, "accept": "application/json"},
    "identifier": "very_long_python_identifier_name_v2",
    "class_name": "MyVeryLongClassName2024Version",
}


@pytest.mark.parametrize("name", list(SECRETS))
def test_each_credential_shape_is_withheld(name: str) -> None:
    value = SECRETS[name]
    text, count = variables_summary({name: value})
    assert count == 1 and text.startswith(f"{name}: {type(value).__name__} (value withheld")
    for part in _strings(value):
        assert part not in text


@pytest.mark.parametrize("name", list(ORDINARY))
def test_ordinary_values_stay_visible(name: str) -> None:
    text, _ = variables_summary({name: ORDINARY[name]})
    assert "withheld" not in text, text
    assert credential_shape(str(ORDINARY[name])) is None


def test_the_shape_is_found_inside_longer_text() -> None:
    assert credential_shape("connect with postgres://u:pw@h/db please") == "postgres://u:pw@"
    assert credential_shape("curl -H 'Authorization: Bearer abcdef123456'") is not None
    assert may_hold_secret({"a": [{"b": "sk-" + "x" * 20}]})
    assert not may_hold_secret({"a": [{"b": "skipped"}]})
    assert may_hold_secret(["plain", "with the key inside"], secret="the key")


def test_an_object_whose_repr_shows_a_credential_is_withheld() -> None:
    class Connection:
        def __repr__(self) -> str:
            return "Connection('postgres://etl:Pa55word@warehouse/prod')"

    text, _ = variables_summary({"conn": Connection()})
    assert "Pa55word" not in text and "value withheld" in text


def test_cells_sent_as_context_have_credentials_redacted() -> None:
    from ipygemini.tools._context import CellRecord

    token = SECRETS["GITHUB_PAT"]
    cells = [CellRecord(1, f"GITHUB_PAT = '{token}'\nrepo = 'org/repo'", None, None)]
    text, _ = cells_context(cells, None)
    assert token not in text and "[withheld]" in text and "repo = 'org/repo'" in text


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) > 3 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def test_vars_in_a_real_kernel_sends_no_credential(
    kernel: KernelSession, magic_gateway: FakeGateway
) -> None:
    assignments = "\n".join(
        f"{name} = {value!r}" for name, value in {**SECRETS, **ORDINARY}.items()
    )
    ok(kernel.run(assignments))
    magic_gateway.clear()
    ok(kernel.run("%%gemini --vars\nWhat can you see?"))
    (request,) = [r for r in magic_gateway.requests if r.path.endswith("/chat/completions")]
    sent = str(request.body)
    for name, value in SECRETS.items():
        assert f"{name}: " in sent and all(part not in sent for part in _strings(value)), name
    for part in ("/home/ada/projects", "gemini-2.5-flash", "customer_id"):
        assert part in sent
