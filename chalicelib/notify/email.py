"""E-mail: render notifications from Jinja2 templates and send them through SES."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.aws_clients import create_client
from chalicelib.domain.model import (
    Challenge,
    Delivery,
    EventType,
    Metric,
    Milestone,
    RecipientRole,
)
from chalicelib.domain.votes import BeneficiaryChoice
from chalicelib.services.ports import EmailMessage, MailerError
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"
# SES errors that sending the same message again cannot cure; any other (throttling, an
# outage, a paused account) is worth retrying.
PERMANENT_SES_ERRORS = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "ConfigurationSetDoesNotExistException",
        "InvalidParameterValue",
    }
)
LOCALES = ("fr", "en")
_ROLE_LABELS = {
    "fr": {
        "sponsor": "parrain",
        "beneficiary": "bénéficiaire",
        "participant": "participant",
        "candidate": "candidat",
    },
    "en": {
        "sponsor": "sponsor",
        "beneficiary": "beneficiary",
        "participant": "participant",
        "candidate": "candidate",
    },
}


NARROW_NO_BREAK_SPACE = "\u202f"


def _number(value: int | float, locale: str) -> str:
    """5,234.5 in English; 5 234,5 in French (a narrow no-break space groups thousands)."""
    text = f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"
    if locale == "fr":
        text = text.replace(",", NARROW_NO_BREAK_SPACE).replace(".", ",")
    return text


# "participants" is spelt the same in French and English.
def _figure(challenge: Challenge, milestone: Milestone, locale: str) -> str:
    if challenge.target.metric is Metric.QUANTITY:
        quantity = _number(milestone.totals.quantity, locale)
        return f"{quantity} {challenge.target.unit or ''}".strip()
    return f"{_number(milestone.totals.participants, locale)} participants"


def _other_figure(challenge: Challenge, milestone: Milestone, locale: str) -> str | None:
    """The figure the target does not count: participants of a quantity challenge, or what
    the participants of a headcount challenge reported (km cycled), if it has a unit."""
    if challenge.target.metric is Metric.QUANTITY:
        return f"{_number(milestone.totals.participants, locale)} participants"
    if challenge.target.unit:
        return f"{_number(milestone.totals.quantity, locale)} {challenge.target.unit}"
    return None


def _percent(challenge: Challenge, milestone: Milestone, locale: str) -> str:
    counted = float(challenge.counted_value(milestone.totals))
    return _number(round(100.0 * counted / float(challenge.target.value), 1), locale)


def _target(challenge: Challenge, locale: str) -> str:
    unit = challenge.target.unit if challenge.target.metric is Metric.QUANTITY else "participants"
    return f"{_number(challenge.target.value, locale)} {unit or ''}".strip()


class JinjaEmailRenderer:
    def __init__(self, default_locale: str = "fr") -> None:
        self._default_locale = default_locale if default_locale in LOCALES else "fr"

    @functools.cached_property
    def _env(self) -> Environment:
        # Jinja2 is loaded by the first e-mail, so only the notifier's container pays for it.
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        return Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def prepare(self) -> None:
        """Compile every template now (Jinja keeps them) rather than at the first e-mail."""
        for name in self._env.list_templates(extensions=["j2"]):
            self._env.get_template(name)

    def render(
        self,
        milestone: Milestone,
        challenge: Challenge,
        delivery: Delivery,
        locale: str | None = None,
        recipient_name: str | None = None,
    ) -> EmailMessage:
        """`locale`: a supported language (else the default); `recipient_name`: whom to
        greet, for a participant (their display name; None: a greeting without a name)."""
        locale = locale if locale in LOCALES else self._default_locale
        role = delivery.recipient_role.value
        base = f"{locale}/{milestone.event.value}"
        if delivery.recipient_role is RecipientRole.PARTICIPANT:
            # A participant made it happen: their e-mail reads differently (own templates).
            base = f"{locale}/participant/{milestone.event.value}"
        elif delivery.recipient_role is RecipientRole.SPONSOR:
            recipient_name = challenge.sponsor.name
        elif delivery.recipient_role is RecipientRole.CANDIDATE:
            candidate = _choice(challenge).candidate(delivery.recipient_key)
            recipient_name = candidate.name if candidate else None
        else:
            recipient_name = challenge.beneficiary.name
        context: dict[str, Any] = {
            "challenge": challenge,
            "role": role,
            "role_label": _ROLE_LABELS[locale].get(role, role),
            "recipient_name": recipient_name,
            "figure": _figure(challenge, milestone, locale),
            "target": _target(challenge, locale),
            "other_figure": _other_figure(challenge, milestone, locale),
            "percent": _percent(challenge, milestone, locale),
            "reached": milestone.reached,
            "occurred_on": milestone.occurred_at.strftime("%Y-%m-%d %H:%M UTC"),
        }
        if milestone.event is EventType.VOTE_CLOSED:
            context.update(_vote_context(challenge, delivery, locale))
        return EmailMessage(
            to=delivery.to,
            subject=self._env.get_template(f"{base}.subject.j2").render(context).strip(),
            text=self._env.get_template(f"{base}.txt.j2").render(context),
            html=self._env.get_template(f"{base}.html.j2").render(context),
        )


def _choice(challenge: Challenge) -> BeneficiaryChoice:
    if challenge.beneficiary_choice is None:
        raise ValueError(f"challenge {challenge.id} has no beneficiary vote")
    return challenge.beneficiary_choice


def _vote_context(challenge: Challenge, delivery: Delivery, locale: str) -> dict[str, Any]:
    """A closed vote's winner and results, most votes first."""
    choice = _choice(challenge)
    winner = choice.winner
    if winner is None or choice.closed_at is None:
        raise ValueError(f"the vote of challenge {challenge.id} has no result yet")
    tallies = choice.final_tallies or {}
    # Most votes first; `sorted` keeps the listed order among equals, as the tie-break does.
    ranked = sorted(choice.candidates, key=lambda c: -tallies.get(c.id, 0))
    results = [
        {"name": c.name, "votes": _number(tallies.get(c.id, 0), locale), "winner": c == winner}
        for c in ranked
    ]
    return {
        "winner": winner,
        "results": results,
        "is_winner": delivery.recipient_key == winner.id,
        "closed_on": choice.closed_at.strftime("%Y-%m-%d %H:%M UTC"),
    }


class LazySesClient:
    """Creates the SES client on first use (only the notifier sends e-mail), with timeouts
    short enough that a send always ends well within the notifier's Lambda timeout."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None

    def send_email(self, **kwargs: Any) -> Any:
        if self._client is None:
            from botocore.config import Config

            self._client = create_client(
                "ses",
                region=self._settings.region,
                endpoint_url=self._settings.aws_endpoint_url,
                config=Config(
                    connect_timeout=3,
                    read_timeout=8,
                    # One call per try: the notifier retries, and counts each attempt.
                    retries={"mode": "standard", "total_max_attempts": 1},
                ),
            )
        return self._client.send_email(**kwargs)


class SesMailer:
    """Sends through SES (moto's SES locally); the sender must be a verified identity."""

    def __init__(self, client: Any, sender: str, configuration_set: str | None = None) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set

    def send(self, message: EmailMessage) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {
            "Source": self._sender,
            "Destination": {"ToAddresses": [message.to]},
            "Message": {
                "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": message.text, "Charset": "UTF-8"},
                    "Html": {"Data": message.html, "Charset": "UTF-8"},
                },
            },
        }
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**kwargs)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            raise MailerError(
                f"SES refused the message: {error}", retryable=code not in PERMANENT_SES_ERRORS
            ) from error
        except BotoCoreError as error:  # connection errors and timeouts
            raise MailerError(f"SES could not be reached: {error}") from error
        return str(response["MessageId"])
