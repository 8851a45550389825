"""The sponsor's report ("bilan") rendered for people: a PDF to forward as is, and a ZIP of
CSV tables for a spreadsheet. Both are built from `domain.sponsor_report.SponsorReport` alone."""
