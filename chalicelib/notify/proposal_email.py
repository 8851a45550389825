"""The e-mails of citizen proposals, in French or English: decided, threshold reached,
its challenge live."""

from __future__ import annotations

import html

from chalicelib.domain.locale import language_for
from chalicelib.domain.proposals import Proposal, ProposalEvent
from chalicelib.services.ports import EmailMessage

_SUBJECTS = {
    "fr": {
        ProposalEvent.APPROVED: "Votre proposition « {title} » est publiée",
        ProposalEvent.REJECTED: "Votre proposition « {title} » n'a pas été retenue",
        ProposalEvent.THRESHOLD_REACHED: "La proposition « {title} » a {supports} soutiens",
        ProposalEvent.CHALLENGE_LIVE: "« {title} » devient un défi : il est ouvert",
    },
    "en": {
        ProposalEvent.APPROVED: "Your proposal “{title}” is published",
        ProposalEvent.REJECTED: "Your proposal “{title}” was not accepted",
        ProposalEvent.THRESHOLD_REACHED: "The proposal “{title}” has {supports} supporters",
        ProposalEvent.CHALLENGE_LIVE: "“{title}” became a challenge: it is open",
    },
}
_BODIES = {
    "fr": {
        ProposalEvent.APPROVED: "Votre proposition est ouverte aux soutiens : {link}",
        ProposalEvent.REJECTED: "Votre proposition n'a pas été retenue.",
        ProposalEvent.THRESHOLD_REACHED: (
            "La proposition citoyenne « {title} » qui vous est adressée a atteint "
            "{supports} soutiens (seuil : {threshold}) : {link}"
        ),
        ProposalEvent.CHALLENGE_LIVE: "Le défi tiré de la proposition est ouvert : {link}",
    },
    "en": {
        ProposalEvent.APPROVED: "Your proposal is open to supporters: {link}",
        ProposalEvent.REJECTED: "Your proposal was not accepted.",
        ProposalEvent.THRESHOLD_REACHED: (
            "The citizen proposal “{title}” addressed to you has reached {supports} "
            "supporters (threshold: {threshold}): {link}"
        ),
        ProposalEvent.CHALLENGE_LIVE: "The challenge made from the proposal is open: {link}",
    },
}
_REASON = {"fr": "Motif : {reason}", "en": "Reason: {reason}"}


def render_proposal_email(
    proposal: Proposal, event: ProposalEvent, *, to: str, locale: str | None, link: str
) -> EmailMessage:
    language = language_for(locale)
    values = {
        "title": proposal.title,
        "supports": proposal.supports,
        "threshold": proposal.support_threshold,
        "link": link,
    }
    lines = [_BODIES[language][event].format(**values)]
    if proposal.decision_reason and event in (ProposalEvent.APPROVED, ProposalEvent.REJECTED):
        lines.append(_REASON[language].format(reason=proposal.decision_reason))
    text = "\n\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return EmailMessage(
        to=to,
        subject=_SUBJECTS[language][event].format(**values),
        text=text,
        html=f'<!doctype html><html lang="{language}"><body>{body}</body></html>',
    )
