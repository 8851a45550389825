"""Campaigns: the API, and unique participants kept exact under redelivery and concurrency."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

import app as app_module
from chalicelib.domain.model import Metric, Party, Target
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.stream_poller import LocalLambdaContext
from chalicelib.services.campaigns import CampaignDraft, MemberChange
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.settings import Settings
from chalicelib.storage.campaigns import DynamoAudienceCounts, DynamoCampaignMembers
from chalicelib.storage.counters import DynamoCounterRepository
from chalicelib.wiring import Container, get_container
from tests.functional.conftest import ADMIN, Api, bearer, served_container
from tests.functional.test_public_api import assert_problem


def create_campaign(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"title": "No Impact Week", "description": "Five challenges", **fields}
    response = api.request("POST", "/admin/campaigns", body, ADMIN)
    assert response.status_code == 201, response.body
    created: dict[str, Any] = json.loads(response.body)
    return created


def campaign(api: Api, campaign_id: str, headers: dict[str, str] | None = None) -> Any:
    return api.request("GET", f"/campaigns/{campaign_id}", None, headers)


def test_a_campaign_counts_each_person_once_across_its_challenges(api: Api) -> None:
    week = create_campaign(api)
    assert week["id"].startswith("cmp_")
    cycle = api.create(campaign_id=week["id"], target={"metric": "participants", "value": 50})
    walk = api.create(
        campaign_id=week["id"], target={"metric": "quantity", "value": 1000, "unit": "km"}
    )
    elsewhere = api.create()  # not in the campaign
    for sub in ("ana", "ben", "chloe"):
        assert api.pledge(cycle["id"], sub).status_code == 201
    for sub in ("ana", "ben", "dan"):
        assert api.pledge(walk["id"], sub).status_code == 201
    assert api.pledge(walk["id"], "ana").status_code == 200  # a duplicate counts nothing
    assert api.pledge(elsewhere["id"], "eve").status_code == 201
    api.drain()

    response = campaign(api, week["id"])
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["title"] == "No Impact Week"
    assert {c["id"] for c in body["challenges"]} == {cycle["id"], walk["id"]}
    assert body["totals"] == {
        "participants": 4, "pledges": 6, "quantity": {"km": 0}, "promised": {}
    }  # fmt: skip
    assert b"@" not in response.body  # no e-mail address in a public answer

    # Ben leaves one challenge (still in the campaign), Chloe her only one (no longer).
    for sub, challenge in (("ben", cycle), ("chloe", cycle)):
        withdrawn = api.request(
            "DELETE", f"/challenges/{challenge['id']}/pledges/me", None, bearer(sub)
        )
        assert withdrawn.status_code == 204
    api.drain()
    totals = json.loads(campaign(api, week["id"]).body)["totals"]
    assert totals["participants"] == 3
    assert totals["pledges"] == 4


def test_totals_count_only_the_challenges_the_caller_may_see(api: Api) -> None:
    api.seed_organization("org_humanis")
    week = create_campaign(api, organization_id="org_humanis")
    # Humanis' own challenge, open to all (an organisation's campaign holds only its own).
    public = api.create(campaign_id=week["id"], organization_id="org_humanis")
    staff = api.create(
        campaign_id=week["id"], visibility="organization", organization_id="org_humanis"
    )
    employee = bearer("emp-1", org_id="org_humanis")
    for sub in ("ana", "ben"):
        assert api.pledge(public["id"], sub).status_code == 201
    for sub in ("ben", "chloe"):
        response = api.request(
            "POST", f"/challenges/{staff['id']}/pledges", None, bearer(sub, org_id="org_humanis")
        )
        assert response.status_code == 201, response.body
    api.drain()

    outsider_view = json.loads(campaign(api, week["id"]).body)
    assert [c["id"] for c in outsider_view["challenges"]] == [public["id"]]
    assert outsider_view["totals"]["participants"] == 2
    assert outsider_view["totals"]["pledges"] == 2
    employee_view = json.loads(campaign(api, week["id"], employee).body)
    assert {c["id"] for c in employee_view["challenges"]} == {public["id"], staff["id"]}
    assert employee_view["totals"]["participants"] == 3
    assert employee_view["totals"]["pledges"] == 4


def test_unknown_campaign_is_404_and_bad_bodies_400(api: Api) -> None:
    assert_problem(campaign(api, "cmp_nope"), 404)
    bad = api.request("POST", "/admin/campaigns", {"description": "no title"}, ADMIN)
    assert_problem(bad, 400)
    dates = {"title": "T", "starts_at": "2026-06-10T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}
    assert_problem(api.request("POST", "/admin/campaigns", dates, ADMIN), 400)
    assert_problem(api.request("POST", "/admin/campaigns", {"title": "T"}, bearer("p")), 403)


def test_a_campaign_names_an_existing_organisation(api: Api) -> None:
    unknown = api.request(
        "POST", "/admin/campaigns", {"title": "T", "organization_id": "org_nope"}, ADMIN
    )
    problem = assert_problem(unknown, 400)
    assert problem["errors"] == [
        {"loc": ["body", "organization_id"], "msg": "no organization has the id 'org_nope'"}
    ]
    api.seed_organization("org_known")
    known = api.request(
        "POST", "/admin/campaigns", {"title": "T", "organization_id": "org_known"}, ADMIN
    )
    assert known.status_code == 201, known.body


# --- the membership repository on the embedded DynamoDB ----------------------------------------


@pytest.fixture
def members(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoCampaignMembers]:
    for container in served_container(aws, monkeypatch):
        yield DynamoCampaignMembers(container.settings)


SHARDS = 4


def unique(campaign_id: str, audiences: set[str], seen: set[str]) -> int:
    return DynamoAudienceCounts(DynamoCounterRepository()).unique_participants(
        campaign_id, audiences, seen, SHARDS
    )


def change(
    members: DynamoCampaignMembers,
    person: str,
    challenge: str,
    live: bool,
    audience: str = "public",
) -> bool:
    return members.change(
        "cmp_a",
        person,
        challenge_id=challenge,
        audience=audience,
        live=live,
        shard=sum(map(ord, person)) % SHARDS,
    )


PUBLIC = {"public"}


def test_redelivered_changes_move_the_count_once(members: DynamoCampaignMembers) -> None:
    assert change(members, "ana", "ch_1", True) is True
    assert change(members, "ana", "ch_1", True) is False  # redelivered
    assert change(members, "ana", "ch_2", True) is False  # second challenge, same person
    assert unique("cmp_a", PUBLIC, PUBLIC) == 1
    assert change(members, "ana", "ch_1", False) is False  # still on ch_2
    assert change(members, "ana", "ch_1", False) is False  # redelivered
    assert unique("cmp_a", PUBLIC, PUBLIC) == 1
    assert change(members, "ana", "ch_2", False) is True
    assert change(members, "ana", "ch_2", False) is False  # redelivered
    assert unique("cmp_a", PUBLIC, PUBLIC) == 0


def test_each_caller_counts_the_people_of_the_audiences_it_sees(
    members: DynamoCampaignMembers,
) -> None:
    # ana: public only; ben: public and Humanis; chloe: Humanis only.
    change(members, "ana", "ch_pub", True)
    change(members, "ben", "ch_pub", True)
    change(members, "ben", "ch_hum", True, "org_humanis")
    change(members, "chloe", "ch_hum", True, "org_humanis")
    both = {"public", "org_humanis"}
    assert unique("cmp_a", both, PUBLIC) == 2  # ana, ben
    assert unique("cmp_a", both, {"org_humanis"}) == 2  # ben, chloe
    assert unique("cmp_a", both, both) == 3
    # Ben leaves the public challenge: he is now seen by Humanis employees only.
    change(members, "ben", "ch_pub", False)
    assert unique("cmp_a", both, PUBLIC) == 1
    assert unique("cmp_a", both, both) == 3


def test_concurrent_changes_for_the_same_people_keep_the_count_exact(
    members: DynamoCampaignMembers,
) -> None:
    people = [f"p{n}" for n in range(12)]
    challenges = [("ch_1", "public"), ("ch_2", "public"), ("ch_3", "org_x")]
    rng = random.Random(11)
    # Every (person, challenge) joins; a random half then leaves; each event is delivered
    # twice; events of one pair stay in order (as a stream shard keeps them), pairs interleave.
    pairs = [(p, c) for p in people for c in challenges]
    leaving = set(rng.sample(pairs, len(pairs) // 2))
    sequences = [
        [(p, c, True)] * 2 + ([(p, c, False)] * 2 if (p, c) in leaving else []) for p, c in pairs
    ]

    def run(sequence: list[tuple[str, tuple[str, str], bool]]) -> None:
        for person, (challenge, audience), live in sequence:
            change(members, person, challenge, live, audience)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(run, sequences))
    staying = [(p, c) for p, c in pairs if (p, c) not in leaving]
    everyone = {"public", "org_x"}
    assert unique("cmp_a", everyone, everyone) == len({p for p, _ in staying})
    assert unique("cmp_a", everyone, PUBLIC) == len({p for p, c in staying if c[1] == "public"})
    assert unique("cmp_a", everyone, {"org_x"}) == len({p for p, c in staying if c[1] == "org_x"})


# --- the trigger, a stream batch at a time, on the embedded DynamoDB ---------------------------

CONTEXT = LocalLambdaContext(
    function_name="track_campaigns",
    invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:track_campaigns",
)


class CallTap:
    """Counts the DynamoDB calls of the clients built while it is registered, and answers
    the TransactWriteItems calls numbered in `failing` (from 1) with an error instead."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.failing: dict[int, dict[str, Any]] = {}

    def __call__(self, params: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, Any] | None:
        operation = str(kwargs["event_name"]).rsplit(".", 1)[-1]
        self.calls[operation] += 1
        answer = self.failing.get(self.calls[operation]) if operation == TRANSACT else None
        if answer is None:
            return None
        return AWSResponse(params["url"], 400, {}, None), answer


INVALID = {"Error": {"Code": "ValidationException", "Message": "refused"}}
CONFLICT = {
    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
    "CancellationReasons": [{"Code": "TransactionConflict"}],
}


TRANSACT = "TransactWriteItems"


@pytest.fixture
def tap() -> CallTap:
    return CallTap()


@pytest.fixture
def tapped(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, tap: CallTap) -> Iterator[Container]:
    yield from served_container(aws, monkeypatch, taps={"before-call.dynamodb": tap})


def draft(title: str, campaign_id: str | None = None) -> ChallengeDraft:
    return ChallengeDraft(
        title=title, action="I act", target=Target(Metric.PARTICIPANTS, 10),
        sponsor=Party("Sponsor", "sponsor@week.example"),
        beneficiary=Party("Beneficiary", "beneficiary@week.example"),
        reward="€1", publish=True, campaign_id=campaign_id,
    )  # fmt: skip


def campaign_with_challenges(container: Container, count: int) -> tuple[str, list[str]]:
    week = container.campaigns.create(CampaignDraft(title="Week"))
    made = [container.challenges.create(draft(f"Challenge {n}", week.id)) for n in range(count)]
    return week.id, [challenge.id for challenge in made]


def stream_batch(changes: list[tuple[str, str, str]], first: int = 1) -> dict[str, Any]:
    """A pledges-stream batch as Lambda delivers it: (event name, challenge, person) each."""
    return {
        "Records": [
            {
                "eventID": str(first + n),
                "eventName": name,
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-3",
                "dynamodb": {
                    "Keys": {"challenge_id": {"S": challenge}, "participant_id": {"S": person}},
                    "SequenceNumber": str(first + n),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
            for n, (name, challenge, person) in enumerate(changes)
        ]
    }


def failed_records(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_a_batch_of_100_pledges_takes_one_read_and_two_transactions(
    tapped: Container, tap: CallTap
) -> None:
    week, (walk, bike) = campaign_with_challenges(tapped, 2)
    pledges = [("INSERT", walk if n % 3 else bike, f"p{n:03d}") for n in range(100)]
    tapped.campaigns.view(week, None)  # the campaign and its challenges read, as when busy
    tap.calls.clear()

    assert failed_records(app_module.track_campaigns(stream_batch(pledges), CONTEXT)) == []
    # 100 members and the counter shards they move take two transactions of at most 100.
    assert tap.calls["BatchGetItem"] == 1
    assert tap.calls[TRANSACT] == 2
    assert tap.calls["GetItem"] <= 3  # the challenges and the campaign, if their cache expired
    assert tapped.campaigns.counted(week)[1] == 100

    tap.calls.clear()  # delivered again: read, and nothing to write
    assert failed_records(app_module.track_campaigns(stream_batch(pledges), CONTEXT)) == []
    assert (tap.calls["BatchGetItem"], tap.calls[TRANSACT]) == (1, 0)
    assert tapped.campaigns.counted(week)[1] == 100


def test_a_failed_write_fails_the_batch_and_its_redelivery_counts_each_person_once(
    tapped: Container, tap: CallTap
) -> None:
    week, (walk,) = campaign_with_challenges(tapped, 1)
    pledges = [("INSERT", walk, f"p{n:03d}") for n in range(100)]
    tap.calls.clear()
    tap.failing = {2: INVALID}  # the second transaction fails; the first stood

    response = app_module.track_campaigns(stream_batch(pledges), CONTEXT)
    assert failed_records(response) == [str(n) for n in range(1, 101)]
    partly = tapped.campaigns.counted(week)[1]
    assert 0 < partly < 100

    # The redelivery writes only what is missing, in one transaction; its conflict with
    # another writer is retried within the invocation.
    tap.calls.clear()
    tap.failing = {1: CONFLICT}
    assert failed_records(app_module.track_campaigns(stream_batch(pledges), CONTEXT)) == []
    assert tap.calls[TRANSACT] == 2
    assert tapped.campaigns.counted(week)[1] == 100


def test_records_of_two_campaigns_in_one_batch_are_each_counted_in_theirs(
    tapped: Container,
) -> None:
    week, (walk, bike) = campaign_with_challenges(tapped, 2)
    other, (swim,) = campaign_with_challenges(tapped, 1)
    outside = tapped.challenges.create(draft("Outside")).id
    batch = [
        ("INSERT", walk, "ana"), ("INSERT", swim, "ana"), ("INSERT", bike, "ana"),
        ("INSERT", outside, "ben"), ("INSERT", swim, "ben"), ("INSERT", walk, "chloe"),
        ("REMOVE", walk, "chloe"), ("INSERT", "ch_missing", "dan"), ("MODIFY", walk, "ana"),
    ]  # fmt: skip
    assert failed_records(app_module.track_campaigns(stream_batch(batch), CONTEXT)) == []
    assert tapped.campaigns.counted(week)[1] == 1  # ana
    assert tapped.campaigns.counted(other)[1] == 2  # ana, ben


def test_a_record_that_cannot_be_read_holds_back_the_ones_after_it(tapped: Container) -> None:
    week, (walk,) = campaign_with_challenges(tapped, 1)
    event = stream_batch(
        [("INSERT", walk, "ana"), ("INSERT", walk, "ben"), ("INSERT", walk, "chloe")]
    )
    del event["Records"][1]["dynamodb"]["Keys"]["participant_id"]
    assert failed_records(app_module.track_campaigns(event, CONTEXT)) == ["2", "3"]
    assert tapped.campaigns.counted(week)[1] == 1  # ana, before it


class RacingMembers(DynamoCampaignMembers):
    """Someone else changes members between the batch's read and its write; each
    transaction's members are logged."""

    def __init__(self, settings: Settings, racers: list[tuple[str, str, str]]) -> None:
        super().__init__(settings)
        self.racers = racers
        self.transactions: list[list[str]] = []

    def _read(self, campaign_id: str, participant_ids: list[str]) -> dict[str, Any]:
        read = super()._read(campaign_id, participant_ids)
        for person, challenge, audience in self.racers:
            self.change(campaign_id, person, challenge_id=challenge, audience=audience,
                        live=True, shard=sum(map(ord, person)) % SHARDS)  # fmt: skip
        self.racers = []
        return read

    def _transact(self, campaign_id: str, writes: Sequence[Any]) -> None:
        self.transactions.append([write.member.participant_id for write in writes])
        super()._transact(campaign_id, writes)


def test_members_changed_since_the_batch_read_them_are_applied_on_their_own(
    members: DynamoCampaignMembers,
) -> None:
    change(members, "ana", "ch_1", True)
    # Between the read and the write, ana pledges on another challenge and ben's item is made.
    racing = RacingMembers(
        get_container().settings, [("ana", "ch_3", "org_y"), ("ben", "ch_2", "public")]
    )
    batch = [
        MemberChange(person, challenge, audience, True, sum(map(ord, person)) % SHARDS)
        for person, challenge, audience in (
            ("ana", "ch_2", "org_x"), ("ben", "ch_1", "public"), ("chloe", "ch_1", "public"),
        )
    ]  # fmt: skip
    assert racing.apply("cmp_a", batch) == 2  # ana (a new audience) and chloe; ben stays public
    assert racing.transactions == [
        ["ana"], ["ben"],  # the racers
        ["ben", "chloe", "ana"],  # cancelled: ana's and ben's items changed since the read
        ["ben"], ["ana"],  # read again and written on their own
        ["chloe"],  # the rest, together again
    ]  # fmt: skip
    everyone = {"public", "org_x", "org_y"}
    assert unique("cmp_a", everyone, everyone) == 3
    assert unique("cmp_a", everyone, PUBLIC) == 3
    assert unique("cmp_a", everyone, {"org_x"}) == 1
    assert unique("cmp_a", everyone, {"org_y"}) == 1
    assert racing.apply("cmp_a", batch) == 0  # and delivered again
