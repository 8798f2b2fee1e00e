"""Notebook context: cells kept by the post_run_cell hook, variables summarised, secrets kept out."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult

from ipygemini.tools._context import CellLog, cells_context, plain_traceback, variables_summary

KEY = "sk-ipygemini-CONTEXT-KEY-93b1f0aa"


def ran(
    log: CellLog,
    source: str,
    count: int,
    *,
    result: object = None,
    error: BaseException | None = None,
) -> None:
    outcome = ExecutionResult(ExecutionInfo(source, False, False, True, None))
    outcome.execution_count = count
    outcome.result = result
    outcome.error_in_exec = error
    log.post_run_cell(outcome)


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_cells_are_kept_in_order_with_outputs_and_the_last_error() -> None:
    log = CellLog()
    ran(log, "x = 1", 1)
    ran(log, "x + 1", 2, result=2)
    ran(log, "   ", 3)  # empty cells are not context
    ran(log, "1 / 0", 4, error=raised(ZeroDivisionError("division by zero")))
    assert [c.execution_count for c in log.cells] == [1, 2, 4]
    assert log.cells[1].output == "2"
    error = log.last_error
    assert error is not None and error.type == "ZeroDivisionError" and error.source == "1 / 0"
    assert "Traceback (most recent call last)" in error.traceback and "\x1b[" not in error.traceback
    text, n = cells_context(log.cells, 2)
    assert (
        n == 2
        and text.startswith("# Cell 2\nx + 1\n# Out: 2")
        and "# Error: ZeroDivisionError" in text
    )


def test_the_budget_drops_the_oldest_cells_and_says_so() -> None:
    log = CellLog()
    for i in range(1, 11):
        ran(log, f"step_{i} = '{'x' * 300}'", i)
    text, n = cells_context(log.cells, None, budget=1000)
    assert n == 3 and len(text) <= 1100
    assert text.startswith("[7 earlier cell(s) left out to stay within 1,000 characters]")
    assert "step_10" in text and "step_7 " not in text


def test_the_key_is_masked_in_cells() -> None:
    log = CellLog()
    ran(log, f"client = Client(api_key='{KEY}')", 1)
    text, _ = cells_context(log.cells, 1, secret=KEY)
    assert KEY not in text and "…f0aa" in text


def test_variables_summary_describes_without_leaking() -> None:
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    namespace = {
        "df": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        "arr": np.zeros((3, 4)),
        "names": ["ada", "alan"],
        "n": 42,
        "api_key": "hunter2",
        "my_token": "abc",
        "harmless": f"prefix {KEY} suffix",
        "_private": 1,
        "In": [],
        "np": np,
    }

    def helper(a: int, b: str = "x") -> None: ...

    namespace["helper"] = helper
    text, count = variables_summary(namespace, secret=KEY)
    assert "df: DataFrame 2×2: a (int64), b (" in text
    assert "arr: ndarray shape (3, 4) float64" in text
    assert "names: list of 2: ['ada', 'alan']" in text and "n: int = 42" in text
    assert "helper: function helper(a: " in text
    assert "hunter2" not in text and "abc" not in text and KEY not in text
    assert "api_key: str (value withheld" in text and "harmless: str (value withheld" in text
    assert "_private" not in text and "In:" not in text and "np:" not in text
    assert count == 8


def test_a_cell_file_in_the_traceback_is_shown_as_cell() -> None:
    namespace: dict[str, object] = {}
    code = compile("def f():\n    return 1 / 0\n", "/tmp/ipykernel_4242/1234567.py", "exec")
    exec(code, namespace)
    try:
        namespace["f"]()  # type: ignore[operator]
    except ZeroDivisionError as exc:
        text = plain_traceback(exc)
    assert 'File "<cell>", line 2' in text and "ipykernel_4242" not in text


def test_frames_above_the_first_cell_are_left_out() -> None:
    namespace: dict[str, object] = {}
    exec(
        compile("def g():\n    raise KeyError('x')\n", "/tmp/ipykernel_7/99.py", "exec"), namespace
    )

    def runner() -> None:  # stands for IPython's run_code, which calls the cell
        namespace["g"]()  # type: ignore[operator]

    try:
        runner()
    except KeyError as exc:
        text = plain_traceback(exc)
    assert "runner" not in text and "test_tools_context" not in text
    assert text.startswith("Traceback (most recent call last):\n") and '"<cell>", line 2' in text
