"""A CRM tenant reads only its own data source, never the fictional sample, whatever names the files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connector.data_sources import DataSource, NoData, TenantDataSources, files_for, refuse_sample
from connector.providers.offline import OfflineProvider, is_sample
from connector.settings import SAMPLE_DATA
from scripts.make_sample_data import MALFORMED
from tests.test_end_to_end import ROWS

SAMPLE_JSONL, SAMPLE_CSV = SAMPLE_DATA


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
    assert "fictional sample data" in str(refused.value) and str(SAMPLE_JSONL) in str(refused.value)


def test_a_tenants_data_source_is_kept_and_replaced_in_salesos_state(tmp_path, own_data):
    store = TenantDataSources(tmp_path / "salesos.sqlite3")
    assert store.get("hubspot-62515") is None
    store.set("hubspot-62515", DataSource(files=[str(SAMPLE_JSONL)]))
    store.set("hubspot-62515", DataSource(files=[str(own_data)]))
    store.close()
    again = TenantDataSources(tmp_path / "salesos.sqlite3")
    assert again.get("hubspot-62515") == DataSource(kind="files", files=[str(own_data)])
    assert again.get("hubspot-1") is None
