"""Contact Finder: the buying team of one company, ranked by buying authority."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from agents.market import MarketDefinition
from agents.models import Channel, Contact, ContactSelection, Drop, PersonRecord
from agents.verification import Verdict
from agents.titles import buying_authority, role_relevance, seniority
from agents.validation import clip, quote


def find_buying_team(
    people: list[PersonRecord], market: MarketDefinition, verdicts: Mapping[str, Verdict] | None = None
) -> ContactSelection:
    """Keep the top `contacts_per_company` people; say why each other person was left out.

    `verdicts` (by address) are the email verification's: an invalid address is
    dropped with its reason, and only a `valid` one is `email_verified`. Without
    a verdict an address is not verified, whatever its source's confidence.
    """
    candidates, dropped = [], []
    verdicts = verdicts or {}
    for person in _dedupe(people, dropped):
        email, problem = _valid_email(person.email)
        checked = verdicts.get(person.email or "") or verdicts.get(email)
        if not problem and checked is not None and checked.status == "invalid":
            problem = checked.reason
        if problem:
            dropped.append(Drop(key=person.email or person.name, reason=problem, kind="invalid email"))
            continue
        contact = _rank(person, email, market, checked is not None and checked.verified)
        if contact.role_relevance < market.min_role_relevance:
            dropped.append(Drop(key=email, kind="not a buying role",
                                reason=f"role relevance {contact.role_relevance} below "
                                       f"{market.min_role_relevance} ({person.title or 'no title'})"))
            continue
        candidates.append(contact)
    candidates.sort(key=lambda c: (-c.buying_authority, -c.role_relevance, -c.seniority, c.email))
    kept = candidates[: market.contacts_per_company]
    dropped += [
        Drop(key=c.email, reason=f"ranked below the top {market.contacts_per_company}", kind="ranked below the top")
        for c in candidates[market.contacts_per_company :]
    ]
    return ContactSelection(kept=kept, dropped=dropped)


def to_reveal(people: list[PersonRecord], market: MarketDefinition,
              tried: set[str] = frozenset()) -> list[PersonRecord]:
    """The people whose email is worth paying for: those without one who would make the top
    `contacts_per_company` (by the same ranking as `find_buying_team`), skipping refs already tried.

    People search is free and returns no emails; revealing one costs credits,
    so only the buying team's likely members are revealed. Someone whose email
    could not be found is `tried`: the next call promotes the next in line.
    """
    ranked = []
    for person in people:
        if person.email:
            email, problem = _valid_email(person.email)
            if problem:
                continue
        elif not person.ref or person.ref in tried:
            continue
        contact = _rank(person, person.email or f"{person.ref}@reveal.invalid", market, verified=False)
        if contact.role_relevance >= market.min_role_relevance:
            ranked.append((contact, person))
    ranked.sort(key=lambda pair: (-pair[0].buying_authority, -pair[0].role_relevance, -pair[0].seniority,
                                  pair[1].email or "", pair[1].ref or ""))
    return [person for _, person in ranked[: market.contacts_per_company] if not person.email]


def _dedupe(people: list[PersonRecord], dropped: list[Drop]) -> list[PersonRecord]:
    """One record per email: the most confident, with gaps filled from the others."""
    by_email: dict[str, PersonRecord] = {}
    without_email = []
    for person in sorted(people, key=lambda p: -p.confidence):
        if not person.email:
            without_email.append(person)
            continue
        key = person.email.strip().lower()
        if key not in by_email:
            by_email[key] = person
            continue
        best = by_email[key]
        by_email[key] = best.model_copy(update={
            field: getattr(person, field)
            for field in ("phone", "linkedin_url", "timezone", "country", "title")
            if not getattr(best, field) and getattr(person, field)
        })
    dropped += [Drop(key=person.name, reason="no email address", kind="no email") for person in without_email]
    return list(by_email.values())


def _valid_email(raw: str | None) -> tuple[str, str | None]:
    try:
        return validate_email(raw or "", check_deliverability=False).normalized.lower(), None
    except EmailNotValidError as exc:
        return "", f"invalid email {quote(raw)}: {clip(str(exc))}"


def _rank(person: PersonRecord, email: str, market: MarketDefinition, verified: bool) -> Contact:
    level = seniority(person.title)
    return Contact(
        name=person.name, title=person.title, email=email, phone=person.phone,
        linkedin_url=person.linkedin_url, company_domain=person.company_domain, country=person.country,
        timezone=_zone_or_none(person.timezone), source=person.source, confidence=person.confidence,
        email_verified=verified,
        role_relevance=role_relevance(person.title, market.buying_team_roles),
        seniority=level,
        buying_authority=buying_authority(person.title, level),
        contact_preference=_preference(verified, person),
    )


def _preference(verified: bool, person: PersonRecord) -> Channel:
    """The seed's rule: a verified email first, then LinkedIn, then the phone."""
    if verified:
        return "email"
    if person.linkedin_url:
        return "linkedin"
    if person.phone:
        return "phone"
    return "email"


def _zone_or_none(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name
