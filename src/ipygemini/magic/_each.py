"""``%%gemini --schema S`` (the answer as data, shown as a table) and ``%%gemini --each DF``
(the cell as a template asked once per row; the answers become a DataFrame).

In ``--each`` mode a ``{name}`` that is a column of DF (or ``{index}``) is filled from each row;
any other ``{name}`` comes from the notebook, once, before the rows: row columns win.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .._errors import OptionError
from ._options import usage_error
from ._request import AnswerInterrupted, notebook_variable

if TYPE_CHECKING:
    from ._request import CellRequest
    from ._session import Session

__all__ = ["data_bundle", "each_cell"]

_SHOWN_ROWS = 50


def each_cell(session: Session, ns: dict[str, Any], request: CellRequest) -> None:
    """The ``--each`` flow: the request's template asked once per row, with every option of the
    cell (system prompt, attachments, tools, notebook context, cache tags) on every row."""
    args = request.args
    data = notebook_variable(ns, args.each, "--each")
    schema = notebook_variable(ns, args.schema, "--schema") if args.schema is not None else None
    options = dict(request.options, source="batch")  # rows are logged as a batch's (docs/LOG.md)
    if request.system:
        options["system"] = request.system
    if request.attachments:
        options["attachments"] = [obj for _, obj in request.attachments]
    name = args.output or "_gemini"
    sent_with = f" ({request.context} sent with every row)" if request.context else ""
    if type(data).__module__.split(".", 1)[0] == "dask":
        from ..batch import map_dask
        from ..client import AsyncClient
        from ..client._structured import schema_for

        try:
            shape = None if schema is None else schema_for(schema, json=False, response_format=None)
            result = map_dask(
                AsyncClient,
                session.settings(),
                data,
                request.prompt,
                shape=shape,
                max_rpm=args.max_rpm,
                concurrency=args.concurrency or 16,
                **options,
            )
        except OptionError as exc:
            raise usage_error(exc) from None
        ns[name] = result
        print(
            f"{name} is a lazy Dask DataFrame of {data.npartitions} partitions: "
            f"{name}.compute(){sent_with}"
        )
        return
    from ..batch import BatchInterrupted

    started = time.perf_counter()
    try:  # the same path as Client.map
        batch = session.client().map(
            data,
            request.prompt,
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
    ns[name] = batch.to_frame()
    counts = ", ".join(f"{n:,} {status}" for status, n in sorted(batch.statuses.items()))
    cached = sum(1 for reply in batch if reply is not None and getattr(reply, "cached", False))
    if cached:
        counts += f"; {cached:,} from the log, not sent again"
    seconds = time.perf_counter() - started
    print(
        f"{len(batch):,} rows ({counts or 'no rows, nothing sent'}) in {seconds:.1f} s "
        f"→ {name}{sent_with}"
    )


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
