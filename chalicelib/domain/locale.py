"""Languages crowdact writes e-mails in, and how a token's `locale` claim picks one."""

from __future__ import annotations

SUPPORTED_LANGUAGES = ("fr", "en")
# The demo data and the product brief are French; a participant who states nothing reads French.
DEFAULT_LANGUAGE = "fr"


def language_for(locale: str | None) -> str:
    """The supported language of a locale such as "fr", "en-GB" or "EN_us"; French otherwise."""
    if not locale:
        return DEFAULT_LANGUAGE
    language = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE
