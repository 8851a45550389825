"""Print one HS256 token for the local stage: `python scripts/mint_token.py --role admin`."""

from __future__ import annotations

import os
import sys

# Run as `python scripts/mint_token.py`: the repo root must be importable to find `chalicelib`.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import argparse  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from chalicelib.local.tokens import DEFAULT_TTL_SECONDS, mint_local_token  # noqa: E402
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT  # noqa: E402

SECRET_ENV = "CROWDACT_LOCAL_JWT_SECRET"
# org-admin: an organisation's administrator, with --org-id naming the organisation.
ROLE_GROUPS: dict[str, tuple[str, ...]] = {
    "admin": ("admin",),
    "org-admin": ("org-admin",),
    "participant": (),
}


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print a local-stage bearer token (HS256).")
    parser.add_argument("--role", choices=sorted(ROLE_GROUPS), default="participant")
    parser.add_argument("--sub", help="subject; default local-<role>")
    parser.add_argument("--email")
    parser.add_argument(
        "--email-verified",
        action="store_true",
        help="mark the e-mail as verified (needed for organisation e-mail domains)",
    )
    parser.add_argument("--name")
    parser.add_argument("--locale", help='language of e-mails to this participant ("fr", "en")')
    parser.add_argument("--org-id")
    parser.add_argument("--ttl", type=_positive_int, default=DEFAULT_TTL_SECONDS, metavar="SECONDS")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    role: str = args.role
    token = mint_local_token(
        os.environ.get(SECRET_ENV) or LOCAL_JWT_SECRET_DEFAULT,
        args.sub or f"local-{role}",
        groups=ROLE_GROUPS[role],
        email=args.email,
        name=args.name,
        org_id=args.org_id,
        email_verified=args.email_verified,
        locale=args.locale,
        ttl_seconds=args.ttl,
    )
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
