"""verify_emails: DNS on a real (loopback) server, Hunter's email verifier through the real ProviderClient."""

import copy
import json
from pathlib import Path

import httpx
import pytest
import respx

from connector.providers.http.cache import RedisResponseCache
from connector.providers.http.client import ProviderClient
from connector.providers.http.costs import CostLedger, run_costs
from connector.providers.http.spec import load_spec
from connector.providers.verification import (
    DNS_DOWN_AFTER, DNS_LIFETIME_SECONDS, default_resolver, mail_hosts, verify_emails,
)
from tests.fakes.dns_server import LocalDns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers"
VERIFIER = "https://api.hunter.io/v2/email-verifier"
KEY = "hunter-key-5e1f0a"
ZONE = {("acme.io", "MX"): ["10 mx1.acme.io.", "20 mx2.acme.io."], ("globex.com", "MX"): ["10 mx.globex.com."]}


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def hunter_says(status):
    body = copy.deepcopy(fixture("hunter_email_verifier_valid.json"))
    body["data"]["status"] = status
    return body


VALID = fixture("hunter_email_verifier_valid.json")
DISPOSABLE = fixture("hunter_email_verifier_disposable.json")


def ledger(conn, run_cap=5.0):
    return CostLedger(conn, "t1", "run-1", run_cap=run_cap, monthly_cap=500)


def hunter_credits(conn):
    return run_costs(conn, "t1", "run-1").get("hunter", {}).get("credits", 0)


class OpenCircuit:
    def allow(self, provider):
        return False

    def succeeded(self, provider):
        pass

    def failed(self, provider):
        pass


@pytest.fixture
def naps():
    return []


@pytest.fixture(scope="module")
def http():
    """One httpx client for the module: building one loads the CA bundle, slow on a busy machine."""
    with httpx.Client() as client:
        yield client


@pytest.fixture
def hunter(naps, http):
    def build(key=KEY, **hooks):
        return ProviderClient(load_spec("hunter", environ={}), key, tenant="t1", http=http, sleep=naps.append,
                              jitter=lambda: 0.5, **hooks)
    return build


@pytest.fixture
def api():
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def dns():
    with LocalDns(ZONE) as server:
        yield server


# --- syntax and DNS -------------------------------------------------------------------------------------------


def test_a_malformed_address_is_invalid_and_nothing_is_asked(dns, api, hunter):
    route = api.get(VERIFIER).respond(200, json=VALID)
    verdicts = verify_emails(["jane@"], hunter(), dns.resolver())
    assert verdicts["jane@"].status == "invalid"
    assert (dns.questions, route.call_count) == ([], 0)


def test_verdicts_are_keyed_by_the_address_as_given_and_hold_it_normalised(dns):
    verdicts = verify_emails(["Jane.Roe@ACME.io"], None, dns.resolver())
    assert verdicts["Jane.Roe@ACME.io"].email == "jane.roe@acme.io"


def test_mx_is_asked_once_per_domain_of_a_batch(dns):
    verify_emails(["a@acme.io", "b@acme.io", "c@ACME.IO", "d@globex.com"], None, dns.resolver())
    assert (dns.asked("acme.io"), dns.asked("globex.com")) == (["MX"], ["MX"])


def test_a_runs_mx_cache_spares_the_lookup_in_its_next_batch(dns):
    cache = {}
    verify_emails(["a@acme.io"], None, dns.resolver(), mx_cache=cache)
    verify_emails(["b@acme.io"], None, dns.resolver(), mx_cache=cache)
    assert dns.asked("acme.io") == ["MX"]


def test_an_unknown_mx_is_not_kept_in_the_runs_cache():
    cache = {}
    with LocalDns(servfail={"acme.io"}) as dns:
        verify_emails(["a@acme.io"], None, dns.resolver(), mx_cache=cache)
        verify_emails(["b@acme.io"], None, dns.resolver(), mx_cache=cache)
        assert dns.asked("acme.io") == ["MX", "MX"]


def test_mx_hosts_come_in_preference_order():
    with LocalDns({("acme.io", "MX"): ["20 backup.acme.io.", "5 primary.acme.io."]}) as dns:
        assert mail_hosts("acme.io", dns.resolver()).hosts == ("primary.acme.io", "backup.acme.io")


def test_a_domain_without_mx_takes_mail_at_its_a_record():
    with LocalDns({("acme.io", "A"): ["192.0.2.10"]}) as dns:
        result = mail_hosts("acme.io", dns.resolver())
    assert (result.status, result.hosts) == ("accepts_mail", ("acme.io",))


def test_a_domain_without_mx_takes_mail_at_its_aaaa_record():
    with LocalDns({("acme.io", "AAAA"): ["2001:db8::10"]}) as dns:
        assert mail_hosts("acme.io", dns.resolver()).status == "accepts_mail"


def test_a_null_mx_makes_the_address_invalid_and_hunter_is_not_asked(api, hunter):
    route = api.get(VERIFIER).respond(200, json=VALID)
    with LocalDns({("acme.io", "MX"): ["0 ."]}) as dns:
        result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert (result.status, result.reason) == ("invalid", "acme.io accepts no mail (null MX, RFC 7505)")
    assert route.call_count == 0


def test_a_domain_that_does_not_exist_makes_the_address_invalid_and_hunter_is_not_asked(dns, api, hunter):
    route = api.get(VERIFIER).respond(200, json=VALID)
    result = verify_emails(["jane@initech.example"], hunter(), dns.resolver())["jane@initech.example"]
    assert (result.status, result.reason) == ("invalid", "initech.example does not exist (NXDOMAIN)")
    assert route.call_count == 0


def test_a_domain_with_no_mx_and_no_address_makes_the_address_invalid():
    with LocalDns(names={"acme.io"}) as dns:
        result = verify_emails(["jane@acme.io"], None, dns.resolver())["jane@acme.io"]
    assert (result.status, result.reason) == ("invalid", "acme.io has no MX, A or AAAA record: no host takes its mail")


def test_a_servfail_is_unknown_never_valid():
    with LocalDns(servfail={"acme.io"}) as dns:
        result = verify_emails(["jane@acme.io"], None, dns.resolver())["jane@acme.io"]
    assert result.status == "unknown"
    assert result.reason.startswith("no DNS server could answer for acme.io")


def test_a_dns_timeout_is_unknown_never_valid():
    with LocalDns(silent={"acme.io"}) as dns:
        result = verify_emails(["jane@acme.io"], None, dns.resolver(lifetime=0.3))["jane@acme.io"]
    assert (result.status, result.checked_by) == ("unknown", ("syntax",))
    assert result.reason.startswith("DNS timed out on acme.io")


def test_after_timeouts_on_several_domains_in_a_row_dns_is_not_asked_for_the_rest_of_the_batch():
    slow = {f"d{n}.example.com" for n in range(DNS_DOWN_AFTER + 2)}
    with LocalDns(silent=slow) as dns:
        verdicts = verify_emails([f"jane@{domain}" for domain in sorted(slow)], None, dns.resolver(lifetime=0.3))
        asked = {name for name, _ in dns.questions}
    assert len(asked) == DNS_DOWN_AFTER
    assert {verdict.status for verdict in verdicts.values()} == {"unknown"}


def test_the_default_resolver_gives_a_lookup_a_short_lifetime(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.53\n")
    assert default_resolver(str(conf)).lifetime == DNS_LIFETIME_SECONDS


def test_a_host_without_a_resolver_configuration_gets_unknown_verdicts_not_a_crash(tmp_path):
    resolver = default_resolver(str(tmp_path / "missing.conf"))
    assert verify_emails(["jane@acme.io"], None, resolver)["jane@acme.io"].status == "unknown"


# --- Hunter ---------------------------------------------------------------------------------------------------


def test_hunters_valid_makes_the_address_valid(dns, api, hunter):
    api.get(VERIFIER).respond(200, json=VALID)
    result = verify_emails(["patrick@acme.io"], hunter(), dns.resolver())["patrick@acme.io"]
    assert (result.status, result.checked_by) == ("valid", ("syntax", "mx", "hunter"))


def test_hunter_is_asked_about_the_normalised_address_with_the_tenants_key(dns, api, hunter):
    route = api.get(VERIFIER).respond(200, json=VALID)
    verify_emails(["Patrick@ACME.io"], hunter(), dns.resolver())
    request = route.calls.last.request
    assert (request.url.params["email"], request.headers["X-API-KEY"]) == ("patrick@acme.io", KEY)


def test_hunters_disposable_makes_the_address_invalid(dns, api, hunter):
    api.get(VERIFIER).respond(200, json=DISPOSABLE)
    result = verify_emails(["test@acme.io"], hunter(), dns.resolver())["test@acme.io"]
    assert (result.status, result.reason) == ("invalid", "hunter: disposable (a throwaway address)")


def test_hunters_accept_all_makes_the_address_risky(dns, api, hunter):
    api.get(VERIFIER).respond(200, json=hunter_says("accept_all"))
    assert verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"].status == "risky"


def test_a_hunter_answer_without_a_status_is_unknown(dns, api, hunter):
    api.get(VERIFIER).respond(200, json={"data": {"email": "jane@acme.io", "score": None}, "meta": {}})
    result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert (result.status, result.checked_by) == ("unknown", ("syntax", "mx"))
    assert result.reason.endswith("hunter gave no known status (got None)")


def test_hunters_202_is_asked_again_until_it_answers(dns, api, hunter, naps):
    api.get(VERIFIER).mock(side_effect=[httpx.Response(202), httpx.Response(202), httpx.Response(200, json=VALID)])
    result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert (result.status, len(naps)) == ("valid", 2)


def test_hunter_still_in_progress_after_its_polls_leaves_the_verdict_at_what_dns_said(dns, api, hunter):
    api.get(VERIFIER).respond(202)
    result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert (result.status, result.checked_by) == ("unknown", ("syntax", "mx"))
    assert "still in progress" in result.reason


def test_hunters_222_is_unknown_with_its_meaning(dns, api, hunter):
    api.get(VERIFIER).respond(222, json={"errors": [{"id": "verification_failed", "code": 222}]})
    result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert result.status == "unknown"
    assert result.reason.endswith("hunter could not verify: the mail server answered oddly (Hunter 222); try later")


def test_hunters_222_is_not_cached_so_the_next_run_asks_again(dns, api, hunter, conn):
    route = api.get(VERIFIER).respond(222)
    client = hunter(cache=RedisResponseCache(conn))
    verify_emails(["jane@acme.io"], client, dns.resolver())
    verify_emails(["jane@acme.io"], client, dns.resolver())
    assert route.call_count == 2


def test_hunters_222_costs_no_credit(dns, api, hunter, conn):
    api.get(VERIFIER).respond(222)
    verify_emails(["jane@acme.io"], hunter(meter=ledger(conn)), dns.resolver())
    assert hunter_credits(conn) == 0


def test_hunters_valid_answer_is_cached_and_charged(dns, api, hunter, conn):
    route = api.get(VERIFIER).respond(200, json=VALID)
    client = hunter(cache=RedisResponseCache(conn), meter=ledger(conn))
    verify_emails(["jane@acme.io"], client, dns.resolver())
    verify_emails(["jane@acme.io"], client, dns.resolver())
    assert (route.call_count, hunter_credits(conn)) == (1, 1)


def test_hunters_451_is_unknown_with_its_meaning(dns, api, hunter):
    api.get(VERIFIER).respond(451)
    result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert result.status == "unknown"
    assert result.reason.endswith("hunter may not verify: a personal-data restriction applies (Hunter 451)")


def test_without_a_verifier_an_address_whose_domain_takes_mail_is_unknown(dns):
    result = verify_emails(["jane@acme.io"], None, dns.resolver())["jane@acme.io"]
    assert (result.status, result.reason) == (
        "unknown", "acme.io takes mail (MX mx1.acme.io, mx2.acme.io); no mailbox verifier is configured")


def test_a_tenant_without_a_hunter_key_is_skipped_not_failed(dns, api, hunter):
    route = api.get(VERIFIER).respond(200, json=VALID)
    result = verify_emails(["jane@acme.io"], hunter(key=None), dns.resolver())["jane@acme.io"]
    assert (result.status, route.call_count) == ("unknown", 0)
    assert result.reason.endswith("hunter skipped: no API key")


def test_a_hunter_outage_leaves_the_verdict_at_what_dns_said(dns, api, hunter):
    api.get(VERIFIER).respond(503, json={"errors": [{"id": "server_error", "details": "Service unavailable"}]})
    result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert (result.status, result.checked_by) == ("unknown", ("syntax", "mx"))
    assert result.reason.endswith("no verdict from hunter (unavailable): HTTP 503: Service unavailable")


def test_after_a_hunter_outage_the_rest_of_the_batch_is_not_sent_to_hunter(dns, api, hunter):
    route = api.get(VERIFIER).respond(503)
    client = hunter()
    verdicts = verify_emails(["a@acme.io", "b@acme.io", "c@globex.com"], client, dns.resolver())
    assert route.call_count == client.spec.retry.attempts
    assert {verdict.status for verdict in verdicts.values()} == {"unknown"}


def test_a_refused_key_stops_hunter_for_the_rest_of_the_batch(dns, api, hunter):
    route = api.get(VERIFIER).respond(401, json={"errors": [{"id": "authentication_failed", "code": 401,
                                                             "details": "No user found for the API key supplied"}]})
    verdicts = verify_emails(["a@acme.io", "b@acme.io"], hunter(), dns.resolver())
    assert route.call_count == 1
    assert verdicts["b@acme.io"].reason.endswith("no verdict from hunter (refused): the API key was refused "
                                                 "(HTTP 401: No user found for the API key supplied)")


def test_an_open_circuit_leaves_the_verdict_at_what_dns_said(dns, api, hunter):
    route = api.get(VERIFIER).respond(200, json=VALID)
    result = verify_emails(["jane@acme.io"], hunter(breaker=OpenCircuit()), dns.resolver())["jane@acme.io"]
    assert (result.status, route.call_count) == ("unknown", 0)


def test_a_reached_cost_cap_leaves_the_verdict_at_what_dns_said(dns, api, hunter, conn):
    route = api.get(VERIFIER).respond(200, json=VALID)
    result = verify_emails(["jane@acme.io"], hunter(meter=ledger(conn, run_cap=0)), dns.resolver())["jane@acme.io"]
    assert (result.status, route.call_count) == ("unknown", 0)
    assert "no verdict from hunter (capped): " in result.reason


def test_a_request_hunter_refuses_for_one_address_does_not_stop_the_others(dns, api, hunter):
    api.get(VERIFIER, params={"email": "a@acme.io"}).respond(
        400, json={"errors": [{"id": "wrong_params", "code": 400, "details": "The email is invalid"}]})
    api.get(VERIFIER, params={"email": "b@acme.io"}).respond(200, json=VALID)
    verdicts = verify_emails(["a@acme.io", "b@acme.io"], hunter(), dns.resolver())
    assert (verdicts["a@acme.io"].status, verdicts["b@acme.io"].status) == ("unknown", "valid")


def test_the_same_address_twice_in_a_batch_is_sent_to_hunter_once(dns, api, hunter):
    route = api.get(VERIFIER).respond(200, json=VALID)
    verify_emails(["jane@acme.io", "Jane@acme.io"], hunter(), dns.resolver())
    assert route.call_count == 1


def test_hunters_valid_counts_when_dns_did_not_answer(api, hunter):
    api.get(VERIFIER).respond(200, json=VALID)
    with LocalDns(servfail={"acme.io"}) as dns:
        result = verify_emails(["jane@acme.io"], hunter(), dns.resolver())["jane@acme.io"]
    assert (result.status, result.checked_by) == ("valid", ("syntax", "hunter"))
