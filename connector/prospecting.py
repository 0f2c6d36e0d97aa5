"""What the data providers add to each stage of a run: the I/O around the agents' decisions.

The source stage searches the sourcing providers and fills the firmographic
fields the market judges through the waterfall (`agents.waterfall` decides
whom to ask; nobody is asked twice about a company). The enrich stage reads
intent from the job boards, news, Wayback and funding rounds; the contacts
stage searches people (free first), reveals the emails of only those ranking
keeps (`agents.contact_finder.to_reveal`) and verifies them.

A provider that fails never stops the stage: what it could not give is noted
in `Misses` (the run summary names the provider, why, and the companies it
missed), the stage goes on with the others, and a provider that is down or
capped is not asked again in the same job.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from agents.contact_finder import find_buying_team, to_reveal
from agents.lead_source import merge_records, source_companies
from agents.market import MarketDefinition
from agents.models import Company, CompanyRecord, PersonRecord, Signal
from agents.verification import Verdict
from agents.waterfall import next_round
from connector.providers.http.errors import NotConfigured, ProviderCallError, ProviderUnavailable, RequestRefused
from connector.providers.registry import RunProviders

log = logging.getLogger(__name__)
REQUESTED = "crm request"  # the source of the stand-in record of a company a rep asked for by its domain
SEARCH = "search"  # what a failed search missed: no company yet, so nothing waits for it
REVEAL_ROUNDS = 2  # a team member whose email is not found makes way for the next in line, once


@dataclass
class Miss:
    provider: str
    stage: str
    kind: str
    reason: str
    keys: list[str] = field(default_factory=list)
    retry_after: float | None = None


class Misses:
    """What providers could not give one job, by provider: the first reason, and every key it missed."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.by_provider: dict[str, Miss] = {}

    def note(self, exc: ProviderCallError, keys: Iterable[str]) -> None:
        miss = self.by_provider.setdefault(exc.provider, Miss(exc.provider, self.stage, exc.kind, exc.reason))
        miss.keys.extend(key for key in keys if key not in miss.keys)
        if isinstance(exc, ProviderUnavailable) and exc.retry_after is not None:
            miss.retry_after = max(miss.retry_after or 0, exc.retry_after)
        log.warning("%s stage: %s %s (%s)", self.stage, exc.provider, exc.kind, exc.reason)

    def stopped(self, provider: str) -> bool:
        """A provider that failed for a reason that holds for the rest of the job (not one refused request)."""
        miss = self.by_provider.get(provider)
        return miss is not None and miss.kind != "refused"

    def skip(self, provider: str, keys: Iterable[str]) -> None:
        self.by_provider[provider].keys.extend(key for key in keys if key not in self.by_provider[provider].keys)

    def counts(self) -> list[dict]:
        return [{"provider": m.provider, "stage": m.stage, "kind": m.kind, "reason": m.reason, "missed": len(m.keys)}
                for m in self.by_provider.values()]

    def resumable(self) -> dict[str, Miss]:
        """Misses worth trying again later: the provider was down or its circuit open, not refused or capped."""
        return {name: miss for name, miss in self.by_provider.items() if miss.kind == "unavailable" and miss.keys}


def _call(misses: Misses, provider: str, keys: list[str], call, default):
    """`call()`, or `default` when the provider fails (noted); a provider stopped earlier in the job is not asked."""
    if misses.stopped(provider):
        misses.skip(provider, keys)
        return default
    try:
        return call()
    except NotConfigured:
        return default
    except ProviderCallError as exc:
        misses.note(exc, keys)
        return default
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # an answer shaped unlike its documentation
        log.exception("%s stage: %s gave an answer SalesOS cannot read", misses.stage, provider)
        misses.note(ProviderCallError(provider, "answer", f"an answer SalesOS cannot read ({type(exc).__name__})"),
                    keys)
        return default


# --- source -------------------------------------------------------------------------------------------------


def source(providers: RunProviders, market: MarketDefinition, records: list[CompanyRecord], limit: int,
           order: dict[str, list[str]], min_confidence: float, misses: Misses,
           skip: frozenset[str] | set[str] = frozenset()) -> list[CompanyRecord]:
    """The sourcing waterfall: search one provider at a time, fill what the market judges, and stop searching
    once the companies found qualify for the whole monthly target (a dearer source is asked only for more).
    Companies in `skip` (already in the CRM, for a run that wants new ones) are passed over."""
    tried: dict[str, set[str]] = {}
    records = fill_firmographics(providers, records, market, order, min_confidence, misses, tried=tried)
    for name in providers.for_role("sourcing"):
        if _enough(records, market):
            break
        records = records + search_companies(providers, name, market, limit, misses, skip)
        records = fill_firmographics(providers, records, market, order, min_confidence, misses, tried=tried)
    return records


def _enough(records: list[CompanyRecord], market: MarketDefinition) -> bool:
    result = source_companies(records, market)
    return bool(market.monthly_target) and len(result.qualified) >= market.monthly_target


def search_companies(providers: RunProviders, name: str, market: MarketDefinition, limit: int, misses: Misses,
                     skip: frozenset[str] | set[str] = frozenset()) -> list[CompanyRecord]:
    """One sourcing provider's matches for the market, up to `limit` (what it gave before it failed is kept);
    companies in `skip` are passed over and do not count toward `limit`."""
    records: list[CompanyRecord] = []

    def search() -> None:
        for record in providers.module(name).search_companies(providers.client(name), market, limit + len(skip)):
            if record.domain in skip:
                continue
            records.append(record)
            if len(records) == limit:
                break
    _call(misses, name, [SEARCH], search, None)
    return records


def requested(domains: Iterable[str], records: list[CompanyRecord]) -> list[CompanyRecord]:
    """A stand-in record (no data, no confidence) for each requested domain no source has: the waterfall fills it."""
    known = {record.domain for record in records}
    return [CompanyRecord(name=domain, domain=domain, source=REQUESTED, confidence=0)
            for domain in domains if domain not in known]


def fill_firmographics(providers: RunProviders, records: list[CompanyRecord], market: MarketDefinition,
                       order: dict[str, list[str]], min_confidence: float, misses: Misses,
                       only: set[str] | None = None, tried: dict[str, set[str]] | None = None) -> list[CompanyRecord]:
    """The waterfall: ask providers, field by field in `order`, until each field the market judges is known with
    `min_confidence`, only for companies that could still qualify, each provider at most once per company (`tried`
    remembers whom it asked across calls)."""
    available = {name for name in providers.for_role("firmographics") if not misses.stopped(name)}
    tried = {} if tried is None else tried
    records = list(records)
    while available:
        companies, _ = merge_records(records)
        if only is not None:
            companies = [company for company in companies if company.domain in only]
        asks = next_round(companies, market, order, tried, available, min_confidence)
        if not asks:
            break
        for name, domains in asks.items():
            for domain in domains:
                tried.setdefault(domain, set()).add(name)
            found = _call(misses, name, domains,
                          lambda name=name, domains=domains: providers.module(name).enrich_companies(
                              providers.client(name), domains), {})
            records.extend(found.values())
            if misses.stopped(name):
                available.discard(name)
    return records


# --- enrich -------------------------------------------------------------------------------------------------


def intent_signals(providers: RunProviders, companies: list[Company], as_of: dt.date, misses: Misses,
                   find_board=None) -> dict[str, list[Signal]]:
    """Each company's dated signals from the intent providers; `find_board(record)` looks for its job board."""
    names = providers.for_role("intent")
    found: dict[str, list[Signal]] = defaultdict(list)
    for company in companies:
        record = CompanyRecord(name=company.name, domain=company.domain, job_board=company.job_board)
        if not record.job_board and find_board and {"greenhouse", "lever"} & set(names):
            record = record.model_copy(update={"job_board": find_board(record)})
        for name in names:
            if name in ("greenhouse", "lever") and not (record.job_board or "").startswith(f"{name}:"):
                continue
            signals = _call(misses, name, [company.domain],
                            lambda name=name: providers.module(name).signals_for(providers.client(name), record, as_of),
                            [])
            found[company.domain].extend(signals)
    return dict(found)


# --- contacts -----------------------------------------------------------------------------------------------


def search_people(providers: RunProviders, domains: list[str], market: MarketDefinition,
                  misses: Misses) -> dict[str, list[PersonRecord]]:
    """The people each people provider knows at each company (Apollo's search is free and gives no emails)."""
    people: dict[str, list[PersonRecord]] = defaultdict(list)
    for name in providers.for_role("people"):
        found = _call(misses, name, domains, lambda name=name: providers.module(name).search_people(
            providers.client(name), domains, market), {})
        for domain, records in found.items():
            people[domain].extend(records)
    return dict(people)


def reveal_team(providers: RunProviders, people: dict[str, list[PersonRecord]], market: MarketDefinition,
                misses: Misses) -> dict[str, list[PersonRecord]]:
    """Each company's people with the emails of its likely buying team bought, and only theirs: the email
    providers are asked in order, and someone none of them finds makes way for the next in line."""
    people = {domain: list(records) for domain, records in people.items()}
    tried: dict[str, set[str]] = defaultdict(set)
    for _ in range(REVEAL_ROUNDS):
        wanted = {domain: to_reveal(records, market, tried[domain]) for domain, records in people.items()}
        wanted = {domain: records for domain, records in wanted.items() if records}
        if not wanted:
            break
        for domain, records in wanted.items():
            tried[domain].update(record.ref for record in records if record.ref)
        asked = [record for records in wanted.values() for record in records]
        for name in providers.for_role("emails"):
            pending = [record for record in asked if not record.email]
            if not pending:
                break
            revealed = _call(misses, name, sorted({r.company_domain for r in pending}),
                             lambda name=name, pending=pending: providers.module(name).reveal_emails(
                                 providers.client(name), pending), pending)
            answered = {id(old): new for old, new in zip(pending, revealed)}  # each provider returns them in order
            asked = [answered.get(id(record), record) for record in asked]
        replaced = {record.ref: record for record in asked if record.ref}
        people = {domain: [replaced.get(r.ref, r) if r.ref else r for r in records]
                  for domain, records in people.items()}
    return people


def verify_team(providers: RunProviders, people: dict[str, list[PersonRecord]], market: MarketDefinition,
                misses: Misses, resolver) -> dict[str, Verdict]:
    """Verdicts for the addresses of each company's buying team, and only theirs (a verifier charges per address):
    one found invalid is dropped by Contact Finder, and the next in line is verified in turn."""
    from connector.providers.verification import verify_emails

    hunter = providers.client("hunter") if "hunter" in providers.for_role("verifier") else None
    verdicts: dict[str, Verdict] = {}
    for _ in range(REVEAL_ROUNDS + 1):
        kept = [contact for group in people.values() for contact in find_buying_team(group, market, verdicts).kept]
        wanted = sorted({contact.email for contact in kept if contact.email not in verdicts})
        if not wanted:
            break
        try:
            verdicts |= verify_emails(wanted, hunter, resolver)
        except RequestRefused as exc:  # a bug, not an outage: the rest goes on unverified
            misses.note(exc, wanted)
            break
    return verdicts
