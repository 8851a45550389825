"""Least-privilege IAM: one role per Lambda function, each action on named resources only.

Chalice's own role management and policy autogeneration stay off (`manage_iam_role: false`):
autogeneration cannot see PynamoDB calls. Each role's policy is inline, so it exists before
any function (and the stream trigger Lambda validates on creation) that uses the role.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.tables import TableSpec


class TableAccess(enum.Enum):
    READ = "read"
    APPEND = "append"  # read, and put new items; never update or delete one
    READ_WRITE = "read_write"


# Tables whose items no code may change or delete once written (the audit trail): whoever
# writes them gets APPEND. IAM has no condition that forces a PutItem to be conditional, so
# the one overwrite left open is a put over an existing id; the app always puts with
# `attribute_not_exists(id)`, and PITR keeps 35 days of history (docs/decisions.md 86).
APPEND_ONLY_TABLES: frozenset[str] = frozenset({"audit"})


READ_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
# Transactions need no action of their own: each item is authorised as its Put/Update/Delete.
WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
APPEND_ACTIONS = ("dynamodb:PutItem",)
STREAM_READ_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
TRACE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


@dataclass(frozen=True)
class FunctionAccess:
    """What one Chalice function may touch. `tables=None` means every table (the API).
    A stream trigger may also read its stream (found from the app, see infra.functions)."""

    tables: Mapping[str, TableAccess] | None
    sends_mail: bool = False
    # Signs or checks unsubscribe links (infra/follows.py): may read that one secret.
    reads_unsubscribe_secret: bool = False


# Every function of the Chalice app needs an entry (the synth fails otherwise). The API
# serves every route, so it may read and write every table, new ones included (the
# append-only ones: read and append); each stream trigger gets only what its handler in
# chalicelib/streams.py touches.
FUNCTION_ACCESS: Mapping[str, FunctionAccess] = {
    "api_handler": FunctionAccess(tables=None, reads_unsubscribe_secret=True),
    # services.progress.refresh: the challenge, its counter shards, the milestone.
    "aggregate_progress": FunctionAccess(
        tables={
            "counters": TableAccess.READ,
            "challenges": TableAccess.READ_WRITE,
            "challenge_events": TableAccess.READ_WRITE,
        }
    ),
    # services.deadlines.end_due (every minute): live challenges from challenges.by_status,
    # the final sum of their counter shards (services.progress.refresh), then the status
    # change and the challenge.ended milestone in one transaction; and
    # services.votes.close_due: a vote past its closes_at freezes its shards (counters) and
    # writes its result with vote.closed.
    "end_due_challenges": FunctionAccess(
        tables={
            "counters": TableAccess.READ_WRITE,
            "challenges": TableAccess.READ_WRITE,
            "challenge_events": TableAccess.READ_WRITE,
        }
    ),
    # services.notifications.notify: the challenge, the delivery log, SES; closing a
    # beneficiary vote first (services.votes.close: its shards in counters, its result on the
    # challenge with vote.closed in the outbox); services.participant_mail: the pledges
    # index, the fan-out chunks in the outbox; and services.update_mail: the update, its
    # followers, their choices, the e-mail claims, and the key that signs each e-mail's
    # unsubscribe link; services.proposal_mail: a proposal event's recipients, once each;
    # and services.events.send_seat_mail: the event, and the sign-up that holds the address
    # and the e-mail's claim.
    "notify_milestones": FunctionAccess(
        tables={
            "counters": TableAccess.READ_WRITE,
            "challenges": TableAccess.READ_WRITE,
            "deliveries": TableAccess.READ_WRITE,
            "pledges": TableAccess.READ,
            "challenge_events": TableAccess.READ_WRITE,
            "follows": TableAccess.READ,
            "challenge_updates": TableAccess.READ,
            "update_deliveries": TableAccess.READ_WRITE,
            # services.proposal_mail: the proposal, its supporters, the e-mail claims, and
            # the addressed organisation's proposal contact.
            "proposals": TableAccess.READ,
            "proposal_supports": TableAccess.READ,
            "proposal_deliveries": TableAccess.READ_WRITE,
            "organizations": TableAccess.READ,
            "events": TableAccess.READ,
            "event_rsvps": TableAccess.READ_WRITE,
        },
        sends_mail=True,
        reads_unsubscribe_secret=True,
    ),
    # services.tallies.count: the challenge's counter shards (participants, offers), the
    # area counts, the hourly pledge counts and the receipts of counted stream records.
    "count_areas": FunctionAccess(
        tables={
            "counters": TableAccess.READ_WRITE,
            "area_counts": TableAccess.READ_WRITE,
            "pledge_hours": TableAccess.READ_WRITE,
            "stream_receipts": TableAccess.READ_WRITE,
        }
    ),
    # services.campaigns.record_pledges: the challenge and its campaign, the members (one
    # BatchGetItem per campaign and batch), and the campaign's counter shards (in counters).
    "track_campaigns": FunctionAccess(
        tables={
            "challenges": TableAccess.READ,
            "campaigns": TableAccess.READ,
            "campaign_members": TableAccess.READ_WRITE,
            "counters": TableAccess.READ_WRITE,
        }
    ),
    # services.teams.TeamTallyService: the challenge (its organisation and campaign), the
    # memberships and their history (the team of a pledge's or report's time), the
    # leaderboard tallies and the receipts of counted stream records.
    "count_teams": FunctionAccess(
        tables={
            "challenges": TableAccess.READ,
            "team_members": TableAccess.READ,
            "team_tallies": TableAccess.READ_WRITE,
            "stream_receipts": TableAccess.READ_WRITE,
        }
    ),
}


def access_for(function_name: str) -> FunctionAccess:
    try:
        return FUNCTION_ACCESS[function_name]
    except KeyError:
        raise LookupError(
            f"the Chalice function {function_name!r} has no IAM access declared: add it to "
            "infra.access.FUNCTION_ACCESS (and a FILTER_PATTERNS entry if it reads a stream)"
        ) from None


def table_levels(function_name: str, tables: Iterable[str]) -> dict[str, TableAccess]:
    """What the function may do on each table it reaches (`tables`: every table there is)."""
    access = access_for(function_name)
    if access.tables is None:
        return {
            base: TableAccess.APPEND if base in APPEND_ONLY_TABLES else TableAccess.READ_WRITE
            for base in tables
        }
    changing = sorted(
        base
        for base, level in access.tables.items()
        if base in APPEND_ONLY_TABLES and level is TableAccess.READ_WRITE
    )
    if changing:
        raise ValueError(f"{function_name} may only append to {changing}, never change them")
    return dict(access.tables)


@dataclass(frozen=True)
class Grants:
    """The resources one function's role is granted (built from FunctionAccess)."""

    log_group: logs.ILogGroup
    tables: Sequence[tuple[TableSpec, dynamodb.ITable, TableAccess]]
    stream_table: dynamodb.ITable | None = None
    failure_queue: sqs.IQueue | None = None
    mail_resources: Sequence[str] = field(default_factory=tuple)
    secrets: Sequence[str] = field(default_factory=tuple)  # ARNs of secrets it may read


def policy_statements(grants: Grants) -> list[iam.PolicyStatement]:
    statements = [
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=list(LOG_ACTIONS),
            resources=[grants.log_group.log_group_arn],
        )
    ]
    readable = [_table_and_index_arns(spec, table) for spec, table, _ in grants.tables]
    writable = [
        [table.table_arn] for _, table, access in grants.tables if access is TableAccess.READ_WRITE
    ]
    if readable:
        statements.append(
            iam.PolicyStatement(
                sid="ReadItems", actions=list(READ_ACTIONS), resources=_flatten(readable)
            )
        )
    if writable:
        statements.append(
            iam.PolicyStatement(
                sid="WriteItems", actions=list(WRITE_ACTIONS), resources=_flatten(writable)
            )
        )
    appendable = [
        table.table_arn for _, table, access in grants.tables if access is TableAccess.APPEND
    ]
    if appendable:
        statements.append(
            iam.PolicyStatement(
                sid="AppendItems", actions=list(APPEND_ACTIONS), resources=appendable
            )
        )
    if grants.stream_table is not None:
        # ListStreams is scoped as AWS documents it for a stream reader: the table's streams.
        statements.append(
            iam.PolicyStatement(
                sid="ReadTriggerStream",
                actions=list(STREAM_READ_ACTIONS),
                resources=[f"{grants.stream_table.table_arn}/stream/*"],
            )
        )
    if grants.failure_queue is not None:
        # The event source mapping's on-failure destination is written with the function's role.
        statements.append(
            iam.PolicyStatement(
                sid="SendFailedBatchesToDlq",
                actions=["sqs:SendMessage"],
                resources=[grants.failure_queue.queue_arn],
            )
        )
    if grants.mail_resources:
        statements.append(
            iam.PolicyStatement(
                sid="SendMail", actions=["ses:SendEmail"], resources=list(grants.mail_resources)
            )
        )
    if grants.secrets:
        statements.append(
            iam.PolicyStatement(
                sid="ReadSecrets",
                actions=["secretsmanager:GetSecretValue"],
                resources=list(grants.secrets),
            )
        )
    # Active tracing (Powertools Tracer): X-Ray's write actions support no resource-level
    # permissions, so this is the one Allow on "*" (AWS's AWSXRayDaemonWriteAccess does the
    # same), limited to these two actions.
    statements.append(
        iam.PolicyStatement(sid="WriteTraces", actions=list(TRACE_ACTIONS), resources=["*"])
    )
    return statements


def _table_and_index_arns(spec: TableSpec, table: dynamodb.ITable) -> list[str]:
    indexes = [*spec.global_indexes, *spec.local_indexes]
    return [table.table_arn, *(f"{table.table_arn}/index/{index.name}" for index in indexes)]


def _flatten(groups: Sequence[Sequence[str]]) -> list[str]:
    return [arn for group in groups for arn in group]


def build_role(scope: Construct, construct_id: str, description: str, grants: Grants) -> iam.Role:
    return iam.Role(
        scope,
        construct_id,
        description=description,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        inline_policies={"access": iam.PolicyDocument(statements=policy_statements(grants))},
    )
