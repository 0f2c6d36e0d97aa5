"""X-Twilio-Signature, checked against the vectors of twilio-python's own validator tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.twilio_signature import signature, valid_json_signature, valid_signature

VECTORS = json.loads((Path(__file__).parents[1] / "fixtures/providers/twilio_signature_test_vectors.json").read_text())
TOKEN = VECTORS["auth_token"]
CASES = {case["name"]: case for case in VECTORS["cases"]}
BASIC = CASES["form_post_basic"]


def _params(case):
    return case["params"] if "params" in case else [tuple(pair) for pair in case["params_multi"]]


@pytest.mark.parametrize("name", ["form_post_basic", "form_post_duplicate_keys", "https_with_explicit_port_443",
                                  "http_with_explicit_port_80"])
def test_each_form_vector_is_valid(name):
    case = CASES[name]
    assert valid_signature(case["url"], _params(case), case["expected_signature"], TOKEN)


def test_the_signature_is_computed_as_twilio_computes_it():
    assert signature(BASIC["url"], BASIC["params"], TOKEN) == BASIC["expected_signature"]


def test_a_signature_made_with_the_default_port_is_accepted_on_the_url_without_it():
    with_port = CASES["https_with_explicit_port_443"]
    assert valid_signature(BASIC["url"], BASIC["params"], with_port["expected_signature"], TOKEN)


def test_a_signature_made_without_the_default_port_is_accepted_on_the_url_with_it():
    assert valid_signature(CASES["https_with_explicit_port_443"]["url"], BASIC["params"],
                           BASIC["expected_signature"], TOKEN)


def test_another_auth_token_is_refused():
    assert not valid_signature(BASIC["url"], BASIC["params"], BASIC["expected_signature"], "54321")


def test_a_changed_parameter_is_refused():
    assert not valid_signature(BASIC["url"], {**BASIC["params"], "Digits": "9999"}, BASIC["expected_signature"], TOKEN)


def test_another_url_is_refused():
    assert not valid_signature(BASIC["url"].replace("myapp", "other"), BASIC["params"], BASIC["expected_signature"],
                               TOKEN)


@pytest.mark.parametrize("header", [None, "", "not base64 at all", "RSOYDt4T1cUTdK1PDd93/VVr8B8=\u00e9"])
def test_a_missing_or_malformed_signature_is_refused(header):
    assert not valid_signature(BASIC["url"], BASIC["params"], header, TOKEN)


def test_an_empty_auth_token_never_validates():
    assert not valid_signature(BASIC["url"], BASIC["params"], signature(BASIC["url"], BASIC["params"], ""), "")


def test_a_json_body_is_valid_with_its_hash_in_the_signed_url():
    case = CASES["json_body_with_bodySHA256"]
    assert valid_json_signature(case["url"], case["raw_body"].encode(), case["expected_signature"], TOKEN)


def test_a_json_body_that_does_not_match_the_signed_hash_is_refused():
    case = CASES["json_body_with_bodySHA256"]
    assert not valid_json_signature(case["url"], b'{"property": "other"}', case["expected_signature"], TOKEN)
