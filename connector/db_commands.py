"""`db upgrade` and `db current`: the state database's schema, upgraded on purpose (a deploy step).

Every command that needs the state upgrades it on first use too; running
`db upgrade` in a release step first keeps that out of the web node's and the
workers' start.
"""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from connector.settings import load_settings
from connector.store import open_store
from connector.store.migrate import HEAD, current, upgrade

db_app = typer.Typer(no_args_is_help=True, help="SalesOS's state database (SALESOS_DATABASE_URL).")
err = Console(stderr=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the state database's tables, or upgrade them to this SalesOS's schema."""
    store = open_store(load_settings().database_url)
    try:
        before = upgrade(store)
    except SQLAlchemyError as exc:
        _unreachable(store.dialect, exc)
    typer.echo(f"state database at schema {HEAD}" + ("" if before == HEAD else f" (was {before or 'empty'})"))


@db_app.command("current")
def db_current() -> None:
    """Print the state database's schema revision, and whether it is this SalesOS's."""
    store = open_store(load_settings().database_url)
    try:
        with store.engine.connect() as conn:
            revision = current(conn)
    except SQLAlchemyError as exc:
        _unreachable(store.dialect, exc)
    typer.echo(f"{revision or 'empty'} ({'current' if revision == HEAD else f'behind {HEAD}: run `db upgrade`'})")


def _unreachable(dialect: str, exc: SQLAlchemyError) -> None:
    """One line, without the URL (it may hold a password)."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
    err.print(f"State database ({dialect}) cannot be used: {reason}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)
