"""The web app: health, starting a run from a market, unsubscribe links."""


import pytest
import redis

from connector.api_keys import ApiKeys
from connector.ledger import Ledger
from connector.queues import queue
from connector.settings import Settings
from webhooks.app import create_app

MARKET = {"industry": "B2B SaaS", "company_size": "10-500 employees", "location": "US, UK"}


@pytest.fixture
def settings(tmp_path):
    return Settings(salesos_home=tmp_path)


@pytest.fixture
def client(redis_url, settings):
    return authorized(create_app(redis_url=redis_url, settings=settings).test_client(), settings)


def authorized(client, settings, tenant: str = "local"):
    """The test client, sending an API key of `tenant` with every request."""
    _, key = ApiKeys(settings.state_path).create("tenant", tenant)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def test_health_is_ok_when_redis_answers(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "redis": "ok"}


def test_health_is_503_when_redis_is_unreachable(settings):
    app = create_app(redis_url="redis://127.0.0.1:1/0", settings=settings)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_a_valid_market_enqueues_a_run(client, redis_url):
    response = client.post("/api/markets", json=MARKET)
    assert response.status_code == 202
    run_id = response.json["run_id"]
    assert response.json["status_url"] == f"/api/runs/{run_id}"
    source = queue("source", redis.Redis.from_url(redis_url))
    assert source.job_ids == [f"run-{run_id}-source-0"]


def test_a_yaml_market_is_accepted(client):
    body = "industry: B2B SaaS\ncompany_size: 10-500 employees\n"
    response = client.post("/api/markets", data=body, content_type="application/yaml")
    assert response.status_code == 202


def test_an_invalid_market_is_400_with_one_line_per_field(client, redis_url):
    response = client.post("/api/markets", json={"industry": "SaaS", "company_size": "500-10", "colour": "x"})
    assert response.status_code == 400
    assert response.json == {
        "error": "invalid market definition",
        "problems": [
            "company_size: '500-10' is impossible: its minimum is above its maximum",
            "colour: unknown field (value 'x')",
        ],
    }
    assert queue("source", redis.Redis.from_url(redis_url)).count == 0


def test_a_wrapped_market_with_a_bad_date_is_400(client):
    response = client.post("/api/markets", json={"market": MARKET, "as_of": "yesterday"})
    assert response.status_code == 400
    [problem] = response.json["problems"]
    assert problem.startswith("as_of: expected a date like 2026-11-02") and problem.endswith("(got 'yesterday')")


@pytest.mark.parametrize("body", [{"market": MARKET, "industry": "y"}, {"market": MARKET, "as_of": "2026-11-02",
                                                                         "industry": "y"}])
def test_a_wrapped_market_with_another_key_beside_it_is_a_400_naming_the_key(client, redis_url, body):
    response = client.post("/api/markets", json=body)
    assert response.status_code == 400
    assert response.json == {"error": "invalid request body", "problems": ["industry: unknown field (value 'y')"]}
    assert queue("source", redis.Redis.from_url(redis_url)).count == 0


def test_an_unknown_key_beside_a_wrapped_market_is_quoted_clipped(client):
    response = client.post("/api/markets", json={"market": MARKET, "k" * 1000: "v" * 4000})
    [problem] = response.json["problems"]
    assert response.status_code == 400 and "unknown field" in problem
    assert problem.count("k") <= 100 and problem.count("v") <= 100


def test_a_wrapped_yaml_market_may_give_as_of_as_a_plain_date(client):
    body = "market:\n  industry: B2B SaaS\n  company_size: 10-500\nas_of: 2026-11-02\n"
    assert client.post("/api/markets", data=body, content_type="application/yaml").status_code == 202


def test_an_empty_body_is_400(client):
    response = client.post("/api/markets", data="", content_type="application/json")
    assert response.status_code == 400


def test_a_malformed_body_is_400(client):
    response = client.post("/api/markets", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "invalid request body"


def test_an_oversized_body_is_413(client):
    response = client.post("/api/markets", data="x" * (2 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413


def test_a_market_is_refused_with_503_when_redis_is_down(settings):
    app = create_app(redis_url="redis://127.0.0.1:1/0", settings=settings)
    response = authorized(app.test_client(), settings).post("/api/markets", json=MARKET)
    assert response.status_code == 503


def test_an_unknown_run_is_404(client):
    assert client.get("/api/runs/nope").status_code == 404


def test_opening_an_unsubscribe_link_does_not_unsubscribe(client, settings):
    token = Ledger(settings.state_path).unsubscribe_tokens("local", ["jane@acme.io"])["jane@acme.io"]
    assert client.get(f"/unsubscribe/{token}").status_code == 200
    assert Ledger(settings.state_path).unsubscribed("local", ["jane@acme.io"]) == set()


def test_one_click_post_unsubscribes(client, settings):
    token = Ledger(settings.state_path).unsubscribe_tokens("local", ["jane@acme.io"])["jane@acme.io"]
    response = client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert Ledger(settings.state_path).unsubscribed("local", ["jane@acme.io"]) == {"jane@acme.io"}


def test_an_unknown_unsubscribe_token_is_404(client):
    assert client.post("/unsubscribe/forged").status_code == 404


def test_a_run_of_a_tenant_without_a_data_source_shows_as_stopped_with_the_reason(redis_url, settings, monkeypatch):
    import datetime as dt

    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from connector import runtime
    from connector.tenants import Tenant, TenantStore
    from connector.vault import Vault, new_key

    monkeypatch.setenv("SALESOS_HOME", str(settings.home))
    monkeypatch.setenv("SALESOS_VAULT_KEYS", new_key())
    runtime.settings.cache_clear()
    TenantStore(settings.state_path, Vault(settings.state_path, runtime.settings().salesos_vault_keys
                                           .get_secret_value())).add(
        Tenant(id="hubspot-62515", crm="hubspot", external_id="62515", installed_at=dt.datetime.now(dt.UTC)),
        {"access_token": "pat-test"})
    client = authorized(create_app(redis_url=redis_url, settings=settings).test_client(), settings, "hubspot-62515")
    run_id = client.post("/api/markets", json=MARKET).json["run_id"]
    conn = redis.Redis.from_url(redis_url)
    SimpleWorker([queue("source", conn)], connection=conn, serializer=JSONSerializer).work(burst=True)
    runtime.settings.cache_clear()
    answer = client.get(f"/api/runs/{run_id}")
    assert answer.status_code == 200
    assert answer.json["state"] == "stopped" and answer.json["pending_jobs"] == 0
    [reason] = answer.json["reasons"]
    assert reason.startswith("hubspot-62515 has no data source") and "tenants data-files" in reason


# --- as_of and ranges: every bad value is a 400 naming the field and the rule, never a 500 --------------------------


@pytest.mark.parametrize("as_of", ["2026-11-02T10:00:00", "2026-11-02 10:00:00", "2026-11-02T10:00:00Z"])
def test_a_wrapped_yaml_market_with_a_timestamp_as_of_is_a_400_not_a_500(client, redis_url, as_of):
    body = f"market:\n  industry: B2B SaaS\n  company_size: 10-500\nas_of: {as_of}\n"  # YAML reads a datetime
    response = client.post("/api/markets", data=body, content_type="application/yaml")
    assert response.status_code == 400
    [problem] = response.json["problems"]
    assert problem.startswith("as_of: expected a date like 2026-11-02") and "not a time" in problem
    assert queue("source", redis.Redis.from_url(redis_url)).count == 0


@pytest.mark.parametrize("as_of", ["0001-01-01", "1999-12-31", "9999-12-31", "2100-01-01"])
def test_an_as_of_date_far_from_today_is_a_400_naming_the_bounds(client, redis_url, as_of):
    for body, content_type in ((f"market: {{industry: SaaS, company_size: 10-500}}\nas_of: {as_of}\n",
                                "application/yaml"),
                               (f'{{"market": {{"industry": "SaaS", "company_size": "10-500"}}, "as_of": "{as_of}"}}',
                                "application/json")):
        response = client.post("/api/markets", data=body, content_type=content_type)
        assert response.status_code == 400
        [problem] = response.json["problems"]
        assert problem.startswith("as_of: ") and "from 2000-01-01 to " in problem and "a year from today" in problem
    assert queue("source", redis.Redis.from_url(redis_url)).count == 0


def test_an_as_of_date_within_the_bounds_is_accepted(client):
    for as_of in ("2000-01-01", "2026-11-02"):
        assert client.post("/api/markets", json={"market": MARKET, "as_of": as_of}).status_code == 202


@pytest.mark.parametrize("as_of", [123, [1], {"a": 1}, True, "2026-13-45", "x" * 4000])
def test_an_as_of_that_is_not_a_date_is_a_400_quoting_little(client, as_of):
    response = client.post("/api/markets", json={"market": MARKET, "as_of": as_of})
    assert response.status_code == 400
    [problem] = response.json["problems"]
    assert problem.startswith("as_of: expected a date like 2026-11-02") and problem.count("x") <= 100


@pytest.mark.parametrize("size", ["[10, abc]", "[10, 1e999]", "[nan, nan]", "[abc, 10]", "[10, [1]]", "[10, true]"])
def test_a_range_list_with_what_is_not_a_number_is_a_400_naming_the_field(client, redis_url, size):
    response = client.post("/api/markets", data=f"industry: SaaS\ncompany_size: {size}\n",
                           content_type="application/yaml")
    assert response.status_code == 400
    assert response.json["error"] == "invalid market definition"
    [problem] = response.json["problems"]
    assert problem.startswith("company_size: ") and "two numbers" in problem
    assert queue("source", redis.Redis.from_url(redis_url)).count == 0


def test_without_redis_configured_the_api_answers_a_json_503_not_a_500(settings):
    app = create_app(redis_url=None, settings=settings)
    app.testing = False
    client = authorized(app.test_client(), settings)
    for response in (client.post("/api/markets", json=MARKET), client.get("/api/runs/anything")):
        assert response.status_code == 503 and response.is_json


def test_a_posted_market_becomes_the_tenants_market_and_its_schedule_starts_ticking(client, settings, redis_url):
    import datetime as dt

    import redis

    from connector.market_ticks import armed, tick_key
    from connector.queues import queue
    from connector.tenant_markets import TenantMarkets

    response = client.post("/api/markets", json={**MARKET, "schedule": {"source": "monthly"}, "monthly_target": 20})
    assert response.status_code == 202
    market, origin = TenantMarkets(settings.state_path).get("local")
    assert (market.schedule.kinds(), origin) == ({"source": "monthly"}, f"API run {response.json['run_id']}")
    conn = redis.Redis.from_url(redis_url)
    due = armed(conn, "local")
    assert due.day == 1 and due > dt.datetime.now(dt.UTC)
    assert queue("source", conn).scheduled_job_registry.get_job_ids() == [tick_key("local", due)]


def test_a_schedule_with_an_unknown_cadence_is_a_400_naming_the_field_and_the_cadences(client, redis_url):
    response = client.post("/api/markets", json={**MARKET, "schedule": {"rescore": "hourly"}})
    assert response.status_code == 400
    assert response.json["problems"] == ["schedule.rescore: Input should be 'weekly' or 'monthly' (got 'hourly')"]
