"""The local stack's web front: the client's files (safely, gzip when asked) and the
development sign-in, which mints a local token and exists nowhere but in the local server."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from chalicelib.api.routes import ROUTES
from chalicelib.local.web import WebAnswer, WebFront
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT


@pytest.fixture
def front(tmp_path: Path) -> WebFront:
    (tmp_path / "index.html").write_text('<!doctype html><meta charset="utf-8"><title>x</title>')
    (tmp_path / "app.js").write_text("export const answer = 42;\n" * 50)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.js").write_text("secret")
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / ".env").write_text("secret")
    (tmp_path.parent / "outside.txt").write_text("secret")
    return WebFront(tmp_path)


def get(front: WebFront, path: str, **headers: str) -> WebAnswer:
    answer = front.answer("GET", path, headers, lambda n: b"")
    assert answer is not None
    return answer


def sign_in(front: WebFront, body: object) -> WebAnswer:
    raw = json.dumps(body).encode()
    answer = front.answer(
        "POST", "/dev/token", {"Content-Length": str(len(raw))}, lambda n: raw[:n]
    )
    assert answer is not None
    return answer


def test_the_first_page_and_the_client_files_are_served(front: WebFront) -> None:
    page = get(front, "/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.body.startswith(b"<!doctype html>")
    script = get(front, "/web/app.js")
    assert script.headers["Content-Type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )
    assert script.body.startswith(b"export const")


def test_the_page_carries_the_production_policy_pinned_to_this_origin(
    front: WebFront, tmp_path: Path
) -> None:
    page = get(front, "/")
    pinned = '<meta charset="utf-8">\n  <meta http-equiv="Content-Security-Policy" '
    assert pinned + 'content="connect-src &#x27;self&#x27;">' in page.body.decode()
    for answer in (page, get(front, "/web/app.js")):
        policy = dict(
            d.split(" ", 1) for d in answer.headers["Content-Security-Policy"].split("; ")
        )
        assert policy["connect-src"] == policy["script-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["img-src"] == "'self' data:"
    tiles = WebFront(tmp_path, tile_url="http://{s}.tiles.test:8080/{z}/{x}/{y}.png")
    header = get(tiles, "/").headers["Content-Security-Policy"]
    assert "img-src 'self' data: http://*.tiles.test:8080;" in header


def test_files_are_gzip_compressed_when_the_browser_accepts_it(front: WebFront) -> None:
    plain = get(front, "/web/app.js")
    packed = get(front, "/web/app.js", **{"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    assert len(packed.body) < len(plain.body)
    assert "Content-Encoding" not in plain.headers


@pytest.mark.parametrize(
    "path",
    [
        "/web/../outside.txt",
        "/web/%2e%2e/outside.txt",
        "/web/node_modules/x.js",
        "/web/package.json",
        "/web/.env",
        "/web/missing.js",
        "/web/",
    ],
)
def test_nothing_outside_the_client_is_served(front: WebFront, path: str) -> None:
    answer = get(front, path)
    assert answer.status == 404
    assert b"secret" not in answer.body


def test_other_paths_and_methods_are_left_to_the_api(front: WebFront) -> None:
    for method, path in (("GET", "/challenges"), ("POST", "/"), ("DELETE", "/web/app.js")):
        assert front.answer(method, path, {}, lambda n: b"") is None


def test_the_config_names_the_same_origin_and_no_tiles_by_default(front: WebFront) -> None:
    answer = get(front, "/web/config.js")
    text = answer.body.decode()
    assert text.startswith("window.CROWDACT_CONFIG = ")
    config = json.loads(text.removeprefix("window.CROWDACT_CONFIG = ").rstrip(";\n"))
    assert config == {"apiBase": "", "tileUrl": None, "stage": "local", "devSignIn": True}


@pytest.mark.parametrize(
    ("body", "groups", "org"),
    [
        ({"name": "lea"}, None, None),
        (
            {"name": "csr", "role": "org-admin", "org_id": "org_humanis"},
            ["org-admin"],
            "org_humanis",
        ),
        ({"name": "boss", "role": "admin"}, ["admin"], None),
    ],
)
def test_the_development_sign_in_mints_a_local_token(
    front: WebFront, body: dict[str, str], groups: list[str] | None, org: str | None
) -> None:
    answer = sign_in(front, body)
    assert answer.status == 200
    minted = json.loads(answer.body)
    claims = jwt.decode(minted["token"], LOCAL_JWT_SECRET_DEFAULT, algorithms=["HS256"])
    assert claims["sub"] == body["name"] == minted["sub"]
    assert claims.get("cognito:groups") == groups
    assert claims.get("custom:org_id") == org


def test_an_email_given_at_sign_in_is_verified_in_the_token(front: WebFront) -> None:
    minted = json.loads(sign_in(front, {"name": "lea", "email": "lea@example.org"}).body)
    claims = jwt.decode(minted["token"], LOCAL_JWT_SECRET_DEFAULT, algorithms=["HS256"])
    assert (claims["email"], claims["email_verified"]) == ("lea@example.org", True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a b"}, "name"),
        ({"name": "lea", "role": "root"}, "role"),
        ({"name": "csr", "role": "org-admin"}, "org_id"),
        ({"name": "lea", "org_id": "humanis"}, "org_id"),
        ({"name": "lea", "email": "nope"}, "email"),
        ({"name": "lea", "groups": ["admin"]}, "groups"),
        (["lea"], None),
    ],
)
def test_a_bad_sign_in_is_a_400_problem(front: WebFront, body: object, field: str | None) -> None:
    answer = sign_in(front, body)
    assert answer.status == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(answer.body)
    if field is not None:
        assert ["body", field] in [error["loc"] for error in problem["errors"]]


def test_a_sign_in_without_a_json_body_is_a_400(front: WebFront) -> None:
    reader: Callable[[int], bytes] = lambda n: b"not json"  # noqa: E731
    answer = front.answer("POST", "/dev/token", {"Content-Length": "8"}, reader)
    assert answer is not None
    assert answer.status == 400
    empty = front.answer("POST", "/dev/token", {}, reader)
    assert empty is not None
    assert empty.status == 400


def test_no_route_of_the_api_mints_a_token_or_serves_the_client() -> None:
    # In AWS only the app's routes exist (API Gateway from this table): the development
    # sign-in is the local server's alone (tests/infra/test_api.py checks the template).
    paths = {route.path for route in ROUTES}
    assert "/dev/token" not in paths
    assert not {p for p in paths if p == "/" or p.startswith(("/dev", "/web"))}


def test_the_first_page_has_no_inline_script_or_style_for_the_csp() -> None:
    # In AWS the CSP allows scripts and styles from the site only ('self'): an inline
    # <script>, a style attribute or an on* handler in the HTML would be blocked there.
    from html.parser import HTMLParser

    from chalicelib.local.web import WEB_ROOT

    found: list[str] = []

    class Inline(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            names = {name for name, _ in attrs}
            if tag == "script" and "src" not in names:
                found.append("inline <script>")
            if tag == "style":
                found.append("<style>")
            found.extend(
                f"{tag} {name}" for name in names if name == "style" or name.startswith("on")
            )

    Inline().feed((WEB_ROOT / "index.html").read_text())
    assert found == []
