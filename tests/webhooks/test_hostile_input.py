"""Hostile market bodies cost nothing: refused early with a small 400 that names the field and the rule.

Each test is an attack a review sent to `serve`: aliases that expand to
gigabytes (billion laughs), nesting deep enough to blow the stack, strings and
numbers too big to use. The answer must be a 400 (never a 500), small, and
quote at most ~100 characters of what was sent.
"""

import datetime as dt

import pytest

from agents.market import MarketDefinition

from connector.dispatch import INBOX
from connector.queues import queue
from connector.settings import Settings
from connector.tenants import Tenant, TenantStore
from connector.vault import Vault
from tests.webhooks.test_api import authorized
from tests.webhooks.test_fuzz import FLOW_SECRET, HOSTILE_YAML, ORG, echoed, flow_signed, flow_yaml
from tests.webhooks.test_hubspot_events import make_settings
from webhooks.app import create_app

SMALL = 4096  # bytes: no error answer grows with its input

# ~400 bytes that safe_load turns into 600,000 references; describing each unknown field's value wrote
# megabytes (two more levels: a minute of work and an 800 MB answer).
LAUGHS = """industry: B2B SaaS
company_size: 10-500
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
"""


@pytest.fixture
def client(redis_url, tmp_path):
    settings = Settings(salesos_home=tmp_path)
    app = create_app(redis_url=redis_url, settings=settings)
    app.testing = False  # a crash must answer the 500 a caller would see
    return authorized(app.test_client(), settings)


def post_market(client, body: str, content_type: str = "application/yaml"):
    response = client.post("/api/markets", data=body, content_type=content_type)
    assert len(response.data) < SMALL, (response.status_code, response.data[:300])
    return response


def test_billion_laughs_yaml_is_refused_at_once_with_a_400_that_names_aliases(client, conn):
    response = post_market(client, LAUGHS)
    assert response.status_code == 400
    assert response.json["error"] == "invalid request body"
    assert response.json["problems"] == ["a: YAML anchors and aliases (&name, *name) are not accepted; "
                                         "write each value out"]
    assert queue("source", conn).count == 0


def test_a_single_alias_is_refused_too(client):
    body = "industry: &i B2B SaaS\ncompany_size: 10-500\nrelated_industries: [*i]\n"
    assert post_market(client, body).json["problems"] == [
        "industry: YAML anchors and aliases (&name, *name) are not accepted; write each value out"]


def test_a_body_nested_5000_levels_deep_is_a_400_not_a_500(client):
    response = post_market(client, "[" * 5000 + "]" * 5000, "application/json")
    assert response.status_code == 400
    [problem] = response.json["problems"]
    assert problem.startswith("(document): ") and "nest" in problem  # libyaml stops at its own depth limit


def test_deep_nesting_names_the_field_it_is_under(client):
    body = '{"industry": "SaaS", "company_size": "10-50", "weights": {"fit": ' + "[" * 40 + "]" * 40 + "}}"
    response = post_market(client, body, "application/json")
    assert response.json["problems"] == ["weights.fit" + ".0" * 18 + ": nested more than 20 levels deep"]


def test_a_huge_string_is_refused_naming_its_field(client):
    body = '{"industry": "' + "x" * 100_000 + '", "company_size": "10-50"}'
    response = post_market(client, body, "application/json")
    assert response.status_code == 400
    assert response.json["problems"] == ["industry: a value longer than 5000 characters"]


def test_too_many_values_are_refused(client):
    body = '{"industry": "SaaS", "company_size": "10-50", "pain_points": [' + ",".join(["1"] * 20_000) + "]}"
    response = post_market(client, body, "application/json")
    assert response.json["problems"] == ["pain_points.9993: more than 10000 values in one document"]


@pytest.mark.parametrize("number", ["1" * 4400, "-" + "9" * 25])  # Python reads at most 4,300 digits
def test_an_integer_with_too_many_digits_is_a_400_naming_the_field(client, number):
    response = post_market(client, f'{{"industry": "SaaS", "company_size": "10-50", "monthly_target": {number}}}',
                           "application/json")
    assert response.status_code == 400
    assert response.json["problems"] == ["monthly_target: a number with more than 20 digits"]


@pytest.mark.parametrize("number", ["1.0e+999", ".inf", "-.inf", ".nan", ".NaN"])
def test_an_infinite_or_nan_number_is_a_400_naming_the_field(client, number):
    response = post_market(client, f"industry: SaaS\ncompany_size: 10-50\nquality_threshold: {number}\n")
    assert response.status_code == 400
    assert response.json["problems"] == ["quality_threshold: numbers must be finite (no .inf, .nan or overflow)"]


@pytest.mark.parametrize("number", ["1e999", "1" * 400])
def test_a_number_json_spells_that_overflows_a_float_is_a_400(client, number):
    response = post_market(client, f'{{"industry": "SaaS", "company_size": "10-50", "quality_threshold": "{number}"}}',
                           "application/json")
    assert response.status_code == 400
    assert response.json["problems"][0].startswith("quality_threshold: ")


def test_a_range_whose_digits_overflow_is_refused(client):
    response = post_market(client, '{"industry": "SaaS", "company_size": "' + "9" * 400 + '"}', "application/json")
    assert response.status_code == 400
    assert response.json["problems"][0].startswith("company_size")


@pytest.mark.parametrize("size", ["9" * 300, "10-" + "9" * 300, "{min: 1.0e+299}", "{}"])
def test_a_range_of_huge_numbers_or_none_at_all_is_a_400_naming_the_field(client, conn, size):
    response = post_market(client, f"industry: SaaS\ncompany_size: {size}\n")
    assert response.status_code == 400
    [problem] = response.json["problems"]
    assert problem.startswith("company_size: ") and problem.count("9") <= 100
    assert queue("source", conn).count == 0


def test_an_unknown_field_quotes_at_most_100_characters_of_its_key_and_value(client):
    key, value = "k" * 1000, "v" * 4000  # YAML (and so SalesOS) takes keys up to 1024 characters
    response = post_market(client, f'{{"industry": "SaaS", "company_size": "10-50", "{key}": "{value}"}}',
                           "application/json")
    [problem] = response.json["problems"]
    assert problem.count("k") <= 100 and problem.count("v") <= 100
    assert "unknown field" in problem


def test_a_bad_value_is_quoted_clipped(client):
    response = post_market(client, '{"industry": "SaaS", "company_size": "' + "1-" * 1000 + '"}', "application/json")
    [problem] = response.json["problems"]
    assert problem.startswith("company_size: '1-1-") and problem.count("1-") <= 50


def test_a_number_float_cannot_read_is_quoted_clipped_not_whole(client):
    response = post_market(client, '{"industry": "SaaS", "company_size": "10-50", "annual_revenue": "$1'
                           + ".5" * 2000 + '"}', "application/json")
    [problem] = response.json["problems"]
    assert problem.startswith("annual_revenue: '$1.5.5") and ".5" * 51 not in problem and len(response.data) < 400


def test_a_yaml_syntax_error_quotes_little_of_the_input(client):
    response = post_market(client, "industry: '" + "z" * 4000)
    assert response.status_code == 400
    assert response.json["problems"][0].count("z") <= 100


@pytest.mark.parametrize("field", sorted(MarketDefinition.model_fields) + ["as_of"])
def test_every_hostile_value_in_every_field_is_a_small_json_400_or_202_quoting_little(client, conn, field):
    """Each hostile value of the fuzz suite, in each field: where hypothesis samples, this tries every pair."""
    for value in HOSTILE_YAML:
        market = {"industry": "SaaS", "company_size": "10-50"}
        body = flow_yaml({"market": market, "as_of": value} if field == "as_of" else market | {field: value})
        before = queue("source", conn).count
        response = post_market(client, body)
        assert response.status_code in (202, 400) and response.is_json, (field, value[:80], response.data[:300])
        assert echoed(response.data, [value]) is None, (field, value[:80], response.data[:300])
        assert queue("source", conn).count - before == (1 if response.status_code == 202 else 0)


def test_a_body_that_is_not_utf8_is_a_400_naming_the_rule_not_replacement_characters(client, conn):
    response = post_market(client, b"industry: \xff\xfe\xfd\ncompany_size: 10-500\n")
    assert response.status_code == 400
    assert response.json["problems"] == ["(document): not UTF-8 text (byte 0xff at position 10); send the market "
                                         "as UTF-8"]
    assert queue("source", conn).count == 0


def test_control_and_format_characters_in_market_strings_are_stripped_at_ingestion(client, conn):
    body = ('name: "Q4\\0 push\\x1b[2J"\nindustry: "B2B\\x7f SaaS\\x85\\u200b"\ncompany_size: 10-500\n'
            'pain_points: ["a\\tb\\x07", "\\u202eylno ecivni"]\n')
    response = post_market(client, body)
    assert response.status_code == 202
    [job] = queue("source", conn).jobs
    market = job.args[0]["run"]["market"]
    assert (market["name"], market["industry"], market["pain_points"]) == ("Q4 push[2J", "B2B SaaS",
                                                                           ["a\tb", "ylno ecivni"])


def test_a_body_over_the_limit_is_a_json_413(client):
    response = client.post("/api/markets", data="x" * (2 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.is_json and "1048576 bytes" in response.json["error"]


def test_an_unknown_api_route_is_a_json_404(client):
    response = client.get("/api/nothing-here")
    assert (response.status_code, response.is_json) == (404, True)


def test_a_wrong_method_on_the_api_is_a_json_405(client):
    response = client.delete("/api/markets")
    assert (response.status_code, response.is_json) == (405, True)


def test_a_crash_under_the_api_is_a_json_500_without_details(client, monkeypatch):
    import webhooks.api

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(webhooks.api, "run_tenant", broken)
    response = client.get("/api/runs/anything")
    assert (response.status_code, response.is_json) == (500, True)
    assert b"secret internals" not in response.data


# --- the Salesforce Flow callout: signed JSON, refused the same way -----------------------------------------------


@pytest.fixture
def flow_client(redis_url, tmp_path):
    settings = make_settings(tmp_path)
    TenantStore(settings.state_path, Vault(settings.state_path, settings.salesos_vault_keys.get_secret_value())).add(
        Tenant(id=f"salesforce-{ORG}", crm="salesforce", external_id=ORG, instance_url="https://acme.my.salesforce.com",
               installed_at=dt.datetime.now(dt.UTC)), {"access_token": "t", "flow_secret": FLOW_SECRET})
    app = create_app(redis_url=redis_url, settings=settings)
    app.testing = False
    return app.test_client()


@pytest.mark.parametrize("body", [
    b"[" * 5000 + b"]" * 5000,
    b'{"action": "prospect_company", "record_id": "0011I000003qqqEQAQ", "fields": {"n": NaN}}',
    b'{"action": "prospect_company", "record_id": "0011I000003qqqEQAQ", "fields": {"n": 1e999}}',
    b'{"action": "prospect_company", "record_id": "0011I000003qqqEQAQ", "fields": {"n": ' + b"9" * 5000 + b"}}",
])
def test_a_signed_flow_callout_nested_deep_or_with_huge_numbers_is_a_small_400(flow_client, conn, body):
    response = flow_client.post(f"/webhooks/salesforce/flow/salesforce-{ORG}", data=body, headers=flow_signed(body))
    assert response.status_code == 400 and len(response.data) < SMALL
    assert queue("source", conn).count == 0 and conn.llen(INBOX) == 0
