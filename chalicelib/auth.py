"""Bearer-token authentication: JWT verification (HS256 locally, Cognito RS256 in production)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import jwt
from jwt.exceptions import InvalidSubjectError

from chalicelib.domain.errors import AuthenticationError, PermissionDeniedError
from chalicelib.domain.model import Principal
from chalicelib.settings import ConfigurationError, JwtSettings

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 5
JWKS_TIMEOUT_SECONDS = 3.0
JWKS_CACHE_SECONDS = 300.0
MAX_SUB_LENGTH = 256
# Far above any real Cognito ID token; stops us parsing arbitrarily large input.
MAX_TOKEN_LENGTH = 16 * 1024

# Most specific first: InvalidSignatureError is a DecodeError, every one is an InvalidTokenError.
_JWT_ERROR_MESSAGES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidSignatureError, "the token signature is invalid"),
    (jwt.InvalidAlgorithmError, "the token algorithm is not accepted"),
    (jwt.InvalidIssuerError, "the token issuer is not accepted"),
    (jwt.InvalidAudienceError, "the token audience is not accepted"),
    (jwt.InvalidIssuedAtError, "the token issue time is invalid"),
    (InvalidSubjectError, "the token subject is invalid"),
    (jwt.DecodeError, "the token is malformed"),
)


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """Return the token's principal, or raise AuthenticationError."""
        ...


class HS256Verifier:
    """Local stage: tokens signed with a shared secret, HS256 only."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ConfigurationError("the HS256 secret must not be empty")
        self._secret = secret

    def verify(self, token: str) -> Principal:
        _check_size(token)
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                # Locally there is no audience to check, and any JWT library may add an `aud`.
                options={"require": ["exp", "sub"], "verify_aud": False},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise _authentication_error(exc) from None
        return principal_from_claims(claims)


class RS256JwksVerifier:
    """Production: Cognito ID tokens, RS256, keys from the user pool's JWKS chosen by `kid`."""

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str | None,
        *,
        jwks_client: jwt.PyJWKClient | None = None,
    ) -> None:
        if not issuer:
            raise ConfigurationError("the RS256 verifier needs an issuer")
        self._issuer = issuer
        self._audience = audience or None
        if jwks_client is None:
            try:
                jwks_client = jwt.PyJWKClient(
                    jwks_url,
                    cache_keys=True,
                    lifespan=JWKS_CACHE_SECONDS,
                    timeout=JWKS_TIMEOUT_SECONDS,
                )
            except jwt.PyJWKClientError as exc:
                raise ConfigurationError(f"unusable JWKS URL: {exc}") from exc
        self._jwks = jwks_client

    def verify(self, token: str) -> Principal:
        _check_size(token)
        kid = self._key_id(token)
        signing_key = self._signing_key(kid)
        required = ["exp", "iss", "sub", "token_use"]
        if self._audience is not None:
            required.append("aud")
        try:
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": required, "verify_aud": self._audience is not None},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise _authentication_error(exc) from None
        # Access tokens carry no profile claims and no `aud`; only ID tokens describe a person.
        if claims.get("token_use") != "id":
            raise AuthenticationError("the token is not an ID token")
        return principal_from_claims(claims)

    @staticmethod
    def _key_id(token: str) -> str:
        # Checked before the JWKS lookup so that junk never costs a network call.
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("the token is malformed") from None
        if header.get("alg") != "RS256":
            raise AuthenticationError("the token algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("the token has no key id")
        return kid

    def _signing_key(self, kid: str) -> jwt.PyJWK:
        try:
            signing_key = self._jwks.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            logger.warning("JWKS fetch failed: %s", exc)
            raise AuthenticationError("the token signing keys are unavailable") from None
        except jwt.PyJWKClientError:
            raise AuthenticationError("the token signing key is unknown") from None
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            # PyJWT does not wrap a non-JSON body or a connection dropped mid-read.
            logger.warning("JWKS unusable: %s", exc)
            raise AuthenticationError("the token signing keys are unavailable") from None
        if signing_key.algorithm_name != "RS256":
            raise AuthenticationError("the token signing key is unknown")
        return signing_key


def build_verifier(settings: JwtSettings) -> TokenVerifier:
    """The verifier the stage's JWT settings describe."""
    if settings.mode == "hs256":
        if not settings.hs256_secret:
            raise ConfigurationError("HS256 mode needs a secret")
        return HS256Verifier(settings.hs256_secret)
    if not settings.jwks_url or not settings.issuer:
        raise ConfigurationError("RS256 mode needs a JWKS URL and an issuer")
    return RS256JwksVerifier(settings.jwks_url, settings.issuer, settings.audience)


class Authenticator:
    """Turns an `Authorization` header into a principal, and checks roles."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def authenticate(self, authorization_header: str | None, *, required: bool) -> Principal | None:
        if authorization_header is None:
            if required:
                raise AuthenticationError("missing bearer token")
            return None
        # A token that is sent must be valid even where none is needed: 401, never anonymous.
        parts = authorization_header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
        return self._verifier.verify(parts[1])

    @staticmethod
    def require_admin(principal: Principal) -> None:
        if not principal.is_admin:
            raise PermissionDeniedError("this operation needs the admin role")


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Map verified (Cognito-named) claims onto a Principal; ill-typed claims are rejected."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB_LENGTH:
        raise AuthenticationError("the token subject is invalid")
    return Principal(
        sub=sub,
        email=_optional_str(claims, "email"),
        name=_optional_str(claims, "name"),
        groups=_groups(claims),
        org_id=_optional_str(claims, "custom:org_id"),
        # Cognito sends a boolean, but attributes set through some admin paths arrive as "true".
        email_verified=_email_verified(claims.get("email_verified")),
        locale=_optional_str(claims, "locale"),
    )


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AuthenticationError(f"the token claim {name!r} is invalid")
    return value


def _email_verified(value: object) -> bool:
    # `is True`, not `==`: the number 1 is not a verified e-mail address.
    return value is True or value == "true"


def _groups(claims: Mapping[str, Any]) -> frozenset[str]:
    value = claims.get("cognito:groups")
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise AuthenticationError("the token claim 'cognito:groups' is invalid")
    return frozenset(value)


def _check_size(token: str) -> None:
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationError("the token is too large")


def _authentication_error(exc: jwt.PyJWTError) -> AuthenticationError:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        # The claim name comes from our own `require` list, so it is safe to echo.
        return AuthenticationError(f"the token has no {exc.claim!r} claim")
    for error_type, message in _JWT_ERROR_MESSAGES:
        if isinstance(exc, error_type):
            return AuthenticationError(message)
    return AuthenticationError("the token is invalid")
