"""What a tenant is shown of a failed job: no path on the server, at most 100 characters."""

import pytest

from connector.failure_text import for_tenant


@pytest.mark.parametrize("failure, shown", [
    ("PermissionError: [Errno 13] Permission denied: '/srv/sales os/var/salesos.sqlite3'",
     "PermissionError: [Errno 13] Permission denied: 'salesos.sqlite3'"),
    ("TemplateNotFound: /opt/salesos/templates/cold.txt", "TemplateNotFound: cold.txt"),
    ("OSError: cannot read ~/exports/accounts.csv", "OSError: cannot read accounts.csv"),
    ("OSError: cannot read C:\\exports\\accounts.csv now", "OSError: cannot read accounts.csv now"),
])
def test_a_server_path_in_a_failure_is_shown_as_its_file_name(failure, shown):
    assert for_tenant(failure) == shown


def test_urls_ratios_and_plain_text_are_shown_as_they_are():
    failure = "HTTPError: 502 from https://api.hubapi.com/crm/v3/objects/contacts (3/4 batches written)"
    assert for_tenant(failure) == failure


def test_a_failure_of_any_length_is_clipped_to_100_characters():
    shown = for_tenant("RuntimeError: the CRM answered " + "y" * 1_000_000)
    assert len(shown) == 100 and shown.endswith("...")
