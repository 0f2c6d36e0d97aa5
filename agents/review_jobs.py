"""The engagement stage's review check: a rep approved (completed) or skipped (deleted) a held email's task."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from rq import get_current_job

from connector import pending_reviews, runtime
from connector.queues import enqueue_once, job_id

log = logging.getLogger(__name__)
TASK_GRACE = dt.timedelta(hours=1)  # a task not in the CRM this long after its step was held was deleted


def review_check_job(payload: dict) -> dict:
    """Send each held email whose task a rep completed; skip (and move past) each whose task was deleted."""
    tenant, conn, now = payload["tenant"], get_current_job().connection, runtime.now()
    try:
        return _check(tenant, conn, now)
    finally:  # a CRM that failed this time is asked again next time: the check never stops while steps wait
        if pending_reviews.pending(conn, tenant):
            arm_review_check(conn, tenant, now + pending_reviews.CHECK_EVERY)


def _check(tenant: str, conn, now: dt.datetime) -> dict:
    from agents.jobs import enqueue_steps  # the outreach job's own queueing

    held = pending_reviews.pending(conn, tenant)
    crm = runtime.crm_for(tenant)
    by_contact: dict[str, list[str]] = defaultdict(list)
    for key, (item, _) in held.items():
        by_contact[item["email"]].append(key)
    approved, skipped = [], []
    for email, keys in by_contact.items():
        tasks = {task.key: task for task in crm.get_tasks(email)}
        for key in keys:
            item, held_at = held[key]
            task = tasks.get(pending_reviews.task_key(key))
            if task is not None and task.status == "done":
                approved.append(key)
            elif task is None and now - held_at > TASK_GRACE:
                skipped.append(key)
    enqueue_steps(tenant, [{**held[key][0], "approved": True} for key in approved], label="approved|",
                  on_request=True)
    _skip(tenant, [held[key][0] for key in skipped])
    pending_reviews.release(conn, tenant, approved + skipped)
    return {"reviews_approved": len(approved), "reviews_skipped": len(skipped)}


def _skip(tenant: str, items: list[dict]) -> None:
    """A rep deleted the review task: that email is never sent, and the sequence goes on to its next step."""
    from agents.jobs import _step_key, enqueue_steps

    if not items:
        return
    keys = [_step_key(tenant, item) for item in items]
    with runtime.ledger().lease(keys) as lease:
        lease.complete(list(lease.held))
    enqueue_steps(tenant, [{**item, "step_index": item["step_index"] + 1} for item in items
                           if item["step_index"] + 1 < len(item["sequence"])])


def arm_review_check(conn, tenant: str, at: dt.datetime) -> None:
    enqueue_once(conn, "engagement", review_check_job, {"tenant": tenant},
                 job_key=job_id("reviews", tenant, f"{at:%Y-%m-%dT%H:%M}"), at=at)
