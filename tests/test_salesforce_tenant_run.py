"""The funnel on a Salesforce tenant writes what it writes on the local CRM.

`responses` only sees requests made in its own process, so the stage jobs run
here, in a real RQ worker in burst mode on the real Redis, instead of in the
worker processes `connector run` starts (tests/test_tenant_run.py does that for
HubSpot, whose local server is reachable from any process).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from agents.jobs import source_job
from connector import runtime
from connector.export import export_crm
from connector.markets import load_market
from connector.queues import enqueue_once, job_id, queue, run_stats
from connector.runner import FUNNEL_STAGES, summarise
from connector.runs import RunContext
from connector.settings import SAMPLE_DATA
from connector.tenants import Tenant
from connector.vault import new_key
from tests.crm_adapters.salesforce_fake import SalesforceFake
from tests.test_end_to_end import AS_OF, workspace  # noqa: F401 - the fixture is shared

TENANT = "salesforce-00D000000000001AAA"


@pytest.fixture
def environment(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("SALESOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    monkeypatch.setenv("REDIS_URL", redis_url)
    runtime.settings.cache_clear()
    runtime._tenant_crm.cache_clear()
    yield redis.Redis.from_url(redis_url)
    runtime._tenant_crm.cache_clear()
    runtime.settings.cache_clear()


def run_funnel(conn, workspace, tenant: str) -> None:
    _, market, data = workspace
    run = RunContext(run_id=f"run-{tenant}", tenant=tenant, market=load_market(market), data_files=[str(data)],
                     as_of=dt.date.fromisoformat(AS_OF))
    enqueue_once(conn, "source", source_job, {"run": run.model_dump(mode="json")},
                 job_key=job_id("run", run.run_id, "source", "0"), run_id=run.run_id)
    worker = SimpleWorker([queue(name, conn) for name in FUNNEL_STAGES], connection=conn, serializer=JSONSerializer)
    worker.work(burst=True)
    assert queue("source", conn).failed_job_registry.count == 0


def plain(data: dict) -> dict:
    """Datetimes as UTC instants: Salesforce stores 09:00-05:00 as 14:00Z, the same moment."""
    text = json.dumps(data, sort_keys=True)
    return json.loads(text, object_hook=lambda d: {key: _instant(value) for key, value in d.items()})


def _instant(value):
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC).isoformat()
    return value


def test_a_run_on_a_salesforce_tenant_writes_what_a_local_run_writes_and_a_second_run_no_duplicate(
        environment, workspace):
    fake = SalesforceFake()
    runtime.tenant_store().add(Tenant(id=TENANT, crm="salesforce", external_id="00D000000000001AAA",
                                      instance_url=fake.instance_url, installed_at=dt.datetime.now(dt.UTC)),
                               {"access_token": "00D!session-token"})
    run_funnel(environment, workspace, "local")
    with fake.active():
        run_funnel(environment, workspace, TENANT)
        exported = export_crm(runtime.crm_for(TENANT))
        counts = (len(fake.accounts), len(fake.contacts), fake.links())
        run_funnel(environment, workspace, TENANT)
        assert (len(fake.accounts), len(fake.contacts), fake.links()) == counts
    local = plain(export_crm(runtime.crm_for("local")))
    assert counts[0] == 2 and counts[1] == 5 and len(counts[2]) == 5
    assert checkboxes_as_salesforce_reads_them(local["accounts"], "prospect") == plain(exported)["accounts"]
    assert checkboxes_as_salesforce_reads_them(local["contacts"], "email_verified") == plain(exported)["contacts"]


def checkboxes_as_salesforce_reads_them(records: list[dict], checkbox: str) -> list[dict]:
    """A Salesforce checkbox is never empty: an unset one reads back as false."""
    return [{**record, checkbox: bool(record[checkbox])} for record in records]


def test_the_source_job_of_a_tenant_run_stops_on_sample_rows_or_no_data_source_and_writes_nothing(
        environment, workspace, tmp_path):
    """The last guard: whatever started the run, fictional rows never reach the customer's CRM."""
    fake = SalesforceFake()
    runtime.tenant_store().add(Tenant(id=TENANT, crm="salesforce", external_id="00D000000000001AAA",
                                      instance_url=fake.instance_url, installed_at=dt.datetime.now(dt.UTC)),
                               {"access_token": "00D!session-token"})
    excerpt = tmp_path / "companies.jsonl"  # sample rows from the middle of the file, under another name
    excerpt.write_text("".join(SAMPLE_DATA[0].read_text(encoding="utf-8").splitlines(keepends=True)[3000:3400]))
    _, market, _ = workspace
    with fake.active():
        for run_id, files in (("named", [str(excerpt)]), ("unset", None)):
            run = RunContext(run_id=run_id, tenant=TENANT, market=load_market(market), data_files=files,
                             as_of=dt.date.fromisoformat(AS_OF))
            enqueue_once(environment, "source", source_job, {"run": run.model_dump(mode="json")},
                         job_key=job_id("run", run_id, "source", "0"), run_id=run_id)
        SimpleWorker([queue(name, environment) for name in FUNNEL_STAGES], connection=environment,
                     serializer=JSONSerializer).work(burst=True)
    assert fake.calls == 0 and queue("source", environment).failed_job_registry.count == 0
    [named] = summarise(run_stats(environment, "named"))["stopped"]
    assert named["reason"].startswith("companies.jsonl: fictional sample data")  # its name: the path is the server's
    assert str(tmp_path) not in named["reason"]
    [unset] = summarise(run_stats(environment, "unset"))["stopped"]
    assert f"{TENANT} has no data source" in unset["reason"]
