"""Who signs in (the Cognito user pool behind RS256 tokens) and who sends mail (SES)."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ses as ses
from constructs import Construct

from chalicelib.domain.model import ADMIN_GROUP, ORG_ADMIN_GROUP
from infra.stages import StageConfig

ORG_ID_ATTRIBUTE = "org_id"  # the token claim `custom:org_id`
# Claims chalicelib.auth reads from ID tokens; the app client may read them.
READABLE_STANDARD_ATTRIBUTES = {
    "email": True,
    "email_verified": True,
    "fullname": True,
    "locale": True,
}
# Users may change these themselves; never `custom:org_id`, which grants an organisation's
# rights (employee-only challenges, org-admin): only an administrator sets it
# (AdminUpdateUserAttributes), or any participant could join any organisation.
WRITABLE_STANDARD_ATTRIBUTES = {"email": True, "fullname": True, "locale": True}


# The hosted UI's scopes: the ID token carries the claims chalicelib.auth reads.
OAUTH_SCOPES = (cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE)


@dataclass(frozen=True)
class UserDirectory:
    user_pool: cognito.UserPool
    client: cognito.UserPoolClient
    domain: cognito.UserPoolDomain
    issuer: str
    jwks_url: str
    redirect_uri: str  # the web client's, also its sign-out URL


def hosted_ui_url(scope: Construct, stage: StageConfig) -> str:
    """The hosted UI's origin. The prefix must be unique in the region across all AWS
    accounts: the account id makes it so."""
    stack = cdk.Stack.of(scope)
    return f"https://{_domain_prefix(stack, stage)}.auth.{stage.region}.amazoncognito.com"


def _domain_prefix(stack: cdk.Stack, stage: StageConfig) -> str:
    return f"{stage.resource_name('auth')}-{stack.account}"


def build_user_directory(scope: Construct, stage: StageConfig, *, web_url: str) -> UserDirectory:
    """`web_url`: the web client's origin, where the hosted UI sends users back (with the
    authorization code, for the client's PKCE exchange)."""
    stack = cdk.Stack.of(scope)
    removal = cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY
    pool = cognito.UserPool(
        scope,
        "UserPool",
        user_pool_name=stage.resource_name("users"),
        self_sign_up_enabled=True,
        sign_in_aliases=cognito.SignInAliases(email=True),
        sign_in_case_sensitive=False,
        auto_verify=cognito.AutoVerifiedAttrs(email=True),
        standard_attributes=cognito.StandardAttributes(
            email=cognito.StandardAttribute(required=True, mutable=True),
            fullname=cognito.StandardAttribute(required=False, mutable=True),
            locale=cognito.StandardAttribute(required=False, mutable=True),
        ),
        custom_attributes={
            ORG_ID_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=True)
        },
        password_policy=cognito.PasswordPolicy(
            min_length=12, require_symbols=False, temp_password_validity=cdk.Duration.days(3)
        ),
        mfa=cognito.Mfa.OPTIONAL,
        mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
        account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
        deletion_protection=stage.retain_data,
        removal_policy=removal,
    )
    for group, description in (
        (ADMIN_GROUP, "Platform administrators: every /admin route"),
        (ORG_ADMIN_GROUP, "Organisation administrators, scoped by custom:org_id"),
    ):
        cognito.CfnUserPoolGroup(
            scope,
            "Group" + "".join(part.capitalize() for part in group.split("-")),
            user_pool_id=pool.user_pool_id,
            group_name=group,
            description=description,
        )
    domain = pool.add_domain(
        "HostedUi",
        cognito_domain=cognito.CognitoDomainOptions(domain_prefix=_domain_prefix(stack, stage)),
    )
    redirect_uri = f"{web_url}/"
    client = pool.add_client(
        "AppClient",
        user_pool_client_name=stage.resource_name("app"),
        generate_secret=False,  # web and mobile clients cannot keep a secret
        # SRP for web and mobile clients; the admin flow (it needs AWS credentials allowed
        # cognito-idp:AdminInitiateAuth) lets an operator get a token from the CLI
        # (docs/deploy.md). No plain-password flow for the public.
        auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
        prevent_user_existence_errors=True,
        enable_token_revocation=True,
        id_token_validity=cdk.Duration.hours(1),
        access_token_validity=cdk.Duration.hours(1),
        refresh_token_validity=cdk.Duration.days(30),
        # The hosted UI: the authorization code flow only (no implicit tokens in URLs); a
        # public client, so the web client proves itself with PKCE.
        o_auth=cognito.OAuthSettings(
            flows=cognito.OAuthFlows(authorization_code_grant=True),
            scopes=list(OAUTH_SCOPES),
            callback_urls=[redirect_uri],
            logout_urls=[redirect_uri],
        ),
        supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        read_attributes=cognito.ClientAttributes()
        .with_standard_attributes(**READABLE_STANDARD_ATTRIBUTES)
        .with_custom_attributes(ORG_ID_ATTRIBUTE),
        write_attributes=cognito.ClientAttributes().with_standard_attributes(
            **WRITABLE_STANDARD_ATTRIBUTES
        ),
    )
    # Cognito's `iss` claim; ProviderURL lacks the scheme, so it is built here.
    issuer = f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{pool.user_pool_id}"
    return UserDirectory(
        user_pool=pool,
        client=client,
        domain=domain,
        issuer=issuer,
        jwks_url=f"{issuer}/.well-known/jwks.json",
        redirect_uri=redirect_uri,
    )


@dataclass(frozen=True)
class Mail:
    identity: ses.EmailIdentity
    configuration_set: ses.ConfigurationSet
    identity_arn: str
    configuration_set_arn: str


def build_mail(scope: Construct, stage: StageConfig) -> Mail:
    """The sending domain (verified by DNS: DKIM records are stack outputs) and the
    configuration set every message goes out with (reputation metrics, suppression)."""
    stack = cdk.Stack.of(scope)
    configuration_set = ses.ConfigurationSet(
        scope,
        "MailConfigurationSet",
        configuration_set_name=stage.resource_name("mail"),
        reputation_metrics=True,
        sending_enabled=True,
        suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        tls_policy=ses.ConfigurationSetTlsPolicy.REQUIRE,
    )
    identity = ses.EmailIdentity(
        scope,
        "MailIdentity",
        identity=ses.Identity.domain(stage.mail_domain),
        configuration_set=configuration_set,
    )
    for index, record in enumerate(identity.dkim_records, start=1):
        cdk.CfnOutput(scope, f"DkimRecord{index}Name", value=record.name)
        cdk.CfnOutput(scope, f"DkimRecord{index}Value", value=record.value)
    if stage.mail_domain_is_placeholder:
        cdk.Annotations.of(identity).add_warning_v2(
            "crowdact:placeholder-mail-domain",
            f"{stage.mail_domain} is a placeholder: deploy with "
            f"--context crowdact:{stage.name}:mail_domain=<a domain you control>",
        )
    return Mail(
        identity=identity,
        configuration_set=configuration_set,
        identity_arn=stack.format_arn(
            service="ses", resource="identity", resource_name=stage.mail_domain
        ),
        configuration_set_arn=stack.format_arn(
            service="ses",
            resource="configuration-set",
            resource_name=configuration_set.configuration_set_name,
        ),
    )
