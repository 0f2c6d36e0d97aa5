"""Jobs that CRM events start: a rep asking to prospect a company, a market defined in the CRM, a rep
pausing or resuming a sequence, a deal changing stage.

Each takes `{"event": CrmEvent as JSON}` and returns its counts, like the
funnel's stage jobs. `connector.routing` decides which event starts which job.
"""

from __future__ import annotations

import datetime as dt
import json

from rq import get_current_job

from agents.domains import registered_domain
from agents.events import CrmEvent
from agents.jobs import consent_stop, enqueue_steps, opted_out_of
from agents.sequences import TEMPLATES, schedule
from agents.validation import quote
from connector import actions, market_ticks, runtime
from connector.data_sources import NoData
from connector.markets import MarketError, market_from_text
from connector.queues import is_retry
from connector.run_summaries import enqueue_unattended
from connector.runs import RunContext
from crm_adapters.base import ContactWrite
from crm_adapters.values import normal_domain

PROSPECT_AGAIN_AFTER = 24 * 3600  # seconds: a Salesforce record re-sends its ticked box with every later edit
NO_MARKET = ("{tenant} has no market yet: run `python -m connector run --tenant {tenant} --market FILE` once, "
             "or define a SalesOS market record in the CRM")


def prospect_job(payload: dict) -> dict:
    """A rep asked for one company (or a contact's company): it goes through the whole funnel on its own run.

    The run is scored against the tenant's market; a workflow action waiting
    on it is completed when the run ends (`connector.actions`), or at once with
    the reason when there is nothing to run. The run id comes from the event,
    so a retried job never starts a second run.
    """
    event = CrmEvent.model_validate(payload["event"])
    conn = get_current_job().connection
    market = runtime.tenant_markets().get(event.tenant)
    if market is None:
        return _cannot(conn, event, NO_MARKET.format(tenant=event.tenant))
    try:
        files = runtime.data_files(event.tenant)
        domain = _domain(event)
    except LookupError as exc:  # no data source (NoData), or nothing to research
        return _cannot(conn, event, str(exc))
    asked = event.kind.startswith("workflow.")  # a rep's explicit request; a ticked field may be re-sent
    repeat = f"salesos:prospected:{event.tenant}:{domain}"
    if not asked and not conn.set(repeat, event.identity, nx=True, ex=PROSPECT_AGAIN_AFTER) and \
            conn.get(repeat) != event.identity.encode():
        return {"prospect_repeats_skipped": 1}
    run = RunContext(run_id=_run_id(event), tenant=event.tenant, market=market[0], data_files=files,
                     as_of=dt.date.today(), domains=[domain])
    enqueue_unattended(conn, run, "crm event")
    if event.payload.get("callbackId"):
        actions.remember(conn, str(event.payload["callbackId"]), event.tenant, run.run_id)
    return {"prospect_runs_started": 1}


def market_defined_job(payload: dict) -> dict:
    """A market record written in the CRM becomes the tenant's market, a run of it starts, and its schedule (if it
    has one) ticks from now on (`agents.market_jobs`).

    The record's changes apply in the order they happened: a late retry of an
    older one changes nothing. A notification of the record whose definition
    did not change (a rename, a Salesforce Outbound Message re-sent on any
    edit) starts nothing. With no data source the market is kept and its run
    waits for the record's next notification (the origin says so, and differs
    from a run's).
    """
    event = CrmEvent.model_validate(payload["event"])
    origin = f"CRM market record {event.object_id}"
    try:
        market = market_from_text(event.property_value or "", origin)
    except MarketError as exc:
        return {"stopped": [{"stage": "market", "reason": str(exc)}]}
    try:
        files, no_data = runtime.data_files(event.tenant), None
    except NoData as exc:
        files, no_data = [], exc
    outcome = runtime.tenant_markets().define(event.tenant, event.object_id, event.occurred_at, market, origin,
                                              kept_as=f"{origin}, not run: no data source" if no_data else None)
    if outcome == "older":
        return {"older_changes_skipped": 1}
    market_ticks.arm(get_current_job().connection, event.tenant, market, runtime.now())
    if outcome == "unchanged" and not _retried():
        return {"market_unchanged": 1}
    if no_data:
        return {"stopped": [{"stage": "market", "reason": f"{no_data}; the market is kept and runs when the record "
                                                          "is next changed"}]}
    run = RunContext(run_id=_run_id(event), tenant=event.tenant, market=market, data_files=files,
                     as_of=dt.date.today())
    enqueue_unattended(get_current_job().connection, run, "crm event")
    return {"market_runs_started": 1}


def _retried() -> bool:
    """This job failed before and runs again: the market its first attempt set may have no run queued yet (its
    run id is the same on every attempt, so queueing it again starts nothing twice)."""
    job = get_current_job()
    return job is not None and is_retry(job)


def _run_id(event: CrmEvent) -> str:
    """Sortable like `new_run_id`, and the same for every retry of the job the event started."""
    return f"{event.occurred_at:%Y%m%dT%H%M%S}-{event.identity[:6]}"


def _cannot(conn, event: CrmEvent, reason: str) -> dict:
    """Nothing to run: say why, and let a waiting workflow go on with that reason."""
    if event.payload.get("callbackId"):
        actions.remember(conn, str(event.payload["callbackId"]), event.tenant, run_id=None, reason=reason)
    return {"stopped": [{"stage": "prospect", "reason": reason}]}


def override_tier_job(payload: dict) -> dict:
    """A rep set the contact's tier: its sequence is planned again from today with that tier's touches.

    The rep's tier stays (SalesOS never writes over it, see `crm_adapters.guard`);
    steps of the old plan still queued are dropped when they fall due. A person
    who opted out (unsubscribed, or opted out in the CRM) gets no new plan: the
    CRM shows the sequence stopped.
    """
    event = CrmEvent.model_validate(payload["event"])
    lead_tier = (event.property_value or "").upper()
    if lead_tier not in TEMPLATES:
        return {"stopped": [{"stage": "override", "reason": f"priority_tier {quote(event.property_value)} is not one of "
                                                              f"{', '.join(TEMPLATES)}"}]}
    email = _email(event)
    crm = runtime.crm_for(event.tenant)
    contacts = crm.get_contacts([email])
    if contacts and opted_out_of(event.tenant, contacts, [email]):
        crm.upsert_contacts([consent_stop(email)])  # no new plan: the rep's tier stays, the sequence stopped
        return {"overrides_opted_out": 1}
    if not contacts or contacts[0].fields.get("sequence_state") in ("unsubscribed", "bounced"):
        return {"overrides_without_sequence": 1}  # nothing SalesOS sequences (or a sequence a person stopped)
    contact = contacts[0]
    accounts = crm.get_accounts([contact.company_domain]) if contact.company_domain else []
    steps = schedule(TEMPLATES[lead_tier], contact.fields.get("recommended_channel") or "email", dt.date.today(),
                     contact.timezone or "UTC", contact.country, runtime.settings().salesos_send_hour)
    sequence = [step.model_dump(mode="json") for step in steps]
    version = runtime.ledger().replace_sequence(event.tenant, email, event.occurred_at)
    if version is None:
        return {"older_changes_skipped": 1}  # the rep set the tier again since: that plan stands
    crm.upsert_contacts([ContactWrite(email=email, fields={
        "sequencing": sequence, "sequence_state": "active", "next_touch_at": steps[0].scheduled_at})])
    first = {"email": email, "name": contact.name or email, "title": contact.title,
             "company_name": accounts[0].name if accounts else contact.company_domain or "",
             "company_domain": contact.company_domain, "step_index": 0, "sequence": sequence, "version": version,
             "hooks": [hook.get("text", "") for hook in contact.fields.get("personalization_hooks") or []],
             "objections": contact.fields.get("objection_angles") or [],
             "timezone": contact.timezone or "UTC", "country": contact.country}
    enqueue_steps(event.tenant, [first], label=f"v{version}|")
    return {"sequences_replanned": 1}


def pause_sequence_job(payload: dict) -> dict:
    """The rep set the contact's sequence to paused or stopped: no further step runs until they resume it.

    Changes of one contact apply in the order they happened in the CRM (`occurred_at`), not the order they
    arrive in: a late retry of an older change is skipped, here and in the two jobs below.
    """
    event = CrmEvent.model_validate(payload["event"])
    email = _email(event)
    if not runtime.ledger().hold(event.tenant, email, f"{event.property_value} in the CRM", event.occurred_at):
        return {"older_changes_skipped": 1}
    return {"sequences_paused": 1}


def resume_sequence_job(payload: dict) -> dict:
    """The rep set the sequence back in progress: the steps that fell due meanwhile run now, the rest on time.

    Not for a person who opted out (unsubscribed, or opted out in the CRM): the hold stays, and the CRM shows
    the sequence stopped again, on a contact it still has (one a rep deleted is not created again)."""
    event = CrmEvent.model_validate(payload["event"])
    email = _email(event)
    crm = runtime.crm_for(event.tenant)
    contacts = crm.get_contacts([email])
    if opted_out_of(event.tenant, contacts, [email]):
        if contacts:
            crm.upsert_contacts([consent_stop(email)])
        return {"sequences_not_resumed_opted_out": 1}
    ledger = runtime.ledger()
    parked = ledger.release_hold(event.tenant, email, event.occurred_at)
    if parked is None:
        return {"older_changes_skipped": 1}
    ledger.end_stop(event.tenant, email)  # a sequence a reply or a meeting stopped goes on, as the rep asked
    resumed = enqueue_steps(event.tenant, [json.loads(item) for item in parked.values()],
                            label=f"resume-{event.identity}|", on_request=True, asked=True)
    ledger.unpark(parked)
    return {"sequences_resumed": 1, "steps_resumed": resumed}


def record_deal_stage_job(payload: dict) -> dict:
    """Kept for the deal-desk agents (proposals, forecasts) that later stages add."""
    event = CrmEvent.model_validate(payload["event"])
    recorded = runtime.deal_events().record(event)
    return {"deal_stage_changes": int(recorded)}


def _domain(event: CrmEvent) -> str:
    """The company to prospect: named in the event, or looked up from the company's or contact's CRM id."""
    given = event.payload.get("domain")
    if given:
        return normal_domain(str(given))
    index = runtime.record_index(event.tenant)
    if event.object_type == "company":
        found = index.keys_of("company", [event.object_id])
        if event.object_id in found:
            return found[event.object_id]
        crm = runtime.crm_for(event.tenant)
        website = crm.company_domain(event.object_id)  # a company a rep created
        if website:
            try:
                domain = registered_domain(website)
            except ValueError:
                domain = None
            if domain:
                crm.adopt_company(event.object_id, domain)
                return domain
        raise LookupError(f"company {event.object_id} of {event.tenant} has no website domain to research")
    email = _email(event)
    contacts = runtime.crm_for(event.tenant).get_contacts([email])
    contact = contacts[0] if contacts else None
    if contact is None or not contact.company_domain:
        raise LookupError(f"contact {email} of {event.tenant} has no company domain")
    return contact.company_domain


def _email(event: CrmEvent) -> str:
    """The contact's email: HubSpot events carry only the object id, so the id is looked up in the record index."""
    email = event.payload.get("email")
    if email:
        return str(email).lower()
    found = runtime.record_index(event.tenant).keys_of("contact", [event.object_id])
    if event.object_id not in found:
        raise LookupError(f"contact {event.object_id} of {event.tenant} is not one SalesOS wrote")
    return found[event.object_id]
