"""Access tokens for workers: refreshed before they expire, once per tenant across every worker.

Many workers on many machines share one tenant. HubSpot and Salesforce may
rotate the refresh token on each refresh, invalidating the old one, so two
workers refreshing at once could leave the loser holding a dead token. Every
refresh therefore runs under a Redis lock per tenant and re-reads the vault
once it holds the lock: whoever waited finds the new token and uses it
instead of refreshing again.

A dead grant (`invalid_grant`, or a rejected private-app token) marks the
tenant `needs_reinstall` and raises `GrantRevoked` with what the admin must
do; from then on the tenant fails fast without calling the CRM.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import httpx
import redis
from redis.exceptions import LockError

from connector.oauth.config import CRM_NAMES, oauth_app
from connector.oauth.endpoint import InvalidGrant, post_form
from connector.oauth.flows import token_secrets
from connector.oauth.responses import HubSpotTokens, SalesforceTokens, parse
from connector.settings import Settings
from connector.tenants import Tenant, TenantStore
from crm_adapters.errors import GrantRevoked, Transient

log = logging.getLogger(__name__)

REFRESH_MARGIN = dt.timedelta(minutes=5)  # refresh this long before expiry: a batch must not outlive its token
LOCK_TIMEOUT = 60.0  # seconds: the lock frees itself if its holder dies (the request times out at 20 s)
LOCK_WAIT = 30.0  # seconds a worker waits for another worker's refresh before giving up for now


class TenantTokens:
    """The `TokenSource` of one tenant (see `crm_adapters.calls`)."""

    def __init__(self, tenant_id: str, store: TenantStore, conn: redis.Redis, settings: Settings,
                 http: httpx.Client, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.tenant_id = tenant_id
        self._store, self._conn, self._settings, self._http, self._clock = store, conn, settings, http, clock

    def access_token(self) -> str:
        """The stored token, refreshed first if it expires within REFRESH_MARGIN."""
        tenant = self._tenant()
        token = self._store.secret(tenant.id, "access_token")
        if tenant.auth == "private_app":
            if token is None:
                raise self._revoked(tenant, "no private-app token is stored")
            return token
        if token is not None and self._fresh(tenant):
            return token
        return self._refresh(lambda current, token: token is not None and self._fresh(current))

    def refresh_after_failure(self, rejected: str) -> str:
        """A new token after the CRM refused `rejected`, unless another worker already replaced it."""
        tenant = self._tenant()
        current = self._store.secret(tenant.id, "access_token")
        if current is not None and current != rejected:
            return current
        if tenant.auth == "private_app":
            raise self._revoked(tenant, "private-app token was rejected")
        return self._refresh(lambda _, token: token is not None and token != rejected)

    def _tenant(self) -> Tenant:
        tenant = self._store.get(self.tenant_id)
        if tenant is None:
            raise GrantRevoked(f"tenant {self.tenant_id!r} is not installed (it may have been uninstalled)")
        if tenant.status == "needs_reinstall":
            raise GrantRevoked(f"{self._account(tenant)} needs re-installing ({tenant.status_reason}); "
                               f"{self._what_to_do(tenant)}")
        return tenant

    def _fresh(self, tenant: Tenant) -> bool:
        expires_at = self._store.secret(tenant.id, "expires_at")
        if expires_at is None:
            # Salesforce never says when a token expires (the org's session timeout does): use it until refused.
            # A HubSpot token of unknown age (registered by hand) is refreshed: they live 30 minutes.
            return tenant.crm == "salesforce"
        return dt.datetime.fromisoformat(expires_at) - self._clock() > REFRESH_MARGIN

    def _refresh(self, still_good: Callable[[Tenant, str | None], bool]) -> str:
        """Refresh under the tenant's lock, unless the vault already holds a token `still_good` accepts."""
        lock = self._conn.lock(f"salesos:token-refresh:{self.tenant_id}", timeout=LOCK_TIMEOUT,
                               blocking_timeout=LOCK_WAIT)
        if not lock.acquire():
            tenant = self._tenant()
            token = self._store.secret(tenant.id, "access_token")
            if still_good(tenant, token):
                return token
            raise Transient(f"another worker has been refreshing the token of {tenant.id} for over "
                            f"{LOCK_WAIT:.0f}s; trying again later", retry_after=LOCK_WAIT)
        try:
            tenant = self._tenant()  # another worker may have found the grant revoked meanwhile
            token = self._store.secret(tenant.id, "access_token")
            if still_good(tenant, token):
                log.debug("tenant %s: another worker refreshed the token; using it", tenant.id)
                return token
            return self._call_token_endpoint(tenant)
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("tenant %s: the token refresh outlived its %.0fs lock", self.tenant_id, LOCK_TIMEOUT)

    def _call_token_endpoint(self, tenant: Tenant) -> str:
        refresh_token = self._store.secret(tenant.id, "refresh_token")
        if not refresh_token:
            raise self._revoked(tenant, "no refresh token is stored")
        app = oauth_app(self._settings, tenant.crm)
        what = f"{app.name}'s token endpoint"
        form = {"grant_type": "refresh_token", "client_id": app.client_id, "client_secret": app.client_secret,
                "refresh_token": refresh_token}
        try:
            body = post_form(self._http, app.token_url(tenant.instance_url), form, what)
        except InvalidGrant as exc:
            raise self._revoked(tenant, f"{app.name} refused the refresh token ({exc})") from None
        if tenant.crm == "hubspot":
            tokens = parse(HubSpotTokens, body, what)
        else:
            tokens = parse(SalesforceTokens, body, what)
            tenant = tenant.model_copy(update={"instance_url": tokens.instance_url})
        access = tokens.access_token.get_secret_value()
        rotated = tokens.refresh_token.get_secret_value() if tokens.refresh_token else None
        # One write for tenant and tokens; a refresh token the CRM did not rotate stays as it is.
        self._store.add(tenant, token_secrets(access, rotated, tokens.expires_in, self._clock))
        log.info("tenant %s: access token refreshed%s", tenant.id, " (refresh token rotated)" if rotated else "")
        return access

    def _revoked(self, tenant: Tenant, reason: str) -> GrantRevoked:
        """Mark the tenant so every worker stops at once, and say what the admin must do."""
        self._store.mark_needs_reinstall(tenant.id, reason)
        log.warning("tenant %s marked needs_reinstall: %s", tenant.id, reason)
        return GrantRevoked(f"{self._account(tenant)}: {reason}; {self._what_to_do(tenant)}")

    def _what_to_do(self, tenant: Tenant) -> str:
        if tenant.auth == "private_app":
            where = (f"--portal-id {tenant.external_id}" if tenant.crm == "hubspot"
                     else f"--org-id {tenant.external_id} --instance-url {tenant.instance_url}")
            return (f"create a new one and run "
                    f"`python -m connector tenants add {tenant.crm} {where} --access-token -`")
        public = self._settings.salesos_public_url.rstrip("/")
        return f"an admin must re-install SalesOS: open {public}/oauth/{tenant.crm}/install and approve access again"

    @staticmethod
    def _account(tenant: Tenant) -> str:
        kind = "portal" if tenant.crm == "hubspot" else "org"
        return f"{CRM_NAMES[tenant.crm]} {kind} {tenant.external_id}"
