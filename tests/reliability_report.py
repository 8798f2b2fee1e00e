"""Render docs/RELIABILITY.md from the figures the last test run recorded (an explicit step).

Usage, from the repository root, after a complete run of the suite (``bash .ci/run`` or
``python -m pytest``)::

    python tests/reliability_report.py           # build/reliability/RELIABILITY.md -> docs/
    python tests/reliability_report.py --check   # exit 1 if docs/RELIABILITY.md is out of date

The test run only writes ``build/reliability/figures.json`` (ignored by git). This script
refuses figures from an incomplete run (a reliability module missing, failed or deselected),
renders the page into ``build/reliability/RELIABILITY.md`` and copies it into ``docs/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _reliability import FIGURES_JSON, FRONT_ENDS, MODULES, ROOT

RENDERED = FIGURES_JSON.parent / "RELIABILITY.md"
REPORT = ROOT / "docs" / "RELIABILITY.md"


class ReportError(Exception):
    """The figures cannot make a report (missing, unreadable or from an incomplete run)."""


def _of(records: list[dict[str, Any]], section: str) -> list[dict[str, Any]]:
    return [r for r in records if r["section"] == section]


def _table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return lines


def _code(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render(data: Mapping[str, Any]) -> str:
    """docs/RELIABILITY.md from the figures of one complete, green run of the reliability tests."""
    records: list[dict[str, Any]] = list(data["records"])
    skips: dict[str, str] = dict(data.get("skips", {}))
    env: dict[str, str] = dict(data.get("environment", {}))
    out: list[str] = [
        "# Reliability and security report",
        "",
        "Rendered by `python tests/reliability_report.py` from the figures a complete, green "
        "test run left in `build/reliability/figures.json` (every reliability module ran and "
        "passed: "
        + ", ".join(f"`tests/{m}`" for m in MODULES)
        + "). Running the tests never writes this page. Each figure below was recorded by a "
        "test after it asserted it, so a regression fails that test instead of changing this "
        "page. Do not edit by hand.",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()) + ".",
        "",
    ]

    matrix = _of(records, "matrix")
    hostile = _of(records, "hostile")
    soak = {r["name"]: r for r in _of(records, "soak")}
    bad = _of(records, "bad_input")
    fuzz = _of(records, "fuzz")
    payloads = _of(records, "payload")
    secrets = _of(records, "secrets")
    front_ends = [f for f in FRONT_ENDS if any(r["front_end"] == f for r in matrix)]
    rows = {r["fault"] for r in matrix}
    leaked = sum(r.get("leaked_fds", 0) for r in soak.values())
    growths = [r["rss_growth"] for r in soak.values() if "rss_growth" in r]
    key_hits = sum(r["hits"] for r in secrets)
    texts = sum(r["texts"] for r in secrets)

    summary = [
        (
            "faults tried / survived",
            f"{len(matrix)} / {len(matrix)} ({len(rows)} faults × {len(front_ends)} front ends)",
        ),
        (
            "front ends covered",
            f"{len(front_ends)} of {len(FRONT_ENDS)}: " + ", ".join(_code(f) for f in front_ends),
        ),
        ("hostile servers tried / survived", f"{len(hostile)} / {len(hostile)}"),
        (
            "fuzzed inputs (hypothesis examples)",
            f"{sum(r['examples'] for r in fuzz):,} in {len(fuzz)} properties",
        ),
        ("bad inputs tried", f"{len(bad)} (each with its exact one-line message)"),
        (
            "payloads tried",
            f"{len({r['payload'] for r in payloads})} payloads, {len(payloads)} checks ("
            + ", ".join(
                f"{f}: {sum(1 for r in payloads if r['front_end'] == f)}"
                for f in dict.fromkeys(r["front_end"] for r in payloads)
            )
            + ")",
        ),
        (
            "requests in the soak",
            "; ".join(f"{r['requests']:,} {r['label']}" for r in soak.values() if "requests" in r),
        ),
        ("leaked file descriptors", f"{leaked}"),
        (
            "memory growth after warm-up (RSS)",
            "; ".join(
                f"{r['rss_growth']:+.2f} % ({r['label']})"
                for r in soak.values()
                if "rss_growth" in r
            )
            + " (limit: < 10 %)"
            if growths
            else "not measured",
        ),
        ("API key occurrences found", f"{key_hits} in {texts:,} texts scanned"),
    ]
    out += ["## Summary", "", *_table(["figure", "value"], summary), ""]

    out += [
        "## Fault × front end matrix (`tests/reliability/test_faults.py`)",
        "",
        "Faults come from `FakeGateway` over real loopback sockets. Retry waits are recorded, "
        "not slept. Outcomes: *recovered by retry* (complete answer equal to the gateway's), "
        "*survived, complete*, *clear one-line error* (exact message asserted), *partial kept, "
        "marked failed/truncated* (the kept text is a prefix of the full answer and says how it "
        "ended: `reply.status`, the magic's footer and `_gemini.status`, the panel's note).",
        "",
    ]
    by_fault: dict[str, dict[str, dict[str, Any]]] = {}
    labels: dict[str, str] = {}
    for r in matrix:
        by_fault.setdefault(r["fault"], {})[r["front_end"]] = r
        labels[r["fault"]] = r["label"]
    table_rows = []
    for fault_id, cells in by_fault.items():
        expected = next(iter(cells.values()))["outcome"]
        marks = [
            ("✔ " + expected) if f in cells else "— (" + skip_reason(skips, f) + ")"
            for f in FRONT_ENDS
        ]
        table_rows.append([labels[fault_id], *marks])
    out += _table(["fault", *FRONT_ENDS], table_rows)
    errors = {r["fault"]: r["message"] for r in matrix if r.get("message")}
    if errors:
        out += ["", "The one-line errors (identical in every front end):", ""]
        out += _table(["fault", "message"], ([labels[f], _code(m)] for f, m in errors.items()))
    out.append("")

    out += ["## Hostile servers (`tests/reliability/test_hostile.py`)", ""]
    out += _table(
        ["server", "front end", "outcome", "bound"],
        ([r["label"], r["front_end"], r["outcome"], r.get("bound", "")] for r in hostile),
    )
    out.append("")

    out += ["## Soak (`tests/reliability/test_soak.py`)", ""]
    out += _table(
        ["run", "requests", "complete and correct", "leaked descriptors", "RSS growth"],
        (
            [
                r["label"],
                f"{r.get('requests', 0):,}",
                f"{r.get('correct', 0):,}",
                r.get("leaked_fds", "—"),
                f"{r['rss_growth']:+.2f} %" if "rss_growth" in r else "—",
            ]
            for r in soak.values()
        ),
    )
    notes = [r["note"] for r in soak.values() if r.get("note")]
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    out.append("")

    out += ["## Fuzzing (`tests/reliability/test_fuzz.py`, hypothesis)", ""]
    out += _table(
        ["target", "examples", "property"],
        ([r["target"], f"{r['examples']:,}", r["property"]] for r in fuzz),
    )
    out.append("")

    out += ["## Bad input (`tests/reliability/test_bad_input.py`)", ""]
    out += _table(
        ["input", "front end", "exception", "message"],
        ([r["input"], r["front_end"], r["exception"], _code(r["message"])] for r in bad),
    )
    out.append("")

    out += ["## Untrusted model output (`tests/reliability/test_payloads.py`)", ""]
    by_payload: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for r in payloads:
        by_payload.setdefault(r["payload"], []).append(r["front_end"])
        kinds[r["payload"]] = r["kind"]
    out += _table(
        ["kind", "payload", "checked in"],
        ([kinds[p], _code(p), ", ".join(sorted(set(f)))] for p, f in by_payload.items()),
    )
    browser = [n for n in skips if "test_payloads.py" in n and "browser" in n]
    for nodeid in browser:
        out += ["", f"Browser check skipped: {skips[nodeid]}"]
    out.append("")

    out += ["## Secrets (`tests/reliability/test_secrets.py`)", ""]
    out += _table(
        ["path", "texts scanned", "key occurrences"],
        ([r["path"], f"{r['texts']:,}", r["hits"]] for r in secrets),
    )
    skipped = [f"- `{n.split('::', 1)[1]}`: {reason}" for n, reason in skips.items()]
    if skipped:
        out += ["", "## Skipped in this run", "", *skipped]
    out.append("")
    return "\n".join(out)


MATRIX_TESTS = {
    "Client": "test_faults.py::test_client[",
    "AsyncClient": "test_faults.py::test_async_client[",
    "%%gemini": "test_faults.py::test_magic[",
    "ChatPanel": "test_faults.py::test_panel[",
}
"""The test of each matrix column (test_faults.py)."""


def skip_reason(skips: Mapping[str, str], front_end: str) -> str:
    for nodeid, reason in skips.items():
        if MATRIX_TESTS[front_end] in nodeid:
            return f"skipped: {reason}" if reason else "skipped"
    return "not run"


def load(figures: Path) -> dict[str, Any]:
    """The figures of a complete, green run, or ReportError saying what to do."""
    try:
        data: dict[str, Any] = json.loads(figures.read_text())
    except FileNotFoundError:
        raise ReportError(
            f"{figures} does not exist: run the test suite first (bash .ci/run)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{figures} cannot be read ({exc}): run the test suite again") from None
    if "records" not in data or "incomplete" not in data:
        raise ReportError(f"{figures} is not a figures file: run the test suite again")
    if data["incomplete"]:
        raise ReportError(
            f"the last test run cannot make the report: {data['incomplete']}; "
            "run the whole suite (bash .ci/run) and try again"
        )
    return data


def build(figures: Path = FIGURES_JSON, rendered: Path = RENDERED) -> str:
    """Render the page from `figures` into `rendered`; returns its text."""
    text = render(load(figures))
    rendered.parent.mkdir(parents=True, exist_ok=True)
    rendered.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=Path, default=FIGURES_JSON, help="the run's figures")
    parser.add_argument("--out", type=Path, default=REPORT, help="where the page goes")
    parser.add_argument(
        "--check", action="store_true", help="only compare: exit 1 if --out differs"
    )
    args = parser.parse_args(argv)
    rendered = args.figures.parent / "RELIABILITY.md"
    try:
        text = build(args.figures, rendered)
    except ReportError as exc:
        print(f"reliability_report: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(
                f"reliability_report: {args.out} is out of date; run without --check",
                file=sys.stderr,
            )
            return 1
        print(f"reliability_report: {args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rendered, args.out)
    print(f"reliability_report: wrote {rendered} and copied it to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
