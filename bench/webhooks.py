"""How fast SalesOS acknowledges signed HubSpot webhooks, next to a bare Flask route on the same server.

Starts a private redis-server and gunicorn on loopback serving the real app
plus `POST /bench/bare` (reads the body, answers a small JSON), then:

1. throughput: a closed-loop load on each route (wrk when it is installed,
   `apt-get install wrk`; else a Python client, which shares the 2 cores and
   so understates both routes): batches accepted per second, p50 and p99.
   The routes take turns for `--rounds` rounds and each one's median run is
   reported: on 2 shared cores single runs of one route vary by 10-20 %;
2. latency at a fixed 200 requests/s (open loop: latency counts from each
   request's scheduled time, so a stall is not hidden): p50 and p99.

Every request to the real endpoint is a distinct v3-signed delivery of
`--events` events of an installed portal, going through the whole path:
signature, validation, tenant lookup, echo check, dedupe and queueing in one
Redis round trip. Targets (printed, never asserted): >= 70 % of the bare
route's throughput for deliveries of one event (HubSpot's usual request: it
batches only when changes pile up; each further event adds work the bare
route has no counterpart of, so bigger batches are reported in events/s),
p99 < 25 ms at 200 requests/s.

    .venv/bin/python bench/webhooks.py [--seconds 6] [--rounds 3] [--connections 16] [--events 1,10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-hubspot-app-secret"
PORTAL = 62515
BARE = "/bench/bare"
REAL = "/webhooks/hubspot"
PUBLIC_URL = "https://salesos.example.com"  # what HubSpot calls and signs, a proxy's address in front of gunicorn


def bench_app():
    """The gunicorn app: the real one, plus a bare route that does only what every POST handler must."""
    from flask import jsonify, request

    from webhooks.app import create_app

    app = create_app()

    @app.post(BARE)
    def bare():
        request.get_data()
        return jsonify(ok=True), 200

    return app


# --- set-up ----------------------------------------------------------------------------------------------------------

def start_redis(directory: Path, aof: str) -> tuple[subprocess.Popen, str]:
    import redis

    server = shutil.which("redis-server", path=str(Path(sys.executable).parent)) or shutil.which("redis-server")
    persistence = ["--appendonly", "no"] if aof == "no" else ["--appendonly", "yes", "--appendfsync", aof]
    sock = directory / "redis.sock"
    process = subprocess.Popen([server, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                                "--save", "", "--dir", str(directory), *persistence],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{sock}"
    for _ in range(500):
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            time.sleep(0.02)
    raise SystemExit("redis-server did not start")


def register_tenant(home: Path, vault_key: str) -> None:
    """In the state database the server reads: SALESOS_HOME's, or SALESOS_DATABASE_URL's when it is set."""
    from connector.settings import Settings
    from connector.tenants import Tenant, TenantStore
    from connector.vault import Vault

    database = Settings(salesos_home=home).database_url
    store = TenantStore(database, Vault(database, vault_key))
    store.add(Tenant(id=f"hubspot-{PORTAL}", crm="hubspot", external_id=str(PORTAL),
                     installed_at=dt.datetime.now(dt.UTC)), {"access_token": "bench"})


def start_gunicorn(env: dict, workers: int, worker_class: str, threads: int, log: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn on a port it picks itself (one picked here and bound later could be taken meanwhile), and that
    port, once it answers."""
    from tests.live_server import start_server

    command = [str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers), "-k", worker_class,
               "--threads", str(threads), "-b", "127.0.0.1:0", "--log-level", "info",  # info: the port it bound
               "--no-control-socket",  # else it shares ~/.gunicorn/gunicorn.ctl with every other gunicorn here
               "bench.webhooks:bench_app()"]
    return start_server(command, env, log)


# --- requests --------------------------------------------------------------------------------------------------------

class Deliveries:
    """Distinct signed batches: the same portal, new events every time (as HubSpot sends them)."""

    def __init__(self, base_url: str, events: int) -> None:
        self.uri, self.events, self._next = base_url + REAL, events, 0

    def make(self, count: int) -> list[tuple[bytes, dict]]:
        from webhooks.signatures import v3_signature

        stamp = str(int(time.time() * 1000))
        out = []
        for _ in range(count):
            batch = []
            for _ in range(self.events):
                self._next += 1
                n = self._next
                batch.append({"eventId": n, "subscriptionId": 25, "portalId": PORTAL, "appId": 1160452,
                              "occurredAt": int(stamp) - 60_000, "subscriptionType": "contact.propertyChange",
                              "attemptNumber": 0, "objectId": n, "propertyName": "lifecyclestage",
                              "propertyValue": "lead", "changeSource": "CRM_UI"})
            body = json.dumps(batch, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
                       "X-HubSpot-Signature-v3": v3_signature(SECRET, "POST", self.uri, body, stamp),
                       "X-HubSpot-Signature-Version": "v1"}
            out.append((body, headers))
        return out


def wrk_run(base_url: str, path: str, requests: list[tuple[bytes, dict]], seconds: int, connections: int,
            directory: Path) -> dict:
    """Closed-loop load with wrk; each request takes the next prepared delivery (cycling if wrk outruns them)."""
    data = directory / f"requests{path.replace('/', '_')}.tsv"
    with data.open("w") as out:
        for body, headers in requests:  # compact JSON: no tab or newline inside a body
            out.write(f"{headers['X-HubSpot-Request-Timestamp']}\t{headers['X-HubSpot-Signature-v3']}\t"
                      f"{body.decode()}\n")
    lua = f"""
local bodies, sigs, stamps = {{}}, {{}}, {{}}
for line in io.lines("{data}") do
  local stamp, sig, body = line:match("^(%d+)\t([^\t]+)\t(.*)$")
  stamps[#stamps + 1], sigs[#sigs + 1], bodies[#bodies + 1] = stamp, sig, body
end
local n, i, started = #bodies, 0, 0
function setup(thread) thread:set("offset", started * math.floor(n / 2)); started = started + 1 end
function init(args) i = offset end
function request()
  i = i % n + 1
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json",
    ["X-HubSpot-Request-Timestamp"] = stamps[i], ["X-HubSpot-Signature-v3"] = sigs[i],
    ["X-HubSpot-Signature-Version"] = "v1"}}, bodies[i])
end
function done(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %f %f\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
    script = directory / f"load{path.replace('/', '_')}.lua"
    script.write_text(lua)
    result = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), base_url + path],
                            capture_output=True, text=True, timeout=seconds + 120)
    found = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)$", result.stdout, re.M)
    if not found:
        raise SystemExit(f"wrk failed: {result.stdout}\n{result.stderr}")
    total, bad_status, socket_errors, micros, p50, p99 = found.groups()
    ok = int(total) - int(bad_status)
    return {"rps": ok / (int(micros) / 1e6), "p50": float(p50), "p99": float(p99), "requests": int(total),
            "non_2xx": int(bad_status), "socket_errors": int(socket_errors)}


def python_run(port: int, path: str, requests: list[tuple[bytes, dict]], seconds: int, connections: int) -> dict:
    """Closed-loop load from threads in this process (used when wrk is not installed)."""
    latencies: list[float] = []
    failures = [0]
    lock, stop = threading.Lock(), time.monotonic() + seconds
    counter = iter(range(10**9))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], 0
        while time.monotonic() < stop:
            body, headers = requests[next(counter) % len(requests)]
            started = time.perf_counter()
            status = _post(conn, path, body, headers)
            mine.append((time.perf_counter() - started) * 1000)
            bad += status >= 300
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"rps": (len(latencies) - failures[0]) / elapsed, "p50": _pct(latencies, 50), "p99": _pct(latencies, 99),
            "requests": len(latencies), "non_2xx": failures[0], "socket_errors": 0}


def fixed_rate(port: int, path: str, requests: list[tuple[bytes, dict]], rate: int, seconds: int) -> dict:
    """Open loop: request k is due at k/rate s; its latency runs from then, so a late start counts against it."""
    total = rate * seconds
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    slots = iter(range(total))
    start = time.perf_counter() + 0.2

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for k in slots:
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body, headers = requests[k]
            status = _post(conn, path, body, headers)
            with lock:
                latencies.append((time.perf_counter() - due) * 1000)
                failures[0] += status >= 300

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"p50": _pct(latencies, 50), "p99": _pct(latencies, 99), "requests": total, "non_2xx": failures[0]}


def cpu_seconds(gunicorn_pid: int, redis_pid: int) -> dict[str, float]:
    """CPU time used so far by the gunicorn processes, redis-server, and the children this process waited for."""
    import psutil

    master = psutil.Process(gunicorn_pid)
    server = sum(sum(p.cpu_times()[:2]) for p in [master, *master.children()])
    times = os.times()
    return {"server": server, "redis": sum(psutil.Process(redis_pid).cpu_times()[:2]),
            "client": times.children_user + times.children_system + times.user + times.system}


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict) -> int:
    for attempt in (1, 2):  # a sync worker closes the connection after each response
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        except (http.client.HTTPException, OSError):
            conn.close()
            if attempt == 2:
                return 599
    return 599


def _pct(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else float("nan")


# --- the run ---------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of throughput runs, the routes taking turns; each route's median is reported")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--events", default="1,10", help="events per signed batch; one webhook run per value")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1,
                        help="gunicorn worker processes (default: gunicorn's 2 x cores + 1)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--rate", type=int, default=200, help="requests/s of the fixed-rate run")
    parser.add_argument("--rate-seconds", type=int, default=10)
    parser.add_argument("--aof", choices=("no", "everysec", "always"), default="no",
                        help="Redis append-only fsync policy (production: always, see webhooks/hubspot_events.py)")
    parser.add_argument("--distinct", type=int, default=0,
                        help="distinct signed batches per run with wrk (default: 1.3 x what a warm-up run of the bare "
                             "route took, so no batch is sent twice)")
    parser.add_argument("--python-client", action="store_true", help="use the Python client even if wrk exists")
    args = parser.parse_args()
    sizes = [int(size) for size in args.events.split(",")]

    import redis

    from connector.vault import new_key
    from tests.live_server import stop
    from connector.dispatch import INBOX

    use_wrk = shutil.which("wrk") is not None and not args.python_client
    directory = Path(tempfile.mkdtemp(prefix="salesos-bench-"))
    redis_process, redis_url = start_redis(directory, args.aof)
    vault_key = new_key()
    register_tenant(directory, vault_key)
    env = {**os.environ, "REDIS_URL": redis_url, "SALESOS_HOME": str(directory), "HUBSPOT_CLIENT_SECRET": SECRET,
           "SALESOS_PUBLIC_URL": PUBLIC_URL, "SALESOS_VAULT_KEYS": vault_key,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    gunicorn, port = start_gunicorn(env, args.workers, args.worker_class, args.threads, directory / "gunicorn.log")
    base = f"http://127.0.0.1:{port}"
    conn = redis.Redis.from_url(redis_url)
    deliveries = Deliveries(PUBLIC_URL, 1)
    rows: list[tuple[str, dict]] = []
    try:
        warm = deliveries.make(50)
        python_run(port, REAL, warm, 1, 4)
        python_run(port, BARE, warm, 1, 4)

        def load(path: str, events: int, prepared: int, seconds: int) -> dict:
            deliveries.events = events
            batches = deliveries.make(prepared)
            before, queued = cpu_seconds(gunicorn.pid, redis_process.pid), conn.llen(INBOX)
            if use_wrk:
                row = wrk_run(base, path, batches, seconds, args.connections, directory)
            else:
                row = python_run(port, path, batches, seconds, args.connections)
            after = cpu_seconds(gunicorn.pid, redis_process.pid)
            row["cpu_ms"] = {name: (after[name] - before[name]) * 1000 / max(1, row["requests"]) for name in after}
            row["queued"] = conn.llen(INBOX) - queued
            row["reused"] = max(0, row["requests"] - prepared)
            return row

        # Every run gets as many distinct batches as it can send, the bare route too, so the load generator
        # carries the same requests whichever route it measures.
        prepared = args.distinct or min(80_000, int(load(BARE, 1, 2000, 2)["rps"] * args.seconds * 1.3) + 100)
        plan = [("POST /bench/bare", BARE, sizes[-1])] + [(f"POST /webhooks/hubspot x{n}", REAL, n) for n in sizes]
        runs: dict[str, list[dict]] = {name: [] for name, _, _ in plan}
        for _ in range(args.rounds):  # taking turns, so a slow spell of the machine does not land on one route
            for name, path, events in plan:
                runs[name].append(load(path, events, prepared, args.seconds))
        rows = [(name, median_run(runs[name])) for name, _, _ in plan]
        deliveries.events = sizes[-1]
        steady = fixed_rate(port, REAL, deliveries.make(args.rate * args.rate_seconds), args.rate, args.rate_seconds)
        bare_steady = fixed_rate(port, BARE, deliveries.make(args.rate * args.rate_seconds), args.rate,
                                 args.rate_seconds)
    finally:
        stop(gunicorn)
        redis_process.terminate()
        redis_process.wait(timeout=20)
        shutil.rmtree(directory, ignore_errors=True)
    report(args, use_wrk, rows, steady, bare_steady)


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (its own latencies and CPU figures with it)."""
    return sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]


def report(args, use_wrk: bool, rows: list[tuple[str, dict]], steady: dict, bare_steady: dict) -> None:
    client = "wrk -t2" if use_wrk else "Python threads (wrk not installed: both routes understated)"
    print(f"\nHubSpot webhook acknowledgement on loopback: gunicorn -w {args.workers} -k {args.worker_class} "
          f"--threads {args.threads}; {client}, {args.connections} connections, {args.seconds} s per run; "
          f"Redis appendonly={args.aof}; {os.cpu_count()} cores shared by load generator, gunicorn and Redis")
    print(f"{'route (x events per batch)':<30}{'2xx/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'non-2xx':>8}"
          f"{'events queued':>15}   CPU ms/request (server, redis, client)")
    for name, row in rows:
        cpu = ", ".join(f"{value:.3f}" for value in row["cpu_ms"].values())
        print(f"{name:<30}{row['rps']:>8.0f}{row['p50']:>8.2f}{row['p99']:>8.2f}{row['non_2xx']:>8}"
              f"{row['queued'] if 'webhooks' in name else '':>15}   {cpu}")
    bare = rows[0][1]["rps"]
    for name, row in rows[1:]:
        events = int(name.rsplit("x", 1)[-1])
        ratio = row["rps"] / bare if bare else 0.0
        verdict = (f"target >= 70 %   {'met' if ratio >= 0.70 else 'NOT MET'}" if events == 1 else
                   f"{events} events' validation, dedupe keys and inbox entries per request")
        reused = f" ({row['reused']} requests reused a batch: answered as duplicates)" if row["reused"] else ""
        print(f"{name}: {ratio:.0%} of the bare route's requests/s, {row['rps'] * events:,.0f} events/s   "
              f"{verdict}{reused}")
    print(f"at {args.rate} req/s for {args.rate_seconds} s, batches of {rows[-1][0].rsplit('x', 1)[-1]}: "
          f"webhook p50 {steady['p50']:.2f} ms, p99 {steady['p99']:.2f} ms ({steady['non_2xx']} non-2xx); "
          f"bare p99 {bare_steady['p99']:.2f} ms   target p99 < 25 ms   {'met' if steady['p99'] < 25 else 'NOT MET'}")


if __name__ == "__main__":
    main()
