"""What a run of a tenant may use: its files and/or its provider keys, each tenant only its own.

Through `connector.runtime`, as the stage jobs reach them, on a real state database and vault; the API run
goes through the real app, Redis and an RQ worker, with the local HubSpot server as the tenant's CRM.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from connector import runtime
from connector.data_sources import DataSource, NoData
from connector.providers.keys import set_key
from connector.queues import queue
from connector.settings import SAMPLE_DATA
from connector.tenants import Tenant, vault_keys
from connector.vault import Vault, new_key
from tests.test_tenant_run import hubspot  # noqa: F401 - the fixture is shared
from tests.webhooks.test_api import MARKET, authorized
from webhooks.app import create_app

A, B = "hubspot-62515", "hubspot-77777"
KEY_A = "apollo-key-of-tenant-a-0123456789"
ENV_KEY = "apollo-key-of-the-operator-environment"
CACHES = (runtime.settings, runtime._tenant_crm, runtime.record_index, runtime._data_sources)


@pytest.fixture
def home(tmp_path, redis_url, hubspot, monkeypatch):
    """Two installed HubSpot tenants, no data source, APOLLO_API_KEY in the environment."""
    for name, value in {"SALESOS_HOME": str(tmp_path), "SALESOS_VAULT_KEYS": new_key(), "REDIS_URL": redis_url,
                        "HUBSPOT_API_BASE_URL": hubspot.url, "APOLLO_API_KEY": ENV_KEY}.items():
        monkeypatch.setenv(name, value)
    for cached in CACHES:
        cached.cache_clear()
    for tenant in (A, B):
        runtime.tenant_store().add(Tenant(id=tenant, crm="hubspot", external_id=tenant.split("-")[1],
                                          installed_at=dt.datetime.now(dt.UTC)), {"access_token": hubspot.token})
    yield tmp_path
    for cached in CACHES:
        cached.cache_clear()


def give_key(tenant: str, name: str, key: str) -> None:
    set_key(Vault(runtime.settings().database_url, vault_keys(runtime.settings())), tenant, name, key)


def test_each_tenant_s_runs_get_its_own_keys_and_never_the_environment_s(home):
    give_key(A, "apollo", KEY_A)
    assert runtime.provider_keys(A) == {"apollo": KEY_A}
    assert runtime.provider_keys(B) == {}
    assert runtime.provider_keys("local") == {"apollo": ENV_KEY}


def test_the_local_demo_without_a_vault_key_gets_the_environment_s_keys(home, monkeypatch):
    monkeypatch.delenv("SALESOS_VAULT_KEYS")
    runtime.settings.cache_clear()
    assert runtime.provider_keys("local") == {"apollo": ENV_KEY}


def test_a_tenant_with_neither_keys_nor_files_is_refused_naming_both_ways_to_give_it_data(home):
    with pytest.raises(NoData) as refused:
        runtime.data_files(A)
    said = str(refused.value)
    assert said.startswith(f"{A} has no data source")
    assert f"tenants data-files {A} FILE..." in said and f"tenants provider-key set {A} NAME -" in said


def test_the_environment_s_key_is_no_data_source_for_a_tenant(home):
    with pytest.raises(NoData):
        runtime.data_files(B)


def test_a_tenant_with_keys_and_no_files_reads_no_file_and_one_with_files_reads_them(home, tmp_path):
    give_key(A, "hunter", "hunter-key-of-tenant-a")
    assert runtime.data_files(A) == []
    data = tmp_path / "accounts.jsonl"
    data.write_text('{"type": "company", "name": "Acme", "domain": "acme.io"}\n')
    runtime.data_sources().set(A, DataSource(files=[str(data)]))
    assert runtime.data_files(A) == [str(data.resolve())]
    with pytest.raises(NoData):
        runtime.data_files(B)  # A's keys and files are A's


def test_the_bundled_sample_stays_the_local_demo_s_data(home):
    give_key("local", "apollo", "apollo-key-stored-for-local")
    assert runtime.data_files("local") == [str(path.resolve()) for path in SAMPLE_DATA]


def test_an_api_run_of_a_tenant_with_keys_and_no_files_is_not_refused_and_reads_no_file(home, redis_url, hubspot,
                                                                                          caplog):
    caplog.set_level(logging.DEBUG)
    give_key(A, "apollo", KEY_A)
    client = authorized(create_app(redis_url=redis_url, settings=runtime.settings()).test_client(),
                        runtime.settings(), A)
    run_id = client.post("/api/markets", json=MARKET).json["run_id"]
    conn = redis.Redis.from_url(redis_url)
    SimpleWorker([queue("source", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    answer = client.get(f"/api/runs/{run_id}").json
    conn.close()
    assert answer["state"] == "finished" and answer["failures"] == {}, answer
    assert answer["summary"]["rows_read"] == 0 and answer["summary"]["companies_read"] == 0
    assert hubspot.objects["companies"] == {}
    assert KEY_A not in caplog.text
