"""Where the unsubscribe links' key comes from, and where the e-mails' links point."""

from __future__ import annotations

import pytest

from chalicelib.domain.follows import UnsubscribeSecretMissingError
from chalicelib.notify.update_email import (
    MissingSecret,
    SecretsManagerSecret,
    StaticSecret,
    WebLinks,
    unsubscribe_secret,
)
from chalicelib.settings import LOCAL_UNSUBSCRIBE_SECRET_DEFAULT, Settings

DEPLOYED = {
    "CROWDACT_STAGE": "prod",
    "CROWDACT_JWKS_URL": "https://cognito.example/jwks.json",
    "CROWDACT_JWT_ISSUER": "https://cognito.example",
    "CROWDACT_JWT_AUDIENCE": "client",
}


def test_the_local_stage_uses_the_documented_default_or_its_own() -> None:
    local = Settings.from_env({})
    assert local.local_unsubscribe_secret == LOCAL_UNSUBSCRIBE_SECRET_DEFAULT
    secret = unsubscribe_secret(local)
    assert isinstance(secret, StaticSecret)
    assert secret.get() == LOCAL_UNSUBSCRIBE_SECRET_DEFAULT.encode()
    own = Settings.from_env({"CROWDACT_LOCAL_UNSUBSCRIBE_SECRET": "mine"})
    assert unsubscribe_secret(own).get() == b"mine"


def test_a_deployed_stage_never_uses_a_local_key() -> None:
    deployed = Settings.from_env({**DEPLOYED, "CROWDACT_LOCAL_UNSUBSCRIBE_SECRET": "leaked"})
    assert deployed.local_unsubscribe_secret is None
    missing = unsubscribe_secret(deployed)
    assert isinstance(missing, MissingSecret)
    with pytest.raises(UnsubscribeSecretMissingError):
        missing.get()
    arn = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:crowdact-prod-unsubscribe-AbCdEf"
    configured = Settings.from_env({**DEPLOYED, "CROWDACT_UNSUBSCRIBE_SECRET_ARN": arn})
    assert isinstance(unsubscribe_secret(configured), SecretsManagerSecret)


def test_links_point_at_the_web_client() -> None:
    assert Settings.from_env({"PORT": "8123"}).web_url == "http://127.0.0.1:8123"
    origin = {**DEPLOYED, "CROWDACT_ALLOWED_ORIGIN": "https://d1.cloudfront.net"}
    assert Settings.from_env(origin).web_url == "https://d1.cloudfront.net"
    links = WebLinks("https://d1.cloudfront.net/")
    assert links.challenge("ch_1") == "https://d1.cloudfront.net/#/challenges/ch_1"
    assert links.unsubscribe("a.b") == "https://d1.cloudfront.net/#/unsubscribe?token=a.b"
