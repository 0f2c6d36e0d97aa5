"""Refusals of CRM values quote at most ~100 characters of the value, however long it is."""

import pytest

from agents.validation import QUOTE_LIMIT
from crm_adapters.fields import FIELDS
from crm_adapters.values import check_domain, check_email, check_link, encode, instant

FIELD = {field.type: field for field in FIELDS}
LONG = "Z" * 5000


@pytest.mark.parametrize("refuse", [
    lambda: check_domain(LONG + "/"),
    lambda: check_email(LONG),
    lambda: check_link("linkedin_url", "javascript:" + LONG),
    lambda: instant("next_touch_at", LONG),
    lambda: encode(FIELD["bool"], LONG),
    lambda: encode(FIELD["number"], LONG),
    lambda: encode(FIELD["text"], [LONG] * 3),
    lambda: encode(FIELD["enum"], LONG),
], ids=["domain", "email", "link", "datetime", "bool", "number", "text", "enum"])
def test_a_refused_value_is_quoted_at_most_100_characters(refuse):
    with pytest.raises(ValueError) as refused:
        refuse()
    assert "Z" * (QUOTE_LIMIT + 1) not in str(refused.value) and "ZZZ" in str(refused.value)
