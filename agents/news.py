"""What a news article says about a company, for intent: funding, expansion, partnership, a launch, or nothing.

Pure: a headline and its description in, a class out. Only what the article
says in so many words counts: a round is named ("Series B") or it is not
stated, an amount is read only when it is in US dollars (no exchange rates
here), a rumour ("in talks to raise") is not a raise, and an article that
does not name the company in its headline or description is about someone
else. Bad news (layoffs, a shutdown) is not a buying signal, whatever else
the headline says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from agents.text import company_name, phrase

NewsKind = Literal["funding", "expansion", "partnership", "launch"]
ROUND_NOT_STATED = "Round not stated"


@dataclass(frozen=True)
class ArticleClass:
    kind: NewsKind
    round: str | None = None  # funding only: "Series B", "Seed", ... or ROUND_NOT_STATED
    amount_usd: float | None = None  # funding only, when the article states it in dollars


# --- funding ------------------------------------------------------------------

_SERIES = re.compile(r"\bseries[\s-]+(?P<letter>[a-j])(?:[-\s]?\d)?(?![a-z])", re.I)
_NAMED_ROUND = re.compile(
    r"\b(?P<stage>pre[\s-]?seed|seed|growth(?:[\s-]equity)?|pre[\s-]?ipo)[\s-]+"
    r"(?:stage\s+)?(?:round|funding|financing|investment|raise)\b", re.I)
_MONEY = r"(?:US\$|USD\s?|\$|€|£|EUR\s?|GBP\s?)\s?\d[\d,.]*\s?(?:billion|million|thousand|bn|mn|mm|[bmk])?\b"
_RAISE_VERB = (r"\b(?:rais(?:es|ed|ing)|secur(?:es|ed|ing)|clos(?:es|ed|ing)|land(?:s|ed)|bag(?:s|ged)|nab(?:s|bed)"
               r"|gets|got|receiv(?:es|ed)|picks\s+up|picked\s+up)\b")
# Money won or spent, not raised: "$12M contract", "$1B acquisition", "$2M fine".
_NOT_CAPITAL = r"(?!\s+(?:[\w-]+\s+)?(?:acquisition|deal|contract|merger|order|settlement|fine)s?\b)"
_FUNDING = re.compile(
    rf"{_RAISE_VERB}\s+(?:an?\s+|another\s+|new\s+|fresh\s+|additional\s+)*{_MONEY}{_NOT_CAPITAL}"
    rf"|{_MONEY}\s+(?:\w+\s+){{0,2}}(?:funding|financing|investment|round|raise)\b"
    r"|\bfunding\s+round\b|\bround\s+of\s+funding\b|\brais(?:es|ed)\s+(?:new\s+)?(?:funding|capital)\b", re.I)
_HEDGE = re.compile(r"\b(?:in\s+talks|seeks?|seeking|looks?\s+to\s+raise|looking\s+to\s+raise|plans?\s+to\s+raise"
                    r"|eyes|eyeing|reportedly|considering|mulls?|rumou?red)\b", re.I)
_USD = re.compile(r"(?:US\$|USD\s?|\$)\s?(?P<number>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s?"
                  r"(?P<unit>billion|million|thousand|bn|mn|mm|[bmk])?\b", re.I)
_UNITS = {"billion": 1e9, "bn": 1e9, "b": 1e9, "million": 1e6, "mn": 1e6, "mm": 1e6, "m": 1e6,
          "thousand": 1e3, "k": 1e3}
_VALUATION_BEFORE = re.compile(r"valu(?:ed|ation)\s+(?:at|of)\s*$|worth\s*$", re.I)
_VALUATION_AFTER = re.compile(r"^\s*(?:post-money\s+|pre-money\s+)?valuation", re.I)

# --- everything else, in the order a tie at one position is settled ------------

_KINDS: tuple[tuple[NewsKind, re.Pattern[str]], ...] = (
    ("expansion", re.compile(
        r"\bexpan(?:ds?|ded|ding|sion)\b(?!\s+(?:its\s+|their\s+|the\s+|a\s+)?(?:strategic\s+)?partnership)"
        r"|\bopen(?:s|ed|ing)?\b(?:\s+[\w-]+){0,4}\s+(?:office|offices|headquarters|hq|hub|campus|facility|plant"
        r"|data\s+cent(?:er|re))\b"
        r"|\benter(?:s|ed|ing)?\b(?:\s+[\w-]+){0,3}\s+markets?\b"
        r"|\b(?:to\s+hire|hiring|will\s+hire)\s+\d[\d,]*\b|\b\d[\d,]*\s+new\s+jobs\b"
        r"|\blaunch(?:es|ed|ing)?\s+(?:operations\s+|services\s+|business\s+)?in\s+(?-i:[A-Z])", re.I)),
    ("partnership", re.compile(
        r"\bpartner(?:s|ed|ing)?\s+with\b|\bpartnership\b|\bteam(?:s|ed)?\s+up\s+with\b"
        r"|\bjoin(?:s|ed)?\s+forces\s+with\b|\balliance\b|\bcollaborat(?:es|ed|ing|ion)\s+with\b", re.I)),
    ("launch", re.compile(
        r"\blaunch(?:es|ed|ing)?\b|\bunveil(?:s|ed|ing)?\b|\bintroduc(?:es|ed|ing)\b|\bdebut(?:s|ed)?\b"
        r"|\broll(?:s|ed)?\s+out\b|\bgenerally\s+available\b|\bgeneral\s+availability\b", re.I)),
)
_BAD_NEWS = re.compile(r"\blay(?:s|ing)?\s+off\b|\blayoffs?\b|\bshut(?:s|ting)?\s+down\b|\bhalts?\b|\bscraps?\b"
                       r"|\bbankrupt(?:cy)?\b|\binsolven(?:t|cy)\b|\bwinds?\s+down\b", re.I)


def classify_article(title: str, description: str, names: Iterable[str]) -> ArticleClass | None:
    """The article's class when it names the company (one of `names`: its name, its domain), else None.

    The headline decides, and the description only when the headline says
    nothing we score (a description often recalls someone else's news). In
    either, funding wins (it carries the round, read from both); otherwise
    the earliest kind stated (a headline's main verb usually comes first).
    """
    title, description = title or "", description or ""
    if not _names_any(f"{title}\n{description}", names) or _BAD_NEWS.search(title):
        return None
    for part in (title, description):
        if _says_funding(part):
            if _HEDGE.search(part):
                return None
            return ArticleClass("funding", round=funding_round(title) or funding_round(description) or ROUND_NOT_STATED,
                                amount_usd=amount_usd(title) or amount_usd(description))
        kind = _first_kind(part)
        if kind:
            return ArticleClass(kind)
    return None


def funding_round(text: str) -> str | None:
    """The first round the text names, spelled one way: 'Series B', 'Seed', 'Pre-seed', 'Growth', 'Pre-IPO'."""
    found = [(match.start(), f"Series {match['letter'].upper()}") for match in _SERIES.finditer(text)]
    for match in _NAMED_ROUND.finditer(text):
        stage = re.sub(r"[\s-]+", "", match["stage"].casefold())
        found.append((match.start(), {"preseed": "Pre-seed", "seed": "Seed", "preipo": "Pre-IPO"}.get(
            stage, "Growth")))
    return min(found)[1] if found else None


def amount_usd(text: str) -> float | None:
    """The first dollar amount that is not a valuation: '$20M' is 20,000,000; '€20M' is not read."""
    for match in _USD.finditer(text):
        if _VALUATION_BEFORE.search(text[max(0, match.start() - 20):match.start()]) \
                or _VALUATION_AFTER.search(text[match.end():match.end() + 30]):
            continue
        number = float(match["number"].replace(",", ""))
        return number * _UNITS.get((match["unit"] or "").casefold(), 1)
    return None


def search_name(name: str) -> str:
    """The name as the press writes it: without its legal suffix ('Acme, Inc.' is 'Acme'), case kept,
    no double quotes (it is quoted as a phrase in a search)."""
    words = name.replace('"', " ").split()
    while len(words) > 1 and _is_legal_suffix(words[-1]):
        words.pop()
    return " ".join(words).rstrip(",")


def _is_legal_suffix(word: str) -> bool:
    """Asked of `company_name`, which owns the list: it drops a last word only when it is a legal suffix."""
    return company_name(f"name {word}") == "name"


def _names_any(text: str, names: Iterable[str]) -> bool:
    """Whole words, case and punctuation aside: 'acme.com' is named in 'visit Acme.com', 'Acme' not in 'Acmes'."""
    haystack = f" {phrase(text)} "
    return any(f" {needle} " in haystack for needle in (phrase(name) for name in names) if needle)


def _says_funding(text: str) -> bool:
    return bool(_FUNDING.search(text) or _SERIES.search(text) or _NAMED_ROUND.search(text))


def _first_kind(text: str) -> NewsKind | None:
    hits = [(match.start(), order, kind) for order, (kind, pattern) in enumerate(_KINDS)
            if (match := pattern.search(text))]
    return min(hits)[2] if hits else None
