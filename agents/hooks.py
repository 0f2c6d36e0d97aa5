"""Hooks as sentences: each intent point read the way a rep would write it in an email.

A rule label ("Open VP/Head of Sales or CRO role: VP of Sales (2026-10-01)")
tells a rep why a lead scored; a prospect reading it would know a machine
wrote the email. Each sentence is a clause that starts with "you" or "your",
so a template can write "I noticed {{ hook }}." and a rep's task can list it.

Dates read two ways. Without a send date the sentence is absolute ("on
3 October", "in September"), so what is stored in the CRM never goes stale;
with one it is relative where that reads better ("last week", "last month").
"""

from __future__ import annotations

import datetime as dt
import re

from agents.models import Evidence, Hook, IntentPoint

# Sources a prospect would recognise; internal feed names ("job-board", "news") are left out of the sentence.
_SOURCE_NAMES = {
    "greenhouse": "Greenhouse", "lever": "Lever", "ashby": "Ashby", "workable": "Workable", "linkedin": "LinkedIn",
    "indeed": "Indeed", "g2": "G2", "capterra": "Capterra", "trustradius": "TrustRadius",
}
_ROUND = re.compile(r"\b(pre-?seed|seed|series\s+[a-z]|growth|ipo)\b", re.I)
_MAX_TITLE = 60  # a job title or event name longer than this is a scraped blob, not a name


def hook_from_point(point: IntentPoint, today: dt.date | None = None) -> Hook:
    """The point as a Hook whose text is a sentence; `rule` is kept so it can be re-dated at send time."""
    return Hook(text=sentence(point.rule, point.evidence, today), evidence=point.evidence, rule=point.rule)


def hook_sentences(hooks: list[Hook], today: dt.date) -> list[str]:
    """The hooks' sentences dated relative to `today` (the send date); a hook without a rule keeps its text."""
    return [sentence(hook.rule, hook.evidence, today) if hook.rule else hook.text for hook in hooks]


def sentence(rule: str, evidence: list[Evidence], today: dt.date | None = None) -> str:
    """One intent rule and its evidence (newest first) as a clause a rep would write."""
    latest = evidence[0] if evidence else None
    date = latest.date if latest else None
    title = _name(latest.title) if latest else None
    source = _SOURCE_NAMES.get((latest.source or "").strip().casefold()) if latest else None
    month = when_month(date, today)
    match rule:
        case "Open VP/Head of Sales or CRO role" | "Open SDR/BDR/sales development role":
            default = "a sales leader" if rule.startswith("Open VP") else "a sales development rep"
            role = _with_article(title) if title else default
            return f"you are hiring {role}{_posted(date, source, today)}"
        case "3 or more sales roles posted":
            count = f"{len(evidence)}" if len(evidence) < 5 else "5 or more"
            return f"you have {count} sales roles open{_posted(date, source, today, 'the latest posted')}"
        case "Raised Series B or later" | "Raised Seed or Series A":
            found = _ROUND.search(latest.title or "") if latest else None
            raised = f"raised {_with_article(_round(found.group(1)))}" if found else "raised a new round"
            return f"you {raised}{_space(month)}"
        case "Expansion news":
            return f"you announced an expansion{_space(month)}"
        case "Partnership news":
            return f"you announced a new partnership{_space(month)}"
        case "Pricing page changed" | "Demo page changed" | "Features page changed":
            page = rule.split()[0].lower()
            return f"your {page} page changed{_space(month)}"
        case "Active in software reviews" | "Negative review of a competitor":
            return f"your team has been reviewing sales tools{_space(month)}"
        case "Exhibited at a conference" | "Attended a conference":
            event = title or "a conference"
            verb = "exhibited at" if rule.startswith("Exhibited") else "were at"
            return f"you {verb} {event}{_space(month)}"
    # A rule this module does not know yet still reads as a clause, with its date.
    label = rule[:1].lower() + rule[1:]
    return f"{label}{_space(month)}" if month else label


def when_day(date: dt.date, today: dt.date | None) -> str:
    """A day: "on 3 October", or relative to today ("today", "yesterday", "last week")."""
    if today is not None:
        days = (today - date).days
        if days == 0:
            return "today"
        if days == 1:
            return "yesterday"
        monday = today - dt.timedelta(days=today.weekday())
        if days > 1 and date >= monday:
            return "this week"
        if days > 1 and date >= monday - dt.timedelta(days=7):
            return "last week"
    return f"on {date.day} {date:%B}{_year(date, today)}"


def when_month(date: dt.date | None, today: dt.date | None) -> str:
    """A month: "in September", or relative to today ("this month", "last month", "last week")."""
    if date is None:
        return ""
    if today is not None:
        days = (today - date).days
        day = when_day(date, today) if 0 <= days <= 13 else ""
        if day and not day.startswith("on "):
            return day
        if (date.year, date.month) == (today.year, today.month):
            return "earlier this month"
        previous = today.replace(day=1) - dt.timedelta(days=1)
        if (date.year, date.month) == (previous.year, previous.month):
            return "last month"
    return f"in {date:%B}{_year(date, today)}"


def _posted(date: dt.date | None, source: str | None, today: dt.date | None, verb: str = "posted") -> str:
    if date is None:
        return f" ({verb} on {source})" if source else ""
    day = when_day(date, today).removeprefix("on ")  # "posted 3 October on Greenhouse"
    return f" ({verb} {day}{f' on {source}' if source else ''})"


def _year(date: dt.date, today: dt.date | None) -> str:
    """The year only where the month alone would be ambiguous. Without a send date there is none: intent counts
    signals of the last 180 days only, so the month alone is the one a reader thinks of."""
    return "" if today is None or abs((today - date).days) < 300 else f" {date.year}"


def _space(text: str) -> str:
    return f" {text}" if text else ""


def _name(title: str | None) -> str | None:
    title = " ".join((title or "").split())
    return title if title and len(title) <= _MAX_TITLE else None


def _round(text: str) -> str:
    text = " ".join(text.split())
    if text.casefold().startswith("series"):
        return "Series " + text.split()[1].upper()
    return {"ipo": "IPO"}.get(text.casefold(), text.lower() + " round")


def _with_article(noun: str) -> str:
    """ "a VP of Sales", "an SDR", "an Account Executive"; initialisms read by their letters."""
    first = noun.split()[0]
    letter_sound = first.isupper() and len(first) > 1
    vowel = first[0].lower() in "aeiou" or (letter_sound and first[0] in "AEFHILMNORSX")
    return f"{'an' if vowel else 'a'} {noun}"
