"""News classification: funding with its round and amount, expansion, partnership, launch, or nothing."""

import pytest

from agents.news import ROUND_NOT_STATED, ArticleClass, amount_usd, classify_article, funding_round, search_name

NAMES = ("Acme", "acme.io")


def classify(title, description=""):
    return classify_article(title, description, NAMES)


@pytest.mark.parametrize("title, expected", [
    ("Acme raises $40M Series B to take its AI sales agents global - TechCrunch",
     ArticleClass("funding", "Series B", 40_000_000)),
    ("Acme lands $1.5 billion Series F led by Sequoia", ArticleClass("funding", "Series F", 1_500_000_000)),
    ("Acme secures $3.2 million seed round from Y Combinator", ArticleClass("funding", "Seed", 3_200_000)),
    ("Acme closes $750,000 pre-seed round", ArticleClass("funding", "Pre-seed", 750_000)),
    ("Exclusive: Acme picks up $12M in Series A-1 funding", ArticleClass("funding", "Series A", 12_000_000)),
    ("Acme raises $25M in growth equity funding", ArticleClass("funding", "Growth", 25_000_000)),
    ("Acme raises $60 million to expand its sales platform", ArticleClass("funding", ROUND_NOT_STATED, 60_000_000)),
])
def test_funding_headlines_give_the_round_and_the_dollar_amount(title, expected):
    assert classify(title) == expected


def test_an_amount_in_another_currency_is_funding_without_a_dollar_amount():
    assert classify("Acme secures €15 million Series A to grow in the DACH region") == \
        ArticleClass("funding", "Series A", None)


def test_a_valuation_is_not_the_amount_raised():
    assert amount_usd("Acme, valued at $1.2B, raises $90M Series C") == 90_000_000
    assert amount_usd("Acme raises $90M at a $1.2 billion valuation") == 90_000_000
    assert amount_usd("Acme is now valued at $2B") is None


def test_the_round_can_be_in_the_description_only():
    found = classify("Acme raises $18M to automate outbound",
                     "The Series A was led by Accel, with participation from Index Ventures.")
    assert found == ArticleClass("funding", "Series A", 18_000_000)


def test_the_first_round_named_is_the_one_reported():
    assert funding_round("Acme raises Series C two years after its Series B") == "Series C"


def test_a_rumoured_raise_is_not_funding():
    assert classify("Acme in talks to raise Series D at $4B valuation, sources say") is None
    assert classify("Acme reportedly raises $100M") is None


def test_raising_prices_or_concerns_is_not_funding():
    assert classify("Acme raises prices for its enterprise plan") is None
    assert classify("Acme outage raises concerns about reliability") is None


def test_money_won_or_spent_is_not_money_raised():
    assert classify("Acme lands $12M contract with the US Air Force") is None
    assert classify("Acme closes $1B acquisition of Foo Analytics") is None
    assert classify("Acme gets $2M fine from EU regulator") is None


@pytest.mark.parametrize("title", [
    "Acme expands into Europe with new London office",
    "Acme opens its first Asia-Pacific office in Singapore",
    "Acme enters the Japanese market",
    "Acme to hire 200 engineers in Austin",
    "Acme launches in Germany and France",
    "Acme announces international expansion",
])
def test_expansion_headlines(title):
    assert classify(title) == ArticleClass("expansion")


@pytest.mark.parametrize("title", [
    "Acme partners with Salesforce to bring AI prospecting to AppExchange",
    "Acme and HubSpot announce strategic partnership",
    "Acme teams up with Snowflake on data sharing",
    "Acme joins forces with Deloitte",
    "Acme expands partnership with AWS",
])
def test_partnership_headlines(title):
    assert classify(title) == ArticleClass("partnership")


@pytest.mark.parametrize("title", [
    "Acme launches AI assistant for revenue teams",
    "Acme unveils new analytics suite at its annual conference",
    "Acme introduces usage-based pricing",
    "Acme Copilot is now generally available",
])
def test_launch_headlines(title):
    assert classify(title) == ArticleClass("launch")


def test_the_headline_verb_that_comes_first_decides():
    assert classify("Acme partners with Stripe to expand into Latin America") == ArticleClass("partnership")
    assert classify("Acme expands to Canada after partnering with Shopify") == ArticleClass("expansion")


def test_the_description_decides_when_the_headline_says_nothing():
    assert classify("Acme: the week in review", "Acme opened a new office in Dublin on Monday.") == \
        ArticleClass("expansion")


def test_bad_news_is_not_a_signal_whatever_else_it_says():
    assert classify("Acme lays off 20% of staff months after $50M Series B") is None
    assert classify("Acme shuts down its Europe expansion") is None


def test_an_article_that_does_not_name_the_company_is_about_someone_else():
    assert classify("Rival raises $30M Series B", "The round was led by Index.") is None
    assert classify("Acmes of the world unite: a launch") is None


def test_the_domain_names_the_company_too():
    assert classify("Acme.io opens a Paris office") == ArticleClass("expansion")


def test_an_article_about_nothing_we_score_is_ignored():
    assert classify("Acme CEO talks about remote work on a podcast") is None
    assert classify("") is None


def test_the_search_name_drops_the_legal_suffix_and_quotes_but_keeps_the_case():
    assert search_name("Acme, Inc.") == "Acme"
    assert search_name("Northwind Traders Co., Ltd.") == "Northwind Traders"
    assert search_name('The "Best" GmbH') == "The Best"
    assert search_name("Monday.com") == "Monday.com"
    assert search_name("Inc") == "Inc"


def test_someone_else_s_funding_recalled_in_the_description_does_not_make_a_partnership_a_raise():
    assert classify("Acme partners with Stripe on payouts", "Stripe raised $6.5B in a Series I last year.") == \
        ArticleClass("partnership")
