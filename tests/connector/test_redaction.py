"""`redact` finds the token of every secret-bearing URL, however the request spelled it."""

from __future__ import annotations

import logging
import sys

import pytest

from connector.redaction import RedactTokens, configure_logging, redact

TOKEN = "Zk3rQ8vXn2LmP0aB7cD9eF1gH4iJ6kL"


@pytest.mark.parametrize(("line", "expected"), [
    (f'127.0.0.1 - - [01/Nov/2026 10:00:00] "POST /webhooks/salesforce/outbound/{TOKEN} HTTP/1.1" 200 -',
     '127.0.0.1 - - [01/Nov/2026 10:00:00] "POST /webhooks/salesforce/outbound/[redacted] HTTP/1.1" 200 -'),
    (f"POST /webhooks/hubspot/workflow/62515/{TOKEN}/prospect_company",
     "POST /webhooks/hubspot/workflow/62515/[redacted]/prospect_company"),
    (f"GET /unsubscribe/{TOKEN} HTTP/1.1", "GET /unsubscribe/[redacted] HTTP/1.1"),
    (f'"https://salesos.example.com/unsubscribe/{TOKEN}"', '"https://salesos.example.com/unsubscribe/[redacted]"'),
    (f"GET /oauth/hubspot/callback?code={TOKEN}&state={TOKEN}x HTTP/1.1",
     "GET /oauth/hubspot/callback?code=[redacted]&state=[redacted] HTTP/1.1"),
    (f"GET /oauth/salesforce/callback?state={TOKEN}&code={TOKEN}%3D%3D",
     "GET /oauth/salesforce/callback?state=[redacted]&code=[redacted]"),
    (f"GET //unsubscribe//{TOKEN}?x=1", "GET //unsubscribe//[redacted]?x=1"),
    (f"GET /unsubscribe%2F{TOKEN}", "GET /unsubscribe%2F[redacted]"),
    (f"GET /Webhooks/Salesforce/Outbound%2f{TOKEN}%2Fx", "GET /Webhooks/Salesforce/Outbound%2f[redacted]%2Fx"),
    (f"GET /unsubscribe/{TOKEN}%41%42/", "GET /unsubscribe/[redacted]/"),
])
def test_every_spelling_of_a_secret_url_loses_its_token(line, expected):
    assert redact(line) == expected


@pytest.mark.parametrize(("line", "expected"), [
    # percent-encoded letters: servers decode the path before routing, so these reach the token's view
    (f'"POST /webhooks/salesforce/%6Futbound/{TOKEN} HTTP/1.1" 200',
     '"POST /webhooks/salesforce/%6Futbound/[redacted] HTTP/1.1" 200'),
    (f"POST /%77ebhooks/%73alesforce/outbound/{TOKEN}", "POST /%77ebhooks/%73alesforce/outbound/[redacted]"),
    (f"GET /%75nsubscribe/{TOKEN} HTTP/1.1", "GET /%75nsubscribe/[redacted] HTTP/1.1"),
    (f"GET /%55NSUBSCRIBE/{TOKEN}", "GET /%55NSUBSCRIBE/[redacted]"),
    (f"POST /webhooks/hubspot/%77orkflow/1111/{TOKEN}/prospect_company",
     "POST /webhooks/hubspot/%77orkflow/1111/[redacted]/prospect_company"),
    (f"POST /%2577ebhooks/salesforce/outbound/{TOKEN}", "POST /%2577ebhooks/salesforce/outbound/[redacted]"),
    (f"POST /webhooks/salesforce/outbound%252F{TOKEN}", "POST /webhooks/salesforce/outbound%252F[redacted]"),
    # dot segments, plain and encoded, wherever they are
    (f"POST /webhooks/salesforce/x/../outbound/{TOKEN}", "POST /webhooks/salesforce/x/../outbound/[redacted]"),
    (f"POST /webhooks/salesforce/x/%2e%2e/outbound/{TOKEN}",
     "POST /webhooks/salesforce/x/%2e%2e/outbound/[redacted]"),
    (f"POST /webhooks/./salesforce/.%2E/salesforce/outbound/{TOKEN}",
     "POST /webhooks/./salesforce/.%2E/salesforce/outbound/[redacted]"),
    (f"GET /unsubscribe/x/../{TOKEN}", "GET /unsubscribe/[redacted]/../[redacted]"),
    (f"GET /unsubscribe/{TOKEN}/..", "GET /unsubscribe/[redacted]/.."),
    (f"POST /webhooks/hubspot/workflow/1111/x/../{TOKEN}/prospect_company",
     "POST /webhooks/hubspot/workflow/1111/[redacted]/../[redacted]/prospect_company"),
    # absolute-form request targets and Referers
    (f"POST http://127.0.0.1:5000/webhooks/salesforce/%6futbound/{TOKEN} HTTP/1.1",
     "POST http://127.0.0.1:5000/webhooks/salesforce/%6futbound/[redacted] HTTP/1.1"),
    (f'"https://salesos.example.com/webhooks/salesforce/%6Futbound/{TOKEN}"',
     '"https://salesos.example.com/webhooks/salesforce/%6Futbound/[redacted]"'),
    # an OAuth callback's query, its names percent-encoded, upper-case or separated by ';'
    (f"GET /oauth/hubspot/callback?%63ode={TOKEN}&%73tate={TOKEN} HTTP/1.1",
     "GET /oauth/hubspot/callback?%63ode=[redacted]&%73tate=[redacted] HTTP/1.1"),
    (f"GET /oauth/hubspot/callback?CODE={TOKEN};State={TOKEN}&x=1",
     "GET /oauth/hubspot/callback?CODE=[redacted];State=[redacted]&x=1"),
    (f"GET /oauth/hubspot/callback?%2563ode={TOKEN}", "GET /oauth/hubspot/callback?%2563ode=[redacted]"),
    # a secret URL carried in a query value
    (f"GET /oauth/hubspot/install?next=%2Funsubscribe%2F{TOKEN}",
     "GET /oauth/hubspot/install?next=%2Funsubscribe%2F[redacted]"),
])
def test_a_secret_url_spelled_as_a_server_would_still_route_it_loses_its_token(line, expected):
    assert redact(line) == expected


def test_lines_without_secret_urls_are_left_alone():
    line = '127.0.0.1 - - "POST /webhooks/hubspot HTTP/1.1" 200 - "POST /webhooks/salesforce/flow/salesforce-00D"'
    assert redact(line) is line


def record(message: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("webhooks.test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_the_filter_redacts_the_formatted_message_and_keeps_the_record():
    entry = record("HubSpot request to %s refused: %s", f"/webhooks/hubspot/workflow/1/{TOKEN}/x", "bad signature")
    assert RedactTokens().filter(entry) is True
    assert entry.getMessage() == "HubSpot request to /webhooks/hubspot/workflow/1/[redacted]/x refused: bad signature"


def test_the_filter_redacts_gunicorns_access_atoms():
    entry = record('%(h)s "%(r)s" %(s)s "%(f)s"', {"h": "127.0.0.1", "r": f"GET /unsubscribe/{TOKEN} HTTP/1.1",
                                                    "s": "200", "f": f"https://x.example/unsubscribe/{TOKEN}"})
    RedactTokens().filter(entry)
    assert entry.getMessage() == ('127.0.0.1 "GET /unsubscribe/[redacted] HTTP/1.1" 200 '
                                  '"https://x.example/unsubscribe/[redacted]"')


def test_the_filter_never_lets_gunicorn_log_a_basic_auth_user_name_or_credential_header():
    """`curl -u KEY:` sends the key as the HTTP Basic user name, which gunicorn's access log writes as %(u)s."""
    atoms = {"h": "127.0.0.1", "u": TOKEN, "r": "GET /rq/ HTTP/1.1", "s": "401",
             "{authorization}i": f"Basic {TOKEN}", "{http_authorization}e": f"Basic {TOKEN}",
             "{cookie}i": f"session={TOKEN}", "{set-cookie}o": f"session={TOKEN}"}
    entry = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1,
                              '%(h)s %(u)s "%(r)s" %(s)s %({authorization}i)s %({http_authorization}e)s '
                              '%({cookie}i)s %({set-cookie}o)s', (atoms,), None)
    RedactTokens().filter(entry)
    assert entry.getMessage() == ('127.0.0.1 [redacted] "GET /rq/ HTTP/1.1" 401 [redacted] [redacted] '
                                  '[redacted] [redacted]')


def test_gunicorns_access_log_keeps_its_dash_for_a_request_without_a_user_name():
    entry = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s %(l)s %(u)s "%(r)s"',
                              ({"h": "127.0.0.1", "l": "-", "u": "-", "r": "GET /healthz HTTP/1.1"},), None)
    RedactTokens().filter(entry)
    assert entry.getMessage() == '127.0.0.1 - - "GET /healthz HTTP/1.1"'


def test_the_filter_redacts_a_traceback_before_any_formatter_renders_it():
    try:
        raise LookupError(f"no route for /unsubscribe/{TOKEN}")
    except LookupError:
        entry = record("Exception on /unsubscribe/%s [POST]", TOKEN, exc_info=sys.exc_info())
    RedactTokens().filter(entry)
    formatted = logging.Formatter().format(entry)
    assert TOKEN not in formatted
    assert "Exception on /unsubscribe/[redacted] [POST]" in formatted
    assert "LookupError: no route for /unsubscribe/[redacted]" in formatted


def test_a_malformed_logging_call_does_not_leak_its_arguments():
    entry = record("unsubscribe %s %s", f"/unsubscribe/{TOKEN}")  # one argument short
    assert RedactTokens().filter(entry) is True
    assert TOKEN not in entry.getMessage()


def test_configure_logging_filters_every_root_handler_and_gunicorns_loggers_once():
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    level = root.level
    try:
        configure_logging()
        configure_logging()
        for target in (handler, logging.getLogger("gunicorn.access"), logging.getLogger("gunicorn.error")):
            assert [type(f) for f in target.filters] == [RedactTokens]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_tracked_link_tokens_never_reach_a_log_line():
    """Their payload is readable base64 naming the contact's email."""
    assert redact('"GET /t/c/WyJ0IiwicyJd.AbC HTTP/1.1" 302') == '"GET /t/c/[redacted] HTTP/1.1" 302'
    assert redact('"GET /t/o/WyJ0IiwicyJd.AbC.gif HTTP/1.1" 200') == '"GET /t/o/[redacted] HTTP/1.1" 200'


@pytest.mark.parametrize("path, expected", [
    ("/calls/WyJ0IiwibyJd.AbC", "/calls/[redacted]"),
    ("/webhooks/sendgrid/inbound/s3cr3t-token", "/webhooks/sendgrid/inbound/[redacted]"),
    ("/webhooks/twilio/s3cr3t-token/sms", "/webhooks/twilio/[redacted]/sms"),
    ("/webhooks/twilio/s3cr3t-token/status", "/webhooks/twilio/[redacted]/status"),
])
def test_outreach_url_credentials_never_reach_a_log_line(path, expected):
    assert redact(f'"POST {path} HTTP/1.1" 200') == f'"POST {expected} HTTP/1.1" 200'
