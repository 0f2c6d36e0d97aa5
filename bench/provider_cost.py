"""What prospecting the sample market costs, against local providers that price calls as the real ones do.

Starts the local providers (tests/fakes/provider_server.py: Apollo, People
Data Labs, Crunchbase, Hunter, Greenhouse, Lever, NewsAPI, Wayback CDX over
a world built from the bundled sample market) and measures, from the
server's own ledger:

- the seed's call-everything approach: source the market through every
  search, then for every company sourced call every provider's enrichment,
  search its people and reveal every one, find every person's email with
  Hunter too, verify every email found, and ask every intent source;
- SalesOS on the same market (`salesos_cost`: `python -m connector run` with
  the providers' keys and no data file: search, waterfall, intent, people
  search, reveal and verification of only the kept team), then an identical
  re-run (answered from the cache).

Cost per qualified lead = dollars / companies the Lead Source agent
qualifies among those sourced (the market's monthly target applies, as in a
run). Target: SalesOS at most $0.60 a lead against the seed's $1.92, and $0
for the re-run.

    .venv/bin/python bench/provider_cost.py [--market examples/market.yaml]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.lead_source import source_companies  # noqa: E402
from agents.market import MarketDefinition  # noqa: E402
from connector.markets import load_market  # noqa: E402
from connector.providers.http.client import ProviderClient  # noqa: E402
from connector.providers.http.errors import ProviderCallError  # noqa: E402
from connector.providers.http.spec import load_spec  # noqa: E402
from tests.fakes.dns_server import LocalDns  # noqa: E402
from tests.fakes.provider_server import PROVIDERS, FakeProviders, ProviderServer  # noqa: E402
from tests.fakes.provider_world import country_name, sample_world  # noqa: E402

AS_OF = "2026-11-02"  # the sample world's own date

Ledger = dict[str, dict[str, float]]


@dataclass
class Measured:
    """What one approach cost: the server's ledger for its calls, and the leads it qualified."""

    ledger: Ledger
    qualified: int

    @property
    def dollars(self) -> float:
        return sum(row["dollars"] for row in self.ledger.values())

    @property
    def per_lead(self) -> float:
        return self.dollars / self.qualified if self.qualified else float("nan")


class Providers:
    """The calls the bench makes. Hunter goes through the project's ProviderClient and its spec; the others
    call their endpoints directly until their specs land on main (then they move to ProviderClient too)."""

    def __init__(self, server: ProviderServer) -> None:
        self.server, keys = server, server.fake.keys
        self.http = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=16))
        self.headers = {"apollo": {"x-api-key": keys["apollo"]}, "pdl": {"X-Api-Key": keys["pdl"]},
                        "crunchbase": {"X-cb-user-key": keys["crunchbase"]}, "newsapi": {"X-Api-Key": keys["newsapi"]}}
        spec = load_spec("hunter", environ=server.environ())
        # The local Hunter answers a repeated 202 at once: no need to wait between polls here.
        self.hunter = ProviderClient(spec, keys["hunter"], http=self.http, sleep=lambda seconds: None)

    def request(self, provider: str, method: str, path: str, **kwargs) -> httpx.Response:
        return self.http.request(method, self.server.base_url(provider) + path,
                                 headers=self.headers.get(provider, {}), **kwargs)

    def close(self) -> None:
        self.http.close()


def sourced_domains(providers: Providers, market: MarketDefinition) -> set[str]:
    """Every company the three sourcing searches return for the market, to the last page."""
    return set(_apollo_search(providers, market)) | set(_pdl_search(providers, market)) | set(
        _crunchbase_search(providers, market))


def _industries(market: MarketDefinition) -> list[str]:
    return [market.industry, *market.related_industries]


def _apollo_search(providers: Providers, market: MarketDefinition) -> Iterator[str]:
    size = market.company_size
    bounds = ",".join("" if value is None else str(int(value)) for value in (size.min, size.max))
    params = [("organization_num_employees_ranges[]", bounds), ("per_page", "100")]
    params += [("organization_locations[]", country_name(code)) for code in market.location]
    params += [("q_organization_keyword_tags[]", industry) for industry in _industries(market)]
    if market.annual_revenue:
        params += [(f"revenue_range[{end}]", str(int(value))) for end, value in
                   (("min", market.annual_revenue.min), ("max", market.annual_revenue.max)) if value is not None]
    page, pages = 1, 1
    while page <= pages:
        body = providers.request("apollo", "POST", "/mixed_companies/search",
                                 params=params + [("page", str(page))]).json()
        pages = min(body["pagination"]["total_pages"], 500)
        yield from (org["primary_domain"] for org in body["organizations"])
        page += 1


def _pdl_search(providers: Providers, market: MarketDefinition) -> Iterator[str]:
    size = market.company_size
    must = [{"terms": {"location.country": [country_name(code).lower() for code in market.location]}},
            {"range": {"employee_count": {k: v for k, v in (("gte", size.min), ("lte", size.max)) if v is not None}}},
            {"terms": {"industry": [industry.lower() for industry in _industries(market)]}}]
    body: dict = {"query": {"bool": {"must": must}}, "size": 100}
    while True:
        answer = providers.request("pdl", "POST", "/company/search", json=body).json()
        yield from (company["website"] for company in answer["data"])
        if not answer.get("scroll_token"):
            return
        body["scroll_token"] = answer["scroll_token"]


def _crunchbase_search(providers: Providers, market: MarketDefinition) -> Iterator[str]:
    locations = [country_name(code).lower().replace(" ", "-") for code in market.location]
    categories = [industry.lower().replace(" ", "-") for industry in _industries(market)]
    query = {"field_ids": ["identifier", "website_url"], "limit": 1000, "query": [
        {"type": "predicate", "field_id": "location_identifiers", "operator_id": "includes", "values": locations},
        {"type": "predicate", "field_id": "categories", "operator_id": "includes", "values": categories}]}
    while True:
        answer = providers.request("crunchbase", "POST", "/searches/organizations", json=query).json()
        for entity in answer["entities"]:
            yield entity["properties"]["website_url"].removeprefix("https://www.")
        if len(answer["entities"]) < query["limit"]:
            return
        query["after_id"] = answer["entities"][-1]["uuid"]


def call_everything(providers: Providers, domains: list[str]) -> None:
    """The seed: every enrichment, every person revealed and found twice, every email verified, every intent
    source, for every company."""
    names = {}  # the company's name, for the news search
    for batch in _batches(domains, 10):
        answer = providers.request("apollo", "POST", "/organizations/bulk_enrich",
                                   params=[("domains[]", domain) for domain in batch]).json()
        names |= {org["primary_domain"]: org["name"] for org in answer["organizations"]}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda domain: _everything_for(providers, domain, names.get(domain)), domains))


def _everything_for(providers: Providers, domain: str, name: str | None) -> None:
    pdl = providers.request("pdl", "GET", "/company/enrich", params={"website": domain})
    pdl_name = pdl.json().get("display_name") if pdl.is_success else None
    name = _crunchbase_funding(providers, domain) or name or pdl_name
    people = providers.request("apollo", "POST", "/mixed_people/api_search",
                               params={"q_organization_domains_list[]": domain, "per_page": "100"}).json()["people"]
    matched = []
    for batch in _batches([person["id"] for person in people], 10):
        answer = providers.request("apollo", "POST", "/people/bulk_match",
                                   json={"details": [{"id": person_id} for person_id in batch]}).json()
        matched += [match for match in answer["matches"] if match]
    emails = {match["email"] for match in matched if match.get("email")}
    emails |= _hunter(providers, domain, matched)
    for email in sorted(emails):
        _quietly(lambda: providers.hunter.call("email_verifier", params={"email": email}))
    stem = domain.split(".")[0]
    providers.request("greenhouse", "GET", f"/boards/{stem}/jobs", params={"content": "true"})
    providers.request("lever", "GET", f"/postings/{stem}", params={"mode": "json"})
    if name:
        providers.request("newsapi", "GET", "/everything", params={"q": f'"{name}"', "sortBy": "publishedAt"})
    providers.request("wayback", "GET", "/cdx",
                      params={"url": f"{domain}/*", "output": "json", "collapse": "digest"})


def _crunchbase_funding(providers: Providers, domain: str) -> str | None:
    """Find the company in Crunchbase by its website, then its funding rounds; its name when found."""
    found = providers.request("crunchbase", "POST", "/searches/organizations", json={
        "field_ids": ["identifier"], "limit": 1, "query": [
            {"type": "predicate", "field_id": "website_url", "operator_id": "contains", "values": [domain]}]}).json()
    if not found["entities"]:
        return None
    identifier = found["entities"][0]["properties"]["identifier"]
    providers.request("crunchbase", "GET", f"/entities/organizations/{identifier['permalink']}",
                      params={"card_ids": "raised_funding_rounds"})
    return identifier["value"]


def _hunter(providers: Providers, domain: str, matched: list[dict]) -> set[str]:
    emails: set[str] = set()
    for reply in _quietly(lambda: list(providers.hunter.pages("domain_search", params={"domain": domain}))) or []:
        emails |= {email["value"] for email in reply.body["data"]["emails"]}
    for person in matched:
        reply = _quietly(lambda: providers.hunter.call("email_finder", params={
            "domain": domain, "first_name": person["first_name"], "last_name": person["last_name"]}))
        if reply is not None and reply.body["data"]["email"]:
            emails.add(reply.body["data"]["email"])
    return emails


def _quietly(call: Callable):
    """A provider error is part of what a run meets: counted by the server, not a reason to stop the bench."""
    try:
        return call()
    except ProviderCallError:
        return None


def _batches(items: list, size: int) -> Iterable[list]:
    return (items[start:start + size] for start in range(0, len(items), size))


def qualified_leads(domains: Iterable[str], market: MarketDefinition) -> int:
    """How many of these companies the Lead Source agent qualifies, judged on what they really are."""
    world = sample_world()
    records = [world.companies[domain].record() for domain in domains if domain in world.companies]
    return len(source_companies(records, market).qualified)


def seed_cost(server: ProviderServer, market: MarketDefinition) -> Measured:
    providers = Providers(server)
    try:
        before = server.ledger()
        domains = sorted(sourced_domains(providers, market))
        call_everything(providers, domains)
        return Measured(_spent(before, server.ledger()), qualified_leads(domains, market))
    finally:
        providers.close()


def salesos_cost(server: ProviderServer, market_file: Path, home: Path, dns_port: int) -> Measured:
    """SalesOS's run of the market (`python -m connector run`, its workers, its embedded Redis under `home`)
    against these providers, with their keys as the local CRM's and no data file, measured from the server's
    ledger like `seed_cost`. Runs sharing `home` share the response cache, as re-runs of one deployment do."""
    env = {key: value for key, value in os.environ.items()
           if not key.endswith(("_API_KEY", "_API_BASE_URL")) and key != "REDIS_URL"}
    env |= server.environ() | {f"{name.upper()}_API_KEY": key for name, key in server.fake.keys.items()}
    env |= {"SALESOS_HOME": str(home), "SALESOS_DATA_FILES": "[]", "SALESOS_DNS_SERVER": f"127.0.0.1:{dns_port}",
            "SALESOS_JOB_BOARD_DISCOVERY": "false"}
    before = server.ledger()
    result = subprocess.run([sys.executable, "-m", "connector", "run", "--market", str(market_file),
                             "--as-of", AS_OF, "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"the SalesOS run failed: {result.stderr[-2000:]}")
    summary = json.loads(result.stdout)
    return Measured(ledger=_spent(before, server.ledger()), qualified=summary["qualified"])


def _spent(before: Ledger, after: Ledger) -> Ledger:
    return {name: {field: after[name][field] - before[name][field] for field in after[name]} for name in after}


def _table(title: str, measured: Measured) -> str:
    lines = [title, f"  {'provider':<11}{'calls':>8}{'credits':>10}{'dollars':>10}"]
    for name in PROVIDERS:
        row = measured.ledger[name]
        lines.append(f"  {name:<11}{int(row['calls']):>8}{row['credits']:>10.1f}{row['dollars']:>10.2f}")
    lines.append(f"  {'total':<11}{int(sum(r['calls'] for r in measured.ledger.values())):>8}"
                 f"{'':>10}{measured.dollars:>10.2f}")
    lines.append(f"  {measured.qualified} qualified leads: ${measured.per_lead:.2f} a lead")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--market", type=Path, default=ROOT / "examples" / "market.yaml")
    args = parser.parse_args()
    market = load_market(args.market)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # requests queue by design: eight threads call
    world = sample_world()
    server = ProviderServer(FakeProviders(world=world))
    zone = {(domain, "MX"): [f"10 mx.{domain}."] for domain in world.companies}
    try:
        with LocalDns(zone) as dns, tempfile.TemporaryDirectory(prefix="salesos-bench-") as home:
            print(_table(f"Seed, call everything ({market.name}; the seed estimated $1.92 a lead):",
                         seed_cost(server, market)))
            first = salesos_cost(server, args.market, Path(home), dns.port)
            print(_table("SalesOS, waterfall and cache (target: at most $0.60 a lead):", first))
            rerun = salesos_cost(server, args.market, Path(home), dns.port)
            print(f"SalesOS, identical re-run (target $0): ${rerun.dollars:.2f} for {rerun.qualified} qualified leads")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
