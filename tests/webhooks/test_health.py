"""/healthz, /readyz and the operators' dashboard, against a real Redis and real RQ jobs."""

import pytest

from connector.api_keys import ApiKeys
from connector.dispatch import INBOX
from connector.queues import enqueue_once, queue
from connector.settings import Settings
from tests.connector.jobs_for_tests import explode, record
from tests.connector.retries import work_through_retries
from webhooks.app import create_app

DOWN = "redis://127.0.0.1:1/0"


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path)


@pytest.fixture(autouse=True)
def no_dashboard_env(monkeypatch):
    monkeypatch.delenv("SALESOS_DASHBOARD", raising=False)


def as_operator(client, settings):
    """The test client, sending an operator key with every request."""
    _, key = ApiKeys(settings.state_path).create("operator")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture
def client(redis_url, settings):
    return as_operator(create_app(redis_url=redis_url, settings=settings).test_client(), settings)


@pytest.fixture
def dashboard(redis_url, settings):
    return as_operator(create_app(redis_url=redis_url, settings=settings, dashboard=True).test_client(), settings)


def readyz(client):
    return client.get("/readyz?verbose")


def fail_one(conn, stage="enrich"):
    enqueue_once(conn, stage, explode, {"n": 3}, job_key="bad")
    work_through_retries(conn, stage)


# --- /healthz -----------------------------------------------------------------------


def test_healthz_is_200_while_redis_answers(client):
    assert client.get("/healthz").status_code == 200


def test_healthz_is_200_when_redis_is_down(settings):
    response = create_app(redis_url=DOWN, settings=settings).test_client().get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "alive"})


# --- /readyz ---------------------------------------------------------------------------


def test_readyz_is_503_with_the_reason_when_redis_is_down(settings):
    response = readyz(as_operator(create_app(redis_url=DOWN, settings=settings).test_client(), settings))
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "redis": "unreachable: ConnectionError"}


def test_readyz_is_503_when_redis_is_not_configured(tmp_path):
    settings = Settings(salesos_home=tmp_path, redis_url=None)
    response = readyz(as_operator(create_app(settings=settings).test_client(), settings))
    assert response.status_code == 503
    assert response.json["redis"] == "REDIS_URL is not set"


def test_readyz_is_503_not_500_when_redis_answers_with_an_error(client, conn):
    conn.set(queue("source", conn).key, "not a list")  # WRONGTYPE for LLEN
    response = readyz(client)
    assert response.status_code == 503
    assert response.json["redis"] == "error: ResponseError"


def test_readyz_is_200_with_every_stage_queue_when_redis_answers(client):
    response = readyz(client)
    assert response.status_code == 200
    assert response.json["status"] == "ready" and response.json["redis"] == "ok"
    assert set(response.json["queues"]) == {"source", "enrich", "contacts", "score", "outreach", "engagement"}


def test_readyz_reports_the_depth_and_the_oldest_waiting_jobs_age(client, conn):
    enqueue_once(conn, "contacts", record, {"n": 1}, job_key="c1")
    enqueue_once(conn, "contacts", record, {"n": 2}, job_key="c2")
    contacts = readyz(client).json["queues"]["contacts"]
    assert contacts["queued"] == 2
    assert 0 <= contacts["oldest_queued_seconds"] < 60
    assert readyz(client).json["queues"]["score"]["oldest_queued_seconds"] is None


def test_readyz_counts_failed_jobs_per_queue(client, conn):
    fail_one(conn, "enrich")
    queues = readyz(client).json["queues"]
    assert (queues["enrich"]["failed"], queues["enrich"]["queued"], queues["source"]["failed"]) == (1, 0, 0)


def test_readyz_counts_scheduled_jobs(client, conn):
    import datetime as dt

    enqueue_once(conn, "outreach", record, {"n": 1}, job_key="s1", at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    outreach = readyz(client).json["queues"]["outreach"]
    assert (outreach["scheduled"], outreach["scheduled_due"]) == (1, 0)


def test_readyz_reports_the_crm_event_inbox_depth(client, conn):
    conn.rpush(INBOX, "{}", "{}")
    assert readyz(client).json["events_inbox"] == 2


def test_health_still_pings_redis(client):
    assert client.get("/health").json == {"status": "ok", "redis": "ok"}


# --- the dashboard -------------------------------------------------------------------------


def test_the_dashboard_is_off_by_default(client):
    assert client.get("/rq/").status_code == 404


def test_salesos_dashboard_1_turns_the_dashboard_on(redis_url, settings, monkeypatch):
    monkeypatch.setenv("SALESOS_DASHBOARD", "1")
    client = as_operator(create_app(redis_url=redis_url, settings=settings).test_client(), settings)
    assert client.get("/rq/").status_code == 200


def test_the_dashboard_renders_for_an_operator(dashboard):
    response = dashboard.get("/rq/")
    assert response.status_code == 200
    assert b"RQ dashboard" in response.data


def test_the_dashboard_lists_salesos_queues_with_their_failed_jobs(dashboard, conn):
    fail_one(conn, "enrich")
    queues = {q["name"]: q for q in dashboard.get("/rq/0/data/queues.json").json["queues"]}
    assert queues["enrich"]["failed_job_registry_count"] == 1


def test_the_dashboard_shows_a_failed_jobs_error(dashboard, conn):
    fail_one(conn, "enrich")
    job = dashboard.get("/rq/0/data/job/bad.json").json
    assert "RuntimeError: boom 3" in job["exc_info"]


def test_the_dashboard_is_read_only(dashboard, conn):
    fail_one(conn, "enrich")
    assert dashboard.post("/rq/job/bad/requeue").status_code == 403
    assert dashboard.get("/rq/requeue/enrich").status_code == 403  # rq-dashboard requeues on a GET
    assert dashboard.post("/rq/queue/enrich/failed/empty").status_code == 403
    assert queue("enrich", conn).failed_job_registry.get_job_ids() == ["bad"]


def test_the_rest_of_the_app_ignores_the_dashboards_guard(redis_url, settings):
    anonymous = create_app(redis_url=redis_url, settings=settings, dashboard=True).test_client()
    assert anonymous.get("/healthz").status_code == 200


def test_readyz_counts_the_crm_events_the_dispatcher_could_not_route(client, redis_url):
    import redis as redis_client

    from connector.dispatch import FAILED

    redis_client.Redis.from_url(redis_url).rpush(FAILED, b'{"error": "x"}')
    assert readyz(client).json["events_failed"] == 1
