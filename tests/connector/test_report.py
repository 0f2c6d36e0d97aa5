"""The demo report: funnel rows, tiers and times a rep can read."""

from connector.report import funnel_rows, local_time, top_leads


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
