"""The job that carries unsubscribes into the tenant's CRM.

The ledger stops every send the moment a person unsubscribes (`webhooks.tracking`);
this job then writes, in one contact write each, the CRM's own email opt-out
(HubSpot's unsubscribe from all, Salesforce's HasOptedOutOfEmail, the local CRM's
column) and `sequence_state: stopped`, so a rep sees why no more touches come and
no other tool emails them either. The stop is a consent stop: it is written over a
rep's earlier pause (`crm_adapters.guard`).

One job carries any number of one tenant's unsubscribes, written with the adapter's
batch upserts. It writes only contacts the CRM has: one a rep deleted (perhaps on
the person's request) is not created again. Its address still gets the CRM's own
opt-out (`CRMAdapter.opt_out`: HubSpot keeps it per address, so a contact made
later has it; Salesforce's Leads and a rep's own Contacts with the address get
HasOptedOutOfEmail), and it counts as synced with a note. A
tenant uninstalled since has no CRM to write to: its unsubscribes are abandoned,
with the reason, and stay in force in the ledger; registering the tenant again
makes them wait for this job once more. Running the job twice writes
nothing new: it takes only what the ledger says is still waiting.
"""

from __future__ import annotations

import logging

from agents.validation import clip
from connector import runtime
from crm_adapters.base import ContactWrite
from crm_adapters.values import normal_email

NOT_IN_CRM = ("no contact in the CRM (deleted there, perhaps on the person's request): the CRM's own opt-out is "
              "recorded for the address, no contact created")
NOTE_LIMIT = 500  # characters of a CRM's or an exception's message kept as the ledger's note (health shows it)
log = logging.getLogger(__name__)


class UnsubscribeNotSynced(RuntimeError):
    """The CRM did not take a write: the job fails, and the ledger keeps the unsubscribe for a later try."""


def sync_unsubscribe_job(payload: dict) -> dict:
    """`{"tenant": ..., "emails": [...]}` (a job queued by an older SalesOS carries one `"email"`)."""
    tenant = payload["tenant"]
    ledger = runtime.ledger()
    emails = ledger.waiting_unsubscribes(tenant, [normal_email(e) for e in payload.get("emails") or [payload["email"]]])
    if not emails:
        return {"unsubscribes_synced": 0}
    if not runtime.installed(tenant):
        reason = (f"tenant {tenant!r} is not installed (uninstalled after the person unsubscribed): there is no CRM "
                  "to write the opt-out into; SalesOS still sends them nothing")
        ledger.abandon_unsubscribes(tenant, emails, reason)
        log.warning("%d unsubscribe(s) abandoned: %s", len(emails), reason)
        return {"unsubscribes_abandoned": len(emails)}
    try:
        crm = runtime.crm_for(tenant)
        present = {contact.email.lower() for contact in crm.get_contacts(emails)}
        written = crm.upsert_contacts([
            ContactWrite(email=email, email_opt_out=True, consent_stop=True,
                         fields={"sequence_state": "unsubscribed", "next_touch_at": None})
            for email in emails if email in present])
        missing = [email for email in emails if email not in present]
        refused = crm.opt_out(missing) if missing else {}
    except Exception as exc:
        ledger.unsubscribes_failed(tenant, {email: clip(str(exc), NOTE_LIMIT) for email in emails})
        raise
    ledger.unsubscribes_synced(tenant, [email for email in emails if email in written.ids])
    ledger.unsubscribes_synced(tenant, [email for email in missing if email not in refused], note=NOT_IN_CRM)
    failed = {email: clip(written.errors.get(email, "the CRM returned no result for it"), NOTE_LIMIT)
              for email in emails if email in present and email not in written.ids}
    failed |= {email: clip(reason, NOTE_LIMIT) for email, reason in refused.items()}
    if failed:
        ledger.unsubscribes_failed(tenant, failed)
        shown = "; ".join(f"{email}: {reason}" for email, reason in list(failed.items())[:3])
        raise UnsubscribeNotSynced(f"{len(failed)} of {len(emails)} unsubscribe(s) did not reach {tenant}'s CRM "
                                   f"(queued again later): {shown}")
    return {"unsubscribes_synced": len(emails) - len(missing), "unsubscribes_not_in_crm": len(missing),
            "rep_edits_kept": sum(len(names) for names in written.kept_edits.values())}
