"""One stack per stage: tables, identity, mail, the Chalice app, its roles, edge and alarms."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from chalicelib.api.routes import ALLOWED_ORIGIN_VARIABLE
from infra import chalice_app
from infra.access import Grants, access_for, build_role, table_levels
from infra.api import API_GATEWAY_STAGE, build_web_acl, configure_rest_api
from infra.follows import UNSUBSCRIBE_SECRET_VARIABLE, build_unsubscribe_secret
from infra.functions import API_HANDLER, ChaliceFunction, app_functions, load_app
from infra.identity import build_mail, build_user_directory, hosted_ui_url
from infra.monitoring import Alarms
from infra.stages import StageConfig
from infra.tables import TableSpec, build_tables, table_specs
from infra.triggers import build_failure_queue, configure_trigger, triggers
from infra.web import build_web_hosting, deploy_web

_RETENTION: Mapping[int, logs.RetentionDays] = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


class CrowdactStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        stage: StageConfig,
        *,
        source_dir: Path = chalice_app.REPO_ROOT,
        web_dir: Path | None = None,
    ) -> None:
        """`web_dir`: the web client to deploy, `<source_dir>/web` unless given."""
        super().__init__(
            scope,
            stage.name,  # chalice.cdk takes the Chalice stage from the stack's id
            stack_name=stage.stack_name,
            env=cdk.Environment(account=stage.account, region=stage.region),
            description=(
                f"crowdact ({stage.name}): API, stream triggers, tables, users, mail, web client"
            ),
            termination_protection=stage.retain_data,
        )
        cdk.Tags.of(self).add("app", "crowdact")
        cdk.Tags.of(self).add("stage", stage.name)
        self.stage = stage
        self.specs: Mapping[str, TableSpec] = {spec.name: spec for spec in table_specs()}
        self.functions = {f.name: f for f in app_functions(load_app(source_dir))}
        self.tables = build_tables(self, stage, list(self.specs.values()))
        self.web = build_web_hosting(self, stage, auth_origin=hosted_ui_url(self, stage))
        self.users = build_user_directory(self, stage, web_url=self.web.url)
        self.mail = build_mail(self, stage)
        self.unsubscribe_secret = build_unsubscribe_secret(self, stage)
        self.triggers = triggers(stage, list(self.functions.values()))
        self.failure_queues = {
            t.function_name: build_failure_queue(self, stage, t) for t in self.triggers
        }
        self.log_groups = {f.name: self._log_group(f) for f in self.functions.values()}
        self.roles = {f.name: self._role(f) for f in self.functions.values()}

        self.chalice = chalice_app.package_app(
            self,
            stage,
            environment=self.lambda_environment(),
            api_role_arn=self.roles[API_HANDLER].role_arn,
            source_dir=source_dir,
        )
        for function in self.functions.values():
            self._configure_function(function)
        for trigger in self.triggers:
            configure_trigger(
                chalice_app.function(self.chalice, trigger.function),
                trigger,
                self.tables[trigger.table],
                self.failure_queues[trigger.function_name],
            )
        self.rest_api = chalice_app.rest_api(self.chalice)
        configure_rest_api(self.rest_api, stage, allowed_origin=self.web.url)
        self.web_acl = build_web_acl(self, stage, self.rest_api) if stage.waf_enabled else None
        self.web_deployment = deploy_web(
            self,
            stage,
            self.web,
            web_dir=web_dir or source_dir / "web",
            config=self.web_config(),
            connect=[self.api_origin, self.users.domain.base_url()],
            log_retention=_RETENTION[stage.log_retention_days],
        )
        self._alarms()
        self._outputs()

    def function_name(self, name: str) -> str:
        return self.stage.resource_name(name)

    def lambda_environment(self) -> dict[str, str]:
        """Every variable chalicelib.settings.Settings.from_env reads in AWS."""
        return {
            "CROWDACT_STAGE": self.stage.name,
            "CROWDACT_TABLE_PREFIX": self.stage.table_prefix,
            "CROWDACT_JWT_MODE": "rs256",
            "CROWDACT_JWKS_URL": self.users.jwks_url,
            "CROWDACT_JWT_ISSUER": self.users.issuer,
            "CROWDACT_JWT_AUDIENCE": self.users.client.user_pool_client_id,
            "CROWDACT_MAIL_FROM": self.stage.mail_from,
            "CROWDACT_SES_CONFIGURATION_SET": self.mail.configuration_set.configuration_set_name,
            # The only origin the API answers CORS for: the web client's distribution.
            ALLOWED_ORIGIN_VARIABLE: self.web.url,
            # Only the functions granted it can read the secret itself (infra.access).
            UNSUBSCRIBE_SECRET_VARIABLE: self.unsubscribe_secret.secret_arn,
        }

    @property
    def api_origin(self) -> str:
        return f"https://{self.rest_api.ref}.execute-api.{self.region}.{self.url_suffix}"

    @property
    def api_url(self) -> str:
        return f"{self.api_origin}/{API_GATEWAY_STAGE}"

    def web_config(self) -> dict[str, object]:
        """What the web client reads from config.js (`window.CROWDACT_CONFIG`)."""
        return {
            "apiBase": self.api_url,
            "tileUrl": self.stage.tile_url,
            "stage": self.stage.name,
            "cognito": {
                "domain": self.users.domain.base_url(),
                "clientId": self.users.client.user_pool_client_id,
                "redirectUri": self.users.redirect_uri,
            },
        }

    def _log_group(self, function: ChaliceFunction) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            f"{function.cfn_name}Logs",
            log_group_name=f"/aws/lambda/{self.function_name(function.name)}",
            retention=_RETENTION[self.stage.log_retention_days],
            removal_policy=(
                cdk.RemovalPolicy.RETAIN if self.stage.retain_data else cdk.RemovalPolicy.DESTROY
            ),
        )

    def _role(self, function: ChaliceFunction) -> iam.Role:
        name = function.name
        access = access_for(name)
        tables = table_levels(name, self.specs)
        unknown = sorted(set(tables) - set(self.specs))
        if unknown:
            raise LookupError(f"{name} is granted tables that do not exist: {unknown}")
        stream_table = self.tables[function.stream_table] if function.stream_table else None
        grants = Grants(
            log_group=self.log_groups[name],
            tables=[(self.specs[base], self.tables[base], level) for base, level in tables.items()],
            stream_table=stream_table,
            failure_queue=self.failure_queues.get(name),
            mail_resources=(
                (self.mail.identity_arn, self.mail.configuration_set_arn)
                if access.sends_mail
                else ()
            ),
            secrets=(
                (self.unsubscribe_secret.secret_arn,) if access.reads_unsubscribe_secret else ()
            ),
        )
        return build_role(
            self, f"{function.cfn_name}Role", f"crowdact {name} ({self.stage.name})", grants
        )

    def _configure_function(self, function: ChaliceFunction) -> None:
        resource = chalice_app.function(self.chalice, function)
        resource.add_property_override("FunctionName", self.function_name(function.name))
        resource.add_property_override("Role", self.roles[function.name].role_arn)
        # Referencing the log group also makes the function wait for it (with its retention)
        # rather than let Lambda create one that never expires.
        resource.add_property_override(
            "LoggingConfig",
            {"LogGroup": self.log_groups[function.name].log_group_name, "LogFormat": "Text"},
        )

    def _alarms(self) -> None:
        alarms = Alarms(self, "Alarms", self.stage)
        for function in self.functions.values():
            alarms.function_errors(function.cfn_name, self.function_name(function.name))
        for trigger in self.triggers:
            alarms.failure_queue(trigger, self.failure_queues[trigger.function_name])
            alarms.iterator_age(trigger, self.function_name(trigger.function_name))
        for name, table in self.tables.items():
            alarms.table_throttles(name, table)
        alarms.api_server_errors(self.stage.resource_name("api"), API_GATEWAY_STAGE)
        alarms.audit_append_failures()
        self.alarm_topic = alarms.topic

    def _outputs(self) -> None:
        values = {
            "UserPoolId": self.users.user_pool.user_pool_id,
            "AppClientId": self.users.client.user_pool_client_id,
            "JwtIssuer": self.users.issuer,
            "MailFrom": self.stage.mail_from,
            "AlarmTopicArn": self.alarm_topic.topic_arn,
            "WebUrl": self.web.url,
            "WebBucketName": self.web.bucket.bucket_name,
            "HostedUiUrl": self.users.domain.base_url(),
        }
        for trigger in self.triggers:
            queue = self.failure_queues[trigger.function_name]
            values[f"{trigger.cfn_name}FailureQueueUrl"] = queue.queue_url
        for key, value in values.items():
            cdk.CfnOutput(self, key, value=value)
