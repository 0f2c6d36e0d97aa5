"""The market definition: human ranges, countries, defaults and refusals."""

import pytest
from pydantic import ValidationError

from agents.market import MarketDefinition, Range, parse_range
from agents.validation import describe


def market(**overrides):
    fields = {"industry": "B2B SaaS", "company_size": "10-500 employees"}
    return MarketDefinition(**(fields | overrides))


def problems(**overrides):
    with pytest.raises(ValidationError) as caught:
        market(**overrides)
    return describe(caught.value)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("10-500 employees", 10, 500),
        ("10 to 500", 10, 500),
        ("$1M-$50M", 1_000_000, 50_000_000),
        ("$10K-$500K", 10_000, 500_000),
        ("$10K+", 10_000, None),
        ("500+", 500, None),
        ("up to 50", None, 50),
        ("1,000-5,000", 1000, 5000),
        ("$1.5B", 1_500_000_000, 1_500_000_000),
        ("$1-50M", 1_000_000, 50_000_000),
    ],
)
def test_human_ranges_are_parsed(text, low, high):
    assert parse_range(text) == {"min": low, "max": high}


def test_a_range_includes_both_ends():
    size = Range(min=10, max=500)
    assert size.contains(10) and size.contains(500)
    assert not size.contains(9) and not size.contains(501)


def test_an_unknown_value_is_outside_every_range():
    assert not Range(min=0, max=None).contains(None)


@pytest.mark.parametrize("size", [{}, {"min": None, "max": None}, [None, None]])
def test_a_range_without_either_end_is_refused_naming_the_field(size):
    [problem] = problems(company_size=size)
    assert problem.startswith("company_size: ") and "a range needs a minimum, a maximum or both" in problem


def test_a_range_mapping_with_another_key_is_refused_naming_it():
    assert problems(company_size={"min": 10, "most": 500}) == ["company_size.most: unknown field (value 500)"]


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("company_size", "9" * 300, "at most 10,000,000 employees"),
    ("company_size", "10-20000000", "at most 10,000,000 employees"),
    ("company_size", {"min": "1e299"}, "at most 10,000,000 employees"),
    ("company_size", 10**19, "at most 10,000,000 employees"),
    ("annual_revenue", "$1-200000B", "at most $100 trillion"),
    ("annual_revenue", "$" + "9" * 300, "at most $100 trillion"),
    ("budget_size", [10, "1" + "0" * 20], "at most $100 trillion"),
])
def test_a_range_bound_past_any_real_company_is_refused_naming_the_field_and_the_cap(field, value, rule):
    [problem] = problems(**{field: value})
    assert problem.startswith(f"{field}: ") and rule in problem and len(problem) < 300


@pytest.mark.parametrize("size", [10**400, [0, 10**400], {"min": 10**400}])
def test_an_integer_too_big_for_a_number_is_refused_naming_the_field_not_a_crash(size):
    found = problems(company_size=size)
    assert found and all(problem.startswith("company_size") and "valid number" in problem and len(problem) < 300
                         for problem in found)


def test_the_caps_themselves_are_accepted():
    assert market(company_size="1-10000000", annual_revenue="$100000B+").annual_revenue == Range(min=1e14)


def test_an_unparseable_range_names_the_field_and_the_value():
    assert problems(company_size="lots of people") == [
        "company_size: 'lots of people' is not a range like '10-500', '$1M-$50M' or '$10K+'"
    ]


def test_an_impossible_range_is_refused():
    assert problems(annual_revenue="$50M-$1M") == [
        "annual_revenue: '$50M-$1M' is impossible: its minimum is above its maximum"
    ]


@pytest.mark.parametrize("size", [[10, "abc"], [10, "1e999"], ["nan", "nan"], [10, float("nan")],
                                  [10, float("inf")], [10, True], [10, [1]], ["10-50", 60]])
def test_a_range_list_that_is_not_two_numbers_is_a_field_error_not_a_crash(size):
    [problem] = problems(company_size=size)
    assert problem.startswith("company_size: ") and "a range given as a list must be two numbers" in problem


def test_a_range_list_may_spell_its_numbers_as_text():
    assert market(company_size=["10", "$1K"]).company_size == Range(min=10, max=1000)
    assert market(company_size=[10, 500]).company_size == Range(min=10, max=500)
    assert market(company_size=[10, None]).company_size == Range(min=10, max=None)  # an open end, as in {min: 10}


def test_a_number_with_stray_separators_quotes_only_100_characters_of_it():
    text = "$1" + ".5" * 2000
    [problem] = problems(annual_revenue=text)
    assert problem.startswith("annual_revenue: '$1.5.5") and "is not a range like" in problem
    assert len(problem) < 250 and problem.count(".5") <= 50


@pytest.mark.parametrize("spelling", ["UK", "GB", "United Kingdom", "uk", "England"])
def test_the_united_kingdom_has_one_code_however_it_is_spelled(spelling):
    assert market(location=[spelling]).location == ["GB"]


def test_a_comma_separated_location_is_a_list_of_countries():
    assert market(location="US, UK, Canada").location == ["US", "GB", "CA"]


def test_an_unknown_country_is_refused_by_name():
    assert problems(location=["Narnia"]) == ["location: 'Narnia' is not a country name or ISO code"]


def test_defaults_follow_the_design():
    m = market()
    assert m.quality_threshold == 0.70
    assert m.contacts_per_company == 3
    assert m.weights.fit.industry == 0.25 and m.weights.fit.tech_stack == 0.0
    assert m.weights.priority.fit == 0.4 and m.weights.priority.intent == 0.6
    assert m.weights.intent.hiring == 0.30


def test_an_unknown_field_is_refused_not_ignored():
    assert problems(industy="typo") == ["industy: unknown field (value 'typo')"]


def test_a_missing_required_field_is_named():
    with pytest.raises(ValidationError) as caught:
        MarketDefinition(industry="SaaS")
    assert describe(caught.value) == ["company_size: required field is missing"]


def test_a_threshold_above_one_is_refused():
    assert problems(quality_threshold=1.5) == ["quality_threshold: Input should be less than or equal to 1 (got 1.5)"]


def test_weight_overrides_are_validated():
    assert market(weights={"fit": {"tech_stack": 0.2}}).weights.fit.tech_stack == 0.2
    assert problems(weights={"priority": {"fit": 0.5, "intent": 0.6}}) == [
        "weights.priority: fit + intent must be 1 (got 0.5 + 0.6)"
    ]


def test_requiring_a_tech_stack_needs_one_listed():
    assert problems(require_tech_stack=True) == [
        "(document): require_tech_stack is true but tech_stack_using is empty"
    ]
