"""The job that carries an unsubscribe into the tenant's CRM.

The ledger stops every send the moment a person unsubscribes (`webhooks.tracking`);
this job then writes, in one contact write, the CRM's own email opt-out (HubSpot's
unsubscribe from all, Salesforce's HasOptedOutOfEmail, the local CRM's column) and
`sequence_state: stopped`, so a rep sees why no more touches come and no other
tool emails them either. Running it twice writes nothing new.
"""

from __future__ import annotations

from connector import runtime
from crm_adapters.base import ContactWrite
from crm_adapters.values import normal_email


class UnsubscribeNotSynced(RuntimeError):
    """The CRM did not take the write: the job fails, and the ledger keeps the unsubscribe for a later try."""


def sync_unsubscribe_job(payload: dict) -> dict:
    tenant, email = payload["tenant"], normal_email(payload["email"])
    written = runtime.crm_for(tenant).upsert_contacts([ContactWrite(
        email=email, email_opt_out=True, fields={"sequence_state": "stopped", "next_touch_at": None})])
    if email not in written.ids:
        reason = written.errors.get(email, "the CRM returned no result for it")
        raise UnsubscribeNotSynced(f"the unsubscribe of {email} did not reach {tenant}'s CRM: {reason}")
    runtime.ledger().unsubscribe_synced(tenant, email)
    return {"unsubscribes_synced": 1, "rep_edits_kept": sum(len(names) for names in written.kept_edits.values())}
