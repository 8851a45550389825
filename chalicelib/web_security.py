"""The web client's Content-Security-Policy: one policy, sent by CloudFront in AWS
(`infra.web`) and by the local stack (`chalicelib.local.web`), so the browser tests run the
client under the policy it meets in production.

Two parts:
- the response header: everything, including `frame-ancestors` (which a `<meta>` cannot set);
- a `<meta http-equiv="Content-Security-Policy">` written into index.html when it is
  deployed, naming the exact origins the page may connect to. A browser enforces every policy
  it is given, so the page may connect only where both allow. In AWS the header can only name
  the region's execute-api hosts (the API's generated id depends on the distribution, through
  its CORS origin); the meta, written by the deployment after both exist, names the API itself.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

SELF = "'self'"
_CHARSET_META = re.compile(r"<meta charset=[\"']?utf-8[\"']?\s*/?>", re.IGNORECASE)


def tile_origin(tile_url: str, *, allow_http: bool = False) -> str:
    """The CSP source of a tile URL template: `https://{s}.tile.example.org/{z}/{x}/{y}.png`
    -> `https://*.tile.example.org`. Only https in AWS; the local stack may use http."""
    parts = urlsplit(tile_url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"the tile URL must be an https URL, got {tile_url!r}")
    host = parts.netloc.replace("{s}", "*")
    if "{" in host:
        raise ValueError(f"only {{s}} may stand for part of the tile host: {tile_url!r}")
    return f"{parts.scheme}://{host}"


def content_security_policy(*, connect: Sequence[str], images: Sequence[str] = ()) -> str:
    """Only the site's own scripts and styles; connections to the site and `connect`; images
    from the site, data: URLs (Leaflet's) and `images` (the tile server); never framed."""
    directives = {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *images],
        "font-src": [SELF],
        "connect-src": [SELF, *connect],
        "object-src": ["'none'"],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def pin_connections(index_html: str, connect: Sequence[str]) -> str:
    """index.html with a policy naming the only origins it may connect to, placed right after
    the charset (a meta policy governs only what comes after it)."""
    match = _CHARSET_META.search(index_html)
    if match is None:
        raise ValueError('index.html has no <meta charset="utf-8">: the policy goes after it')
    policy = html.escape(f"connect-src {' '.join([SELF, *connect])}", quote=True)
    meta = f'\n  <meta http-equiv="Content-Security-Policy" content="{policy}">'
    return index_html[: match.end()] + meta + index_html[match.end() :]
