"""A/B comparison of two linkgate binaries (scripts/bench.d/ab.py A B).

Both servers run side by side on fresh SQLite files, each seeded like scripts/bench does; only
one is under load at a time. Rounds alternate the order (A B, B A, ...), so drift of the machine
(other load, CPU frequency) falls on both alike. Prints, per scenario, each binary's median
req/s ratio to its own GET /status and median server CPU µs per request, and B/A of each.

With --postgres ADMIN_URL (a superuser of a PostgreSQL cluster on this machine, e.g. the one
scripts/pg-test-cluster starts), each server gets a fresh database of that cluster instead
(linkgate_ab_a, linkgate_ab_b: dropped first), and the cluster's CPU µs per request is printed too.
"""
import argparse
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402

# name, method, path, headers(seed), body(seed) or None, codes per second of load (code exchanges:
# fresh authorization codes are minted before each run, outside the measured time) or None. The
# counts leave headroom over the fastest runs seen (6,700 plain exchanges/s): a run that runs out
# of codes measures refusals, and prints RAN DRY.
SCENARIOS = [
    ("status", "GET", "/status", lambda s: [], None, None),
    ("introspect", "POST", bench.INTROSPECT, lambda s: [f"Authorization: {s['cc_basic']}", bench.FORM],
     lambda s: "token=" + s["tokens"][0], None),
    ("myself-bearer", "GET", bench.MYSELF, lambda s: [f"Authorization: Bearer {s['tokens'][1]}"], None, None),
    ("cc-token", "POST", bench.TOKEN, lambda s: [f"Authorization: {s['cc_basic']}", bench.FORM],
     lambda s: "grant_type=client_credentials&scope=WRITE", None),
    ("myself-oauth1-2lo", "GET", bench.MYSELF, lambda s: [], None, None),
    ("code-exchange", "POST", bench.TOKEN, lambda s: [f"Authorization: {s['code_basic']}", bench.FORM], None, 10000),
    ("code-exchange-openid", "POST", bench.TOKEN, lambda s: [f"Authorization: {s['code_basic']}", bench.FORM], None, 4000),
]
MINTERS = {"code-exchange": "minter", "code-exchange-openid": "openid_minter"}
# OAuth 1.0a 2LO requests signed per second of load, right before each run (each nonce is spent
# once; the fastest 2LO runs seen were 8,500 req/s). A run that runs out prints RAN DRY.
PRESIGNED = {"myself-oauth1-2lo": 10000}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(admin_url, query):
    """One statement as the cluster's superuser (the password in the environment, not on the command line)."""
    url = urlsplit(admin_url)
    conninfo = f"host={url.hostname} port={url.port} user={unquote(url.username)} dbname={url.path.lstrip('/')}"
    proc = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", query],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PGPASSWORD": unquote(url.password or ""), "PGOPTIONS": "-c client_min_messages=warning"})
    if proc.returncode != 0:
        raise SystemExit(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def fresh_database(admin_url, name):
    """A new, empty database `name` on the admin's cluster; returns its URL (same role)."""
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + name))


def postmaster_pid(admin_url):
    with open(os.path.join(psql(admin_url, "SHOW data_directory"), "postmaster.pid")) as f:
        return int(f.readline())


def start(binary, workdir, port, password, database=None):
    env = dict(os.environ, LINKGATE_ADMIN_PASSWORD=password, LINKGATE_LOG_LEVEL="warning",
               LINKGATE_DATABASE=database or os.path.join(workdir, "linkgate.sqlite"))
    log = open(os.path.join(workdir, "linkgate.log"), "wb")
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--base-url", url], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/status", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{binary} did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--scenarios", default="status,introspect,myself-bearer,cc-token")
    ap.add_argument("--postgres", metavar="ADMIN_URL", help="run both servers on PostgreSQL (see above)")
    args = ap.parse_args()
    db_pid = postmaster_pid(args.postgres) if args.postgres else None
    wanted = set(args.scenarios.split(",")) | {"status"}
    scenarios = [s for s in SCENARIOS if s[0] in wanted]
    work = tempfile.mkdtemp(prefix="linkgate-ab.")
    servers = {}
    try:
        for label, binary in (("A", args.a), ("B", args.b)):
            d = os.path.join(work, label)
            os.makedirs(d)
            password = secrets.token_urlsafe(18)
            database = fresh_database(args.postgres, f"linkgate_ab_{label.lower()}") if args.postgres else None
            proc, url = start(binary, d, free_port(), password, database)
            servers[label] = (proc, url, bench.seed_linkgate(url, password))
        runs = {label: {name: [] for name, *_ in scenarios} for label in servers}
        for r in range(args.rounds):
            order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
            for name, method, path, headers, body, codes_per_s in scenarios:
                for label in order:
                    proc, url, seed = servers[label]
                    datafile = kind = None
                    if codes_per_s:
                        d = os.path.join(work, label)
                        codefile, datafile, kind = os.path.join(d, "codes.txt"), os.path.join(d, "bodies.txt"), "body"
                        seed[MINTERS[name]].mint(codes_per_s * args.duration, codefile, d)
                        bench.write_code_bodies(codefile, datafile, seed["verifier"])
                    if name in PRESIGNED:
                        datafile, kind = os.path.join(work, label, "oauth1-headers.txt"), "auth"
                        bench.presign(seed["pem"], seed["consumer_key"], url + path, url, PRESIGNED[name] * args.duration,
                                      datafile, 240)
                    res = bench.run_wrk(url, name, method, path, headers(seed), body(seed) if body else None,
                                        datafile=datafile, kind=kind,
                                        duration=args.duration, connections=args.connections, threads=2, pid=proc.pid,
                                        db_pid=db_pid)
                    runs[label][name].append(res)
                    if db_pid:
                        res["db_cpu_us_per_request"] = 1e6 * res["db_cpu_s"] / res["ok"] if res["ok"] else 0.0
                    db = f"  PostgreSQL {res['db_cpu_us_per_request']:>6.1f} µs cpu/req" if db_pid else ""
                    print(f"round {r + 1} {label} {name:<14} {res['rps']:>9.1f} req/s  "
                          f"p99 {res['p99_ms']:>8.2f} ms  {res['server_cpu_us_per_request'] or 0:>6.1f} µs cpu/req  {res.get('write_syscalls_per_request', 0):>5.1f} writes/req "
                          f"{res.get('kib_written_per_request', 0):>5.1f} KiB/req{db}  errors {res['errors']}"
                          f"{'  RAN DRY' if res.get('exhausted') else ''}", flush=True)
        print("\n== medians over the rounds (ratio: req/s / the same binary's GET /status in the same round)")
        print(f"{'scenario':<14} {'A ratio':>8} {'B ratio':>8} {'B/A':>6}   {'A µs/req':>9} {'B µs/req':>9} {'B/A':>6}")
        for name, *_ in scenarios:
            med = {}
            for label in servers:
                ratios = [x["rps"] / s["rps"] for x, s in zip(runs[label][name], runs[label]["status"])]
                cpu = [x["server_cpu_us_per_request"] for x in runs[label][name]]
                med[label] = (statistics.median(ratios), statistics.median(cpu))
            (ra, ca), (rb, cb) = med["A"], med["B"]
            line = f"{name:<14} {ra:>8.3f} {rb:>8.3f} {rb / ra:>6.2f}   {ca:>9.1f} {cb:>9.1f} {cb / ca:>6.2f}"
            if db_pid:
                da, db_ = (statistics.median(x["db_cpu_us_per_request"] for x in runs[label][name]) for label in ("A", "B"))
                line += f"   PostgreSQL µs/req A {da:.1f} B {db_:.1f}"
            print(line)
        if "code-exchange" in wanted and "code-exchange-openid" in wanted:
            # Issue 16's figure: the openid exchange's req/s over the plain one's, per round, median.
            for label in servers:
                pairs = zip(runs[label]["code-exchange-openid"], runs[label]["code-exchange"])
                print(f"{label}: code-exchange-openid / code-exchange = "
                      f"{statistics.median(o['rps'] / p['rps'] for o, p in pairs):.3f}")
    finally:
        for proc, *_ in servers.values():
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
