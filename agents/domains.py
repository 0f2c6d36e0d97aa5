"""Registered-domain normalisation: the natural key of every company.

`https://www.Acme.co.uk/about`, `app.acme.co.uk` and `acme.co.uk` are one
company. tldextract does the public-suffix work; its bundled snapshot is used
so nothing is fetched from the network.
"""

from __future__ import annotations

from functools import lru_cache

import tldextract

from agents.validation import quote

_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def registered_domain(value: str) -> str:
    """Return the registered domain of a bare domain, URL or e-mail address.

    Raises ValueError when no registrable domain can be found (an IP address,
    `localhost`, a bare word).
    """
    text = value.strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    parts = _extract(text)
    if not parts.domain or not parts.suffix:
        raise ValueError(f"{quote(value)} has no registrable domain")
    return f"{parts.domain}.{parts.suffix}"
