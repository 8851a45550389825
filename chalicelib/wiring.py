"""Builds the services once per Lambda container (or local process) and hands them out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.api.idempotency import IdempotentResponses
from chalicelib.auth import Authenticator, build_verifier
from chalicelib.aws_clients import create_client
from chalicelib.notify.email import JinjaEmailRenderer, LazySesClient, SesMailer
from chalicelib.notify.proposal_email import render_proposal_email
from chalicelib.notify.update_email import UpdateEmailRenderer, WebLinks, unsubscribe_secret
from chalicelib.notify.webhook import HttpWebhookSender
from chalicelib.observability import (
    ContainerMetrics,
    build_metrics,
    configure_logging,
    configure_tracing,
)
from chalicelib.services.areas import AreaService
from chalicelib.services.audit import AuditService
from chalicelib.services.campaigns import CampaignService
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.deadlines import DeadlineService
from chalicelib.services.events import EventService
from chalicelib.services.follows import FollowService
from chalicelib.services.moderation import ModerationService
from chalicelib.services.notifications import NotificationService
from chalicelib.services.organizations import OrganizationService
from chalicelib.services.participant_mail import ParticipantMail
from chalicelib.services.payouts import PayoutService
from chalicelib.services.personal_data import PersonalDataService
from chalicelib.services.pledges import PledgeService
from chalicelib.services.ports import Clock, Mailer, SystemClock
from chalicelib.services.progress import ProgressService
from chalicelib.services.proposal_mail import ProposalMail
from chalicelib.services.proposals import ProposalService
from chalicelib.services.ratelimit import Limit, RateLimits
from chalicelib.services.reports import ReportService
from chalicelib.services.retry import RetryPolicy
from chalicelib.services.sponsor_reports import SponsorReportService
from chalicelib.services.tallies import TallyService
from chalicelib.services.teams import TeamService, TeamTallyService
from chalicelib.services.update_mail import UpdateMail
from chalicelib.services.votes import VoteService
from chalicelib.settings import LOCAL_STAGE, Settings
from chalicelib.storage.audit import DynamoAuditRepository
from chalicelib.storage.campaign_cache import CachedCampaignRepository
from chalicelib.storage.campaigns import (
    DynamoAudienceCounts,
    DynamoCampaignMembers,
    DynamoCampaignRepository,
)
from chalicelib.storage.challenge_cache import CachedChallengeRepository
from chalicelib.storage.challenges import DynamoChallengeRepository
from chalicelib.storage.counters import DynamoCounterRepository
from chalicelib.storage.deliveries import DynamoDeliveryRepository
from chalicelib.storage.events import DynamoEventRepository
from chalicelib.storage.fanout import DynamoFanoutRepository
from chalicelib.storage.follows import (
    DynamoFollowRepository,
    DynamoUpdateDeliveryRepository,
    DynamoUpdateRepository,
)
from chalicelib.storage.moderation import DynamoModeration
from chalicelib.storage.organization_cache import CachedOrganizationRepository
from chalicelib.storage.organizations import DynamoOrganizationRepository
from chalicelib.storage.payouts import DynamoPayoutRepository
from chalicelib.storage.personal_data import DynamoPersonalData
from chalicelib.storage.pledges import PLEDGE_INDEX_BUCKETS, DynamoPledgeRepository
from chalicelib.storage.proposals import (
    DynamoProposalDeliveryRepository,
    DynamoProposalRepository,
)
from chalicelib.storage.reports import DynamoReportRepository
from chalicelib.storage.tables import configure_tables, open_connections
from chalicelib.storage.tallies import DynamoPledgeTallies
from chalicelib.storage.teams import (
    DynamoMembershipRepository,
    DynamoTeamRepository,
    DynamoTeamTallies,
)
from chalicelib.storage.votes import DynamoVoteRepository


def idempotency_store(settings: Settings) -> Any:
    """Powertools' DynamoDB persistence for Idempotency-Key answers, on this stage's table."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    client = create_client(
        "dynamodb", region=settings.region, endpoint_url=settings.aws_endpoint_url
    )
    return DynamoDBPersistenceLayer(
        table_name=settings.table_name("idempotency"),
        boto3_client=client,
    )


@dataclass(frozen=True)
class Container:
    settings: Settings
    authenticator: Authenticator
    challenges: ChallengeService
    pledges: PledgeService
    progress: ProgressService
    notifications: NotificationService
    idempotency: IdempotentResponses
    organizations: OrganizationService
    campaigns: CampaignService
    participant_mail: ParticipantMail
    reports: ReportService
    areas: AreaService
    tallies: TallyService
    sponsor_reports: SponsorReportService
    personal_data: PersonalDataService
    moderation: ModerationService
    deadlines: DeadlineService
    votes: VoteService
    metrics: ContainerMetrics
    rate_limits: RateLimits
    # Admin routes record through `@endpoint(audit=...)`; other writers call `audit.record`.
    audit: AuditService
    payouts: PayoutService
    follows: FollowService
    update_mail: UpdateMail
    proposals: ProposalService
    proposal_mail: ProposalMail
    events: EventService
    teams: TeamService
    teams_tally: TeamTallyService


def build_container(
    settings: Settings,
    *,
    mailer: Mailer | None = None,
    clock: Clock | None = None,
) -> Container:
    configure_logging(settings)
    configure_tracing(settings)
    configure_tables(settings)
    open_connections()
    clock = clock or SystemClock()
    metrics = build_metrics(settings)
    challenge_repository = DynamoChallengeRepository(settings)
    # The hot reads (the pledge path, the campaign trigger) may be one TTL stale; see
    # docs/decisions.md. Admin and public reads go to the table.
    challenge_cache = CachedChallengeRepository(
        challenge_repository, ttl=settings.challenge_cache_ttl_seconds
    )
    counters = DynamoCounterRepository()
    progress = ProgressService(challenge_repository, counters, clock, metrics=metrics)
    # Employee-only visibility by e-mail domain needs the organisation; cached so a pledge
    # on a hot employee-only challenge adds no DynamoDB call.
    organization_cache = CachedOrganizationRepository(DynamoOrganizationRepository(settings))
    challenges = ChallengeService(
        challenge_repository,
        progress,
        clock,
        counter_shards=settings.counter_shards,
        cache=challenge_cache,
        organizations=organization_cache,
        campaigns=DynamoCampaignRepository(),  # a challenge's campaign_id must exist
    )
    deliveries = DynamoDeliveryRepository()
    payout_repository = DynamoPayoutRepository()
    pledge_repository = DynamoPledgeRepository(settings)
    tallies = DynamoPledgeTallies(settings)
    mailer = mailer or SesMailer(
        LazySesClient(settings), settings.mail_from, settings.ses_configuration_set
    )
    votes = VoteService(
        challenges,
        challenge_repository,
        pledge_repository,
        DynamoVoteRepository(settings),
        clock,
        metrics=metrics,
        tallies_ttl=timedelta(seconds=settings.vote_tallies_ttl_seconds),
    )
    notifications = NotificationService(
        challenge_repository,
        deliveries,
        mailer,
        JinjaEmailRenderer(),
        clock,
        max_attempts=settings.notification_max_attempts,
        retry=RetryPolicy(attempts=settings.notification_tries_per_invocation),
        # Only the local stage may call loopback and plain-http endpoints (for its tests).
        webhooks=HttpWebhookSender(allow_private=settings.stage == LOCAL_STAGE),
        metrics=metrics,
        votes=votes,  # reaching or ending closes a beneficiary vote before anyone is told
    )
    campaigns = CampaignService(
        # Read for every pledge record by the campaign trigger; campaigns never change.
        CachedCampaignRepository(DynamoCampaignRepository()),
        DynamoCampaignMembers(settings),
        DynamoAudienceCounts(counters),
        challenges,
        challenge_cache,
        clock,
        counter_shards=settings.campaign_counter_shards,
        organizations=organization_cache,
    )
    secret = unsubscribe_secret(settings)
    follow_repository = DynamoFollowRepository()
    update_repository = DynamoUpdateRepository()
    update_deliveries = DynamoUpdateDeliveryRepository()
    follows = FollowService(
        follow_repository,
        update_repository,
        update_deliveries,
        challenges,
        campaigns,
        pledge_repository,
        secret,
        clock,
        pledge_buckets=PLEDGE_INDEX_BUCKETS,
    )
    proposal_repository = DynamoProposalRepository()
    proposal_deliveries = DynamoProposalDeliveryRepository()
    web_links = WebLinks(settings.web_url)
    proposals = ProposalService(
        proposal_repository,
        organization_cache,
        challenges,
        clock,
        deliveries=proposal_deliveries,
    )

    def proposal_contact(organization_id: str) -> tuple[str, str | None, str | None] | None:
        organization = organization_cache.get(organization_id, consistent=True)
        contact = organization.profile.proposal_contact if organization else None
        if contact is None:
            return None
        return contact.email, contact.webhook_url, contact.webhook_secret

    memberships = DynamoMembershipRepository()
    team_tallies = DynamoTeamTallies()
    teams = TeamService(
        DynamoTeamRepository(),
        memberships,
        team_tallies,
        organization_cache,
        challenges,
        campaigns,
        clock,
        leaderboard_ttl=settings.leaderboard_ttl_seconds,
    )
    return Container(
        settings=settings,
        authenticator=Authenticator(build_verifier(settings.jwt)),
        challenges=challenges,
        pledges=PledgeService(challenges, pledge_repository, clock, metrics=metrics),
        progress=progress,
        notifications=notifications,
        idempotency=IdempotentResponses(lambda: idempotency_store(settings)),
        organizations=OrganizationService(
            organization_cache, clock, challenges=challenges, campaigns=campaigns
        ),
        campaigns=campaigns,
        participant_mail=ParticipantMail(
            challenge_repository,
            DynamoFanoutRepository(),
            notifications,
            clock,
            chunk_size=settings.participant_email_chunk,
            buckets=PLEDGE_INDEX_BUCKETS,
        ),
        reports=ReportService(challenges, DynamoReportRepository(settings), clock, metrics=metrics),
        areas=AreaService(tallies, challenges),
        tallies=TallyService(tallies, clock),
        sponsor_reports=SponsorReportService(
            challenges,
            campaigns,
            organization_cache,
            tallies,
            tallies,
            deliveries,
            clock,
            time_zone=ZoneInfo(settings.report_time_zone),
            payouts=payout_repository,
            teams=teams,  # its per-team figures, read now (never the leaderboards' cache)
        ),
        personal_data=PersonalDataService(DynamoPersonalData(settings), challenge_cache, clock),
        moderation=ModerationService(challenges, DynamoModeration(settings), clock),
        deadlines=DeadlineService(challenge_cache, progress, clock, metrics=metrics),
        votes=votes,
        metrics=metrics,
        rate_limits=RateLimits(
            {
                "pledge": Limit(settings.pledges_per_minute, 60),
                "report": Limit(settings.reports_per_minute, 60),
            },
            clock,
            metrics=metrics,
        ),
        audit=AuditService(DynamoAuditRepository(), clock, metrics=metrics),
        payouts=PayoutService(challenges, payout_repository, clock),
        follows=follows,
        update_mail=UpdateMail(
            challenge_repository,
            update_repository,
            follow_repository,
            DynamoFanoutRepository(),
            pledge_repository,
            update_deliveries,
            secret,
            mailer,
            UpdateEmailRenderer(),
            web_links,
            clock,
            chunk_size=settings.participant_email_chunk,
            max_attempts=settings.notification_max_attempts,
            metrics=metrics,
        ),
        proposals=proposals,
        proposal_mail=ProposalMail(
            proposal_repository,
            proposal_deliveries,
            proposal_contact,
            mailer,
            HttpWebhookSender(allow_private=settings.stage == LOCAL_STAGE),
            render_proposal_email,
            (web_links.proposal, web_links.challenge),
            clock,
            max_attempts=settings.notification_max_attempts,
            chunk_size=settings.participant_email_chunk,
            metrics=metrics,
        ),
        events=EventService(
            DynamoEventRepository(), challenges, mailer, clock, proposals=proposals
        ),
        teams=teams,
        # The challenge cache, as the other pledges-stream consumers: a challenge's
        # organisation and campaign never change once it has pledges.
        teams_tally=TeamTallyService(team_tallies, memberships, challenge_cache, clock),
    )


_container: Container | None = None
_lock = threading.Lock()
_factory: Callable[[], Container] = lambda: build_container(Settings.from_env())  # noqa: E731


def get_container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = _factory()
    return _container


def set_container(container: Container | None) -> None:
    """Install a container (tests, the local stack) or drop it to rebuild from the environment."""
    global _container
    with _lock:
        _container = container
