"""Generate the OpenAPI 3 document from the registered operations and their pydantic models."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from chalicelib.api.idempotency import KEY_PATTERN as IDEMPOTENCY_KEY_PATTERN
from chalicelib.api.schemas import Problem

REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)}")
_STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "No content", 400: "Invalid request",
    401: "Missing or invalid token", 403: "The token lacks the required role",
    404: "Not found", 405: "Method not allowed", 409: "Conflict with the current state",
    413: "Body over 64 KiB", 415: "Unsupported media type", 503: "Busy; retry",
}  # fmt: skip


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
    return refs, top.get("$defs", {})


def _query_parameters(model: type[BaseModel], refs: dict[Any, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "schema": {k: v for k, v in prop.items() if k != "title"},
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _json_content(ref: dict[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    return {media_type: {"schema": ref}}


def _operation_id(method: str, path: str) -> str:
    return method + "_" + (re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root")


def _alternatives(op: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    """The success response's other media types (e.g. GeoJSON for maps)."""
    return {media: {"schema": refs[(model, "serialization")]} for media, model in op.alternatives}


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
            entry["content"] = {"application/json": {"schema": {"type": "object"}}}
        responses[str(status)] = entry
    problem_ref = refs[(Problem, "serialization")]
    for status in (*op.errors, 500):
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "Internal error"),
            "content": _json_content(problem_ref, "application/problem+json"),
        }
    document: dict[str, Any] = {
        "operationId": _operation_id(op.method, op.path),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.body is not None:
        document["requestBody"] = {
            "required": op.method != "post" or op.tag != "participant",
            "content": _json_content(refs[(op.body, "validation")]),
        }
    if op.auth in ("participant", "admin"):
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
