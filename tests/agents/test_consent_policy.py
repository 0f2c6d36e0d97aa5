"""Who may get a first cold email, country by country: each row of the bundled table, and the admin's overrides."""

from __future__ import annotations

import pytest

from agents.consent_policy import ConsentPolicy, CountryRule, may_cold_email
from connector.consent_policy_file import PolicyFileError, load_consent_policy

POLICY = load_consent_policy()
EU_LEGITIMATE_INTEREST = ["BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "GR", "HU", "IE", "IT", "LV", "LT",
                          "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]
EXPECTED = {"US": "opt_out", "GB": "corporate_only", "CA": "opt_out", "AU": "opt_out", "DE": "consent",
            "AT": "consent", **{code: "opt_out" for code in EU_LEGITIMATE_INTEREST}}


def verdict(country, has_consent=False, subscriber=None, policy=POLICY):
    return may_cold_email(country, has_consent=has_consent, subscriber=subscriber, policy=policy)


def test_the_bundled_table_has_exactly_the_expected_rows():
    assert {code: row.rule for code, row in POLICY.countries.items()} == EXPECTED


@pytest.mark.parametrize("country", sorted(EXPECTED))
def test_each_row_decides_a_first_cold_email_without_consent_by_its_rule(country):
    allowed = {"opt_out": True, "corporate_only": False, "consent": False}[EXPECTED[country]]
    found = verdict(country)
    assert (found.allowed, found.rule) == (allowed, f"{country}:{EXPECTED[country]}")
    assert POLICY.countries[country].law in found.reason


@pytest.mark.parametrize("country", sorted(EXPECTED))
def test_recorded_consent_allows_a_first_cold_email_in_every_row(country):
    assert verdict(country, has_consent=True).allowed


def test_the_us_allows_any_business_contact_until_they_opt_out():
    assert verdict("us", subscriber="individual").allowed


def test_the_uk_allows_corporate_subscribers():
    assert verdict("GB", subscriber="corporate").allowed


def test_the_uk_refuses_sole_traders_and_partnerships_without_consent():
    found = verdict("GB", subscriber="individual")
    assert not found.allowed and "individual subscriber" in found.reason


def test_the_uk_refuses_a_subscriber_of_unknown_type_without_consent():
    assert not verdict("GB", subscriber=None).allowed


@pytest.mark.parametrize("country", ["DE", "AT"])
def test_germany_and_austria_require_prior_consent_even_from_companies(country):
    assert not verdict(country, subscriber="corporate").allowed


def test_an_unknown_country_gets_the_admins_choice():
    assert verdict(None).rule == "unknown:consent" and not verdict("").allowed
    assert verdict(None, policy=ConsentPolicy(unknown="opt_out")).allowed


def test_a_country_without_a_row_gets_the_default():
    assert verdict("BR").rule == "BR:consent" and not verdict("BR").allowed


def test_never_refuses_even_with_consent():
    policy = ConsentPolicy(countries={"KP": CountryRule(rule="never")})
    assert not verdict("KP", has_consent=True, policy=policy).allowed


def test_an_admins_file_replaces_the_table(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('unknown: opt_out\ndefault: opt_out\ncountries:\n  "NO": {rule: consent}\n')
    policy = load_consent_policy(path)
    assert not verdict("NO", policy=policy).allowed and verdict("DE", policy=policy).allowed


def test_an_unquoted_norway_is_named_as_the_problem(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("countries:\n  NO: {rule: consent}\n")  # YAML 1.1 reads NO as false
    with pytest.raises(PolicyFileError, match="countries.*ISO 3166-1"):
        load_consent_policy(path)


def test_a_misspelt_rule_names_the_field(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("countries:\n  FR: {rule: opt-out}\n")
    with pytest.raises(PolicyFileError, match=r"countries\.FR\.rule"):
        load_consent_policy(path)
