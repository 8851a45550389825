"""Update e-mails: render them (Jinja2 templates), the links they carry, and the key that
signs their unsubscribe links (the local default, or a Secrets Manager secret in AWS)."""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chalicelib.aws_clients import create_client
from chalicelib.domain.follows import ChallengeUpdate, UnsubscribeSecretMissingError
from chalicelib.domain.model import Challenge
from chalicelib.notify.email import LOCALES, TEMPLATES
from chalicelib.services.ports import EmailMessage
from chalicelib.services.update_mail import UpdateLinks
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from jinja2 import Environment


class UpdateEmailRenderer:
    def __init__(self, default_locale: str = "fr") -> None:
        self._default_locale = default_locale if default_locale in LOCALES else "fr"

    @functools.cached_property
    def _env(self) -> Environment:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        return Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
        )

    def render(
        self,
        update: ChallengeUpdate,
        challenge: Challenge,
        to: str,
        links: UpdateLinks,
        locale: str | None,
    ) -> EmailMessage:
        """In the recipient's language (the update's own text as the admin wrote it)."""
        locale = locale if locale in LOCALES else self._default_locale
        context: dict[str, Any] = {"update": update, "challenge": challenge, "links": links}
        base = f"{locale}/update/update"
        return EmailMessage(
            to=to,
            subject=self._env.get_template(f"{base}.subject.j2").render(context).strip(),
            text=self._env.get_template(f"{base}.txt.j2").render(context),
            html=self._env.get_template(f"{base}.html.j2").render(context),
        )


class WebLinks:
    """Links into the web client (its hash routes)."""

    def __init__(self, web_url: str) -> None:
        self._base = web_url.rstrip("/")

    def challenge(self, challenge_id: str) -> str:
        return f"{self._base}/#/challenges/{quote(challenge_id, safe='')}"

    def proposal(self, proposal_id: str) -> str:
        return f"{self._base}/#/proposals/{quote(proposal_id, safe='')}"

    def unsubscribe(self, token: str) -> str:
        return f"{self._base}/#/unsubscribe?token={quote(token, safe='')}"


class StaticSecret:
    def __init__(self, value: str) -> None:
        if not value:
            raise UnsubscribeSecretMissingError("the unsubscribe secret must not be empty")
        self._value = value.encode()

    def get(self) -> bytes:
        return self._value


class SecretsManagerSecret:
    """The secret's value, read from Secrets Manager on first use and kept by the container
    (rotating it would void the links already sent: it is never rotated)."""

    def __init__(self, settings: Settings, arn: str) -> None:
        self._settings = settings
        self._arn = arn
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def get(self) -> bytes:
        with self._lock:
            if self._value is None:
                client = create_client(
                    "secretsmanager",
                    region=self._settings.region,
                    endpoint_url=self._settings.aws_endpoint_url,
                )
                value = str(client.get_secret_value(SecretId=self._arn).get("SecretString") or "")
                if not value:
                    raise UnsubscribeSecretMissingError(f"the secret {self._arn} is empty")
                self._value = value.encode()
            return self._value


class MissingSecret:
    """A stage deployed without the secret: unsubscribe links cannot be made or checked."""

    def get(self) -> bytes:
        raise UnsubscribeSecretMissingError(
            "CROWDACT_UNSUBSCRIBE_SECRET_ARN is not set: no unsubscribe link can be signed"
        )


def unsubscribe_secret(settings: Settings) -> StaticSecret | SecretsManagerSecret | MissingSecret:
    if settings.unsubscribe_secret_arn:
        return SecretsManagerSecret(settings, settings.unsubscribe_secret_arn)
    if settings.local_unsubscribe_secret:
        return StaticSecret(settings.local_unsubscribe_secret)
    return MissingSecret()
