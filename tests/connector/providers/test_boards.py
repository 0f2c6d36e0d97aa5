"""Finding a company's job board: links read from HTML (pure), and the search over its website (a real local site)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.models import CompanyRecord
from connector.providers.boards import Board, boards_linked, careers_links, find_board
from connector.providers.safe_fetch import SafeFetcher
from tests.connector.providers.test_safe_fetch import names
from tests.fakes.website import website

ACME = Board("greenhouse", "acme")


# --- links read from a page ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("snippet, board", [
    ('<a href="https://boards.greenhouse.io/acme">Jobs</a>', ACME),
    ('<a href="https://boards.greenhouse.io/acme/jobs/4012345?gh_src=site">Engineer</a>', ACME),
    ('<a href="http://job-boards.greenhouse.io/acme">Jobs</a>', ACME),
    ('<script>fetch("https://boards-api.greenhouse.io/v1/boards/acme/jobs?content=true")</script>', ACME),
    ('<iframe src="//boards.greenhouse.io/embed/job_board?for=acme&amp;b=https%3A%2F%2Facme.com"></iframe>', ACME),
    ('<script src="https://boards.greenhouse.io/embed/job_board/js?for=acme"></script>', ACME),
    ('<A HREF="HTTPS://BOARDS.GREENHOUSE.IO/acme">Jobs</A>', ACME),
    ('<a href="https://jobs.lever.co/acme/5f9e1c2a-0d3b-4c1e-9a7e-1b2c3d4e5f60">Engineer</a>', Board("lever", "acme")),
    ('<a href="https://jobs.eu.lever.co/acme">Jobs</a>', Board("lever", "acme", eu=True)),
    ('<script>var url = "https://api.lever.co/v0/postings/acme?group=team&mode=json";</script>', Board("lever", "acme")),
    ('<script type="application/json">{"careers": "https:\\/\\/jobs.lever.co\\/acme-inc"}</script>',
     Board("lever", "acme-inc")),
])
def test_a_board_link_in_any_of_its_forms_is_found(snippet, board):
    assert boards_linked(f"<html><body>{snippet}</body></html>", "https://acme.com/careers") == [board]


@pytest.mark.parametrize("snippet", [
    '<a href="https://boards.greenhouse.io.evil.com/acme">x</a>', '<a href="https://evilboards.greenhouse.io/acme">x</a>',
    '<a href="https://greenhouse.io/acme">x</a>', '<a href="https://jobs.lever.co@evil.com/acme">x</a>',
    '<a href="https://jobs.lever.co.evil.com/acme">x</a>', '<a href="https://boards.greenhouse.io/">x</a>',
    '<a href="https://boards.greenhouse.io/embed/job_board">x</a>', '<p>see boards.greenhouse.io/acme</p>',
    '<a href="https://boards-api.greenhouse.io/v1/acme">x</a>',
])
def test_lookalike_hosts_and_links_without_a_token_are_not_boards(snippet):
    assert boards_linked(snippet, "https://acme.com/") == []


@pytest.mark.parametrize("link", [
    "https://boards.greenhouse.io/..", "https://boards.greenhouse.io/%2e%2e/v1/boards/other",
    "https://boards.greenhouse.io/acme%2F..%2F..%2Fother", "https://boards.greenhouse.io/embed/job_board?for=../../x",
    "https://boards.greenhouse.io/embed/job_board?for=acme%00", "https://boards-api.greenhouse.io/v1/boards/%2E%2E/jobs",
    "https://jobs.lever.co/.hidden", "https://jobs.lever.co/acme%3Fmode%3Dhtml", "https://jobs.lever.co/ac%20me",
    "https://jobs.lever.co/" + "a" * 101,
])
def test_a_token_that_could_change_the_api_path_is_ignored(link):
    """The token goes into boards-api.greenhouse.io/v1/boards/<token>/jobs: '..', '/', '?' or '%' would aim it."""
    page = f'<a href="{link}">Jobs</a> <a href="https://jobs.lever.co/acme">Jobs</a>'
    assert boards_linked(page, "https://acme.com/") == [Board("lever", "acme")]


def test_the_most_linked_board_comes_first():
    page = ('<a href="https://jobs.lever.co/partner">Our partner is hiring</a>'
            + '<a href="https://boards.greenhouse.io/acme/jobs/1">A</a>' * 3)
    assert boards_linked(page, "https://acme.com/") == [ACME, Board("lever", "partner")]


def test_a_careers_page_that_is_the_board_itself_is_found():
    assert boards_linked("<h1>Open roles</h1>", "https://boards.greenhouse.io/acme") == [ACME]


def test_careers_links_on_the_same_site_are_found_by_path_or_words():
    page = ('<a href="/about/careers">About</a><a href="/team">Join us</a><a href="/pricing">Pricing</a>'
            '<a href="https://other.com/careers">Partner careers</a><a href="mailto:jobs@acme.com">Jobs</a>')
    assert careers_links(page, "https://www.acme.com/") == ["https://www.acme.com/about/careers",
                                                            "https://www.acme.com/team"]


@pytest.mark.parametrize("ref", ["greenhouse:..", "greenhouse:acme/../x", "lever:a?b", "lever:", "workday:acme",
                                 "greenhouse:" + "a" * 101, "acme"])
def test_a_configured_board_that_breaks_the_token_rule_is_refused_naming_it(ref):
    with pytest.raises(ValueError, match="job board"):
        Board.parse(ref)


@pytest.mark.parametrize("ref", ["greenhouse:..", "lever:.", "greenhouse:-acme"])
def test_a_company_record_refuses_a_configured_board_token_the_board_rule_refuses(ref):
    """A file's `job_board` column meets the same token rule at the edge, not only when the board is used."""
    with pytest.raises(ValidationError, match="job_board"):
        CompanyRecord(name="Acme", domain="acme.com", job_board=ref)


# --- the search over a website --------------------------------------------------------------------------------------

WWW = "www.acme.com"


@pytest.fixture
def site():
    with website("127.0.0.1") as served:
        yield served


def fetcher(**table) -> SafeFetcher:
    return SafeFetcher(resolve=names({WWW: ["127.0.0.1"], **table}), allow=["127.0.0.1"], time_limit=5.0)


def company(**fields) -> CompanyRecord:
    return CompanyRecord(name="Acme", domain="acme.com", **fields)


def test_a_configured_board_is_used_without_fetching_the_website(site):
    found = find_board(company(job_board="lever:acme"), fetcher(), website=site.url("/", WWW))
    assert found.board == Board("lever", "acme") and found.reason == "configured"
    assert site.seen == []


def test_a_board_linked_from_the_home_page_is_found(site):
    site.page("/", '<footer><a href="https://boards.greenhouse.io/acme">Careers</a></footer>')
    found = find_board(company(), fetcher(), website=site.url("/", WWW))
    assert found.board == ACME and found.board.ref == "greenhouse:acme"
    assert found.reason == f"linked from {site.url('/', WWW)}"


def test_a_board_linked_from_the_careers_path_is_found_when_the_home_page_has_none(site):
    site.page("/", "<h1>Acme</h1>")
    site.page("/careers", '<iframe src="https://boards.greenhouse.io/embed/job_board?for=acme"></iframe>')
    assert find_board(company(), fetcher(), website=site.url("/", WWW)).board == ACME
    assert [path for path, _ in site.seen] == ["/", "/careers"]


def test_a_board_behind_the_home_pages_careers_link_is_found(site):
    site.page("/", '<nav><a href="/company/work-with-us">Work with us</a></nav>')
    site.page("/company/work-with-us", '<a href="https://jobs.lever.co/acme">Open roles</a>')
    assert find_board(company(), fetcher(), website=site.url("/", WWW)).board == Board("lever", "acme")
    assert [path for path, _ in site.seen] == ["/", "/company/work-with-us"]


def test_a_careers_page_that_redirects_to_the_board_is_found(site):
    """The redirect is followed through the safe fetcher (the board's host is mapped to the local site here)."""
    site.page("/", "<h1>Acme</h1>")
    site.redirect("/careers", site.url("/acme", "boards.greenhouse.io"))
    site.page("/acme", "<h1>Current openings at Acme</h1>")
    found = find_board(company(), fetcher(**{"boards.greenhouse.io": ["127.0.0.1"]}), website=site.url("/", WWW))
    assert found.board == ACME


def test_no_board_is_none_naming_the_pages_looked_at(site):
    site.page("/", '<a href="/careers">Careers</a>')
    site.page("/careers", "<p>Email us your CV</p>")
    found = find_board(company(), fetcher(), website=site.url("/", WWW))
    assert found.board is None
    assert found.reason.startswith("no job board found on") and site.url("/jobs", WWW) in found.reason
    assert "HTTP 404" in found.reason  # /jobs is not there


def test_an_unreachable_website_is_none_saying_why_and_not_asked_again():
    found = find_board(company(), SafeFetcher(resolve=names({})))
    assert found.board is None and "https://acme.com/" in found.reason and "does not resolve" in found.reason
    assert "/careers" not in found.reason  # the site's other pages were not tried


def test_a_website_on_a_private_address_is_not_fetched_and_is_none_saying_why():
    found = find_board(company(), SafeFetcher(resolve=names({"acme.com": ["10.0.0.5"]})))
    assert found.board is None and "private address" in found.reason


def test_a_board_link_whose_token_breaks_the_rule_is_not_a_board(site):
    site.page("/", '<a href="https://boards.greenhouse.io/embed/job_board?for=..%2Fv1%2Fboards%2Fother">Jobs</a>')
    assert find_board(company(), fetcher(), website=site.url("/", WWW)).board is None
