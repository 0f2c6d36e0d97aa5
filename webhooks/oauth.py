"""Install and uninstall SalesOS from an admin's browser: the OAuth redirects and callbacks.

The install keeps a random `state` (and, for Salesforce, the PKCE verifier) in
the signed session cookie, so only the browser that started an install can
finish it; each is used once. Codes, tokens and verifiers never reach a page
or a log line. The success page is reached by a redirect, so the code leaves
the address bar and a reload does not replay it. It shows a Salesforce org's
Outbound Message URL (its only credential) for a few minutes after the
install, to the browser that made it while that install is the org's latest:
a session cookie replayed later, or after another admin re-installed the org,
gets the page without it. A GET never makes, nor replaces, a URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import httpx
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask.sansio.blueprints import BlueprintSetupState

from agents.validation import clip, quote
from connector.oauth.config import CRM_NAMES, OAuthNotConfigured, oauth_app
from connector.oauth.endpoint import InvalidGrant
from connector.oauth.flows import (exchange_hubspot_code, exchange_salesforce_code, hubspot_authorize_url, revoke,
                                   salesforce_authorize_url)
from connector.oauth.pkce import new_state, new_verifier, same
from connector.settings import Settings
from connector.tenant_credentials import outbound_url, unreachable
from connector.tenants import Tenant, TenantStore, open_tenant_store, vault_keys
from connector.vault import VaultError, parse_keys
from crm_adapters.errors import CRMError, Retryable

log = logging.getLogger(__name__)
oauth = Blueprint("oauth", __name__, template_folder="templates")
_CRM = "<any(hubspot, salesforce):crm>"
_REMEMBERED_INSTALLS = 10  # tenants a browser may uninstall from its confirmation page
OUTBOUND_URL_SHOWN_FOR = dt.timedelta(minutes=5)  # time to paste it into Salesforce; `tenants outbound-url` after


@oauth.record_once
def _configure(state: BlueprintSetupState) -> None:
    """Sign the session with SALESOS_SESSION_SECRET; Lax cookies still come back on the CRM's redirect."""
    app = state.app
    settings: Settings = app.config["SALESOS_SETTINGS"]
    if settings.salesos_session_secret and settings.salesos_session_secret.get_secret_value():
        app.secret_key = settings.salesos_session_secret.get_secret_value()
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if settings.salesos_public_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True


@oauth.get(f"/oauth/{_CRM}/install")
def install(crm: str):
    """Send the admin to the CRM's consent page."""
    settings = _settings()
    problem = _not_ready(settings, crm)
    if problem:
        return _problem(503, "SalesOS is not set up for installs yet", problem,
                        "ask whoever runs SalesOS to set it and restart SalesOS, then open this link again.")
    app = oauth_app(settings, crm)
    state = new_state()
    flow = {"state": state}
    if crm == "hubspot":
        target = hubspot_authorize_url(app, state)
    else:
        flow["verifier"] = new_verifier()
        target = salesforce_authorize_url(app, state, flow["verifier"])
    session[_flow_key(crm)] = flow
    log.info("%s install started", crm)
    return redirect(target, 302)


@oauth.get(f"/oauth/{_CRM}/callback")
def callback(crm: str):
    """The CRM sends the admin back here with a code (or an error); exchange it and store the tenant."""
    name = CRM_NAMES[crm]
    if not current_app.secret_key:
        return _problem(503, "SalesOS is not set up for installs yet", _SESSION_SECRET_MISSING,
                        "ask whoever runs SalesOS to set it and restart SalesOS, then start the install again.")
    flow = session.pop(_flow_key(crm), None) or {}  # used once, whatever happens next
    error = request.args.get("error")
    if error:
        log.info("%s install: %s redirected back with error %s", crm, name, quote(error))
        return _refused(crm, error, request.args.get("error_description"))
    if not same(flow.get("state"), request.args.get("state")):
        log.warning("%s install: callback state missing or not this browser's; nothing exchanged", crm)
        return _problem(400, "This sign-in link was not started from this browser",
                        f"SalesOS only finishes an install in the browser that started it, and only once. "
                        f"This one has no matching install in progress, so nothing was connected to {name}.",
                        "start the install again from this browser.", crm)
    code = request.args.get("code")
    if not code:
        return _problem(400, f"{name} sent no authorization code", "Nothing was connected.",
                        "start the install again.", crm)
    settings = _settings()
    try:
        app = oauth_app(settings, crm)
        store = open_tenant_store(settings)
        with httpx.Client() as http:
            if crm == "hubspot":
                installation = exchange_hubspot_code(app, http, code)
            else:
                installation = exchange_salesforce_code(app, http, code, flow.get("verifier", ""))
        store.add(installation.tenant, installation.secrets)
    except (OAuthNotConfigured, VaultError) as exc:
        return _problem(503, "SalesOS is not set up for installs yet", str(exc),
                        "ask whoever runs SalesOS to fix this, then start the install again.")
    except InvalidGrant:
        return _problem(400, "This sign-in link has expired", f"{name} no longer accepts its one-time code "
                        f"(it is valid for a few minutes and only once). Nothing was connected.",
                        "start the install again.", crm)
    except Retryable as exc:
        log.warning("%s install: %s", crm, exc)
        return _problem(502, f"{name} did not answer", f"SalesOS could not finish the install: {exc}.",
                        "wait a minute, then start the install again.", crm)
    except (CRMError, ValueError) as exc:
        log.warning("%s install failed: %s", crm, exc)
        return _problem(502, f"{name} did not complete the install", str(exc),
                        "fix what the message says, or send it to SalesOS support, then start again.", crm)
    tenant = installation.tenant
    installed = [pair for pair in session.get("installed", []) if pair[0] != tenant.id]
    session["installed"] = (installed + [[tenant.id, installation.account, tenant.installed_at.isoformat()]]
                            )[-_REMEMBERED_INSTALLS:]
    log.info("tenant %s installed through OAuth", tenant.id)
    return redirect(url_for(".installed", crm=crm, tenant=tenant.id), 302)


@oauth.get(f"/oauth/{_CRM}/installed/<tenant>")
def installed(crm: str, tenant: str):
    account = _installed().get(tenant)
    if account is None or not tenant.startswith(f"{crm}-"):
        return _problem(404, "No install to show", "This browser has not installed SalesOS there.",
                        "start the install from this browser if you meant to.", crm)
    csrf = session.setdefault("csrf", secrets.token_urlsafe(32))
    try:
        outbound = _outbound_url(tenant) if crm == "salesforce" else None
    except VaultError as exc:
        return _problem(503, "SalesOS cannot open its token vault", str(exc),
                        "ask whoever runs SalesOS to fix this, then reload this page.")
    return render_template("oauth/installed.html", account=account, csrf=csrf, tenant=tenant,
                           outbound_url=outbound, unreachable=unreachable(_settings().salesos_public_url),
                           shown_for=int(OUTBOUND_URL_SHOWN_FOR.total_seconds() // 60),
                           uninstall_url=url_for(".uninstall", crm=crm, tenant=tenant))


def _outbound_url(tenant: str) -> str | None:
    """The org's Outbound Message URL, read only, for the browser that made the org's latest install, within
    OUTBOUND_URL_SHOWN_FOR of it (this page is theirs alone, never cached); None otherwise."""
    installed_at = _install_times().get(tenant)
    if installed_at is None or dt.datetime.now(dt.UTC) - installed_at > OUTBOUND_URL_SHOWN_FOR:
        return None
    settings = _settings()
    store = open_tenant_store(settings)
    record = store.get(tenant)
    if record is None or record.installed_at != installed_at:  # uninstalled, or installed again since
        return None
    token = store.outbound.current(tenant)
    return outbound_url(settings.salesos_public_url, token) if token else None


@oauth.post(f"/oauth/{_CRM}/uninstall/<tenant>")
def uninstall(crm: str, tenant: str):
    """Delete the tenant's tokens (and revoke its grant at the CRM). Only from the browser that installed it."""
    remembered = _installed()
    if tenant not in remembered or not tenant.startswith(f"{crm}-") or not same(session.get("csrf"),
                                                                                 request.form.get("csrf")):
        return _problem(403, "This browser cannot uninstall SalesOS there",
                        "Uninstalling from the web works only on the confirmation page of the browser that "
                        "installed SalesOS.",
                        "on the SalesOS server, run `python -m connector tenants list` to find the tenant id and "
                        "`python -m connector tenants remove <tenant id>` to uninstall it.")
    settings = _settings()
    try:
        store = open_tenant_store(settings)
    except VaultError as exc:
        return _problem(503, "SalesOS cannot open its token vault", str(exc),
                        "ask whoever runs SalesOS to fix this, then try again.")
    record = store.get(tenant)
    account = remembered[tenant]
    session["installed"] = [pair for pair in session.get("installed", []) if pair[0] != tenant]
    if record is None:
        return render_template("oauth/uninstalled.html", account=account, revoked=True)
    revoked = _revoke(settings, store, record)
    store.remove(tenant)
    log.info("tenant %s uninstalled from the web; its tokens are deleted", tenant)
    return render_template("oauth/uninstalled.html", account=account, revoked=revoked)


def _revoke(settings: Settings, store: TenantStore, record: Tenant) -> bool:
    """Best effort: the local tokens go either way, but the grant should die at the CRM too."""
    refresh_token = store.secret(record.id, "refresh_token")
    if record.auth != "oauth" or not refresh_token:
        return False
    try:
        with httpx.Client() as http:
            revoke(oauth_app(settings, record.crm), http, refresh_token, record.instance_url)
    except (CRMError, OAuthNotConfigured) as exc:
        log.warning("tenant %s: could not revoke its grant at the CRM: %s", record.id, exc)
        return False
    return True


_SESSION_SECRET_MISSING = (
    "SALESOS_SESSION_SECRET is not set. SalesOS signs the install's browser session with it, so that only the "
    "browser that starts an install can finish it. Generate one with "
    "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`."
)


def _not_ready(settings: Settings, crm: str) -> str | None:
    """What an operator must configure before an install can work, checked before the admin leaves for the CRM."""
    if not current_app.secret_key:
        return _SESSION_SECRET_MISSING
    try:
        oauth_app(settings, crm)
        parse_keys(vault_keys(settings))
    except (OAuthNotConfigured, VaultError) as exc:
        return str(exc)
    return None


def _refused(crm: str, error: str, description: str | None):
    name = CRM_NAMES[crm]
    if error == "access_denied":
        return _problem(200, "SalesOS was not installed",
                        f"Access to {name} was not granted (the consent screen was declined or closed), so SalesOS "
                        f"is not connected and nothing changed in {name}.",
                        f"to install SalesOS, start again and choose Allow or Connect. In {name}, installing "
                        f"needs a super admin (HubSpot) or an admin allowed to approve connected apps (Salesforce).",
                        crm)
    detail = f" ({clip(description)})" if description else ""
    return _problem(400, "SalesOS was not installed", f"{name} stopped the install with the error "
                    f"{quote(error)}{detail}. Nothing was connected.",
                    "start the install again; if the same error comes back, send it to SalesOS support.", crm)


def _problem(status: int, title: str, what: str, todo: str, crm: str | None = None):
    retry_url = url_for(".install", crm=crm) if crm else None
    return render_template("oauth/problem.html", title=title, what=what, todo=todo, retry_url=retry_url), status


def _installed() -> dict[str, str]:
    """Tenants this browser installed, by id, with the account name its pages show (oldest first)."""
    return {tenant: account for tenant, account, *_ in session.get("installed", [])}


def _install_times() -> dict[str, dt.datetime]:
    """When this browser installed each tenant (a session from before this was kept has none)."""
    return {tenant: dt.datetime.fromisoformat(at[0]) for tenant, _, *at in session.get("installed", []) if at}


def _flow_key(crm: str) -> str:
    return f"oauth_{crm}"


def _settings() -> Settings:
    return current_app.config["SALESOS_SETTINGS"]
