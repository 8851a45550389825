"""The web client's policy: the header's directives, and the pinned page."""

from __future__ import annotations

import pytest

from chalicelib.web_security import content_security_policy, pin_connections, tile_origin


def test_the_policy_names_connections_and_images_beside_the_site() -> None:
    policy = content_security_policy(
        connect=["https://api.example.org"], images=["https://*.tile.example.org"]
    )
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["connect-src"] == "'self' https://api.example.org"
    assert directives["img-src"] == "'self' data: https://*.tile.example.org"
    assert directives["object-src"] == "'none'"


def test_the_pin_goes_right_after_the_charset_and_is_escaped() -> None:
    page = '<!doctype html>\n<head>\n<META charset=utf-8>\n<script src="/a.js"></script>'
    pinned = pin_connections(page, ['https://x.example.org"><script>'])
    before, after = pinned.split("<META charset=utf-8>")
    assert before == "<!doctype html>\n<head>\n"
    assert after.startswith(
        '\n  <meta http-equiv="Content-Security-Policy" content="connect-src &#x27;self&#x27; '
        'https://x.example.org&quot;&gt;&lt;script&gt;">'
    )
    assert after.endswith('<script src="/a.js"></script>')


def test_a_page_without_a_charset_cannot_be_pinned() -> None:
    with pytest.raises(ValueError, match="charset"):
        pin_connections("<!doctype html><title>x</title>", [])


def test_tiles_over_http_only_locally() -> None:
    with pytest.raises(ValueError, match="https"):
        tile_origin("http://tile.example.org/{z}/{x}/{y}.png")
    assert tile_origin("http://tile.test/{z}/{x}/{y}.png", allow_http=True) == "http://tile.test"
