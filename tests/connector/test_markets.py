"""Loading market files: the example loads, broken files say where and why."""

from pathlib import Path

import pytest

from connector.markets import MarketError, load_market, market_from_text

EXAMPLE = Path(__file__).parents[2] / "examples" / "market.yaml"


def test_the_example_market_is_the_seeds_market():
    market = load_market(EXAMPLE)
    assert market.industry == "B2B SaaS"
    assert market.location == ["US", "GB", "CA"]
    assert (market.company_size.min, market.company_size.max) == (10, 500)
    assert (market.annual_revenue.min, market.annual_revenue.max) == (1_000_000, 50_000_000)
    assert (market.budget_size.min, market.budget_size.max) == (10_000, 500_000)
    assert market.exclude.industries == ["Finance", "Healthcare", "Insurance"]
    assert market.quality_threshold == 0.70 and market.monthly_target == 500


def test_invalid_yaml_reports_the_line(tmp_path):
    path = tmp_path / "market.yaml"
    path.write_text("industry: SaaS\ncompany_size: [10, 500\n")
    with pytest.raises(MarketError) as caught:
        load_market(path)
    assert "invalid YAML at line 3" in caught.value.problems[0]


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "market.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(MarketError) as caught:
        load_market(path)
    assert caught.value.problems == ["(document): expected a mapping of fields, got list"]


def test_every_bad_field_is_reported_at_once(tmp_path):
    path = tmp_path / "market.yaml"
    path.write_text("industry: SaaS\ncompany_size: 500-10\nlocation: [Atlantis]\ncolour: blue\n")
    with pytest.raises(MarketError) as caught:
        load_market(path)
    assert caught.value.problems == [
        "company_size: '500-10' is impossible: its minimum is above its maximum",
        "location: 'Atlantis' is not a country name or ISO code",
        "colour: unknown field (value 'blue')",
    ]


def test_a_missing_file_is_a_market_error(tmp_path):
    with pytest.raises(MarketError) as caught:
        load_market(tmp_path / "nope.yaml")
    assert "cannot read the file" in caught.value.problems[0]


def test_a_market_file_with_anchors_and_aliases_is_refused(tmp_path):
    path = tmp_path / "market.yaml"
    path.write_text("industry: SaaS\ncompany_size: 10-50\nexclude:\n  industries: &banks [Finance]\n"
                    "related_industries: *banks\n")
    with pytest.raises(MarketError) as caught:
        load_market(path)
    assert caught.value.problems == [
        "exclude.industries: YAML anchors and aliases (&name, *name) are not accepted; write each value out"]


def test_a_market_record_from_a_crm_with_nested_aliases_is_refused_before_it_expands():
    from tests.webhooks.test_hostile_input import LAUGHS

    with pytest.raises(MarketError) as caught:
        market_from_text(LAUGHS, "CRM market record 7")
    assert str(caught.value) == ("CRM market record 7: a: YAML anchors and aliases (&name, *name) are not "
                                 "accepted; write each value out")


def test_a_yaml_error_quotes_at_most_100_characters_of_the_record():
    with pytest.raises(MarketError) as caught:
        market_from_text("industry: SaaS\n" + "\t" + "q" * 5000 + ": [\n", "CRM market record 7")
    assert len(str(caught.value)) < 300


def test_a_market_file_that_is_not_utf8_is_a_market_error_naming_the_rule(tmp_path):
    path = tmp_path / "market.yaml"
    path.write_bytes(b"industry: \xff\xfe\ncompany_size: 10-500\n")
    with pytest.raises(MarketError) as caught:
        load_market(path)
    assert caught.value.problems == ["(document): not UTF-8 text (byte 0xff at position 10); save the file as UTF-8"]


def test_control_and_format_characters_in_a_crm_market_record_are_stripped():
    record = 'industry: "SaaS\\0\\u2066"\ncompany_size: 10-500\nexclude: {companies: ["a\\x1bb\\u200d.io"]}\n'
    market = market_from_text(record, "CRM market record 7")
    assert (market.industry, market.exclude.companies) == ("SaaS", ["ab.io"])
