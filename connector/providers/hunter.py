"""Hunter: the people behind a domain's emails (domain search) and one person's email (email finder).

Domain search lists the personal addresses Hunter has seen for a domain, page
by page (offset, ten at a time: one credit per page that finds any), narrowed
to the departments of the market's buying team when every role names one.
Email finder guesses one person's address from their name; `data.email` null
is "not found" and costs nothing. Hunter's confidence and score are 0-100.
Hunter's email verifier belongs to verification, not to this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from agents.domains import registered_domain
from agents.market import MarketDefinition
from agents.models import PersonRecord
from agents.urls import is_http_url, with_https
from connector.providers.http.client import ProviderClient

log = logging.getLogger(__name__)

SOURCE = "hunter"
PEOPLE_PER_DOMAIN = 50  # five pages of ten: a buying team is a handful of people, each page is a credit

# Hunter's documented departments, and the words of a role that put it in one (a C-level role is also executive).
_DEPARTMENT_WORDS = {
    "executive": {"ceo", "cro", "cfo", "cto", "cmo", "coo", "cio", "chief", "founder", "cofounder", "co-founder",
                  "president", "owner"},
    "sales": {"sales", "revenue", "cro", "account", "business", "sdr", "bdr", "commercial"},
    "marketing": {"marketing", "cmo", "growth", "demand", "brand"},
    "it": {"cto", "cio", "it", "technology", "engineering", "security", "infrastructure"},
    "finance": {"cfo", "finance", "financial", "controller"},
    "operations": {"coo", "operations"},
    "hr": {"hr", "people", "talent", "recruiting"},
    "support": {"support", "customer", "success"},
}


# --- requests -----------------------------------------------------------------


def departments(roles: list[str]) -> list[str] | None:
    """Hunter departments covering every buying role, or None when a role names none (then nobody is left out)."""
    found: list[str] = []
    for role in roles:
        words = set(re.findall(r"[a-z][a-z-]*", role.lower()))
        matched = [name for name, keys in _DEPARTMENT_WORDS.items() if words & keys]
        if not matched:
            return None
        found.extend(name for name in matched if name not in found)
    return found or None


def finder_params(person: PersonRecord) -> dict[str, str]:
    """Email finder's question for a person: the domain and first and last name, or the full name when one word."""
    words = person.name.split()
    if len(words) < 2:
        return {"domain": person.company_domain, "full_name": person.name}
    return {"domain": person.company_domain, "first_name": words[0], "last_name": words[-1]}


# --- responses ----------------------------------------------------------------


def person_record(item: dict[str, Any], *, domain: str, fetched_at: dt.datetime) -> PersonRecord | None:
    """A domain-search email as a PersonRecord; None without a name (nobody to address).

    An address Hunter's own check found invalid is dropped (the person is kept, to be found another way).
    """
    name = " ".join(str(part).strip() for part in (item.get("first_name"), item.get("last_name")) if part)
    if not name.strip():
        return None
    email = item.get("value") if _deliverable(item) else None
    phone = str(item["phone_number"])[:50] if item.get("phone_number") else None
    return PersonRecord(
        name=name[:200], title=str(item.get("position") or item.get("position_raw") or "")[:200],
        email=email, phone=phone, linkedin_url=_linkedin(item.get("linkedin")), company_domain=domain,
        source=SOURCE, confidence=percent(item.get("confidence")), fetched_at=fetched_at)


def percent(value: object) -> float:
    """Hunter's 0-100 confidence or score as 0..1; 0.5 when it gives none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.5
    return min(1.0, max(0.0, value / 100))


# --- calls --------------------------------------------------------------------


def search_people(client: ProviderClient, domains: list[str], market: MarketDefinition, *,
                  per_domain: int = PEOPLE_PER_DOMAIN) -> dict[str, list[PersonRecord]]:
    """The people Hunter knows at each domain, at most `per_domain` each, keyed by domain (empty: none found)."""
    wanted = departments(market.buying_team_roles)
    params = {"type": "personal", **({"department": ",".join(wanted)} if wanted else {})}
    found: dict[str, list[PersonRecord]] = {}
    for domain in dict.fromkeys(registered_domain(domain) for domain in domains):
        people = found.setdefault(domain, [])
        for reply in client.pages("domain_search", params={"domain": domain, **params}, max_items=per_domain):
            for item in ((reply.body or {}).get("data") or {}).get("emails") or []:
                record = person_record(item, domain=domain, fetched_at=reply.fetched_at)
                if record is None:
                    log.info("hunter domain search: an address without a name at %s was skipped", domain)
                    continue
                people.append(record)
    return found


def reveal_emails(client: ProviderClient, people: list[PersonRecord]) -> list[PersonRecord]:
    """The same people, in order, each without an email given the one Hunter finds (its score as confidence)."""
    revealed = []
    for person in people:
        if person.email:
            revealed.append(person)
            continue
        reply = client.call("email_finder", params=finder_params(person))
        data = (reply.body or {}).get("data") if isinstance(reply.body, dict) else None
        if not isinstance(data, dict) or not data.get("email") or not _deliverable(data):
            revealed.append(person)
            continue
        revealed.append(person.model_copy(update={"email": data["email"], "confidence": percent(data.get("score")),
                                                  "fetched_at": reply.fetched_at}))
    return revealed


# --- helpers ------------------------------------------------------------------


def _deliverable(item: dict[str, Any]) -> bool:
    verification = item.get("verification")
    return not (isinstance(verification, dict) and verification.get("status") == "invalid")


def _linkedin(value: object) -> str | None:
    """A LinkedIn profile URL, or None (Hunter may give a handle or nothing)."""
    if not isinstance(value, str) or "linkedin.com/" not in value.lower():
        return None
    url = with_https(value.strip())
    return url if is_http_url(url) else None
