"""The edge of the HTTP API: stage throttling, problem+json gateway responses, and WAF.

Chalice generates the REST API as `AWS::Serverless::Api` "RestAPI" (stage `api`); these are
escape hatches on it. Body size: API Gateway REST accepts up to 10 MB and the app answers 413
above 64 KiB itself (`Settings.max_body_bytes`); the WAF rule below refuses larger bodies
before they reach (and are billed to) Lambda.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sam as sam
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from chalicelib.api.problems import PROBLEM_CONTENT_TYPE, ProblemKind, problem_body
from chalicelib.settings import Settings
from infra.stages import StageConfig

API_GATEWAY_STAGE = "api"  # .chalice/config.json `api_gateway_stage`
MAX_BODY_BYTES = Settings.from_env({"CROWDACT_STAGE": "local"}).max_body_bytes

NOT_FOUND = ProblemKind(404, "not-found", "Not found")
PAYLOAD_TOO_LARGE = ProblemKind(413, "payload-too-large", "Payload too large")
TOO_MANY_REQUESTS = ProblemKind(429, "too-many-requests", "Too many requests")
BAD_GATEWAY = ProblemKind(502, "bad-gateway", "Bad gateway")
GATEWAY_TIMEOUT = ProblemKind(504, "gateway-timeout", "Gateway timeout")


def _problem(kind: ProblemKind, detail: str) -> str:
    return json.dumps(problem_body(kind, detail))


def gateway_responses(allowed_origin: str = "*") -> dict[str, Any]:
    """API Gateway's own answers, shaped like the app's (RFC 9457 problem+json)."""

    def response(kind: ProblemKind, detail: str, **headers: str) -> dict[str, Any]:
        quoted = {name: f"'{value}'" for name, value in headers.items()}
        return {
            "StatusCode": str(kind.status),
            "ResponseParameters": {
                "Headers": {
                    "Content-Type": f"'{PROBLEM_CONTENT_TYPE}'",
                    # As the app's CORS routes answer (the web client's origin), so the
                    # client can read a 429 or 413 too.
                    "Access-Control-Allow-Origin": f"'{allowed_origin}'",
                    **quoted,
                }
            },
            "ResponseTemplates": {"application/json": _problem(kind, detail)},
        }

    return {
        # A REST API answers an unknown route with this (a 403); the contract wants a 404.
        "MISSING_AUTHENTICATION_TOKEN": response(
            NOT_FOUND, "no route matches this method and path"
        ),
        "THROTTLED": response(
            TOO_MANY_REQUESTS, "the API is receiving too many requests", **{"Retry-After": "1"}
        ),
        "REQUEST_TOO_LARGE": response(
            PAYLOAD_TOO_LARGE, f"the body is over {MAX_BODY_BYTES // 1024} KiB"
        ),
        # The function failed or timed out: never API Gateway's own {"message": ...} body.
        "INTEGRATION_TIMEOUT": response(GATEWAY_TIMEOUT, "the service did not answer in time"),
        "INTEGRATION_FAILURE": response(GATEWAY_TIMEOUT, "the service did not answer in time"),
        "DEFAULT_5XX": response(BAD_GATEWAY, "the service could not answer; try again"),
    }


def configure_rest_api(rest_api: sam.CfnApi, stage: StageConfig, *, allowed_origin: str) -> None:
    # A name per stage: API Gateway's metrics are keyed by ApiName and stage.
    rest_api.add_property_override("Name", stage.resource_name("api"))
    rest_api.add_property_override(
        "MethodSettings",
        [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": stage.api_rate_limit,
                "ThrottlingBurstLimit": stage.api_burst_limit,
            }
        ],
    )
    rest_api.add_property_override("GatewayResponses", gateway_responses(allowed_origin))
    _answer_preflights_for(rest_api, allowed_origin)


_PREFLIGHT_ORIGIN = (
    "options",
    "x-amazon-apigateway-integration",
    "responses",
    "default",
    "responseParameters",
    "method.response.header.Access-Control-Allow-Origin",
)


def _answer_preflights_for(rest_api: sam.CfnApi, origin: str) -> None:
    """API Gateway answers CORS preflights itself (a mock integration per path Chalice
    writes from the route's CORSConfig). The app is imported once per process, before any
    stage's environment, so its value here is the local `*`: set the stage's origin."""
    body = rest_api.definition_body
    if not isinstance(body, dict):  # pragma: no cover - Chalice's SAM output
        raise TypeError("the REST API's DefinitionBody is not a document")
    for path, methods in body["paths"].items():
        if "options" in methods:
            keys = ("DefinitionBody", "paths", path, *_PREFLIGHT_ORIGIN)
            # A dot in a key (`/openapi.json`, the parameter names) is escaped in an override.
            override = ".".join(key.replace(".", "\\.") for key in keys)
            rest_api.add_property_override(override, f"'{origin}'")


def stage_arn(rest_api: sam.CfnApi) -> str:
    # `${RestAPI.Stage}` is SAM's reference to the stage it generates: it also orders the
    # WAF association after the stage.
    return cdk.Fn.sub(
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${"
        + rest_api.logical_id
        + "}/stages/${"
        + rest_api.logical_id
        + ".Stage}"
    )


def _block_with(kind: ProblemKind, body_key: str) -> wafv2.CfnWebACL.RuleActionProperty:
    # No Retry-After: WAF prefixes custom header names with `x-amzn-waf-`.
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=kind.status, custom_response_body_key=body_key
            )
        )
    )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        sampled_requests_enabled=True, cloud_watch_metrics_enabled=True, metric_name=name
    )


def _json_body(kind: ProblemKind, detail: str) -> wafv2.CfnWebACL.CustomResponseBodyProperty:
    return wafv2.CfnWebACL.CustomResponseBodyProperty(
        content_type="APPLICATION_JSON", content=_problem(kind, detail)
    )


def _ends_with(suffix: str) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            positional_constraint="ENDS_WITH",
            search_string=suffix,
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
            ],
        )
    )


def _participant_writes() -> wafv2.CfnWebACL.StatementProperty:
    """POST …/pledges or POST …/reports, whatever the stage prefix of the path."""
    post = wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(method={}),
            positional_constraint="EXACTLY",
            search_string="POST",
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
            ],
        )
    )
    paths = wafv2.CfnWebACL.StatementProperty(
        or_statement=wafv2.CfnWebACL.OrStatementProperty(
            statements=[_ends_with("/pledges"), _ends_with("/reports")]
        )
    )
    return wafv2.CfnWebACL.StatementProperty(
        and_statement=wafv2.CfnWebACL.AndStatementProperty(statements=[post, paths])
    )


def build_web_acl(scope: Construct, stage: StageConfig, rest_api: sam.CfnApi) -> wafv2.CfnWebACL:
    """A regional WebACL on the API stage: the 64 KiB body limit, a per-IP rate limit and a
    per-token limit on pledges and reports.

    WAF inspects at most the configured body prefix (64 KB here, above the 16 KB default);
    a larger body is "oversize" and `OversizeHandling: MATCH` makes it match the size rule.
    WAF's custom responses cannot carry `application/problem+json` (only text, HTML or JSON
    content types): the bodies are problem documents sent as `application/json`.
    """
    body_size = wafv2.CfnWebACL.RuleProperty(
        name="body-size",
        priority=0,
        statement=wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                ),
                comparison_operator="GT",
                size=MAX_BODY_BYTES,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                ],
            )
        ),
        action=_block_with(PAYLOAD_TOO_LARGE, "payload_too_large"),
        visibility_config=_visibility("body-size"),
    )
    rate_per_ip = wafv2.CfnWebACL.RuleProperty(
        name="rate-per-ip",
        priority=1,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=stage.waf_requests_per_5_minutes_per_ip,
                evaluation_window_sec=300,
                aggregate_key_type="IP",
            )
        ),
        action=_block_with(TOO_MANY_REQUESTS, "too_many_requests"),
        visibility_config=_visibility("rate-per-ip"),
    )
    writes_per_token = wafv2.CfnWebACL.RuleProperty(
        name="writes-per-token",
        priority=2,
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=stage.waf_writes_per_minute_per_token,
                evaluation_window_sec=60,
                # Per caller across every container (the app's own limit is per container):
                # the bearer token stands for the participant at the edge.
                aggregate_key_type="CUSTOM_KEYS",
                custom_keys=[
                    wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                        header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                            name="authorization",
                            text_transformations=[
                                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                            ],
                        )
                    )
                ],
                scope_down_statement=_participant_writes(),
            )
        ),
        action=_block_with(TOO_MANY_REQUESTS, "too_many_writes"),
        visibility_config=_visibility("writes-per-token"),
    )
    web_acl = wafv2.CfnWebACL(
        scope,
        "WebAcl",
        name=stage.resource_name("api"),
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=_visibility(stage.resource_name("api")),
        association_config=wafv2.CfnWebACL.AssociationConfigProperty(
            request_body={
                "API_GATEWAY": wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty(
                    default_size_inspection_limit="KB_64"
                )
            }
        ),
        custom_response_bodies={
            "payload_too_large": _json_body(
                PAYLOAD_TOO_LARGE, f"the body is over {MAX_BODY_BYTES // 1024} KiB"
            ),
            "too_many_requests": _json_body(
                TOO_MANY_REQUESTS, "too many requests from this address"
            ),
            "too_many_writes": _json_body(
                TOO_MANY_REQUESTS, "too many pledges or reports from this participant"
            ),
        },
        rules=[body_size, rate_per_ip, writes_per_token],
    )
    wafv2.CfnWebACLAssociation(
        scope, "WebAclAssociation", resource_arn=stage_arn(rest_api), web_acl_arn=web_acl.attr_arn
    )
    return web_acl
