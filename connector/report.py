"""The demo report: one self-contained HTML page (no external assets)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from agents.urls import is_http_url
from connector.export import export_crm
from connector.private_files import write_private
from connector.settings import Settings
from crm_adapters.local import LocalCRM

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
)


def local_time(value: str | None) -> str:
    """'2026-11-02T09:00:00-05:00' as a rep reads it: 'Mon 2 Nov, 09:00'."""
    if not value:
        return "not scheduled"
    moment = dt.datetime.fromisoformat(value)
    return f"{moment:%a} {moment.day} {moment:%b}, {moment:%H:%M}"


_ENV.filters["local_time"] = local_time
# `is http_url`: the report reads CRM fields a person may have edited, so only an http(s) URL becomes a link.
_ENV.tests["http_url"] = is_http_url


def write_report(settings: Settings, top: int = 20) -> Path:
    summary_path = settings.home / "last_run.json"
    if not summary_path.exists():
        raise FileNotFoundError(f"{summary_path} does not exist; run `python -m connector run` first")
    summary = json.loads(summary_path.read_text())
    crm = LocalCRM(settings.crm_path)
    try:
        data = export_crm(crm)
    finally:
        crm.close()
    html = _ENV.get_template("report.html.j2").render(
        summary=summary, funnel=funnel_rows(summary), tiers=tier_rows(summary),
        leads=top_leads(data, top), crm_path=settings.crm_path, outbox=settings.outbox,
    )
    return write_private(settings.home / "report.html", html)


def funnel_rows(summary: dict[str, Any]) -> list[tuple[str, int]]:
    deduped = summary["companies_read"] - summary["duplicates_merged"]
    kept = deduped - summary["excluded"]
    return [
        ("Company records read", summary["companies_read"]),
        ("Unique companies", deduped),
        ("Not excluded", kept),
        ("Qualified", summary["qualified"]),
        ("Enriched", summary["enriched"]),
        ("With a buying team", summary["companies_searched"] - summary["companies_without_contacts"]),
        ("Contacts sequenced", summary["scored"]),
    ]


def tier_rows(summary: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted(summary["tiers"].items())


def top_leads(data: dict[str, list[dict]], top: int) -> list[dict[str, Any]]:
    """The best contacts first, each with its company's reasons."""
    accounts = {account["domain"]: account for account in data["accounts"]}
    scored = [c for c in data["contacts"] if c.get("priority_score") is not None]
    scored.sort(key=lambda c: (-c["priority_score"], -(c.get("buying_authority") or 0), c["email"]))
    return [{"contact": contact, "account": accounts.get(contact["company_domain"], {})} for contact in scored[:top]]
