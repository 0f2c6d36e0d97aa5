"""One Salesforce org's deployable manifest, with its exact Outbound Message URL, written for its admin only.

The URL is the org's messages' only credential, so the files are written
outside the repository (by default `SALESOS_HOME/manifests/<tenant>/`) and
readable by their owner only: directories 0700, files 0600, each replaced
whole (`connector.private_files.write_private`).
"""

from __future__ import annotations

import re
from pathlib import Path

from agents.validation import quote
from connector.private_files import write_private
from connector.tenant_credentials import outbound_url
from connector.tenants import TenantStore
from crm_adapters.manifests import org_manifest_files

# A Salesforce username has the form of an email address (it need not be a working one).
_USERNAME = re.compile(r"^[^@\s<>&\"']{1,64}@[^@\s<>&\"']{1,190}$")


def write_org_manifest(store: TenantStore, tenant_id: str, public_url: str, integration_user: str,
                       out: Path) -> int:
    """Write the org's SFDX project under `out`; returns how many files. Raises LookupError, ValueError."""
    tenant = store.get(tenant_id)
    if tenant is None or tenant.crm != "salesforce":
        raise LookupError(f"{tenant_id!r} is not an installed Salesforce tenant")
    if not _USERNAME.match(integration_user):
        raise ValueError(f"--integration-user {quote(integration_user)} must be a Salesforce username, "
                         f"like integration@acme.com")
    url = outbound_url(public_url, store.outbound.ensure(tenant_id))
    files = org_manifest_files(public_url.rstrip("/"), url, integration_user, tenant_id)
    for path, text in files.items():
        write_private(out / path, text)
    return len(files)
