"""Is an email address worth sending to? One verdict from three layers, cheapest first.

1. Syntax (email-validator, no network): a malformed address is `invalid`.
2. The domain's mail hosts (DNS): a domain that does not exist, refuses mail
   (a null MX, RFC 7505) or has no host to take it (no MX, A or AAAA) is
   `invalid`; DNS that does not answer proves nothing, so it is `unknown`.
3. A mailbox verifier (Hunter): only its `valid` makes an address `valid`.

Each layer can stop the chain: once a verdict is `invalid` the dearer layers
are not asked (`verdict` of the layers so far says so). The layers' answers
are gathered by `connector/providers/verification.py`; this module only
decides, so every rule is testable without a network.
"""

from __future__ import annotations

from typing import Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field

from agents.validation import clip, quote

VerdictStatus = Literal["valid", "invalid", "risky", "unknown"]
MxStatus = Literal["accepts_mail", "no_domain", "null_mx", "no_mail_host", "unknown"]
VerifierStatus = Literal["valid", "invalid", "accept_all", "webmail", "disposable", "unknown"]

_REFUSES_MAIL = frozenset({"no_domain", "null_mx", "no_mail_host"})
# What each verifier status means for a B2B contact, and why.
_VERIFIER_VERDICTS: dict[str, tuple[VerdictStatus, str]] = {
    "valid": ("valid", "the mailbox exists"),
    "invalid": ("invalid", "the mail server refuses this address"),
    "disposable": ("invalid", "a throwaway address"),
    "accept_all": ("risky", "the domain accepts every address, so this one cannot be confirmed"),
    "webmail": ("risky", "a personal webmail address, not a work address"),
    "unknown": ("unknown", "the mail server would not say"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SyntaxResult(_Frozen):
    email: str = Field(description="as given")
    normalized: str | None = Field(default=None, description="lower case, Unicode-normalised; None when malformed")
    domain: str | None = Field(default=None, description="the ASCII (IDNA) domain, what DNS is asked about")
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


class MxResult(_Frozen):
    """Where the domain's mail goes, as DNS said (or did not)."""

    domain: str
    status: MxStatus
    hosts: tuple[str, ...] = Field(default=(), description="mail hosts by preference; the domain itself "
                                                           "when it has no MX but an address (implicit MX)")
    reason: str


class VerifierResult(_Frozen):
    """A mailbox verifier's answer; `status` None when it gave none (not configured, down, could not check)."""

    provider: str
    status: VerifierStatus | None = None
    reason: str


class Verdict(_Frozen):
    email: str = Field(description="the normalised address (as given when malformed)")
    status: VerdictStatus
    reason: str
    checked_by: tuple[str, ...] = Field(description="the layers that answered: syntax, mx, the verifier's name")

    @property
    def verified(self) -> bool:
        """What the CRM's `email_verified` holds: true for `valid` only."""
        return self.status == "valid"

    @property
    def detail(self) -> str:
        """One line for a CRM or report field, e.g. 'risky: hunter: accept_all (...) [syntax, mx, hunter]'."""
        return f"{self.status}: {self.reason} [{', '.join(self.checked_by)}]"


def check_syntax(raw: str | None) -> SyntaxResult:
    """Layer 1: the address parsed and normalised, without any network lookup."""
    try:
        parsed = validate_email(raw or "", check_deliverability=False)
    except EmailNotValidError as exc:
        return SyntaxResult(email=raw or "", problem=f"invalid email {quote(raw)}: {clip(str(exc))}")
    return SyntaxResult(email=raw or "", normalized=parsed.normalized.lower(), domain=parsed.ascii_domain.lower())


def verdict(syntax: SyntaxResult, mx: MxResult | None = None, verifier: VerifierResult | None = None) -> Verdict:
    """The verdict of the layers answered so far: `invalid` means stop, ask no dearer layer.

    `mx` None: not looked up yet. `verifier` None: none is configured for the tenant."""
    if not syntax.valid:
        return Verdict(email=syntax.email, status="invalid", reason=syntax.problem or "", checked_by=("syntax",))
    email = syntax.normalized or syntax.email
    if mx is None:
        return Verdict(email=email, status="unknown", reason="the mail domain is not checked yet",
                       checked_by=("syntax",))
    checked = ("syntax",) if mx.status == "unknown" else ("syntax", "mx")
    if mx.status in _REFUSES_MAIL:
        return Verdict(email=email, status="invalid", reason=mx.reason, checked_by=checked)
    if verifier is None:
        return Verdict(email=email, status="unknown", checked_by=checked,
                       reason=f"{mx.reason}; no mailbox verifier is configured")
    if verifier.status is None:
        return Verdict(email=email, status="unknown", checked_by=checked, reason=f"{mx.reason}; {verifier.reason}")
    status, meaning = _VERIFIER_VERDICTS[verifier.status]
    return Verdict(email=email, status=status, checked_by=(*checked, verifier.provider),
                   reason=f"{verifier.provider}: {verifier.status} ({meaning})")
