"""The engagement stage's scoring: a contact's engagement score in the CRM, and a task for the owner when the
lead turns hot. Run after each reply, meeting or click; the score's inputs are the engagement log's events."""

from __future__ import annotations

import datetime as dt

from agents.engagement import engagement_score, hot_lead_task, turned_hot
from connector import runtime
from connector.engagement_log import EngagementLog
from crm_adapters.base import ContactWrite, TaskWrite


def engagement_job(payload: dict) -> dict:
    """Score one contact again (a click was recorded, or a reply)."""
    tenant, email = payload["tenant"], payload["email"].lower()
    crm = runtime.crm_for(tenant)
    contacts = crm.get_contacts([email])
    if not contacts:
        return {"engagement_without_contact": 1}
    return rescore(tenant, crm, contacts[0], runtime.now())


def rescore(tenant: str, crm, contact, now: dt.datetime) -> dict:
    """Write the score; the owner's hot-lead task when it crosses the threshold upwards (from the score the CRM
    held, so a repeated run adds no task)."""
    events = EngagementLog(runtime.settings().database_url).events(tenant, contact.email)
    before = float(contact.fields.get("engagement_score") or 0)
    after = engagement_score(events, now)
    crm.upsert_contacts([ContactWrite(email=contact.email, fields={"engagement_score": after})])
    if not turned_hot(before, after, runtime.settings().salesos_engagement.hot_threshold):
        return {"contacts_scored": 1, "hot_leads": 0}
    task = hot_lead_task(tenant, contact.email, after, events, now, name=contact.name)
    crm.create_tasks([TaskWrite(**task.model_dump())])
    return {"contacts_scored": 1, "hot_leads": 1}
