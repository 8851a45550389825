"""CloudWatch alarms, all notifying one SNS topic per stage."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.observability import NAMESPACE, SERVICE
from chalicelib.services.ports import MetricName
from infra.stages import StageConfig
from infra.triggers import Trigger

# Operations whose throttling the app would feel (PynamoDB reads, writes and transactions).
THROTTLE_OPERATIONS = (
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.BATCH_GET_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
)
API_5XX_RATE_THRESHOLD = 0.01  # 1% of requests over 5 minutes


class Alarms(Construct):
    def __init__(self, scope: Construct, construct_id: str, stage: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", topic_name=stage.resource_name("alarms"))
        if stage.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(stage.alarm_email))
        self._stage = stage
        self._action = actions.SnsAction(self.topic)

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=self._stage.resource_name(_kebab(construct_id)),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            # No data means no messages, no errors, no traffic: nothing to report.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm

    def failure_queue(self, trigger: Trigger, queue: sqs.IQueue) -> None:
        self._alarm(
            f"{trigger.cfn_name}DlqNotEmpty",
            queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            0,
            f"{trigger.function_name} gave up on stream records: replay them from the stream "
            "(kept 24 h) using the positions in the queue's messages",
        )

    def iterator_age(self, trigger: Trigger, function_name: str) -> None:
        self._alarm(
            f"{trigger.cfn_name}IteratorAge",
            _lambda_metric("IteratorAge", function_name, cloudwatch.Stats.MAXIMUM),
            trigger.settings.iterator_age_alarm_ms,
            f"{trigger.function_name} is falling behind its stream",
            evaluation_periods=3,
            datapoints_to_alarm=2,
        )

    def function_errors(self, cfn_name: str, function_name: str) -> None:
        # The handlers report failed records instead of raising (docs/decisions.md #21), so
        # any error is a crash, a timeout or a bug.
        self._alarm(
            f"{cfn_name}Errors",
            _lambda_metric("Errors", function_name, cloudwatch.Stats.SUM),
            0,
            f"{function_name} failed (crash, timeout or out of memory)",
        )

    def table_throttles(self, name: str, table: dynamodb.ITable) -> None:
        self._alarm(
            "".join(part.capitalize() for part in name.split("_")) + "TableThrottles",
            table.metric_throttled_requests_for_operations(
                operations=list(THROTTLE_OPERATIONS), period=cdk.Duration.minutes(5)
            ),
            0,
            f"requests to the {name} table are throttled (a hot key or an on-demand peak)",
        )

    def api_server_errors(self, api_name: str, api_stage: str) -> None:
        self._alarm(
            "Api5xxRate",
            cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name="5XXError",
                dimensions_map={"ApiName": api_name, "Stage": api_stage},
                statistic=cloudwatch.Stats.AVERAGE,
                period=cdk.Duration.minutes(5),
            ),
            API_5XX_RATE_THRESHOLD,
            "more than 1% of API requests answered 5xx",
            evaluation_periods=3,
            datapoints_to_alarm=2,
        )

    def audit_append_failures(self) -> None:
        # The app's own EMF counter (chalicelib.observability.Metrics: dimensions stage and
        # service): an admin write whose audit entry could not be stored, so is only in the
        # error log line that holds it.
        self._alarm(
            "AuditAppendFailed",
            cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=MetricName.AUDIT_APPEND_FAILED,
                dimensions_map={"stage": self._stage.name, "service": SERVICE},
                statistic=cloudwatch.Stats.SUM,
                period=cdk.Duration.minutes(5),
            ),
            0,
            "an admin write's audit entry was not stored: copy it from the API's error log "
            "('audit entry not stored') into the audit table",
        )


def _lambda_metric(name: str, function_name: str, statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=name,
        dimensions_map={"FunctionName": function_name},
        statistic=statistic,
        period=cdk.Duration.minutes(1),
    )


def _kebab(construct_id: str) -> str:
    out: list[str] = []
    for index, char in enumerate(construct_id):
        if char.isupper() and index and not construct_id[index - 1].isupper():
            out.append("-")
        out.append(char.lower())
    return "".join(out)
