"""Contact Finder: who is kept, who is dropped and why, in what order."""

from agents.contact_finder import find_buying_team, to_reveal
from agents.market import MarketDefinition
from agents.models import PersonRecord
from agents.verification import Verdict


def market(**overrides):
    return MarketDefinition(**({"industry": "B2B SaaS", "company_size": "10-500"} | overrides))


def person(name="Jane Roe", title="CEO", email="jane@acme.io", **fields):
    return PersonRecord(name=name, title=title, email=email, company_domain="acme.io",
                        **({"confidence": 0.95} | fields))


def emails(selection):
    return [contact.email for contact in selection.kept]


def test_the_top_three_by_buying_authority_are_kept_in_order():
    people = [
        person("A", "Account Executive", "a@acme.io"), person("B", "VP of Sales", "b@acme.io"),
        person("C", "CEO", "c@acme.io"), person("D", "Sales Manager", "d@acme.io"),
        person("E", "Director of Sales", "e@acme.io"),
    ]
    selection = find_buying_team(people, market())
    assert emails(selection) == ["c@acme.io", "b@acme.io", "e@acme.io"]
    assert {(d.key, d.reason) for d in selection.dropped} == {
        ("d@acme.io", "ranked below the top 3"), ("a@acme.io", "ranked below the top 3")}


def test_contacts_per_company_sets_how_many_are_kept():
    people = [person(str(n), "CEO", f"{n}@acme.io") for n in range(5)]
    assert len(find_buying_team(people, market(contacts_per_company=2)).kept) == 2


def test_equal_authority_is_broken_by_role_relevance():
    people = [person("E", "Software Engineer", "e@acme.io"), person("S", "SDR", "s@acme.io")]
    selection = find_buying_team(people, market(contacts_per_company=1))
    assert emails(selection) == ["s@acme.io"]


def test_an_invalid_email_is_dropped_with_the_reason():
    selection = find_buying_team([person(email="jane@")], market())
    assert selection.kept == []
    assert selection.dropped[0].key == "jane@"
    assert selection.dropped[0].reason.startswith("invalid email 'jane@': There must be something after the @-sign")


def test_a_person_without_email_is_dropped_with_the_reason():
    selection = find_buying_team([person(email=None)], market())
    assert [(d.key, d.reason) for d in selection.dropped] == [("Jane Roe", "no email address")]


def test_the_same_email_from_two_sources_is_one_contact_with_gaps_filled():
    people = [
        person(email="Jane@Acme.io", confidence=0.95),
        person(email="jane@acme.io", confidence=0.7, phone="+14155550100", linkedin_url="https://linkedin.com/in/j"),
    ]
    [jane] = find_buying_team(people, market()).kept
    assert jane.email == "jane@acme.io" and jane.confidence == 0.95
    assert jane.phone == "+14155550100" and jane.linkedin_url == "https://linkedin.com/in/j"


def verdict(status, email="jane@acme.io", reason="hunter: valid"):
    return Verdict(email=email, status=status, reason=reason, checked_by=("syntax", "mx", "hunter"))


def test_only_an_address_the_verifier_found_valid_is_verified():
    assert find_buying_team([person()], market(), {"jane@acme.io": verdict("valid")}).kept[0].email_verified
    for status in ("risky", "unknown"):
        assert not find_buying_team([person()], market(), {"jane@acme.io": verdict(status)}).kept[0].email_verified


def test_a_source_s_confidence_never_makes_an_address_verified():
    assert not find_buying_team([person(confidence=0.99)], market()).kept[0].email_verified


def test_an_address_found_invalid_is_dropped_with_the_verifier_s_reason():
    selection = find_buying_team([person()], market(), {"jane@acme.io": verdict("invalid", reason="null MX")})
    assert (selection.kept, [(d.key, d.reason, d.kind) for d in selection.dropped]) == (
        [], [("jane@acme.io", "null MX", "invalid email")])


def test_preference_is_email_when_verified_then_linkedin_then_phone():
    def preference(checked=None, **fields):
        verdicts = {"jane@acme.io": verdict(checked)} if checked else None
        return find_buying_team([person(**fields)], market(), verdicts).kept[0].contact_preference

    assert preference("valid", linkedin_url="https://linkedin.com/in/j") == "email"
    assert preference("risky", linkedin_url="https://linkedin.com/in/j", phone="+1415") == "linkedin"
    assert preference(phone="+14155550100") == "phone"
    assert preference() == "email"


def test_scores_come_from_the_title():
    [vp] = find_buying_team([person(title="Vice President of Sales")], market()).kept
    assert (vp.role_relevance, vp.seniority, vp.buying_authority) == (1.0, 8, 0.85)


def test_people_below_the_minimum_relevance_are_dropped():
    people = [person("E", "CTO", "e@acme.io"), person("S", "Head of Sales", "s@acme.io")]
    selection = find_buying_team(people, market(min_role_relevance=0.25))
    assert emails(selection) == ["s@acme.io"]
    assert selection.dropped[0].reason == "role relevance 0.0 below 0.25 (CTO)"


def test_an_unknown_time_zone_is_dropped_so_the_country_decides():
    [jane] = find_buying_team([person(timezone="Mars/Olympus")], market()).kept
    assert jane.timezone is None
    [john] = find_buying_team([person(timezone="America/Chicago")], market()).kept
    assert john.timezone == "America/Chicago"


def test_an_invalid_email_is_quoted_at_most_100_characters_in_the_reason():
    selection = find_buying_team([person(email="j" * 5000 + "@")], market())
    assert selection.kept == [] and "j" * 101 not in selection.dropped[0].reason


def test_only_people_who_would_make_the_team_are_revealed():
    people = [
        person("C", "CEO", None, ref="ap-1"), person("V", "VP of Sales", None, ref="ap-2"),
        person("D", "Director of Sales", "d@acme.io"), person("M", "Sales Manager", None, ref="ap-3"),
        person("E", "Account Executive", None, ref="ap-4"),
    ]
    assert [p.ref for p in to_reveal(people, market())] == ["ap-1", "ap-2"]


def test_someone_whose_email_was_not_found_makes_way_for_the_next_in_line():
    people = [person("C", "CEO", None, ref="ap-1"), person("M", "Sales Manager", None, ref="ap-3")]
    assert [p.ref for p in to_reveal(people, market(contacts_per_company=1), tried={"ap-1"})] == ["ap-3"]


def test_people_outside_the_buying_roles_are_never_revealed():
    people = [person("S", "Software Engineer", None, ref="ap-9")]
    assert to_reveal(people, market(buying_team_roles=["VP Sales"], min_role_relevance=0.25)) == []
