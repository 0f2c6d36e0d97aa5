"""Generate the bundled sample market: fictional companies, people and signals.

Deterministic: the same arguments always write the same bytes (a seeded
random.Random, no wall clock, stable ordering). The data is messy on purpose,
like real exports: one company from two sources with different spellings and
URL forms, excluded industries, missing fields, invalid emails and a few
malformed rows. Every row is marked as sample data, so none of it ever reaches
a customer's CRM (see `connector.data_sources`).

    python scripts/make_sample_data.py [--companies 2000] [--seed 7] [--out-dir data] [--as-of 2026-11-02]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
from pathlib import Path

PREFIXES = (
    "Bright", "North", "Blue", "Clear", "Swift", "Cloud", "Iron", "Silver", "Red", "Green", "True", "Open",
    "Deep", "High", "Peak", "Rapid", "Quantum", "Nimble", "Atlas", "Beacon", "Cedar", "Delta", "Echo", "Falcon",
    "Granite", "Harbor", "Indigo", "Juniper", "Kestrel", "Lumen", "Maple", "Nova", "Orbit", "Pioneer", "Quill",
    "River", "Summit", "Tidal", "Union", "Vertex", "Willow", "Zephyr", "Amber", "Birch", "Cobalt", "Drift",
)
ROOTS = (
    "lane", "wind", "path", "stack", "forge", "loop", "signal", "scale", "point", "grid", "wave", "bridge",
    "field", "spark", "flow", "line", "works", "base", "hub", "sight", "metric", "ledger", "pulse", "craft",
)
KINDS = ("Analytics", "Cloud", "Software", "Labs", "Systems", "AI", "Data", "Technologies", "HQ", "Networks")
SUFFIXES = ("", "", "", " Inc.", ", Inc.", " Ltd", " LLC", " GmbH", " Corp")
INDUSTRIES = (
    ("B2B SaaS", 46), ("Software", 12), ("SaaS", 8), ("Marketing Technology", 5), ("Sales Technology", 4),
    ("Finance", 5), ("Healthcare", 4), ("Insurance", 3), ("Retail", 4), ("Manufacturing", 4), ("Education", 3),
    ("b2b saas", 2),
)
COUNTRIES = (
    (("US", "USA", "United States", "United States of America"), ".com", 48),
    (("GB", "UK", "United Kingdom"), ".co.uk", 16),
    (("CA", "Canada"), ".ca", 12),
    (("DE", "Germany"), ".de", 6), (("FR", "France"), ".fr", 4), (("AU", "Australia"), ".com.au", 5),
    (("IN", "India"), ".in", 4), (("US",), ".io", 5),
)
ZONES = {"US": ("America/Chicago", "America/Los_Angeles", "America/Denver"), "GB": ("Europe/London",),
         "CA": ("America/Vancouver", "America/Toronto"), "AU": ("Australia/Melbourne",)}
GROWTH = ("Series B+ funding", "recent expansion", "hiring sales team", "new executives", "new product launch",
          "international expansion", "IPO preparation")
PAIN = ("Sales automation", "Lead generation", "Pipeline visibility", "Data quality", "Customer churn",
        "Onboarding", "Forecast accuracy")
TECH = ("Salesforce", "HubSpot", "Pipedrive", "Slack", "Zendesk", "Intercom", "Marketo", "Outreach", "Gong",
        "Snowflake", "Segment", "Stripe")
SOURCES = (("apollo", 0.95), ("zoominfo", 0.92), ("crunchbase", 0.80), ("linkedin", 0.78))
FUNDING = ("Seed", "Series A", "Series A", "Series B", "Series B", "Series C", "Series D", None, None)
FIRST = ("Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Drew", "Maria",
         "James", "Priya", "Wei", "Fatima", "Lucas", "Sofia", "Noah", "Emma", "Liam", "Olivia", "Arjun", "Chen",
         "Amara", "Mateo", "Hannah", "Kenji", "Zara", "Elena", "Omar", "Grace", "Leo", "Ines", "Tom", "Nadia")
LAST = ("Smith", "Johnson", "Lee", "Garcia", "Brown", "Patel", "Nguyen", "Martin", "Clark", "Lewis", "Walker",
        "Young", "King", "Wright", "Lopez", "Hill", "Scott", "Green", "Adams", "Baker", "Kim", "Singh", "Müller",
        "Rossi", "Dubois", "O'Brien", "Okafor", "Haddad", "Novak", "Silva", "Tanaka", "Cohen", "Evans", "Ward")
TITLES = (
    ("CEO", 5), ("Founder & CEO", 3), ("Co-founder", 3), ("Chief Revenue Officer", 3), ("CRO", 2),
    ("VP of Sales", 7), ("Vice President, Sales", 3), ("SVP Sales", 1), ("Head of Sales", 5),
    ("Head of Revenue Operations", 3), ("VP Revenue Operations", 2), ("Director of Sales", 5),
    ("Sr. Director, Sales", 2), ("Sales Manager", 6), ("Senior Sales Manager", 2), ("Sales Development Representative", 6),
    ("SDR", 2), ("Account Executive", 7), ("Marketing Manager", 4), ("VP Marketing", 2), ("Head of Growth", 2),
    ("CTO", 3), ("Software Engineer", 7), ("Senior Software Engineer", 4), ("Director of Operations", 2),
    ("Executive Assistant to the CEO", 2), ("Customer Success Manager", 4), ("CFO", 2), ("President", 1),
)
JOBS = (("VP of Sales", "Sales"), ("Head of Sales", "Sales"), ("Chief Revenue Officer", "Sales"),
        ("Sales Development Representative", "Sales"), ("BDR", "Sales"), ("Account Executive", "Sales"),
        ("Enterprise Account Executive", "Sales"), ("Senior Software Engineer", "Engineering"),
        ("Product Designer", "Design"), ("Customer Success Manager", "Customer Success"))
CONFERENCES = ("SaaStr Annual", "Dreamforce", "INBOUND", "Web Summit", "SaaS Connect")
PRODUCTS = ("Salesforce Sales Cloud", "Outreach", "Salesloft", "HubSpot Sales Hub", "Apollo.io")


def _weighted(rng: random.Random, table):
    return rng.choices([row[:-1] if len(row) > 2 else row[0] for row in table], [row[-1] for row in table])[0]


def _company_name(rng: random.Random, used: set[str]) -> tuple[str, str]:
    """A new (domain stem, display name); a number is added once the word pairs run out."""
    for attempt in range(1000):
        prefix, root, kind = rng.choice(PREFIXES), rng.choice(ROOTS), rng.choice(KINDS)
        stem = prefix + root + (str(attempt) if attempt > 30 else "")
        if attempt > 10:
            stem += kind.lower()
        if stem.lower() not in used:
            used.add(stem.lower())
            return stem.lower(), f"{prefix}{root}{' ' + str(attempt) if attempt > 30 else ''} {kind}"
    raise RuntimeError("could not find a new company name")


def _domain_forms(domain: str) -> tuple[str, ...]:
    return (domain, f"https://www.{domain}/", f"http://{domain}", f"www.{domain}", f"app.{domain}",
            f"https://{domain}/about")


def _spelling(rng: random.Random, name: str) -> str:
    return rng.choice((name.upper(), name + ", Inc.", name + " Inc", name.replace(" ", ""), name.lower()))


def _company(rng: random.Random, used: set[str], index: int) -> dict:
    stem, name = _company_name(rng, used)
    countries, tld, _ = rng.choices(COUNTRIES, [row[-1] for row in COUNTRIES])[0]
    domain = stem + tld
    employees = int(rng.lognormvariate(4.6, 1.2))
    revenue = round(employees * rng.uniform(60_000, 220_000), -3)
    source, confidence = rng.choice(SOURCES)
    record = {
        "type": "company", "name": name + rng.choice(SUFFIXES), "domain": rng.choice(_domain_forms(domain)[:3]),
        "industry": _weighted(rng, INDUSTRIES), "employee_count": max(employees, 2),
        "annual_revenue": revenue, "country": rng.choice(countries),
        "founded": rng.randint(1995, 2024), "funding_stage": rng.choice(FUNDING),
        "tech_stack": rng.sample(TECH, rng.randint(0, 5)),
        "growth_signals": rng.sample(GROWTH, rng.choice((0, 1, 1, 2, 2, 3, 4))),
        "pain_signals": rng.sample(PAIN, rng.choice((0, 1, 1, 2, 2, 3))),
        "source": source, "confidence": confidence,
    }
    for field in ("industry", "annual_revenue", "country", "employee_count"):
        if rng.random() < 0.03:
            del record[field]
    return {"record": record, "domain": domain, "name": name, "country": countries[0]}


def _duplicate(rng: random.Random, company: dict) -> dict:
    """The same company as another source sees it: other spelling, other URL, other gaps."""
    source, confidence = rng.choice([s for s in SOURCES if s[0] != company["record"]["source"]])
    record = dict(company["record"])
    record |= {"name": _spelling(rng, company["name"]), "domain": rng.choice(_domain_forms(company["domain"])[1:]),
               "source": source, "confidence": confidence}
    if "employee_count" in record:
        record["employee_count"] = max(2, int(record["employee_count"] * rng.uniform(0.85, 1.2)))
    for field in ("tech_stack", "founded", "funding_stage"):
        record.pop(field, None) if rng.random() < 0.5 else None
    return record


def _people(rng: random.Random, company: dict) -> list[dict]:
    people, seen = [], set()
    for _ in range(rng.randint(2, 8)):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{last}".lower().replace("'", "").replace("ü", "u")
        if local in seen:
            continue
        seen.add(local)
        source, confidence = rng.choice(SOURCES)
        email = f"{local}@{company['domain']}"
        roll = rng.random()
        if roll < 0.02:
            email = f"{local}@"
        elif roll < 0.03:
            email = f"{local}.{company['domain']}"
        elif roll < 0.05:
            email = None
        person = {
            "type": "person", "name": f"{first} {last}", "title": _weighted(rng, TITLES), "email": email,
            "phone": f"+1{rng.randint(2012000000, 9899999999)}" if rng.random() < 0.6 else None,
            "linkedin_url": f"https://www.linkedin.com/in/{local.replace('.', '-')}-{rng.randint(100, 999)}"
            if rng.random() < 0.8 else None,
            "company_domain": company["domain"], "country": company["country"],
            "source": source, "confidence": round(min(0.98, confidence + rng.uniform(-0.2, 0.05)), 2),
        }
        if company["country"] in ZONES and rng.random() < 0.3:
            person["timezone"] = rng.choice(ZONES[company["country"]])
        people.append(person)
    return people


def _signals(rng: random.Random, company: dict, as_of: dt.date) -> list[dict]:
    """Dated signals; about one company in eight is in-market, with many recent ones."""
    signals = []
    domain, slug = company["domain"], company["domain"].split(".")[0]
    in_market = rng.random() < 0.12
    count = rng.randint(5, 9) if in_market else rng.choice((0, 0, 1, 1, 2, 3, 4, 5, 6))
    kinds = ("job_posting", "job_posting", "funding", "news", "website_change", "review", "conference")
    for index in range(count):
        date = (as_of - dt.timedelta(days=rng.randint(0, 120 if in_market else 240))).isoformat()
        kind = kinds[index % len(kinds)] if in_market else rng.choice(kinds)
        base = {"type": "signal", "kind": kind, "company_domain": domain, "date": date}
        number = rng.randint(1000, 9999)
        if kind == "job_posting":
            title, department = rng.choice(JOBS[:5] if in_market else JOBS)
            base |= {"title": title, "department": department, "source": "job-board",
                     "url": f"https://jobs.example-board.com/{slug}/{number}"}
        elif kind == "funding":
            stage = rng.choice(("Series B", "Series C") if in_market else ("Seed", "Series A", "Series B", "Series C"))
            base |= {"title": f"{company['name']} raises {stage}", "round": stage,
                     "amount_usd": rng.choice((2, 5, 12, 20, 35, 60)) * 1_000_000, "source": "news",
                     "url": f"https://news.example.com/{slug}-{stage.lower().replace(' ', '-')}"}
        elif kind == "news":
            category = rng.choice(("expansion", "partnership", "other"))
            base |= {"title": f"{company['name']}: {category} announcement", "category": category,
                     "source": "news", "url": f"https://news.example.com/{slug}/{number}"}
        elif kind == "website_change":
            page = rng.choice(("pricing", "demo") if in_market else ("pricing", "demo", "features", "other"))
            base |= {"title": f"{page.title()} page changed", "page": page, "source": "web-archive",
                     "url": f"https://{domain}/{page}"}
        elif kind == "review":
            rating = rng.randint(1, 2) if in_market else rng.randint(1, 5)
            base |= {"title": f"Review of {rng.choice(PRODUCTS)}", "product": rng.choice(PRODUCTS),
                     "rating": rating, "sentiment": "negative" if rating <= 2 else "positive" if rating >= 4 else "neutral",
                     "about_competitor": in_market or rng.random() < 0.5, "source": "reviews",
                     "url": f"https://reviews.example.com/r/{number}"}
        else:
            name = rng.choice(CONFERENCES)
            base |= {"title": f"{company['name']} at {name}", "name": name, "booth": rng.random() < (0.8 if in_market else 0.4),
                     "source": "events", "url": f"https://events.example.com/{name.lower().replace(' ', '-')}"}
        signals.append(base)
    return signals


MALFORMED = (
    '{"type": "company", "name": "Broken Row Inc", "domain": "brokenrow.com", "employee_count": 12',
    '{"type": "company", "name": "No Domain Ltd", "industry": "B2B SaaS", "source": "linkedin", "confidence": 0.7}',
    '{"type": "company", "name": "Many People Co", "domain": "manypeople.com", "employee_count": "many", '
    '"source": "crunchbase", "confidence": 0.8}',
    '{"type": "signal", "kind": "funding", "company_domain": "brightlane.com", "date": "last spring", '
    '"round": "Series B", "title": "Raised"}',
    '{"type": "widget", "name": "Not a record"}',
    '["a", "list", "is", "not", "a", "row"]',
    '{"type": "person", "name": "Conf Ident", "email": "c@x.com", "company_domain": "x.com", "confidence": "high"}',
    '{"type": "company", "name": "Local Only", "domain": "localhost", "source": "apollo", "confidence": 0.9}',
)
COMPETITORS = ("Competitor1", "Competitor2")


def build(companies: int, seed: int, as_of: dt.date) -> tuple[list[str], list[list[str]]]:
    """JSON Lines rows and CSV rows for `companies` companies."""
    rng = random.Random(seed)
    used: set[str] = set()
    rows: list[dict | str] = []
    generated = [_company(rng, used, index) for index in range(companies)]
    for index, company in enumerate(generated):
        rows.append(company["record"])
        if rng.random() < 0.08:
            rows.append(_duplicate(rng, company))
        rows.extend(_people(rng, company))
        rows.extend(_signals(rng, company, as_of))
    for index, name in enumerate(COMPETITORS):
        rows.append({"type": "company", "name": name, "domain": f"{name.lower()}.com", "industry": "B2B SaaS",
                     "employee_count": 120, "annual_revenue": 15_000_000, "country": "US", "source": "apollo",
                     "confidence": 0.95})
    step = max(1, len(rows) // (len(MALFORMED) + 1))
    for offset, line in enumerate(MALFORMED, start=1):
        rows.insert(offset * step, line)
    lines = [row if isinstance(row, str) else json.dumps(_marked(row), separators=(",", ":"), ensure_ascii=False)
             for row in rows]
    csv_rows = [["Company Name", "Website", "Industry", "Employees", "Annual Revenue", "Country", "Sample"]]
    for company in rng.sample(generated, min(150, len(generated))):
        record = company["record"]
        revenue = record.get("annual_revenue")
        csv_rows.append([
            _spelling(rng, company["name"]), rng.choice(_domain_forms(company["domain"])),
            record.get("industry", ""), str(record.get("employee_count", "")),
            rng.choice((f"${revenue:,.0f}", f"{revenue / 1e6:.1f}M")) if revenue else "",
            record.get("country", ""), "true",
        ])
    csv_rows.append(["Orphan Row Ltd", "", "Software", "12", "$1M", "UK", "true"])
    return lines, csv_rows


def _marked(row: dict) -> dict:
    """Every row says it is fictional (`"sample": true`, a CSV `Sample` column): SalesOS writes such rows into
    the local CRM only, never a customer's, even from a copy or an excerpt of these files."""
    return {"type": row["type"], "sample": True, **row}


def generate(companies: int = 2000, out_dir: Path = Path("data"), seed: int = 7,
             as_of: dt.date = dt.date(2026, 11, 2)) -> tuple[Path, Path]:
    """Write `sample_market.jsonl` and `target_accounts.csv` into `out_dir`."""
    lines, csv_rows = build(companies, seed, as_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl = out_dir / "sample_market.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(csv_rows)
    accounts = out_dir / "target_accounts.csv"
    accounts.write_text(buffer.getvalue(), encoding="utf-8")
    return jsonl, accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent.parent / "data")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 11, 2))
    args = parser.parse_args()
    for path in generate(args.companies, args.out_dir, args.seed, args.as_of):
        print(path)


if __name__ == "__main__":
    main()
