"""The generated OpenAPI document tells clients what the API checks and answers (fixes from the
schemathesis run: bounds pydantic left under its own names, body requirements, 415, 429)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.openapi import json_schema_keywords, openapi_document

PYDANTIC_NAMES = {"gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(openapi_document())
    return loaded


def keywords(node: Any, *, named: bool = False) -> set[str]:
    """Every keyword used in a schema tree (not property names)."""
    if isinstance(node, list):
        return set().union(*(keywords(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    if named:
        return set().union(*(keywords(v) for v in node.values())) if node else set()
    found = set(node)
    for key, value in node.items():
        if key not in ("default", "examples", "enum", "const"):
            found |= keywords(value, named=key == "properties")
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_no_constraint_is_left_under_a_pydantic_name(document: dict[str, Any]) -> None:
    used = keywords(document["components"]["schemas"], named=True)
    for _, _, operation in operations(document):
        used |= keywords([p["schema"] for p in operation["parameters"]])
    assert not used & PYDANTIC_NAMES


def test_a_union_of_numbers_carries_its_bounds_as_json_schema(document: dict[str, Any]) -> None:
    value = document["components"]["schemas"]["TargetIn"]["properties"]["value"]
    assert value["exclusiveMinimum"] == 0
    assert value["maximum"] == 1_000_000_000


def test_the_conversion_leaves_property_names_and_examples_alone() -> None:
    schema = {
        "properties": {"le": {"anyOf": [{"type": "integer"}], "gt": 1}},
        "examples": [{"gt": 2}],
        "anyOf": [{"properties": {"ge": {"type": "integer", "ge": 0}}}],
    }
    assert json_schema_keywords(schema) == {
        "properties": {"le": {"anyOf": [{"type": "integer"}], "exclusiveMinimum": 1}},
        "examples": [{"gt": 2}],
        "anyOf": [{"properties": {"ge": {"type": "integer", "minimum": 0}}}],
    }


@pytest.mark.parametrize(
    ("method", "path", "required"),
    [
        ("post", "/challenges/{challenge_id}/pledges", False),  # an empty pledge is valid
        ("post", "/challenges/{challenge_id}/reports", True),  # a report needs its quantity
        ("post", "/admin/challenges", True),
        ("patch", "/admin/challenges/{challenge_id}", True),  # at least one field
    ],
)
def test_a_body_is_required_unless_an_empty_one_is_valid(
    document: dict[str, Any], method: str, path: str, required: bool
) -> None:
    assert document["paths"][path][method]["requestBody"]["required"] is required


def test_every_operation_documents_415_and_500_as_problems(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status in ("415", "500"):
            content = operation["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)


def test_retry_after_is_documented_on_429_and_503(document: dict[str, Any]) -> None:
    documented = 0
    for _, _, operation in operations(document):
        for status in ("429", "503"):
            if status in operation["responses"]:
                response = operation["responses"][status]
                assert "Retry-After" in response["headers"]
                assert response["description"] != "Internal error"
                documented += 1
    assert documented  # the pledge and report routes are rate limited


def test_request_examples_are_valid_requests(document: dict[str, Any]) -> None:
    from chalicelib.api.schemas import ChallengeCreate, ChallengePatch, PledgeIn, ReportIn
    from chalicelib.api.schemas.events import EventIn

    for model in (ChallengeCreate, ChallengePatch, PledgeIn, ReportIn, EventIn):
        examples = document["components"]["schemas"][model.__name__]["examples"]
        assert examples
        for example in examples:
            model.model_validate_json(json.dumps(example))


def defaults_breaking_their_bounds(node: Any, where: str = "") -> list[str]:
    """Schemas whose default fails their own length bounds (a `minLength: 1` with `""`)."""
    if isinstance(node, list):
        return [bad for index, item in enumerate(node)
                for bad in defaults_breaking_their_bounds(item, f"{where}[{index}]")]  # fmt: skip
    if not isinstance(node, dict):
        return []
    found = []
    default = node.get("default")
    if isinstance(default, str) and not (
        node.get("minLength", 0) <= len(default) <= node.get("maxLength", len(default))
    ):
        found.append(where)
    for key, value in node.items():
        if key not in ("default", "examples", "example"):
            found += defaults_breaking_their_bounds(value, f"{where}/{key}")
    return found


def test_every_default_is_a_valid_value(document: dict[str, Any]) -> None:
    # openapi-spec-validator rejects the whole document otherwise (TeamIn.description did).
    assert defaults_breaking_their_bounds(document) == []
