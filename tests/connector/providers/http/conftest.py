"""Fixtures for the provider client's tests (helpers.py holds the rest)."""

from __future__ import annotations

import pytest
import respx

from tests.connector.providers.http.helpers import Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def http():
    """Every httpx request in the test is answered by respx routes (none reaches a network)."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock
