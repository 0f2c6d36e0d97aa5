"""Small readers shared by the provider mappers: a provider's value or None, never an exception.

A provider's record with one odd field (a website that is not a domain, a
country spelled its own way) keeps its other fields; the mapper decides
whether the record can stand without it.
"""

from __future__ import annotations

import math

from agents.domains import registered_domain
from agents.geo import country_code


def domain_or_none(value: object) -> str | None:
    """The registered domain of a website, URL or bare domain; None when there is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return registered_domain(value)
    except ValueError:
        return None


def country_or_none(value: object) -> str | None:
    """The ISO alpha-2 code of a country name or code; None for anything else."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return country_code(value)
    except ValueError:
        return None


def estimate(low: float | None, high: float | None) -> float | None:
    """One number for a bucket: its midpoint, or its lower bound when it has no top ("10001+", "$10B+").

    The lower bound is a true "at least", so a company above every bucket is still judged too big.
    """
    if low is None:
        return None
    return low if high is None else (low + high) / 2


def year_or_none(value: object) -> int | None:
    """The year of 2015, "2015" or "2015-04-01"; None when it is not a plausible founding year."""
    text = str(value).strip()[:4] if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isdigit():
        return None
    year = int(text)
    return year if 1800 <= year <= 2100 else None


def int_or_none(value: object) -> int | None:
    """A non-negative whole number, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return int(value)


def text(value: object) -> str:
    """A string value stripped; '' for anything else."""
    return value.strip() if isinstance(value, str) else ""
