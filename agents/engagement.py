"""How engaged a contact is, from what they did with our messages; and when a lead turns hot.

Replies and meetings are what a rep acts on, so they weigh most. A click is a
real hand on a real link, some of the time (link scanners click too). Opens
are barely evidence: Apple Mail Privacy Protection and corporate proxies
fetch every pixel, so opens weigh very little and their total is capped.
Everything fades with age (a half-life), so last quarter's reply does not
keep a lead hot forever. A complaint ends it: the score is 0. Bounces say
nothing about interest and count for nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["click", "open", "reply", "meeting", "bounce", "complaint"]


class EngagementEvent(BaseModel):
    """One thing a contact did (or that happened to a message to them)."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    email: str
    kind: Kind
    at: dt.datetime
    step_key: str | None = None
    reliable: bool = True  # False for opens: a proxy may have opened it
    detail: str | None = None
    negative: bool = False  # a reply classified as a refusal: it is engagement, but not interest

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("at must carry a time zone (UTC)")
        return value


class EngagementConfig(BaseModel):
    """SALESOS_ENGAGEMENT (JSON) overrides any of these."""

    weights: dict[Literal["click", "open", "reply", "meeting"], float] = Field(
        default_factory=lambda: {"meeting": 60.0, "reply": 45.0, "click": 12.0, "open": 1.5})
    open_cap: float = Field(default=5.0, ge=0, description="the most all opens together add")
    half_life_days: float = Field(default=14.0, gt=0)
    hot_threshold: float = Field(default=50.0, gt=0, le=100)

    @field_validator("weights")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for kind, weight in value.items():
            if weight < 0 or not math.isfinite(weight):
                raise ValueError(f"weights.{kind} must be a finite number >= 0")
        return value


def engagement_score(events: list[EngagementEvent], now: dt.datetime, config: EngagementConfig | None = None) -> float:
    """0-100: the sum of each event's weight halved every `half_life_days` of its age, opens capped, clipped."""
    config = config or EngagementConfig()
    if any(event.kind == "complaint" for event in events):
        return 0.0
    total = opens = 0.0
    for event in events:
        weight = config.weights.get(event.kind, 0.0)
        if weight == 0.0 or (event.kind == "reply" and event.negative):
            continue
        age_days = max((now - event.at).total_seconds(), 0.0) / 86400
        value = weight * 0.5 ** (age_days / config.half_life_days)
        if event.kind == "open":
            opens += value
        else:
            total += value
    return round(min(100.0, total + min(opens, config.open_cap)), 2)


def turned_hot(before: float, after: float, threshold: float) -> bool:
    """The score crossed the threshold upwards now: once per crossing, so a hot lead gets one task, not one per
    event (it can turn hot again after cooling below it)."""
    return before < threshold <= after


class HotLeadTask(BaseModel):
    """A task for the contact's owner; the same fields as `crm_adapters.base.TaskWrite`."""

    key: str
    contact_email: str
    kind: str = "hot_lead"
    subject: str
    body: str
    due_at: dt.datetime


_LABELS = {"meeting": "meeting booked", "reply": "replied", "click": "clicked a link", "open": "opened (unreliable)"}


def hot_lead_task(tenant: str, email: str, score: float, events: list[EngagementEvent], now: dt.datetime,
                  name: str | None = None) -> HotLeadTask:
    """What the owner is told: who, the score, and the newest evidence first, due today. Its key is the
    contact and the day, so a retried job makes one task."""
    who = name or email
    recent = sorted((e for e in events if e.kind in _LABELS), key=lambda e: e.at, reverse=True)[:10]
    lines = [f"- {e.at:%Y-%m-%d %H:%M} UTC: {_LABELS[e.kind]}" + (f" ({e.detail})" if e.detail else "")
             for e in recent]
    body = (f"{who} is engaging with your outreach (engagement score {score:.0f}/100). Follow up today.\n\n"
            "Recent activity:\n" + "\n".join(lines or ["- none recorded"]))
    return HotLeadTask(key=f"hot:{tenant}:{email.lower()}:{now:%Y-%m-%d}", contact_email=email.lower(),
                       subject=f"Hot lead: {who} (score {score:.0f})", body=body, due_at=now)
