"""The throwaway PostgreSQL the tests run on: real, isolated per test, loopback only, never silently absent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.postgres_server import PostgresNotInstalled, PostgresServer

REPO = Path(__file__).resolve().parents[1]
databases_seen: list[str] = []


def database_names(server: PostgresServer) -> set[str]:
    with server.connect() as admin:
        return {name for (name,) in admin.execute("SELECT datname FROM pg_database")}


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_a_fresh_empty_database_and_the_previous_one_is_dropped(postgres_server, postgres_url, turn):
    engine = sa.create_engine(postgres_url)
    name = engine.url.database
    assert sa.inspect(engine).get_table_names() == []
    assert name not in databases_seen
    assert database_names(postgres_server).isdisjoint(databases_seen)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE leftover (id integer)"))
        connection.execute(sa.text("INSERT INTO leftover VALUES (1)"))
    engine.dispose()
    databases_seen.append(name)


def test_a_database_is_dropped_even_while_a_connection_to_it_is_open(postgres_server):
    name = f"salesos_test_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    left_open = postgres_server.connect(name)
    postgres_server.drop_database(name)
    assert name not in database_names(postgres_server)
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    left_open.close()


def test_another_process_writes_what_this_one_reads(postgres_url):
    """Separate processes stand in for separate hosts: they share nothing but the server's address."""
    writer = textwrap.dedent("""
        import sys
        import sqlalchemy as sa
        with sa.create_engine(sys.argv[1]).begin() as connection:
            connection.execute(sa.text("CREATE TABLE unsubscribes (email text PRIMARY KEY)"))
            connection.execute(sa.text("INSERT INTO unsubscribes VALUES ('ada@example.com')"))
    """)
    subprocess.run([sys.executable, "-c", writer, postgres_url], check=True, timeout=120)
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT email FROM unsubscribes")).scalars().all() == ["ada@example.com"]
    engine.dispose()


def test_the_server_listens_and_admits_on_loopback_only(postgres_server):
    with postgres_server.connect() as admin:
        assert admin.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        rules = admin.execute("SELECT type, address FROM pg_hba_file_rules ORDER BY line_number").fetchall()
    assert rules == [("local", None), ("host", "127.0.0.1")]
    listening = [local for local in listening_tcp_addresses() if local.endswith(f":{postgres_server.port:04X}")]
    assert listening == [f"0100007F:{postgres_server.port:04X}"]
    with psycopg.connect(host=str(postgres_server.directory), port=postgres_server.port, user="postgres") as local:
        assert local.execute("SELECT 1").fetchone() == (1,)  # the unix socket in its own directory


def listening_tcp_addresses() -> list[str]:
    """Local "ADDR:PORT" (kernel hex) of every listening TCP socket, IPv4 and IPv6."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                addresses.append(fields[1])
    return addresses


def test_state_url_is_a_working_database_on_the_engine_it_is_named_for(state_url, request):
    engine = sa.create_engine(state_url)
    assert engine.dialect.name == request.node.callspec.params["state_url"]
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE tenants (id text PRIMARY KEY)"))
        connection.execute(sa.text("INSERT INTO tenants VALUES ('hubspot-1')"))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id FROM tenants")).scalars().all() == ["hubspot-1"]
    engine.dispose()


def test_missing_postgres_binaries_name_the_install_command(tmp_path):
    with pytest.raises(PostgresNotInstalled) as missing:
        PostgresServer(path="", search=str(tmp_path / "*" / "bin"))
    assert "apt-get install postgresql" in str(missing.value)
    assert "make test" in str(missing.value)


def test_a_postgres_test_fails_rather_than_skips_when_no_server_is_installed(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        import tests.postgres_server
        tests.postgres_server.DEBIAN_BIN_DIRS = {str(tmp_path / "none" / "*" / "bin")!r}
        from tests.conftest import postgres_server, postgres_url
    """))
    (tmp_path / "test_needs_postgres.py").write_text("def test_needs_postgres(postgres_url):\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env={**os.environ, "PATH": "", "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 error" in run.stdout and "skipped" not in run.stdout, run.stdout
    assert "apt-get install postgresql" in run.stdout


def test_stop_ends_the_server_and_removes_its_directory():
    server = PostgresServer()
    server.start()
    process, directory, port = server.process, server.directory, server.port
    assert directory.is_dir()
    server.stop()
    assert process.poll() is not None
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=10)
    server.stop()  # a second stop (fixture teardown after a failed start) is harmless
