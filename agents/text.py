"""Comparing the words people type: industries, signals, company names."""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^\w+]+")
_COMPANY_SUFFIXES = {
    "inc", "incorporated", "llc", "ltd", "limited", "gmbh", "corp", "corporation", "co", "company",
    "plc", "sa", "ag", "bv", "pty", "srl", "oy", "ab",
}


def phrase(text: str) -> str:
    """Case, punctuation and '&' vs 'and' do not matter: 'B2B-SaaS' == 'b2b saas'."""
    return " ".join(_NON_WORD.sub(" ", text.casefold().replace("&", " and ")).split())


def company_name(text: str) -> str:
    """A company name without its legal suffix: 'ACME, Inc.' == 'Acme'."""
    words = phrase(text).split()
    while len(words) > 1 and words[-1] in _COMPANY_SUFFIXES:
        words.pop()
    return " ".join(words)


def phrases(items: list[str]) -> set[str]:
    return {phrase(item) for item in items if item.strip()}
