"""`serve` with the operators' dashboard stops its embedded Redis, even after an operator used /rq."""

import base64
import os
import subprocess
import sys
import urllib.request

from tests.live_server import ROOT, start_server, stop
from tests.test_serve import embedded_servers


def test_serve_stops_its_embedded_redis_after_an_operator_used_the_dashboard(tmp_path):
    home_env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    home_env |= {"SALESOS_HOME": str(tmp_path / "home"), "SALESOS_DASHBOARD": "1"}
    server, port = start_server([sys.executable, "-m", "connector", "serve", "--port", "0"], home_env,
                                tmp_path / "serve.log")
    try:
        key = subprocess.run([sys.executable, "-m", "connector", "operator-key", "create"], cwd=ROOT, env=home_env,
                             capture_output=True, text=True, timeout=60, check=True).stdout.strip()
        basic = base64.b64encode(f"operator:{key}".encode()).decode()  # what a browser sends at /rq
        for path in ("/rq/", "/rq/0/data/queues.json"):  # the second makes rq-dashboard open a connection per request
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                             headers={"Authorization": f"Basic {basic}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        assert embedded_servers(tmp_path / "home")
    finally:
        stop(server)
    assert embedded_servers(tmp_path / "home") == set()
