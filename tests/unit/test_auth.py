"""Unit tests of bearer-token authentication: HS256, Cognito RS256 over a loopback JWKS, the CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from chalicelib.auth import (
    MAX_SUB_LENGTH,
    Authenticator,
    HS256Verifier,
    RS256JwksVerifier,
    build_verifier,
)
from chalicelib.domain.errors import AuthenticationError, PermissionDeniedError
from chalicelib.domain.model import Principal
from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, ConfigurationError, JwtSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "unit-test-secret-that-is-long-enough-for-hs256-and-hs384"
ISSUER = "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_TestPool"
AUDIENCE = "test-client-id"
KID = "test-key-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def _hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _base_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": "user-1", "iat": _now(), "exp": _now() + 600}
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


# --- HS256 (local stage) -------------------------------------------------------------------


@pytest.fixture
def hs256() -> HS256Verifier:
    return HS256Verifier(SECRET)


@pytest.fixture
def authenticator(hs256: HS256Verifier) -> Authenticator:
    return Authenticator(hs256)


def test_hs256_maps_every_claim_onto_the_principal(hs256: HS256Verifier) -> None:
    token = _hs256(
        _base_claims(
            sub="participant-42",
            email="lea@example.org",
            name="Léa",
            **{"cognito:groups": ["admin", "org-admin"], "custom:org_id": "org_acme"},
            email_verified=True,
            locale="fr-FR",
        )
    )

    assert hs256.verify(token) == Principal(
        sub="participant-42",
        email="lea@example.org",
        name="Léa",
        groups=frozenset({"admin", "org-admin"}),
        org_id="org_acme",
        email_verified=True,
        locale="fr-FR",
    )


def test_hs256_minimal_token_gives_a_bare_principal(hs256: HS256Verifier) -> None:
    assert hs256.verify(_hs256(_base_claims())) == Principal(sub="user-1")


@pytest.mark.parametrize(
    ("claim", "expected"),
    [(True, True), ("true", True), (False, False), ("false", False), (1, False), (None, False)],
)
def test_email_verified_is_true_only_for_true_or_the_string_true(
    hs256: HS256Verifier, claim: object, expected: bool
) -> None:
    principal = hs256.verify(_hs256(_base_claims(email="a@example.org", email_verified=claim)))

    assert principal.email_verified is expected


def test_hs256_token_with_an_audience_is_accepted(hs256: HS256Verifier) -> None:
    assert hs256.verify(_hs256(_base_claims(aud="any-client"))).sub == "user-1"


def test_issued_in_the_future_beyond_the_leeway_is_rejected(hs256: HS256Verifier) -> None:
    with pytest.raises(AuthenticationError, match="not valid yet"):
        hs256.verify(_hs256(_base_claims(iat=_now() + 300)))


def test_minted_local_token_round_trips(hs256: HS256Verifier) -> None:
    token = mint_local_token(
        SECRET,
        "local-admin",
        groups=["admin"],
        email="admin@crowdact.local",
        name="Admin",
        org_id="org_1",
        email_verified=True,
    )

    assert hs256.verify(token) == Principal(
        sub="local-admin",
        email="admin@crowdact.local",
        name="Admin",
        groups=frozenset({"admin"}),
        org_id="org_1",
        email_verified=True,
    )


def test_minted_local_token_carries_iat_and_exp() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    token = mint_local_token(SECRET, "someone", ttl_seconds=90, now=now)

    claims = jwt.decode(token, options={"verify_signature": False})

    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] == int(now.timestamp()) + 90
    assert "cognito:groups" not in claims


def test_expired_token_is_rejected_without_echoing_it(hs256: HS256Verifier) -> None:
    token = mint_local_token(
        SECRET, "user-1", ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1)
    )

    with pytest.raises(AuthenticationError, match="the token has expired") as caught:
        hs256.verify(token)
    assert token not in str(caught.value)


def test_small_clock_skew_is_tolerated(hs256: HS256Verifier) -> None:
    token = _hs256(_base_claims(exp=_now() - 2))

    assert hs256.verify(token).sub == "user-1"


def test_clock_skew_beyond_the_leeway_is_rejected(hs256: HS256Verifier) -> None:
    with pytest.raises(AuthenticationError, match="expired"):
        hs256.verify(_hs256(_base_claims(exp=_now() - 30)))


def test_token_signed_with_another_secret_is_rejected(hs256: HS256Verifier) -> None:
    token = _hs256(_base_claims(), secret="another-secret-that-is-also-long-enough!!")

    with pytest.raises(AuthenticationError, match="the token signature is invalid"):
        hs256.verify(token)


def test_tampered_payload_is_rejected(hs256: HS256Verifier) -> None:
    header, _, signature = _hs256(_base_claims()).split(".")
    forged = f"{header}.{_segment(_base_claims(**{'cognito:groups': ['admin']}))}.{signature}"

    with pytest.raises(AuthenticationError, match="signature is invalid"):
        hs256.verify(forged)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b.c", "a.b", "....", "eyJhbGciOiJIUzI1NiJ9.e30", "Bearer x.y.z"],
)
def test_malformed_token_is_rejected(hs256: HS256Verifier, token: str) -> None:
    with pytest.raises(AuthenticationError):
        hs256.verify(token)


def test_alg_none_is_rejected(hs256: HS256Verifier) -> None:
    token = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_base_claims())}."

    with pytest.raises(AuthenticationError, match="algorithm is not accepted"):
        hs256.verify(token)


def test_hmac_signed_token_claiming_rs256_is_rejected(hs256: HS256Verifier) -> None:
    signing_input = f"{_segment({'alg': 'RS256', 'typ': 'JWT'})}.{_segment(_base_claims())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(signature)}"

    with pytest.raises(AuthenticationError, match="algorithm is not accepted"):
        hs256.verify(token)


def test_hs384_token_is_rejected(hs256: HS256Verifier) -> None:
    token = jwt.encode(_base_claims(), SECRET, algorithm="HS384")

    with pytest.raises(AuthenticationError, match="algorithm is not accepted"):
        hs256.verify(token)


@pytest.mark.parametrize("claim", ["sub", "exp"])
def test_token_without_a_required_claim_is_rejected(hs256: HS256Verifier, claim: str) -> None:
    claims = _base_claims()
    del claims[claim]

    with pytest.raises(AuthenticationError, match=f"no '{claim}' claim"):
        hs256.verify(_hs256(claims))


@pytest.mark.parametrize("sub", ["", 42, ["user-1"], "x" * (MAX_SUB_LENGTH + 1)])
def test_invalid_subject_is_rejected(hs256: HS256Verifier, sub: object) -> None:
    with pytest.raises(AuthenticationError):
        hs256.verify(_hs256(_base_claims(sub=sub)))


def test_subject_of_maximum_length_is_accepted(hs256: HS256Verifier) -> None:
    sub = "x" * MAX_SUB_LENGTH

    assert hs256.verify(_hs256(_base_claims(sub=sub))).sub == sub


@pytest.mark.parametrize("groups", ["admin", [1], ["admin", None], {"admin": True}, 7])
def test_groups_of_the_wrong_type_are_rejected(hs256: HS256Verifier, groups: object) -> None:
    token = _hs256(_base_claims(**{"cognito:groups": groups}))

    with pytest.raises(AuthenticationError, match="cognito:groups"):
        hs256.verify(token)


@pytest.mark.parametrize("claim", ["email", "name", "custom:org_id", "locale"])
def test_optional_string_claims_of_the_wrong_type_are_rejected(
    hs256: HS256Verifier, claim: str
) -> None:
    with pytest.raises(AuthenticationError, match=claim):
        hs256.verify(_hs256(_base_claims(**{claim: ["not", "a", "string"]})))


def test_oversized_token_is_rejected_before_decoding(hs256: HS256Verifier) -> None:
    with pytest.raises(AuthenticationError, match="too large"):
        hs256.verify("a" * 20_000)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="secret"):
        HS256Verifier("")


# --- Authenticator -------------------------------------------------------------------------


def test_missing_header_is_anonymous_when_optional(authenticator: Authenticator) -> None:
    assert authenticator.authenticate(None, required=False) is None


def test_missing_header_is_401_when_required(authenticator: Authenticator) -> None:
    with pytest.raises(AuthenticationError, match="missing bearer token"):
        authenticator.authenticate(None, required=True)


@pytest.mark.parametrize("required", [True, False])
def test_valid_bearer_token_authenticates(authenticator: Authenticator, required: bool) -> None:
    token = mint_local_token(SECRET, "user-7")

    principal = authenticator.authenticate(f"Bearer {token}", required=required)

    assert principal == Principal(sub="user-7")


def test_bearer_scheme_is_case_insensitive(authenticator: Authenticator) -> None:
    principal = authenticator.authenticate(f"bearer {mint_local_token(SECRET, 'u')}", required=True)

    assert principal is not None
    assert principal.sub == "u"


@pytest.mark.parametrize("required", [True, False])
def test_bad_token_is_401_even_when_optional(authenticator: Authenticator, required: bool) -> None:
    expired = mint_local_token(
        SECRET, "user-1", ttl_seconds=60, now=datetime.now(UTC) - timedelta(days=1)
    )

    with pytest.raises(AuthenticationError, match="expired"):
        authenticator.authenticate(f"Bearer {expired}", required=required)


@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b", "eyJhbGciOi.x.y"],
)
def test_header_not_of_the_bearer_form_is_401(
    authenticator: Authenticator, header: str, required: bool
) -> None:
    with pytest.raises(AuthenticationError):
        authenticator.authenticate(header, required=required)


def test_basic_credentials_are_401_and_not_echoed(authenticator: Authenticator) -> None:
    with pytest.raises(AuthenticationError) as caught:
        authenticator.authenticate("Basic dXNlcjpwYXNz", required=False)

    assert "dXNlcjpwYXNz" not in str(caught.value)


def test_require_admin_lets_admins_through(authenticator: Authenticator) -> None:
    authenticator.require_admin(Principal(sub="a", groups=frozenset({"admin"})))


@pytest.mark.parametrize("groups", [frozenset(), frozenset({"org-admin"}), frozenset({"Admin"})])
def test_require_admin_denies_everyone_else(
    authenticator: Authenticator, groups: frozenset[str]
) -> None:
    with pytest.raises(PermissionDeniedError):
        authenticator.require_admin(Principal(sub="p", groups=groups))


# --- RS256 (Cognito) over a loopback JWKS ----------------------------------------------------


class _JwksServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _JwksHandler)
        self.jwks = jwks
        self.requests = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _JwksHandler(BaseHTTPRequestHandler):
    server: _JwksServer

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.path == "/.well-known/jwks.json":
            body, content_type = json.dumps(self.server.jwks).encode(), "application/json"
        elif self.path == "/garbage":
            body, content_type = b"<html>not json</html>", "text/html"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[_JwksServer]:
    jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
    server = _JwksServer({"keys": [jwk]})
    # A short poll interval keeps shutdown() (which waits for the next poll) fast.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def rs256(jwks_server: _JwksServer) -> RS256JwksVerifier:
    return RS256JwksVerifier(f"{jwks_server.base_url}/.well-known/jwks.json", ISSUER, AUDIENCE)


def _id_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "8f2c-user",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "token_use": "id",
        "auth_time": _now(),
        "iat": _now(),
        "exp": _now() + 3600,
        "email": "lea@acme.example",
        "email_verified": True,
        "cognito:groups": ["org-admin"],
        "custom:org_id": "org_acme",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _rs256(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str = KID) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_valid_cognito_id_token_is_accepted(
    rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    assert rs256.verify(_rs256(rsa_key, _id_claims())) == Principal(
        sub="8f2c-user",
        email="lea@acme.example",
        groups=frozenset({"org-admin"}),
        org_id="org_acme",
        email_verified=True,
    )


def test_signing_keys_are_fetched_once_and_cached(
    rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey, jwks_server: _JwksServer
) -> None:
    for sub in ("first", "second", "third"):
        assert rs256.verify(_rs256(rsa_key, _id_claims(sub=sub))).sub == sub

    assert jwks_server.requests == 1


def test_audience_is_not_checked_when_none_is_configured(
    jwks_server: _JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = RS256JwksVerifier(f"{jwks_server.base_url}/.well-known/jwks.json", ISSUER, None)

    assert verifier.verify(_rs256(rsa_key, _id_claims(aud="some-other-client"))).sub == "8f2c-user"


def test_wrong_issuer_is_rejected(rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = _rs256(rsa_key, _id_claims(iss="https://cognito-idp.eu-west-3.amazonaws.com/other"))

    with pytest.raises(AuthenticationError, match="issuer"):
        rs256.verify(token)


def test_missing_issuer_is_rejected(rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthenticationError, match="'iss'"):
        rs256.verify(_rs256(rsa_key, _id_claims(iss=None)))


def test_wrong_audience_is_rejected(rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthenticationError, match="audience"):
        rs256.verify(_rs256(rsa_key, _id_claims(aud="another-client")))


def test_missing_audience_is_rejected_when_one_is_configured(
    rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(AuthenticationError, match="'aud'"):
        rs256.verify(_rs256(rsa_key, _id_claims(aud=None)))


@pytest.mark.parametrize("token_use", ["access", "refresh", None])
def test_tokens_other_than_id_tokens_are_rejected(
    rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey, token_use: str | None
) -> None:
    with pytest.raises(AuthenticationError):
        rs256.verify(_rs256(rsa_key, _id_claims(token_use=token_use)))


def test_access_token_is_rejected_as_not_an_id_token(
    rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(AuthenticationError, match="not an ID token"):
        rs256.verify(_rs256(rsa_key, _id_claims(token_use="access")))


def test_expired_rs256_token_is_rejected(
    rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(AuthenticationError, match="expired"):
        rs256.verify(_rs256(rsa_key, _id_claims(exp=_now() - 3600, iat=_now() - 7200)))


def test_unknown_kid_is_rejected(rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(AuthenticationError, match="signing key is unknown"):
        rs256.verify(_rs256(rsa_key, _id_claims(), kid="rotated-away"))


def test_token_without_kid_is_rejected_without_fetching_keys(
    rs256: RS256JwksVerifier, rsa_key: rsa.RSAPrivateKey, jwks_server: _JwksServer
) -> None:
    token = jwt.encode(_id_claims(), rsa_key, algorithm="RS256")

    with pytest.raises(AuthenticationError, match="no key id"):
        rs256.verify(token)
    assert jwks_server.requests == 0


def test_token_signed_by_another_key_is_rejected(
    rs256: RS256JwksVerifier, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(AuthenticationError, match="signature is invalid"):
        rs256.verify(_rs256(other_rsa_key, _id_claims()))


def test_hs256_token_is_rejected_by_the_rs256_verifier_without_fetching_keys(
    rs256: RS256JwksVerifier, jwks_server: _JwksServer
) -> None:
    token = jwt.encode(_id_claims(), SECRET, algorithm="HS256", headers={"kid": KID})

    with pytest.raises(AuthenticationError, match="algorithm is not accepted"):
        rs256.verify(token)
    assert jwks_server.requests == 0


def test_alg_none_is_rejected_by_the_rs256_verifier(rs256: RS256JwksVerifier) -> None:
    token = f"{_segment({'alg': 'none', 'kid': KID})}.{_segment(_id_claims())}."

    with pytest.raises(AuthenticationError, match="algorithm is not accepted"):
        rs256.verify(token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_malformed_token_is_rejected_by_the_rs256_verifier(
    rs256: RS256JwksVerifier, token: str
) -> None:
    with pytest.raises(AuthenticationError, match="malformed"):
        rs256.verify(token)


def test_key_of_another_type_under_the_kid_is_rejected(
    jwks_server: _JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks_server.jwks = {"keys": [{"kty": "oct", "kid": KID, "k": _b64(b"k" * 32), "alg": "HS256"}]}
    verifier = RS256JwksVerifier(f"{jwks_server.base_url}/.well-known/jwks.json", ISSUER, None)

    with pytest.raises(AuthenticationError, match="signing key is unknown"):
        verifier.verify(_rs256(rsa_key, _id_claims()))


def test_empty_jwks_is_401(jwks_server: _JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    jwks_server.jwks = {"keys": []}
    verifier = RS256JwksVerifier(f"{jwks_server.base_url}/.well-known/jwks.json", ISSUER, None)

    with pytest.raises(AuthenticationError):
        verifier.verify(_rs256(rsa_key, _id_claims()))


def test_non_http_jwks_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="JWKS URL"):
        RS256JwksVerifier("file:///etc/passwd", ISSUER, AUDIENCE)


def test_jwks_server_down_is_401(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = RS256JwksVerifier(
        f"http://127.0.0.1:{_closed_port()}/.well-known/jwks.json", ISSUER, AUDIENCE
    )

    with pytest.raises(AuthenticationError, match="signing keys are unavailable"):
        verifier.verify(_rs256(rsa_key, _id_claims()))


def test_jwks_answering_something_else_than_json_is_401(
    jwks_server: _JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = RS256JwksVerifier(f"{jwks_server.base_url}/garbage", ISSUER, AUDIENCE)

    with pytest.raises(AuthenticationError, match="signing keys are unavailable"):
        verifier.verify(_rs256(rsa_key, _id_claims()))


def test_jwks_not_found_is_401(jwks_server: _JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = RS256JwksVerifier(f"{jwks_server.base_url}/missing", ISSUER, AUDIENCE)

    with pytest.raises(AuthenticationError, match="signing keys are unavailable"):
        verifier.verify(_rs256(rsa_key, _id_claims()))


def test_jwks_server_that_never_answers_times_out_as_401(rsa_key: rsa.RSAPrivateKey) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        # Listens (the kernel completes the handshake) but never accepts nor answers.
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/.well-known/jwks.json"
        verifier = RS256JwksVerifier(
            url, ISSUER, AUDIENCE, jwks_client=jwt.PyJWKClient(url, timeout=0.2)
        )

        with pytest.raises(AuthenticationError, match="signing keys are unavailable"):
            verifier.verify(_rs256(rsa_key, _id_claims()))


# --- build_verifier -------------------------------------------------------------------------


def test_build_verifier_gives_hs256_for_the_local_stage() -> None:
    verifier = build_verifier(JwtSettings(mode="hs256", hs256_secret=SECRET))

    assert isinstance(verifier, HS256Verifier)
    assert verifier.verify(mint_local_token(SECRET, "u")).sub == "u"


def test_build_verifier_gives_rs256_for_cognito(
    jwks_server: _JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    settings = JwtSettings(
        mode="rs256",
        jwks_url=f"{jwks_server.base_url}/.well-known/jwks.json",
        issuer=ISSUER,
        audience=AUDIENCE,
    )

    verifier = build_verifier(settings)

    assert isinstance(verifier, RS256JwksVerifier)
    assert verifier.verify(_rs256(rsa_key, _id_claims())).sub == "8f2c-user"


@pytest.mark.parametrize(
    "settings",
    [
        JwtSettings(mode="hs256"),
        JwtSettings(mode="rs256", issuer=ISSUER),
        JwtSettings(mode="rs256", jwks_url="https://example.org/jwks.json"),
    ],
)
def test_build_verifier_refuses_incomplete_settings(settings: JwtSettings) -> None:
    with pytest.raises(ConfigurationError, match="needs"):
        build_verifier(settings)


# --- scripts/mint_token.py -----------------------------------------------------------------------


def _run_token_script(*args: str, secret: str | None) -> str:
    env = {name: value for name, value in os.environ.items() if name != "CROWDACT_LOCAL_JWT_SECRET"}
    if secret is not None:
        env["CROWDACT_LOCAL_JWT_SECRET"] = secret
    result = subprocess.run(  # noqa: S603 - our interpreter, our script, arguments from the test
        [sys.executable, "scripts/mint_token.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_token_script_prints_an_admin_token_signed_with_the_env_secret() -> None:
    token = _run_token_script(
        "--role",
        "admin",
        "--sub",
        "ops-1",
        "--email",
        "ops@crowdact.local",
        "--name",
        "Ops",
        "--org-id",
        "org_9",
        "--ttl",
        "120",
        secret=SECRET,
    )

    assert HS256Verifier(SECRET).verify(token) == Principal(
        sub="ops-1",
        email="ops@crowdact.local",
        name="Ops",
        groups=frozenset({"admin"}),
        org_id="org_9",
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120


def test_token_script_defaults_to_a_participant_and_the_documented_secret() -> None:
    token = _run_token_script("--role", "participant", secret=None)

    assert HS256Verifier(LOCAL_JWT_SECRET_DEFAULT).verify(token) == Principal(
        sub="local-participant"
    )
    with pytest.raises(AuthenticationError, match="signature"):
        HS256Verifier(SECRET).verify(token)
