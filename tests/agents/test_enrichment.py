"""Lead Enrichment: intent rules, category caps, the window and evidence."""

import datetime as dt

import pytest

from agents.enrichment import score_intent, signals_in_window
from agents.market import IntentCaps
from agents.models import Conference, Funding, JobPosting, News, Review, WebsiteChange

AS_OF = dt.date(2024, 6, 30)


def _common(days_ago, fields):
    return {"company_domain": "acme.com", "date": AS_OF - dt.timedelta(days=days_ago), "source": "test"} | fields


def posting(title, days_ago=10, **fields):
    return JobPosting(kind="job_posting", **_common(days_ago, {"title": title} | fields))


def funding(round_, days_ago=10, **fields):
    return Funding(kind="funding", **_common(days_ago, {"round": round_} | fields))


def news(category, days_ago=10, **fields):
    return News(kind="news", **_common(days_ago, {"category": category} | fields))


def change(page, days_ago=10, **fields):
    return WebsiteChange(kind="website_change", **_common(days_ago, {"page": page} | fields))


def review(days_ago=10, **fields):
    return Review(kind="review", **_common(days_ago, fields))


def conference(booth, days_ago=10, **fields):
    return Conference(kind="conference", **_common(days_ago, {"name": "SaaStr", "booth": booth} | fields))


def intent(*signals, caps=None, window_days=180):
    return score_intent(list(signals), AS_OF, caps or IntentCaps(), window_days)


def points(*signals, **options):
    """{rule: points} of the rules that fired."""
    return {point.rule: point.points for point in intent(*signals, **options).points}


LEADER = "Open VP/Head of Sales or CRO role"
SDR = "Open SDR/BDR/sales development role"
SALES_ROLES = "3 or more sales roles posted"
LATE = "Raised Series B or later"
EARLY = "Raised Seed or Series A"
REVIEWS = "Active in software reviews"
NEGATIVE = "Negative review of a competitor"


# --- hiring -----------------------------------------------------------------


@pytest.mark.parametrize(
    "title", ["VP of Sales", "Vice President, Sales", "Head of Sales", "Chief Revenue Officer", "CRO", "SVP Sales"]
)
def test_an_open_sales_leader_role_earns_0_30(title):
    assert points(posting(title)) == {LEADER: 0.30}


@pytest.mark.parametrize(
    "title", ["SDR", "BDR", "Sales Development Representative", "Business Development Representative"]
)
def test_an_open_sales_development_role_earns_0_20(title):
    assert points(posting(title)) == {SDR: 0.20}


def test_three_sales_roles_earn_0_15():
    roles = [
        posting("Account Executive"), posting("Sales Engineer"), posting("Solutions Consultant", department="Sales"),
    ]
    assert points(*roles) == {SALES_ROLES: 0.15}


def test_two_sales_roles_earn_nothing():
    assert points(posting("Account Executive"), posting("Sales Engineer")) == {}


def test_a_salesforce_administrator_is_not_a_sales_role():
    assert points(*[posting("Salesforce Administrator") for _ in range(3)]) == {}


def test_a_non_sales_role_earns_nothing():
    assert points(posting("VP Engineering"), posting("Head of Marketing")) == {}


# --- funding and news -------------------------------------------------------


@pytest.mark.parametrize("round_", ["Series B", "Series C", "Series B+", "Growth", "Late-stage", "IPO", "Pre-IPO"])
def test_series_b_or_later_earns_0_25(round_):
    assert points(funding(round_)) == {LATE: 0.25}


@pytest.mark.parametrize("round_", ["Pre-seed", "Seed", "Series A"])
def test_seed_or_series_a_earns_0_15(round_):
    assert points(funding(round_)) == {EARLY: 0.15}


def test_expansion_news_earns_0_15():
    assert points(news("expansion")) == {"Expansion news": 0.15}


def test_partnership_news_earns_0_08():
    assert points(news("partnership")) == {"Partnership news": 0.08}


def test_other_news_earns_nothing():
    assert points(news("other")) == {}


# --- website ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "rule", "earned"),
    [("pricing", "Pricing page changed", 0.10), ("demo", "Demo page changed", 0.10),
     ("features", "Features page changed", 0.05)],
)
def test_a_website_page_change_earns_its_points(page, rule, earned):
    assert points(change(page)) == {rule: earned}


def test_a_change_to_another_page_earns_nothing():
    assert points(change("other")) == {}


# --- reviews ----------------------------------------------------------------


def test_any_review_activity_earns_0_15():
    assert points(review(sentiment="positive")) == {REVIEWS: 0.15}


@pytest.mark.parametrize("fields", [{"sentiment": "negative"}, {"rating": 2}, {"rating": 1.5, "sentiment": "neutral"}])
def test_a_negative_review_of_a_competitor_earns_0_10(fields):
    roomy = IntentCaps(reviews=0.25)
    assert points(review(about_competitor=True, **fields), caps=roomy) == {REVIEWS: 0.15, NEGATIVE: 0.10}


@pytest.mark.parametrize(
    "fields", [{"about_competitor": True, "sentiment": "positive", "rating": 4}, {"sentiment": "negative", "rating": 1}]
)
def test_a_favourable_competitor_review_or_a_negative_own_review_is_not_a_competitor_complaint(fields):
    assert points(review(**fields), caps=IntentCaps(reviews=0.25)) == {REVIEWS: 0.15}


# --- conferences ------------------------------------------------------------


def test_a_conference_booth_earns_0_10():
    assert points(conference(booth=True)) == {"Exhibited at a conference": 0.10}


def test_attending_a_conference_without_a_booth_earns_0_05():
    assert points(conference(booth=False)) == {"Attended a conference": 0.05}


# --- once per rule, caps, total ---------------------------------------------


def test_no_signals_score_0():
    assert intent().model_dump() == {"score": 0, "points": []}


def test_a_rule_counts_once_however_many_signals_trigger_it():
    result = intent(posting("VP Sales"), posting("Head of Sales"))
    assert [(point.rule, point.points, len(point.evidence)) for point in result.points] == [(LEADER, 0.30, 2)]


def test_hiring_is_capped_at_0_30_and_rules_over_the_cap_are_listed_with_0():
    hiring = [posting("VP Sales"), posting("SDR"), posting("Account Executive")]
    result = intent(*hiring)
    assert result.score == 0.30
    assert points(*hiring) == {LEADER: 0.30, SDR: 0, SALES_ROLES: 0}


def test_a_capped_category_is_filled_by_its_biggest_rules_first():
    assert points(change("features"), change("demo"), change("pricing")) == {
        "Pricing page changed": 0.10, "Demo page changed": 0.10, "Features page changed": 0}


def test_funding_is_capped_at_0_25():
    assert points(funding("Series B"), news("expansion")) == {LATE: 0.25, "Expansion news": 0}


def test_rules_under_their_category_cap_add_up():
    assert intent(funding("Series A"), news("partnership")).score == 0.23


def test_reviews_are_capped_at_0_15():
    assert points(review(about_competitor=True, sentiment="negative")) == {REVIEWS: 0.15, NEGATIVE: 0}


def test_conferences_are_capped_at_0_10():
    assert intent(conference(booth=True), conference(booth=False, name="Dreamforce")).score == 0.10


def test_a_market_can_lower_a_category_cap():
    assert points(posting("VP Sales"), caps=IntentCaps(hiring=0.1)) == {LEADER: 0.1}


def test_every_category_full_scores_1_and_the_points_add_up_to_the_score():
    result = intent(
        posting("VP Sales"), funding("Series C"), change("pricing"), change("demo"), review(), conference(booth=True),
    )
    assert result.score == 1.0
    assert round(sum(point.points for point in result.points), 4) == result.score


def test_the_total_never_exceeds_1_even_when_caps_add_up_to_more():
    generous = IntentCaps(hiring=1, funding=1, website=1, reviews=1, conferences=1)
    result = intent(posting("VP Sales"), posting("SDR"), funding("Series B"), news("expansion"),
                    change("pricing"), review(), conference(booth=True), caps=generous)
    assert result.score == 1.0
    assert round(sum(point.points for point in result.points), 4) == 1.0


# --- the window -------------------------------------------------------------


def test_a_signal_on_the_first_day_of_the_window_counts():
    assert points(posting("VP Sales", days_ago=180)) == {LEADER: 0.30}


def test_a_signal_one_day_before_the_window_is_ignored():
    assert points(posting("VP Sales", days_ago=181)) == {}


def test_a_signal_dated_after_the_as_of_date_is_ignored():
    assert points(posting("VP Sales", days_ago=-1)) == {}


def test_a_shorter_window_ignores_older_signals():
    assert points(funding("Series B", days_ago=45), window_days=30) == {}


def test_only_sales_roles_inside_the_window_count_towards_three():
    roles = [posting("Account Executive"), posting("Account Executive"), posting("Account Executive", days_ago=200)]
    assert points(*roles) == {}


def test_signals_in_window_keeps_both_ends_and_drops_the_rest():
    kept = [posting("a", days_ago=0), posting("b", days_ago=90), posting("c", days_ago=180)]
    dropped = [posting("d", days_ago=181), posting("e", days_ago=-1)]
    assert signals_in_window(kept + dropped, AS_OF, 180) == kept


# --- evidence ---------------------------------------------------------------


def test_a_point_carries_the_source_date_url_and_title_of_its_signal():
    signal = posting("VP of Sales", days_ago=3, url="https://acme.com/jobs/vp-sales", source="linkedin-jobs")
    evidence = intent(signal).points[0].evidence
    assert [e.model_dump() for e in evidence] == [{
        "source": "linkedin-jobs", "date": AS_OF - dt.timedelta(days=3),
        "url": "https://acme.com/jobs/vp-sales", "title": "VP of Sales",
    }]


def test_evidence_is_most_recent_first_and_at_most_five():
    postings = [
        posting("Account Executive", days_ago=days, url=f"https://acme.com/jobs/{days}") for days in range(1, 8)
    ]
    evidence = intent(*postings).points[0].evidence
    assert [e.url for e in evidence] == [f"https://acme.com/jobs/{days}" for days in range(1, 6)]


def test_untitled_funding_and_conference_evidence_is_named_by_round_and_event():
    result = intent(funding("Series B"), conference(booth=True, name="SaaStr Annual"))
    assert {point.rule: point.evidence[0].title for point in result.points} == {
        LATE: "Series B", "Exhibited at a conference": "SaaStr Annual"}
