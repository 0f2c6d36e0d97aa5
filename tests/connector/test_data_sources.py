"""A CRM tenant reads only its own data source, never the fictional sample, whatever names the files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connector.data_sources import DataSource, NoData, TenantDataSources, files_for, forget_data_source, refuse_sample
from connector.providers.offline import OfflineProvider, sample_files
from connector.providers.sample_check import SAMPLE_MIN_DOMAINS, sample_domains
from connector.settings import SAMPLE_DATA
from connector.store import open_store
from scripts.make_sample_data import MALFORMED
from tests.test_end_to_end import ROWS

SAMPLE_JSONL, SAMPLE_CSV = SAMPLE_DATA


def is_sample(path: Path) -> bool:
    """What `tenants data-files` finds of the file on its own, before any run reads it."""
    return sample_files([path]) == [str(path)]


@pytest.fixture
def own_data(tmp_path) -> Path:
    path = tmp_path / "accounts.jsonl"
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in ROWS) + "\n")
    return path


def test_a_crm_tenant_without_a_data_source_has_nothing_to_read_and_is_told_what_to_do():
    with pytest.raises(NoData) as refused:
        files_for("hubspot-62515", list(SAMPLE_DATA), None)
    assert "hubspot-62515 has no data source" in str(refused.value)
    assert "python -m connector tenants data-files hubspot-62515 FILE..." in str(refused.value)
    assert "python -m connector tenants provider-key set hubspot-62515 NAME -" in str(refused.value)


def test_a_crm_tenant_with_provider_keys_and_no_data_source_reads_no_file():
    assert files_for("hubspot-62515", list(SAMPLE_DATA), None, has_provider_keys=True) == []


def test_the_local_crm_reads_SALESOS_DATA_FILES_whether_or_not_it_has_provider_keys():
    assert files_for("local", list(SAMPLE_DATA), None, has_provider_keys=True) == list(SAMPLE_DATA)


def test_the_local_crm_reads_SALESOS_DATA_FILES_and_a_tenant_only_its_own_source(own_data):
    assert files_for("local", list(SAMPLE_DATA), None) == list(SAMPLE_DATA)
    assert files_for("hubspot-62515", list(SAMPLE_DATA), DataSource(files=[str(own_data)])) == [own_data]


def test_a_copy_or_an_excerpt_of_the_sample_is_known_as_sample(tmp_path, own_data):
    copy = tmp_path / "renamed-copy.jsonl"
    shutil.copyfile(SAMPLE_JSONL, copy)
    excerpt = tmp_path / "excerpt.jsonl"  # rows from the middle, without the file's first line
    excerpt.write_text("".join(SAMPLE_JSONL.read_text(encoding="utf-8").splitlines(keepends=True)[5000:5100]))
    csv_excerpt = tmp_path / "accounts.csv"
    csv_excerpt.write_text("".join(SAMPLE_CSV.read_text().splitlines(keepends=True)[:1] +
                                   SAMPLE_CSV.read_text().splitlines(keepends=True)[40:45]))
    for path in (SAMPLE_JSONL, SAMPLE_CSV, copy, excerpt, csv_excerpt):
        assert is_sample(path), path
        assert OfflineProvider([path]).load().sample_files == [str(path)]
    mixed = OfflineProvider([own_data, excerpt]).load()
    assert mixed.sample_files == [str(excerpt)]
    assert not is_sample(own_data) and OfflineProvider([own_data]).load().sample_files == []


def test_every_row_of_the_bundled_sample_says_it_is_sample_data():
    rows = [json.loads(line) for line in SAMPLE_JSONL.read_text(encoding="utf-8").splitlines()
            if line not in MALFORMED]
    assert len(rows) > 10_000 and all(row["sample"] is True for row in rows)
    lines = SAMPLE_CSV.read_text().splitlines()
    assert lines[0].endswith(",Sample") and all(line.endswith(",true") for line in lines[1:])


def test_sample_files_are_refused_for_a_crm_tenant_and_allowed_for_the_local_crm():
    refuse_sample("local", [str(SAMPLE_JSONL)])
    with pytest.raises(NoData) as refused:
        refuse_sample("salesforce-00D000000000001AAA", [str(SAMPLE_JSONL)])
    assert "fictional sample data" in str(refused.value) and SAMPLE_JSONL.name in str(refused.value)


def test_a_tenants_data_source_is_kept_and_replaced_in_salesos_state(state_url, own_data):
    store = TenantDataSources(state_url)
    assert store.get("hubspot-62515") is None
    store.set("hubspot-62515", DataSource(files=[str(SAMPLE_JSONL)]))
    store.set("hubspot-62515", DataSource(files=[str(own_data)]))
    store.set("hubspot-2", DataSource(files=[str(SAMPLE_JSONL)]))
    again = TenantDataSources(state_url)
    assert again.get("hubspot-62515") == DataSource(kind="files", files=[str(own_data)])
    assert again.get("hubspot-1") is None
    with open_store(state_url).write() as conn:  # uninstalling hubspot-2
        forget_data_source(conn, "hubspot-2")
    assert again.get("hubspot-2") is None and again.get("hubspot-62515") is not None


def without_marks(tmp_path) -> tuple[Path, Path]:
    """The sample as `sed 's/"sample":true,//'` leaves it, and its CSV without the Sample column."""
    jsonl = tmp_path / "accounts.jsonl"
    jsonl.write_text(SAMPLE_JSONL.read_text(encoding="utf-8").replace('"sample":true,', ""), encoding="utf-8")
    csv = tmp_path / "targets.csv"
    csv.write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in SAMPLE_CSV.read_text().splitlines()))
    assert '"sample"' not in jsonl.read_text(encoding="utf-8") and "Sample" not in csv.read_text()
    return jsonl, csv


def test_a_copy_of_the_sample_without_its_marks_is_still_known_by_its_made_up_company_domains(tmp_path):
    jsonl, csv = without_marks(tmp_path)
    excerpt = tmp_path / "excerpt.jsonl"  # a few hundred rows from the middle
    excerpt.write_text("".join(jsonl.read_text(encoding="utf-8").splitlines(keepends=True)[9000:9300]),
                       encoding="utf-8")
    for path in (jsonl, csv, excerpt):
        assert is_sample(path), path
        assert OfflineProvider([path]).load().sample_files == [str(path)]
    with pytest.raises(NoData):
        refuse_sample("hubspot-62515", OfflineProvider([excerpt]).load().sample_files)


def test_real_companies_that_share_a_domain_with_the_sample_are_not_refused(tmp_path):
    shared = sorted(sample_domains())[:3]  # real companies may own a domain the generator made up
    rows = [{"type": "company", "name": f"Real {n}", "domain": f"real-company-{n}.com"} for n in range(40)]
    rows += [{"type": "company", "name": f"Also real {n}", "domain": domain} for n, domain in enumerate(shared)]
    mostly_real = tmp_path / "accounts.jsonl"
    mostly_real.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    few = tmp_path / "few.jsonl"  # too few companies to judge by share: a handful of rows is never refused
    few.write_text("\n".join(json.dumps({"type": "company", "name": d, "domain": d})
                             for d in sorted(sample_domains())[:SAMPLE_MIN_DOMAINS - 1]) + "\n")
    for path in (mostly_real, few):
        assert not is_sample(path) and OfflineProvider([path]).load().sample_files == [], path


def test_the_sample_is_refused_naming_its_files_not_their_server_paths():
    with pytest.raises(NoData) as refused:
        refuse_sample("salesforce-00D000000000001AAA", [str(SAMPLE_JSONL), str(SAMPLE_CSV)])
    assert "sample_market.jsonl, target_accounts.csv: fictional sample data" in str(refused.value)
    assert str(SAMPLE_JSONL.parent) not in str(refused.value)


@pytest.mark.parametrize("sample_in", ["Domain", "Website"])
def test_a_csv_with_two_domain_columns_is_judged_by_the_column_the_reader_reads(tmp_path, sample_in):
    """The reader and the sample check once picked different columns: sample companies got through under the
    other header."""
    made_up, real = sorted(sample_domains())[:40], [f"real-company-{n}.com" for n in range(40)]
    columns = {"Domain": made_up, "Website": real} if sample_in == "Domain" else {"Domain": real, "Website": made_up}
    path = tmp_path / "accounts.csv"
    path.write_text("Company Name,Domain,Website\n" + "".join(
        f"Company {n},{columns['Domain'][n]},{columns['Website'][n]}\n" for n in range(40)))
    data = OfflineProvider([path]).load()
    reads_sample = {company.domain for company in data.companies} <= set(made_up)
    assert reads_sample is (sample_in == "Domain")  # "Domain" is listed before "Website": it is the one read
    assert data.sample_files == ([str(path)] if reads_sample else [])
    assert is_sample(path) is reads_sample and sample_files([path]) == data.sample_files


def test_the_sample_split_into_files_too_small_to_judge_is_judged_as_a_whole(tmp_path, own_data):
    made_up = sorted(sample_domains())[:3 * (SAMPLE_MIN_DOMAINS - 1)]
    parts = []
    for n in range(3):  # each file alone names too few companies to be judged by share
        part = tmp_path / f"part{n}.jsonl"
        part.write_text("".join(json.dumps({"type": "company", "name": domain, "domain": domain}) + "\n"
                                for domain in made_up[n::3]))
        parts.append(part)
    assert not any(is_sample(part) for part in parts)
    assert OfflineProvider(parts).load().sample_files == [str(part) for part in parts]
    assert sample_files(parts) == [str(part) for part in parts]
    assert OfflineProvider([own_data, *parts]).load().sample_files == [str(part) for part in parts]
    with pytest.raises(NoData):
        refuse_sample("hubspot-62515", sample_files(parts))
