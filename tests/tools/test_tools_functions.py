"""Functions as tools: schemas from signatures and docstrings, checked calls, results."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from typing import Literal

import pytest

from ipygemini import OptionError
from ipygemini.tools import tools_from
from ipygemini.tools._functions import RESULT_CHARS, result_text


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


def weather(
    city: str, days: int = 1, unit: Unit = Unit.C, detail: Literal["short", "long"] = "short"
) -> dict[str, object]:
    """Forecast for a city.

    Args:
        city: The city's name, e.g. "Paris".
        days: How many days ahead.
    """
    return {"city": city, "days": days, "unit": unit.value if isinstance(unit, Unit) else unit}


def add(a: float, b: float | None = None) -> float:
    """Add two numbers.

    :param a: first
    :param b: second (optional)
    """
    return a + (b or 0)


async def slow_double(x: int) -> int:
    """Double x, asynchronously."""
    await asyncio.sleep(0)
    return 2 * x


def boom() -> None:
    """Always fails."""
    raise RuntimeError("disk on fire")


def test_schemas_come_from_signatures_hints_and_docstrings() -> None:
    tools = tools_from([weather, add])
    spec = tools["weather"].spec()["function"]
    assert spec["description"] == "Forecast for a city."
    params = spec["parameters"]
    assert params["required"] == ["city"]
    assert params["properties"]["city"] == {
        "type": "string",
        "description": 'The city\'s name, e.g. "Paris".',
    }
    assert params["properties"]["days"]["type"] == "integer"
    assert params["properties"]["unit"] == {"enum": ["celsius", "fahrenheit"]}
    assert params["properties"]["detail"] == {"enum": ["short", "long"]}
    add_params = tools["add"].spec()["function"]["parameters"]
    assert add_params["properties"]["b"]["type"] == ["number", "null"]
    assert add_params["properties"]["a"]["description"] == "first"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({}, "missing argument 'city'"),
        ({"city": 3}, "argument 'city' should be string"),
        ({"city": "Oslo", "days": "two"}, "argument 'days' should be integer"),
        ({"city": "Oslo", "when": "now"}, "unknown argument(s) when"),
        ([1, 2], "arguments must be a JSON object"),
        ({"city": "Oslo", "detail": "medium"}, "should be one of"),
    ],
)
def test_bad_calls_are_refused_and_never_run(arguments: object, problem: str) -> None:
    ran = []

    def weather(city: str, days: int = 1, detail: Literal["short", "long"] = "short") -> None:
        ran.append(city)

    tool = tools_from([weather])["weather"]
    result = tool.run_sync(arguments)
    assert result.error is not None and problem in result.error
    assert "error" in result.content
    assert asyncio.run(tool.run(arguments)).error == result.error
    assert ran == []


def test_sync_async_and_raising_functions() -> None:
    tools = tools_from([add, slow_double, boom])
    assert tools["add"].run_sync({"a": 1, "b": 2}).content == "3"
    assert asyncio.run(tools["slow_double"].run({"x": 21})).value == 42
    assert tools["slow_double"].run_sync({"x": 4}).value == 8
    failed = tools["boom"].run_sync({})
    assert failed.error == "RuntimeError: disk on fire" and "disk on fire" in failed.content


def test_results_are_json_or_repr_and_cut() -> None:
    @dataclasses.dataclass
    class P:
        x: int

    assert result_text(P(1)) == '{"x": 1}'
    assert result_text({1, 2}).startswith("{")  # a set: its repr
    long = result_text("a" * (RESULT_CHARS * 2))
    assert len(long) < RESULT_CHARS + 60 and "more characters cut" in long


def test_what_cannot_be_a_tool_says_why() -> None:
    with pytest.raises(OptionError, match="must be functions"):
        tools_from([42])  # type: ignore[list-item]
    with pytest.raises(OptionError, match="two tools are named"):
        tools_from([add, add])

    def pos(a: int, /) -> int:
        return a

    with pytest.raises(OptionError, match="positional-only"):
        tools_from([pos])

    def odd(a: complex) -> None: ...

    with pytest.raises(OptionError, match="has no JSON Schema"):
        tools_from([odd])
