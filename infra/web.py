"""The web client: `web/` in a private S3 bucket behind CloudFront (OAC), with security headers.

The client calls the API Gateway URL directly (CORS, see `chalicelib.api.routes.cors_config`);
the distribution serves static files only. The API answers CORS for the distribution's domain,
and so the API depends on the distribution: the CSP *header* cannot name the API's generated
id without a cycle, and allows the region's execute-api hosts (unless the stage names the API's
origin, `StageConfig.api_origin`). The deployment, which runs after both exist, writes the
exact origins into index.html as a second policy (`chalicelib.web_security.pin_connections`):
the browser enforces both, so the page connects to its own API and Cognito only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from chalicelib.web_security import content_security_policy, pin_connections, tile_origin
from infra.stages import StageConfig

# Development files of the client, never served.
WEB_EXCLUDE = ("node_modules", "package*.json", "*.md", "vendor.mjs")
# The client's pages name their files `/web/<path>`, as the local stack serves them: the
# bucket holds web/ under the same prefix, and `/` answers web/index.html.
WEB_PREFIX = "web/"
INDEX_FILE = "index.html"
INDEX_OBJECT = f"{WEB_PREFIX}{INDEX_FILE}"
CONFIG_OBJECT = "config.js"  # served as /web/config.js
CONFIG_GLOBAL = "window.CROWDACT_CONFIG"
# Files that change only with a deployment (which invalidates the cache): cached a day at
# the edge. Everything else (index.html, config.js) a minute.
ASSET_PATTERNS = ("*.js", "*.mjs", "*.css", "*.svg", "*.png", "*.woff2")
HTML_TTL = cdk.Duration.minutes(1)
ASSET_TTL = cdk.Duration.days(1)
HSTS_MAX_AGE = cdk.Duration.days(730)


def page_policy(*, connect: Sequence[str], tile_url: str | None) -> str:
    """The header: only the site itself, the API and Cognito's token endpoint (the PKCE code
    exchange is a `fetch`) to connect to, and the tile server for images."""
    images = [tile_origin(tile_url)] if tile_url else []
    return content_security_policy(connect=connect, images=images)


def api_origin_for(stage: StageConfig, stack: cdk.Stack) -> str:
    return stage.api_origin or f"https://*.execute-api.{stage.region}.{stack.url_suffix}"


@dataclass(frozen=True)
class WebHosting:
    bucket: s3.Bucket
    distribution: cloudfront.Distribution
    headers: cloudfront.ResponseHeadersPolicy
    url: str  # https://<distribution domain>, no trailing slash: the CORS origin


def build_web_hosting(scope: Construct, stage: StageConfig, *, auth_origin: str) -> WebHosting:
    stack = cdk.Stack.of(scope)
    bucket = s3.Bucket(
        scope,
        "WebBucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        # Dev: the deployment empties the bucket when the stack is deleted (retain_on_delete).
        removal_policy=(
            cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY
        ),
    )
    csp = page_policy(connect=[api_origin_for(stage, stack), auth_origin], tile_url=stage.tile_url)
    headers = cloudfront.ResponseHeadersPolicy(
        scope,
        "WebHeaders",
        response_headers_policy_name=stage.resource_name("web-headers"),
        security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
            content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                content_security_policy=csp, override=True
            ),
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.DENY, override=True
            ),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                override=True,
            ),
        ),
    )
    origin = origins.S3BucketOrigin.with_origin_access_control(bucket)

    def behavior(name: str, ttl: cdk.Duration) -> cloudfront.BehaviorOptions:
        # Objects carry `Cache-Control: no-cache` (browsers revalidate, cheaply, at the edge);
        # with equal TTLs CloudFront caches for exactly this long whatever the object says.
        policy = cloudfront.CachePolicy(
            scope,
            f"Web{name.capitalize()}CachePolicy",
            cache_policy_name=stage.resource_name(f"web-{name}"),
            min_ttl=ttl,
            default_ttl=ttl,
            max_ttl=ttl,
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        return cloudfront.BehaviorOptions(
            origin=origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            compress=True,
            cache_policy=policy,
            response_headers_policy=headers,
        )

    html = behavior("html", HTML_TTL)
    assets = behavior("assets", ASSET_TTL)
    distribution = cloudfront.Distribution(
        scope,
        "WebDistribution",
        comment=f"crowdact web client ({stage.name})",
        default_root_object=INDEX_OBJECT,
        default_behavior=html,
        # In order: config.js (also a *.js) changes with every deployment's values.
        additional_behaviors={
            WEB_PREFIX + CONFIG_OBJECT: html,
            **{pattern: assets for pattern in ASSET_PATTERNS},
        },
        http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        price_class=cloudfront.PriceClass.PRICE_CLASS_100,
    )
    return WebHosting(
        bucket=bucket,
        distribution=distribution,
        headers=headers,
        url=f"https://{distribution.distribution_domain_name}",
    )


def config_script(config: Mapping[str, Any]) -> str:
    return f"{CONFIG_GLOBAL} = {json.dumps(config, indent=2)};\n"


def _deployment_role(
    scope: Construct, stage: StageConfig, web: WebHosting, log_group: logs.LogGroup
) -> iam.IRole:
    """The deployment function's own inline policy, named actions on named resources; the
    grants BucketDeployment would add itself (`s3:GetObject*`, `s3:List*`, invalidations on
    `*`, ...) are dropped by making the role immutable."""
    synthesizer = cdk.Stack.of(scope).synthesizer
    if not isinstance(synthesizer, cdk.DefaultStackSynthesizer):  # pragma: no cover
        raise TypeError("the web deployment reads its sources from the bootstrap asset bucket")
    qualifier = synthesizer.bootstrap_qualifier or cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
    # The sources are zip assets in the bootstrap bucket (`make bootstrap`).
    assets_bucket = cdk.DefaultStackSynthesizer.DEFAULT_FILE_ASSETS_BUCKET_NAME.replace(
        "${Qualifier}", qualifier
    )
    statements = [
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn],
        ),
        iam.PolicyStatement(
            sid="ReadSources",
            actions=["s3:GetObject"],
            resources=[cdk.Fn.sub(f"arn:${{AWS::Partition}}:s3:::{assets_bucket}/*")],
        ),
        iam.PolicyStatement(
            sid="ListSite", actions=["s3:ListBucket"], resources=[web.bucket.bucket_arn]
        ),
        iam.PolicyStatement(
            sid="WriteSite",
            actions=["s3:PutObject", "s3:DeleteObject"],
            resources=[web.bucket.arn_for_objects("*")],
        ),
        iam.PolicyStatement(
            sid="InvalidateSite",
            actions=["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"],
            resources=[web.distribution.distribution_arn],
        ),
    ]
    role = iam.Role(
        scope,
        "WebDeploymentRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"crowdact web deployment ({stage.name})",
        inline_policies={"deploy-web": iam.PolicyDocument(statements=statements)},
    )
    return role.without_policy_updates()


def deploy_web(
    scope: Construct,
    stage: StageConfig,
    web: WebHosting,
    *,
    web_dir: Path,
    config: Mapping[str, Any],
    connect: Sequence[str],
    log_retention: logs.RetentionDays,
) -> s3deploy.BucketDeployment:
    """Copy `web/`, the stage's `config.js` and index.html pinned to the origins in `connect`
    into the bucket, then invalidate the cache."""
    if not (web_dir / INDEX_FILE).is_file():
        raise FileNotFoundError(
            f"{web_dir}/index.html is missing: the stack deploys the web client from there "
            "(or from `python -m infra.app --web-dir <dir>`)"
        )
    index_text = (web_dir / INDEX_FILE).read_text(encoding="utf-8")
    log_group = logs.LogGroup(
        scope,
        "WebDeploymentLogs",
        retention=log_retention,
        removal_policy=(
            cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY
        ),
    )
    sources: Sequence[s3deploy.ISource] = (
        s3deploy.Source.asset(str(web_dir), exclude=list(WEB_EXCLUDE)),
        # Last: a config.js in web/ (for local development) is replaced by the stage's, and
        # index.html by the one naming this stage's API and Cognito domain.
        s3deploy.Source.data(CONFIG_OBJECT, config_script(config)),
        s3deploy.Source.data(INDEX_FILE, pin_connections(index_text, connect)),
    )
    deployment = s3deploy.BucketDeployment(
        scope,
        "WebDeployment",
        destination_bucket=web.bucket,
        destination_key_prefix=WEB_PREFIX,
        sources=list(sources),
        distribution=web.distribution,
        distribution_paths=["/*"],
        cache_control=[s3deploy.CacheControl.no_cache()],
        prune=True,
        retain_on_delete=stage.retain_data,
        role=_deployment_role(scope, stage, web, log_group),
        log_group=log_group,
        memory_limit=256,
    )
    _drop_redundant_role_dependency(scope)
    return deployment


def _drop_redundant_role_dependency(scope: Construct) -> None:
    """The deployment's function (a singleton at the stack's root) names its role, which
    orders it already; the DependsOn CDK adds as well is what cfn-lint's W3005 flags."""
    for child in cdk.Stack.of(scope).node.children:
        if isinstance(child, lambda_.Function) and child.node.id.startswith(
            "Custom::CDKBucketDeployment"
        ):
            resource = child.node.default_child
            if isinstance(resource, cdk.CfnResource):
                resource.add_deletion_override("DependsOn")
