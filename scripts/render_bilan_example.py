"""Render page 1 of the demo's Humanis week report for the docs:
`python scripts/render_bilan_example.py` loads `make run`'s demo into an in-process moto,
runs the stream triggers, builds the campaign's report as the API does, and writes
docs/images/bilan-humanis-page1.png."""

from __future__ import annotations

import os
import sys

# Run as `python scripts/render_bilan_example.py`: the repo root must be importable.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from pathlib import Path  # noqa: E402

import pypdfium2  # noqa: E402

from chalicelib.bilan.pdf import report_pdf  # noqa: E402
from chalicelib.domain.sponsor_report import SponsorReport  # noqa: E402

OUTPUT = Path(_REPO_ROOT) / "docs" / "images" / "bilan-humanis-page1.png"
# Readable on screen and a few hundred kilobytes at most: a PDF point is 1/72 inch.
DPI = 110


def render_first_page(pdf: bytes, output: Path, dpi: int = DPI) -> None:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
        output.parent.mkdir(parents=True, exist_ok=True)
        # A palette of 256 colours: the page is flat colours and text, so nothing shows,
        # and the file is a third of its full-colour size.
        image.convert("RGB").quantize(256).save(output, optimize=True)
    finally:
        document.close()


def demo_report() -> SponsorReport:
    """The Humanis week's report, from the demo data counted by the real triggers."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-3",
            "CROWDACT_STAGE": "local",
        }
    )
    os.environ.pop("CROWDACT_AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from chalicelib.local import moto_fixes
    from chalicelib.local.clock import ShiftedClock
    from chalicelib.local.demo import HUMANIS_CAMPAIGN, load_demo
    from chalicelib.local.stack import prepare_aws, stream_bindings, streams_client
    from chalicelib.local.stream_poller import StreamPoller
    from chalicelib.settings import Settings
    from chalicelib.wiring import build_container, set_container

    moto_fixes.apply()
    with mock_aws():
        settings = Settings.from_env()
        clock = ShiftedClock()
        container = build_container(settings, clock=clock)
        set_container(container)
        prepare_aws(settings)
        load_demo(container, clock=clock)
        import app as app_module

        StreamPoller(streams_client(settings), stream_bindings(app_module)).drain()
        return container.sponsor_reports.for_campaign(HUMANIS_CAMPAIGN)


def main() -> None:
    render_first_page(report_pdf(demo_report()), OUTPUT)
    print(f"wrote {OUTPUT.relative_to(_REPO_ROOT)}")


if __name__ == "__main__":
    main()
