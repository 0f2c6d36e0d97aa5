"""The layers import downwards only: the agents, the connector and the CRM adapters never load the HTTP layer."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In a fresh interpreter: whatever this test process imported already says nothing about what these modules import.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
for package in ("agents", "connector", "crm_adapters"):
    importlib.import_module(package)
    for module in pkgutil.walk_packages(sys.modules[package].__path__, package + "."):
        if module.name != "connector.__main__":  # runs the command line
            importlib.import_module(module.name)
print(json.dumps({"imported": sorted(name for name in sys.modules if name.split(".")[0] in
                                     ("agents", "connector", "crm_adapters")),
                  "webhooks": sorted(name for name in sys.modules if name.split(".")[0] == "webhooks")}))
"""


def test_no_module_of_agents_connector_or_crm_adapters_loads_the_webhooks_package():
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=ROOT, capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout)
    assert {"agents.event_jobs", "connector.dispatch", "connector.routing", "connector.health",
            "connector.deal_events", "connector.cli"} <= set(modules["imported"])
    assert modules["webhooks"] == []
