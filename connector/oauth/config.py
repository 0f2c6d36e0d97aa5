"""Which OAuth app SalesOS is, per CRM: credentials from the settings, endpoint URLs.

Kept in one place so the install routes, the refresh path and the manifests
agree on the redirect URI (`{SALESOS_PUBLIC_URL}/oauth/<crm>/callback`, the
same one `crm_adapters.manifests` writes into the HubSpot app and the
Salesforce connected app).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.settings import Settings
from connector.tenants import Crm

# The date-versioned endpoints: /oauth/v1/* is sunset on 2027-02-16 and puts tokens in URLs.
HUBSPOT_TOKEN_PATH = "/oauth/2026-03/token"
HUBSPOT_INTROSPECT_PATH = "/oauth/2026-03/token/introspect"
HUBSPOT_REVOKE_PATH = "/oauth/2026-03/token/revoke"
SALESFORCE_AUTHORIZE_PATH = "/services/oauth2/authorize"
SALESFORCE_TOKEN_PATH = "/services/oauth2/token"
SALESFORCE_REVOKE_PATH = "/services/oauth2/revoke"
SALESFORCE_SCOPES = ("api", "refresh_token")
CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


class OAuthNotConfigured(RuntimeError):
    """SalesOS has no client id/secret for this CRM: an operator must set them."""


@dataclass(frozen=True)
class OAuthApp:
    crm: Crm
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    authorize_url: str
    api_base_url: str  # HubSpot's API host; Salesforce's login host (token calls may go to the org instead)

    @property
    def name(self) -> str:
        return CRM_NAMES[self.crm]

    def token_url(self, instance_url: str | None = None) -> str:
        if self.crm == "hubspot":
            return self.api_base_url + HUBSPOT_TOKEN_PATH
        return (instance_url or self.api_base_url) + SALESFORCE_TOKEN_PATH

    def revoke_url(self, instance_url: str | None = None) -> str:
        if self.crm == "hubspot":
            return self.api_base_url + HUBSPOT_REVOKE_PATH
        return (instance_url or self.api_base_url) + SALESFORCE_REVOKE_PATH

    @property
    def introspect_url(self) -> str:
        return self.api_base_url + HUBSPOT_INTROSPECT_PATH


def oauth_app(settings: Settings, crm: Crm) -> OAuthApp:
    """The OAuth app for `crm`, or OAuthNotConfigured naming the variables to set."""
    prefix = crm.upper()
    client_id = getattr(settings, f"{crm}_client_id")
    secret = getattr(settings, f"{crm}_client_secret")
    if not client_id or secret is None or not secret.get_secret_value():
        where = ("your HubSpot app's Auth page" if crm == "hubspot"
                 else "your Salesforce connected app (Consumer Key and Consumer Secret)")
        raise OAuthNotConfigured(
            f"{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET must be set to install SalesOS into "
            f"{CRM_NAMES[crm]}: copy them from {where}"
        )
    public = settings.salesos_public_url.rstrip("/")
    if crm == "hubspot":
        authorize, base = settings.hubspot_authorize_url, settings.hubspot_api_base_url.rstrip("/")
    else:
        base = settings.salesforce_login_url.rstrip("/")
        authorize = base + SALESFORCE_AUTHORIZE_PATH
    return OAuthApp(crm=crm, client_id=client_id, client_secret=secret.get_secret_value(),
                    redirect_uri=f"{public}/oauth/{crm}/callback", authorize_url=authorize, api_base_url=base)
