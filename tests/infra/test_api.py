"""The API's edge: per-stage throttling, problem+json gateway responses, WAF."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from chalicelib.settings import Settings
from tests.infra.conftest import Synthesized


def rest_api(stage: Synthesized) -> dict[str, Any]:
    (api,) = stage.resources("AWS::Serverless::Api").values()
    properties: dict[str, Any] = api["Properties"]
    return properties


def test_stage_throttling_applies_to_every_method(stage: Synthesized) -> None:
    config = stage.stack.stage
    assert rest_api(stage)["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": config.api_rate_limit,
            "ThrottlingBurstLimit": config.api_burst_limit,
        }
    ]
    assert rest_api(stage)["StageName"] == "api"


def test_prod_may_take_more_traffic_than_dev(dev: Synthesized, prod: Synthesized) -> None:
    assert prod.stack.stage.api_rate_limit > dev.stack.stage.api_rate_limit


def test_api_name_is_per_stage(stage: Synthesized) -> None:
    assert rest_api(stage)["Name"] == f"crowdact-{stage.stack.stage.name}-api"


def web_origin(stage: Synthesized, quote: str = "") -> dict[str, Any]:
    """`https://<the web client's distribution>`, as the template writes it."""
    distribution = stage.logical_id(stage.stack.web.distribution)
    return {
        "Fn::Join": [
            "",
            [f"{quote}https://", {"Fn::GetAtt": [distribution, "DomainName"]}, quote],
        ]
    }


def test_gateway_answers_are_problem_documents(stage: Synthesized) -> None:
    responses = rest_api(stage)["GatewayResponses"]
    for kind, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Content-Type"] == "'application/problem+json'", kind
        # Readable by the web client only, as the app's own answers (CROWDACT_ALLOWED_ORIGIN).
        assert headers["Access-Control-Allow-Origin"] == web_origin(stage, "'"), kind
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert set(body) >= {"type", "title", "status", "detail"}
        assert str(body["status"]) == response["StatusCode"], kind
    # API Gateway answers an unknown route with MISSING_AUTHENTICATION_TOKEN (docs/decisions 17).
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert responses["REQUEST_TOO_LARGE"]["StatusCode"] == "413"


def web_acl(stage: Synthesized) -> dict[str, Any]:
    (acl,) = stage.resources("AWS::WAFv2::WebACL").values()
    properties: dict[str, Any] = acl["Properties"]
    return properties


def test_waf_refuses_bodies_the_app_would_refuse(stage: Synthesized) -> None:
    max_body = Settings.from_env({"CROWDACT_STAGE": "local"}).max_body_bytes
    rules = {rule["Name"]: rule for rule in web_acl(stage)["Rules"]}
    size = rules["body-size"]["Statement"]["SizeConstraintStatement"]
    assert size["Size"] == max_body
    assert size["ComparisonOperator"] == "GT"
    # Bodies past the inspection limit match: the limit must cover the app's maximum.
    assert size["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    limit = web_acl(stage)["AssociationConfig"]["RequestBody"]["API_GATEWAY"]
    assert limit == {"DefaultSizeInspectionLimit": "KB_64"}
    assert max_body <= 64 * 1024
    block = rules["body-size"]["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 413
    body = json.loads(
        web_acl(stage)["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"]
    )
    assert body["status"] == 413


def test_waf_limits_each_address(stage: Synthesized) -> None:
    rules = {rule["Name"]: rule for rule in web_acl(stage)["Rules"]}
    rate = rules["rate-per-ip"]["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP"
    assert rate["Limit"] == stage.stack.stage.waf_requests_per_5_minutes_per_ip
    assert rules["rate-per-ip"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    assert web_acl(stage)["DefaultAction"] == {"Allow": {}}
    assert web_acl(stage)["Scope"] == "REGIONAL"


def test_waf_limits_each_participants_pledges_and_reports(stage: Synthesized) -> None:
    rule = {rule["Name"]: rule for rule in web_acl(stage)["Rules"]}["writes-per-token"]
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "CUSTOM_KEYS"
    assert rate["CustomKeys"] == [
        {"Header": {"Name": "authorization",
                    "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    ]  # fmt: skip
    assert rate["EvaluationWindowSec"] == 60
    assert rate["Limit"] == stage.stack.stage.waf_writes_per_minute_per_token >= 10
    method, paths = rate["ScopeDownStatement"]["AndStatement"]["Statements"]
    assert method["ByteMatchStatement"]["SearchString"] == "POST"
    assert method["ByteMatchStatement"]["FieldToMatch"] == {"Method": {}}
    suffixes = {
        s["ByteMatchStatement"]["SearchString"]: s["ByteMatchStatement"]["PositionalConstraint"]
        for s in paths["OrStatement"]["Statements"]
    }
    assert suffixes == {"/pledges": "ENDS_WITH", "/reports": "ENDS_WITH"}
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429


def test_waf_guards_the_api_stage(stage: Synthesized) -> None:
    acl_id = stage.logical_id(stage.stack.web_acl)
    stage.template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {
            "WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]},
            "ResourceArn": {
                "Fn::Sub": Match.string_like_regexp(
                    r"/restapis/\$\{RestAPI\}/stages/\$\{RestAPI\.Stage\}$"
                )
            },
        },
    )


def test_the_report_files_are_binary_media_types(stage: Synthesized) -> None:
    # API Gateway hands a PDF or a zip over as bytes only for the media types it lists (to a
    # request whose Accept allows one); anything else would reach the client as base64.
    body = rest_api(stage)["DefinitionBody"]
    assert {"application/pdf", "application/zip"} <= set(
        body["x-amazon-apigateway-binary-media-types"]
    )


def test_the_development_sign_in_does_not_exist_in_aws(stage: Synthesized) -> None:
    # The local stack's `POST /dev/token` (chalicelib/local/web.py) is not a route of the
    # app: the deployed API has no path that mints a token, nor serves the web client.
    paths = set(rest_api(stage)["DefinitionBody"]["paths"])
    assert "/dev/token" not in paths
    assert not {p for p in paths if p.startswith(("/dev", "/web"))}
    assert "/challenges" in paths  # the paths are the API's, read from the right place
