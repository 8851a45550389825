"""The web client: a private bucket only CloudFront (OAC) reads, HTTPS, security headers,
the API's CORS origin, the hosted UI's code flow, and the deployment with config.js."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.web_security import tile_origin
from infra.stages import stage_config
from infra.web import ASSET_PATTERNS, CONFIG_GLOBAL, page_policy
from tests.infra.conftest import STAND_IN_INDEX, WEB_NOT_SERVED, WEB_SERVED, Synthesized

FAKE_REFS = {"AWS::URLSuffix": "amazonaws.com", "AWS::AccountId": "123456789012"}
ONE_YEAR = 365 * 24 * 3600


def flatten(value: Any, refs: dict[str, str]) -> str:
    """A string the template builds with Fn::Join, with the given references filled in."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return refs.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    separator, parts = value["Fn::Join"]
    return str(separator).join(flatten(part, refs) for part in parts)


def only(stage: Synthesized, type_: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = stage.resources(type_).items()
    properties: dict[str, Any] = resource["Properties"]
    return logical_id, properties


def distribution_id(stage: Synthesized) -> str:
    return stage.logical_id(stage.stack.web.distribution)


def web_origin(stage: Synthesized) -> str:
    return f"https://<{distribution_id(stage)}.DomainName>"


def test_the_bucket_is_private_encrypted_and_tls_only(stage: Synthesized) -> None:
    bucket_id = stage.logical_id(stage.stack.web.bucket)
    bucket = stage.properties(bucket_id)
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = "Retain" if stage.stack.stage.retain_data else "Delete"
    assert stage.json["Resources"][bucket_id]["DeletionPolicy"] == policy


def test_only_the_distribution_may_read_the_bucket(stage: Synthesized) -> None:
    _, policy = only(stage, "AWS::S3::BucketPolicy")
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    source_arn = flatten(allow["Condition"]["StringEquals"]["AWS:SourceArn"], FAKE_REFS)
    assert source_arn == (
        f"arn:<AWS::Partition>:cloudfront::123456789012:distribution/<{distribution_id(stage)}>"
    )
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert [d["Condition"] for d in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_the_distribution_reads_through_origin_access_control(stage: Synthesized) -> None:
    oac_id, oac = only(stage, "AWS::CloudFront::OriginAccessControl")
    assert oac["OriginAccessControlConfig"]["OriginAccessControlOriginType"] == "s3"
    assert oac["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert not stage.resources("AWS::CloudFront::CloudFrontOriginAccessIdentity")
    config = stage.properties(distribution_id(stage))["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    # The client's pages name their files /web/<path> (as the local stack serves them).
    assert config["DefaultRootObject"] == "web/index.html"


def test_every_path_is_https_compressed_and_carries_the_security_headers(
    stage: Synthesized,
) -> None:
    config = stage.properties(distribution_id(stage))["DistributionConfig"]
    headers = {"Ref": stage.logical_id(stage.stack.web.headers)}
    behaviors = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    for behavior in behaviors:
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behavior["Compress"] is True
        assert behavior["ResponseHeadersPolicyId"] == headers
        assert behavior["AllowedMethods"] == ["GET", "HEAD"]


def ttl(stage: Synthesized, behavior: dict[str, Any]) -> int:
    policy = stage.properties(behavior["CachePolicyId"]["Ref"])["CachePolicyConfig"]
    assert policy["MinTTL"] == policy["DefaultTTL"] == policy["MaxTTL"]
    value: int = policy["DefaultTTL"]
    return value


def test_html_and_config_are_cached_briefly_assets_longer(stage: Synthesized) -> None:
    config = stage.properties(distribution_id(stage))["DistributionConfig"]
    by_pattern = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    # config.js is also a *.js: it must come first to be matched first.
    assert config["CacheBehaviors"][0]["PathPattern"] == "web/config.js"
    html = ttl(stage, config["DefaultCacheBehavior"])
    assert ttl(stage, by_pattern["web/config.js"]) == html <= 300
    for pattern in ASSET_PATTERNS:
        assert ttl(stage, by_pattern[pattern]) > html


def csp_directives(stage: Synthesized) -> dict[str, list[str]]:
    _, policy = only(stage, "AWS::CloudFront::ResponseHeadersPolicy")
    csp = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert csp["Override"] is True
    text = flatten(csp["ContentSecurityPolicy"], FAKE_REFS)
    return {d.split()[0]: d.split()[1:] for d in text.split("; ")}


def test_the_csp_allows_only_the_site_the_api_and_sign_in(stage: Synthesized) -> None:
    directives = csp_directives(stage)
    name = stage.stack.stage.name
    # The API's id cannot be named (see infra/web.py): its region's execute-api hosts.
    assert directives["connect-src"] == [
        "'self'",
        "https://*.execute-api.eu-west-3.amazonaws.com",
        f"https://crowdact-{name}-auth-123456789012.auth.eu-west-3.amazoncognito.com",
    ]
    assert directives["img-src"] == ["'self'", "data:"]  # no tile server configured
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_the_other_security_headers(stage: Synthesized) -> None:
    _, policy = only(stage, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    hsts = headers["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= ONE_YEAR
    assert hsts["IncludeSubdomains"] is True
    assert headers["ContentTypeOptions"] == {"Override": True}  # nosniff
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    for header in ("StrictTransportSecurity", "FrameOptions", "ReferrerPolicy"):
        assert headers[header]["Override"] is True


TILES = "https://{s}.tile.example.org/{z}/{x}/{y}.png"
API_ORIGIN = "https://abc123.execute-api.eu-west-3.amazonaws.com"


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Synthesized:
    """dev with a tile server and the API's origin given as context."""
    from aws_cdk.assertions import Template

    from infra.app import build_app

    context: dict[str, object] = {
        "crowdact:dev:tile_url": TILES,
        "crowdact:dev:api_origin": API_ORIGIN,
    }
    outdir = tmp_path_factory.mktemp("configured")
    app, stacks = build_app(
        ["dev"], context=context, outdir=outdir, builtin_validation=False, source_dir=source
    )
    assembly = app.synth()
    path = Path(assembly.directory) / assembly.get_stack_by_name("crowdact-dev").template_file
    data = json.loads(path.read_text())
    return Synthesized(stacks["dev"], path, data, Template.from_json(data))


def test_a_configured_tile_server_and_api_origin_are_the_only_others(
    configured: Synthesized,
) -> None:
    directives = csp_directives(configured)
    assert directives["img-src"] == ["'self'", "data:", "https://*.tile.example.org"]
    assert directives["connect-src"] == [
        "'self'",
        API_ORIGIN,
        "https://crowdact-dev-auth-123456789012.auth.eu-west-3.amazoncognito.com",
    ]
    assert read_config(configured)["tileUrl"] == TILES


def test_tile_server_and_api_origin_come_from_the_stage() -> None:
    config = stage_config(
        "dev",
        {
            "crowdact:dev:tile_url": "https://{s}.tile.example.org/{z}/{x}/{y}.png",
            "crowdact:dev:api_origin": "https://api.example.org",
        },
    )
    assert tile_origin(config.tile_url or "") == "https://*.tile.example.org"
    csp = page_policy(
        connect=[config.api_origin or "", "https://auth.example.org"], tile_url=config.tile_url
    )
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["img-src"] == ["'self'", "data:", "https://*.tile.example.org"]
    assert directives["connect-src"] == [
        "'self'",
        "https://api.example.org",
        "https://auth.example.org",
    ]
    with pytest.raises(ValueError, match="https"):
        tile_origin("http://tile.example.org/{z}/{x}/{y}.png")


def test_the_api_answers_cors_preflights_for_the_web_client_only(stage: Synthesized) -> None:
    (api,) = stage.resources("AWS::Serverless::Api").values()
    preflights = {
        path: methods["options"]["x-amazon-apigateway-integration"]["responses"]["default"][
            "responseParameters"
        ]["method.response.header.Access-Control-Allow-Origin"]
        for path, methods in api["Properties"]["DefinitionBody"]["paths"].items()
        if "options" in methods
    }
    assert "/challenges" in preflights
    assert not any(path.startswith("/admin/") for path in preflights)
    for path, origin in preflights.items():
        assert flatten(origin, FAKE_REFS) == f"'{web_origin(stage)}'", path


def test_the_hosted_ui_offers_the_code_flow_back_to_the_web_client(stage: Synthesized) -> None:
    _, client = only(stage, "AWS::Cognito::UserPoolClient")
    assert client["GenerateSecret"] is False  # a public client: PKCE, no secret
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "profile"}
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    redirect = f"{web_origin(stage)}/"
    assert [flatten(url, FAKE_REFS) for url in client["CallbackURLs"]] == [redirect]
    assert [flatten(url, FAKE_REFS) for url in client["LogoutURLs"]] == [redirect]
    _, domain = only(stage, "AWS::Cognito::UserPoolDomain")
    name = stage.stack.stage.name
    assert flatten(domain["Domain"], FAKE_REFS) == f"crowdact-{name}-auth-123456789012"


def deployment(stage: Synthesized) -> dict[str, Any]:
    _, properties = only(stage, "Custom::CDKBucketDeployment")
    return properties


def staged(stage: Synthesized, key: str) -> Path:
    """The asset directory `make synth` staged for an uploaded zip."""
    return stage.path.parent / f"asset.{key.removesuffix('.zip')}"


def test_the_deployment_copies_web_to_the_bucket_and_invalidates(stage: Synthesized) -> None:
    properties = deployment(stage)
    assert properties["DestinationBucketName"] == {"Ref": stage.logical_id(stage.stack.web.bucket)}
    assert properties["DistributionId"] == {"Ref": distribution_id(stage)}
    assert properties["DistributionPaths"] == ["/*"]
    assert properties["DestinationBucketKeyPrefix"] == "web/"
    assert properties["Prune"] is True
    assert properties["RetainOnDelete"] is stage.stack.stage.retain_data
    assert properties["SystemMetadata"] == {"cache-control": "no-cache"}
    web, config, index = properties["SourceObjectKeys"]
    files = {
        str(p.relative_to(staged(stage, web))) for p in staged(stage, web).rglob("*") if p.is_file()
    }
    assert files == set(WEB_SERVED)
    assert not files & set(WEB_NOT_SERVED)
    assert {p.name for p in staged(stage, config).iterdir()} == {"config.js"}
    # Last, so that it replaces web/index.html: the page pinned to this stage's origins.
    assert {p.name for p in staged(stage, index).iterdir()} == {"index.html"}


def deployed(stage: Synthesized, source: int, name: str) -> str:
    """A file the deployment writes from data, references filled in."""
    properties = deployment(stage)
    markers = properties["SourceMarkers"][source]
    key = properties["SourceObjectKeys"][source]
    text = (staged(stage, key) / name).read_text()
    for marker, value in markers.items():
        text = text.replace(marker, flatten(value, FAKE_REFS))
    return text


def read_config(stage: Synthesized) -> dict[str, Any]:
    """config.js as the deployment writes it."""
    text = deployed(stage, 1, "config.js")
    prefix = f"{CONFIG_GLOBAL} = "
    assert text.startswith(prefix)
    config: dict[str, Any] = json.loads(text.removeprefix(prefix).rstrip().removesuffix(";"))
    return config


def test_the_deployed_page_may_connect_to_its_own_api_and_cognito_only(
    stage: Synthesized,
) -> None:
    """The header can only name the region's execute-api hosts; the deployed index.html
    names this stage's API (the browser enforces both: tests/e2e/test_browser.py)."""
    page = deployed(stage, 2, "index.html")
    domain = stage.logical_id(stage.stack.users.domain)
    meta = (
        '<meta http-equiv="Content-Security-Policy" content="connect-src &#x27;self&#x27; '
        "https://<RestAPI>.execute-api.eu-west-3.amazonaws.com "
        f'https://<{domain}>.auth.eu-west-3.amazoncognito.com">'
    )
    assert page == STAND_IN_INDEX.replace(
        '<meta charset="utf-8">', f'<meta charset="utf-8">\n  {meta}'
    )


def test_config_js_holds_the_stage_values(stage: Synthesized) -> None:
    config = read_config(stage)
    users = stage.stack.users
    assert config == {
        "apiBase": "https://<RestAPI>.execute-api.eu-west-3.amazonaws.com/api",
        "tileUrl": stage.stack.stage.tile_url,
        "stage": stage.stack.stage.name,
        "cognito": {
            "domain": f"https://<{stage.logical_id(users.domain)}>.auth.eu-west-3.amazoncognito.com",
            "clientId": f"<{stage.logical_id(users.client)}>",
            "redirectUri": f"{web_origin(stage)}/",
        },
    }


def test_the_deployment_role_names_its_resources(stage: Synthesized) -> None:
    role_id = next(k for k in stage.resources("AWS::IAM::Role") if k.startswith("WebDeployment"))
    (policy,) = stage.properties(role_id)["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "WriteOwnLogs",
        "ReadSources",
        "ListSite",
        "WriteSite",
        "InvalidateSite",
    }
    bucket = stage.logical_id(stage.stack.web.bucket)
    assert statements["ListSite"]["Resource"] == {"Fn::GetAtt": [bucket, "Arn"]}
    assert sorted(statements["WriteSite"]["Action"]) == ["s3:DeleteObject", "s3:PutObject"]
    invalidate = flatten(statements["InvalidateSite"]["Resource"], FAKE_REFS)
    assert invalidate.endswith(f":distribution/<{distribution_id(stage)}>")
    sources = statements["ReadSources"]["Resource"]["Fn::Sub"]
    assert sources.startswith("arn:${AWS::Partition}:s3:::cdk-hnb659fds-assets-")
    function = next(
        v for v in stage.resources("AWS::Lambda::Function").values() if "Role" in v["Properties"]
    )
    assert function["Properties"]["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
