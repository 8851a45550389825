"""Render page 1 of the Humanis example's sponsor report for the docs:
`python scripts/render_bilan_example.py` writes docs/images/bilan-humanis-page1.png."""

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
from tests.unit.bilan_examples import humanis_campaign  # noqa: E402

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


def main() -> None:
    render_first_page(report_pdf(humanis_campaign()), OUTPUT)
    print(f"wrote {OUTPUT.relative_to(_REPO_ROOT)}")


if __name__ == "__main__":
    main()
