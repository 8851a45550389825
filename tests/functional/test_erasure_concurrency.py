"""Erasure racing the same person's pledges, withdrawals and reports, on moto with the stream
triggers: whatever the interleaving, every count stays equal to what is stored, and a last
erasure leaves nothing under the person's id.

Like the pledge/withdraw race (test_concurrency.py), with hypothesis choosing the operations
and threads running them at once; moto serialises each request, so DynamoDB's conditions
decide the races, as in AWS.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app as app_module
from chalicelib.domain.errors import (
    ContentionError,
    NotPledgedError,
    PledgeNotFoundError,
)
from chalicelib.domain.model import Metric, Party, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.stack import stream_bindings, streams_client
from chalicelib.local.stream_poller import StreamPoller
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.reports import ReportRequest
from chalicelib.storage.tables import (
    AreaCountItem,
    PledgeHourItem,
    PledgeItem,
    ReportItem,
)
from chalicelib.wiring import Container
from tests.functional.conftest import served_container

LEA = Principal(sub="lea", email="lea@example.org", email_verified=True)
AREAS = ("u09tv", "u0bs1")


@pytest.fixture
def container(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    yield from served_container(aws, monkeypatch)


def _draft(campaign_id: str) -> ChallengeDraft:
    return ChallengeDraft(
        title="Race", action="I act", target=Target(Metric.QUANTITY, 10_000, "km"),
        sponsor=Party("Sponsor", "sponsor@race.example"),
        beneficiary=Party("Beneficiary", "beneficiary@race.example"),
        reward="€1,000", publish=True, campaign_id=campaign_id,
    )  # fmt: skip


operations = st.lists(
    st.tuples(
        st.sampled_from(["pledge", "withdraw", "report", "erase"]),
        st.integers(0, 1),  # which challenge
        st.sampled_from(AREAS),
    ),
    min_size=4,
    max_size=14,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_erasure_racing_the_same_persons_writes_keeps_every_count_exact(
    container: Container, ops: list[tuple[str, int, str]]
) -> None:
    campaign = container.campaigns.create(CampaignDraft(title="Week"))
    challenges = [container.challenges.create(_draft(campaign.id)) for _ in range(2)]
    # Someone else, so the campaign's count is not only Léa's.
    container.pledges.pledge(Principal(sub="other"), challenges[0].id, PledgeRequest())

    made = Counter({challenges[0].id: 1})  # pledges created and withdrawn, per challenge
    withdrawn: Counter[str] = Counter()
    lock = threading.Lock()

    def run(op: tuple[str, int, str]) -> None:
        name, which, area = op
        challenge_id = challenges[which].id
        # A 503 (contention), a 404 (nothing to withdraw, or moved by the erasure) and a 409
        # (no pledge to report on) are answers a client gets; the counts must hold anyway.
        with contextlib.suppress(ContentionError, PledgeNotFoundError, NotPledgedError):
            if name == "pledge":
                outcome = container.pledges.pledge(LEA, challenge_id, PledgeRequest(area=area))
                with lock:
                    made[challenge_id] += outcome.created
            elif name == "withdraw":
                container.pledges.withdraw(LEA, challenge_id)
                with lock:
                    withdrawn[challenge_id] += 1
            elif name == "report":
                container.reports.report(LEA, challenge_id, ReportRequest(quantity=1.5))
            else:
                container.personal_data.erase(LEA)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(run, ops))
    poller = StreamPoller(streams_client(container.settings), stream_bindings(app_module))
    poller.drain()

    for challenge in challenges:
        items = [i for i in PledgeItem.scan(PledgeItem.challenge_id == challenge.id)]
        assert not [i for i in items if i.erasing], "a pledge left marked"
        shown = container.challenges.get_visible(challenge.id, None).totals
        assert shown.participants == len(items)
        reports = list(ReportItem.scan(ReportItem.challenge_id == challenge.id))
        assert shown.quantity == pytest.approx(sum(r.quantity for r in reports))
        assert sum(i.quantity_reported for i in items) <= shown.quantity + 1e-9
        by_area = Counter(i.area for i in items if i.area)
        counted = {a.area: int(a.participants) for a in AreaCountItem.query(challenge.id)}
        assert {a: n for a, n in counted.items() if n} == dict(by_area)
        # The per-hour series count what people did, not the erasure's moves.
        hours = list(PledgeHourItem.query(challenge.id))
        assert sum(int(h.made) for h in hours) == made[challenge.id]
        assert sum(int(h.withdrawn) for h in hours) == withdrawn[challenge.id]
        assert made[challenge.id] - withdrawn[challenge.id] == len(items)
        for item in items:
            if item.pseudonymised:
                values = item.attribute_values
                assert {"email", "display_name", "locale"}.isdisjoint(values)
    people = {
        i.participant_id
        for c in challenges
        for i in PledgeItem.scan(PledgeItem.challenge_id == c.id)
    }
    assert container.campaigns.view(campaign.id, None).participants == len(people)

    # A last erasure, alone, leaves nothing under Léa's id and changes no count.
    before = [container.challenges.get_visible(c.id, None).totals for c in challenges]
    container.personal_data.erase(LEA)
    poller.drain()
    assert container.personal_data.export(LEA).records.empty
    assert [container.challenges.get_visible(c.id, None).totals for c in challenges] == before
    assert container.campaigns.view(campaign.id, None).participants == len(people)
