"""Rows for a batch: DataFrames, lists of dicts or strings as records, and the prompt template
filled from each of them.

A placeholder is ``{column}`` (the column's exact name: ``{review-text}``, ``{Größe}`` and an
integer column's ``{0}`` included), ``{index}`` (the row's label) or ``{}`` (the whole row). A
template with none of them gets the whole row after a blank line, so N rows never become one
prompt. ``{{`` and ``}}`` are literal braces; braces around text that cannot be a name (JSON
such as ``{"a": 1}``) stay as they are; a name that is not a column is refused before sending.

A row with no value for a placeholder (a missing key, None, NaN) is refused the same way for
DataFrames and lists of dicts: nothing is sent, and the error names the rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import OptionError

__all__ = [
    "Rows",
    "check_template",
    "fill",
    "missing",
    "prompts_for",
    "rows_of",
    "template_fields",
    "whole_row",
]

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}")
_NAME = re.compile(r"\w[\w .\-]*", re.UNICODE)
"""What reads as a column name: letters of any script, digits, ``_``, ``-``, ``.`` and spaces."""
WHOLE_ROW = ""
"""The placeholder ``{}``: the whole row."""
_SHOWN = 5


class Rows:
    """Records with the index they came with (a DataFrame's index, else 0..n-1)."""

    def __init__(
        self, records: Sequence[Mapping[str, Any]], index: list[Any], columns: list[str]
    ) -> None:
        self.records = records
        self.index = index
        self.columns = columns

    def __len__(self) -> int:
        return len(self.records)


def rows_of(data: Any) -> Rows:
    """`data` as rows: a pandas DataFrame (or Series), a list of dicts, or a list of strings
    (each string is the row's ``text`` column). Column names become strings."""
    module = type(data).__module__.split(".", 1)[0]
    if module == "pandas" and hasattr(data, "to_dict"):
        if hasattr(data, "columns"):
            columns = [str(c) for c in data.columns]
            records = [
                dict(zip(columns, values, strict=True))
                for values in data.itertuples(index=False, name=None)
            ]
            return Rows(records, list(data.index), columns)
        name = str(data.name) if data.name is not None else "text"
        return Rows([{name: v} for v in data.tolist()], list(data.index), [name])
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        shown = type(data).__name__
        raise OptionError(
            f"--each needs a DataFrame, a list of dicts or a list of strings, not a {shown}."
        )
    if all(isinstance(item, str) for item in data):
        return Rows([{"text": item} for item in data], list(range(len(data))), ["text"])
    if all(isinstance(item, Mapping) for item in data):
        names: list[str] = []
        records = []
        for item in data:
            record = {str(k): v for k, v in item.items()}
            names.extend(k for k in record if k not in names)
            records.append(record)
        return Rows(records, list(range(len(data))), names)
    raise OptionError("--each takes a list whose items are all dicts or all strings.")


def _placeholder(name: str, columns: Sequence[str]) -> bool:
    """True when ``{name}`` is filled from the row (or is an unknown name, refused); False
    for braces around text that cannot be a name, kept as written."""
    return name == WHOLE_ROW or name in columns or _NAME.fullmatch(name) is not None


def template_fields(template: str, columns: Sequence[str] = ()) -> list[str]:
    """The placeholder names in `template`, in order of first use (``""`` for ``{}``)."""
    names: list[str] = []
    for match in _TOKEN.finditer(template):
        name = match.group(1)
        if name is not None and _placeholder(name, columns) and name not in names:
            names.append(name)
    return names


def check_template(template: str, rows: Rows) -> None:
    """One line naming a placeholder the rows do not have, and the ones they do."""
    for name in template_fields(template, rows.columns):
        if name not in (WHOLE_ROW, "index") and name not in rows.columns:
            available = ", ".join(rows.columns) or "(none)"
            raise OptionError(
                f"the template names {{{name}}}, which is not a column; the columns are {available} "
                "(and {index}, or {} for the whole row); write {{ and }} for literal braces."
            )


def missing(value: Any) -> bool:
    """None, NaN, and pandas' NA and NaT: no value to put in a prompt."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def whole_row(record: Mapping[str, Any], columns: Sequence[str]) -> str | None:
    """The row as prompt text: one column's value, else ``name: value`` lines (missing values
    left out); None when it has no value at all."""
    if len(columns) == 1:
        value = record.get(columns[0])
        return None if missing(value) else str(value)
    lines = [f"{name}: {record[name]}" for name in columns if not missing(record.get(name))]
    return "\n".join(lines) or None


def fill(
    template: str, record: Mapping[str, Any], index: Any, columns: Sequence[str] | None = None
) -> str:
    """`template` filled from one row: ``{column}``, ``{index}``, ``{}`` (the whole row); a
    template with no placeholder gets the whole row after a blank line. Raises `KeyError`
    naming the placeholder that has no value in this row (`prompts_for` reports it)."""
    names = list(record) if columns is None else list(columns)
    used = False

    def value(match: re.Match[str]) -> str:
        nonlocal used
        token, name = match.group(0), match.group(1)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        if not _placeholder(name, names):
            return token
        used = True
        if name == WHOLE_ROW:
            row = whole_row(record, names)
            if row is None:
                raise KeyError(name)
            return row
        if name == "index" and "index" not in names:
            return str(index)
        item = record.get(name)
        if missing(item):
            raise KeyError(name)
        return str(item)

    text = _TOKEN.sub(value, template)
    if used:
        return text
    row = whole_row(record, names)
    if row is None:
        raise KeyError(WHOLE_ROW)
    return f"{text}\n\n{row}" if text.strip() else row


def prompts_for(template: str, rows: Rows) -> list[str]:
    """Every row's prompt; `OptionError` naming the rows that lack a value the template needs
    (checked for all rows before anything is sent)."""
    prompts: list[str] = []
    gaps: dict[str, list[Any]] = {}
    for record, label in zip(rows.records, rows.index, strict=True):
        try:
            prompts.append(fill(template, record, label, rows.columns))
        except KeyError as exc:
            gaps.setdefault(str(exc.args[0]), []).append(label)
    if gaps:
        name, labels = next(iter(gaps.items()))
        shown = ", ".join(repr(label) for label in labels[:_SHOWN])
        more = f" and {len(labels) - _SHOWN:,} more" if len(labels) > _SHOWN else ""
        what = "value at all" if name == WHOLE_ROW else f"value for {{{name}}}"
        raise OptionError(
            f"{len(labels):,} row(s) have no {what} (missing, None or NaN): {shown}{more}; "
            "fill them in or leave those rows out (e.g. df.dropna()) so no prompt is sent "
            "with a hole in it."
        )
    return prompts
