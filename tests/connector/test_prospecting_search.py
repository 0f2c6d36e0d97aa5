"""A scheduled sourcing run's search passes over the companies already in the CRM (Apollo through respx)."""

from __future__ import annotations

import httpx
import respx

from connector import prospecting
from connector.providers.registry import RunProviders
from connector.settings import Settings
from tests.connector.test_apollo_provider import BASE, market, organization, search_page


def test_a_search_reads_past_the_companies_already_in_the_crm_until_it_has_enough_new_ones(conn, tmp_path):
    known = [f"known{n}.com" for n in range(100)]
    pages = {1: search_page([organization(domain) for domain in known], 1, 150),
             2: search_page([organization(f"new{n}.com") for n in range(50)], 2, 150)}
    with httpx.Client() as http, respx.mock(base_url=BASE) as router:
        providers = RunProviders("local", "r1", {"apollo": "key"}, conn, Settings(salesos_home=tmp_path), http)
        route = router.post("/mixed_companies/search").mock(
            side_effect=lambda request: httpx.Response(200, json=pages[int(request.url.params["page"])]))
        found = prospecting.search_companies(providers, "apollo", market(), 3, prospecting.Misses("source"),
                                             skip=set(known))
    assert [record.domain for record in found] == ["new0.com", "new1.com", "new2.com"]
    assert route.call_count == 2  # the page of known companies, then the first page with new ones
