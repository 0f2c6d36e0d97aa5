"""An org's manifest (its Outbound Message URL is a credential) is written like every private file SalesOS writes."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from connector.vault import new_key

ROOT = Path(__file__).resolve().parents[2]


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "connector", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_rewriting_an_orgs_manifest_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    env = {**os.environ, "SALESOS_HOME": str(tmp_path / "home"), "SALESOS_VAULT_KEYS": new_key()}
    assert cli(env, "tenants", "add", "salesforce", "--org-id", "00D5g000004XyZzEAK", "--instance-url",
               "https://acme.my.salesforce.com", "--access-token", "00D!token").returncode == 0
    out = tmp_path / "org-manifest"
    manifest = ["manifests", "--tenant", "salesforce-00D5g000004XyZzEAK", "--integration-user", "integration@acme.com",
                "--out", str(out)]
    assert cli(env, *manifest).returncode == 0
    workflow = out / "salesforce/force-app/main/default/workflows/Account.workflow-meta.xml"
    elsewhere = tmp_path / "someone-elses-file"
    elsewhere.write_text("not SalesOS's to overwrite")
    elsewhere.chmod(0o644)
    workflow.unlink()
    workflow.symlink_to(elsewhere)  # left there by someone who could write the directory

    written = cli(env, *manifest)
    assert written.returncode == 0, written.stderr
    assert elsewhere.read_text() == "not SalesOS's to overwrite" and stat.S_IMODE(elsewhere.stat().st_mode) == 0o644
    assert not workflow.is_symlink() and "outboundMessages" in workflow.read_text()
    assert stat.S_IMODE(workflow.stat().st_mode) == 0o600
    assert sorted(path.name for path in workflow.parent.iterdir() if path.name.startswith(".")) == []  # no temp file
