"""Countries and their main time zones.

Markets and data say "UK", "GB", "United Kingdom" or "England" for one
country; everything inside SalesOS uses the ISO 3166-1 alpha-2 code.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry

from agents.validation import quote

# Names people use that ISO does not list.
_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "america": "US",
    "united states of america": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "u.k.": "GB",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "vietnam": "VN",
    "holland": "NL",
    "the netherlands": "NL",
    "uae": "AE",
}

# The zone most of a country's business hours follow; used when a contact
# has no time zone of its own.
MAIN_TIMEZONE = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "MX": "America/Mexico_City",
    "BR": "America/Sao_Paulo",
    "AR": "America/Argentina/Buenos_Aires",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "FR": "Europe/Paris",
    "DE": "Europe/Berlin",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "IT": "Europe/Rome",
    "CH": "Europe/Zurich",
    "AT": "Europe/Vienna",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "DK": "Europe/Copenhagen",
    "FI": "Europe/Helsinki",
    "PL": "Europe/Warsaw",
    "IL": "Asia/Jerusalem",
    "AE": "Asia/Dubai",
    "IN": "Asia/Kolkata",
    "SG": "Asia/Singapore",
    "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul",
    "CN": "Asia/Shanghai",
    "HK": "Asia/Hong_Kong",
    "AU": "Australia/Sydney",
    "NZ": "Pacific/Auckland",
    "ZA": "Africa/Johannesburg",
}


@lru_cache(maxsize=1024)
def country_code(value: str) -> str:
    """ISO alpha-2 code for a country name, alias or ISO code.

    Raises ValueError naming the value when it is not a country.
    """
    text = value.strip()
    if not text:
        raise ValueError("country is empty")
    alias = _ALIASES.get(text.lower())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        raise ValueError(f"{quote(value)} is not a country name or ISO code") from None


def main_timezone(country: str | None) -> str | None:
    """The main IANA zone of an ISO alpha-2 country, or None if unknown."""
    return MAIN_TIMEZONE.get(country) if country else None
