"""Rows for a batch: DataFrames, lists of dicts or strings as records, and templates filled
from them (``{column}`` and ``{index}``; ``{{`` and ``}}`` for literal braces)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import OptionError

__all__ = ["Rows", "fill", "rows_of", "template_fields"]

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_ ]*)\}")


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
    (each string is the row's ``text`` column)."""
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
        for item in data:
            names.extend(str(k) for k in item if str(k) not in names)
        return Rows([dict(item) for item in data], list(range(len(data))), names)
    raise OptionError("--each takes a list whose items are all dicts or all strings.")


def template_fields(template: str) -> list[str]:
    """The placeholder names in `template`, in order of first use."""
    names: list[str] = []
    for match in _FIELD.finditer(template):
        name = match.group(1)
        if name and name not in names:
            names.append(name)
    return names


def check_template(template: str, rows: Rows) -> None:
    """One line naming a placeholder the rows do not have, and the ones they do."""
    for name in template_fields(template):
        if name != "index" and name not in rows.columns:
            available = ", ".join(rows.columns) or "(none)"
            raise OptionError(
                f"the template names {{{name}}}, which is not a column; the columns are {available} "
                "(and {index}); write {{ and }} for literal braces."
            )


def fill(template: str, record: Mapping[str, Any], index: Any) -> str:
    """`template` with each ``{column}`` replaced by the row's value and ``{index}`` by its index."""

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name == "index" and "index" not in record:
            return str(index)
        item = record[name]
        if item is None or (isinstance(item, float) and item != item):  # None and NaN: empty
            return ""
        return str(item)

    return _FIELD.sub(value, template)
