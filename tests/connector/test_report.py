"""The demo report: funnel rows, tiers and times a rep can read, and only http(s) links."""

import json
import sqlite3
from html.parser import HTMLParser

from connector.report import funnel_rows, local_time, top_leads, write_report
from connector.runner import summarise
from connector.settings import Settings
from crm_adapters.base import AccountWrite, ContactWrite
from crm_adapters.local import LocalCRM


def test_times_read_the_way_a_rep_reads_them():
    assert local_time("2026-11-02T09:00:00-05:00") == "Mon 2 Nov, 09:00"
    assert local_time(None) == "not scheduled"


def test_the_funnel_narrows_from_records_to_sequenced_contacts():
    summary = {"companies_read": 10, "duplicates_merged": 2, "excluded": 1, "qualified": 4, "enriched": 4,
               "companies_searched": 4, "companies_without_contacts": 1, "scored": 7}
    assert funnel_rows(summary) == [
        ("Company records read", 10), ("Unique companies", 8), ("Not excluded", 7), ("Qualified", 4),
        ("Enriched", 4), ("With a buying team", 3), ("Contacts sequenced", 7),
    ]


def test_top_leads_are_ordered_by_priority_then_authority_with_their_company():
    data = {
        "accounts": [{"domain": "a.io", "name": "A"}],
        "contacts": [
            {"email": "x@a.io", "company_domain": "a.io", "priority_score": 0.5, "buying_authority": 0.9},
            {"email": "y@a.io", "company_domain": "a.io", "priority_score": 0.8, "buying_authority": 0.3},
            {"email": "z@a.io", "company_domain": "a.io", "priority_score": 0.8, "buying_authority": 0.7},
            {"email": "n@a.io", "company_domain": "a.io", "priority_score": None},
        ],
    }
    leads = top_leads(data, 2)
    assert [lead["contact"]["email"] for lead in leads] == ["z@a.io", "y@a.io"]
    assert leads[0]["account"]["name"] == "A"


HOSTILE = ("javascript:alert(1)", " JaVaScRiPt:alert(document.cookie)", "data:text/html,<script>alert(1)</script>",
           "java\nscript:alert(1)", "vbscript:msgbox(1)")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.hrefs += [value for name, value in attrs if name == "href"]
        self.scripts += tag == "script"


def test_the_report_links_only_http_urls_and_shows_any_other_url_from_the_crm_as_text(tmp_path):
    settings = Settings(salesos_home=tmp_path)
    crm = LocalCRM(settings.crm_path)
    crm.upsert_accounts([AccountWrite(domain="acme.io", name="Acme", fields={"fit_score": 0.9, "intent_score": 0.8})])
    crm.upsert_contacts([ContactWrite(email="jane@acme.io", name="Jane Roe", company_domain="acme.io",
                                      fields={"priority_score": 0.9, "priority_tier": "TIER_1"})])
    crm.close()
    evidence = [{"source": "news", "url": url, "title": f"seen at {url}"} for url in HOSTILE]
    evidence += [{"source": "news", "url": url} for url in HOSTILE]  # no title: the URL itself is the text
    evidence.append({"source": "news", "url": "https://news.example.com/acme", "title": "Acme raises"})
    points = [{"category": "funding", "rule": "Series B", "points": 0.25, "evidence": [item]} for item in evidence]
    with sqlite3.connect(settings.crm_path) as db:  # a person edited the field in the CRM
        db.execute("UPDATE accounts SET intent_signals = ?", (json.dumps(points),))
    (tmp_path / "last_run.json").write_text(json.dumps(
        summarise([]) | {"run_id": "r1", "market": "Test", "as_of": "2026-11-02", "elapsed_seconds": 1,
                         "failures": [], "tiers": {"TIER_1": 1}}))
    html = write_report(settings).read_text()
    links = _Links()
    links.feed(html)
    assert links.hrefs == ["https://news.example.com/acme"] and links.scripts == 0
    assert "javascript:alert(1)" in html and "data:text/html,&lt;script&gt;" in html  # shown, as text
