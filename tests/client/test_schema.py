"""Structured output schemas: Python types and JSON-Schema dicts as Gemini takes them, and
answers checked against them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from ipygemini import OptionError
from ipygemini.client._schema import AnswerValidationError, output_schema


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    age: int
    address: Address
    tags: list[str] = []
    mood: Literal["happy", "sad"] = "happy"


class Movie(TypedDict):
    title: str
    year: int


@dataclasses.dataclass
class Point:
    x: float
    y: float


def walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for v in node.values():
            found.extend(walk(v))
    elif isinstance(node, list):
        for v in node:
            found.extend(walk(v))
    return found


def test_pydantic_model_becomes_a_gemini_schema() -> None:
    schema = output_schema(Person)
    sent = schema.response_format()
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Person" and sent["json_schema"]["strict"] is True
    body = sent["json_schema"]["schema"]
    for node in walk(body):
        assert not {"$ref", "$defs", "title", "default", "additionalProperties"} & set(node)
    assert body["required"] == ["name", "age", "address", "tags", "mood"]
    assert body["properties"]["tags"]["type"] == ["array", "null"]  # optional: nullable
    assert body["properties"]["address"]["properties"]["zip"]["type"] == ["string", "null"]
    assert body["properties"]["mood"]["enum"] == ["happy", "sad"]
    assert not schema.wrapped


def test_parse_gives_an_instance_and_defaults_fill_nulls() -> None:
    schema = output_schema(Person)
    answer = json.dumps(
        {
            "name": "Ada",
            "age": 36,
            "address": {"city": "London", "zip": None},
            "tags": None,
            "mood": None,
        }
    )
    person = schema.parse("```json\n" + answer + "\n```")
    assert person == Person(name="Ada", age=36, address=Address(city="London"))


def test_validation_error_names_the_first_bad_field() -> None:
    schema = output_schema(Person)
    with pytest.raises(AnswerValidationError) as info:
        schema.parse('{"name": "Ada", "age": "old", "address": {"city": "L"}}')
    assert info.value.field == "age"
    assert "age" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(AnswerValidationError, match="not JSON"):
        schema.parse("Sure! Here is the person: Ada")


@pytest.mark.parametrize(
    ("target", "answer", "expected"),
    [
        (Movie, '{"title": "Alien", "year": 1979}', {"title": "Alien", "year": 1979}),
        (Point, '{"x": 1, "y": 2.5}', Point(1.0, 2.5)),
        (list[Point], '{"items": [{"x": 0, "y": 0}]}', [Point(0.0, 0.0)]),
        (list[str], '{"items": ["a", "b"]}', ["a", "b"]),
    ],
)
def test_dataclasses_typeddicts_and_lists(target: Any, answer: str, expected: Any) -> None:
    schema = output_schema(target)
    assert schema.json_schema["type"] == "object"
    assert schema.parse(answer) == expected


def test_json_schema_dicts_need_no_pydantic_and_are_checked() -> None:
    schema = output_schema(
        {
            "type": "object",
            "properties": {
                "label": {"type": "string", "enum": ["spam", "ham"]},
                "score": {"type": "number"},
                "why": {"type": "string"},
            },
            "required": ["label", "score"],
        }
    )
    assert schema.json_schema["properties"]["why"]["type"] == ["string", "null"]
    assert schema.parse('{"label": "ham", "score": 0.5, "why": null}') == {
        "label": "ham",
        "score": 0.5,
    }
    with pytest.raises(AnswerValidationError) as info:
        schema.parse('{"label": "eggs", "score": 1}')
    assert info.value.field == "label"
    with pytest.raises(AnswerValidationError) as info:
        schema.parse('{"label": "ham"}')
    assert info.value.field == "score" and "missing" in str(info.value)


class Node(BaseModel):
    value: int
    children: list[Node] = []


@pytest.mark.parametrize(
    ("target", "match"),
    [
        (Node, "refers to itself"),
        (object(), "cannot be turned into a JSON Schema"),
        ({"type": 3}, "needs a 'type'"),
    ],
)
def test_schemas_that_cannot_work_say_why(target: Any, match: str) -> None:
    with pytest.raises(OptionError, match=match):
        output_schema(target)


def test_a_typing_typeddict_on_old_pythons_says_what_to_use() -> None:
    import sys
    import typing

    class Old(typing.TypedDict):
        a: int

    if sys.version_info >= (3, 12):
        assert output_schema(Old).parse('{"a": 1}') == {"a": 1}
    else:
        with pytest.raises(OptionError, match=r"typing_extensions\.TypedDict"):
            output_schema(Old)


def test_fallback_instruction_carries_the_schema() -> None:
    text = output_schema(Movie).instruction()
    assert "JSON Schema" in text and '"year"' in text


def test_a_property_named_like_a_dropped_keyword_is_kept() -> None:
    shape = output_schema(
        {
            "type": "object",
            "properties": {"title": {"type": "string"}, "default": {"type": "integer"}},
            "required": ["title", "default"],
        }
    )
    assert list(shape.json_schema["properties"]) == ["title", "default"]
    assert shape.json_schema["required"] == ["title", "default"]


class Glossary(BaseModel):
    """A model whose field names are the JSON-Schema words for definitions (issue 17, item 8)."""

    definitions: list[str]
    defs: int = Field(alias="$defs")
    address: Address


@pytest.mark.parametrize(
    "target",
    [
        Glossary,
        {
            "type": "object",
            "properties": {
                "definitions": {"type": "array", "items": {"type": "string"}},
                "$defs": {"type": "integer"},
            },
            "required": ["definitions", "$defs"],
        },
    ],
    ids=["pydantic", "json-schema-dict"],
)
def test_properties_named_definitions_or_defs_are_sent_and_read(target: Any) -> None:
    shape = output_schema(target)
    properties = shape.json_schema["properties"]
    assert properties["definitions"] == {"type": "array", "items": {"type": "string"}}
    assert properties["$defs"] == {"type": "integer"}
    assert {"definitions", "$defs"} <= set(shape.json_schema["required"])
    answer = '{"definitions": ["a"], "$defs": 2, "address": {"city": "Oslo", "zip": null}}'
    parsed = shape.parse(answer)
    values = (
        (parsed.definitions, parsed.defs)
        if target is Glossary
        else (
            parsed["definitions"],
            parsed["$defs"],
        )
    )
    assert values == (["a"], 2)


class Parcel(BaseModel):
    city: str
    speed: str = "standard"  # not nullable: a null from the model must give way to the default


class Shipment(BaseModel):
    """An optional nested model whose own field has a default (issue 17, item 9)."""

    to: Parcel | None = None
    more: list[Parcel] | None = None


def test_a_nested_null_inside_an_optional_model_takes_its_default() -> None:
    shape = output_schema(Shipment)
    parsed = shape.parse('{"to": {"city": "Oslo", "speed": null}}')
    assert parsed == Shipment(to=Parcel(city="Oslo"))
    parsed = shape.parse('{"to": null, "more": [{"city": "Rome", "speed": null}]}')
    assert parsed == Shipment(more=[Parcel(city="Rome")])
    assert shape.parse('{"to": null, "more": null}') == Shipment()
