"""Funding round codes as people write them.

Crunchbase (`investment_type`) and People Data Labs (`latest_funding_stage`,
`funding_stages`) share one vocabulary of codes like `series_b` or `pre_seed`;
the agents' rules read round names ("Series B or later"), so both providers
write the name.
"""

from __future__ import annotations

_WORDS = {"ipo": "IPO", "pre": "Pre", "post": "Post", "non": "Non"}
_JOINED = ("Pre", "Post", "Non")  # "Pre-Seed", "Post-IPO Equity", "Non-Equity Assistance"


def round_name(code: str | None) -> str | None:
    """`series_b` -> "Series B", `pre_seed` -> "Pre-Seed", `post_ipo_equity` -> "Post-IPO Equity"; None for none."""
    if not isinstance(code, str) or not code.strip():
        return None
    words = [_WORDS.get(word, word.capitalize()) for word in code.strip().lower().split("_") if word]
    name = words[0]
    for word in words[1:]:
        name += ("-" if name.split(" ")[-1] in _JOINED else " ") + word
    return name
