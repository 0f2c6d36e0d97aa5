"""The stage jobs: load, decide, write to the CRM, enqueue the next stage.

Each job takes one JSON payload carrying a batch of records and the run
context, and returns its counts (recorded per job id, so a job that runs
twice is counted once). The decisions are the pure functions of the other
agents modules; this file is the only place in `agents/` that does I/O.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.errors import MessageError
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rq import get_current_job

from agents.consent_policy import may_cold_email
from agents.contact_finder import find_buying_team
from agents.market import MarketDefinition
from agents.review import needs_review, review_task
from agents.review_jobs import arm_review_check
from agents.enrichment import score_intent
from agents.lead_source import source_companies
from agents.market_schedule import month_of
from agents.models import Company, Contact, IntentResult, LeadPlan, ScoredCompany, SequenceStep
from agents.scoring import plan_lead
from agents.sequences import move_overdue, reschedule
from agents.validation import clip
from connector import market_ticks, pending_reviews, prospecting, runtime
from connector.channels.base import SendReceipt
from connector.channels.email import Draft, EmailDraft, Rendered, first_email_type, render, render_task_copy
from connector.data_sources import NoData, file_names_only, refuse_sample
from connector.ledger import SEQUENCE_STOPS, Lease, Ledger, effect_key
from connector.providers.base import ProviderError
from connector.queues import enqueue_once, job_id
from connector.runs import RunContext
from connector.send_budget import SendBudget
from connector.send_throttle import Recipient, admit
from connector.sending import MAILBOX_RETRY, Outgoing, send_all
from connector.tracking_links import rewrite_links
from crm_adapters.base import AccountWrite, ActivityWrite, Association, ContactWrite, TaskWrite
from crm_adapters.base import Contact as CrmContact
from crm_adapters.errors import BudgetExhausted, GrantRevoked, RateLimited
from crm_adapters.fields import SEQUENCE_STATES

log = logging.getLogger(__name__)
steps_log = logging.getLogger(f"{__name__}.steps")  # one line per step executed or moved; workers show it (INFO)
STAGE_ORDER = ("sourced", "enriched", "contacts_found", "sequenced")
ACTIVE_SEQUENCE = (*SEQUENCE_STATES, "in_progress", "completed", "stopped")  # and the names before issue 12
LINKS_RETRY = dt.timedelta(hours=1)  # email steps waiting for an https SALESOS_PUBLIC_URL are tried again after this
BUSY_RECHECK = dt.timedelta(seconds=5)  # after another worker's lease lapses, its steps are looked at again
SEND_RETRY_SECONDS = 900  # a send the mail system put off without saying for how long is tried again after this


def timed(stage: str) -> Callable[[Callable[[dict], dict]], Callable[[dict], dict]]:
    """Add the job's run time to its counts, so a run summary shows where time goes.

    A CRM that says "no more today" (SalesOS's API budget spent, the daily
    limit hit, the grant revoked), or data files gone since the run started,
    end the job with that reason in its counts instead of failing it: retrying
    cannot help, and the run summary must say why.
    """

    def decorate(job: Callable[[dict], dict]) -> Callable[[dict], dict]:
        @functools.wraps(job)
        def run(payload: dict) -> dict:
            started = time.perf_counter()
            try:
                counts = job(payload)
            except (BudgetExhausted, GrantRevoked, RateLimited, DataGone) as exc:
                if isinstance(exc, RateLimited) and not exc.daily:
                    raise  # short limits are retried by the job's retry policy
                log.error("%s job stopped: %s", stage, exc)
                counts = {"stopped": [{"stage": stage, "reason": str(exc)}]}
            return counts | {"seconds": {stage: round(time.perf_counter() - started, 3)}}

        return run

    return decorate


class DataGone(RuntimeError):
    """A later stage cannot read the run's data files any more (moved, deleted, made unreadable)."""


def _data_again(run: RunContext, stage: str):
    """The run's data, read again by a later stage (in any worker). Files gone or unreadable since the source
    stage read them stop the run with a reason naming the data source by file name; the log has the paths."""
    try:
        return runtime.dataset(run.data_files)
    except (ProviderError, OSError) as exc:
        log.error("%s job of run %s: its data cannot be read any more: %s (files: %s)", stage, run.run_id, exc,
                  ", ".join(run.data_files or []))
        names = clip(", ".join(Path(path).name for path in run.data_files or []))
        raise DataGone(f"the run's data source ({names}) cannot be read any more, so the run stopped at its {stage} "
                       f"stage: {clip(file_names_only(str(exc), run.data_files or []))}. Put the files back, or "
                       "give the tenant its data again, and start a new run") from None


# --- source -----------------------------------------------------------------


@timed("source")
def source_job(payload: dict) -> dict:
    """Read the market's data, keep the companies that fit, hand them on.

    A run started without files reads its tenant's data source. A CRM tenant
    never reads fictional sample rows: its run stops here, with the reason,
    whatever named the files. So does a run whose files cannot be read. The
    reason, which the API and a CRM workflow show, names files by file name;
    the log has their paths.
    """
    run = RunContext.model_validate(payload["run"])
    try:
        if run.data_files is None:
            run = run.model_copy(update={"data_files": runtime.data_files(run.tenant)})
        data = runtime.dataset(run.data_files)
        refuse_sample(run.tenant, data.sample_files)
    except (NoData, ProviderError) as exc:
        paths = f" (files: {', '.join(run.data_files)})" if run.data_files else ""
        log.error("source job of run %s stopped: %s%s", run.run_id, exc, paths)
        return {"stopped": [{"stage": "source", "reason": file_names_only(str(exc), run.data_files or [])}]}
    conn = get_current_job().connection
    providers, misses = runtime.providers(run, conn), prospecting.Misses("source")
    known = runtime.known_companies(run.tenant) if run.new_only else set()
    records = [record for record in data.companies if record.domain not in known]
    if providers.active:
        records = _provider_companies(run, providers, records, misses, known)
        held = _hold(run, "source", source_job, payload, misses,
                     lambda held: {"run": run.model_copy(update={"domains": sorted(held)}).model_dump(mode="json")})
        records = [record for record in records if record.domain not in held]
    result = source_companies(records, run.market, set(run.domains) if run.domains is not None else None)
    crm = runtime.crm_for(run.tenant)
    current = _stages(crm, [scored.company.domain for scored in result.qualified])
    written = crm.upsert_accounts([
        AccountWrite(
            domain=scored.company.domain,
            name=scored.company.name,
            industry=scored.company.industry,
            employee_count=scored.company.employee_count,
            annual_revenue=scored.company.annual_revenue,
            country=scored.company.country,
            fields={
                "fit_score": scored.fit.score,
                "fit_breakdown": _dump(scored.fit.breakdown),
                "salesos_source": ", ".join(scored.company.sources),
                "salesos_market": run.market.name,
                "salesos_stage": _advance(current.get(scored.company.domain), "sourced"),
            },
        )
        for scored in result.qualified
    ])
    kept = [scored for scored in result.qualified if scored.company.domain not in written.errors]
    if run.domains is None:  # the market's search, not a rep's request: what it adds counts toward the month's target
        market_ticks.note_sourced(conn, run.tenant, run.market.name, month_of(run.as_of),
                                  [scored.company.domain for scored in kept if scored.company.domain not in current])
    for index, batch in enumerate(_batches(kept, run.batch_size)):
        _next(run, "enrich", enrich_job, index, {"companies": _dump(batch)})
    return _provider_counts(providers, misses) | {
        "rows_read": data.rows_read,
        "quarantined": _dump(data.quarantined),
        "companies_read": result.companies_read,
        "duplicates_merged": result.duplicates_merged,
        "excluded": len(result.excluded),
        "below_threshold": len(result.below_threshold),
        "over_target": len(result.over_target),
        "qualified": len(kept),
        "crm_errors": _errors(written.errors),
        "rep_edits_kept": _kept(written),
    } | ({"known_companies_skipped": len({record.domain for record in data.companies if record.domain in known})}
         if run.new_only else {})


def _provider_companies(run: RunContext, providers, records: list, misses, known: set[str]) -> list:
    """The files' companies plus what the providers find: searches of the market until enough qualify (passing
    over the `known` companies), or the requested domains looked up, each followed by the waterfall filling what
    the market judges."""
    s = runtime.settings()
    if run.domains is not None:
        return prospecting.fill_firmographics(providers, records + prospecting.requested(run.domains, records),
                                              run.market, s.salesos_waterfall, s.salesos_waterfall_confidence,
                                              misses, set(run.domains))
    limit = 2 * run.market.monthly_target if run.market.monthly_target else 1000
    return prospecting.source(providers, run.market, records, limit, s.salesos_waterfall,
                              s.salesos_waterfall_confidence, misses, known)


def _provider_counts(providers, misses) -> dict:
    """What the run summary says of the providers: those skipped for want of a key, and what each could not give."""
    if not providers.active:
        return {}
    return {"providers_skipped": providers.skipped(), "provider_misses": misses.counts()}


# --- enrich -----------------------------------------------------------------


@timed("enrich")
def enrich_job(payload: dict) -> dict:
    """Score each company's dated intent signals and record the evidence."""
    run = RunContext.model_validate(payload["run"])
    companies = [ScoredCompany.model_validate(item) for item in payload["companies"]]
    signals = _data_again(run, "enrich").signals_for(scored.company.domain for scored in companies)
    conn = get_current_job().connection
    providers, misses = runtime.providers(run, conn), prospecting.Misses("enrich")
    if providers.active:
        found = prospecting.intent_signals(providers, [scored.company for scored in companies], run.as_of, misses,
                                           runtime.board_finder(conn, run.tenant))
        for domain, more in found.items():
            signals.setdefault(domain, []).extend(more)
        held = _hold(run, "enrich", enrich_job, payload, misses,
                     _held_items(run, payload, "companies", lambda item: item["company"]["domain"]))
        companies = [scored for scored in companies if scored.company.domain not in held]
    intents = {
        scored.company.domain: score_intent(
            signals.get(scored.company.domain, []), run.as_of, run.market.weights.intent
        )
        for scored in companies
    }
    names = {scored.company.domain: scored.company.name for scored in companies}
    crm = runtime.crm_for(run.tenant)
    current = _stages(crm, list(intents))
    written = crm.upsert_accounts([
        AccountWrite(
            domain=domain,
            name=names[domain],
            fields={
                "intent_score": intent.score,
                "intent_signals": _dump(intent.points),
                "salesos_stage": _advance(current.get(domain), "enriched"),
            },
        )
        for domain, intent in intents.items()
    ])
    leads = [
        {"company": _dump(scored), "intent": _dump(intents[scored.company.domain])}
        for scored in companies
        if scored.company.domain not in written.errors
    ]
    _next(run, "contacts", contacts_job, _batch_index(), {"leads": leads})
    return _provider_counts(providers, misses) | {
        "enriched": len(leads), "crm_errors": _errors(written.errors), "rep_edits_kept": _kept(written)}


def _hold(run: RunContext, stage: str, func, payload: dict, misses, resumed: Callable[[set[str]], dict]) -> set[str]:
    """The domains that wait for a provider that was down (or whose circuit was open) and resume later.

    They go back on the stage's queue, as a job of the run (`resumed(held)` is
    its payload), after the provider's Retry-After or the next of
    SALESOS_PROVIDER_WAITS; the rest of the batch goes on now. After the last
    wait they go on without it, and the summary names the provider and the
    companies it missed.
    """
    waits = runtime.settings().salesos_provider_waits
    waited = payload.get("waited", 0)
    resumable = {name: miss for name, miss in misses.resumable().items() if set(miss.keys) - {prospecting.SEARCH}}
    if not resumable or waited >= len(waits):
        return set()
    held = {key for miss in resumable.values() for key in miss.keys} - {prospecting.SEARCH}
    delay = max([waits[waited], *(m.retry_after or 0 for m in resumable.values())])
    enqueue_once(get_current_job().connection, stage, func, resumed(held) | {"waited": waited + 1},
                 job_key=job_id("run", run.run_id, stage, f"{_batch_index()}w{waited + 1}"), run_id=run.run_id,
                 at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay),
                 timeout=runtime.settings().salesos_job_timeout)
    for miss in resumable.values():
        searched = prospecting.SEARCH in miss.keys
        miss.keys = [key for key in miss.keys if key != prospecting.SEARCH]
        miss.kind = "waiting"
        miss.reason = (f"{miss.reason}; {len(miss.keys)} wait and resume in {delay:g} s"
                       + ("; its search of the market was missed" if searched else ""))
    return held


def _held_items(run: RunContext, payload: dict, key: str, domain_of) -> Callable[[set[str]], dict]:
    """A resumed enrich or contacts job: the same run, with only the held companies of the batch."""
    return lambda held: {"run": run.model_dump(mode="json"),
                         key: [item for item in payload[key] if domain_of(item) in held]}


# --- contacts ---------------------------------------------------------------


@timed("contacts")
def contacts_job(payload: dict) -> dict:
    """Find each company's buying team and put it in the CRM."""
    run = RunContext.model_validate(payload["run"])
    domains = [lead["company"]["company"]["domain"] for lead in payload["leads"]]
    people = _data_again(run, "contacts").people_for(domains)
    conn = get_current_job().connection
    providers, misses = runtime.providers(run, conn), prospecting.Misses("contacts")
    verdicts, held = None, set()
    if providers.active:
        for domain, found in prospecting.search_people(providers, domains, run.market, misses).items():
            people.setdefault(domain, []).extend(found)
        people = prospecting.reveal_team(providers, people, run.market, misses)
        verdicts = prospecting.verify_team(providers, people, run.market, misses, runtime.dns_resolver())
        held = _hold(run, "contacts", contacts_job, payload, misses,
                     _held_items(run, payload, "leads", lambda lead: lead["company"]["company"]["domain"]))
    leads, dropped, drop_reasons = [], 0, Counter()
    contacts: list[Contact] = []
    for lead in payload["leads"]:
        domain = lead["company"]["company"]["domain"]
        if domain in held:
            continue
        selection = find_buying_team(people.get(domain, []), run.market, verdicts)
        dropped += len(selection.dropped)
        drop_reasons.update(drop.kind for drop in selection.dropped)
        contacts.extend(selection.kept)
        lead["contacts"] = _dump(selection.kept)
        leads.append(lead)
    crm = runtime.crm_for(run.tenant)
    written = crm.upsert_contacts([_contact_write(contact) for contact in contacts])
    linked = crm.associate([
        Association(contact_email=contact.email, company_domain=contact.company_domain)
        for contact in contacts
        if contact.email not in written.errors
    ])
    _advance_accounts(crm, {lead["company"]["company"]["domain"]: lead["company"]["company"]["name"]
                            for lead in leads}, "contacts_found")
    for lead in leads:
        lead["contacts"] = [c for c in lead["contacts"] if c["email"] not in written.errors]
    _next(run, "score", score_job, _batch_index(), {"leads": [lead for lead in leads if lead["contacts"]]})
    return _provider_counts(providers, misses) | {
        "companies_searched": len(leads),
        "contacts": len(contacts) - len(written.errors),
        "contacts_dropped": dropped,
        "contacts_dropped_by_reason": dict(drop_reasons),
        "companies_without_contacts": sum(1 for lead in leads if not lead["contacts"]),
        "crm_errors": _errors({**written.errors, **linked.errors}),
        "rep_edits_kept": _kept(written),
    }


def _contact_write(contact: Contact) -> ContactWrite:
    return ContactWrite(
        email=contact.email,
        name=contact.name,
        title=contact.title,
        phone=contact.phone,
        linkedin_url=contact.linkedin_url,
        country=contact.country,
        timezone=contact.timezone,
        company_domain=contact.company_domain,
        fields={
            "buying_authority": contact.buying_authority,
            "seniority": contact.seniority,
            "role_relevance": contact.role_relevance,
            "email_verified": contact.email_verified,
        },
    )


# --- score ------------------------------------------------------------------


@timed("score")
def score_job(payload: dict) -> dict:
    """Prioritise, tier and sequence every contact; queue each first step."""
    run = RunContext.model_validate(payload["run"])
    send_hour = runtime.settings().salesos_send_hour
    plans: list[tuple[dict, LeadPlan]] = []
    for lead in payload["leads"]:
        scored = ScoredCompany.model_validate(lead["company"])
        intent = IntentResult.model_validate(lead["intent"])
        for item in lead["contacts"]:
            contact = Contact.model_validate(item)
            plan = plan_lead(contact, scored.company, scored.fit, intent, run.market, run.as_of, send_hour)
            plans.append(({"contact": item, "company": scored.company}, plan))
    crm = runtime.crm_for(run.tenant)
    emails = [plan.email for _, plan in plans]
    existing = {c.email: c for c in crm.get_contacts(emails)}
    opted_out = opted_out_of(run.tenant, existing.values(), emails)
    fresh = [(ctx, plan) for ctx, plan in plans
             if _state(existing.get(plan.email)) not in ACTIVE_SEQUENCE and plan.email.lower() not in opted_out]
    refused = _no_cold_email(fresh)
    fresh = [(ctx, plan) for ctx, plan in fresh if plan.email not in refused]
    restart = {plan.email for _, plan in fresh}
    stop = {plan.email for _, plan in plans
            if plan.email.lower() in opted_out and _state(existing.get(plan.email)) not in ("unsubscribed", "bounced")}
    written = crm.upsert_contacts([_plan_write(plan, plan.email in restart, plan.email in stop) for _, plan in plans])
    _advance_accounts(crm, {ctx["company"].domain: ctx["company"].name for ctx, _ in plans}, "sequenced")
    first_steps = [
        _first_step(ctx, plan) for ctx, plan in fresh if plan.email not in written.errors and plan.sequencing
    ]
    enqueued = enqueue_steps(run.tenant, first_steps, run=run if run.send_now else None)
    not_started = sum(1 for _, plan in plans if plan.email.lower() in opted_out)
    return {
        "companies_scored": len(payload["leads"]),
        "scored": len(plans) - len(written.errors),
        "tiers": dict(Counter(plan.priority_tier for _, plan in plans)),
        "steps_planned": sum(len(plan.sequencing) for _, plan in fresh),
        "steps_scheduled": enqueued,
        "steps_already_scheduled": len(first_steps) - enqueued,
        "sequences_kept_active": len(plans) - len(fresh) - not_started,
        "sequences_not_started_opted_out": not_started,
        "sequences_not_started_consent": dict(Counter(refused.values())),
        "crm_errors": _errors(written.errors),
        "rep_edits_kept": _kept(written),
    }


def _no_cold_email(plans: list[tuple[dict, LeadPlan]]) -> dict[str, str]:
    """The contacts the country policy gives no first cold email (prior consent required, and none recorded),
    with the policy's rule: they are scored and kept in the CRM, never sequenced."""
    policy, refused = runtime.consent_policy(), {}
    for ctx, plan in plans:
        company: Company = ctx["company"]
        country = ctx["contact"].get("country") or company.country
        corporate = plan.email.rsplit("@", 1)[-1].lower() == company.domain  # a company's own address, not webmail
        verdict = may_cold_email(country, has_consent=False, subscriber="corporate" if corporate else None,
                                 policy=policy)
        if not verdict.allowed:
            refused[plan.email] = verdict.rule
    return refused


def opted_out_of(tenant: str, contacts, emails: list[str]) -> set[str]:
    """Emails (lower case) never to sequence: opted out in the CRM, by the person or a rep, or unsubscribed
    through SalesOS's own link (the ledger, which knows before the CRM does)."""
    return ({c.email.lower() for c in contacts if c.email_opt_out}
            | runtime.ledger().unsubscribed(tenant, emails))


def consent_stop(email: str) -> ContactWrite:
    """The write that stops an opted-out contact's sequence, over a rep's edit of it (`ContactWrite.consent_stop`)."""
    return ContactWrite(email=email, consent_stop=True,
                        fields={"sequence_state": "unsubscribed", "next_touch_at": None})


def _plan_write(plan: LeadPlan, restart: bool, stop: bool = False) -> ContactWrite:
    """Scores always update; an active sequence is never restarted by a re-run; an opted-out contact's is stopped."""
    fields: dict[str, Any] = {
        "priority_score": plan.priority_score,
        "priority_tier": plan.priority_tier,
        "recommended_channel": plan.recommended_channel,
        "personalization_hooks": _dump(plan.personalization_hooks),
        "objection_angles": _dump(plan.objection_angles),
    }
    if restart:
        fields |= {
            "sequencing": _dump(plan.sequencing),
            "sequence_state": "active",
            "next_touch_at": plan.sequencing[0].scheduled_at if plan.sequencing else None,
        }
    elif stop:
        fields |= {"sequence_state": "unsubscribed", "next_touch_at": None}
    return ContactWrite(email=plan.email, timezone=plan.timezone, consent_stop=stop and not restart, fields=fields)


# --- outreach ---------------------------------------------------------------


@timed("outreach")
def outreach_job(payload: dict) -> dict:
    """Execute sequence steps exactly once each: emails to the outbox, tasks for the rep.

    SalesOS renders emails but does not send them yet. The local CRM logs each
    as an activity saying so; a CRM tenant gets an open task for the rep
    holding the draft, never an email logged as sent.
    """
    tenant = payload["tenant"]
    items = payload["items"]
    try:
        crm = runtime.crm_for(tenant)  # a tenant that needs re-installing stops here, before any email
    except GrantRevoked as exc:
        return _defer(tenant, items, str(exc))
    ledger = runtime.ledger()
    current = ledger.versions(tenant, [item["email"] for item in items])
    live = [item for item in items if item.get("version", 0) >= current.get(item["email"].lower(), 0)]
    live, moved = (live, []) if payload.get("on_request") else _move_overdue(tenant, live)
    keys = {_step_key(tenant, item): item for item in live}  # steps of a replaced sequence are dropped
    with ledger.lease(keys) as lease:  # what this job does not complete is released when it ends
        return _execute_steps(tenant, crm, lease, keys, items, live, moved, bool(payload.get("asked")))


def _execute_steps(tenant: str, crm, lease: Lease, keys: dict[str, dict], items: list[dict],
                   live: list[dict], moved: list[dict], asked: bool) -> dict:
    """The leased steps that are due, each alone: one the CRM refuses, or that cannot be written at all, fails
    with its key and reason while the others go on; only the steps that happened are completed."""
    ledger = runtime.ledger()
    todo = set(lease.held)
    busy = [keys[key] for key in lease.busy]  # another worker is on them: looked at again when its lease lapses
    emails_ = [item["email"] for item in items]
    stops = {email for email, reason in ledger.suppressed(tenant, emails_).items() if reason in SEQUENCE_STOPS}
    unsubscribed = ledger.unsubscribed(tenant, emails_) | stops  # a reply or a meeting ended their sequence too
    held = ledger.held(tenant, [item["email"] for item in items])
    for key, item in keys.items():
        if key in todo and item["email"].lower() in held and item["email"].lower() not in unsubscribed:
            ledger.park(tenant, key, item["email"], json.dumps(item))
    due = [item for key, item in keys.items()
           if key in todo and item["email"].lower() not in unsubscribed and item["email"].lower() not in held]
    try:
        contacts = _crm_contacts(crm, due)  # a person or a rep may have opted them out since the plan
    except (BudgetExhausted, GrantRevoked, RateLimited) as exc:
        if isinstance(exc, RateLimited) and not exc.daily:
            raise  # short limits are retried by the job's retry policy
        return _defer(tenant, due, str(exc))
    stopped = [item for item in due if (contact := contacts.get(item["email"].lower())) and contact.email_opt_out]
    due = [item for item in due if item not in stopped]
    refusal = runtime.links_refusal(tenant)  # a CRM tenant's emails need an https public URL: they wait for it
    waiting = [item for item in due if refusal and _step(item)["channel"] == "email"]
    due = [item for item in due if not (refusal and _step(item)["channel"] == "email")]
    now = runtime.now()
    market = runtime.market_of(tenant)  # its own templates, and the tiers whose emails a rep approves first
    emails = _send_emails(tenant, ledger, lease, due, contacts, now, asked, market)
    due = [item for item in due if _step_key(tenant, item) not in emails.not_done]
    activities, tasks, unwritable = [], [], dict(emails.unwritable)
    call_link = runtime.call_links(tenant) if any(_step(item)["channel"] == "phone" for item in due) else None
    for item in due:
        key = _step_key(tenant, item)
        try:
            step = _step(item)
            if key in emails.sent:
                activities.append(_sent_activity(key, item, step, *emails.sent[key]))
            elif key in emails.drafts:
                tasks.append(_draft_task(key, item, step, emails.drafts[key]))
            elif key in emails.reviews:
                tasks.append(_review_task(key, item, emails.reviews[key]))
            elif key in emails.uncertain:
                tasks.append(_uncertain_task(key, item, step))
            elif key in emails.bounced:
                continue  # refused for good at send time: the contact shows bounced, and no later step runs
            elif step["action"] == "send_sms":
                texted = _text(tenant, key, item, contacts.get(item["email"].lower()), now, emails)
                activities += [texted] if texted else []
            elif key not in unwritable:
                tasks.append(_rep_task(key, item, step, market, contacts.get(item["email"].lower()), call_link))
        except (ValueError, KeyError, TypeError) as exc:  # the step's data, not the job's: it fails alone
            log.error("outreach step %s cannot be written: %s: %s", key, type(exc).__name__, exc)
            unwritable[key] = clip(f"{type(exc).__name__}: {exc}", 300)
    # what waits is queued again first: a CRM that fails below must not lose it
    for at, group in emails.retry_groups(keys).items():
        _requeue(tenant, group, at)
    rescheduled = _reschedule(tenant, keys, emails.throttled)
    if busy:
        _defer(tenant, busy, "another worker holds these steps", at=max(lease.busy.values()) + BUSY_RECHECK)
    try:
        logged = crm.log_activities(activities)
        created = crm.create_tasks(tasks)
        refused = {**unwritable, **logged.errors, **created.errors}
        # a step a mail system accepted is done whatever the CRM said of its record: it is never sent again
        blocking = {key for key in refused if key not in emails.sent} | emails.retry.keys()
        happened = [item for item in due if _step_key(tenant, item) not in blocking | emails.reviews.keys()]
        progressed = crm.upsert_contacts(
            [_progress_write(item) for item in happened if _step_key(tenant, item) not in emails.bounced]
            + [consent_stop(email) for email in sorted({item["email"] for item in stopped})]
            + [_bounced_write(email) for email in sorted({keys[key]["email"] for key in emails.bounced})]
            + [_moved_write(item) for item in [*moved, *rescheduled]
               if item["email"].lower() not in unsubscribed | held])
    except (BudgetExhausted, GrantRevoked, RateLimited) as exc:
        _complete_sent(tenant, lease, emails, keys)
        if isinstance(exc, RateLimited) and not exc.daily:
            raise  # short limits are retried by the job's retry policy
        return _defer(tenant, [i for i in due + waiting if _step_key(tenant, i) not in emails.sent], str(exc))
    done = lease.complete([_step_key(tenant, item) for item in happened])
    runtime.send_marks().clear([key for key in done if key in emails.sent])  # the ledger knows now
    _hold_reviews(tenant, emails.reviews.keys() - created.errors.keys(), keys)
    unheld = [keys[key] for key in emails.reviews.keys() & created.errors.keys()]  # its task failed: tried again
    if unheld:
        _requeue(tenant, unheld, now + dt.timedelta(seconds=SEND_RETRY_SECONDS))
    for item in happened:
        steps_log.info("executed %s", _described(tenant, item))
    enqueue_steps(tenant, [_next_step(item) for item in happened
                           if item["step_index"] + 1 < len(item["sequence"])
                           and _step_key(tenant, item) not in emails.bounced])
    deferred = _defer(tenant, waiting, refusal, at=dt.datetime.now(dt.UTC) + LINKS_RETRY) if waiting else {}
    return deferred | {
        "emails_sent": len(emails.sent),
        "emails_drafted": len(emails.drafts),
        "emails_for_review": len(emails.reviews),
        "emails_bounced": len(emails.bounced),
        "emails_uncertain": len(emails.uncertain),
        "emails_retrying": len(emails.retry),
        "steps_rescheduled": dict(Counter(reason for reason, _ in emails.throttled.values())),
        "tasks_created": len([task for task in tasks if task.key not in created.errors]),
        "steps_done": len(done),
        "steps_moved": len(moved),
        "steps_failed": len(refused),
        "skipped_already_done": len(keys) - len(todo) - len(busy),
        "steps_busy": len(busy),
        "skipped_unsubscribed": len([k for k in todo if keys[k]["email"].lower() in unsubscribed])
        + len(emails.stopped),
        "skipped_opted_out": len(stopped),
        "skipped_superseded": len(items) - len(live) - len(moved),
        "steps_parked": len([k for k in todo if keys[k]["email"].lower() in held - unsubscribed]),
        "crm_errors": _errors({**logged.errors, **created.errors, **progressed.errors}),
        "record_errors": _errors(unwritable),
        "rep_edits_kept": _kept(progressed),
    }


def _move_overdue(tenant: str, items: list[dict]) -> tuple[list[dict], list[dict]]:
    """Split off the steps overdue by more than SALESOS_OVERDUE_GRACE (no worker ran for that long) and queue
    them again, with the rest of their sequence, at the contact's next send window; the others are due now."""
    settings, now = runtime.settings(), runtime.now()
    due, moved = [], []
    for item in items:
        sequence = [SequenceStep.model_validate(step) for step in item["sequence"]]
        step = sequence[item["step_index"]]
        later = move_overdue(sequence, item["step_index"], now, settings.salesos_overdue_grace, _zone(item, step),
                             item.get("country"), settings.salesos_send_hour)
        if later is None:
            due.append(item)
            continue
        moved.append({**item, "sequence": _dump(later)})
        late = now - step.scheduled_at
        steps_log.info("moved %s: %d d %d h overdue; now due %s", _described(tenant, item), late.days,
                       late.seconds // 3600, later[item["step_index"]].scheduled_at)
    enqueue_steps(tenant, moved)
    return due, moved


def _zone(item: dict, step: SequenceStep) -> dt.tzinfo:
    """The contact's time zone; for a step queued before items carried it, the offset it was planned in."""
    return ZoneInfo(item["timezone"]) if item.get("timezone") else step.scheduled_at.tzinfo


def _described(tenant: str, item: dict) -> str:
    step = _step(item)
    return (f"step {item['step_index'] + 1} of {len(item['sequence'])} ({step['action']}, {step['channel']}) for "
            f"{item['email']} of tenant {tenant}, planned for {step['scheduled_at']}")


def _moved_write(item: dict) -> ContactWrite:
    """The CRM shows the sequence's new times."""
    next_touch = dt.datetime.fromisoformat(_step(item)["scheduled_at"])
    return ContactWrite(email=item["email"], fields={"sequencing": item["sequence"], "next_touch_at": next_touch})


def _crm_contacts(crm, items: list[dict]) -> dict[str, CrmContact]:
    """The CRM's contacts by email (lower case), one batched read for the whole batch: their opt-outs and owners."""
    emails = sorted({item["email"] for item in items})
    return {c.email.lower(): c for c in crm.get_contacts(emails)} if emails else {}


def _defer(tenant: str, items: list[dict], reason: str, at: dt.datetime | None = None) -> dict:
    """Queue the same steps again at `at`; by default after 00:00 UTC, when the CRM's budgets and limits reset
    (it said "not today")."""
    at = at or dt.datetime.combine(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1), dt.time(0, 5), dt.UTC)
    log.error("outreach for %s deferred to %s: %s", tenant, f"{at:%Y-%m-%d %H:%M} UTC", reason)
    digest = "|".join(f"{i['email']}#{i['step_index']}" for i in sorted(items, key=lambda i: i["email"]))
    enqueue_once(get_current_job().connection, "outreach", outreach_job, {"tenant": tenant, "items": items},
                 job_key=job_id("outreach", tenant, f"resume|{at:%Y-%m-%dT%H:%M}|{digest}"), at=at)
    return {"stopped": [{"stage": "outreach", "reason": reason}], "steps_deferred": len(items)}


@dataclass
class _EmailSteps:
    """What became of the batch's email steps."""

    sent: dict[str, tuple[Rendered, SendReceipt, str]] = field(default_factory=dict)  # with the sending mailbox
    drafts: dict[str, Rendered] = field(default_factory=dict)  # no mailbox to send from: a task for the rep
    uncertain: set[str] = field(default_factory=set)  # a killed worker may have sent them: never sent again
    bounced: dict[str, str] = field(default_factory=dict)  # the recipient was refused for good
    stopped: list[str] = field(default_factory=list)  # an opt-out, a suppression or a reply came first
    retry: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)  # not sent now: why, and when again
    unwritable: dict[str, str] = field(default_factory=dict)  # this step can never make a message
    throttled: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)  # a closed window or a cap: moved

    reviews: dict[str, Rendered] = field(default_factory=dict)  # held for a rep's approval: a task, not sent

    @property
    def not_done(self) -> set[str]:
        return set(self.stopped) | set(self.retry) | set(self.throttled)

    def retry_groups(self, keys: dict[str, dict]) -> dict[dt.datetime, list[dict]]:
        groups: dict[dt.datetime, list[dict]] = defaultdict(list)
        for key, (_, at) in self.retry.items():
            groups[at].append(keys[key])
        return groups


def _send_emails(tenant: str, ledger: Ledger, lease: Lease, due: list[dict], contacts: dict[str, CrmContact],
                 now: dt.datetime, asked: bool, market: MarketDefinition | None) -> _EmailSteps:
    """Render each email step from its owner's mailbox, then send them under the send guard (`send_all`).

    A contact whose owner has no mailbox (and a CRM tenant with none) gets the draft as a task for the rep
    instead: nothing in the CRM says an email was sent unless a mail system accepted it.
    """
    result = _EmailSteps()
    email_steps = [item for item in due if _step(item)["channel"] == "email"]
    owners = {item["email"]: _owner(contacts, item) for item in email_steps}
    by_owner = {owner: runtime.mailbox_for(tenant, owner) for owner in set(owners.values())}  # one lookup each
    mailboxes = {email: by_owner[owner] for email, owner in owners.items()}
    tokens = ledger.unsubscribe_tokens(tenant, [item["email"] for item in email_steps])
    renders, result.unwritable = _render_emails(tenant, email_steps, tokens, mailboxes, now, market)
    outgoing, item_of = [], {}
    for item in email_steps:
        key = _step_key(tenant, item)
        if key not in renders:
            continue
        mailbox = mailboxes[item["email"]]
        if market and item.get("tier") and needs_review(market, item["tier"]) and not item.get("approved"):
            result.reviews[key] = renders[key][0]  # held (`_hold_reviews`) once its task is in the CRM
        elif mailbox is None:
            result.drafts[key] = renders[key][0]
        else:
            outgoing.append(Outgoing(key=key, email=item["email"], data=renders[key][1], mailbox=mailbox.address))
            item_of[key] = item
    paused = [o for o in outgoing if mailboxes[o.email].paused]
    outgoing = [o for o in outgoing if o not in paused]
    for o in paused:
        reason = f"the mailbox {o.mailbox} is paused: {mailboxes[o.email].paused_reason}"
        result.retry[o.key] = (reason, now + dt.timedelta(seconds=MAILBOX_RETRY))
    by_address = {mailbox.address: mailbox for mailbox in mailboxes.values() if mailbox}
    budget = SendBudget(get_current_job().connection)
    admission = admit(budget, runtime.settings(), tenant, outgoing, by_address,
                      {o.key: Recipient(item_of[o.key].get("timezone"), item_of[o.key].get("country"))
                       for o in outgoing}, now=now, on_request=asked)
    result.throttled = {key: (decision.reason, decision.retry_at) for key, decision in admission.refused.items()}
    outgoing = [o for o in outgoing if o.key not in admission.refused]
    outcome = None
    try:
        with runtime.channels(tenant, by_address) as channels:
            outcome = send_all(ledger, tenant, outgoing, channels, runtime.send_marks())
    finally:  # the caps' places of what did not go out are given back, even when the job fails
        budget.release(*(r for key, r in admission.reservations.items() if outcome is None or key not in outcome.sent))
    for address, reason in outcome.broken.items():
        runtime.mailboxes().pause(tenant, address, reason)  # an admin fixes its credential, then resumes it
    sent_from = {o.key: o for o in outgoing}
    for key, receipt in outcome.sent.items():
        result.sent[key] = (renders[key][0], receipt, sent_from[key].mailbox)
    result.uncertain, result.stopped, result.bounced = set(outcome.uncertain), outcome.stopped, outcome.bounced
    result.unwritable |= outcome.failed
    for key, (reason, after) in outcome.deferred.items():
        log.warning("email step %s not sent now: %s", key, reason)
        result.retry[key] = (reason, now + dt.timedelta(seconds=after if after is not None else SEND_RETRY_SECONDS))
    for key in outcome.bounced:
        ledger.suppress(tenant, sent_from[key].email, "bounce")
    return result


def _owner(contacts: dict[str, CrmContact], item: dict) -> str | None:
    contact = contacts.get(item["email"].lower())
    return contact.owner_id if contact else None


def _reschedule(tenant: str, keys: dict[str, dict], throttled: dict[str, tuple[str, dt.datetime]]) -> list[dict]:
    """Move each step refused by a window or a cap, and the steps after it, to the time the refusal names (their
    spacing kept); returns the moved steps, whose new times the caller writes into the CRM."""
    settings, moved = runtime.settings(), []
    for key, (_, at) in throttled.items():
        item = keys[key]
        sequence = [SequenceStep.model_validate(step) for step in item["sequence"]]
        zone = _zone(item, sequence[item["step_index"]])
        later = reschedule(sequence, item["step_index"], at, zone, item.get("country"), settings.salesos_send_hour)
        moved.append({**item, "sequence": _dump(later)})
    enqueue_steps(tenant, moved)
    return moved


def _complete_sent(tenant: str, lease: Lease, emails: _EmailSteps, keys: dict[str, dict]) -> None:
    """The CRM refused to take the batch's records after the sends: what went out is done all the same, and its
    sequence goes on (its CRM record is what is missing; the run summary's CRM errors say so)."""
    done = lease.complete(list(emails.sent))
    enqueue_steps(tenant, [_next_step(keys[key]) for key in done
                           if keys[key]["step_index"] + 1 < len(keys[key]["sequence"])])


def _hold_reviews(tenant: str, review_keys, keys: dict[str, dict]) -> None:
    """Held for approval only once its task is in the CRM: a task never created is never read as deleted."""
    conn = get_current_job().connection
    for key in review_keys:
        pending_reviews.hold(conn, tenant, key, keys[key])
    if review_keys:
        arm_review_check(conn, tenant, runtime.now() + pending_reviews.CHECK_EVERY)


def _next_step(item: dict) -> dict:
    """The following step of `item`'s sequence; a rep's approval of this one is not one of the next."""
    return {**{k: v for k, v in item.items() if k != "approved"}, "step_index": item["step_index"] + 1}


def _requeue(tenant: str, items: list[dict], at: dt.datetime) -> None:
    """Queue steps again at `at` (a mail system that said "later"); their reasons are in the worker's log."""
    digest = "|".join(f"{i['email']}#{i['step_index']}" for i in sorted(items, key=lambda i: i["email"]))
    enqueue_once(get_current_job().connection, "outreach", outreach_job, {"tenant": tenant, "items": items,
                                                                          "on_request": True},
                 job_key=job_id("outreach", tenant, f"retry|{at:%Y-%m-%dT%H:%M:%S}|{digest}"), at=at)


def _render_emails(tenant: str, due: list[dict], tokens: dict[str, str], mailboxes: dict, now: dt.datetime,
                   market: MarketDefinition | None) -> tuple[dict[str, tuple[Rendered, bytes]], dict[str, str]]:
    """Each email step's message and its bytes, made before the send guard is taken (it is the slow part), in the
    market's templates, its links tracked; a step whose data cannot make one fails alone, with its reason."""
    renders, unwritable = {}, {}
    signer = runtime.link_signer() if due else None
    for item in due:
        key = _step_key(tenant, item)
        try:
            step = _step(item)
            draft = EmailDraft(key=key, to_name=item["name"], to_email=item["email"], title=item.get("title") or "",
                               company_name=item["company_name"], message_type=step["message_type"],
                               hooks=item["hooks"], unsubscribe_url=runtime.unsubscribe_url(tokens[item["email"]]),
                               thread_key=_thread_key(tenant, item),
                               first_email_type=first_email_type(item["sequence"], item["step_index"]))
            track = (lambda body, key=key, email=item["email"]: rewrite_links(
                body, lambda url: signer.click_url(tenant, key, email, url))) if signer else None
            rendered = render(draft, runtime.sender(mailboxes.get(item["email"])), now,
                              templates=market.templates if market else None, track=track)
            renders[key] = (rendered, rendered.message.as_bytes())
        except (ValueError, KeyError, TypeError, MessageError) as exc:  # the step's data, not the job's: it fails alone
            log.error("outreach step %s cannot be written: %s: %s", key, type(exc).__name__, exc)
            unwritable[key] = clip(f"{type(exc).__name__}: {exc}", 300)
    return renders, unwritable


def _thread_key(tenant: str, item: dict) -> str | None:
    """The key of the sequence's first email, when this step follows it: a follow-up answers it (In-Reply-To), so
    the prospect's mail client and the CRM keep the sequence in one thread."""
    first = next((index for index, step in enumerate(item["sequence"]) if step["channel"] == "email"), None)
    if first is None or first >= item["step_index"]:
        return None
    return _step_key(tenant, {**item, "step_index": first})


def _sent_activity(key: str, item: dict, step: dict, rendered: Rendered, receipt: SendReceipt,
                   mailbox: str) -> ActivityWrite:
    """The CRM's record of a sent email, with the ids that thread the prospect's reply to it."""
    headers = [f"From: {mailbox}", f"To: {item['email']}", f"Message-ID: {receipt.message_id}"]
    if rendered.message["In-Reply-To"]:
        headers.append(f"In-Reply-To: {rendered.message['In-Reply-To']}")
    return ActivityWrite(
        key=key, contact_email=item["email"], kind="email", subject=rendered.subject,
        body="\n".join(headers) + f"\n\n{rendered.body}", occurred_at=receipt.accepted_at,
    )


def _text(tenant: str, key: str, item: dict, contact: CrmContact | None, now: dt.datetime,
          emails: _EmailSteps) -> ActivityWrite | None:
    """An SMS step: texted only with the contact's consent on record, under the send guard (an opt-out, a reply
    or a meeting committed first stops it); the CRM logs a text that went. A step Twilio refuses for good is
    skipped; one it puts off waits for the job's retry."""
    from connector.sms_steps import text_step  # Twilio and phone numbers load only where a sequence texts

    first = item["name"].split()[0] if item["name"].strip() else "there"
    hook = item["hooks"][0] if item["hooks"] else f"I have an idea for {item['company_name']}'s pipeline"
    message = f"Hi {first}, {hook}. Worth a 15-minute call this week?"
    with runtime.ledger().sending(tenant, [item["email"]]) as allowed:
        if item["email"].lower() not in allowed:
            steps_log.info("SMS step %s not texted: the contact opted out or replied", key)
            return None
        outcome = text_step(runtime.settings(), tenant, key, contact.phone if contact else None, item.get("country"),
                            message, runtime.sender(None).name, runtime.send_marks())
    if outcome.wait is not None:
        reason, after = outcome.wait
        emails.retry[key] = (reason, now + dt.timedelta(seconds=after if after is not None else SEND_RETRY_SECONDS))
        return None
    if outcome.receipt is None:
        steps_log.info("SMS step %s not texted: %s", key, outcome.skipped)
        return None
    return ActivityWrite(key=key, contact_email=item["email"], kind="sms", subject=f"SMS to {item['name']}",
                         body=f"{message}\n\nTwilio message {outcome.receipt.sid}", occurred_at=runtime.now())


def _uncertain_task(key: str, item: dict, step: dict) -> TaskWrite:
    """A worker stopped while sending this step: it may have gone out. SalesOS never sends a step twice, so the
    owner checks their Sent folder."""
    return TaskWrite(
        key=key, contact_email=item["email"], kind="email",
        subject=f"Check whether SalesOS's email to {item['name']} went out ({item['company_name']})"[:255],
        body=f"A SalesOS worker stopped while sending the {step['message_type']} email of this sequence, so it may "
             "or may not have been sent. SalesOS will not send it again. Look for it in your Sent folder; if it is "
             "not there, send it yourself or skip it, then complete this task.",
        due_at=dt.datetime.fromisoformat(step["scheduled_at"]),
    )


def _bounced_write(email: str) -> ContactWrite:
    return ContactWrite(email=email, fields={"sequence_state": "bounced", "next_touch_at": None})


def _draft_task(key: str, item: dict, step: dict, rendered: Rendered) -> TaskWrite:
    """A CRM tenant's record of the step: an open task for the rep holding the draft to send from the CRM.

    SalesOS sends no email yet, so nothing in the customer's CRM may say one was
    sent (no email engagement, no completed email task); the outbox file is on
    a worker's disk, where no rep can reach it.
    """
    return TaskWrite(
        key=key, contact_email=item["email"], kind="email",
        subject=f"Email {item['name']} ({item['company_name']}): {rendered.subject}"[:255],  # Salesforce's limit
        body=f"SalesOS drafted this {step['message_type']} email; it has not been sent. Send it from the CRM, "
             f"then complete this task.\n\nTo: {item['name']} <{item['email']}>\nSubject: {rendered.subject}\n\n"
             f"{rendered.body}",
        due_at=dt.datetime.fromisoformat(step["scheduled_at"]),
    )


_TASK_SUBJECT = {
    "send_connection_request": "LinkedIn: send a connection request to {name}",
    "send_message": "LinkedIn: message {name}",
    "make_call": "Call {name}",
}


_TASK_COPY = {"send_connection_request": "linkedin_connection", "send_message": "linkedin_message",
              "make_call": "call_script"}


def _rep_task(key: str, item: dict, step: dict, market: MarketDefinition | None = None,
              contact: CrmContact | None = None, call_link=None) -> TaskWrite:
    """A LinkedIn or phone step: the rep's task, carrying the drafted note, message or call script (LinkedIn has
    no sanctioned API for sending them); a call task links to click-to-call when Twilio is set up."""
    subject = _TASK_SUBJECT.get(step["action"], "{name}: " + step["action"]).format(name=item["name"])
    lines = [f"{item.get('title') or 'Contact'} at {item['company_name']} ({step['message_type']})."]
    kind = _TASK_COPY.get(step["action"])
    if kind:
        draft = Draft(key=key, to_name=item["name"], to_email=item["email"], title=item.get("title") or "",
                      company_name=item["company_name"], message_type=step["message_type"], hooks=item["hooks"],
                      objections=item.get("objections") or [])
        lines += ["", render_task_copy(kind, draft, templates=market.templates if market else None)]
    if step["channel"] == "phone" and contact is not None and call_link is not None:
        link = call_link(contact.owner_id, item["email"], contact.phone, contact.country or item.get("country"))
        lines += [f"\nClick to call (your phone rings first): {link}"] if link else []
    else:
        lines += [f"Hook: {hook}" for hook in item["hooks"]]
    return TaskWrite(
        key=key, contact_email=item["email"], kind="linkedin" if step["channel"] == "linkedin" else "call",
        subject=f"{subject} ({item['company_name']})", body="\n".join(lines),
        due_at=dt.datetime.fromisoformat(step["scheduled_at"]),
    )


def _review_task(key: str, item: dict, rendered: Rendered) -> TaskWrite:
    """The drafted email for a rep to approve: completing the task sends it, deleting it skips it."""
    step = _step(item)
    review = review_task(item["name"], item["email"], item["company_name"], step["message_type"], rendered.subject,
                         rendered.body)
    return TaskWrite(key=pending_reviews.task_key(key), contact_email=item["email"], kind="email",
                     subject=review.subject, body=review.body, due_at=dt.datetime.fromisoformat(step["scheduled_at"]))


def _progress_write(item: dict) -> ContactWrite:
    following = item["step_index"] + 1
    if following < len(item["sequence"]):
        fields = {"sequence_state": "active",
                  "next_touch_at": dt.datetime.fromisoformat(item["sequence"][following]["scheduled_at"])}
    else:
        fields = {"sequence_state": "finished", "next_touch_at": None}
    return ContactWrite(email=item["email"], fields=fields)


def _first_step(ctx: dict, plan: LeadPlan) -> dict:
    """Everything a step needs, so the outreach worker reads nothing else."""
    company: Company = ctx["company"]
    return {
        "email": plan.email,
        "name": ctx["contact"]["name"],
        "title": ctx["contact"]["title"],
        "company_name": company.name,
        "company_domain": company.domain,
        "step_index": 0,
        "sequence": _dump(plan.sequencing),
        "hooks": [hook.text for hook in plan.personalization_hooks],
        "objections": _dump(plan.objection_angles),
        "timezone": plan.timezone,  # where a step that falls overdue moves to (the next send window)
        "tier": plan.priority_tier,  # a market may hold this tier's emails for a rep's review
        "country": ctx["contact"].get("country") or company.country,
    }


def enqueue_steps(tenant: str, items: list[dict], run: RunContext | None = None, label: str = "",
                  on_request: bool = False, asked: bool = False) -> int:
    """One job per due time; returns how many steps were newly queued (a duplicate job is a no-op).

    With `run` (send-now) the steps are due at once and part of the run. `label`
    makes a distinct job of steps queued again (resumed after a rep's pause).
    Steps sent `on_request` (send-now, a rep's resume, a retry) run however late they are; those a person `asked`
    for now (send-now, a rep's resume) also skip the prospect's send window.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        groups["now" if run else _step(item)["scheduled_at"]].append(item)
    connection = get_current_job().connection
    enqueued = 0
    for when, group in groups.items():
        for chunk in _batches(sorted(group, key=lambda i: i["email"]), 500):
            digest = "|".join(f"{i['email']}#{i['step_index']}" for i in chunk)
            job = enqueue_once(
                connection, "outreach", outreach_job,
                {"tenant": tenant, "items": chunk} | ({"on_request": True} if run or on_request or asked else {})
                | ({"asked": True} if run or asked else {}),
                job_key=job_id("outreach", tenant, f"{label}{when}|{digest}"),
                run_id=run.run_id if run else None,
                at=None if run else dt.datetime.fromisoformat(when),
            )
            enqueued += len(chunk) if job else 0
    return enqueued


def _step_key(tenant: str, item: dict) -> str:
    """A step's ledger key; a re-planned sequence (version 1, 2, ...) has steps of its own."""
    version = item.get("version", 0)
    return effect_key("outreach", tenant, item["email"], f"v{version}.{item['step_index']}" if version
                      else item["step_index"])


def _step(item: dict) -> dict:
    return item["sequence"][item["step_index"]]


# --- shared helpers ---------------------------------------------------------


def _next(run: RunContext, stage: str, func, index: int | str, body: dict) -> None:
    payload = {"run": run.model_dump(mode="json"), **body}
    enqueue_once(
        get_current_job().connection, stage, func, payload,
        job_key=job_id("run", run.run_id, stage, str(index)), run_id=run.run_id,
        timeout=runtime.settings().salesos_job_timeout,
    )


def _batch_index() -> str:
    """A child job keeps its parent's batch number: enrich-3 leads to contacts-3."""
    return get_current_job().id.rsplit("-", 1)[1]


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stages(crm, domains: list[str]) -> dict[str, str | None]:
    return {account.domain: account.fields.get("salesos_stage") for account in crm.get_accounts(domains)}


def _advance(current: str | None, reached: str) -> str:
    """The furthest stage wins: a re-run never moves a company backwards."""
    if current in STAGE_ORDER and STAGE_ORDER.index(current) > STAGE_ORDER.index(reached):
        return current
    return reached


def _state(contact) -> str | None:
    return contact.fields.get("sequence_state") if contact else None


def _advance_accounts(crm, names: dict[str, str], reached: str) -> None:
    current = _stages(crm, list(names))
    crm.upsert_accounts([
        AccountWrite(domain=domain, name=name, fields={"salesos_stage": _advance(current.get(domain), reached)})
        for domain, name in names.items()
    ])


def _kept(written) -> int:
    """Fields SalesOS left alone because a person changed them after SalesOS wrote them."""
    return sum(len(fields) for fields in written.kept_edits.values())


def _errors(errors: dict[str, str]) -> list[dict]:
    return [{"key": key, "reason": reason} for key, reason in errors.items()]


def _dump(value: Any) -> Any:
    """Pydantic models (or containers of them) as JSON-ready data."""
    if isinstance(value, list):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value
