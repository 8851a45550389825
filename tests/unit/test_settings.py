"""Settings: a stage's environment either describes a safe configuration or is refused."""

from __future__ import annotations

import pytest

from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, ConfigurationError, Settings

COGNITO = {
    "CROWDACT_STAGE": "prod",
    "CROWDACT_JWKS_URL": "https://cognito-idp.eu-west-3.amazonaws.com/pool/.well-known/jwks.json",
    "CROWDACT_JWT_ISSUER": "https://cognito-idp.eu-west-3.amazonaws.com/pool",
    "CROWDACT_JWT_AUDIENCE": "app-client-id",
}


def test_the_local_stage_uses_hs256_with_the_documented_default() -> None:
    settings = Settings.from_env({})
    assert settings.stage == "local"
    assert settings.jwt.mode == "hs256"
    assert settings.jwt.hs256_secret == LOCAL_JWT_SECRET_DEFAULT
    assert settings.table_name("pledges") == "crowdact-local-pledges"


def test_other_stages_use_cognito_rs256() -> None:
    settings = Settings.from_env(COGNITO)
    assert settings.jwt.mode == "rs256"
    assert settings.jwt.audience == "app-client-id"


@pytest.mark.parametrize(
    "missing", ["CROWDACT_JWKS_URL", "CROWDACT_JWT_ISSUER", "CROWDACT_JWT_AUDIENCE"]
)
def test_rs256_needs_jwks_issuer_and_audience(missing: str) -> None:
    env = {k: v for k, v in COGNITO.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        Settings.from_env(env)


def test_hs256_is_refused_outside_the_local_stage() -> None:
    with pytest.raises(ConfigurationError, match="local stage"):
        Settings.from_env({"CROWDACT_STAGE": "prod", "CROWDACT_JWT_MODE": "hs256"})


def test_hs256_is_refused_in_a_lambda_running_in_aws() -> None:
    in_lambda = {"AWS_LAMBDA_FUNCTION_NAME": "crowdact-local"}
    with pytest.raises(ConfigurationError, match="Lambda"):
        Settings.from_env(in_lambda)
    # The same handler driven by the local stack (an embedded AWS endpoint) is fine.
    assert Settings.from_env({**in_lambda, "CROWDACT_AWS_ENDPOINT_URL": "http://127.0.0.1:1"})


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_counter_shards_must_be_a_positive_integer(value: str) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env({"CROWDACT_COUNTER_SHARDS": value})
