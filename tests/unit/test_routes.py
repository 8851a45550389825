"""The route table agrees with the `@endpoint` declarations, and `import app` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import app as app_module
from chalicelib.api.routes import ROUTES, load_all

REPO_ROOT = Path(__file__).resolve().parents[2]

# What the entry module must not load at import: each is loaded by the first request or
# invocation that needs it.
HEAVY_PACKAGES = (
    "pydantic",
    "pynamodb",
    "botocore",
    "boto3",
    "jwt",
    "cryptography",
    "jinja2",
    "aws_lambda_powertools",
    "email_validator",
    "pygeohash",
)


def test_the_route_table_lists_exactly_the_declared_endpoints() -> None:
    load_all()
    from chalicelib.api.routing import HANDLERS, OPERATIONS

    declared = {(op.method.upper(), op.path) for op in OPERATIONS}
    listed = {(route.method, route.path) for route in ROUTES}
    assert listed == declared
    assert len(ROUTES) == len(listed), "a route is listed twice"
    assert set(HANDLERS) == declared


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_each_route_resolves_to_the_handler_its_module_declares(route: object) -> None:
    from chalicelib.api.routes import Route

    assert isinstance(route, Route)
    handler = route.handler()
    assert handler.__module__ == route.module


def test_app_registers_every_route_with_its_cors_setting() -> None:
    registered = {
        (method, path): entry
        for path, methods in app_module.app.routes.items()
        for method, entry in methods.items()
    }
    assert set(registered) == {(route.method, route.path) for route in ROUTES}
    for route in ROUTES:
        entry = registered[(route.method, route.path)]
        assert bool(entry.cors) is (not route.is_admin)
        assert entry.view_name == route.name


def test_view_names_are_unique() -> None:
    names = [route.name for route in ROUTES]
    assert len(names) == len(set(names))


def test_importing_the_entry_module_loads_no_heavy_package() -> None:
    code = (
        "import json, sys; import app; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    assert "chalice" in loaded  # the check sees what was imported
    assert loaded.isdisjoint(HEAVY_PACKAGES), sorted(loaded.intersection(HEAVY_PACKAGES))


def test_every_admin_write_names_its_audit_action_and_no_read_does() -> None:
    """So an admin route that writes cannot ship without its entry in the audit trail."""
    load_all()
    from chalicelib.api.routing import OPERATIONS, WRITE_METHODS

    by_route = {(op.method.upper(), op.path): op for op in OPERATIONS}
    admin_writes = [r for r in ROUTES if r.is_admin and r.method in WRITE_METHODS]
    assert admin_writes  # the check sees the routes it is about
    for route in ROUTES:
        operation = by_route[(route.method, route.path)]
        if route in admin_writes:
            assert operation.audit, f"{route.method} {route.path} declares no audit action"
        elif route.method not in WRITE_METHODS:
            assert operation.audit is None, f"{route.method} {route.path} reads: no audit"


def test_cors_answers_the_configured_origin_and_any_origin_only_locally() -> None:
    from chalicelib.api.routes import cors_config

    origin = "https://d111111abcdef8.cloudfront.net"
    deployed = cors_config({"CROWDACT_STAGE": "prod", "CROWDACT_ALLOWED_ORIGIN": origin})
    assert deployed is not None
    assert deployed.allow_origin == origin
    headers = deployed.get_access_control_headers()
    assert "Idempotency-Key" in headers["Access-Control-Allow-Headers"]
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"
    local = cors_config({})
    assert local is not None
    assert local.allow_origin == "*"
    # A deployed stage without an origin answers no CORS at all rather than any origin.
    assert cors_config({"CROWDACT_STAGE": "prod"}) is None
