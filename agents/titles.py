"""Job titles: normalisation, role relevance, seniority, buying authority.

Matching is on whole words of the normalised title, never substrings: the
seed's `'cto' in title` made every "Director" a CTO.
"""

from __future__ import annotations

import re
from functools import lru_cache

_PUNCTUATION = re.compile(r"[^\w\s+]")
_STOPWORDS = {"of", "the", "and", "for", "to", "at", "in"}

# Longest phrases first, so "senior vice president" wins over "vice president".
_PHRASES = (
    ("executive vice president", "evp"),
    ("senior vice president", "svp"),
    ("vice president", "vp"),
    ("chief executive officer", "ceo"),
    ("chief revenue officer", "cro"),
    ("chief financial officer", "cfo"),
    ("chief technology officer", "cto"),
    ("chief technical officer", "cto"),
    ("chief operating officer", "coo"),
    ("chief marketing officer", "cmo"),
    ("chief information officer", "cio"),
    ("chief sales officer", "cso"),
    ("rev ops", "revenue operations"),
    ("biz dev", "business development"),
    ("co founder", "cofounder"),
    ("managing director", "md"),
)
_WORDS = {
    "sr": "senior",
    "snr": "senior",
    "dir": "director",
    "mgr": "manager",
    "revops": "revenue operations",
    "ops": "operations",
    "bizdev": "business development",
    "bd": "business development",
    "sdr": "sales development representative",
    "bdr": "business development representative",
    "svp": "svp",
    "evp": "evp",
    "vp": "vp",
}
_C_SUITE = {"ceo", "cro", "cfo", "cto", "coo", "cmo", "cio", "cso", "founder", "cofounder", "president", "owner", "md"}
RELEVANCE_KEYWORDS = ("sales", "revenue", "operations", "marketing", "growth")


@lru_cache(maxsize=65536)  # titles repeat across thousands of people
def normalise_title(title: str) -> str:
    """'Vice President of Sales & Marketing' -> 'vp sales marketing'."""
    text = " " + _PUNCTUATION.sub(" ", title.casefold().replace("&", " and ").replace("-", " ")) + " "
    text = " ".join(text.split())
    for long, short in _PHRASES:
        text = re.sub(rf"\b{long}\b", short, text)
    words = []
    for word in text.split():
        if word in _STOPWORDS:
            continue
        words.extend(_WORDS.get(word, word).split())
    return " ".join(words)


def _word_set(title: str) -> set[str]:
    return set(_words(title))


@lru_cache(maxsize=65536)
def _words(title: str) -> frozenset[str]:
    return frozenset(normalise_title(title).split())


def role_relevance(title: str, target_roles: list[str]) -> float:
    """1.0 when every word of a target role is in the title; else 0.25 per sales keyword, at most 0.8."""
    words = _word_set(title)
    if words & {"svp", "evp"}:
        words.add("vp")  # an SVP of Sales is what "VP Sales" asks for
    if _is_assistant(title):
        words -= _C_SUITE | {"vp", "svp", "evp", "head"}  # "Assistant to the CEO" is not the CEO
    for role in target_roles:
        role_words = _word_set(role)
        if role_words and role_words <= words:
            return 1.0
    return min(0.25 * sum(1 for keyword in RELEVANCE_KEYWORDS if keyword in words), 0.8)


_ASSISTANT_TO = re.compile(r"\bassistant\s+to\b", re.I)


def _is_assistant(title: str) -> bool:
    """Assistants support a leader; an 'Assistant Vice President' is a VP-level title."""
    if _ASSISTANT_TO.search(title):
        return True
    words = _word_set(title)
    return "assistant" in words and not words & {"vp", "svp", "evp", "director", "manager"}


def is_c_level(title: str) -> bool:
    words = _word_set(title)
    if _is_assistant(title):
        return False
    is_chief = "chief" in words and "officer" in words
    return is_chief or bool(words & _C_SUITE) and not words & {"vp", "svp", "evp"}


def seniority(title: str) -> int:
    """1-10 from the title: C-level 10, SVP 9, VP 8, Head of 7, director 6, manager 4, IC 2."""
    words = _word_set(title)
    if _is_assistant(title):
        return 2
    if is_c_level(title):
        return 10
    if words & {"svp", "evp"}:
        return 9
    if "vp" in words:
        return 8
    if "head" in words or {"senior", "director"} <= words:
        return 7
    if "director" in words:
        return 6
    if {"senior", "manager"} <= words:
        return 5
    if "manager" in words:
        return 4
    if "senior" in words:
        return 3
    return 2


def buying_authority(title: str, level: int) -> float:
    """The seed's authority ladder, on whole words, plus 'Head of' at 0.75."""
    words = _word_set(title)
    if _is_assistant(title):
        return 0.30
    if level == 10:
        return 0.95
    if words & {"vp", "svp", "evp"}:
        return 0.85 if level >= 8 else 0.75
    if "head" in words:
        return 0.75
    if "director" in words:
        return 0.70 if level >= 6 else 0.60
    if "manager" in words:
        return 0.50 if level >= 4 else 0.35
    return 0.30
