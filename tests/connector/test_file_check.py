"""A data file that cannot be used is refused whole, before any job, with one line naming it and the problem."""

from __future__ import annotations

import pytest

from connector.providers.base import ProviderError
from connector.providers.file_check import check_file, check_files, file_problems

COMPANY = b'{"type": "company", "name": "Acme", "domain": "acme.io"}\n'


def refusal(path) -> str:
    with pytest.raises(ProviderError) as refused:
        check_file(path)
    return str(refused.value)


def test_a_usable_csv_and_a_usable_jsonl_pass(tmp_path):
    (tmp_path / "a.csv").write_bytes("\ufeffCompany Name,Website\nCafé Ünïcode,cafe.io\n".encode())  # Excel's BOM
    (tmp_path / "a.jsonl").write_bytes(b"{not json\n" + COMPANY)  # a bad row is the row's problem, not the file's
    check_files([tmp_path / "a.csv", tmp_path / "a.jsonl"])


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("empty.csv", b"", "is empty"),
    ("blank.jsonl", b"\n  \n\t\n", "is empty"),
    ("headers.csv", b"name,domain\n\n,\n", "has a header row and no rows"),
    ("columns.csv", b"foo,bar\n1,2\n", "no name or domain column (headers: foo, bar)"),
    ("latin1.csv", "name,domain\nCafé,cafe.io\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 2)"),
    ("cut.csv", b"name,domain\nAcme,acme.io\n\xc3", "is not UTF-8 text (it ends inside a character)"),
    ("excel.csv", "name,domain\nAcme,acme.io\n".encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
    ("zip.csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "is a binary file, not text (byte 0x00 on line 1)"),
    ("objects.jsonl", b'[1, 2]\n"company"\n{oops\n', "no line is a JSON object"),
])
def test_an_unusable_file_is_named_with_its_problem(tmp_path, name, content, problem):
    (tmp_path / name).write_bytes(content)
    assert refusal(tmp_path / name) == f"{tmp_path / name}: {problem}" + (
        "; save it as UTF-8" if "not UTF-8" in problem else
        "; use a .csv or .jsonl text file" if "binary" in problem else
        ", so it is not JSON Lines (one object per line)" if "JSON object" in problem else "")


def test_a_missing_file_and_a_directory_are_named(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    assert refusal(tmp_path / "nope.csv") == f"data file not found: {tmp_path / 'nope.csv'}"
    assert refusal(tmp_path / "dir.csv") == f"{tmp_path / 'dir.csv'}: is a directory, not a data file"


def test_a_bad_byte_past_the_first_chunk_is_found_on_its_line(tmp_path):
    path = tmp_path / "big.jsonl"
    lines = COMPANY * 30_000  # ~1.7 MB: read in more than one chunk
    path.write_bytes(lines + b'{"type": "company", "name": "Caf\xe9"}\n')
    assert refusal(path).endswith(f"(byte 0xe9 on line {30_001}); save it as UTF-8")


def test_a_character_cut_by_a_chunk_boundary_is_not_a_problem(tmp_path):
    path = tmp_path / "big.csv"
    head = b"name,domain\n" + b"acme,acme.io\n" * 80_000
    filler = b"a" * ((1 << 20) - len(head) - 1)  # "é" (2 bytes) starts on the last byte of the first chunk
    path.write_bytes(head + filler + "é,acme.io\n".encode())
    check_file(path)


def test_every_unusable_file_is_listed_once(tmp_path):
    (tmp_path / "good.jsonl").write_bytes(COMPANY)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert file_problems([tmp_path / "missing.csv", tmp_path / "good.jsonl", tmp_path / "empty.jsonl"]) == [
        f"data file not found: {tmp_path / 'missing.csv'}", f"{tmp_path / 'empty.jsonl'}: is empty"]
