"""The offline provider: JSON Lines and CSV in, bad rows quarantined with a reason."""

import json
import os

import pytest

from connector.providers.base import ProviderError
from connector.providers.offline import OfflineProvider, load_cached

COMPANY = {"type": "company", "name": "Acme", "domain": "https://www.acme.io/", "source": "apollo", "confidence": 0.9}
PERSON = {"type": "person", "name": "Jane Roe", "title": "CEO", "email": "jane@acme.io", "company_domain": "acme.io"}
SIGNAL = {"type": "signal", "kind": "funding", "company_domain": "acme.io", "date": "2026-10-01", "round": "Series B"}


def jsonl(tmp_path, *rows, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def load(*paths):
    return OfflineProvider(list(paths)).load()


def reasons(dataset):
    return [(q.line, q.reason) for q in dataset.quarantined]


def test_companies_people_and_signals_are_read_and_grouped_by_domain(tmp_path):
    data = load(jsonl(tmp_path, COMPANY, PERSON, SIGNAL))
    assert [c.domain for c in data.companies] == ["acme.io"]
    assert [p.email for p in data.people_for(["acme.io"])["acme.io"]] == ["jane@acme.io"]
    assert [s.round for s in data.signals_for(["acme.io"])["acme.io"]] == ["Series B"]
    assert data.rows_read == 3 and data.quarantined == []


def test_a_domain_without_people_or_signals_gets_empty_lists(tmp_path):
    data = load(jsonl(tmp_path, COMPANY))
    assert data.people_for(["other.io"]) == {"other.io": []}
    assert data.signals_for(["other.io"]) == {"other.io": []}


def test_bad_json_is_quarantined_with_its_line(tmp_path):
    path = jsonl(tmp_path, COMPANY, '{"type": "company", "name": ')
    data = load(path)
    assert data.quarantined[0].file == str(path)
    assert reasons(data) == [(2, "invalid JSON: Expecting value at column 29")]
    assert len(data.companies) == 1


def test_a_company_without_a_domain_is_quarantined(tmp_path):
    row = {k: v for k, v in COMPANY.items() if k != "domain"}
    assert reasons(load(jsonl(tmp_path, row))) == [(1, "company.domain: required field is missing")]


def test_a_value_of_the_wrong_type_names_the_field(tmp_path):
    data = load(jsonl(tmp_path, COMPANY | {"employee_count": "many"}))
    assert reasons(data) == [(1, "company.employee_count: Input should be a valid integer, unable to parse "
                                 "string as an integer (got 'many')")]


def test_an_unparseable_signal_date_is_quarantined(tmp_path):
    data = load(jsonl(tmp_path, SIGNAL | {"date": "last spring"}))
    assert data.quarantined[0].reason.startswith("signal.funding.date: Input should be a valid date")


def test_an_unknown_or_missing_type_is_quarantined(tmp_path):
    data = load(jsonl(tmp_path, {"type": "widget"}, {"name": "x"}, ["a", "list"]))
    assert reasons(data) == [
        (1, "type: unknown type 'widget' (expected company, person or signal)"),
        (2, "type: required field is missing (company, person or signal)"),
        (3, "expected a JSON object, got list"),
    ]


def test_a_quarantine_reason_quotes_at_most_100_characters_of_the_row(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(f"name,domain,employees\nAcme,acme.io,{'9-' * 3000}\n")
    data = load(jsonl(tmp_path, {"type": "T" * 5000}), path)
    unknown_type, bad_number = (reason for _, reason in reasons(data))
    assert unknown_type.startswith("type: unknown type 'TTT") and "T" * 101 not in unknown_type
    assert bad_number.startswith("company.employee_count: '9-9-") and "9-" * 51 not in bad_number


def test_an_unregistrable_domain_is_quarantined(tmp_path):
    data = load(jsonl(tmp_path, COMPANY | {"domain": "localhost"}))
    assert reasons(data) == [(1, "company.domain: 'localhost' has no registrable domain")]


def test_blank_lines_are_skipped_silently(tmp_path):
    data = load(jsonl(tmp_path, COMPANY, "", "   ", PERSON))
    assert data.rows_read == 2 and data.quarantined == []


def test_a_target_account_csv_with_export_headers_is_read(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text('Company Name,Website,Industry,Employees,Annual Revenue,Country\n'
                    'Acme Inc.,https://www.acme.io/about,B2B SaaS,"1,200","$12,000,000",UK\n'
                    'Beta,beta.io,SaaS,51-200,12M,USA\n')
    acme, beta = load(path).companies
    assert (acme.domain, acme.employee_count, acme.annual_revenue, acme.country) == ("acme.io", 1200, 12e6, "GB")
    assert (beta.employee_count, beta.annual_revenue, beta.country) == (126, 12e6, "US")
    assert acme.source == "csv:accounts" and acme.confidence == 0.6


def test_control_and_format_characters_are_stripped_from_every_row_at_ingestion(tmp_path):
    data = load(jsonl(tmp_path, COMPANY | {"name": "Acme\x1b[2J\u202e Corp\ud800", "industry": "B2B\nSaaS"},
                      PERSON | {"name": "Jane\r\nRoe\x00", "title": "C\u200bEO"},
                      SIGNAL | {"title": "Series B\x85raised\ufeff"}))
    [company] = data.companies
    [person], [signal] = data.people_for(["acme.io"])["acme.io"], data.signals_for(["acme.io"])["acme.io"]
    assert (company.name, company.industry, person.name, person.title, signal.title) == (
        "Acme[2J Corp", "B2B SaaS", "Jane Roe", "CEO", "Series B raised")
    path = tmp_path / "accounts.csv"
    path.write_text('name,domain,Annual Revenue\n"Beta\x07\nInc",beta.io,$12\u200b000\n', encoding="utf-8")
    [beta] = load(path).companies
    assert (beta.name, beta.annual_revenue) == ("Beta Inc", 12000)


def test_a_csv_row_without_a_domain_is_quarantined_with_its_line(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("name,domain\nAcme,acme.io\nNo Domain,\n")
    data = load(path)
    assert [c.domain for c in data.companies] == ["acme.io"]
    assert reasons(data) == [(3, "company.domain: required field is missing")]


def test_a_csv_without_a_name_or_domain_column_is_refused(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("company,revenue\nAcme,1M\n")
    with pytest.raises(ProviderError, match="no domain column"):
        load(path)


def test_a_csv_refused_for_its_columns_quotes_at_most_100_characters_of_its_headers(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("company," + ",".join(f"column {n} " + "x" * 500 for n in range(200)) + "\nAcme\n")
    with pytest.raises(ProviderError) as refused:
        load(path)
    reason = str(refused.value).removeprefix(f"{path}: ")
    assert reason.startswith("no domain column (headers: company, column 0 xxx") and len(reason) < 160


def test_a_missing_file_is_a_provider_error_naming_it(tmp_path):
    with pytest.raises(ProviderError, match="data file not found: .*nope.jsonl"):
        load(tmp_path / "nope.jsonl")


def test_an_unsupported_file_type_is_refused(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"")
    with pytest.raises(ProviderError, match="unsupported file type '.xlsx'"):
        load(path)


def test_the_cache_reuses_a_dataset_until_the_file_changes(tmp_path):
    path = jsonl(tmp_path, COMPANY)
    first = load_cached([path])
    assert load_cached([path]) is first
    jsonl(tmp_path, COMPANY, COMPANY | {"domain": "beta.io"})
    os.utime(path, ns=(1, 1))
    assert len(load_cached([path]).companies) == 2


def test_records_are_not_merged_here(tmp_path):
    data = load(jsonl(tmp_path, COMPANY, COMPANY | {"domain": "acme.io", "source": "zoominfo"}))
    assert len(data.companies) == 2  # merging is the Lead Source agent's decision


HOSTILE_LINKS = ("javascript:alert(1)", " JaVaScRiPt:alert(document.cookie)", "data:text/html,<script>alert(1)</script>",
                 "java\tscript:alert(1)", "vbscript:msgbox(1)", "//evil.example/x", "https:/no-host", "ftp://files.acme.io/x")


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_a_signal_or_person_whose_link_is_not_http_is_quarantined_naming_the_field_and_the_rule(tmp_path, link):
    data = load(jsonl(tmp_path, SIGNAL | {"url": link}, PERSON | {"linkedin_url": link}))
    assert data.signals_for(["acme.io"]) == {"acme.io": []} and data.people_for(["acme.io"]) == {"acme.io": []}
    [(signal_line, signal), (person_line, person)] = reasons(data)
    assert (signal_line, person_line) == (1, 2)
    assert signal.startswith("signal.funding.url: must be an http(s) URL")
    assert person.startswith("person.linkedin_url: must be an http(s) URL")


def test_http_and_https_links_are_kept_and_a_blank_one_counts_as_none(tmp_path):
    data = load(jsonl(tmp_path, SIGNAL | {"url": "HTTPS://News.Example.com/acme?a=1"},
                      PERSON | {"linkedin_url": "http://linkedin.com/in/jane"}, PERSON | {"email": "joe@acme.io",
                                                                                          "linkedin_url": "  "}))
    assert data.quarantined == []
    assert [s.url for s in data.signals_for(["acme.io"])["acme.io"]] == ["HTTPS://News.Example.com/acme?a=1"]
    assert [p.linkedin_url for p in data.people_for(["acme.io"])["acme.io"]] == ["http://linkedin.com/in/jane", None]


@pytest.mark.parametrize("link", ["linkedin.com/in/jane-roe", "www.linkedin.com/in/jane-roe",
                                  "  LinkedIn.com/in/jane-roe ", "uk.linkedin.com/in/jane-roe?trk=x"])
def test_a_scheme_less_link_on_a_real_domain_is_read_as_https_and_its_row_kept(tmp_path, link):
    data = load(jsonl(tmp_path, PERSON | {"linkedin_url": link}, SIGNAL | {"url": "news.example.com/acme-raises"}))
    assert data.quarantined == []
    assert [p.linkedin_url for p in data.people_for(["acme.io"])["acme.io"]] == [f"https://{link.strip()}"]
    assert [s.url for s in data.signals_for(["acme.io"])["acme.io"]] == ["https://news.example.com/acme-raises"]


@pytest.mark.parametrize("link", ["in/jane-roe", "linkedin/in/jane-roe", "localhost/in/jane", "mailto:jane@acme.io",
                                  "linkedin.com:evil/in/x", "linkedin.com/in/jane roe"])
def test_a_scheme_less_link_without_a_real_domain_or_with_another_scheme_is_still_quarantined(tmp_path, link):
    [(_, reason)] = reasons(load(jsonl(tmp_path, PERSON | {"linkedin_url": link})))
    assert reason.startswith("person.linkedin_url: must be an http(s) URL")
