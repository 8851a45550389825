"""Cognito (the RS256 tokens' issuer), SES, and the environment every function runs with."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from chalicelib.domain.model import ADMIN_GROUP, ORG_ADMIN_GROUP
from chalicelib.settings import Settings
from tests.infra.conftest import Synthesized

FAKE_REFS = {"AWS::URLSuffix": "amazonaws.com", "AWS::Region": "eu-west-3"}


def resolve(value: Any, refs: dict[str, str]) -> str:
    """Enough of CloudFormation's intrinsics to read the functions' environment."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return refs.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::GetAtt" in value:
        attribute = ".".join(value["Fn::GetAtt"])
        return refs.get(attribute, f"<{attribute}>")
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(resolve(part, refs) for part in parts)
    raise AssertionError(f"unexpected intrinsic {value}")


def test_user_pool_has_the_groups_the_app_knows(stage: Synthesized) -> None:
    pool = stage.logical_id(stage.stack.users.user_pool)
    for group in (ADMIN_GROUP, ORG_ADMIN_GROUP):
        stage.template.has_resource_properties(
            "AWS::Cognito::UserPoolGroup", {"GroupName": group, "UserPoolId": {"Ref": pool}}
        )
    stage.template.resource_count_is("AWS::Cognito::UserPoolGroup", 2)


def test_user_pool_has_the_org_id_attribute(stage: Synthesized) -> None:
    stage.template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "Schema": Match.array_with(
                [Match.object_like({"Name": "org_id", "AttributeDataType": "String"})]
            ),
            "UsernameAttributes": ["email"],
        },
    )


def test_users_cannot_set_their_own_organisation(stage: Synthesized) -> None:
    (client,) = stage.resources("AWS::Cognito::UserPoolClient").values()
    properties = client["Properties"]
    assert "custom:org_id" in properties["ReadAttributes"]
    assert "custom:org_id" not in properties["WriteAttributes"]
    assert properties["GenerateSecret"] is False


def test_app_client_offers_srp_and_the_operator_flow_but_no_plain_passwords(
    stage: Synthesized,
) -> None:
    clients = stage.template.find_resources("AWS::Cognito::UserPoolClient")
    (client,) = clients.values()
    flows = set(client["Properties"]["ExplicitAuthFlows"])
    assert flows == {
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert client["Properties"]["GenerateSecret"] is False


def test_prod_users_survive_a_stack_deletion(prod: Synthesized, dev: Synthesized) -> None:
    prod.template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like({"DeletionProtection": "ACTIVE"}),
        },
    )
    dev.template.has_resource("AWS::Cognito::UserPool", {"DeletionPolicy": "Delete"})


def test_mail_identity_and_configuration_set(stage: Synthesized) -> None:
    config = stage.logical_id(stage.stack.mail.configuration_set)
    stage.template.has_resource_properties(
        "AWS::SES::EmailIdentity",
        {
            "EmailIdentity": stage.stack.stage.mail_domain,
            "ConfigurationSetAttributes": {"ConfigurationSetName": {"Ref": config}},
        },
    )
    stage.template.has_resource_properties(
        "AWS::SES::ConfigurationSet", {"Name": f"crowdact-{stage.stack.stage.name}-mail"}
    )


def environment(stage: Synthesized, cfn_name: str) -> dict[str, Any]:
    variables: dict[str, Any] = stage.properties(cfn_name)["Environment"]["Variables"]
    return variables


def test_every_function_gets_the_settings_it_reads_in_aws(stage: Synthesized) -> None:
    pool = stage.logical_id(stage.stack.users.user_pool)
    client = stage.logical_id(stage.stack.users.client)
    config = stage.logical_id(stage.stack.mail.configuration_set)
    web = stage.logical_id(stage.stack.web.distribution)
    refs = {
        **FAKE_REFS,
        pool: "eu-west-3_POOL",
        client: "appclient",
        config: "config-set",
        f"{web}.DomainName": "d111111abcdef8.cloudfront.net",
    }
    for function in stage.stack.functions.values():
        raw = environment(stage, function.cfn_name)
        assert raw["CROWDACT_JWT_AUDIENCE"] == {"Ref": client}
        env = {name: resolve(value, refs) for name, value in raw.items()}
        issuer = "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_POOL"
        assert env["CROWDACT_JWT_ISSUER"] == issuer
        assert env["CROWDACT_JWKS_URL"] == f"{issuer}/.well-known/jwks.json"
        assert env["CROWDACT_SES_CONFIGURATION_SET"] == "config-set"
        # CORS answers the web client's origin only.
        assert env["CROWDACT_ALLOWED_ORIGIN"] == "https://d111111abcdef8.cloudfront.net"
        # Never set in AWS: they would point the app at another endpoint or accept HS256.
        assert "CROWDACT_AWS_ENDPOINT_URL" not in env
        assert "CROWDACT_LOCAL_JWT_SECRET" not in env
        settings = Settings.from_env(
            {**env, "AWS_LAMBDA_FUNCTION_NAME": function.name, "AWS_REGION": "eu-west-3"}
        )
        assert settings.stage == stage.stack.stage.name
        assert settings.jwt.mode == "rs256"
        assert settings.jwt.audience == "appclient"
        assert settings.mail_from == stage.stack.stage.mail_from
        assert settings.aws_endpoint_url is None
        for spec in stage.stack.specs.values():
            physical = stage.properties(stage.logical_id(stage.stack.tables[spec.name]))
            assert settings.table_name(spec.name) == physical["TableName"]


def test_placeholder_mail_domains_are_flagged(stage: Synthesized) -> None:
    assert stage.stack.stage.mail_domain_is_placeholder
    warnings = [
        entry
        for entries in stage.stack.node.find_all()
        for entry in entries.node.metadata
        if entry.type == "aws:cdk:warning"
    ]
    assert any("placeholder" in str(w.data) for w in warnings)
