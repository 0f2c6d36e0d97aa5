"""HubSpot's signatures: the published test vectors, the 5-minute window, the URI HubSpot signed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webhooks.signatures import (BadSignature, check_request, check_v2, check_v3, public_uri, v1_signature,
                                 v2_signature, v3_signature, v3_uri)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
VECTORS = json.loads((FIXTURES / "hubspot_signature_test_vectors.json").read_text())["vectors"]
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"


def compute(vector: dict) -> str:
    given = vector["inputs"]
    if vector["version"] == "v1":
        return v1_signature(given["client_secret"], given["request_body"])
    if vector["version"] == "v2":
        return v2_signature(given["client_secret"], given["http_method"], given["request_uri"], given["request_body"])
    uri = given.get("raw_request_uri", given["request_uri"])
    return v3_signature(given["client_secret"], given["http_method"], uri, given["request_body"], given["timestamp"])


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["id"] for vector in VECTORS])
def test_every_published_test_vector_computes_its_expected_signature(vector):
    assert compute(vector) == vector["expected"]


def test_the_docs_v1_body_fixture_is_the_vectors_body_byte_for_byte():
    body = (FIXTURES / "hubspot_webhook_v1_doc_body.json").read_bytes()
    assert v1_signature(SECRET, body) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"


def v3_vector(vector_id: str = "hs-py-sdk-v3") -> dict:
    return next(vector for vector in VECTORS if vector["id"] == vector_id)


def test_a_v3_signature_within_five_minutes_is_accepted():
    given = v3_vector()["inputs"]
    check_v3(SECRET, "POST", given["request_uri"], given["request_body"].encode(), v3_vector()["expected"],
             given["timestamp"], now_ms=int(given["timestamp"]) + 299_000)


def test_a_v3_signature_older_than_five_minutes_is_refused():
    given = v3_vector()["inputs"]
    with pytest.raises(BadSignature, match="more than 5 minutes"):
        check_v3(SECRET, "POST", given["request_uri"], given["request_body"].encode(), v3_vector()["expected"],
                 given["timestamp"], now_ms=int(given["timestamp"]) + 301_000)


def test_a_v3_timestamp_far_in_the_future_is_refused():
    given = v3_vector()["inputs"]
    with pytest.raises(BadSignature, match="more than 5 minutes"):
        check_v3(SECRET, "POST", given["request_uri"], given["request_body"].encode(), v3_vector()["expected"],
                 given["timestamp"], now_ms=int(given["timestamp"]) - 301_000)


def test_a_v3_signature_without_a_timestamp_is_refused():
    with pytest.raises(BadSignature, match="Timestamp is missing"):
        check_v3(SECRET, "POST", "https://www.example.com/webhook_uri", b"{}", "x", None)


def test_a_v3_signature_of_another_body_is_refused():
    given = v3_vector()["inputs"]
    with pytest.raises(BadSignature, match="does not match"):
        check_v3(SECRET, "POST", given["request_uri"], b"{'example_field':'tampered'}", v3_vector()["expected"],
                 given["timestamp"], now_ms=int(given["timestamp"]))


def test_the_v3_uri_decodes_only_the_escapes_hubspot_lists():
    assert v3_uri("https://a.example/h?state=a%3Ab%2fc%40d&x=%20%25") == "https://a.example/h?state=a:b/c@d&x=%20%25"


def test_v2_is_checked_and_v1_is_refused_by_the_version_header():
    body = b'{"example_field":"example_value"}'
    uri = "https://www.example.com/webhook_uri"
    check_v2(SECRET, "v2", "POST", uri, body, "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900")
    with pytest.raises(BadSignature, match="v1 signature covers the body only"):
        check_v2(SECRET, "v1", "POST", uri, body, v1_signature(SECRET, body))
    with pytest.raises(BadSignature, match=r"\(v2\) does not match"):
        check_v2(SECRET, "v2", "POST", uri, b"{}", "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900")


def test_an_unknown_signature_version_is_quoted_clipped_and_escaped():
    with pytest.raises(BadSignature) as caught:
        check_v2(SECRET, "v9\x1b[2J" + "x" * 5000, "POST", "https://www.example.com/h", b"{}", "0" * 64)
    message = str(caught.value)
    assert message.startswith("X-HubSpot-Signature-Version 'v9\\x1b[2jxxx") and message.endswith("is not v2")
    assert message.count("x") <= 100


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_without_v3_a_valid_v1_or_v2_signature_is_refused_unless_v2_is_allowed(version):
    body = b'{"example_field":"example_value"}'
    uri = "https://www.example.com/webhook_uri"
    signature = v1_signature(SECRET, body) if version == "v1" else v2_signature(SECRET, "POST", uri, body)
    headers = {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": version}
    with pytest.raises(BadSignature, match="no X-HubSpot-Signature-v3"):
        check_request(SECRET, headers, "POST", uri, body)
    if version == "v2":
        assert check_request(SECRET, headers, "POST", uri, body, allow_v2=True) == "v2"
    else:
        with pytest.raises(BadSignature, match="v1"):
            check_request(SECRET, headers, "POST", uri, body, allow_v2=True)


def test_a_request_with_v3_is_judged_by_v3_even_when_its_v1_signature_is_right():
    body = b"[]"
    headers = {"X-HubSpot-Signature-v3": "wrong", "X-HubSpot-Request-Timestamp": "1700000000000",
               "X-HubSpot-Signature": v1_signature(SECRET, body), "X-HubSpot-Signature-Version": "v1"}
    with pytest.raises(BadSignature, match="v3"):
        check_request(SECRET, headers, "POST", "https://a.example/webhooks/hubspot", body, allow_v2=True,
                      now_ms=1700000000000)


def test_a_request_without_any_signature_is_refused():
    with pytest.raises(BadSignature, match="no X-HubSpot-Signature"):
        check_request(SECRET, {}, "POST", "https://a.example/webhooks/hubspot", b"[]")


def test_the_signed_uri_is_the_public_base_plus_the_path_and_raw_query():
    assert public_uri("https://salesos.example.com/", "/webhooks/hubspot", b"a=1%3A2") == \
        "https://salesos.example.com/webhooks/hubspot?a=1%3A2"
    assert public_uri("https://salesos.example.com", "/webhooks/hubspot", b"") == \
        "https://salesos.example.com/webhooks/hubspot"


@pytest.mark.parametrize("timestamp", ["²³", "1" * 5000, "１２３"])
def test_a_timestamp_of_other_digits_is_refused_not_crashed_on(timestamp):
    with pytest.raises(BadSignature, match="epoch milliseconds"):
        check_v3("secret", "POST", "https://x.io/", b"[]", "sig", timestamp)
