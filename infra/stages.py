"""What differs between the deployed stages (`dev`, `prod`), and how context overrides it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

APP_NAME = "crowdact"
DEFAULT_REGION = "eu-west-3"
# Placeholders that synthesize (offline, in tests) but must be replaced before a real deploy:
# `python -m infra.app --context crowdact:prod:mail_domain=mail.example.org`.
PLACEHOLDER_MAIL_DOMAIN_SUFFIX = ".crowdact.example"


@dataclass(frozen=True)
class TriggerSettings:
    """Failure handling of the stream triggers (the rest comes from `@app.on_dynamodb_record`)."""

    # Lambda's default is to retry a failing batch until its records expire (24 h), blocking
    # the shard meanwhile: bounded retries, then the record's metadata goes to the DLQ.
    max_retry_attempts: int = 5
    max_record_age_seconds: int = 3600
    # An iterator older than this means the trigger is falling behind (contract: totals in 2 s).
    iterator_age_alarm_ms: int = 60_000


@dataclass(frozen=True)
class StageConfig:
    name: str
    retain_data: bool
    mail_domain: str
    api_rate_limit: float
    api_burst_limit: int
    waf_enabled: bool
    waf_requests_per_5_minutes_per_ip: int
    log_retention_days: int
    # Pledges and reports per caller (bearer token) and minute, over the whole fleet; the
    # app's own per-container limit (CROWDACT_RATE_LIMIT_*) answers with Retry-After first.
    waf_writes_per_minute_per_token: int = 60
    region: str = DEFAULT_REGION
    account: str | None = None
    alarm_email: str | None = None
    mail_from_local_part: str = "notifications"
    # The web client's map tiles, e.g. `https://{s}.tile.example.org/{z}/{x}/{y}.png`: its host
    # is the only image source the client's CSP allows besides the site (None: no tiles).
    tile_url: str | None = None
    # The API's origin as the client sees it (a custom domain, or the execute-api URL once
    # deployed). Without it the CSP's connect-src allows the region's execute-api hosts: the
    # generated id cannot be named, the API already depends on the distribution (CORS).
    api_origin: str | None = None
    # Per stream trigger (by function name); others get TriggerSettings().
    trigger_settings: Mapping[str, TriggerSettings] = field(
        default_factory=lambda: {
            # E-mail may lag a little; totals may not (aggregate_progress keeps the default).
            "notify_milestones": TriggerSettings(iterator_age_alarm_ms=300_000),
            "track_campaigns": TriggerSettings(iterator_age_alarm_ms=300_000),
            "count_areas": TriggerSettings(iterator_age_alarm_ms=300_000),
            "count_teams": TriggerSettings(iterator_age_alarm_ms=300_000),
        }
    )

    def trigger(self, function_name: str) -> TriggerSettings:
        return self.trigger_settings.get(function_name, TriggerSettings())

    @property
    def stack_name(self) -> str:
        return f"{APP_NAME}-{self.name}"

    @property
    def table_prefix(self) -> str:
        # The same rule as chalicelib.settings.Settings.table_prefix's default.
        return f"{APP_NAME}-{self.name}-"

    def resource_name(self, name: str) -> str:
        return f"{APP_NAME}-{self.name}-{name}"

    @property
    def mail_from(self) -> str:
        return f"{APP_NAME} <{self.mail_from_local_part}@{self.mail_domain}>"

    @property
    def mail_domain_is_placeholder(self) -> bool:
        return self.mail_domain.endswith(PLACEHOLDER_MAIL_DOMAIN_SUFFIX)


STAGES: Mapping[str, StageConfig] = {
    "dev": StageConfig(
        name="dev",
        retain_data=False,
        mail_domain="dev" + PLACEHOLDER_MAIL_DOMAIN_SUFFIX,
        api_rate_limit=50,
        api_burst_limit=100,
        waf_enabled=True,
        waf_requests_per_5_minutes_per_ip=1_000,
        log_retention_days=14,
    ),
    "prod": StageConfig(
        name="prod",
        retain_data=True,
        mail_domain="prod" + PLACEHOLDER_MAIL_DOMAIN_SUFFIX,
        api_rate_limit=1_000,
        api_burst_limit=2_000,
        waf_enabled=True,
        # Whole offices pledge from behind one NAT address (employee challenges): generous.
        waf_requests_per_5_minutes_per_ip=6_000,
        log_retention_days=90,
    ),
}

# Context keys a deployment may set, per stage: `crowdact:<stage>:<key>`.
_OVERRIDABLE: Mapping[str, type] = {
    "mail_domain": str,
    "account": str,
    "region": str,
    "alarm_email": str,
    "api_rate_limit": float,
    "api_burst_limit": int,
    "waf_enabled": bool,
    "waf_requests_per_5_minutes_per_ip": int,
    "waf_writes_per_minute_per_token": int,
    "tile_url": str,
    "api_origin": str,
}


def stage_config(name: str, context: Mapping[str, Any] | None = None) -> StageConfig:
    """The stage's defaults, with `crowdact:<stage>:<key>` context values applied."""
    try:
        config = STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; expected one of {sorted(STAGES)}") from None
    overrides: dict[str, Any] = {}
    for key, kind in _OVERRIDABLE.items():
        raw = (context or {}).get(f"{APP_NAME}:{name}:{key}")
        if raw is not None:
            overrides[key] = _coerce(raw, kind, key)
    return dataclasses.replace(config, **overrides)


def _coerce(raw: Any, kind: type, key: str) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise ValueError(f"context {key} must be true or false, got {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"context {key} must be a {kind.__name__}, got {raw!r}") from exc
