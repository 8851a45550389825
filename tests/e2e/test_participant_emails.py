"""Participant e-mail on success, on the real local stack: one e-mail per participant who did
not opt out, in their language, plus one each for the sponsor and the beneficiary."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from tests.e2e.conftest import Stack

PARTICIPANTS = 6
OPTED_OUT = 2
ENGLISH = 4


def test_a_reached_challenge_mails_each_participant_once_but_the_one_who_opted_out(
    stack: Stack,
) -> None:
    tag = uuid.uuid4().hex[:8]
    challenge = stack.create_challenge(target={"metric": "participants", "value": PARTICIPANTS})
    addresses = [f"p{n}-{tag}@people.example" for n in range(PARTICIPANTS)]
    for n, address in enumerate(addresses):
        token = stack.participant_token(
            f"e2e-mail-{tag}-{n}",
            email=address,
            email_verified=True,
            locale="en-GB" if n == ENGLISH else "fr-FR",
        )
        body: dict[str, Any] = {"display_name": f"Person {n}", "notify": n != OPTED_OUT}
        response = stack.request(
            "POST", f"/challenges/{challenge['id']}/pledges", token=token, json=body
        )
        assert response.status_code == 201, response.text
        assert address not in response.text  # the contact stays private

    def settled_log() -> list[dict[str, Any]] | None:
        log = [e for e in stack.notifications(challenge["id"]) if e["event"] == "challenge.reached"]
        sent = Counter(e["recipient_role"] for e in log if e["status"] == "sent")
        expected = {"sponsor": 1, "beneficiary": 1, "participant": PARTICIPANTS - 1}
        return log if sent == expected else None

    log = stack.wait_until(settled_log, 30, message="every reached e-mail sent")

    participants = [entry for entry in log if entry["recipient_role"] == "participant"]
    expected = [a for n, a in enumerate(addresses) if n != OPTED_OUT]
    assert sorted(entry["to"] for entry in participants) == sorted(expected)
    assert all(entry["attempts"] == 1 for entry in participants)
    only_sponsor = stack.notifications(challenge["id"], recipient_role="sponsor")
    assert [entry["to"] for entry in only_sponsor] == [challenge["sponsor"]["email"]]

    emails = stack.sent_emails()
    received = Counter(
        to for email in emails for to in email.to if to.endswith(tag + "@people.example")
    )
    assert received == Counter(expected)  # one each, none for the one who opted out
    for role in ("sponsor", "beneficiary"):
        assert sum(challenge[role]["email"] in email.to for email in emails) == 1

    def body_to(address: str) -> str:
        [email] = [email for email in emails if address in email.to]
        return f"{email.subject}\n{email.text or ''}\n{email.html or ''}"

    english = body_to(addresses[ENGLISH])
    assert "You made it happen" in english
    assert f"Person {ENGLISH}" in english
    french = body_to(addresses[0])
    assert "Vous l'avez fait" in french
    assert "You made it happen" not in french
