"""Rows for batches and templates filled from them."""

from __future__ import annotations

import pytest

from ipygemini import OptionError
from ipygemini.batch._rows import check_template, fill, prompts_for, rows_of, template_fields


def test_dataframes_keep_their_index_and_columns() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"name": ["Ada", None], "age": [36, float("nan")]}, index=["a", "b"])
    rows = rows_of(df)
    assert rows.index == ["a", "b"] and rows.columns == ["name", "age"]
    assert fill("{name} is {age} ({index})", rows.records[0], rows.index[0]) == "Ada is 36.0 (a)"
    with pytest.raises(OptionError, match=r"1 row\(s\) have no value for \{name\}.*: 'b'"):
        prompts_for("{name}|{age}", rows)  # None and NaN are no value, as a missing key is


def test_lists_of_strings_and_dicts() -> None:
    assert rows_of(["x", "y"]).records == [{"text": "x"}, {"text": "y"}]
    rows = rows_of([{"a": 1}, {"b": 2}])
    assert rows.columns == ["a", "b"] and rows.index == [0, 1]


@pytest.mark.parametrize("bad", ["text", 42, [1, 2], [{"a": 1}, "b"]])
def test_what_cannot_be_rows_says_so(bad: object) -> None:
    with pytest.raises(OptionError, match="--each"):
        rows_of(bad)


def test_templates_keep_literal_braces_and_name_missing_columns() -> None:
    template = 'Classify {text} as JSON like {{"label": ...}} (row {index})'
    assert template_fields(template) == ["text", "index"]
    rows = rows_of(["spam!"])
    check_template(template, rows)
    assert (
        fill(template, rows.records[0], 0) == 'Classify spam! as JSON like {"label": ...} (row 0)'
    )
    with pytest.raises(
        OptionError, match=r"\{colour\}, which is not a column; the columns are text"
    ):
        check_template("{colour}", rows)


def test_whole_row_and_names_of_any_script() -> None:
    rows = rows_of([{"a": 1, "b": None}, {"a": 2, "b": "x"}])
    assert prompts_for("Sum up", rows) == ["Sum up\n\na: 1", "Sum up\n\na: 2\nb: x"]
    assert prompts_for("{}", rows_of(["only"])) == ["only"]
    assert template_fields("{Größe} {review-text} {0} {x: 1} {} {{lit}}") == [
        "Größe",
        "review-text",
        "0",
        "",
    ]
