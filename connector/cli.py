"""`python -m connector`: run the funnel, export the CRM, serve, work.

Machine-readable output goes to stdout; progress, tables and errors go to
stderr, so `--json` output can be piped straight into another program.
Messages are never wrapped by the program (a terminal wraps them; a file
keeps each line whole). A failure a user can fix is one line and exit code
1 or 2 (`connector.cli_failures`); `--debug` shows its traceback instead.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.validation import quote
from connector.db_commands import db_app
from connector.key_commands import api_key_app, operator_key_app
from connector.mailbox_commands import mailbox_app
from connector.markets import MarketError, load_market
from connector.provider_key_commands import provider_key_app
from connector.settings import load_settings
from connector.twilio_commands import twilio_app

# Tracebacks are plain and show no local variables (a token may be one); usage errors are boxed on a terminal only.
app = typer.Typer(add_completion=False, no_args_is_help=True, help="SalesOS: prospecting inside your CRM.",
                  pretty_exceptions_enable=False, rich_markup_mode="rich" if sys.stderr.isatty() else None)
err = Console(stderr=True, soft_wrap=True)
_debug = False


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="on a failure, show its traceback instead of "
                                                                 "one line (also after the command's name)")] = False,
             ) -> None:
    global _debug
    _debug = debug


def _as_of(value: Optional[str]) -> dt.date:
    from connector.runs import as_of_date

    if value is None:
        return dt.date.today()
    try:
        return as_of_date(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from None


@app.command()
def run(
    market: Annotated[Path, typer.Option(help="market definition (YAML)")],
    data: Annotated[Optional[list[Path]], typer.Option(help="JSONL or CSV data file; repeatable")] = None,
    as_of: Annotated[Optional[str], typer.Option(help="judge signals as of this date (YYYY-MM-DD); default today")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    send_now: Annotated[bool, typer.Option(help="execute every first step now (demo) instead of at its time")] = False,
    workers: Annotated[int, typer.Option(min=0, max=32, help="worker processes to start; 0: none, the run waits "
                                          "for the workers of any host sharing REDIS_URL")] = 2,
    tenant: Annotated[str, typer.Option(help="installed tenant to write to (see `tenants list`)")] = "local",
) -> None:
    """Run a market through the whole funnel, on the local CRM or an installed tenant's CRM."""
    from connector.providers.base import ProviderError
    from connector.runner import RunFailed, execute_run

    settings = load_settings()
    date = _as_of(as_of)
    _check_tenant(tenant)
    try:
        definition = load_market(market)
    except MarketError as exc:
        if len(exc.problems) == 1:
            err.print(f"[red]Invalid market definition[/red] {escape(str(exc))}", highlight=False)
        else:
            err.print(f"[red]Invalid market definition[/red] {escape(exc.source)}:", highlight=False)
            for problem in exc.problems:
                err.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    files = _data_files(tenant, data)
    if workers == 0:
        if not settings.redis_url:
            raise typer.BadParameter("0 needs REDIS_URL, the Redis the workers of other hosts share; without it "
                                     "a run starts its own Redis, which no other worker sees", param_hint="--workers")
        err.print("Queued for the workers already running (`python -m connector worker`, on any host sharing "
                  "REDIS_URL); waiting for them.", highlight=False)
    try:
        with _FunnelProgress() as progress:
            summary = execute_run(settings, definition, files, date, send_now=send_now, workers=workers,
                                  on_progress=progress.update, tenant=tenant)
    except (ProviderError, RunFailed) as exc:
        err.print(f"[red]Run stopped:[/red] {exc}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, ProviderError) else 1) from None
    if json_output:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        _print_funnel(summary)
    for reason in sorted({stop["reason"] for stop in summary["stopped"]}):
        err.print(f"[red]Stopped:[/red] {reason}", highlight=False)
    if summary["emails_sent"] and not settings.salesos_public_url.lower().startswith("https://"):
        err.print(f"Note: the emails' unsubscribe links use {settings.salesos_public_url} (plain http, fine for the "
                  "local demo); a CRM tenant needs an https SALESOS_PUBLIC_URL.", markup=False, highlight=False)
    if summary["failures"] or summary["stopped"] or summary["crm_errors"] or summary["record_errors"]:
        raise typer.Exit(1)


def _check_tenant(tenant: str) -> None:
    """Fail before any work when the tenant is unknown, needs re-installing, or its tokens cannot be opened."""
    if tenant == "local":
        return
    store = _tenant_store()
    record = store.get(tenant)
    if record is None:
        raise typer.BadParameter(f"{tenant!r} is not installed; `python -m connector tenants list` shows those that are",
                                 param_hint="--tenant")
    if record.status == "needs_reinstall":
        err.print(f"[red]Tenant {tenant} needs re-installing:[/red] {record.status_reason}", highlight=False)
        raise typer.Exit(2)
    store.secret(tenant, "access_token")  # a wrong SALESOS_VAULT_KEYS (VaultError) is said here, not by every job


def _data_files(tenant: str, named: Optional[list[Path]]) -> list[Path]:
    """The files named with --data, else the tenant's data source; never fictional sample data for a CRM tenant.

    Every file is checked before anything is queued, and each one that cannot be used is one line."""
    from connector.data_sources import NoData, refuse_sample
    from connector.providers.base import ProviderError
    from connector.providers.file_check import file_problems
    from connector.providers.offline import sample_files
    from connector.runtime import data_files

    try:
        files = named or [Path(path) for path in data_files(tenant)]
        problems = file_problems(files)
        for problem in problems:
            err.print(f"[red]Run stopped:[/red] {escape(problem)}", highlight=False)
        if problems:
            raise typer.Exit(2)
        refuse_sample(tenant, sample_files(files))
    except (NoData, ProviderError) as exc:
        err.print(f"[red]Run stopped:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    return files


class _FunnelProgress:
    """One bar per stage on stderr, fed by the run's per-job counts.

    A bar stops (its clock too) when its stage is done, and says what its
    stage is waiting for while it waits; if the run fails, the bars go and
    only the reason stays. With no live display (stderr a file or a pipe, where
    bars show only at the end), a wait that lasts LONG_WAIT seconds is said in
    one line instead.
    """

    STAGES = (("Sourcing", "source"), ("Enriching", "enrich"), ("Finding contacts", "contacts"), ("Scoring", "score"))
    LONG_WAIT = 5.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._waits: dict[str, tuple[str, float]] = {}  # stage: the kind of its wait, and since when
        self._said: dict[str, str] = {}  # stage: the kind of wait last said
        self._progress = Progress(
            TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[note]}", markup=False), console=err, transient=False,
        )
        self._tasks = {}

    def __enter__(self) -> _FunnelProgress:
        self._progress.__enter__()
        for name, _ in self.STAGES:
            self._tasks[name] = self._progress.add_task(name, total=None, note="")
        self._retrying = self._progress.add_task("", total=None, visible=False, note="")  # a job's retry
        self._retried: str | None = None
        return self

    def __exit__(self, failed, *exc) -> None:
        if failed is None:
            self._progress.__exit__(failed, *exc)
        else:  # the display stops and clears itself (Progress.stop would add a blank line to a file)
            self._progress.live.transient = True
            self._progress.live.stop()

    def update(self, summary: dict) -> None:
        retrying = summary.get("retrying")
        self._progress.update(self._retrying, description=retrying or "", visible=bool(retrying))
        if retrying and retrying != self._retried and not err.is_terminal:  # no live display: one line per change
            err.print(retrying, markup=False, highlight=False, soft_wrap=True)
        self._retried = retrying
        sourced = "source" in summary["seconds"]  # the source job reported, whatever it found
        qualified = summary["qualified"]
        totals = {"Sourcing": (1, int(sourced))}
        if sourced:
            totals |= {"Enriching": (qualified, summary["enriched"]),
                       "Finding contacts": (qualified, summary["companies_searched"]),
                       "Scoring": (qualified - summary["companies_without_contacts"], summary["companies_scored"])}
        for name, stage in self.STAGES:
            task = self._tasks[name]
            total, completed = totals.get(name, (None, 0))
            done = total is not None and completed >= total
            note = "" if done else summary.get("waiting", {}).get(stage, "")
            self._progress.update(task, total=total, completed=completed, note=note)
            if not err.is_terminal:
                self._say_long_wait(name, note)
            if done:
                self._progress.stop_task(task)

    def _say_long_wait(self, name: str, note: str) -> None:
        """One line once a stage has waited LONG_WAIT seconds for one thing, and again only when the thing changes
        (its counts and countdowns do not count)."""
        kind = re.sub(r"\d+", "#", note)
        if kind != self._waits.get(name, ("", 0.0))[0]:
            self._waits[name] = (kind, self._clock())
        if kind and self._clock() - self._waits[name][1] >= self.LONG_WAIT and self._said.get(name) != kind:
            err.print(f"{name}: {note}", markup=False, highlight=False, soft_wrap=True)
            self._said[name] = kind


def _print_funnel(summary: dict) -> None:
    table = Table(title=f"Funnel for '{summary['market']}' as of {summary['as_of']}", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    rows = [
        ("Rows read", "rows_read"), ("Rows quarantined", "rows_quarantined"),
        ("Company records read", "companies_read"), ("Duplicates merged", "duplicates_merged"),
        ("Excluded", "excluded"), ("Below threshold", "below_threshold"), ("Over monthly target", "over_target"),
        ("Qualified", "qualified"), ("Enriched", "enriched"), ("Contacts", "contacts"),
        ("Contacts dropped", "contacts_dropped"), ("Opted out, not sequenced", "sequences_not_started_opted_out"),
        ("Steps planned", "steps_planned"),
        ("First steps scheduled", "steps_scheduled"), ("Emails sent", "emails_sent"),
        ("Emails drafted for a rep (no mailbox)", "emails_drafted"), ("Emails bounced", "emails_bounced"),
        ("Rep tasks created", "tasks_created"), ("Rep edits kept", "rep_edits_kept"),
    ]
    for label, key in rows:
        table.add_row(label, str(summary[key]))
    for rule, count in sorted(summary["sequences_not_started_consent"].items()):
        table.add_row(f"  not sequenced, no consent ({rule})", str(count))
    for reason, count in sorted(summary["steps_rescheduled"].items()):
        table.add_row(f"  moved to a later window: {reason}", str(count))
    for reason, count in sorted(summary["contacts_dropped_by_reason"].items()):
        table.add_row(f"  dropped: {reason}", str(count))
    for tier, count in sorted(summary["tiers"].items()):
        table.add_row(tier, str(count))
    err.print(table)
    for row in summary["quarantined"][:10]:
        err.print(f"  quarantined {row['file']}:{row['line']}: {row['reason']}", markup=False, highlight=False)
    if summary["rows_quarantined"] > 10:
        err.print(f"  ... and {summary['rows_quarantined'] - 10} more (see --json)")
    for failure in summary["failures"]:
        err.print(f"[red]job failed[/red] {failure['job']}: {failure['error']}", highlight=False)
    refused = [("refused by the CRM", row) for row in summary["crm_errors"]]
    refused += [("could not be written", row) for row in summary["record_errors"]]
    for what, row in refused[:10]:
        err.print(f"  {what}: {row['key']}: {row['reason']}", markup=False, highlight=False)
    if len(refused) > 10:
        err.print(f"  ... and {len(refused) - 10} more records (see --json)")
    _print_providers(summary)

    err.print(f"Done in {summary['elapsed_seconds']} s. Run id {summary['run_id']}.")


@app.command()
def export(
    json_output: Annotated[bool, typer.Option("--json", help="print JSON (the only format)")] = True,
    tenant: Annotated[str, typer.Option(help="installed tenant to read from (see `tenants list`)")] = "local",
) -> None:
    """Print every SalesOS account and contact of the CRM with its SalesOS fields."""
    from connector.export import export_crm
    from connector.redis_conn import redis_connection
    from connector.runtime import crm_for, tenant_crm

    _check_tenant(tenant)
    if tenant == "local":
        data = export_crm(crm_for(tenant))
    else:
        with redis_connection(load_settings()) as conn:
            crm = tenant_crm(tenant, conn)
            try:
                data = export_crm(crm)
            finally:
                crm.close()
    sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")


@app.command()
def provision(
    tenant: Annotated[str, typer.Option(help="installed tenant, e.g. hubspot-62515 (see `tenants list`)")],
    assign: Annotated[bool, typer.Option(help="Salesforce: assign the permission set to the installing user")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Create the SalesOS property group and fields in the tenant's CRM (idempotent; conflicts are reported)."""
    from connector.redis_conn import redis_connection
    from connector.runtime import tokens_for
    from crm_adapters.errors import CRMError
    from crm_adapters.provision import SELF, provision_hubspot, provision_salesforce

    if tenant == "local":
        raise typer.BadParameter("the local CRM needs no provisioning; name an installed tenant", param_hint="--tenant")
    _check_tenant(tenant)
    settings = load_settings()
    record = _tenant_store().get(tenant)
    try:
        with redis_connection(settings) as conn:
            tokens = tokens_for(tenant, conn)
            if record.crm == "hubspot":
                result = provision_hubspot(tokens, host=settings.hubspot_api_base_url)
            else:
                result = provision_salesforce(tokens, instance_url=record.instance_url or "",
                                              version=settings.salesforce_api_version,
                                              assign_to=SELF if assign else None)
    except CRMError as exc:
        err.print(f"[red]Provisioning stopped:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if json_output:
        sys.stdout.write(result.model_dump_json() + "\n")
    else:
        typer.echo(result.summary())
    raise typer.Exit(0 if result.ok else 1)


def _print_providers(summary: dict) -> None:
    """What the data providers cost, who was skipped, and what each could not give (none of it for a files-only run)."""
    for name, row in summary.get("provider_costs", {}).items():
        err.print(f"  {name}: {row['calls']} calls, {row['cached']} cached, {row['credits']:g} credits, "
                  f"${row['dollars']:.2f}", markup=False, highlight=False)
    if summary.get("provider_costs"):
        per_lead = summary.get("cost_per_qualified_lead")
        err.print(f"Data providers: ${summary['provider_dollars']:.2f}"
                  + (f", ${per_lead:.4f} per qualified lead" if per_lead is not None else ""), highlight=False)
    if summary.get("providers_skipped"):
        err.print(f"Skipped, no API key: {', '.join(summary['providers_skipped'])}", markup=False, highlight=False)
    for miss in summary.get("provider_misses", []):
        err.print(f"{miss['provider']} ({miss['stage']}, {miss['kind']}): {miss['missed']} missed: {miss['reason']}",
                  markup=False, highlight=False)


@app.command()
def report() -> None:
    """Write SALESOS_HOME/report.html for the last run and print its path."""
    from connector.report import write_report

    settings = load_settings()
    try:
        path = write_report(settings)
    except FileNotFoundError as exc:
        err.print(f"[red]No report:[/red] {exc}")
        raise typer.Exit(2) from None
    typer.echo(str(path))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind; loopback by default")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port, logged at start-up")] = 5000,
) -> None:
    """Start the web app: health, the JSON API, the CRM webhooks and the OAuth install routes."""
    import signal

    from connector.hang_up import hang_up_like_terminate
    from connector.redis_conn import redis_url
    from webhooks.app import close_app, create_app

    # SIGTERM (systemd, docker stop, kill) must unwind like Ctrl+C, or the embedded Redis is left running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    hang_up_like_terminate()
    settings = load_settings()
    with redis_url(settings) as url:
        web = create_app(redis_url=url)
        try:
            web.run(host=host, port=port)
        finally:
            close_app(web)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="comma-separated stage queues")] = "source,enrich,contacts,score,outreach,engagement",
    burst: Annotated[bool, typer.Option(help="exit when the queues are empty")] = False,
    scheduler: Annotated[bool, typer.Option(help="also move due scheduled steps onto their queues")] = True,
) -> None:
    """Process stage jobs from REDIS_URL (or the embedded Redis)."""
    import signal

    from connector.hang_up import hang_up_like_terminate
    from connector.queues import STAGES
    from connector.redis_conn import redacted, redis_url
    from connector.worker import work

    # As in serve, until `work` hands SIGTERM to rq: the embedded Redis must stop with the worker.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    hang_up_like_terminate()
    settings = load_settings()
    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = [name for name in names if name not in STAGES]
    if unknown or not names:
        raise typer.BadParameter(f"{quote(', '.join(unknown))} is not a stage; the stages are {', '.join(STAGES)}"
                                 if unknown else "names no queue", param_hint="--queues")
    with redis_url(settings) as url:
        err.print(f"Worker waiting for jobs on {', '.join(names)} (Redis {redacted(url)}); it logs one line per "
                  "outreach step it executes or moves", markup=False, highlight=False)
        work(url, names, burst=burst, with_scheduler=scheduler)


@app.command()
def dispatch(
    burst: Annotated[bool, typer.Option(help="exit when the event inbox is empty")] = False,
    name: Annotated[Optional[str], typer.Option(help="dispatcher name; a restart under it resumes its batch")] = None,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="events taken per Redis round trip")] = 100,
) -> None:
    """Route queued CRM events (webhooks, workflow actions) to stage jobs, each exactly once; complete the
    HubSpot workflow actions whose runs have ended, save the summaries of runs started by events, the API or a
    schedule, queue the CRM write of unsubscribes that have not reached their CRM, and arm the next tick of each
    scheduled market whose ticks stopped."""
    import signal

    import redis

    from functools import partial

    from connector.actions import complete_finished
    from connector.dispatch import Dispatcher, DispatcherBusy, default_router
    from connector.hang_up import hang_up_like_terminate
    from connector.market_ticks import Rearming
    from connector.redis_conn import RedisUnavailable, redis_connection
    from connector.run_summaries import save_finished
    from connector.runtime import complete_action, ledger, tenant_markets
    from connector.unsubscribes import requeue_unsynced

    stopping: list[int] = []
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, frame: stopping.append(signum))
    hang_up_like_terminate()
    settings = load_settings()
    try:
        with redis_connection(settings) as conn:
            rearm_ticks = Rearming(conn, lambda: tenant_markets().scheduled())

            def runs_ended() -> None:
                complete_finished(conn, partial(complete_action, conn))
                save_finished(conn, settings.home)
                requeue_unsynced(conn, ledger())  # unsubscribes not yet written into their CRM
                rearm_ticks()  # scheduled markets whose chain of ticks broke

            dispatcher = Dispatcher(conn, default_router(), name=name, batch=batch)
            counts = dispatcher.run(burst=burst, should_stop=lambda: bool(stopping), on_idle=runs_ended)
    except (DispatcherBusy, RedisUnavailable, redis.RedisError) as exc:
        err.print(f"[red]Dispatcher stopped:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(f"{counts.events} event(s) dispatched: {counts.jobs} job(s) queued, {counts.failed} unroutable "
               f"(kept in salesos:events:failed)")


@app.command()
def health(json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False) -> None:
    """Queues, failed jobs, what admins must still do and the agents' checks; exit 0 healthy, 1 warning, 2 Redis unavailable."""
    from connector.health import exit_code, health_report, render
    from connector.redis_conn import RedisUnavailable, redis_connection

    settings = load_settings()
    try:
        with redis_connection(settings) as conn:
            report = health_report(settings, conn)
    except RedisUnavailable:
        report = health_report(settings, None)
    typer.echo(report.model_dump_json(indent=2) if json_output else render(report))
    raise typer.Exit(exit_code(report))


@app.command()
def manifests(
    public_url: Annotated[str, typer.Option(help="where SalesOS is served, for redirect and webhook URLs")] = "",
    check: Annotated[bool, typer.Option(help="only report files that differ from what would be written")] = False,
    tenant: Annotated[Optional[str], typer.Option(help="a Salesforce tenant: write its own project, with its "
                                                       "Outbound Message URL, outside the repository")] = None,
    integration_user: Annotated[str, typer.Option(help="with --tenant: the username the org's Outbound "
                                                       "Messages are sent as")] = "",
    out: Annotated[Optional[Path], typer.Option(help="with --tenant: where to write it "
                                                     "(default SALESOS_HOME/manifests/<tenant>)")] = None,
) -> None:
    """Write manifest/ (HubSpot app and properties, Salesforce metadata) from the field list."""
    from connector.settings import PROJECT_ROOT
    from crm_adapters.manifests import DEFAULT_PUBLIC_URL, manifest_files

    if tenant:
        _org_manifest(tenant, public_url, integration_user, out)
        return
    if integration_user or out:
        raise typer.BadParameter("--integration-user and --out go with --tenant", param_hint="--tenant")
    root = PROJECT_ROOT / "manifest"
    files = manifest_files(public_url or DEFAULT_PUBLIC_URL)
    stale = [path for path, text in files.items() if not (root / path).is_file() or (root / path).read_text() != text]
    if check:
        for path in stale:
            err.print(f"out of date: manifest/{path}", highlight=False)
        raise typer.Exit(1 if stale else 0)
    for path in stale:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(files[path])
    typer.echo(f"{len(stale)} of {len(files)} manifest files written under {root}")


def _org_manifest(tenant: str, public_url: str, integration_user: str, out: Optional[Path]) -> None:
    from connector.org_manifest import write_org_manifest
    from connector.vault import VaultError

    settings = load_settings()
    target = out or settings.home / "manifests" / tenant
    public_url = public_url or settings.salesos_public_url
    try:
        count = write_org_manifest(_tenant_store(), tenant, public_url, integration_user, target)
    except (LookupError, ValueError, VaultError) as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    _warn_if_unreachable(public_url)
    err.print("It holds the org's Outbound Message URL, its messages' only credential: readable by you only, "
              "keep it out of the repository. Deploy it with "
              f"`cd {target / 'salesforce'} && sf project deploy start --target-org <alias>`.", highlight=False)
    typer.echo(f"{count} manifest files for {tenant} written under {target}")


tenants_app = typer.Typer(no_args_is_help=True, help="Installed CRMs (HubSpot portals, Salesforce orgs).")
app.add_typer(tenants_app, name="tenants")
tenants_app.add_typer(api_key_app, name="api-key")
tenants_app.add_typer(provider_key_app, name="provider-key")
app.add_typer(operator_key_app, name="operator-key")
app.add_typer(db_app, name="db")
meeting_app = typer.Typer(no_args_is_help=True, help="Meetings booked with contacts.")
app.add_typer(meeting_app, name="meeting")


@meeting_app.command("book")
def meeting_book(
    tenant: Annotated[str, typer.Argument(help="tenant id, e.g. local or hubspot-62515")],
    email: Annotated[str, typer.Argument(help="the contact's email")],
    start: Annotated[dt.datetime, typer.Option(help="when it starts, ISO 8601 with its offset, e.g. "
                                                    "2026-12-08T15:00:00+00:00")],
    minutes: Annotated[int, typer.Option(min=5, max=480, help="how long it lasts")] = 30,
) -> None:
    """Book a meeting the contact accepted: the owner's calendar (with a video link where the calendar offers one),
    a meeting on the contact in the CRM, an ICS invite from the owner's mailbox; the contact's sequence stops."""
    from agents.meeting_jobs import book_meeting_job
    from connector.calendar.base import CalendarError
    from connector.channels.base import SendError

    if start.tzinfo is None:
        err.print("[red]--start needs its UTC offset[/red] (e.g. +00:00): a meeting time without one is ambiguous",
                  highlight=False)
        raise typer.Exit(2)
    try:
        counts = book_meeting_job({"tenant": tenant, "email": email, "start": start.isoformat(), "minutes": minutes})
    except (CalendarError, SendError) as exc:
        err.print(f"[red]Not booked:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if counts.get("meetings_without_contact"):
        err.print(f"[red]{email} is not a contact of {tenant}[/red]", highlight=False)
        raise typer.Exit(1)
    typer.echo(f"booked: {email} at {start.isoformat()} ({minutes} min); invite sent: {bool(counts['invites_sent'])}; "
               f"calendar event: {bool(counts['calendar_events'])}")
app.add_typer(mailbox_app, name="mailbox")
app.add_typer(twilio_app, name="twilio")


def _tenant_store():
    from connector.runtime import tenant_store
    from connector.vault import VaultError

    try:
        return tenant_store()
    except VaultError as exc:
        err.print(f"[red]Vault:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _secret(value: str, name: str) -> str:
    """`-` reads the secret from stdin, so it stays out of shell history and `ps`."""
    secret = sys.stdin.readline().strip() if value == "-" else value.strip()
    if not secret:
        raise typer.BadParameter("is empty", param_hint=name)
    return secret


@tenants_app.command("add")
def tenants_add(
    crm: Annotated[str, typer.Argument(help="hubspot or salesforce")],
    access_token: Annotated[str, typer.Option(help="private-app or OAuth access token; - reads stdin")],
    portal_id: Annotated[Optional[str], typer.Option(help="HubSpot portal (hub) id")] = None,
    org_id: Annotated[Optional[str], typer.Option(help="Salesforce org id (00D...)")] = None,
    instance_url: Annotated[Optional[str], typer.Option(help="Salesforce instance URL (https://...)")] = None,
    refresh_token: Annotated[Optional[str], typer.Option(help="OAuth refresh token; - reads stdin")] = None,
) -> None:
    """Register a tenant from tokens you already have (no browser, no network call)."""
    from pydantic import ValidationError

    from agents.validation import describe
    from connector.tenants import Tenant, check_external_id, tenant_id

    if crm not in ("hubspot", "salesforce"):
        raise typer.BadParameter(f"{crm!r} is not hubspot or salesforce", param_hint="CRM")
    external = portal_id if crm == "hubspot" else org_id
    needed = "--portal-id" if crm == "hubspot" else "--org-id"
    if not external:
        raise typer.BadParameter(f"is required for {crm}", param_hint=needed)
    if crm == "salesforce" and not instance_url:
        raise typer.BadParameter("is required for salesforce", param_hint="--instance-url")
    try:
        check_external_id(crm, external)
        tenant = Tenant(id=tenant_id(crm, external), crm=crm, external_id=external, instance_url=instance_url,
                        auth="oauth" if refresh_token else "private_app", installed_at=dt.datetime.now(dt.UTC))
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(describe(exc))) from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    secrets = {"access_token": _secret(access_token, "--access-token")}
    if refresh_token:
        secrets["refresh_token"] = _secret(refresh_token, "--refresh-token")
    store = _tenant_store()
    store.add(tenant, secrets)
    typer.echo(f"tenant {tenant.id} registered ({tenant.auth}); tokens stored encrypted")
    if tenant.crm == "salesforce":
        _print_outbound_url(store.outbound.ensure(tenant.id))


@tenants_app.command("list")
def tenants_list() -> None:
    """Print the installed tenants as JSON (never their tokens)."""
    tenants = [tenant.model_dump(mode="json") for tenant in _tenant_store().all()]
    sys.stdout.write(json.dumps(tenants, indent=2) + "\n")


@tenants_app.command("remove")
def tenants_remove(tenant: Annotated[str, typer.Argument(help="tenant id, e.g. hubspot-62515")]) -> None:
    """Uninstall a tenant: its record, tokens, data files and market are forgotten."""
    if not _tenant_store().remove(tenant):
        err.print(f"no tenant {tenant!r}")
        raise typer.Exit(1)
    typer.echo(f"tenant {tenant} removed; its tokens are deleted")


@tenants_app.command("data-files")
def tenants_data_files(
    tenant: Annotated[str, typer.Argument(help="tenant id, e.g. hubspot-62515")],
    files: Annotated[Optional[list[Path]], typer.Argument(help="JSONL or CSV files; none: print the current ones")] = None,
) -> None:
    """Set the data the tenant's runs read (CLI without --data, CRM events, the API); never the fictional sample."""
    from connector.data_sources import DataSource, NoData, refuse_sample
    from connector.providers.base import ProviderError
    from connector.providers.file_check import check_files
    from connector.providers.offline import sample_files
    from connector.runtime import data_sources

    record = _tenant_store().get(tenant)
    if record is None:
        err.print(f"[red]{tenant!r} is not an installed tenant[/red] (the local CRM reads SALESOS_DATA_FILES)",
                  highlight=False)
        raise typer.Exit(2)
    if not files:
        source = data_sources().get(tenant)
        typer.echo("\n".join(source.files) if source else f"{tenant} has no data source")
        raise typer.Exit(0 if source else 1)
    try:
        check_files(files)
        refuse_sample(tenant, sample_files(files))
    except (NoData, ProviderError) as exc:
        err.print(f"[red]Refused:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    data_sources().set(tenant, DataSource(files=[str(path.resolve()) for path in files]))
    typer.echo(f"{tenant} reads {len(files)} data file(s) from now on; workers on other machines need them at the "
               "same paths")


@tenants_app.command("flow-secret")
def tenants_flow_secret(
    tenant: Annotated[str, typer.Argument(help="Salesforce tenant id, e.g. salesforce-00D...")],
    rotate: Annotated[bool, typer.Option(help="replace the secret; the org's Flow is refused until it has the new one")] = False,
) -> None:
    """Print the secret a Salesforce Flow signs its SalesOS callouts with (made if the tenant has none yet)."""
    _, secret = _tenant_credential(tenant, "salesforce", lambda store: store.flow, rotate,
                                   "The org's previous Flow secret is refused from now on.")
    err.print("Store it in the org's External Credential and keep it private. Sign each callout with\n"
              "X-SalesOS-Timestamp: <unix seconds> and X-SalesOS-Signature: sha256=<hex HMAC-SHA256 of "
              "timestamp + '.' + body>.", highlight=False)
    typer.echo(secret)


@tenants_app.command("outbound-url")
def tenants_outbound_url(
    tenant: Annotated[str, typer.Argument(help="Salesforce tenant id, e.g. salesforce-00D...")],
    rotate: Annotated[bool, typer.Option(help="replace the token; the org's current URL is refused from then on")] = False,
) -> None:
    """Print the org's Outbound Message URL (made if the tenant has none yet); only that URL is accepted for it."""
    _, token = _tenant_credential(tenant, "salesforce", lambda store: store.outbound, rotate,
                                  "The org's previous Outbound Message URL is refused from now on.")
    _print_outbound_url(token)


def _tenant_credential(tenant: str, crm: str, kept_in: Callable, rotate: bool, replaced: str):
    """An installed `crm` tenant's record and its token or secret (kept in `kept_in(store)`: its flow secret,
    outbound or workflow URL token), made if it has none yet, or replaced with `rotate` (saying `replaced`).
    Exit code 2 when it is no such tenant, or the vault cannot open the credential."""
    from connector.vault import VaultError

    store = _tenant_store()
    record = store.get(tenant)
    if record is None or record.crm != crm:
        name = "Salesforce" if crm == "salesforce" else "HubSpot"
        err.print(f"[red]{quote(tenant)} is not an installed {name} tenant[/red] (`tenants list` shows those that "
                  "are)", highlight=False)
        raise typer.Exit(2)
    credentials = kept_in(store)
    try:
        credential = credentials.rotate(tenant) if rotate else credentials.ensure(tenant)
    except VaultError as exc:
        err.print(f"[red]Vault:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if rotate:
        err.print(replaced, highlight=False)
    return record, credential


def _print_outbound_url(token: str) -> None:
    """The URL on stdout, what to do with it on stderr."""
    from connector.tenant_credentials import outbound_url

    public_url = load_settings().salesos_public_url
    _warn_if_unreachable(public_url)
    err.print("Paste this URL into the Endpoint URL of each SalesOS Outbound Message of the org (or deploy the "
              "metadata of `manifests --tenant ID`). Keep it private: it is the only credential of the org's "
              "messages.", highlight=False)
    typer.echo(outbound_url(public_url, token))


def _warn_if_unreachable(public_url: str) -> None:
    """A URL for a CRM to call, built on an address it cannot reach, is printed with a warning saying so."""
    from connector.tenant_credentials import unreachable

    problem = unreachable(public_url)
    if problem:
        err.print(f"[yellow]Warning:[/yellow] {problem}.", highlight=False)


@tenants_app.command("workflow-url")
def tenants_workflow_url(
    tenant: Annotated[str, typer.Argument(help="HubSpot tenant id, e.g. hubspot-62515")],
    rotate: Annotated[bool, typer.Option(help="replace the token; the portal's current URLs are refused from then on")] = False,
) -> None:
    """Print the URLs a HubSpot "Send a webhook" workflow action posts to, one per SalesOS action."""
    from connector.tenant_credentials import workflow_url
    from crm_adapters.workflow_actions import ACTIONS

    record, token = _tenant_credential(tenant, "hubspot", lambda store: store.workflow, rotate,
                                       "The portal's previous Send a webhook URLs are refused from now on.")
    err.print("In the workflow's Send a webhook action: method POST, authentication \"Include request signature "
              "in header\" with the SalesOS app id. Keep the URL private: its token tells this portal's requests "
              "from any other's.", highlight=False)
    public_url = load_settings().salesos_public_url
    _warn_if_unreachable(public_url)
    for action in ACTIONS:
        typer.echo(f"{action.name}: {workflow_url(public_url, record.external_id, token, action.name)}")


@tenants_app.command("inbound-parse-url")
def tenants_inbound_parse_url(
    tenant: Annotated[str, typer.Argument(help="tenant id, e.g. hubspot-62515")],
    rotate: Annotated[bool, typer.Option(help="replace the token; the current URL is refused from then on")] = False,
) -> None:
    """Print the tenant's SendGrid Inbound Parse URL (made if it has none yet): replies posted there are read."""
    from connector.tenant_credentials import inbound_parse_url
    from connector.vault import VaultError

    store = _tenant_store()
    if store.get(tenant) is None:
        err.print(f"[red]{quote(tenant)} is not an installed tenant[/red] (`tenants list` shows those that are)",
                  highlight=False)
        raise typer.Exit(2)
    try:
        token = store.inbound_parse.rotate(tenant) if rotate else store.inbound_parse.ensure(tenant)
    except VaultError as exc:
        err.print(f"[red]Vault:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    public_url = load_settings().salesos_public_url
    _warn_if_unreachable(public_url)
    err.print("In SendGrid, Settings > Inbound Parse: add the host replies go to, paste this URL as its Destination "
              "URL and tick \"POST the raw, full MIME message\". Keep it private: it is the only credential of the "
              "posts.", highlight=False)
    typer.echo(inbound_parse_url(public_url, token))


@app.command("rotate-keys")
def rotate_keys(
    bind_legacy: Annotated[bool, typer.Option(help="once, after upgrading: also bind the tokens an older SalesOS "
                                                   "stored unbound to the tenant they are stored for")] = False,
) -> None:
    """Re-encrypt every stored token under the first key of SALESOS_VAULT_KEYS, bound to its tenant."""
    from connector.tenants import vault_keys
    from connector.vault import Vault, VaultError

    settings = load_settings()
    try:
        count = Vault(settings.database_url, vault_keys(settings)).rotate(bind_legacy=bind_legacy)
    except VaultError as exc:
        err.print(f"[red]Vault:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(f"{count} secret(s) re-encrypted under the newest key and bound to their tenant; "
               "the older keys can now be removed")


@app.command("vault-key")
def vault_key() -> None:
    """Print a new random vault key (put it first in SALESOS_VAULT_KEYS)."""
    from connector.vault import new_key

    typer.echo(new_key())


def main() -> None:
    import logging

    from pydantic import ValidationError

    from connector.cli_failures import expected_failure
    from connector.redaction import configure_logging

    configure_logging()  # before any command logs: tokens in URLs are redacted from every line
    # A CRM client's own connection retries (the HubSpot client resets "urllib3" itself): calls.py says what waits.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    if "--debug" in sys.argv[2:]:  # after the command's name too: it is an option of the whole program
        sys.argv.remove("--debug")
        sys.argv.insert(1, "--debug")
    try:
        app()
    except ValidationError as exc:
        if exc.title != "Settings" or _debug:
            raise
        for error in exc.errors():  # each names its variable and the rule; pydantic quotes no input here
            message = error["msg"].removeprefix("Value error, ")
            name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
            err.print(message if message.startswith(name) else f"{name}: {message}", markup=False, highlight=False)
        sys.exit(2)
    except Exception as exc:
        said = expected_failure(exc)
        if said is None or _debug:
            raise
        err.print(said[0], markup=False, highlight=False)
        sys.exit(said[1])
