"""Fixtures shared by the CRM adapter tests."""

from __future__ import annotations

import pytest

from tests.crm_adapters.salesforce_fake import SalesforceFake


@pytest.fixture
def salesforce_fake():
    """A fresh fake Salesforce org answering every request to its instance URL while the test runs."""
    fake = SalesforceFake()
    with fake.active():
        yield fake
