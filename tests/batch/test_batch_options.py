"""`Client.map` composed with the other options, over real sockets against FakeGateway: the
cache flags, templates without or with unusual placeholders, rows with gaps, schema fields
that share a name with the batch's columns, and how batch rows are logged."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import client_for, prompts_sent
from ipygemini import OptionError
from ipygemini.testing import FakeGateway

pytestmark = pytest.mark.usefixtures("home")  # each test logs into a home of its own


ROWS = ["alpha", "beta", "gamma"]


# --- 3: the cache options mean what they mean for chat -----------------------------------------


def test_refresh_sends_every_row_again(gw: FakeGateway) -> None:
    client = client_for(gw)
    client.map(ROWS, progress=False)
    gw.clear()
    again = client.map(ROWS, progress=False, refresh=True)
    assert sorted(prompts_sent(gw)) == ROWS
    assert [r.cached for r in again if r is not None] == [False] * 3


def test_cache_false_sends_every_row_again(gw: FakeGateway) -> None:
    client = client_for(gw)
    client.map(ROWS, progress=False)
    gw.clear()
    client.map(ROWS, progress=False, cache=False)
    assert sorted(prompts_sent(gw)) == ROWS


def test_a_client_that_does_not_log_does_not_resume(gw: FakeGateway) -> None:
    client_for(gw).map(ROWS, progress=False)  # answers in the log
    gw.clear()
    quiet = client_for(gw, log=False)
    quiet.map(ROWS, progress=False)
    assert sorted(prompts_sent(gw)) == ROWS


def test_refreshed_answers_are_what_the_next_run_resumes_from(gw: FakeGateway) -> None:
    client = client_for(gw)
    client.map(ROWS, progress=False, cache=False)
    gw.clear()
    resumed = client.map(ROWS, progress=False)
    assert gw.requests == [] and all(r is not None and r.cached for r in resumed)


# --- 13: batch rows are logged as "batch" ------------------------------------------------------


def test_batch_rows_are_logged_with_source_batch(gw: FakeGateway) -> None:
    from ipygemini import log

    client_for(gw).map(ROWS, progress=False)
    sources = set(log.entries(n=10)["source"])
    assert sources == {"batch"}


# --- 4: a template with no placeholder gets the row ---------------------------------------------


def test_a_template_without_placeholder_gets_the_row_after_it(gw: FakeGateway) -> None:
    batch = client_for(gw).map(ROWS, "Translate to French", progress=False)
    assert sorted(prompts_sent(gw)) == sorted(f"Translate to French\n\n{r}" for r in ROWS)
    assert batch.statuses == {"complete": 3}


def test_empty_braces_are_the_whole_row(gw: FakeGateway) -> None:
    client_for(gw).map(ROWS, "Label: {}", progress=False)
    assert sorted(prompts_sent(gw)) == sorted(f"Label: {r}" for r in ROWS)
    gw.clear()
    frame = pd.DataFrame({"text": ["good", "bad"], "lang": ["en", "de"]})
    client_for(gw).map(frame, "Classify", progress=False)
    assert sorted(prompts_sent(gw)) == [
        "Classify\n\ntext: bad\nlang: de",
        "Classify\n\ntext: good\nlang: en",
    ]


# --- 5: any column name is a placeholder --------------------------------------------------------


def test_columns_that_are_not_identifiers_are_filled(gw: FakeGateway) -> None:
    frame = pd.DataFrame(
        {"review-text": ["nice", "meh"], "Größe": ["L", "M"], "città": ["Roma", "Pisa"]}
    )
    client_for(gw).map(frame, "{review-text} / {Größe} / {città}", progress=False)
    assert sorted(prompts_sent(gw)) == ["meh / M / Pisa", "nice / L / Roma"]


def test_an_integer_column_is_filled_and_an_unknown_one_refused(gw: FakeGateway) -> None:
    frame = pd.DataFrame([["x", 1], ["y", 2]])  # columns 0 and 1
    client_for(gw).map(frame, "{0} has {1}", progress=False)
    assert sorted(prompts_sent(gw)) == ["x has 1", "y has 2"]
    gw.clear()
    with pytest.raises(OptionError, match=r"\{review-txt\}, which is not a column"):
        client_for(gw).map(pd.DataFrame({"review-text": ["a"]}), "{review-txt}")
    with pytest.raises(OptionError, match=r"\{2\}, which is not a column; the columns are 0, 1"):
        client_for(gw).map(frame, "{2}")
    assert gw.requests == []


def test_braces_around_json_stay_literal(gw: FakeGateway) -> None:
    client_for(gw).map(["hi"], 'Answer like {"label": "x"} for {text}', progress=False)
    assert prompts_sent(gw) == ['Answer like {"label": "x"} for hi']


# --- 6: one rule for a row without a value ------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        [{"text": "a", "lang": "en"}, {"lang": "de"}, {"text": None, "lang": "fr"}],
        pd.DataFrame({"text": ["a", None, float("nan")], "lang": ["en", "de", "fr"]}),
    ],
    ids=["dicts", "dataframe"],
)
def test_rows_without_a_value_are_refused_before_sending(gw: FakeGateway, rows: object) -> None:
    with pytest.raises(OptionError, match=r"2 row\(s\) have no value for \{text\}.*: 1, 2"):
        client_for(gw).map(rows, "Say {text} in {lang}")
    assert gw.requests == []


# --- 7: the model's fields win over the batch's own columns -------------------------------------

CLASHING = {
    "type": "object",
    "properties": {
        "status": {"type": "string"},
        "error": {"type": "string"},
        "input_tokens": {"type": "integer"},
        "output_tokens": {"type": "integer"},
    },
    "required": ["status", "error", "input_tokens", "output_tokens"],
}


def test_schema_fields_named_like_the_batch_columns_win(gw: FakeGateway) -> None:
    batch = client_for(gw).map(["one", "two"], "Rate {text}", schema=CLASHING, progress=False)
    frame = batch.to_frame()
    own = ["batch_status", "batch_error", "batch_input_tokens", "batch_output_tokens"]
    assert list(frame.columns) == [*CLASHING["properties"], *own]
    assert (frame.batch_status == "complete").all()
    assert frame.input_tokens.map(type).eq(int).all()  # the model's numbers, untouched
    assert frame.batch_input_tokens.notna().all()
    record = batch.records()[0]
    assert isinstance(record["status"], str) and record["batch_status"] == "complete"
