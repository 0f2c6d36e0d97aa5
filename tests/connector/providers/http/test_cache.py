"""The provider response cache on a real Redis: time-to-live per kind of data, settings, tenants kept apart."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from connector.providers.http.cache import DAY, RedisResponseCache
from connector.settings import Settings
from tests.connector.providers.http.helpers import ACME, acme, make_client

DEFAULT_DAYS = {"firmographics": 21, "people": 14, "emails": 30, "verification": 30, "funding": 7, "website": 7,
                "search": 7, "jobs": 1, "news": 1}


@pytest.mark.parametrize("kind, days", DEFAULT_DAYS.items())
def test_each_kind_of_data_is_kept_for_its_default_time(conn, kind, days):
    RedisResponseCache(conn).put("t1:acme:lookup:abc", b"{}", kind)
    assert conn.ttl("salesos:provider_cache:t1:acme:lookup:abc") == days * DAY


def test_an_answer_put_is_got_back_and_an_unknown_key_is_none(conn):
    cache = RedisResponseCache(conn)
    cache.put("t1:acme:lookup:abc", b'{"status": 200}', "people")
    assert (cache.get("t1:acme:lookup:abc"), cache.get("t1:acme:lookup:other")) == (b'{"status": 200}', None)


def test_SALESOS_CACHE_TTLS_overrides_the_kinds_it_names_and_keeps_the_other_defaults(conn, monkeypatch, tmp_path):
    monkeypatch.setenv("SALESOS_CACHE_TTLS", '{"jobs": 3600, "firmographics": 86400}')
    cache = RedisResponseCache(conn, Settings(salesos_home=tmp_path).salesos_cache_ttls)
    assert (cache.ttls["jobs"], cache.ttls["firmographics"], cache.ttls["people"]) == (3600, DAY, 14 * DAY)
    cache.put("t1:greenhouse:jobs:abc", b"[]", "jobs")
    assert conn.ttl("salesos:provider_cache:t1:greenhouse:jobs:abc") == 3600


def test_a_kind_set_to_zero_seconds_is_not_cached(conn):
    cache = RedisResponseCache(conn, {"news": 0})
    cache.put("t1:newsapi:everything:abc", b"{}", "news")
    assert cache.get("t1:newsapi:everything:abc") is None


@pytest.mark.parametrize("value", ['{"job": 60}', '{"jobs": -1}', '{"jobs": "a day"}'])
def test_an_unknown_kind_or_a_bad_number_of_seconds_is_refused_naming_the_setting(monkeypatch, tmp_path, value):
    monkeypatch.setenv("SALESOS_CACHE_TTLS", value)
    with pytest.raises(ValidationError, match="salesos_cache_ttls"):
        Settings(salesos_home=tmp_path)


def test_a_second_tenant_never_gets_the_first_tenants_cached_answer(http, sleeps, conn):
    spec = acme(endpoints={"enrich": {"path": "/enrich", "cache": "firmographics"}})
    route = http.get(f"{ACME}/enrich").mock(side_effect=lambda request: httpx.Response(
        200, json={"asked_with": request.headers["Authorization"]}))
    cache = RedisResponseCache(conn)
    first = make_client(spec, sleeps, key="key-of-t1", tenant="t1", cache=cache)
    second = make_client(spec, sleeps, key="key-of-t2", tenant="t2", cache=cache)
    assert first.call("enrich", params={"domain": "stripe.com"}).body == {"asked_with": "Bearer key-of-t1"}
    reply = second.call("enrich", params={"domain": "stripe.com"})
    assert (reply.cached, reply.body, route.call_count) == (False, {"asked_with": "Bearer key-of-t2"}, 2)
    assert second.call("enrich", params={"domain": "stripe.com"}).body == {"asked_with": "Bearer key-of-t2"}
    assert route.call_count == 2
