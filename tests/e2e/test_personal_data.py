"""GDPR access and erasure on the real local stack, over HTTP: Léa pledges and reports, gets
the reached challenge's e-mail, exports her data, erases it; every public and admin figure is
the same afterwards, and there is nothing left to export."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import POLL_INTERVAL_SECONDS, Stack

pytestmark = pytest.mark.e2e

SETTLE_SECONDS = 60.0
PARIS = {"lat": 48.8566, "lon": 2.3522}
NEIGHBOURS = 5  # with Léa, 6 in the Paris cell: shown (k = 5), and the headcount target
PARTICIPANTS = NEIGHBOURS + 1
LEA_NAME = "Léa la cycliste"
LEA_KM = 12.5


@dataclass
class Scenario:
    run: str
    campaign: str
    cycle: str  # headcount, reached
    km: str  # quantity in km
    lea_sub: str
    lea_email: str
    lea: str  # her token

    @property
    def challenges(self) -> tuple[str, str]:
        return self.cycle, self.km


def pledge(stack: Stack, challenge_id: str, token: str, body: dict[str, Any]) -> None:
    response = stack.request("POST", f"/challenges/{challenge_id}/pledges", token=token, json=body)
    assert response.status_code == 201, response.text


def report_km(stack: Stack, challenge_id: str, token: str, km: float) -> None:
    response = stack.request(
        "POST",
        f"/challenges/{challenge_id}/reports",
        token=token,
        json={"quantity": km, "unit": "km"},
    )
    assert response.status_code == 201, response.text


def get_json(stack: Stack, path: str, **kwargs: Any) -> Any:
    response = stack.request("GET", path, **kwargs)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def admin_report(stack: Stack, path: str) -> dict[str, Any]:
    report: dict[str, Any] = get_json(stack, path, token=stack.admin_token())
    report.pop("generated_at", None)
    return report


def figures(stack: Stack, s: Scenario) -> dict[str, Any]:
    """Every figure the public and the admins see about the two challenges and their campaign."""
    seen: dict[str, Any] = {}
    for name, challenge_id in (("cycle", s.cycle), ("km", s.km)):
        seen[f"{name}.progress"] = stack.challenge(challenge_id)["progress"]
        seen[f"{name}.areas"] = get_json(stack, f"/challenges/{challenge_id}/areas")
        geojson = stack.request(
            "GET", f"/challenges/{challenge_id}/areas", params={"format": "geojson"}
        )
        assert geojson.status_code == 200, geojson.text
        assert geojson.headers["Content-Type"] == "application/geo+json"
        seen[f"{name}.areas.geojson"] = geojson.json()
        seen[f"{name}.nearby"] = get_json(stack, f"/challenges/{challenge_id}/nearby", params=PARIS)
        seen[f"{name}.report"] = admin_report(stack, f"/admin/challenges/{challenge_id}/report")
    seen["campaign.totals"] = get_json(stack, f"/campaigns/{s.campaign}")["totals"]
    seen["campaign.report"] = admin_report(stack, f"/admin/campaigns/{s.campaign}/report")
    return seen


def as_expected(seen: dict[str, Any]) -> bool:
    """Léa and her five neighbours all counted, by the requests and by the stream triggers."""
    cycle, km, totals = seen["cycle.progress"], seen["km.progress"], seen["campaign.totals"]
    areas_shown = all(
        [area["participants"] for area in seen[f"{name}.areas"]["areas"]] == [PARTICIPANTS]
        and seen[f"{name}.nearby"]["participants"] == PARTICIPANTS
        for name in ("cycle", "km")
    )
    return (
        (cycle["participants"], cycle["reached"]) == (PARTICIPANTS, True)
        and (km["participants"], km["quantity"]) == (PARTICIPANTS, LEA_KM)
        and (totals["participants"], totals["pledges"]) == (PARTICIPANTS, 2 * PARTICIPANTS)
        and areas_shown
    )


def set_up(stack: Stack) -> Scenario:
    """A campaign of a headcount and a km challenge; Léa (verified e-mail) and five neighbours
    pledge on both from Paris, Léa reports km; the headcount is reached by her pledge."""
    run = uuid.uuid4().hex[:8]
    campaign = stack.create_campaign(f"Semaine de la mobilité {run}")
    cycle = stack.create_challenge(
        title="Au travail à vélo",
        target={"metric": "participants", "value": PARTICIPANTS},
        campaign_id=campaign,
    )
    km = stack.create_challenge(
        title="Kilomètres à vélo",
        target={"metric": "quantity", "value": 1000, "unit": "km"},
        campaign_id=campaign,
    )
    lea_sub, lea_email = f"e2e-lea-{run}", f"lea-{run}@people.example"
    lea = stack.participant_token(
        lea_sub, email=lea_email, email_verified=True, locale="fr-FR", name="Léa"
    )
    s = Scenario(run, campaign, cycle["id"], km["id"], lea_sub, lea_email, lea)
    for n in range(NEIGHBOURS):
        neighbour = stack.participant_token(f"e2e-neighbour-{run}-{n}")
        for challenge_id in s.challenges:
            pledge(stack, challenge_id, neighbour, {"location": PARIS, "display_name": f"N{n}"})
    for challenge_id in s.challenges:
        pledge(stack, challenge_id, lea, {"location": PARIS, "display_name": LEA_NAME})
    report_km(stack, s.km, lea, LEA_KM)
    return s


def wait_for_leas_mail(stack: Stack, s: Scenario) -> dict[str, Any]:
    """The reached challenge's e-mails sent (sponsor, beneficiary, Léa); Léa's log entry."""

    def sent() -> list[dict[str, Any]] | None:
        log = stack.notifications(s.cycle)
        roles = sorted(
            e["recipient_role"]
            for e in log
            if e["event"] == "challenge.reached" and e["status"] == "sent"
        )
        return log if roles == ["beneficiary", "participant", "sponsor"] else None

    log = stack.wait_until(sent, SETTLE_SECONDS, message="the reached e-mails sent")
    [mail] = [e for e in log if e["recipient_role"] == "participant"]
    assert mail["to"] == s.lea_email
    assert any(s.lea_email in email.to for email in stack.sent_emails())
    return mail


def wait_for_sentinel(stack: Stack, sentinel_id: str, run: str, count: int) -> None:
    """One more pledge and report on a challenge outside the campaign, written now: once the
    stream triggers have counted it, they have handled every record written before it."""
    token = stack.participant_token(f"e2e-sentinel-{run}-{count}")
    pledge(stack, sentinel_id, token, {"location": PARIS})
    report_km(stack, sentinel_id, token, 1)

    def counted() -> bool:
        progress = stack.challenge(sentinel_id)["progress"]
        areas = get_json(stack, f"/challenges/{sentinel_id}/areas")
        return bool(
            (progress["participants"], progress["quantity"], areas["hidden_participants"])
            == (count, count, count)
        )

    stack.wait_until(counted, SETTLE_SECONDS, message=f"sentinel {count} counted")


def figures_once_equal(stack: Stack, s: Scenario, before: dict[str, Any]) -> dict[str, Any]:
    """Poll the figures until they equal `before` or the time is up; the last ones read."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        seen = figures(stack, s)
        if seen == before or time.monotonic() >= deadline:
            return seen
        time.sleep(POLL_INTERVAL_SECONDS)


def assert_full_export(export: dict[str, Any], s: Scenario) -> None:
    assert export["subject"] == s.lea_sub
    assert export["generated_at"]
    pledges = {p["challenge_id"]: p for p in export["pledges"]}
    assert set(pledges) == {s.cycle, s.km}
    for item in pledges.values():
        assert item["display_name"] == LEA_NAME
        assert item["email"] == s.lea_email
        assert item["locale"] == "fr"
        assert item["notify"] is True
        assert item["area"]
        assert item["created_at"]
    assert pledges[s.km]["quantity_reported"] == LEA_KM
    assert pledges[s.cycle]["quantity_reported"] == 0
    assert [(r["challenge_id"], r["quantity"], r["unit"]) for r in export["reports"]] == [
        (s.km, LEA_KM, "km")
    ]
    assert [
        (n["challenge_id"], n["event"], n["channel"], n["to"], n["status"])
        for n in export["notifications"]
    ] == [(s.cycle, "challenge.reached", "email", s.lea_email, "sent")]
    assert export["notifications"][0]["sent_at"]
    assert export["notes"]
    assert "N0" not in str(export)  # nobody else's data


def test_erasure_keeps_every_figure_and_leaves_nothing_to_export(stack: Stack) -> None:
    s = set_up(stack)
    mail = wait_for_leas_mail(stack, s)

    def settled() -> dict[str, Any] | None:
        seen = figures(stack, s)
        # Everyone counted, and read twice the same: nothing left in flight.
        return seen if as_expected(seen) and figures(stack, s) == seen else None

    before = stack.wait_until(settled, SETTLE_SECONDS, message="the figures settled")
    assert LEA_NAME not in str(before)
    assert s.lea_email not in str(before)

    # Access: her two pledges, her report and the e-mail she was sent, with her address.
    assert_full_export(get_json(stack, "/me/export", token=s.lea), s)

    # Erasure, then every figure as before once the triggers have handled it.
    erased = stack.request("DELETE", "/me", token=s.lea)
    assert erased.status_code == 204, erased.text
    assert erased.content == b""
    sentinel = stack.create_challenge(target={"metric": "quantity", "value": 1000, "unit": "km"})
    wait_for_sentinel(stack, sentinel["id"], s.run, 1)
    assert figures_once_equal(stack, s, before) == before

    gone = get_json(stack, "/me/export", token=s.lea)
    assert gone["subject"] == s.lea_sub
    assert (gone["pledges"], gone["reports"], gone["notifications"]) == ([], [], [])
    assert get_json(stack, "/me/pledges", token=s.lea)["items"] == []
    assert get_json(stack, "/me/reports", token=s.lea)["items"] == []

    # No log keeps her address or her id; her e-mail stays counted, anonymously.
    for challenge_id in s.challenges:
        entries = stack.notifications(challenge_id)
        assert all(entry["to"] != s.lea_email for entry in entries), entries
        assert s.lea_email not in str(entries)
        assert s.lea_sub not in str(entries)
    [anonymous] = stack.notifications(s.cycle, recipient_role="participant")
    assert anonymous["id"] != mail["id"]
    assert (anonymous["event"], anonymous["status"]) == ("challenge.reached", "sent")

    # Idempotent: 204 again, and nothing changes.
    again = stack.request("DELETE", "/me", token=s.lea)
    assert again.status_code == 204, again.text
    wait_for_sentinel(stack, sentinel["id"], s.run, 2)
    assert figures(stack, s) == before
    assert get_json(stack, "/me/export", token=s.lea)["pledges"] == []
