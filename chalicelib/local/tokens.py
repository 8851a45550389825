"""Mint HS256 tokens for the local stage (make token, the local stack banner, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

DEFAULT_TTL_SECONDS = 12 * 3600


def mint_local_token(
    secret: str,
    sub: str,
    *,
    groups: Sequence[str] = (),
    email: str | None = None,
    name: str | None = None,
    org_id: str | None = None,
    email_verified: bool = False,
    locale: str | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: datetime | None = None,
) -> str:
    """A Cognito-shaped ID token signed with the local secret, valid for `ttl_seconds`."""
    if not secret:
        raise ValueError("the local JWT secret must not be empty")
    if not sub:
        raise ValueError("sub must not be empty")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued_at = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "token_use": "id",
        "iat": issued_at,
        "exp": issued_at + timedelta(seconds=ttl_seconds),
    }
    # Cognito leaves out the claims a user does not have; so do we.
    if groups:
        claims["cognito:groups"] = list(groups)
    if email is not None:
        claims["email"] = email
        claims["email_verified"] = email_verified
    if name is not None:
        claims["name"] = name
    if org_id is not None:
        claims["custom:org_id"] = org_id
    if locale is not None:
        claims["locale"] = locale
    return jwt.encode(claims, secret, algorithm="HS256")
