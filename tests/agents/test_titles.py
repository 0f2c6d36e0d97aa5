"""Titles: normalisation, role relevance, seniority and buying authority."""

import pytest

from agents.titles import buying_authority, is_c_level, normalise_title, role_relevance, seniority

ROLES = ["VP Sales", "Head of Sales", "VP Revenue Operations", "CEO", "CRO"]


@pytest.mark.parametrize(("title", "normalised"), [
    ("Vice President of Sales & Marketing", "vp sales marketing"),
    ("Chief Revenue Officer", "cro"),
    ("Senior Vice President, Sales", "svp sales"),
    ("Sr. Dir. of Ops", "senior director operations"),
    ("Head of RevOps", "head revenue operations"),
    ("Co-Founder & CEO", "cofounder ceo"),
    ("  SALES   MGR ", "sales manager"),
])
def test_titles_are_normalised(title, normalised):
    assert normalise_title(title) == normalised


def test_a_role_matches_when_all_its_words_are_in_the_title():
    assert role_relevance("Vice President of Sales & Marketing", ROLES) == 1.0
    assert role_relevance("Chief Revenue Officer", ROLES) == 1.0
    assert role_relevance("VP, RevOps", ROLES) == 1.0


def test_an_svp_matches_a_vp_role():
    assert role_relevance("SVP Sales", ROLES) == 1.0


def test_without_a_role_match_each_keyword_counts_a_quarter():
    assert role_relevance("Marketing Manager", ROLES) == 0.25
    assert role_relevance("Director of Sales Operations", ROLES) == 0.5


def test_keyword_relevance_is_capped_at_0_8():
    assert role_relevance("Sales Revenue Operations Marketing Growth Lead", ROLES) == 0.8


def test_a_title_with_no_keyword_is_irrelevant():
    assert role_relevance("Software Engineer", ROLES) == 0.0


def test_an_assistant_to_the_ceo_is_not_the_ceo():
    title = "Executive Assistant to the CEO"
    assert role_relevance(title, ROLES) == 0.0
    assert not is_c_level(title)
    assert seniority(title) == 2 and buying_authority(title, 2) == 0.30


@pytest.mark.parametrize(("title", "level", "authority"), [
    ("CEO", 10, 0.95),
    ("Chief Revenue Officer", 10, 0.95),
    ("Chief Customer Officer", 10, 0.95),
    ("Founder", 10, 0.95),
    ("Co-founder", 10, 0.95),
    ("President", 10, 0.95),
    ("Owner", 10, 0.95),
    ("SVP Sales", 9, 0.85),
    ("Senior Vice President of Sales", 9, 0.85),
    ("VP of Sales", 8, 0.85),
    ("Head of Sales", 7, 0.75),
    ("Senior Director, Sales", 7, 0.70),
    ("Director of Sales", 6, 0.70),
    ("Senior Sales Manager", 5, 0.50),
    ("Sales Manager", 4, 0.50),
    ("Senior Account Executive", 3, 0.30),
    ("Account Executive", 2, 0.30),
])
def test_seniority_and_buying_authority_follow_the_ladder(title, level, authority):
    assert seniority(title) == level
    assert buying_authority(title, level) == authority


def test_a_director_is_never_mistaken_for_a_cto():
    assert not is_c_level("Director of Operations")
    assert seniority("Director of Operations") == 6


def test_a_vice_president_is_not_a_president():
    assert seniority("Vice President") == 8


def test_authority_below_the_level_a_word_implies_uses_the_lower_rung():
    assert buying_authority("VP Sales", 7) == 0.75
    assert buying_authority("Director", 5) == 0.60
    assert buying_authority("Manager", 3) == 0.35
