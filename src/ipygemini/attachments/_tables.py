"""Tables (pandas, polars) as text parts: shape, column types, rows as CSV or Markdown."""

from __future__ import annotations

from typing import Any

from ._common import Options, module_of


def table_part(obj: Any, name: str | None, opts: Options) -> dict[str, Any]:
    """Shape, column types and rows (CSV or Markdown); a head-and-tail sample above max_rows."""
    if module_of(obj) == "polars":
        return polars_table(obj, name, opts)
    if type(obj).__name__ == "Series":
        obj = obj.to_frame()
    rows, cols = obj.shape
    label = f"DataFrame {name}" if name else "DataFrame"
    dtypes = ", ".join(f"{c} ({t})" for c, t in obj.dtypes.items())
    lines = [f"{label}: {rows} rows × {cols} columns", f"columns: {dtypes}"]
    index_named = any(n is not None for n in obj.index.names)

    def render(frame: Any, header: bool) -> str:
        if opts.table_format == "markdown":
            return markdown_table(frame, index_named, header)
        return str(frame.to_csv(index=index_named, header=header, lineterminator="\n")).rstrip("\n")

    if rows > opts.max_rows:
        half = max(opts.max_rows // 2, 1)
        lines.append(
            f"showing the first {half} and last {half} rows; {rows - 2 * half} rows in between are left out"
        )
        lines.append(render(obj.head(half), True))
        lines.append("...")
        lines.append(render(obj.tail(half), opts.table_format == "markdown"))
    else:
        lines.append(render(obj, True))
    return {"type": "text", "text": "\n".join(lines)}


def markdown_table(frame: Any, with_index: bool, header: bool) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    columns = ([str(n or "") for n in frame.index.names] if with_index else []) + [
        str(c) for c in frame.columns
    ]
    lines = []
    if header:
        lines.append("| " + " | ".join(cell(c) for c in columns) + " |")
        lines.append("|" + " --- |" * len(columns))
    for row in frame.itertuples(index=with_index, name=None):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def polars_table(obj: Any, name: str | None, opts: Options) -> dict[str, Any]:
    rows, cols = obj.shape
    label = f"DataFrame {name}" if name else "DataFrame"
    dtypes = ", ".join(f"{c} ({t})" for c, t in obj.schema.items())
    lines = [f"{label}: {rows} rows × {cols} columns", f"columns: {dtypes}"]
    if rows > opts.max_rows:
        half = max(opts.max_rows // 2, 1)
        lines.append(
            f"showing the first {half} and last {half} rows; {rows - 2 * half} rows in between are left out"
        )
        lines.append(obj.head(half).write_csv().rstrip("\n"))
        lines.append("...")
        lines.append(obj.tail(half).write_csv(include_header=False).rstrip("\n"))
    else:
        lines.append(obj.write_csv().rstrip("\n"))
    return {"type": "text", "text": "\n".join(lines)}
