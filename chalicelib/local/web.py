"""What the local stack serves beside the API: the web client and the development sign-in.

- `GET /` is `web/index.html`; `GET /web/<path>` a file of `web/` (gzip-compressed when the
  browser accepts it, as CloudFront does in AWS); `GET /web/config.js` the client's
  configuration for this stack (the API on the same origin, the tile server if one is set).
- `POST /dev/token {"name", "role", "org_id"?, "email"?, "locale"?}` signs a local token for
  a chosen name and role, so that a person trying crowdact signs in from the page.

Both exist in this local server only, never in the Chalice app: in AWS, CloudFront serves
`web/` and Cognito signs people in, and no route of the API mints a token
(`tests/unit/test_local_web.py` proves it from the route table).
"""

from __future__ import annotations

import gzip
import json
import mimetypes
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.api.problems import PROBLEM_CONTENT_TYPE, ProblemKind, problem_body
from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT
from chalicelib.web_security import content_security_policy, pin_connections, tile_origin

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
WEB_PREFIX = "/web/"
SIGN_IN_PATH = "/dev/token"
INDEX = "index.html"
# Never served: what npm and the vendoring script leave beside the client.
PRIVATE_PARTS = ("node_modules", "package.json", "package-lock.json", "vendor.mjs")
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MAX_TOKEN_BODY_BYTES = 4096
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ORG_PATTERN = re.compile(r"^org_[a-z0-9_]{1,60}$")
ROLE_GROUPS = {"participant": (), "admin": ("admin",), "org-admin": ("org-admin",)}
INVALID = ProblemKind(400, "invalid-request", "Invalid request")
NOT_FOUND = ProblemKind(404, "not-found", "Not found")


@dataclass(frozen=True)
class WebAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


class WebFront:
    """Answers the requests that are not the API's; None for the others."""

    def __init__(self, root: Path = WEB_ROOT, *, tile_url: str | None = None) -> None:
        self._root = root.resolve()
        self._tile_url = tile_url
        # As CloudFront sends it, the API being on this origin: the browser tests run the
        # client under the production policy.
        images = [tile_origin(tile_url, allow_http=True)] if tile_url else []
        self._policy = {
            "Content-Security-Policy": content_security_policy(connect=(), images=images)
        }
        self._lock = threading.Lock()
        self._compressed: dict[tuple[Path, float], bytes] = {}

    def answer(self, method: str, path: str, headers: Any, read_body: Any) -> WebAnswer | None:
        route = path.split("?", 1)[0]
        if method == "POST" and route == SIGN_IN_PATH:
            return self._token(headers, read_body)
        if method not in ("GET", "HEAD"):
            return None
        if route == "/":
            return self._file(INDEX, headers)
        if route == WEB_PREFIX + "config.js":
            return self._config()
        if route.startswith(WEB_PREFIX):
            return self._file(route.removeprefix(WEB_PREFIX), headers)
        return None

    def _config(self) -> WebAnswer:
        config = {"apiBase": "", "tileUrl": self._tile_url, "stage": "local", "devSignIn": True}
        body = f"window.CROWDACT_CONFIG = {json.dumps(config)};\n".encode()
        return WebAnswer(200, {"Content-Type": "text/javascript; charset=utf-8", **_NO_CACHE}, body)

    def _file(self, relative: str, headers: Any) -> WebAnswer:
        target = (self._root / relative).resolve()
        inside = target.is_relative_to(self._root) and target != self._root
        hidden = any(part in PRIVATE_PARTS or part.startswith(".") for part in target.parts)
        if not inside or hidden or not target.is_file():
            return _problem(NOT_FOUND, f"no file {relative!r} in the web client")
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        body = target.read_bytes()
        if target == self._root / INDEX:
            # Pinned as the deployment pins it: to this origin alone.
            body = pin_connections(body.decode("utf-8"), ()).encode()
        answer_headers = {"Content-Type": content_type, **_NO_CACHE, **self._policy}
        accepts = str(headers.get("Accept-Encoding") or "")
        if "gzip" in accepts and content_type.startswith(COMPRESSIBLE):
            body = self._gzip(target, body)
            answer_headers["Content-Encoding"] = "gzip"
            answer_headers["Vary"] = "Accept-Encoding"
        return WebAnswer(200, answer_headers, body)

    def _gzip(self, target: Path, body: bytes) -> bytes:
        key = (target, target.stat().st_mtime)
        with self._lock:
            cached = self._compressed.get(key)
        if cached is None:
            cached = gzip.compress(body, compresslevel=9, mtime=0)
            with self._lock:
                self._compressed[key] = cached
        return cached

    def _token(self, headers: Any, read_body: Any) -> WebAnswer:
        try:
            length = int(headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_TOKEN_BODY_BYTES:
            return _problem(INVALID, f"send a JSON object of at most {MAX_TOKEN_BODY_BYTES} bytes")
        try:
            body = json.loads(read_body(length))
        except (ValueError, UnicodeDecodeError):
            return _problem(INVALID, "the body is not JSON")
        if not isinstance(body, dict):
            return _problem(INVALID, "the body must be a JSON object")
        errors = _token_errors(body)
        if errors:
            return _problem(INVALID, "; ".join(msg for _, msg in errors), errors)
        name, role = str(body["name"]), str(body.get("role") or "participant")
        email = body.get("email")
        secret = os.environ.get("CROWDACT_LOCAL_JWT_SECRET") or LOCAL_JWT_SECRET_DEFAULT
        token = mint_local_token(
            secret,
            name,
            groups=ROLE_GROUPS[role],
            name=name,
            org_id=body.get("org_id"),
            email=email,
            email_verified=email is not None,
            locale=body.get("locale"),
        )
        answer = {"token": token, "sub": name, "role": role, "org_id": body.get("org_id")}
        return WebAnswer(
            200,
            {"Content-Type": "application/json", "Cache-Control": "no-store"},
            json.dumps(answer).encode(),
        )


_NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _token_errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    name = body.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        errors.append(("name", "name: 1-64 letters, digits, . _ or -"))
    role = body.get("role", "participant")
    if role not in ROLE_GROUPS:
        errors.append(("role", "role: participant, admin or org-admin"))
    org_id = body.get("org_id")
    if org_id is not None and (not isinstance(org_id, str) or not ORG_PATTERN.match(org_id)):
        errors.append(("org_id", "org_id: like org_humanis"))
    if role == "org-admin" and org_id is None:
        errors.append(("org_id", "org_id: an org-admin administers one organisation"))
    email = body.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 254):
        errors.append(("email", "email: an address"))
    locale = body.get("locale")
    if locale is not None and (not isinstance(locale, str) or len(locale) > 35):
        errors.append(("locale", "locale: a language tag"))
    unknown = set(body) - {"name", "role", "org_id", "email", "locale"}
    errors.extend((field, f"{field}: unknown field") for field in sorted(unknown))
    return errors


def _problem(
    kind: ProblemKind, detail: str, errors: list[tuple[str, str]] | None = None
) -> WebAnswer:
    document = problem_body(kind, detail)
    if errors:
        document["errors"] = [{"loc": ["body", field], "msg": msg} for field, msg in errors]
    return WebAnswer(
        kind.status, {"Content-Type": PROBLEM_CONTENT_TYPE}, json.dumps(document).encode()
    )
