"""The email verdict: which layer's answer makes an address valid, invalid, risky or unknown."""

import pytest

from agents.verification import MxResult, VerifierResult, check_syntax, verdict

TAKES_MAIL = MxResult(domain="acme.io", status="accepts_mail", hosts=("mx1.acme.io",),
                      reason="acme.io takes mail (MX mx1.acme.io)")
DNS_SILENT = MxResult(domain="acme.io", status="unknown", reason="DNS timed out on acme.io")


def hunter(status=None, reason="hunter: answered"):
    return VerifierResult(provider="hunter", status=status, reason=reason)


def test_a_malformed_address_is_invalid_with_the_parsers_reason():
    result = verdict(check_syntax("jane@"))
    assert (result.status, result.checked_by) == ("invalid", ("syntax",))
    assert result.reason.startswith("invalid email 'jane@': There must be something after the @-sign")


def test_syntax_gives_the_lower_case_address_and_the_ascii_domain_dns_is_asked_about():
    parsed = check_syntax("Jane.Roe@München.DE")
    assert (parsed.normalized, parsed.domain) == ("jane.roe@münchen.de", "xn--mnchen-3ya.de")


def test_an_address_with_good_syntax_is_not_judged_before_its_domain_is_looked_up():
    assert verdict(check_syntax("jane@acme.io")).status == "unknown"


@pytest.mark.parametrize("status", ["no_domain", "null_mx", "no_mail_host"])
def test_a_domain_that_takes_no_mail_makes_the_address_invalid(status):
    mx = MxResult(domain="acme.io", status=status, reason=f"acme.io: {status}")
    result = verdict(check_syntax("jane@acme.io"), mx)
    assert (result.status, result.reason, result.checked_by) == ("invalid", f"acme.io: {status}", ("syntax", "mx"))


def test_a_domain_that_takes_no_mail_stops_the_chain_whatever_a_verifier_says():
    mx = MxResult(domain="acme.io", status="null_mx", reason="acme.io accepts no mail")
    assert verdict(check_syntax("jane@acme.io"), mx, hunter("valid")).status == "invalid"


def test_a_domain_that_takes_mail_is_unknown_without_a_verifier():
    result = verdict(check_syntax("jane@acme.io"), TAKES_MAIL)
    assert (result.status, result.checked_by) == ("unknown", ("syntax", "mx"))
    assert result.reason == "acme.io takes mail (MX mx1.acme.io); no mailbox verifier is configured"


def test_dns_without_an_answer_is_unknown_and_not_counted_as_checked():
    result = verdict(check_syntax("jane@acme.io"), DNS_SILENT)
    assert (result.status, result.checked_by) == ("unknown", ("syntax",))


def test_only_the_verifiers_valid_makes_an_address_valid():
    result = verdict(check_syntax("jane@acme.io"), TAKES_MAIL, hunter("valid"))
    assert (result.status, result.checked_by) == ("valid", ("syntax", "mx", "hunter"))


def test_the_verifiers_valid_counts_when_dns_did_not_answer():
    result = verdict(check_syntax("jane@acme.io"), DNS_SILENT, hunter("valid"))
    assert (result.status, result.checked_by) == ("valid", ("syntax", "hunter"))


@pytest.mark.parametrize("status", ["invalid", "disposable"])
def test_an_address_the_verifier_calls_invalid_or_disposable_is_invalid(status):
    assert verdict(check_syntax("jane@acme.io"), TAKES_MAIL, hunter(status)).status == "invalid"


def test_an_accept_all_domain_is_risky():
    result = verdict(check_syntax("jane@acme.io"), TAKES_MAIL, hunter("accept_all"))
    assert result.status == "risky"
    assert result.reason == "hunter: accept_all (the domain accepts every address, so this one cannot be confirmed)"


def test_a_webmail_address_is_risky_for_a_b2b_contact():
    result = verdict(check_syntax("jane.roe@gmail.com"), TAKES_MAIL, hunter("webmail"))
    assert (result.status, result.reason) == ("risky", "hunter: webmail (a personal webmail address, not a work address)")


def test_the_verifiers_unknown_is_unknown():
    result = verdict(check_syntax("jane@acme.io"), TAKES_MAIL, hunter("unknown"))
    assert (result.status, result.checked_by) == ("unknown", ("syntax", "mx", "hunter"))


def test_a_verifier_without_a_verdict_leaves_what_dns_said_with_its_reason():
    result = verdict(check_syntax("jane@acme.io"), TAKES_MAIL, hunter(None, "no verdict from hunter (unavailable): HTTP 503"))
    assert (result.status, result.checked_by) == ("unknown", ("syntax", "mx"))
    assert result.reason == "acme.io takes mail (MX mx1.acme.io); no verdict from hunter (unavailable): HTTP 503"


@pytest.mark.parametrize("status, verified", [("valid", True), ("accept_all", False), ("webmail", False),
                                              ("unknown", False), ("invalid", False)])
def test_verified_is_true_for_a_valid_verdict_only(status, verified):
    assert verdict(check_syntax("jane@acme.io"), TAKES_MAIL, hunter(status)).verified is verified


def test_the_detail_line_says_the_status_the_reason_and_the_layers_that_answered():
    result = verdict(check_syntax("jane@acme.io"), TAKES_MAIL, hunter("unknown"))
    assert result.detail == "unknown: hunter: unknown (the mail server would not say) [syntax, mx, hunter]"
