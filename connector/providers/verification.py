"""Email verification's I/O: the domains' mail hosts over DNS, then Hunter's email verifier.

`verify_emails` asks each layer only about what the cheaper ones left open
(`agents.verification.verdict` decides when to stop): DNS once per domain of
the batch (and once per run with a shared `mx_cache`), Hunter once per
address whose domain takes mail. DNS that does not answer gives `unknown`,
never `valid`; after a few timeouts in a row DNS is taken for down and the
batch's other domains are not asked, so a dead resolver costs seconds, not the
job. Hunter is skipped when the tenant has no key, and once it fails in a way
that is not about one address (outage, open circuit, cost cap, refused key,
spent quota) it is not asked again for the batch: those verdicts stay where
DNS left them.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import get_args

import dns.exception
import dns.name
import dns.resolver

from agents.validation import quote
from agents.verification import (
    MxResult, SyntaxResult, Verdict, VerifierResult, VerifierStatus, check_syntax, verdict,
)
from connector.providers.http.client import ProviderClient, Reply
from connector.providers.http.errors import ProviderCallError, RequestRefused
from connector.providers.http.spec import dig

DNS_LIFETIME_SECONDS = 3.0  # the longest one lookup may take, retries included
DNS_DOWN_AFTER = 3  # domains in a row whose lookup timed out: DNS is down, ask no more this batch
# Hunter's statuses that answer without a verdict.
_HUNTER_NO_VERDICT = {
    222: "could not verify: the mail server answered oddly (Hunter 222); try later",
    451: "may not verify: a personal-data restriction applies (Hunter 451)",
}


def default_resolver(resolv_conf: str = "/etc/resolv.conf") -> dns.resolver.Resolver:
    """The system's resolver, with a short lifetime: a slow DNS answer is an `unknown`, not a stalled job.

    A host without a resolver configuration gets one with no server: every domain is `unknown`, nothing fails."""
    try:
        resolver = dns.resolver.Resolver(filename=resolv_conf)
    except dns.resolver.NoResolverConfiguration:
        resolver = dns.resolver.Resolver(configure=False)
    resolver.lifetime = DNS_LIFETIME_SECONDS
    return resolver


def verify_emails(emails: Iterable[str], hunter: ProviderClient | None, resolver: dns.resolver.Resolver, *,
                  mx_cache: MutableMapping[str, MxResult] | None = None) -> dict[str, Verdict]:
    """A verdict per address, keyed as given. `hunter` None: no verifier configured for the tenant.

    `mx_cache` keeps each domain's answer across batches of one run (a fresh one per call when None)."""
    syntax = {email: check_syntax(email) for email in dict.fromkeys(emails)}
    domains = sorted({result.domain for result in syntax.values() if result.domain})
    by_domain = _lookup_domains(domains, resolver, {} if mx_cache is None else mx_cache)
    verifier = _Verifier(hunter)
    verdicts = {}
    for email, parsed in syntax.items():
        current = verdict(parsed)
        if current.status != "invalid":
            mx = by_domain[parsed.domain]
            current = verdict(parsed, mx)
            if current.status != "invalid":
                current = verdict(parsed, mx, verifier.check(parsed))
        verdicts[email] = current
    return verdicts


# --- layer 2: DNS -------------------------------------------------------------------------------------------


def _lookup_domains(domains: list[str], resolver: dns.resolver.Resolver,
                    cache: MutableMapping[str, MxResult]) -> dict[str, MxResult]:
    """Each domain's mail hosts, from the cache when known; an `unknown` is not cached (DNS may answer later)."""
    results, timeouts_in_a_row = {}, 0
    for domain in domains:
        if domain in cache:
            results[domain] = cache[domain]
        elif timeouts_in_a_row >= DNS_DOWN_AFTER:
            results[domain] = MxResult(domain=domain, status="unknown", reason=f"DNS not asked about {domain}: "
                                       f"{DNS_DOWN_AFTER} lookups in a row timed out")
        else:
            try:
                results[domain] = mail_hosts(domain, resolver)
                timeouts_in_a_row = 0
            except dns.exception.Timeout:
                results[domain] = MxResult(domain=domain, status="unknown", reason=f"DNS timed out on {domain}")
                timeouts_in_a_row += 1
            if results[domain].status != "unknown":
                cache[domain] = results[domain]
    return results


def mail_hosts(domain: str, resolver: dns.resolver.Resolver) -> MxResult:
    """Where `domain`'s mail goes: its MX hosts by preference; a lone null MX (RFC 7505: preference 0, host '.')
    refuses all mail. Raises `dns.exception.Timeout` when DNS does not answer in the resolver's lifetime."""
    try:
        name = dns.name.from_text(domain)
        try:
            answer = resolver.resolve(name, "MX", search=False)
        except dns.resolver.NoAnswer:
            return _implicit_mx(domain, name, resolver)
    except dns.resolver.NXDOMAIN:
        return MxResult(domain=domain, status="no_domain", reason=f"{domain} does not exist (NXDOMAIN)")
    except dns.exception.Timeout:
        raise
    except dns.resolver.NoNameservers:
        return MxResult(domain=domain, status="unknown", reason=f"no DNS server could answer for {domain} "
                                                                "(e.g. SERVFAIL)")
    except dns.exception.DNSException as exc:
        return MxResult(domain=domain, status="unknown",
                        reason=f"DNS gave no usable answer for {domain} ({type(exc).__name__})")
    hosts = tuple(record.exchange.to_text(omit_final_dot=True)
                  for record in sorted(answer, key=lambda record: record.preference)
                  if record.exchange != dns.name.root)
    if not hosts:
        return MxResult(domain=domain, status="null_mx", reason=f"{domain} accepts no mail (null MX, RFC 7505)")
    return MxResult(domain=domain, status="accepts_mail", hosts=hosts,
                    reason=f"{domain} takes mail (MX {', '.join(hosts[:3])})")


def _implicit_mx(domain: str, name: dns.name.Name, resolver: dns.resolver.Resolver) -> MxResult:
    """No MX: the domain's own address takes its mail, if it has one (RFC 5321 5.1, the implicit MX)."""
    for rdtype in ("A", "AAAA"):
        try:
            resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NoAnswer:
            continue
        return MxResult(domain=domain, status="accepts_mail", hosts=(domain,),
                        reason=f"{domain} takes mail at its own address (no MX; an {rdtype} record)")
    return MxResult(domain=domain, status="no_mail_host",
                    reason=f"{domain} has no MX, A or AAAA record: no host takes its mail")


# --- layer 3: the mailbox verifier ------------------------------------------------------------------------------


class _Verifier:
    """Hunter's email verifier for one batch: one call per address, none after a failure that is not the address's."""

    def __init__(self, client: ProviderClient | None) -> None:
        self._client = client
        self._answers: dict[str, VerifierResult] = {}
        self._gave_up: VerifierResult | None = None

    def check(self, syntax: SyntaxResult) -> VerifierResult | None:
        if self._client is None:
            return None
        email = syntax.normalized or syntax.email
        if self._gave_up is not None:
            return self._gave_up
        if email not in self._answers:
            self._answers[email] = self._ask(email)
        return self._answers[email]

    def _ask(self, email: str) -> VerifierResult:
        provider = self._client.spec.name
        try:
            reply = self._client.call("email_verifier", params={"email": email})
        except RequestRefused as exc:  # about this address alone (400, 422): the others may still be checked
            return VerifierResult(provider=provider, reason=f"{provider} refused to check it: {exc.reason}")
        except ProviderCallError as exc:
            self._gave_up = VerifierResult(provider=provider, reason=_not_checked(provider, exc))
            return self._gave_up
        return _hunter_result(provider, reply)


def _hunter_result(provider: str, reply: Reply) -> VerifierResult:
    """Hunter's answer: `data.status` of a 200; 222 and 451 answer without a verdict."""
    if reply.status in _HUNTER_NO_VERDICT:
        return VerifierResult(provider=provider, reason=f"{provider} {_HUNTER_NO_VERDICT[reply.status]}")
    status = dig(reply.body, "data.status")
    if status not in get_args(VerifierStatus):
        return VerifierResult(provider=provider, reason=f"{provider} gave no known status (got {quote(status)})")
    return VerifierResult(provider=provider, status=status, reason=f"{provider}: {status}")


def _not_checked(provider: str, exc: ProviderCallError) -> str:
    if exc.kind == "skipped":
        return f"{provider} skipped: {exc.reason}"
    return f"no verdict from {provider} ({exc.kind}): {exc.reason}"
