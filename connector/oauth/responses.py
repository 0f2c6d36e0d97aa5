"""What the token endpoints answer, parsed strictly enough to fail with a useful message.

Tokens are `SecretStr` so a stray repr or log line shows `**********`, and
validation errors are reported by field and rule only: pydantic would
otherwise echo the whole response, tokens included, as the "input value".
"""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from agents.validation import clip
from crm_adapters.errors import RequestRejected

_IDENTITY = re.compile(r"/id/(00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)/([A-Za-z0-9]{15,18})/?$")
M = TypeVar("M", bound=BaseModel)


class TokenResponseInvalid(RequestRejected):
    """The token endpoint answered 2xx with a body SalesOS cannot use."""


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class HubSpotTokens(_Response):
    """POST /oauth/2026-03/token; `hub_id` and `scopes` are returned since 2025-08-18."""

    access_token: SecretStr = Field(min_length=1)
    refresh_token: SecretStr | None = None
    expires_in: int = Field(gt=0)
    hub_id: int | None = None
    scopes: list[str] = Field(default_factory=list)


class HubSpotTokenInfo(_Response):
    """POST /oauth/2026-03/token/introspect: the same names as the v1 access-token metadata."""

    hub_id: int
    hub_domain: str | None = None
    user: str | None = None


class SalesforceTokens(_Response):
    """POST /services/oauth2/token: no expires_in (the org's session timeout decides), maybe no refresh_token."""

    access_token: SecretStr = Field(min_length=1)
    refresh_token: SecretStr | None = None
    instance_url: str
    id: str
    expires_in: int | None = Field(default=None, gt=0)

    @field_validator("instance_url")
    @classmethod
    def _https(cls, url: str) -> str:
        if not url.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return url.rstrip("/")

    @field_validator("id")
    @classmethod
    def _identity_url(cls, url: str) -> str:
        if not _IDENTITY.search(url):
            raise ValueError("must be an identity URL ending /id/<org id 00D...>/<user id>")
        return url

    @property
    def org_id(self) -> str:
        return _IDENTITY.search(self.id).group(1)

    @property
    def user_id(self) -> str:
        """The user who granted access: SalesOS writes as them, so their id marks SalesOS's own changes."""
        return _IDENTITY.search(self.id).group(2)


class TokenError(_Response):
    """RFC 6749 §5.2 errors, plus HubSpot's legacy `status`/`message` pair."""

    error: str | None = None
    error_description: str | None = None
    status: str | None = None
    message: str | None = None

    @property
    def invalid_grant(self) -> bool:
        return self.error == "invalid_grant" or self.status == "BAD_REFRESH_TOKEN"

    def describe(self) -> str:
        code = self.error or self.status or "error"
        text = self.error_description or self.message
        return f"{code}: {clip(text, 200)}" if text else code


def parse(model: type[M], body: object, what: str) -> M:
    """`model` from a decoded JSON body, or TokenResponseInvalid naming each bad field and rule."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise TokenResponseInvalid(f"{what} answered with a response SalesOS cannot use ({problems})") from None
