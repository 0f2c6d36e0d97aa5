"""NewsAPI: a company's recent news as funding and news signals.

One search of /everything for the company's name as a phrase, or its domain,
in headlines and descriptions over the 90 days before the as-of date, newest
first. `agents.news` classifies each article: funding becomes a Funding
signal (its round and dollar amount as stated), expansion and partnership
News of that category, and a product launch News of category "expansion"
(a company launching a product is growing its business; the Expansion news
rule then counts it, and the article's own headline is its evidence).
Anything else is not an intent signal and is left out. The article's URL is
kept as evidence.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from agents.models import CompanyRecord, Funding, News, Signal
from agents.news import classify_article, search_name
from connector.providers.http.client import ProviderClient
from connector.providers.http.errors import RequestRefused
from connector.providers.mapping import text
from connector.providers.signal_fields import iso_date, link, report_skipped

log = logging.getLogger(__name__)

SOURCE = "newsapi"
LOOKBACK_DAYS = 90
REMOVED = "[Removed]"  # NewsAPI's placeholder for an article taken down at the publisher's request


def signals_for(client: ProviderClient, company: CompanyRecord, as_of: dt.date) -> list[Signal]:
    """Every page to the total (at most the spec's pages). A later page refused is the plan's cap on how
    deep a search may page (the developer plan's 100 results, `maximumResultsReached`): what was read counts."""
    signals: list[Signal] = []
    seen: set[str] = set()
    pages_read = 0
    try:
        for reply in client.pages("everything", params=search_params(company, as_of)):
            signals.extend(signals_from(reply.body, company, seen))
            pages_read += 1
    except RequestRefused as refused:
        if not pages_read:
            raise
        log.warning("newsapi: page %d for %s refused (%s); the %d pages read are kept",
                    pages_read + 1, company.domain, refused.reason, pages_read)
    return signals


def search_params(company: CompanyRecord, as_of: dt.date) -> dict[str, str]:
    """The name as a phrase (quotes inside it dropped) or the domain, in headlines and descriptions, English
    (the classifier reads English), up to the end of the as-of day."""
    name = search_name(company.name)[:200]
    return {
        "q": f'"{name}" OR "{company.domain}"' if name else f'"{company.domain}"',
        "searchIn": "title,description",
        "from": (as_of - dt.timedelta(days=LOOKBACK_DAYS)).isoformat(),
        "to": f"{as_of.isoformat()}T23:59:59",
        "language": "en",
        "sortBy": "publishedAt",
    }


def signals_from(body: Any, company: CompanyRecord, seen: set[str] | None = None) -> list[Signal]:
    """One page of articles as signals; `seen` (article URLs) keeps a story found twice from counting twice."""
    seen = set() if seen is None else seen
    articles = body.get("articles") if isinstance(body, dict) else None
    articles = articles if isinstance(articles, list) else []
    signals, unreadable = [], 0
    names = (search_name(company.name), company.domain)
    for article in articles:
        date = iso_date(article.get("publishedAt")) if isinstance(article, dict) else None
        if date is None:
            unreadable += 1
            continue
        if text(article.get("title")) == REMOVED:
            continue
        url = link(article.get("url"))
        if url in seen:
            continue
        signal = _signal(article, date, url, company.domain, names)
        if signal is not None:
            signals.append(signal)
            if url:
                seen.add(url)
    report_skipped(SOURCE, company.domain, unreadable, len(articles), "not an article with a publishedAt date")
    return signals


def _signal(article: dict, date: dt.date, url: str | None, domain: str, names: tuple[str, ...]) -> Signal | None:
    title = text(article.get("title"))
    found = classify_article(title, text(article.get("description")), names)
    if found is None:
        return None
    common = {"company_domain": domain, "date": date, "title": title, "url": url, "source": SOURCE}
    if found.kind == "funding":
        return Funding(kind="funding", round=found.round, amount_usd=found.amount_usd, **common)
    category = "expansion" if found.kind == "launch" else found.kind
    return News(kind="news", category=category, **common)
