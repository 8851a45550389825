"""`GET /me/export` and `DELETE /me` on moto, with the stream triggers: the export holds every
personal attribute stored, and the erasure leaves every public and admin figure as it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pynamodb.attributes import Attribute

from chalicelib.domain.idempotency import idempotency_record_id, idempotency_scope
from chalicelib.domain.model import Channel, Delivery, EventType, RecipientRole
from chalicelib.local.tokens import mint_local_token
from chalicelib.services.ports import ClaimRefused
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT
from chalicelib.storage.deliveries import DynamoDeliveryRepository
from chalicelib.storage.personal_data import DynamoPersonalData
from chalicelib.storage.tables import (
    ALL_TABLES,
    ChallengeEventItem,
    DeliveryItem,
    ErasureItem,
    IdempotencyItem,
    ModerationItem,
    PledgeItem,
    ReportItem,
)
from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_campaigns import create_campaign

LEA = "lea-0001"
LEA_EMAIL = "lea@example.org"
PARIS = {"lat": 48.8566, "lon": 2.3522}
LYON = {"lat": 45.764, "lon": 4.8357}


def lea() -> dict[str, str]:
    """Léa's token, with the verified address and the language a pledge copies."""
    token = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT, LEA, email=LEA_EMAIL, email_verified=True, locale="fr-FR"
    )
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


# Every attribute of every table that can hold something about a person, and where the export
# shows it (None: the table holds nothing personal, said why). A table or attribute added
# later without a line here fails `test_the_inventory_covers_every_table`.
PERSONAL_ATTRIBUTES: dict[str, dict[str, str] | str] = {
    "pledges": {
        "participant_id": "subject",
        "display_name": "pledges[].display_name",
        "area": "pledges[].area",
        "email": "pledges[].email",
        "locale": "pledges[].locale",
        "notify": "pledges[].notify",
        "created_at": "pledges[].created_at",
        "quantity_reported": "pledges[].quantity_reported",
        "name_hidden": "pledges[].name_hidden",
        "candidate_id": "pledges[].candidate_id",
        "offered": "pledges[].offered",
        "voted_at": "pledges[].voted_at",
        "reported_at": "pledges[].reported_at",
    },
    "reports": {
        "participant_id": "subject",
        "quantity": "reports[].quantity",
        "unit": "reports[].unit",
        "occurred_on": "reports[].occurred_on",
        "created_at": "reports[].created_at",
    },
    "deliveries": {
        "participant_id": "subject",
        "recipient_key": "subject",
        "to": "notifications[].to",
        "created_at": "notifications[].created_at",
        "status": "notifications[].status",
        "sent_at": "notifications[].sent_at",
    },
    "moderation": {
        "participant_id": "subject",
        "reason": "moderation[].reason",
        "at": "moderation[].at",
        "action": "moderation[].action",
        "actor_role": "moderation[].actor_role",
        "display_name": "moderation[].display_name",
        "area": "moderation[].area",
        "quantity_reported": "moderation[].quantity_reported",
        "pledged_at": "moderation[].pledged_at",
        "notify": "moderation[].notify",
        "name_hidden": "moderation[].name_hidden",
    },
    "follows": {
        "participant_id": "subject",
        "target": "follows[].kind, follows[].id",
        "following": "follows[].following",
        "updated_at": "follows[].updated_at",
        "email": "follows[].email",
        "locale": "follows[].locale",
    },
    "update_deliveries": {
        "participant_id": "subject",
        "update_id": "update_emails[].update_id",
        "challenge_id": "update_emails[].challenge_id",
        "status": "update_emails[].status",
        "attempts": "update_emails[].attempts",
        "sent_at": "update_emails[].sent_at",
    },
    "event_rsvps": {
        "participant_id": "subject",
        "key": "subject (P#<sub>)",
        "waiting_participant": "subject (a queue place)",
        "status": "rsvps[].status",
        "created_at": "rsvps[].signed_up_at",
        "confirmed_at": "rsvps[].confirmed_at",
        "email": "rsvps[].email",
        "locale": "rsvps[].locale",
    },
    "events": "organisations' meetups and their counts: no participant",
    # Teams (tests/functional/test_teams_api.py checks their export and erasure).
    "team_members": {
        "participant_id": "subject",
        "key": "team_memberships[].organization_id (and the change's instant)",
        "organization_id": "team_memberships[].organization_id",
        "team_id": "team_memberships[].team_id",
        "since": "team_memberships[].since",
        "display_name": "team_memberships[].display_name",
    },
    "teams": "organisations' teams: no participant",
    "team_tallies": "counts per team, and per participant (the `sub` in the key) the "
    "pledges and quantity they gave each team in a challenge or campaign: derived from "
    "the pledges by the stream, moved with them to the pseudonym",
    "challenge_updates": "admins' news about challenges: no participant",
    # Citizen proposals (tests/functional/test_proposals_api.py checks their export and
    # erasure): the proposer's id, address and language; the text they wrote is public.
    "proposals": {
        "proposer_id": "subject",
        "proposer_email": "proposals[].email",
        "proposer_locale": "proposals[].locale",
        "title": "proposals[].title",
        "action": "proposals[].action",
        "description": "proposals[].description",
        "area": "proposals[].area",
        "status": "proposals[].status",
        "organization_id": "proposals[].organization_id",
        "created_at": "proposals[].created_at",
    },
    "proposal_supports": {
        "participant_id": "subject",
        "proposal_id": "proposal_supports[].proposal_id",
        "created_at": "proposal_supports[].created_at",
        "email": "proposal_supports[].email",
        "locale": "proposal_supports[].locale",
    },
    "proposal_deliveries": {
        "participant_id": "subject",
        "proposal_id": "proposal_emails[].proposal_id",
        "recipient": "proposal_emails[].message",
        "status": "proposal_emails[].status",
        "attempts": "proposal_emails[].attempts",
        "sent_at": "proposal_emails[].sent_at",
    },
    "campaign_members": "derived from the pledges by the stream (the campaign, the pledged "
    "challenges); moved with them",
    "idempotency": {"data": "answers[].body", "expiration": "answers[].expires_at"},
    "challenges": "organisations' challenges: parties are organisations, not participants",
    "counters": "counts only",
    "challenge_events": "milestones and fan-out positions (a participant id as a page "
    "boundary, for a few minutes while the e-mails go out); meetup seat notices (a "
    "participant id in the key, 30 days)",
    "organizations": "organisations",
    "payouts": "payments to a challenge's beneficiary (an organisation); the admin who "
    "recorded one is in the audit trail, not here",
    "organization_slugs": "organisations",
    "campaigns": "organisations' campaigns",
    "area_counts": "counts per ~5 km cell",
    "pledge_hours": "counts per hour",
    "stream_receipts": "stream sequence numbers",
    "erasures": "a SHA-256 of an erasing participant's id and the pseudonym, while the "
    "erasure runs (a day at most, if it stops half-way)",
    "audit": "admins' ids and what they did; a participant's erasure under its pseudonym only",
}


def _normal(entry: dict[str, Any]) -> dict[str, Any]:
    """Values as comparable text: instants in UTC to the second (as the API writes them),
    numbers as floats."""
    normal: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC).replace(microsecond=0).isoformat()
        elif isinstance(value, str) and value.endswith("Z") and "T" in value:
            value = datetime.fromisoformat(value).astimezone(UTC).isoformat()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        normal[key] = value
    return normal


def _answer_records(ids: dict[str, Any]) -> list[str]:
    """The ids of the answers kept for Léa's keyed pledges and report in `_reach`."""
    return [
        idempotency_record_id(scope, key)
        for scope, key in (
            (idempotency_scope("pledge", LEA, ids["cycle"]), f"pledge-{ids['cycle']}"),
            (idempotency_scope("pledge", LEA, ids["km"]), f"pledge-{ids['km']}"),
            (idempotency_scope("report", LEA, ids["km"]), "report-1"),
        )
    ]


def _stored_answer(item: IdempotencyItem) -> dict[str, Any]:
    """A stored answer's attributes as the export shows them: the replayed body out of the
    record's JSON, the expiry as an instant."""
    values = dict(item.attribute_values)
    values["data"] = json.loads(item.data or "{}")["body"]
    values["expiration"] = datetime.fromtimestamp(float(item.expiration or 0), UTC)
    return values


def _attributes(model: Any) -> set[str]:
    return {
        name
        for name, attribute in model.get_attributes().items()
        if isinstance(attribute, Attribute)
    }


def test_the_inventory_covers_every_table() -> None:
    tables = {model.Meta.table_name.rsplit("-", 1)[-1] for model in ALL_TABLES}
    bases = {name for name in PERSONAL_ATTRIBUTES}
    assert {t for t in tables if not any(t.endswith(b) for b in bases)} == set()
    for model, base in (
        (PledgeItem, "pledges"),
        (ReportItem, "reports"),
        (DeliveryItem, "deliveries"),
        (ModerationItem, "moderation"),
    ):
        listed = PERSONAL_ATTRIBUTES[base]
        assert isinstance(listed, dict)
        # Every attribute is either listed as personal or known to be internal.
        internal = {
            "challenge_id",
            "challenge_bucket",
            "erasing",
            "pseudonymised",
            "counter_shard",
            "write_token",  # a random request token (or a hash of one): nothing about anyone
            "id",
            "created_key",
            "challenge_key",
            "key",
            "event",
            "recipient_role",
            "channel",
            "attempts",
            "lease_until",
            "last_error",
            "expires_at",
            # A moderation record's moderator (not the participant), and whether the
            # figures were final then.
            "actor_sub",
            "after_freeze",
            # The retry token a client chose: what it holds, the answer, is in `answers`.
            "idempotency_key",
            # Which of the vote's counter shards counts the pledge's vote.
            "vote_shard",
        }
        assert _attributes(model) - set(listed) - internal == set(), model


def _reach(api: Api) -> dict[str, Any]:
    """A campaign of two challenges, Léa and five neighbours in them, reports, a reached
    challenge whose e-mails went out."""
    week = create_campaign(api)
    cycle = api.create(campaign_id=week["id"], target={"metric": "participants", "value": 6})
    km = api.create(
        campaign_id=week["id"], target={"metric": "quantity", "value": 1000, "unit": "km"}
    )
    for index in range(5):
        neighbour = bearer(f"neighbour-{index}")
        for challenge in (cycle, km):
            body = {"location": PARIS, "display_name": f"N{index}"}
            response = api.request(
                "POST", f"/challenges/{challenge['id']}/pledges", body, neighbour
            )
            assert response.status_code == 201, response.body
    for challenge in (cycle, km):
        body = {"location": PARIS, "display_name": "Léa la cycliste"}
        # With Idempotency-Keys: their stored answers are hers too.
        keyed = {**lea(), "Idempotency-Key": f"pledge-{challenge['id']}"}
        response = api.request("POST", f"/challenges/{challenge['id']}/pledges", body, keyed)
        assert response.status_code == 201, response.body
    keyed = {**lea(), "Idempotency-Key": "report-1"}
    reported = api.request("POST", f"/challenges/{km['id']}/reports", {"quantity": 12.5}, keyed)
    assert reported.status_code == 201, reported.body
    api.drain()
    return {"campaign": week["id"], "cycle": cycle["id"], "km": km["id"]}


def _figures(api: Api, ids: dict[str, Any]) -> dict[str, Any]:
    """Every figure the public and the admins see about these challenges and their campaign."""

    def get(path: str, headers: dict[str, str] | None = None) -> Any:
        response = api.request("GET", path, None, headers)
        assert response.status_code == 200, (path, response.body)
        return json.loads(response.body)

    figures: dict[str, Any] = {}
    for name in ("cycle", "km"):
        challenge_id = ids[name]
        public = get(f"/challenges/{challenge_id}")
        figures[f"{name}.progress"] = public["progress"]
        figures[f"{name}.areas"] = get(f"/challenges/{challenge_id}/areas")
        figures[f"{name}.nearby"] = get(
            f"/challenges/{challenge_id}/nearby?lat={PARIS['lat']}&lon={PARIS['lon']}"
        )
        report = get(f"/admin/challenges/{challenge_id}/report", ADMIN)
        report.pop("generated_at", None)
        figures[f"{name}.report"] = report
    campaign = get(f"/campaigns/{ids['campaign']}")
    figures["campaign.totals"] = campaign["totals"]
    report = get(f"/admin/campaigns/{ids['campaign']}/report", ADMIN)
    report.pop("generated_at", None)
    figures["campaign.report"] = report
    return figures


def _export(api: Api) -> dict[str, Any]:
    response = api.request("GET", "/me/export", None, lea())
    assert response.status_code == 200, response.body
    document: dict[str, Any] = json.loads(response.body)
    return document


def _hide_leas_name(api: Api, challenge_id: str) -> None:
    path = f"/admin/challenges/{challenge_id}/pledges/{LEA}/hide-name"
    hidden = api.request("POST", path, {"reason": "my neighbour's name"}, ADMIN)
    assert hidden.status_code == 200, hidden.body


def test_the_export_holds_every_personal_attribute_stored(api: Api) -> None:
    ids = _reach(api)
    _hide_leas_name(api, ids["cycle"])
    document = _export(api)
    assert document["subject"] == LEA
    pledges = {p["challenge_id"]: p for p in document["pledges"]}
    assert set(pledges) == {ids["cycle"], ids["km"]}
    for pledge in pledges.values():
        assert pledge["display_name"] == "Léa la cycliste"
        assert pledge["email"] == LEA_EMAIL
        assert pledge["locale"] == "fr"
        assert pledge["area"]
        assert pledge["notify"] is True
    assert pledges[ids["km"]]["quantity_reported"] == 12.5
    assert [(r["challenge_id"], r["quantity"], r["unit"]) for r in document["reports"]] == [
        (ids["km"], 12.5, "km")
    ]
    # The reached challenge's e-mail to Léa, with the address it went to.
    mails = [n for n in document["notifications"] if n["challenge_id"] == ids["cycle"]]
    assert [(n["event"], n["channel"], n["to"], n["status"]) for n in mails] == [
        ("challenge.reached", "email", LEA_EMAIL, "sent")
    ]
    assert document["notes"]
    # Each personal attribute stored for Léa, read straight from the tables, is in it.
    stored = {
        "pledges": [i.attribute_values for i in PledgeItem.query(LEA)],
        "reports": [i.attribute_values for i in ReportItem.query(LEA)],
        "notifications": [
            DeliveryItem.get(e.challenge_id, e.key).attribute_values
            for e in DeliveryItem.by_participant.query(LEA)
        ],
        "moderation": [
            ModerationItem.get(e.challenge_id, e.key).attribute_values
            for e in ModerationItem.by_participant.query(LEA)
        ],
        # The answers kept for her keyed pledges and report, found under the ids that
        # Powertools gave them (the test of domain/idempotency.py's naming).
        "answers": [_stored_answer(IdempotencyItem.get(r)) for r in _answer_records(ids)],
    }
    assert len(document["answers"]) == 3
    assert [(m["challenge_id"], m["action"], m["reason"]) for m in document["moderation"]] == [
        (ids["cycle"], "hide_name", "my neighbour's name")
    ]
    tables = {
        "pledges": "pledges",
        "reports": "reports",
        "notifications": "deliveries",
        "moderation": "moderation",
        "answers": "idempotency",
    }
    for section, items in stored.items():
        assert items, section
        inventory = PERSONAL_ATTRIBUTES[tables[section]]
        assert isinstance(inventory, dict)
        shown = [_normal(entry) for entry in document[section]]
        for item in items:
            for attribute, path in inventory.items():
                if path == "subject":
                    assert item[attribute] == document["subject"]
                    continue
                field = path.removeprefix(f"{section}[].")
                if item.get(attribute) is None:
                    continue
                assert _normal({field: item[attribute]})[field] in [e[field] for e in shown], (
                    section,
                    attribute,
                )
    # Nobody else's data: the neighbours' names never appear.
    assert "N0" not in json.dumps(document)


def test_erasure_keeps_every_figure_and_leaves_nothing_to_export(api: Api) -> None:
    ids = _reach(api)
    _hide_leas_name(api, ids["cycle"])
    before = _figures(api, ids)
    response = api.request("DELETE", "/me", None, lea())
    assert response.status_code == 204, response.body
    api.drain()
    assert _figures(api, ids) == before
    document = _export(api)
    assert (document["pledges"], document["reports"], document["notifications"]) == ([], [], [])
    assert document["moderation"] == []
    # Nothing under Léa's id, her name or her address is left in the tables.
    assert list(PledgeItem.query(LEA)) == []
    assert list(ReportItem.query(LEA)) == []
    for answer in _answer_records(ids):  # deleted with what they answered
        assert IdempotencyItem.count(answer) == 0
    for challenge_id in (ids["cycle"], ids["km"]):
        for item in DeliveryItem.query(challenge_id):
            assert LEA not in item.key
            assert item.to != LEA_EMAIL
            assert item.recipient_key != LEA
    pseudonymised = [item for item in PledgeItem.scan() if item.pseudonymised]
    assert len(pseudonymised) == 2
    assert len({item.participant_id for item in pseudonymised}) == 1  # one person, still
    for moved in pseudonymised:
        assert LEA not in moved.participant_id
        assert {"display_name", "email", "locale", "erasing"}.isdisjoint(moved.attribute_values)
        assert moved.area  # coarse, kept
    # The request is in the audit trail, under the pseudonym: never Léa's id.
    trail = json.loads(api.request("GET", "/admin/audit?limit=100", None, ADMIN).body)["items"]
    [erasure] = [entry for entry in trail if entry["action"] == "participant.erase"]
    assert erasure["actor"] == {"sub": pseudonymised[0].participant_id, "role": "participant"}
    assert erasure["details"] == {
        "pledges": "2",
        "reports": "1",
        "notifications": "1",
        "moderation": "1",
    }
    assert LEA not in json.dumps(trail)
    # The moderation record follows the pledge to its pseudonym, without the name.
    [record] = list(ModerationItem.scan())
    assert record.participant_id == pseudonymised[0].participant_id
    assert LEA not in record.key
    assert record.display_name is None
    assert record.reason == "my neighbour's name"
    # Idempotent: again 204, and nothing changes.
    again = api.request("DELETE", "/me", None, lea())
    assert again.status_code == 204
    api.drain()
    assert _figures(api, ids) == before


def test_after_erasure_a_pledge_is_new_and_the_erased_one_cannot_be_withdrawn(api: Api) -> None:
    ids = _reach(api)
    assert api.request("DELETE", "/me", None, lea()).status_code == 204
    api.drain()
    before = _figures(api, ids)["cycle.progress"]
    # The erased pledge is no longer Léa's: she has none to withdraw.
    gone = api.request("DELETE", f"/challenges/{ids['cycle']}/pledges/me", None, lea())
    assert gone.status_code == 404
    # A new pledge is a new participant.
    again = api.request("POST", f"/challenges/{ids['cycle']}/pledges", {"location": LYON}, lea())
    assert again.status_code == 201, again.body
    api.drain()
    after = _figures(api, ids)["cycle.progress"]
    assert after["participants"] == before["participants"] + 1


def test_a_withdrawal_between_the_erasures_mark_and_its_move_is_refused(api: Api) -> None:
    ids = _reach(api)
    before = _figures(api, ids)
    # An erasure has begun and marked Léa's pledge, and not moved it yet (it stopped there).
    pseudonym = "erased_0123456789abcdef01234567"
    store = DynamoPersonalData(api.container.settings)
    assert store.begin_erasure(LEA, pseudonym, now=datetime.now(UTC)) == pseudonym
    marked = PledgeItem.get(LEA, ids["cycle"])
    marked.update(actions=[PledgeItem.erasing.set(pseudonym)])
    withdrawal = api.request("DELETE", f"/challenges/{ids['cycle']}/pledges/me", None, lea())
    assert withdrawal.status_code == 404  # its REMOVE would be taken for the move
    # Nor is an e-mail to her claimed (it would log her address again).
    mail = Delivery(
        ids["cycle"], EventType.ENDED, RecipientRole.PARTICIPANT, Channel.EMAIL, LEA, LEA_EMAIL
    )
    claim = DynamoDeliveryRepository().claim(
        mail, now=datetime.now(UTC), lease=timedelta(seconds=90), pledged=True
    )
    assert claim is ClaimRefused.SETTLED
    # The next erasure finishes under that pseudonym; nothing was counted off.
    assert api.request("DELETE", "/me", None, lea()).status_code == 204
    api.drain()
    assert _figures(api, ids) == before
    owners = {i.participant_id for i in PledgeItem.scan() if i.pseudonymised}
    assert owners == {pseudonym}
    assert list(ErasureItem.scan()) == []  # ended: the sub's hash and pseudonym are gone


def test_an_erased_participant_gets_no_email_when_the_challenge_is_reached(api: Api) -> None:
    challenge = api.create(target={"metric": "participants", "value": 3})
    assert (
        api.request("POST", f"/challenges/{challenge['id']}/pledges", {}, lea()).status_code == 201
    )
    api.pledge(challenge["id"], "a-1")
    api.pledge(challenge["id"], "a-2")  # reached: the triggers have not run yet
    assert api.request("DELETE", "/me", None, lea()).status_code == 204
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["reached"] is True
    assert all(LEA_EMAIL not in message.to for message in api.emails())
    assert all(entry["to"] != LEA_EMAIL for entry in api.notifications(challenge["id"]))


@pytest.mark.parametrize("path", ["/me/export", "/me"])
def test_personal_data_routes_need_a_participant(api: Api, path: str) -> None:
    method = "GET" if path.endswith("export") else "DELETE"
    assert api.request(method, path).status_code == 401


def test_fan_out_chunks_which_hold_participant_ids_expire_and_milestones_do_not(api: Api) -> None:
    ids = _reach(api)
    items = list(ChallengeEventItem.query(ids["cycle"]))
    chunks = [item for item in items if item.event.startswith("fanout#")]
    milestones = [item for item in items if not item.event.startswith("fanout#")]
    assert chunks
    assert milestones
    for chunk in chunks:
        expected = chunk.occurred_at + timedelta(days=30)
        assert chunk.expires_at == expected.replace(microsecond=0)  # TTL: epoch seconds
    assert all(item.expires_at is None for item in milestones)
