"""JinjaEmailRenderer: what the sponsor and the beneficiary read when a challenge is reached."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Delivery,
    EventType,
    Metric,
    Milestone,
    Target,
    Totals,
    Visibility,
)
from chalicelib.notify.email import JinjaEmailRenderer
from chalicelib.services.notifications import milestone_recipients
from tests.unit.support import BENEFICIARY, REWARD, SPONSOR

OCCURRED_AT = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


def challenge(**overrides: object) -> Challenge:
    base = Challenge(
        id="ch_0042",
        title="Cycle to work",
        action="I cycle to work at least once a week",
        description="",
        target=Target(Metric.PARTICIPANTS, 200),
        sponsor=SPONSOR,
        beneficiary=BENEFICIARY,
        reward=REWARD,
        status=ChallengeStatus.LIVE,
        visibility=Visibility.PUBLIC,
        created_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    return base.with_changes(**overrides)


def reached(ch: Challenge, totals: Totals, event: EventType = EventType.REACHED) -> Milestone:
    return Milestone(ch.id, event, OCCURRED_AT, totals, reached=True)


def deliveries(ch: Challenge) -> tuple[Delivery, Delivery]:
    sponsor, beneficiary = milestone_recipients(reached(ch, Totals()), ch)
    return sponsor, beneficiary


@pytest.fixture
def renderer() -> JinjaEmailRenderer:
    return JinjaEmailRenderer()


def test_french_is_the_default(renderer: JinjaEmailRenderer) -> None:
    ch = challenge()
    sponsor, _ = deliveries(ch)

    message = renderer.render(reached(ch, Totals(participants=203)), ch, sponsor)

    assert message.to == SPONSOR.email
    assert message.subject == "Cycle to work : l'objectif est atteint (203 participants)"
    for body in (message.text, message.html):
        assert "Bonjour Ville de Clichy" in body
        assert "Cycle to work" in body
        assert "203 participants" in body
        assert "200 participants" in body  # the target
        assert REWARD in body
        assert "2026-06-01 09:30 UTC" in body
        assert "parrain" in body
        assert "Hello" not in body
    assert '<html lang="fr">' in message.html


def test_english_on_request(renderer: JinjaEmailRenderer) -> None:
    ch = challenge()
    sponsor, _ = deliveries(ch)

    message = renderer.render(reached(ch, Totals(participants=200)), ch, sponsor, locale="en")

    assert message.subject == "Cycle to work: the target is reached (200 participants)"
    for body in (message.text, message.html):
        assert "Hello Ville de Clichy" in body
        assert "it is now your turn" in body
        assert "200 participants" in body
        assert REWARD in body
        assert "Bonjour" not in body
    assert '<html lang="en">' in message.html


def test_english_as_the_configured_default_and_unknown_locales_fall_back() -> None:
    ch = challenge()
    sponsor, _ = deliveries(ch)
    milestone = reached(ch, Totals(participants=200))

    assert "Hello" in JinjaEmailRenderer("en").render(milestone, ch, sponsor).text
    assert "Bonjour" in JinjaEmailRenderer("xx").render(milestone, ch, sponsor).text
    assert "Bonjour" in JinjaEmailRenderer().render(milestone, ch, sponsor, locale="de").text


def test_the_beneficiary_reads_what_the_sponsor_committed_to(renderer: JinjaEmailRenderer) -> None:
    ch = challenge()
    _, beneficiary = deliveries(ch)

    message = renderer.render(reached(ch, Totals(participants=200)), ch, beneficiary, locale="en")

    assert message.to == BENEFICIARY.email
    assert "Hello Solicycle" in message.text
    assert f"Ville de Clichy committed to this reward for Solicycle: {REWARD}." in message.text
    assert "it is now your turn" not in message.text
    assert "you are the beneficiary" in message.text


def test_html_escapes_what_admins_typed(renderer: JinjaEmailRenderer) -> None:
    ch = challenge(
        title="<script>alert('x')</script> Cycle",
        reward="Bikes & <b>helmets</b>",
    )
    sponsor, _ = deliveries(ch)

    message = renderer.render(reached(ch, Totals(participants=200)), ch, sponsor)

    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<b>helmets</b>" not in message.html
    assert "Bikes &amp; &lt;b&gt;helmets&lt;/b&gt;" in message.html
    # Plain text is not HTML: it keeps the title as typed.
    assert "<script>alert('x')</script> Cycle" in message.text
    assert message.subject.startswith("<script>alert('x')</script> Cycle")


def test_quantity_challenges_show_the_unit(renderer: JinjaEmailRenderer) -> None:
    ch = challenge(target=Target(Metric.QUANTITY, 5000, "km"))
    sponsor, _ = deliveries(ch)

    message = renderer.render(
        reached(ch, Totals(participants=12, quantity=5234.5)), ch, sponsor, locale="en"
    )

    assert message.subject == "Cycle to work: the target is reached (5,234.5 km)"
    for body in (message.text, message.html):
        assert "5,234.5 km" in body
        assert "5,000 km" in body
        assert "participants" not in body


def test_french_figures_use_french_number_formatting(renderer: JinjaEmailRenderer) -> None:
    ch = challenge(target=Target(Metric.QUANTITY, 5000, "km"))
    sponsor, _ = deliveries(ch)

    message = renderer.render(reached(ch, Totals(quantity=5234.5)), ch, sponsor)

    assert "5,234.5" not in message.text
    assert "5,000 km" not in message.text
    assert "5\u202f234,5 km" in message.text
    assert "5\u202f000 km" in message.text
    assert "5\u202f234,5 km" in message.subject


def test_an_ended_milestone_can_be_rendered(renderer: JinjaEmailRenderer) -> None:
    ch = challenge(status=ChallengeStatus.ENDED)
    sponsor, _ = deliveries(ch)

    message = renderer.render(reached(ch, Totals(participants=120), EventType.ENDED), ch, sponsor)

    assert "Cycle to work" in message.subject
    assert "objectif atteint" in message.subject


def test_an_ended_milestone_says_when_the_target_was_missed(renderer: JinjaEmailRenderer) -> None:
    ch = challenge(status=ChallengeStatus.ENDED)
    sponsor, _ = deliveries(ch)
    missed = Milestone(ch.id, EventType.ENDED, OCCURRED_AT, Totals(participants=57), reached=False)

    english = renderer.render(missed, ch, sponsor, locale="en")
    french = renderer.render(missed, ch, sponsor, locale="fr")

    assert "target not reached" in english.subject
    assert "57 participants" in english.text
    assert "not due" in english.html
    assert "objectif non atteint" in french.subject
    assert "n'est pas due" in french.text


class FailingSes:
    """An SES client stand-in that fails every send with the given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send_email(self, **kwargs: object) -> object:
        raise self.error


def _ses_error(code: str) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError({"Error": {"Code": code, "Message": "no"}}, "SendEmail")
    return error


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (_ses_error("MessageRejected"), False),
        (_ses_error("MailFromDomainNotVerifiedException"), False),
        (_ses_error("Throttling"), True),
        (_ses_error("ServiceUnavailable"), True),
        (_ses_error("AccountSendingPausedException"), True),
        (_ses_error("SomethingNew"), True),
    ],
)
def test_ses_errors_say_whether_a_retry_may_succeed(error: Exception, retryable: bool) -> None:
    from chalicelib.notify.email import SesMailer
    from chalicelib.services.ports import EmailMessage, MailerError

    mailer = SesMailer(FailingSes(error), "crowdact <n@crowdact.example>")
    with pytest.raises(MailerError) as raised:
        mailer.send(EmailMessage(to="a@b.example", subject="s", text="t", html="h"))
    assert raised.value.retryable is retryable


def test_an_unreachable_ses_is_worth_retrying() -> None:
    from botocore.exceptions import EndpointConnectionError

    from chalicelib.notify.email import SesMailer
    from chalicelib.services.ports import EmailMessage, MailerError

    mailer = SesMailer(FailingSes(EndpointConnectionError(endpoint_url="http://x")), "n@c.example")
    with pytest.raises(MailerError) as raised:
        mailer.send(EmailMessage(to="a@b.example", subject="s", text="t", html="h"))
    assert raised.value.retryable is True


def test_prepare_compiles_every_template_before_the_first_e_mail() -> None:
    renderer = JinjaEmailRenderer()
    renderer.prepare()
    env = renderer._env
    names = env.list_templates(extensions=["j2"])
    assert len(names) >= 12  # two locales x (sponsor and beneficiary, participant) x 3 parts
    assert env.cache is not None
    cached = {template.name for template in env.cache.values()}
    assert cached == set(names)
