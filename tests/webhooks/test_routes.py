"""The README's table of HTTP routes lists every route the app serves, and what a route serves is what it says."""

from __future__ import annotations

import re
from pathlib import Path

from connector.settings import Settings
from webhooks.app import create_app

README = Path(__file__).resolve().parents[2] / "README.md"


def shape(route: str) -> str:
    """A route with its placeholders blanked, so `<id>` in the README and `<run_id>` in Flask compare equal."""
    return re.sub(r"<[^>]*>", "<>", route)


def test_every_route_is_in_the_readmes_table_of_what_each_requires(redis_url, tmp_path):
    section = README.read_text().split("## HTTP routes and what each requires", 1)[1].split("\n## ", 1)[0]
    listed = {shape(route) for route in re.findall(r"^\| `(?:[A-Z]+ )?([^` ?]+)", section, re.M)}
    app = create_app(redis_url=redis_url, settings=Settings(salesos_home=tmp_path), dashboard=True)
    served = {shape(rule.rule) for rule in app.url_map.iter_rules() if not rule.rule.startswith("/rq/")}
    assert served - listed == set()
    assert "/rq/..." in listed


def test_the_static_route_serves_nothing(redis_url, tmp_path):
    client = create_app(redis_url=redis_url, settings=Settings(salesos_home=tmp_path)).test_client()
    for path in ("/static/", "/static/favicon.ico", "/static/../wsgi.py", "/static/%2e%2e/README.md"):
        assert client.get(path).status_code == 404
