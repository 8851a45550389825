"""Per-stage configuration, read once from the environment."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

LOCAL_JWT_SECRET_DEFAULT = "crowdact-local-development-only-secret"  # noqa: S105 - documented local default

# Signs the unsubscribe links of update e-mails in the local stage only; in AWS the key is a
# generated Secrets Manager secret (infra/follows.py) named by CROWDACT_UNSUBSCRIBE_SECRET_ARN.
LOCAL_UNSUBSCRIBE_SECRET_DEFAULT = "crowdact-local-unsubscribe-links-only"  # noqa: S105 - documented local default

JwtMode = Literal["hs256", "rs256"]


LOCAL_STAGE = "local"
# A fan-out chunk must finish well within the notifier's 30 s Lambda timeout.
MAX_PARTICIPANT_EMAIL_CHUNK = 500


class ConfigurationError(Exception):
    """The environment describes a stage that cannot run safely."""


@dataclass(frozen=True)
class JwtSettings:
    mode: JwtMode
    hs256_secret: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_prefix: str
    jwt: JwtSettings
    mail_from: str
    ses_configuration_set: str | None = None
    aws_endpoint_url: str | None = None
    counter_shards: int = 32
    notification_max_attempts: int = 5
    # How stale a challenge the pledge path may read (per container; 0: no cache).
    challenge_cache_ttl_seconds: float = 1.0
    # How long a container keeps an open vote's live tallies (every watcher polls them).
    vote_tallies_ttl_seconds: float = 2.0
    # How long a container keeps a leaderboard's figures (every watcher polls them).
    leaderboard_ttl_seconds: float = 5.0
    # Campaign counts move only when someone joins or leaves a campaign, and a campaign
    # page sums one set of shards per audience combination: fewer shards than challenges.
    campaign_counter_shards: int = 8
    notification_tries_per_invocation: int = 3
    # Participants one notifier invocation e-mails at most (one fan-out chunk): at SES's
    # usual 50-100 ms a send, well within the notifier's 30 s.
    participant_email_chunk: int = 100
    max_body_bytes: int = 64 * 1024
    # Per participant and container (docs/decisions.md); the WAF bounds the whole fleet.
    pledges_per_minute: int = 60
    reports_per_minute: int = 60
    # The sponsor's report counts days in this IANA time zone (its sponsors are French).
    report_time_zone: str = "Europe/Paris"
    # Unsubscribe links: the local stage's key, or (in AWS) the secret that holds it.
    local_unsubscribe_secret: str | None = None
    unsubscribe_secret_arn: str | None = None
    # Where the web client is: the links in update e-mails point at its pages.
    web_url: str = "http://127.0.0.1:8000"

    def table_name(self, name: str) -> str:
        return f"{self.table_prefix}{name}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = env.get("CROWDACT_STAGE", LOCAL_STAGE)
        return cls(
            stage=stage,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "eu-west-3",
            table_prefix=env.get("CROWDACT_TABLE_PREFIX", f"crowdact-{stage}-"),
            jwt=_jwt_settings(stage, env),
            mail_from=env.get("CROWDACT_MAIL_FROM", "crowdact <notifications@crowdact.local>"),
            ses_configuration_set=env.get("CROWDACT_SES_CONFIGURATION_SET") or None,
            aws_endpoint_url=env.get("CROWDACT_AWS_ENDPOINT_URL") or None,
            counter_shards=_positive_int(env, "CROWDACT_COUNTER_SHARDS", 32),
            notification_max_attempts=_positive_int(env, "CROWDACT_NOTIFICATION_MAX_ATTEMPTS", 5),
            challenge_cache_ttl_seconds=_non_negative_float(
                env, "CROWDACT_CHALLENGE_CACHE_TTL_SECONDS", 1.0
            ),
            vote_tallies_ttl_seconds=_non_negative_float(
                env, "CROWDACT_VOTE_TALLIES_TTL_SECONDS", 2.0
            ),
            leaderboard_ttl_seconds=_non_negative_float(
                env, "CROWDACT_LEADERBOARD_TTL_SECONDS", 5.0
            ),
            campaign_counter_shards=_positive_int(env, "CROWDACT_CAMPAIGN_COUNTER_SHARDS", 8),
            notification_tries_per_invocation=_positive_int(
                env, "CROWDACT_NOTIFICATION_TRIES_PER_INVOCATION", 3
            ),
            participant_email_chunk=_positive_int(
                env, "CROWDACT_PARTICIPANT_EMAIL_CHUNK", 100, maximum=MAX_PARTICIPANT_EMAIL_CHUNK
            ),
            pledges_per_minute=_positive_int(env, "CROWDACT_PLEDGES_PER_MINUTE", 60),
            reports_per_minute=_positive_int(env, "CROWDACT_REPORTS_PER_MINUTE", 60),
            report_time_zone=_time_zone(env, "CROWDACT_REPORT_TIME_ZONE", "Europe/Paris"),
            local_unsubscribe_secret=(
                env.get("CROWDACT_LOCAL_UNSUBSCRIBE_SECRET") or LOCAL_UNSUBSCRIBE_SECRET_DEFAULT
            )
            if stage == LOCAL_STAGE
            else None,
            unsubscribe_secret_arn=env.get("CROWDACT_UNSUBSCRIBE_SECRET_ARN") or None,
            web_url=_web_url(env),
        )


def _web_url(env: Mapping[str, str]) -> str:
    """The web client's origin: set, else the origin the API answers CORS for (the same
    CloudFront URL in AWS), else the local stack's own address."""
    url = env.get("CROWDACT_WEB_URL") or env.get("CROWDACT_ALLOWED_ORIGIN") or ""
    if url.startswith(("https://", "http://")):
        return url.rstrip("/")
    return f"http://127.0.0.1:{env.get('PORT') or 8000}"


def _time_zone(env: Mapping[str, str], name: str, default: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = env.get(name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"{name} must be an IANA time zone, got {value!r}") from exc
    return value


def _non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{name} must be zero or more, got {raw!r}")
    return value


def _positive_int(
    env: Mapping[str, str], name: str, default: int, *, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value < 1:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}, got {value}")
    return value


def _jwt_settings(stage: str, env: Mapping[str, str]) -> JwtSettings:
    mode = env.get("CROWDACT_JWT_MODE", "hs256" if stage == LOCAL_STAGE else "rs256")
    if mode == "hs256":
        # A published secret would let anyone mint admin tokens: never in AWS.
        if stage != LOCAL_STAGE:
            raise ConfigurationError("HS256 tokens are only accepted in the local stage")
        if env.get("AWS_LAMBDA_FUNCTION_NAME") and not env.get("CROWDACT_AWS_ENDPOINT_URL"):
            raise ConfigurationError("HS256 tokens are refused in a Lambda running in AWS")
        return JwtSettings(
            mode="hs256",
            hs256_secret=env.get("CROWDACT_LOCAL_JWT_SECRET") or LOCAL_JWT_SECRET_DEFAULT,
        )
    if mode == "rs256":
        jwks_url = env.get("CROWDACT_JWKS_URL")
        issuer = env.get("CROWDACT_JWT_ISSUER")
        audience = env.get("CROWDACT_JWT_AUDIENCE")
        if not jwks_url or not issuer or not audience:
            # The audience (the app client id) too: other clients of the pool are not ours.
            raise ConfigurationError(
                "RS256 needs CROWDACT_JWKS_URL, CROWDACT_JWT_ISSUER and CROWDACT_JWT_AUDIENCE"
            )
        return JwtSettings(mode="rs256", jwks_url=jwks_url, issuer=issuer, audience=audience)
    raise ConfigurationError(f"unknown CROWDACT_JWT_MODE {mode!r}")
