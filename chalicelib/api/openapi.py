"""Generate the OpenAPI 3 document from the registered operations and their pydantic models."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from chalicelib.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from chalicelib.api.idempotency import KEY_PATTERN as IDEMPOTENCY_KEY_PATTERN
from chalicelib.api.schemas import Problem

REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
_STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "No content", 400: "Invalid request",
    401: "Missing or invalid token", 403: "The token lacks the required role",
    404: "Not found", 405: "Method not allowed", 406: "Not acceptable",
    409: "Conflict with the current state",
    413: "Body over 64 KiB", 415: "Unsupported media type", 429: "Too many requests; retry",
    503: "Busy; retry",
}  # fmt: skip
# Every route answers 415 to a request whose Content-Type is not JSON (Chalice checks it before
# the route runs), and 500 if all else fails.
_ALWAYS = (415, 500)
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}
# pydantic leaves a constraint it cannot place inside a union (`Annotated[int | float,
# Field(gt=0)]`) under its own name, which JSON Schema does not know: a client would miss it.
_PYDANTIC_TO_JSON_SCHEMA = {
    "gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum",
    "multiple_of": "multipleOf",
}  # fmt: skip
# Mappings whose keys are names, not keywords: their values are schemas.
_NAMED_SCHEMAS = ("properties", "patternProperties", "$defs", "definitions")
# Keywords whose values are instances, not schemas: left as they are.
_INSTANCES = ("default", "const", "enum", "examples", "example")


_HEADERS = {
    IDEMPOTENCY_HEADER: {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": False,
        "description": "Retry safely: the same key with the same body replays the first "
        "answer (with `Idempotent-Replayed: true`); with another body it is a 409.",
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN.pattern},
    }
}


def _schemas(models: set[type[BaseModel]]) -> tuple[dict[Any, Any], dict[str, Any]]:
    modes: tuple[Literal["serialization", "validation"], ...] = ("serialization", "validation")
    keyed = [(model, mode) for mode in modes for model in models]
    refs, top = models_json_schema(keyed, ref_template=REF_TEMPLATE)
    return refs, json_schema_keywords(top.get("$defs", {}), named=True)


def json_schema_keywords(node: Any, *, named: bool = False) -> Any:
    """`node` with pydantic's stray constraint names turned into JSON Schema keywords."""
    if isinstance(node, list):
        return [json_schema_keywords(item) for item in node]
    if not isinstance(node, dict):
        return node
    if named:
        return {name: json_schema_keywords(schema) for name, schema in node.items()}
    return {
        _PYDANTIC_TO_JSON_SCHEMA.get(key, key): value
        if key in _INSTANCES
        else json_schema_keywords(value, named=key in _NAMED_SCHEMAS)
        for key, value in node.items()
    }


def _body_required(model: type[BaseModel]) -> bool:
    """A body is optional when an empty one (`{}`, what a missing body is read as) is valid."""
    try:
        model.model_validate_json(b"{}")
    except ValidationError:
        return True
    return False


def _query_parameters(model: type[BaseModel], refs: dict[Any, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "schema": json_schema_keywords({k: v for k, v in prop.items() if k != "title"}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _json_content(ref: dict[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    return {media_type: {"schema": ref}}


def _operation_id(method: str, path: str) -> str:
    return method + "_" + (re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root")


def _alternatives(op: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    """The success response's other media types (e.g. GeoJSON for maps), and files."""
    content = {
        media: {"schema": refs[(model, "serialization")]} for media, model in op.alternatives
    }
    content.update(
        {media: {"schema": {"type": "string", "format": "binary"}} for media in op.files}
    )
    return content


def _problem_responses(op: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    problem_ref = refs[(Problem, "serialization")]
    responses: dict[str, Any] = {}
    for status in sorted({*op.errors, *_ALWAYS}):
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "Internal error"),
            "content": _json_content(problem_ref, "application/problem+json"),
        }
        if status in (429, 503):
            responses[str(status)]["headers"] = _RETRY_AFTER
    return responses


def _operation(op: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)
    ]
    if op.query is not None:
        parameters += _query_parameters(op.query, refs)
    parameters += [_HEADERS[name] for name in op.headers]
    responses: dict[str, Any] = {}
    for status in (op.status, *op.also):
        entry: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK")}
        if op.response is not None and status != 204:
            entry["content"] = _json_content(refs[(op.response, "serialization")])
            if status == op.status:
                entry["content"].update(_alternatives(op, refs))
        elif op.response is None and status != 204:
            # A route that only answers a file (a calendar) documents that file alone.
            entry["content"] = _alternatives(op, refs) or {
                "application/json": {"schema": {"type": "object"}}
            }
        responses[str(status)] = entry
    responses.update(_problem_responses(op, refs))
    document: dict[str, Any] = {
        "operationId": _operation_id(op.method, op.path),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.audit is not None:
        # What a successful request appends to the audit trail (GET /admin/audit).
        document["x-audit-action"] = op.audit
    if op.body is not None:
        document["requestBody"] = {
            "required": _body_required(op.body),
            "content": _json_content(refs[(op.body, "validation")]),
        }
    if op.auth in ("participant", "admin", "platform"):
        document["security"] = [{"bearerAuth": []}]
    elif op.auth == "optional":
        document["security"] = [{}, {"bearerAuth": []}]
    else:
        document["security"] = []
    return document


@functools.cache
def openapi_document() -> str:
    from chalicelib.api.routes import load_all
    from chalicelib.api.routing import OPERATIONS

    load_all()
    models: set[type[BaseModel]] = {Problem}
    for op in OPERATIONS:
        models.update(m for m in (op.response, op.body, op.query) if m is not None)
        models.update(model for _, model in op.alternatives)
    refs, components = _schemas(models)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "crowdact API",
            "version": "1.0.0",
            "description": "IF N people commit to an everyday action, THEN a sponsor acts "
            "for a beneficiary. Errors are RFC 9457 problem details.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    return json.dumps(document, ensure_ascii=False)
