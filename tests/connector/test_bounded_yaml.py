"""The bounded YAML reader: what it refuses, where it says the problem is, and what it still reads."""

import datetime as dt

import pytest
import yaml

from connector import bounded_yaml
from connector.bounded_yaml import DocumentRefused, load_bounded


def refusal(text: str) -> str:
    with pytest.raises(DocumentRefused) as caught:
        load_bounded(text)
    return str(caught.value)


def test_a_plain_market_reads_as_safe_load_reads_it():
    text = "name: M\nweights:\n  fit: {industry: 0.3}\nlocation: [US, UK]\nmonthly_target: 500\nas_of: 2026-11-02\n"
    assert load_bounded(text) == yaml.safe_load(text)
    assert load_bounded(text)["as_of"] == dt.date(2026, 11, 2)


def test_json_reads_too():
    assert load_bounded('{"a": [1, 2.5, true, null, "x"]}') == {"a": [1, 2.5, True, None, "x"]}


def test_an_anchor_is_refused_where_it_is_set():
    assert refusal("a:\n  b: [1, &x 2]\n") == ("a.b.1: YAML anchors and aliases (&name, *name) are not accepted; "
                                               "write each value out")


def test_a_merge_key_needs_an_alias_and_is_refused():
    assert "anchors and aliases" in refusal("base: &b {x: 1}\nother:\n  <<: *b\n")


@pytest.mark.parametrize("text", ["a: !!python/object:os.system x", "a: !!binary aGVsbG8=", "a: !!set {x}",
                                  "a: !!int abc", "a: !!float x"])
def test_explicit_tags_are_refused(text):
    assert refusal(text) == "a: YAML tags (!!type) are not accepted"


def test_a_date_that_does_not_exist_is_a_refusal_not_a_crash():
    assert refusal("as_of: 2026-13-45") == "as_of: not a valid date or time"


def test_a_key_that_is_a_collection_does_not_confuse_the_path():
    assert refusal("? [a, b]\n: {c: &x 1}\n").startswith("?.c: YAML anchors")


def test_the_path_is_clipped_when_keys_are_long():
    text = "\n".join(f"{'  ' * level}{'k' * 900}{level}:" for level in range(5)) + " &x 1\n"
    assert len(refusal(text)) < 200


def test_the_pure_python_parser_is_bounded_the_same_way(monkeypatch):
    monkeypatch.setattr(bounded_yaml, "_Loader", yaml.SafeLoader)  # wheels without libyaml
    assert refusal("[" * 5000 + "]" * 5000) == "0" + ".0" * 19 + ": nested more than 20 levels deep"
    assert "anchors and aliases" in refusal("a: &a [1]\nb: *a\n")


def test_a_reader_error_is_a_refusal():
    assert refusal("a: \x00").startswith("(document): invalid YAML")
