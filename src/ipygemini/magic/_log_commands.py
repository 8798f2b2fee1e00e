"""``%gemini log [-n N] [SEARCH]``, ``%gemini log ID`` and ``%gemini usage``: the exchange log
and what it cost, shown as safe HTML (every logged text escaped or rendered by `render`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from ..log._store import Entry
    from ..log._usage import UsageRow

__all__ = ["Shown", "log_command", "usage_command"]

PREVIEW = 80
"""Characters of a prompt or answer shown in the table."""


class Shown:
    """A command's result: one bundle of text/plain and safe text/html (what nbval compares)."""

    def __init__(self, text: str, html: str) -> None:
        self.text, self.html = text, html

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": self.html}

    def __repr__(self) -> str:
        return self.text


def _preview(text: str, width: int = PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _when(started: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))


def _tokens(entry: Entry) -> str:
    if entry.input_tokens is None and entry.output_tokens is None:
        return ""
    return f"{(entry.input_tokens or 0) + (entry.output_tokens or 0):,}"


def _tokens_in_out(entry: Entry) -> str:
    """``12 / 5``; "not reported" for a count the gateway did not give (never "None")."""
    if entry.input_tokens is None and entry.output_tokens is None:
        return "not reported"

    def count(n: int | None) -> str:
        return "not reported" if n is None else f"{n:,}"

    return f"{count(entry.input_tokens)} / {count(entry.output_tokens)}"


def _table(headers: list[str], rows: list[list[str]]) -> tuple[str, str]:
    from ..render import escape

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    html = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines), html


def display(bundle: Mapping[str, str]) -> None:
    """Show one MIME bundle as display_data (in order, under the cell)."""
    from IPython.display import display as show

    show(dict(bundle), raw=True)  # type: ignore[no-untyped-call]


def _status(entry: Entry) -> str:
    return "cached" if entry.from_cache else entry.status


def log_command(rest: list[str] | str) -> Shown | None:
    """``%gemini log [-n N] [SEARCH]`` (a table) or ``%gemini log ID`` (one exchange).

    `rest` is what follows ``log``: best the line's text as typed (a str), split here at
    whitespace only, so ``%gemini log don't`` searches for "don't" (quotes, ``*``, ``-`` are
    parts of words, never syntax); a list of already split arguments is taken too.
    """
    from ..log._recording import exchange_log

    n, words = 20, []
    items = iter(rest.split() if isinstance(rest, str) else rest)
    for item in items:
        if item == "-n":
            value = next(items, None)
            if value is None or not value.isdigit() or int(value) < 1:
                raise UsageError("%gemini log -n: give a number of exchanges, e.g. -n 50")
            n = int(value)
        else:
            words.append(item)
    words = [w for w in words if w.strip()]  # a quoted blank is no word
    log = exchange_log()
    if len(words) == 1 and words[0].isdigit():
        show_entry(int(words[0]))
        return None
    search = " ".join(words) or None  # the log splits it into words again, at whitespace
    found = log.entries(n, search)
    if not found:
        where = f" matching {search!r}" if search else ""
        return Shown(f"No exchanges{where} in {log.path}.", "")
    rows = [
        [
            str(e.id),
            _when(e.started),
            e.source,
            e.model,
            _status(e),
            _tokens(e),
            _preview(e.prompt, 60),
            _preview(e.answer),
        ]
        for e in found
    ]
    text, html = _table(
        ["id", "time", "source", "model", "status", "tokens", "prompt", "answer"], rows
    )
    return Shown(text, html)


def show_entry(entry_id: int) -> None:
    """``%gemini log ID``: the exchange's details, its prompt, thinking, answer and images."""
    from ..log._recording import exchange_log
    from ..render import escape, image_bundle
    from ..render._bundles import markdown_bundle, thinking_bundle

    entry = exchange_log().get(entry_id)
    if entry is None:
        raise UsageError(f"%gemini log {entry_id}: no such exchange; %gemini log lists them")
    facts = [
        ("time", _when(entry.started)),
        ("source", entry.source),
        ("model", entry.model),
        ("gateway", entry.host),
        ("conversation", entry.conversation or ""),
        ("status", _status(entry) + (f": {entry.error}" if entry.error else "")),
        ("tokens in/out", _tokens_in_out(entry)),
        ("seconds", f"{entry.duration:.2f}"),
    ]
    if entry.attachments:
        names = [str(a.get("name") or a.get("mime") or a.get("kind")) for a in entry.attachments]
        facts.append(("attachments", ", ".join(names)))
    text = "\n".join(f"{k}: {v}" for k, v in facts if v)
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts if v)
    title = f"Exchange {entry.id}"
    display(
        {
            "text/plain": f"{title}\n{text}",
            "text/html": f"<strong>{title}</strong><table>{rows}</table>",
        }
    )
    for message in entry.messages:
        role = str(message.get("role"))
        content = str(message.get("content") or "")
        display(
            {
                "text/plain": f"[{role}] {content}",
                "text/html": f"<p><strong>{escape(role)}</strong></p><pre>{escape(content)}</pre>",
            }
        )
    if entry.reasoning:
        display(thinking_bundle(entry.reasoning, live=False))
    if entry.answer:
        display(markdown_bundle(entry.answer))
    from .._types import GeneratedImage

    for mime, data in entry.images:
        display(image_bundle(GeneratedImage(data, mime)))


def _usage_table(title: str, rows: list[UsageRow]) -> tuple[str, str]:
    from ..log._prices import dollars
    from ..render import escape

    if not rows:
        return f"{title}: no answers", f"<p><strong>{escape(title)}</strong>: no answers</p>"
    cells = [
        [
            f"{r.model} (offline)" if r.offline else r.model,
            f"{r.answers:,}",
            f"{r.input:,}",
            f"{r.output:,}",
            f"{r.reasoning:,}",
            f"{r.cached:,}",
            "free" if r.offline else "" if r.cost is None else dollars(r.cost),
        ]
        for r in rows
    ]
    known = [r.cost for r in rows if r.cost is not None and not r.offline]
    if len(rows) > 1 and known:
        cells.append(["total", "", "", "", "", "", dollars(sum(known))])
    text, html = _table(
        ["model", "answers", "input", "output", "reasoning", "cached", "cost"], cells
    )
    return f"{title}\n{text}", f"<p><strong>{escape(title)}</strong></p>{html}"


def usage_command(rest: list[str], prices: Mapping[str, Any] | None) -> Shown:
    """``%gemini usage``: tokens and estimated cost by model, this session, today, all time."""
    from ..log._prices import PRICES_DATE
    from ..log._recording import exchange_log
    from ..log._usage import SESSION, midnight, usage_rows

    if rest:
        raise UsageError("%gemini usage takes no arguments")
    log = exchange_log()
    parts = [
        _usage_table("This session", usage_rows(SESSION.rows(), prices)),
        _usage_table("Today (log)", usage_rows(log.usage(midnight()), prices)),
        _usage_table("All time (log)", usage_rows(log.usage(), prices)),
    ]
    note = (
        f"Estimated cost from Google's list prices as of {PRICES_DATE}"
        + (f", overridden for {', '.join(sorted(prices))}" if prices else "")
        + " (%config Gemini.prices = {...}); a model without a known price shows no cost."
        " Answers counts answered requests only (not failed ones, nor ones stopped before"
        " anything arrived); answers replayed from the cache cost nothing and are not counted;"
        " the offline gateway's answers are free."
    )
    from ..render import escape

    text = "\n\n".join(p[0] for p in parts) + "\n\n" + note
    html = "".join(p[1] for p in parts) + f"<p><em>{escape(note)}</em></p>"
    return Shown(text, html)
