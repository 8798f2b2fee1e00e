"""``%%gemini --schema S`` (the answer as data, shown as a table) and ``%%gemini --each DF``
(the cell as a template asked once per row; the answers become a DataFrame).

In ``--each`` mode a ``{name}`` that is a column of DF (or ``{index}``) is filled from each row;
any other ``{name}`` comes from the notebook, once, before the rows: row columns win.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import OptionError
from ._cell import AnswerInterrupted
from ._options import _PLACEHOLDER, PromptError, _resolve, usage_error

if TYPE_CHECKING:
    from ._cell import CellMagic

__all__ = ["data_bundle", "data_cell", "each_template"]

_SHOWN_ROWS = 50


def data_cell(
    magic: CellMagic, args: argparse.Namespace, cell: str, options: dict[str, Any]
) -> Any:
    """The ``--schema`` / ``--each`` flow (instead of the streamed answer)."""
    ns: dict[str, Any] = magic.ip.user_ns
    if args.json:
        raise UsageError("%%gemini --schema/--each: leave out --json (the schema sets the format)")
    schema = _variable(ns, args.schema, "--schema") if args.schema is not None else None
    system = args.system or magic.session.config.system
    if system:
        options["system"] = system
    if args.each is None:
        return _one(magic, cell, schema, options, args.output)
    data = _variable(ns, args.each, "--each")
    if type(data).__module__.split(".", 1)[0] == "dask":
        return _dask(magic, data, cell, schema, options, args)
    from ..batch import BatchInterrupted

    template = each_template(cell, _columns_of(data), ns)
    name = args.output or "_gemini"
    started = time.perf_counter()
    try:  # the same path as Client.map
        batch = magic.session.client().map(
            data,
            template,
            schema=schema,
            progress=True,
            concurrency=args.concurrency or 16,
            max_rpm=args.max_rpm,
            **options,
        )
    except BatchInterrupted as exc:
        ns[name] = exc.batch.to_frame()
        raise AnswerInterrupted(f"{exc}; the partial table is in {name}.") from None
    except OptionError as exc:
        raise usage_error(exc) from None
    frame = batch.to_frame()
    ns[name] = frame
    counts = ", ".join(f"{n:,} {status}" for status, n in sorted(batch.statuses.items()))
    cached = sum(1 for reply in batch if reply is not None and getattr(reply, "cached", False))
    if cached:
        counts += f"; {cached:,} from the log, not sent again"
    seconds = time.perf_counter() - started
    print(f"{len(batch):,} rows ({counts or 'no rows, nothing sent'}) in {seconds:.1f} s → {name}")
    return None


def _one(
    magic: CellMagic, cell: str, schema: Any, options: dict[str, Any], output: str | None
) -> Any:
    from ..client._schema import AnswerValidationError
    from ._options import interpolate

    prompt = interpolate(cell, magic.ip.user_ns).strip()
    if not prompt:
        raise UsageError("%%gemini: the cell is empty; write the prompt below %%gemini")
    client = magic.session.client()
    try:
        reply = client.chat(prompt, schema=schema, **options)
    except AnswerValidationError as exc:
        if exc.reply is not None:
            magic._keep(exc.reply, output)
        raise
    except OptionError as exc:
        raise usage_error(exc) from None
    magic._keep(reply, output)
    magic.ip.display_pub.publish(data=data_bundle(reply.parsed), metadata={})
    return None


def _dask(
    magic: CellMagic, data: Any, cell: str, schema: Any, options: dict[str, Any], args: Any
) -> None:
    from ..batch import map_dask
    from ..client import AsyncClient
    from ..client._structured import schema_for

    template = each_template(cell, [str(c) for c in data.columns], magic.ip.user_ns)
    try:
        shape = None if schema is None else schema_for(schema, json=False, response_format=None)
        result = map_dask(
            AsyncClient,
            magic.session.settings(),
            data,
            template,
            shape=shape,
            max_rpm=args.max_rpm,
            concurrency=args.concurrency or 16,
            **options,
        )
    except OptionError as exc:
        raise usage_error(exc) from None
    name = args.output or "_gemini"
    magic.ip.user_ns[name] = result
    print(f"{name} is a lazy Dask DataFrame of {data.npartitions} partitions: {name}.compute()")


def _variable(ns: dict[str, Any], name: str, option: str) -> Any:
    if name not in ns:
        raise PromptError(f"{option}: no variable {name!r} in the notebook.")
    return ns[name]


def _columns_of(data: Any) -> list[str]:
    columns = getattr(data, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
        return sorted({str(k) for d in data for k in d})
    name = getattr(data, "name", None)
    return [str(name) if name is not None else "text"]


def each_template(cell: str, columns: list[str], ns: dict[str, Any]) -> str:
    """`cell` with notebook ``{name}``s filled (braces in their values doubled) and row
    placeholders (columns, ``{index}``) and literal ``{{``/``}}`` left for each row."""
    row_names = {*columns, "index"}

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}") or match.group(1) in row_names:
            return token
        if re.split(r"[.\[]", match.group(1), maxsplit=1)[0] not in ns:
            return token  # neither a column nor a variable: the row check names the columns
        value = str(_resolve(match.group(1), ns))
        return value.replace("{", "{{").replace("}", "}}")

    return _PLACEHOLDER.sub(fill, cell).strip()


def data_bundle(parsed: Any) -> dict[str, str]:
    """A parsed answer as a safe HTML table: records as rows, one object as field/value rows."""
    from ..render import escape, sanitize_html

    records = parsed if isinstance(parsed, list) else None
    if records is not None and records and all(_as_dict(r) is not None for r in records):
        rows = [_as_dict(r) or {} for r in records[:_SHOWN_ROWS]]
        names: list[str] = []
        for row in rows:
            names.extend(k for k in row if k not in names)
        head = "".join(f"<th>{escape(n)}</th>" for n in names)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(_cell(row.get(n)))}</td>" for n in names) + "</tr>"
            for row in rows
        )
        more = len(records) - len(rows)
        tail = f"<p><em>… {more:,} more</em></p>" if more > 0 else ""
        html = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{tail}"
    elif (one := _as_dict(parsed)) is not None:
        body = "".join(
            f"<tr><th>{escape(k)}</th><td>{escape(_cell(v))}</td></tr>" for k, v in one.items()
        )
        html = f"<table><tbody>{body}</tbody></table>"
    else:
        html = f"<pre>{escape(_cell(parsed))}</pre>"
    return {"text/html": sanitize_html(html), "text/plain": repr(parsed)}


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        result = dump()
        return result if isinstance(result, dict) else None
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    return None


def _cell(value: Any) -> str:
    return "" if value is None else str(value)
