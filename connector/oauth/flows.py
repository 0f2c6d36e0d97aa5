"""The install flows: authorize URLs, exchanging a code for tokens, learning which portal or org it was.

Pure where it can be (URL building), one httpx call per step where it cannot.
HubSpot gets `state`; Salesforce gets `state` and PKCE (S256), as its docs
recommend. HubSpot's authorize page documents no `code_challenge`, so none is
sent there: the client secret and `state` protect that exchange.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import httpx

from connector.oauth.config import SALESFORCE_SCOPES, OAuthApp
from connector.oauth.endpoint import post_form
from connector.oauth.pkce import challenge
from connector.oauth.responses import HubSpotTokenInfo, HubSpotTokens, SalesforceTokens, TokenResponseInvalid, parse
from connector.tenants import Tenant, check_external_id, tenant_id
from crm_adapters.manifests import HUBSPOT_SCOPES

Clock = Callable[[], dt.datetime]
# Not a secret, but per tenant like one: the Salesforce user SalesOS writes as. The Outbound Message
# endpoint reads it to recognise SalesOS's own changes (LastModifiedById).
INTEGRATION_USER = "integration_user_id"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Installation:
    """A tenant and the secrets to store for it; `account` is what the admin sees (never a token)."""

    tenant: Tenant
    secrets: dict[str, str] = field(repr=False)
    account: str


def hubspot_authorize_url(app: OAuthApp, state: str) -> str:
    """The scopes are the app's required scopes (`app-hsmeta.json`): HubSpot errors if any is missing."""
    query = {"client_id": app.client_id, "redirect_uri": app.redirect_uri, "scope": " ".join(HUBSPOT_SCOPES),
             "state": state}
    return f"{app.authorize_url}?{urlencode(query, quote_via=quote)}"


def salesforce_authorize_url(app: OAuthApp, state: str, verifier: str) -> str:
    """Salesforce's `code_challenge` is always SHA-256 (its docs list no method parameter)."""
    query = {"response_type": "code", "client_id": app.client_id, "redirect_uri": app.redirect_uri,
             "scope": " ".join(SALESFORCE_SCOPES), "state": state, "code_challenge": challenge(verifier)}
    return f"{app.authorize_url}?{urlencode(query, quote_via=quote)}"


def expires_at(expires_in: int | None, clock: Clock = _utcnow) -> str | None:
    return (clock() + dt.timedelta(seconds=expires_in)).isoformat() if expires_in else None


def token_secrets(access_token: str, refresh_token: str | None, expires_in: int | None,
                  clock: Clock = _utcnow) -> dict[str, str]:
    """The vault entries for a token response; refresh token first, it is the one that cannot be re-fetched."""
    secrets = {"refresh_token": refresh_token} if refresh_token else {}
    secrets["access_token"] = access_token
    expiry = expires_at(expires_in, clock)
    if expiry:
        secrets["expires_at"] = expiry
    return secrets


def exchange_hubspot_code(app: OAuthApp, http: httpx.Client, code: str, clock: Clock = _utcnow) -> Installation:
    what = "HubSpot's token endpoint"
    body = post_form(http, app.token_url(), {
        "grant_type": "authorization_code", "client_id": app.client_id, "client_secret": app.client_secret,
        "redirect_uri": app.redirect_uri, "code": code,
    }, what)
    tokens = parse(HubSpotTokens, body, what)
    if tokens.refresh_token is None:
        raise TokenResponseInvalid(f"{what} answered without a refresh token, so SalesOS could not stay connected")
    access = tokens.access_token.get_secret_value()
    hub_id, domain = tokens.hub_id, None
    if hub_id is None:  # responses before 2025-08 carry no hub_id: ask the introspection endpoint
        info = hubspot_token_info(app, http, access)
        hub_id, domain = info.hub_id, info.hub_domain
    portal = check_external_id("hubspot", str(hub_id))
    tenant = Tenant(id=tenant_id("hubspot", portal), crm="hubspot", external_id=portal, auth="oauth",
                    installed_at=clock())
    account = f"HubSpot portal {portal}" + (f" ({domain})" if domain else "")
    return Installation(tenant, token_secrets(access, tokens.refresh_token.get_secret_value(), tokens.expires_in,
                                              clock), account)


def hubspot_token_info(app: OAuthApp, http: httpx.Client, access_token: str) -> HubSpotTokenInfo:
    """The portal an access token belongs to. A POST body, not the v1 URL path, so the token stays out of logs."""
    what = "HubSpot's token introspection endpoint"
    body = post_form(http, app.introspect_url, {
        "client_id": app.client_id, "client_secret": app.client_secret, "token": access_token,
        "token_type_hint": "access_token",
    }, what)
    return parse(HubSpotTokenInfo, body, what)


def exchange_salesforce_code(app: OAuthApp, http: httpx.Client, code: str, verifier: str,
                             clock: Clock = _utcnow) -> Installation:
    what = "Salesforce's token endpoint"
    body = post_form(http, app.token_url(), {
        "grant_type": "authorization_code", "client_id": app.client_id, "client_secret": app.client_secret,
        "redirect_uri": app.redirect_uri, "code": code, "code_verifier": verifier,
    }, what)
    tokens = parse(SalesforceTokens, body, what)
    if tokens.refresh_token is None:
        raise TokenResponseInvalid(
            f"{what} answered without a refresh token: add the scope 'Perform requests at any time "
            f"(refresh_token, offline_access)' to the SalesOS connected app, then install again"
        )
    org = check_external_id("salesforce", tokens.org_id)
    tenant = Tenant(id=tenant_id("salesforce", org), crm="salesforce", external_id=org,
                    instance_url=tokens.instance_url, auth="oauth", installed_at=clock())
    secrets = token_secrets(tokens.access_token.get_secret_value(), tokens.refresh_token.get_secret_value(),
                            tokens.expires_in, clock)
    secrets[INTEGRATION_USER] = tokens.user_id
    return Installation(tenant, secrets, f"Salesforce org {org} ({tokens.instance_url})")


def revoke(app: OAuthApp, http: httpx.Client, token: str, instance_url: str | None = None) -> None:
    """Revoke a refresh token at the CRM, so a copy of it (a backup, a leak) stops working too."""
    form = {"token": token, "token_type_hint": "refresh_token"}
    if app.crm == "hubspot":
        form |= {"client_id": app.client_id, "client_secret": app.client_secret}
    post_form(http, app.revoke_url(instance_url), form, f"{app.name}'s token revocation endpoint", expect_json=False)
