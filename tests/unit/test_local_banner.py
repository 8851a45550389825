"""The banner `make run` prints once ready says the data lives in memory only."""

from __future__ import annotations

import re

import pytest

from chalicelib.local.stack import banner

API = "http://127.0.0.1:8000"
AWS = "http://127.0.0.1:5000"
SECRET = "local-secret-" + "x" * 32


def data_line(text: str) -> str:
    [line] = [line for line in text.splitlines() if line.strip().startswith("Data:")]
    return line


@pytest.mark.parametrize("demo", [True, False])
def test_the_banner_says_the_data_is_in_memory_and_lost_on_stop(demo: bool) -> None:
    line = data_line(banner(API, AWS, secret=SECRET, demo=demo))
    assert "in memory only" in line
    assert "lost when this process stops" in line
    assert ("demo data is recreated on each start" in line) is demo


def test_the_banner_still_names_the_api_the_embedded_aws_and_the_tokens() -> None:
    text = banner(API, AWS, secret=SECRET, demo=True)
    assert f"API:               {API}" in text
    assert f"--endpoint-url {AWS}" in text
    # tests/e2e/test_demo_reports.py reads the org-admin tokens with this pattern.
    tokens = dict(re.findall(r"(Humanis|GRDF) org-admin:\s+(\S+)", text))
    assert set(tokens) == {"Humanis", "GRDF"}


def test_the_banner_says_where_to_open_the_web_client() -> None:
    text = banner(API, AWS, secret=SECRET, demo=True)
    [line] = [line for line in text.splitlines() if line.strip().startswith("Web client:")]
    assert f"{API}/" in line
