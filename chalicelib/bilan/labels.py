"""The report's words, dates and numbers in French and English.

Dates and numbers are spelt here rather than by `locale.setlocale`: a Lambda's OS has no
French locale installed, and setlocale is process-wide (it would change every thread's
formatting at once)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TypedDict

from chalicelib.domain.locale import language_for
from chalicelib.domain.payouts import format_amount

NARROW_NO_BREAK_SPACE = "\u202f"


class Texts(TypedDict):
    """Every text of the report: mypy checks that each language has them all."""

    kicker_challenge: str
    kicker_campaign: str
    sponsor: str
    sponsors: str
    beneficiary: str
    beneficiaries: str
    reward: str
    rewards: str
    period: str
    period_between: str
    period_from: str
    period_until: str
    status: str
    status_draft: str
    status_live: str
    status_ended: str
    status_closed: str
    target: str
    reached_on: str
    not_reached: str
    all_reached_on: str
    not_all_reached: str
    ended_on: str
    participants: str
    pledges: str
    withdrawals: str
    reported: str
    promised: str
    paid: str
    notifications_sent: str
    notifications_failed: str
    chart_days: str
    chart_days_target_line: str
    chart_days_target: str
    no_days: str
    chart_challenges: str
    chart_areas: str
    elsewhere: str
    elsewhere_note: str
    no_data: str
    days_heading: str
    day: str
    new_pledges: str
    cumulative: str
    challenges_heading: str
    challenge: str
    quantity: str
    teams_heading: str
    team: str
    generated: str
    page: str


FRENCH: Texts = {
    "kicker_challenge": "Bilan du défi",
    "kicker_campaign": "Bilan de la campagne",
    "sponsor": "Parrain",
    "sponsors": "Parrains",
    "beneficiary": "Bénéficiaire",
    "beneficiaries": "Bénéficiaires",
    "reward": "Récompense",
    "rewards": "Récompenses",
    "period": "Période",
    "period_between": "du {start} au {end}",
    "period_from": "à partir du {start}",
    "period_until": "jusqu’au {end}",
    "status": "Statut",
    "status_draft": "brouillon",
    "status_live": "en cours",
    "status_ended": "terminé",
    "status_closed": "clos",
    "target": "Objectif",
    "reached_on": "Atteint le",
    "not_reached": "non atteint",
    "all_reached_on": "Tous les défis atteints le",
    "not_all_reached": "pas tous",
    "ended_on": "Terminé le",
    "participants": "participants",
    "pledges": "engagements",
    "withdrawals": "retraits",
    "reported": "déclarés par les participants",
    "promised": "promis par les participants",
    "paid": "versés",
    "notifications_sent": "notifications envoyées",
    "notifications_failed": "notifications en échec",
    "chart_days": "Engagements en cours, jour par jour",
    "chart_days_target_line": "La ligne pointillée marque l’objectif ({target}).",
    "chart_days_target": "Objectif\u00a0: {target}.",
    "no_days": "Pas encore d’engagement à montrer jour par jour.",
    "chart_challenges": "Participants par défi",
    "chart_areas": "Participants par zone",
    "elsewhere": "ailleurs",
    "elsewhere_note": (
        "«\u00a0ailleurs\u00a0»\u00a0: les zones de moins de {minimum} participants, "
        "regroupées pour que personne n’y soit reconnaissable."
    ),
    "no_data": "Pas encore de données.",
    "days_heading": "Jour par jour",
    "day": "Jour",
    "new_pledges": "Nouveaux engagements",
    "cumulative": "Engagements en cours",
    "challenges_heading": "Les défis de la campagne",
    "challenge": "Défi",
    "quantity": "Quantité",
    "teams_heading": "Les équipes",
    "team": "Équipe",
    "generated": "Généré par crowdact le {date}",
    "page": "page {number}",
}

ENGLISH: Texts = {
    "kicker_challenge": "Challenge report",
    "kicker_campaign": "Campaign report",
    "sponsor": "Sponsor",
    "sponsors": "Sponsors",
    "beneficiary": "Beneficiary",
    "beneficiaries": "Beneficiaries",
    "reward": "Reward",
    "rewards": "Rewards",
    "period": "Period",
    "period_between": "{start} to {end}",
    "period_from": "from {start}",
    "period_until": "until {end}",
    "status": "Status",
    "status_draft": "draft",
    "status_live": "live",
    "status_ended": "ended",
    "status_closed": "closed",
    "target": "Target",
    "reached_on": "Reached on",
    "not_reached": "not reached",
    "all_reached_on": "All challenges reached on",
    "not_all_reached": "not all",
    "ended_on": "Ended on",
    "participants": "participants",
    "pledges": "pledges",
    "withdrawals": "withdrawals",
    "reported": "reported by participants",
    "promised": "promised by participants",
    "paid": "paid out",
    "notifications_sent": "notifications sent",
    "notifications_failed": "notifications failed",
    "chart_days": "Live pledges, day by day",
    "chart_days_target_line": "The dashed line is the target ({target}).",
    "chart_days_target": "Target: {target}.",
    "no_days": "No pledges to show day by day yet.",
    "chart_challenges": "Participants per challenge",
    "chart_areas": "Participants per area",
    "elsewhere": "elsewhere",
    "elsewhere_note": (
        "“elsewhere”: areas with fewer than {minimum} participants, grouped together so "
        "that no one in them can be recognised."
    ),
    "no_data": "No data yet.",
    "days_heading": "Day by day",
    "day": "Day",
    "new_pledges": "New pledges",
    "cumulative": "Live pledges",
    "challenges_heading": "The campaign’s challenges",
    "challenge": "Challenge",
    "quantity": "Quantity",
    "teams_heading": "Teams",
    "team": "Team",
    "generated": "Generated by crowdact on {date}",
    "page": "page {number}",
}

_TEXTS: dict[str, Texts] = {"fr": FRENCH, "en": ENGLISH}

_MONTHS = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
# A chart's axis has room for a day and a month, not a year.
_SHORT_MONTHS = {
    "fr": (
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def texts(locale: str) -> Texts:
    """The texts in the report's language: English for an English locale, French otherwise."""
    return _TEXTS[language_for(locale)]


def format_number(value: int | float, locale: str) -> str:
    """80,360 and 12.5 in English; 80 360 and 12,5 in French (a narrow no-break space groups
    thousands). At most one decimal: a report reads at a glance, the CSV has the exact value."""
    rounded = round(float(value), 1)
    text = f"{int(rounded):,}" if rounded.is_integer() else f"{rounded:,.1f}"
    if language_for(locale) == "fr":
        text = text.replace(",", NARROW_NO_BREAK_SPACE).replace(".", ",")
    return text


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """5,000.00 EUR in English, 5 000,00 EUR in French: every minor unit of the currency
    (money is never rounded as the other figures are), then its ISO code."""
    whole, _, fraction = format_amount(amount, currency).partition(".")
    text = f"{int(whole):,}" + (f".{fraction}" if fraction else "")
    if language_for(locale) == "fr":
        text = text.replace(",", NARROW_NO_BREAK_SPACE).replace(".", ",")
    return f"{text} {currency}"


def format_date(value: date, locale: str) -> str:
    """2 décembre 2026 (1er for the first of the month, as French writes it); 2 December 2026."""
    lang = language_for(locale)
    day = "1er" if lang == "fr" and value.day == 1 else str(value.day)
    return f"{day} {_MONTHS[lang][value.month - 1]} {value.year}"


def format_short_date(value: date, locale: str) -> str:
    """2 déc. / 2 Dec: a day on a chart's axis."""
    return f"{value.day} {_SHORT_MONTHS[language_for(locale)][value.month - 1]}"
