"""The driver behind scripts/bench: seeds the servers, runs wrk per scenario, prints and saves results.

scripts/bench starts the servers (and stops them); this module only talks to them over
loopback HTTP and reads their /proc entries. Run it through scripts/bench, not by hand.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
import multiprocessing
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "scenario.lua")
ATTACK_LUA = os.path.join(HERE, "attack.lua")

USERS = "/rest/api/latest/user"
MYSELF = "/rest/api/latest/myself"
CLIENTS = "/rest/oauth2/latest/client"
CONSUMERS = "/rest/oauth1/latest/consumer"
AUTHORIZE = "/rest/oauth2/latest/authorize"
TOKEN = "/rest/oauth2/latest/token"
INTROSPECT = "/rest/oauth2/latest/introspect"
CONSENT = "/plugins/servlet/oauth2/consent"
REDIRECT = "http://127.0.0.1/bench/callback"
FORM = "Content-Type: application/x-www-form-urlencoded"

SCENARIOS = [
    (1, "introspect", "POST introspect (client_secret_basic)"),
    (2, "myself-bearer", "GET myself, Bearer"),
    (3, "cc-token", "POST token, client_credentials"),
    (4, "myself-oauth1-2lo", "GET myself, OAuth 1.0a 2LO RSA-SHA1"),
    (5, "code-exchange", "POST token, authorization_code"),
    (10, "code-exchange-openid", "POST token, authorization_code, openid"),
    (6, "status", "GET /status"),
    (7, "bearer-attacked", "GET myself, Bearer, under guessing"),
    (8, "myself-basic-local", "GET myself, Basic, local user"),
    (9, "myself-basic-directory", "GET myself, Basic, LDAP directory user"),
]
ATTACK_TARGET_RATIO = 0.80   # scenario 7 req/s over scenario 2 req/s of the same run
DIRECTORY_TARGET_RATIO = 0.90  # scenario 9 req/s over scenario 8 req/s of the same run (issue 14)
OPENID_TARGET_RATIO = 0.50     # scenario 10 req/s over scenario 5 req/s of the same run (issue 16)
OPENID_SCOPE = "openid profile email"  # no permission value: the client's registered one (INTERFACE §14)
DIRECTORY_SCENARIOS = {8, 9}   # the SQLite-backed server only: it is the one started with --ldap-*
PEER_SCENARIOS = {1, 2, 3}
# --database postgres (issue 12): PostgreSQL req/s over SQLite req/s of the same run, at least this.
PG_RATIO_TARGETS = {1: 0.80, 2: 0.80, 3: 0.50, 4: 0.50, 5: 0.50}
PG_READS = {1, 2}            # goal: at most one database round trip per request
# goal: at most one (committed) transaction per request (batched writes: cc tokens, 2LO nonces and code exchanges share one)
PG_WRITES = {3, 4, 5}
PG_TRANSACTION_SLACK = 0.02  # background work of the node (pruning, cache reloads) inside the window


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def describe(resp):
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:400]!r}"


def expect(resp, status):
    if resp.status_code != status:
        raise BenchError(f"seeding failed: {describe(resp)}")
    return resp


# ------------------------------------------------------------------------------------------
# /proc sampling
# ------------------------------------------------------------------------------------------

def proc_tree(pid):
    """pid and all its descendants (gunicorn: master + workers)."""
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        pids += kids
        frontier += kids
    return pids


def memory_kib(pid):
    """(VmHWM, VmRSS) in KiB, summed over the process tree."""
    hwm = rss = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return hwm, rss


def cpu_ticks(pid):
    """CPU of the process tree so far. A child that exits (a PostgreSQL backend whose connection
    a pool closed) takes its utime/stime out of the tree, and its parent gets them as cutime/cstime
    when it reaps it: both are counted, so the total never falls."""
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])   # utime, stime, cutime, cstime
        except (OSError, IndexError):
            pass
    return total


def machine_busy_seconds():
    """CPU seconds all cores spent outside idle/iowait since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def alive(pid):
    return os.path.exists(f"/proc/{pid}")


# ------------------------------------------------------------------------------------------
# wrk
# ------------------------------------------------------------------------------------------

def wrk_command(target, method, path, headers, body, datafile, kind, duration, connections, threads):
    threads = max(1, min(threads, connections))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s", "-s", LUA]
    for h in headers:
        cmd += ["-H", h]
    return cmd + [target, "--", method, path, body or "-", datafile or "-", kind or "-", str(threads)]


def wrk_result(name, proc):
    line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"{name}: wrk failed (exit {proc.returncode}): {proc.stderr.strip()} {proc.stdout.strip()}")
    return json.loads(line[len("BENCH_RESULT "):])


PROFILE_DIR = os.environ.get("LINKGATE_BENCH_PROFILE_DIR")


def start_profiler(pid, name, duration):
    """With LINKGATE_BENCH_PROFILE_DIR set (scripts/bench --profile), `perf record` samples the server's
    call stacks (software clock, 499 Hz) over the scenario into DIR/<name>.data; read them with
    `perf report -i DIR/<name>.data --no-children`."""
    if not PROFILE_DIR:
        return None
    out = os.path.join(PROFILE_DIR, f"{name}.data")
    return subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "-g", "-p", str(pid), "-o", out,
                             "--", "sleep", str(duration)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_profiler(profiler):
    if profiler is None:
        return
    try:
        profiler.wait(timeout=15)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()


def io_counters(pid):
    """The server's write syscalls and bytes written so far (/proc/PID/io: syscw, wchar), socket writes
    included: the WAL frames a commit writes show up here, one pwrite per frame header and one per page."""
    try:
        with open(f"/proc/{pid}/io") as f:
            fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        return int(fields["syscw"]), int(fields["wchar"])
    except (OSError, KeyError, ValueError):
        return None


def run_wrk(target, name, method, path, headers=(), body=None, datafile=None, kind=None, *, duration, connections,
            threads, pid, attacker_pid=None, db_pid=None):
    """One wrk against one server. With db_pid (the postmaster of the bench's PostgreSQL), the CPU
    of that process tree is measured apart (db_cpu_*) and left out of "other"."""
    cmd = wrk_command(target, method, path, headers, body, datafile, kind, duration, connections, threads)
    hz = os.sysconf("SC_CLK_TCK")
    before_cpu, before_self = cpu_ticks(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    before_busy = machine_busy_seconds()
    before_attacker = cpu_ticks(attacker_pid) if attacker_pid else 0
    before_db = cpu_ticks(db_pid) if db_pid else 0
    before_io = io_counters(pid)
    profiler = start_profiler(pid, name, duration)
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    wall = time.monotonic() - started
    stop_profiler(profiler)
    after_cpu, after_self = cpu_ticks(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    after_io = io_counters(pid)
    busy = machine_busy_seconds() - before_busy
    # A concurrent load generator (the password guesser) is still running: its CPU is its own column.
    attacker_cpu = (cpu_ticks(attacker_pid) - before_attacker) / hz if attacker_pid else 0.0
    db_cpu = (cpu_ticks(db_pid) - before_db) / hz if db_pid else 0.0
    if not alive(pid):
        raise BenchError(f"{name}: the server process {pid} died during the run")
    r = wrk_result(name, proc)
    secs = r["duration_us"] / 1e6
    ok = sum(n for code, n in r["statuses"].items() if 200 <= int(code) <= 299)
    socket_errors = sum(r["socket_errors"].values())
    non2xx = r["requests"] - ok
    hwm, rss = memory_kib(pid)
    wrk_cpu = (after_self.ru_utime + after_self.ru_stime) - (before_self.ru_utime + before_self.ru_stime)
    server_cpu = (after_cpu - before_cpu) / hz
    result = {
        "name": name,
        "requests": r["requests"],
        "ok": ok,
        "duration_s": round(secs, 3),
        "rps": round(ok / secs, 1) if secs else 0.0,
        "p50_ms": round(r["latency_us"]["p50"] / 1000, 3),
        "p90_ms": round(r["latency_us"]["p90"] / 1000, 3),
        "p99_ms": round(r["latency_us"]["p99"] / 1000, 3),
        "max_ms": round(r["latency_us"]["max"] / 1000, 3),
        "errors": non2xx + socket_errors,
        "non2xx": non2xx,
        "socket_errors": r["socket_errors"],
        "statuses": {k: r["statuses"][k] for k in sorted(r["statuses"])},
        "exhausted": r["exhausted"],
        "first_error": r["sample"],
        "server_cpu_pct": round(100 * server_cpu / wall, 1),
        "wrk_cpu_pct": round(100 * wrk_cpu / wall, 1),
        # everything else on the machine during the run (other users' builds and tests): noise
        "other_cpu_pct": round(max(0.0, 100 * (busy - server_cpu - wrk_cpu - attacker_cpu - db_cpu) / wall), 1),
        "vmhwm_mib": round(hwm / 1024, 1),
        "vmrss_mib": round(rss / 1024, 1),
        "server_cpu_s": round(server_cpu, 3),
        # The server's CPU time per successful request: steadier from run to run than req/s,
        # since it does not depend on how the cores were shared.
        "server_cpu_us_per_request": round(1e6 * server_cpu / ok, 1) if ok else None,
    }
    if before_io and after_io and r["requests"]:
        # Per answered request (any status): what the server wrote, responses included.
        result["write_syscalls_per_request"] = round((after_io[0] - before_io[0]) / r["requests"], 2)
        result["kib_written_per_request"] = round((after_io[1] - before_io[1]) / 1024 / r["requests"], 2)
    if attacker_pid:
        result["attacker_cpu_pct"] = round(100 * attacker_cpu / wall, 1)
    if db_pid:
        result["db_cpu_pct"] = round(100 * db_cpu / wall, 1)
        result["db_cpu_s"] = round(db_cpu, 3)
    return result


def run_wrk_nodes(nodes, name, method, path, headers=(), body=None, *, duration, connections, threads, db_pid):
    """The same load split over several nodes at once: one wrk per node with connections/len(nodes)
    connections each. Returns the total (2xx per second summed over nodes) and each node's figures;
    CPU is summed over the nodes' process trees, and PostgreSQL's is measured apart."""
    share = max(1, connections // len(nodes))
    per_threads = max(1, threads // len(nodes))
    hz = os.sysconf("SC_CLK_TCK")
    pids = [pid for _, pid in nodes]
    before_nodes = [cpu_ticks(pid) for pid in pids]
    before_db, before_self = cpu_ticks(db_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    before_busy = machine_busy_seconds()
    started = time.monotonic()
    procs = [subprocess.Popen(wrk_command(url, method, path, headers, body, None, None, duration, share, per_threads),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for url, _ in nodes]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=duration + 60)
        outputs.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    wall = time.monotonic() - started
    node_cpu = [(cpu_ticks(pid) - before) / hz for pid, before in zip(pids, before_nodes)]
    db_cpu = (cpu_ticks(db_pid) - before_db) / hz
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_seconds() - before_busy
    wrk_cpu = (after_self.ru_utime + after_self.ru_stime) - (before_self.ru_utime + before_self.ru_stime)
    for pid in pids:
        if not alive(pid):
            raise BenchError(f"{name}: the server process {pid} died during the run")
    per_node = []
    for (url, pid), proc, cpu in zip(nodes, outputs, node_cpu):
        r = wrk_result(name, proc)
        secs = r["duration_us"] / 1e6
        ok = sum(n for code, n in r["statuses"].items() if 200 <= int(code) <= 299)
        per_node.append({
            "url": url, "connections": share, "requests": r["requests"], "ok": ok,
            "rps": round(ok / secs, 1) if secs else 0.0,
            "p50_ms": round(r["latency_us"]["p50"] / 1000, 3), "p99_ms": round(r["latency_us"]["p99"] / 1000, 3),
            "errors": r["requests"] - ok + sum(r["socket_errors"].values()),
            "statuses": {k: r["statuses"][k] for k in sorted(r["statuses"])}, "first_error": r["sample"],
            "server_cpu_s": round(cpu, 3), "server_cpu_pct": round(100 * cpu / wall, 1),
        })
    ok = sum(n["ok"] for n in per_node)
    return {
        "name": name, "nodes": per_node, "ok": ok,
        "rps": round(sum(n["rps"] for n in per_node), 1),
        "errors": sum(n["errors"] for n in per_node),
        "server_cpu_s": round(sum(node_cpu), 3), "server_cpu_pct": round(100 * sum(node_cpu) / wall, 1),
        "db_cpu_s": round(db_cpu, 3), "db_cpu_pct": round(100 * db_cpu / wall, 1),
        "wrk_cpu_pct": round(100 * wrk_cpu / wall, 1),
        "other_cpu_pct": round(max(0.0, 100 * (busy - sum(node_cpu) - db_cpu - wrk_cpu) / wall), 1),
    }


# ------------------------------------------------------------------------------------------
# PostgreSQL counters (scripts/bench --database postgres)
# ------------------------------------------------------------------------------------------

class PgCounters:
    """Round trips and transactions of the Linkgate nodes, counted by the bench's PostgreSQL.

    Round trips: pg_stat_statements' calls (reset before each scenario), for the nodes' role in
    the bench database only; the harness's own queries run as the superuser in `postgres`. Each
    call is one statement sent by a node, BEGIN and COMMIT included (track_utility is on), and
    postgres-nio sends a request's statements one after another, so a call is a round trip (a
    statement's first Parse on a pool connection is one more, not counted: a handful per run).
    Transactions: pg_stat_database.xact_commit/xact_rollback deltas of the bench database. A
    PostgreSQL 15 backend flushes those counters to shared memory when idle, at the latest
    PGSTAT_IDLE_INTERVAL (10 s) after its previous flush, so both readings wait SETTLE_S after the
    last activity. Write transactions: the advance of the next transaction id (pg_current_snapshot's
    xmax), immediate, and only transactions that wrote get one."""

    SETTLE_S = 10.5

    def __init__(self, admin_url, database, role, postmaster_pid, settle=True):
        self.admin_url, self.database, self.role = admin_url, database, role
        self.postmaster_pid = postmaster_pid
        self.settle_s = self.SETTLE_S if settle else 0.0
        self.dirty = True        # activity since the last settled reading
        self.before = None

    def sql(self, query):
        # The password goes in the environment, not on psql's command line.
        url = urlsplit(self.admin_url)
        conninfo = f"host={url.hostname} port={url.port} user={unquote(url.username)} dbname={url.path.lstrip('/')}"
        proc = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", conninfo,
                               "-c", query], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PGPASSWORD": unquote(url.password or "")})
        if proc.returncode != 0:
            raise BenchError(f"psql failed: {proc.stderr.strip()}")
        return [line.split("\t") for line in proc.stdout.splitlines() if line]

    def counters(self):
        (commit, rollback, xmax), = self.sql(
            "SELECT xact_commit, xact_rollback, pg_snapshot_xmax(pg_current_snapshot()) "
            f"FROM pg_stat_database WHERE datname = '{self.database}'")
        return int(commit), int(rollback), int(xmax)

    def begin(self):
        if self.dirty:
            time.sleep(self.settle_s)
        self.before = self.counters()
        self.sql("SELECT pg_stat_statements_reset()")

    def end(self, requests, connections):
        """Counts since begin(), per `requests` (the scenario's successful requests). When wrk stops,
        up to one request per connection is still in flight: the server runs it, wrk does not count
        it. `margin` (connections / requests) bounds what that adds to each per-request figure."""
        time.sleep(self.settle_s)
        commit, rollback, xmax = self.counters()
        self.dirty = False
        statements = self.sql(
            "SELECT calls, regexp_replace(left(query, 200), '\\s+', ' ', 'g') FROM pg_stat_statements "
            f"WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{self.database}') "
            f"AND userid = (SELECT oid FROM pg_roles WHERE rolname = '{self.role}') ORDER BY calls DESC")
        calls = sum(int(c) for c, _ in statements)
        per = (lambda n: round(n / requests, 3)) if requests else (lambda n: None)
        b_commit, b_rollback, b_xmax = self.before
        return {
            "requests": requests, "margin": round(connections / requests, 3) if requests else None,
            "statements": calls, "commits": commit - b_commit,
            "rollbacks": rollback - b_rollback, "xids": xmax - b_xmax,
            "round_trips_per_request": per(calls),
            "commits_per_request": per(commit - b_commit),
            "rollbacks_per_request": per(rollback - b_rollback),
            "write_transactions_per_request": per(xmax - b_xmax),
            "top_statements": [{"calls": int(c), "per_request": per(int(c)), "query": q} for c, q in statements[:6]],
        }


def db_line(result, label="postgres"):
    d = result["db"]
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
    text = (f"{'':<11}{label}: {fmt(d['round_trips_per_request'])} round trips/request "
            f"({d['statements']} statements), transactions/request: {fmt(d['commits_per_request'])} committed "
            f"({fmt(d['write_transactions_per_request'])} writing), {fmt(d['rollbacks_per_request'])} rolled back; "
            f"cpu/request: node {per_request_us(result, 'server_cpu_s')}, PostgreSQL {per_request_us(result, 'db_cpu_s')}; "
            f"requests in flight when wrk stopped add at most {fmt(d['margin'])}")
    if "server_cpu_s" not in result:
        text = text.split("; cpu/request")[0] + f"; requests in flight when wrk stopped add at most {fmt(d['margin'])}"
    top = "; ".join(f"{s['per_request']:.2f}x {s['query'][:70]}" for s in d["top_statements"][:4]
                    if s["per_request"] is not None and s["per_request"] >= 0.01)
    if top:
        text += f"\n{'':<11}statements per request: {top}"
    return text


def two_node_line(number, res):
    a, b = res["nodes"]
    return (f"2 nodes  {number} {res['name']:<18} {res['rps']:>9.1f} req/s total (node A {a['rps']:.1f}, p50 "
            f"{a['p50_ms']:.2f} ms, p99 {a['p99_ms']:.2f} ms; node B {b['rps']:.1f}, p50 {b['p50_ms']:.2f} ms, p99 "
            f"{b['p99_ms']:.2f} ms; {a['connections']} connections each)  errors {res['errors']}  "
            f"= {res['ratio_to_one_node']:.2f}x one node  cpu nodes {res['server_cpu_pct']:.0f}%, PostgreSQL "
            f"{res['db_cpu_pct']:.0f}% (wrk {res['wrk_cpu_pct']:.0f}%, other {res['other_cpu_pct']:.0f}%)")


def saturation(res):
    """When PostgreSQL runs out of CPU, from CPU seconds per request measured in a two-node run.

    PostgreSQL on C cores serves at most C / pg_cpu_per_request requests a second; a node given the
    same C cores of its own serves at most C / node_cpu_per_request; so about
    node_cpu_per_request / pg_cpu_per_request such nodes saturate it (CPU only: the disk's fsync rate,
    locks and the network are left out, and both CPU costs here include contention for 2 shared cores).
    Also given: PostgreSQL's capacity over the per-node rate this box actually measured."""
    if not res["ok"] or not res.get("db_cpu_s"):
        return None
    cores = os.cpu_count() or 1
    node_per_request = res["server_cpu_s"] / res["ok"]
    pg_per_request = res["db_cpu_s"] / res["ok"]
    pg_capacity = cores / pg_per_request
    node_capacity = cores / node_per_request if node_per_request else None
    measured_per_node = res["rps"] / len(res["nodes"])
    return {
        "cores": cores, "node_cpu_us_per_request": round(1e6 * node_per_request, 1),
        "pg_cpu_us_per_request": round(1e6 * pg_per_request, 1),
        "pg_capacity_rps": round(pg_capacity), "node_capacity_rps": round(node_capacity) if node_capacity else None,
        "nodes_to_saturate": round(node_per_request / pg_per_request, 1),
        "measured_rps_per_node": round(measured_per_node, 1),
        "nodes_to_saturate_at_measured_rate": round(pg_capacity / measured_per_node, 1) if measured_per_node else None,
    }


def saturation_line(s):
    return (f"{'':<11}PostgreSQL saturates at about {s['cores']} cores / {s['pg_cpu_us_per_request']:.0f} µs per request"
            f" = {s['pg_capacity_rps']} req/s; a node on {s['cores']} cores of its own serves about {s['cores']} / "
            f"{s['node_cpu_us_per_request']:.0f} µs = {s['node_capacity_rps']} req/s; so about {s['nodes_to_saturate']:.1f} "
            f"such nodes (node cpu/request / PostgreSQL cpu/request) saturate a {s['cores']}-core PostgreSQL "
            f"({s['nodes_to_saturate_at_measured_rate']} nodes at the {s['measured_rps_per_node']:.0f} req/s per node "
            f"measured on this shared box)")


def print_postgres_summary(results, ratios, counted):
    print()
    print("== PostgreSQL vs SQLite, one node each, same run (ratio = PostgreSQL req/s / SQLite req/s; rt = database "
          "round trips (statements) per 2xx request; xact = committed transactions per request, 'writing' = those "
          "that got a transaction id; cpu in µs per 2xx request)")
    head = (f"{'#':<2} {'scenario':<38} {'sqlite':>9} {'postgres':>9} {'ratio':>6} {'target':<12} | {'rt':>5} "
            f"{'xact':>5} {'writing':>7} {'goal':<22} | {'node cpu':>8} {'pg cpu':>7}")
    print(head)
    print("-" * len(head))
    for number, name, title in SCENARIOS:
        r = results["postgres"].get(str(number))
        if r is None:
            continue
        ratio = ratios.get(str(number))
        target = PG_RATIO_TARGETS.get(number)
        target_text = (f">={target:.2f} " + ("met" if ratio is not None and ratio >= target else "NOT met")) if target else ""
        row = (f"{number:<2} {title:<38} {results['linkgate'][str(number)]['rps']:>9.1f} {r['rps']:>9.1f} "
               f"{(f'{ratio:.2f}' if ratio is not None else 'n/a'):>6} {target_text:<12} |")
        d = r.get("db")
        if d and d["round_trips_per_request"] is not None:
            rt, xact, writing = d["round_trips_per_request"], d["commits_per_request"], d["write_transactions_per_request"]
            tolerance = PG_TRANSACTION_SLACK + d["margin"]
            goal = ""
            if number in PG_READS:
                goal = "<=1 round trip " + ("met" if rt <= 1.0 + tolerance else "NOT met")
            elif number in PG_WRITES:
                goal = "<=1 transaction " + ("met" if 0 < xact <= 1.0 + tolerance else "NOT met")
            row += f" {rt:>5.2f} {xact:>5.2f} {writing:>7.2f} {goal:<22} |"
        else:
            row += f" {'-':>5} {'-':>5} {'-':>7} {'(not counted)' if not counted else '':<22} |"
        row += f" {per_request_us(r, 'server_cpu_s'):>8} {per_request_us(r, 'db_cpu_s'):>7}"
        print(row)
    minting = results["authorize"].get("postgres")
    if minting and minting["db"]["round_trips_per_request"] is not None:
        d = minting["db"]
        print(f"   and GET authorize with a session and a remembered consent (minting the codes for 5, "
              f"{minting['codes_per_s']:.0f} codes/s): {d['round_trips_per_request']:.2f} round trips, "
              f"{d['commits_per_request']:.2f} transactions ({d['write_transactions_per_request']:.2f} writing) per code")
    print(f"   'met' allows {PG_TRANSACTION_SLACK} for the node's and PostgreSQL's background work in the window "
          "(keep-alive SELECT 1, pruning, autovacuum) plus connections/requests for the requests wrk left in flight; "
          "7 counts per bearer request + answered guess.")
    if results["two_nodes"]:
        print()
        print("== two nodes on one PostgreSQL database (wrk split between them; cpu in µs per 2xx request)")
        head = (f"{'#':<2} {'scenario':<38} {'total':>9} {'node A':>9} {'node B':>9} {'1 node':>9} {'2n/1n':>6} | "
                f"{'rt':>5} {'xact':>5} | {'nodes cpu':>9} {'pg cpu':>7} | {'PG saturates at ~N nodes':>24}")
        print(head)
        print("-" * len(head))
        for number, name, title in SCENARIOS:
            r = results["two_nodes"].get(str(number))
            if r is None:
                continue
            a, b = r["nodes"]
            d = r.get("db")
            s = r.get("saturation")
            row = (f"{number:<2} {title:<38} {r['rps']:>9.1f} {a['rps']:>9.1f} {b['rps']:>9.1f} "
                   f"{results['postgres'][str(number)]['rps']:>9.1f} {r['ratio_to_one_node']:>6.2f} | ")
            row += (f"{d['round_trips_per_request']:>5.2f} {d['commits_per_request']:>5.2f} | " if d and d["requests"]
                    else f"{'-':>5} {'-':>5} | ")
            row += f"{per_request_us(r, 'server_cpu_s'):>9} {per_request_us(r, 'db_cpu_s'):>7} | "
            nodes_text = f"{s['nodes_to_saturate']:.1f}" if s else "n/a"
            row += f"{nodes_text:>24}"
            print(row)
        print("   N = node cpu per request / PostgreSQL cpu per request: PostgreSQL on C cores serves C / (its cpu per "
              "request) req/s, a node on C cores of its own C / (node cpu per request); CPU only (fsync rate, locks "
              "and network left out), measured with nodes, PostgreSQL and wrk sharing this machine's cores.")


def per_request_us(result, key):
    return f"{1e6 * result[key] / result['ok']:.0f} µs" if result.get("ok") and key in result else "n/a"


class PasswordGuesser:
    """A second wrk (attack.lua) sending HTTP Basic for a real user name with a new wrong password per
    request, from loopback, while a scenario is measured. Started `lead` seconds before the measured
    run and stopped about a second after it; its rate is guesses answered per second of its own run."""

    def __init__(self, target, path, user, *, duration, connections, lead=1.0):
        self.connections = connections
        cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{int(duration + 2 * lead)}s", "--timeout", "10s",
               "-s", ATTACK_LUA, target, "--", path, user]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(lead)
        if self.proc.poll() is not None:
            raise BenchError(f"the password guesser (wrk) exited at once: {self.proc.communicate()}")

    @property
    def pid(self):
        return self.proc.pid

    def finish(self, timeout):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        line = next((l for l in out.splitlines() if l.startswith("ATTACK_RESULT ")), None)
        if self.proc.returncode != 0 or line is None:
            raise BenchError(f"the password guesser (wrk) failed (exit {self.proc.returncode}): {err.strip()} {out.strip()}")
        r = json.loads(line[len("ATTACK_RESULT "):])
        secs = r["duration_us"] / 1e6
        statuses = {k: r["statuses"][k] for k in sorted(r["statuses"])}
        answered = sum(statuses.values())
        return {
            "connections": self.connections,
            "duration_s": round(secs, 3),
            "answered": answered,
            "answered_per_s": round(answered / secs, 1) if secs else 0.0,
            "status_401": statuses.get("401", 0),
            "status_429": statuses.get("429", 0),
            "other_statuses": {k: v for k, v in statuses.items() if k not in ("401", "429")},
            "socket_errors": r["socket_errors"],
            "p50_ms": round(r["latency_us"]["p50"] / 1000, 3),
            "p99_ms": round(r["latency_us"]["p99"] / 1000, 3),
            "first_unexpected": r["sample"],
        }


def attack_line(result):
    a = result["attack"]
    ratio = result.get("ratio_to_2")
    text = (f"{'':<11}attack: {a['connections']} connections guessing passwords, {a['answered_per_s']:.1f} guesses "
            f"answered/s (401: {a['status_401']}, 429: {a['status_429']}"
            + (f", other: {a['other_statuses']}" if a["other_statuses"] else "")
            + f"), guess p50 {a['p50_ms']:.1f} ms p99 {a['p99_ms']:.1f} ms, guesser cpu {result['attacker_cpu_pct']:.0f}%")
    socket = {k: v for k, v in a["socket_errors"].items() if v}
    if socket:
        text += f", socket errors {socket}"
    if ratio is not None:
        text += f"; bearer under attack / plain bearer (2) = {ratio:.2f} (target >= {ATTACK_TARGET_RATIO:.2f})"
    return text


def result_line(server, number, result):
    status_text = " ".join(f"{k}:{v}" for k, v in result["statuses"].items())
    text = (f"{server:<8} {number} {result['name']:<20} {result['rps']:>9.1f} req/s  p50 {result['p50_ms']:>7.2f} ms  "
            f"p99 {result['p99_ms']:>7.2f} ms  errors {result['errors']:<6} VmHWM {result['vmhwm_mib']:.1f} MiB  "
            f"VmRSS {result['vmrss_mib']:.1f} MiB  cpu {result['server_cpu_pct']:.0f}% ("
            + (f"PostgreSQL {result['db_cpu_pct']:.0f}%, " if "db_cpu_pct" in result else "")
            + f"wrk {result['wrk_cpu_pct']:.0f}%, other {result['other_cpu_pct']:.0f}%)"
            + (f"  {result['server_cpu_us_per_request']:.0f} µs cpu/req" if result.get("server_cpu_us_per_request") else "")
            + (f"  {result['write_syscalls_per_request']:.1f} writes/req {result['kib_written_per_request']:.1f} KiB/req"
               if "write_syscalls_per_request" in result else "")
            + f"  [{status_text}]")
    socket = {k: v for k, v in result["socket_errors"].items() if v}
    if socket:
        text += f"  socket errors {socket}"
    if result["exhausted"]:
        text += f"  POOL EXHAUSTED: {result['exhausted']} requests reused a code/nonce"
    if result.get("ratio_to_5") is not None:
        text += f"  ratio to 5 {result['ratio_to_5']:.2f} (target >= {OPENID_TARGET_RATIO:.2f})"
    if result["non2xx"] and result["first_error"]:
        text += f"\n{'':<11}first non-2xx: {result['first_error'][:300]}"
    return text


# ------------------------------------------------------------------------------------------
# OAuth 1.0a RSA-SHA1 signing (RFC 5849), one private-key operation per request
# ------------------------------------------------------------------------------------------

def pct(value):
    return quote(value, safe="-._~")


def oauth1_header(private_key, consumer_key, method, url, realm, nonce, timestamp):
    params = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce,
        "oauth_signature_method": "RSA-SHA1",
        "oauth_timestamp": str(timestamp),
        "oauth_version": "1.0",
    }
    normalized = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in params.items()))
    base_string = "&".join((method.upper(), pct(url), pct(normalized)))
    signature = private_key.sign(base_string.encode("ascii"), padding.PKCS1v15(), hashes.SHA1())
    params["oauth_signature"] = base64.b64encode(signature).decode("ascii")
    return "OAuth " + ", ".join([f'realm="{pct(realm)}"'] + [f'{k}="{pct(v)}"' for k, v in params.items()])


_worker_key = None


def _sign_init(pem):
    global _worker_key
    _worker_key = serialization.load_pem_private_key(pem, password=None)


def _sign_chunk(job):
    consumer_key, url, realm, count = job
    return [oauth1_header(_worker_key, consumer_key, "GET", url, realm, secrets.token_hex(16), int(time.time()))
            for _ in range(count)]


def presign(pem, consumer_key, url, realm, count, path, deadline):
    """Signs `count` requests (fewer if signing takes longer than `deadline` seconds) into `path`."""
    started = time.monotonic()
    chunk = 2000
    jobs = [(consumer_key, url, realm, min(chunk, count - i)) for i in range(0, count, chunk)]
    signed = 0
    # Fresh interpreters ("spawn"), not fork: forking this process, which has threads (the HTTP
    # clients, the counters), once left a worker dead and the pool waiting forever (a PostgreSQL run).
    context = multiprocessing.get_context("spawn")
    with context.Pool(os.cpu_count() or 2, initializer=_sign_init, initargs=(pem,)) as pool, open(path, "w") as out:
        for headers in pool.imap(_sign_chunk, jobs):
            out.write("\n".join(headers) + "\n")
            signed += len(headers)
            if time.monotonic() - started > deadline:
                pool.terminate()
                break
    return signed, time.monotonic() - started


# ------------------------------------------------------------------------------------------
# Browser side of the authorization-code flow
# ------------------------------------------------------------------------------------------

class FormFields(HTMLParser):
    """Hidden inputs of the form posting to `action`."""

    def __init__(self, html, action):
        super().__init__(convert_charrefs=True)
        self.action, self.inside, self.fields = action, False, {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif tag == "input" and self.inside and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def write_code_bodies(codefile, bodyfile, verifier):
    """One token-request body per minted code (scenarios 5 and 10), for wrk's data file."""
    with open(codefile) as src, open(bodyfile, "w") as dst:
        for code in src.read().split():
            dst.write(urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                 "code_verifier": verifier}) + "\n")


def code_from(location):
    if not location or not location.startswith(REDIRECT + "?"):
        raise BenchError(f"authorize did not redirect to the client with a code: Location {location!r}")
    query = parse_qs(urlsplit(location).query)
    if "code" not in query:
        raise BenchError(f"authorize redirected without a code: {location!r}")
    return query["code"][0]


class CodeMinter:
    """Logs `user` in once, approves the client once; later authorize calls 303 straight to the code."""

    def __init__(self, base, client_id, user, password, challenge, scope="WRITE", nonce=None):
        self.base = base
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                  "scope": scope, "state": "bench", "code_challenge": challenge, "code_challenge_method": "S256"}
        if nonce is not None:
            params["nonce"] = nonce   # OpenID Connect Core §3.1.2.1: echoed in the id_token
        self.query = urlencode(params)
        s = requests.Session()
        page = expect(s.get(base + "/login", params={"next": "/"}), 200)
        login = FormFields(page.text, "/login").fields
        if "csrf_token" not in login:
            raise BenchError("the login page has no csrf_token field")
        expect(s.post(base + "/login", data={**login, "username": user, "password": password, "next": "/"},
                      allow_redirects=False), 303)
        r = s.get(base + AUTHORIZE + "?" + self.query, allow_redirects=False)
        location = r.headers.get("Location", "")
        if r.status_code in (302, 303) and location.startswith(CONSENT):   # the consent page, shown once
            r = s.get(base + location, allow_redirects=False)
        if r.status_code == 200:
            fields = FormFields(r.text, CONSENT).fields
            r = s.post(base + CONSENT, data={**fields, "decision": "approve"}, allow_redirects=False)
        expect(r, 303)
        self.first = code_from(r.headers.get("Location"))
        self.cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)

    def mint(self, count, path, workdir):
        """Writes at least `count` fresh codes to `path`, one a line, minting them with wrk (mint.lua)
        in runs of a few seconds: Python alone mints under 1,000 codes a second here."""
        started = time.monotonic()
        target = AUTHORIZE + "?" + self.query
        have, rate, rounds = 0, None, 0
        with open(path, "w") as out:
            while have < count:
                rounds += 1
                if rounds > 20:
                    raise BenchError(f"could mint only {have} of {count} authorization codes")
                seconds = 1 if rate is None else max(1, min(30, int((count - have) / rate * 1.2) + 1))
                prefix = os.path.join(workdir, f"mint-{rounds}")
                cmd = ["wrk", "-t", "2", "-c", "16", "-d", f"{seconds}s", "--timeout", "5s",
                       "-s", os.path.join(HERE, "mint.lua"), "-H", f"Cookie: {self.cookie}",
                       self.base, "--", target, prefix]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
                line = next((l for l in proc.stdout.splitlines() if l.startswith("MINT_RESULT ")), None)
                if proc.returncode != 0 or line is None:
                    raise BenchError(f"minting codes: wrk failed (exit {proc.returncode}): {proc.stderr} {proc.stdout}")
                result = json.loads(line[len("MINT_RESULT "):])
                if result["failed"]:
                    raise BenchError(f"minting codes: {result['failed']} authorize calls did not 303 to a code; "
                                     f"first: {result['sample']}")
                for n in range(2):
                    part = f"{prefix}.{n}"
                    if os.path.exists(part):
                        with open(part) as f:
                            codes = [unquote(c) for c in f.read().split()]
                        os.unlink(part)
                        out.write("".join(c + "\n" for c in codes))
                        have += len(codes)
                rate = max(have / (time.monotonic() - started), 1.0)
        return have, time.monotonic() - started


# ------------------------------------------------------------------------------------------
# Seeding
# ------------------------------------------------------------------------------------------

def seed_linkgate(base, admin_password):
    admin = requests.Session()
    admin.auth = ("admin", admin_password)
    user, password = "bench", secrets.token_urlsafe(18)
    expect(admin.post(base + USERS, json={"name": user, "password": password, "displayName": "Bench User",
                                           "email": "bench@example.com"}), 201)
    code_client = expect(admin.post(base + CLIENTS, json={"name": "bench-code", "redirects": [REDIRECT],
                                                           "scope": "WRITE"}), 201).json()
    cc_client = expect(admin.post(base + CLIENTS, json={"name": "bench-cc", "redirects": [], "scope": "WRITE",
                                                         "executeAs": user}), 201).json()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    consumer_key = "bench:" + secrets.token_hex(4)
    expect(admin.post(base + CONSUMERS, json={"key": consumer_key, "name": "bench-consumer", "publicKey": public_pem,
                                               "twoLeggedAllowed": True, "executeAs": user}), 201)

    cc_basic = basic(cc_client["clientId"], cc_client["clientSecret"])
    tokens = []
    for _ in range(2):
        r = expect(requests.post(base + TOKEN, data={"grant_type": "client_credentials", "scope": "WRITE"},
                                 headers={"Authorization": cc_basic}), 200)
        tokens.append(r.json()["access_token"])

    # Each scenario's request, once, before any load.
    body = expect(requests.post(base + INTROSPECT, data={"token": tokens[0]},
                                headers={"Authorization": cc_basic}), 200).json()
    if body.get("active") is not True:
        raise BenchError(f"introspection of a fresh token is not active: {body}")
    url = base + MYSELF
    header = oauth1_header(key, consumer_key, "GET", url, base, secrets.token_hex(16), int(time.time()))
    check_against_oauthlib(pem, consumer_key, url, header)
    r = requests.get(url, headers={"Authorization": header})
    if r.status_code != 200:
        raise BenchError(f"a correctly signed 2LO request was refused: {r.status_code} "
                         f"{r.headers.get('WWW-Authenticate')} {r.text[:300]}")

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    minter = CodeMinter(base, code_client["clientId"], user, password, challenge)
    code_basic = basic(code_client["clientId"], code_client["clientSecret"])
    r = expect(requests.post(base + TOKEN, data={"grant_type": "authorization_code", "code": minter.first,
                                                "redirect_uri": REDIRECT, "code_verifier": verifier},
                             headers={"Authorization": code_basic}), 200)
    if "refresh_token" not in r.json():
        raise BenchError(f"code exchange gave no refresh token: {r.text}")
    # Scenario 2 uses this 3LO user token: the common bearer case. (A two-legged token would also
    # write an audit entry per use, INTERFACE §8; that cost shows in scenarios 3 and 4.)
    tokens[1] = r.json()["access_token"]
    me = expect(requests.get(base + MYSELF, headers={"Authorization": "Bearer " + tokens[1]}), 200).json()
    if me.get("name") != user or me.get("auth", {}).get("mode") != "user":
        raise BenchError(f"myself with the bearer token: {me}")
    # Consent is remembered now: authorize answers 303 with a code at once.
    code_from(expect(requests.get(base + AUTHORIZE + "?" + minter.query, headers={"Cookie": minter.cookie},
                                  allow_redirects=False), 303).headers.get("Location"))

    # Scenario 10: the same client and user through OpenID Connect (INTERFACE §14); every exchange also
    # signs an id_token (RS256).
    openid_minter = CodeMinter(base, code_client["clientId"], user, password, challenge, scope=OPENID_SCOPE,
                               nonce="bench-nonce")
    r = expect(requests.post(base + TOKEN, data={"grant_type": "authorization_code", "code": openid_minter.first,
                                                "redirect_uri": REDIRECT, "code_verifier": verifier},
                             headers={"Authorization": code_basic}), 200)
    id_token = r.json().get("id_token")
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        raise BenchError(f"an openid code exchange gave no id_token: {r.text[:300]}")
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    if header.get("alg") != "RS256":
        raise BenchError(f"the id_token is not RS256: {header}")
    code_from(expect(requests.get(base + AUTHORIZE + "?" + openid_minter.query,
                                  headers={"Cookie": openid_minter.cookie}, allow_redirects=False), 303)
              .headers.get("Location"))
    return {
        "cc_basic": cc_basic, "code_basic": code_basic, "tokens": tokens, "pem": pem,
        "consumer_key": consumer_key, "minter": minter, "verifier": verifier, "user": user, "password": password,
        "openid_minter": openid_minter,
    }


def check_peer(base, peer):
    """Each peer scenario's request once, plus DOT's documented bearer-token introspection."""
    cc = basic(peer["cc_client"]["id"], peer["cc_client"]["secret"])
    for how in ({"Authorization": cc}, {"Authorization": "Bearer " + peer["introspection"]}):
        body = expect(requests.post(base + "/o/introspect/", data={"token": peer["bearer"]}, headers=how), 200).json()
        if body.get("active") is not True:
            raise BenchError(f"peer introspection is not active: {body}")
    me = expect(requests.get(base + "/api/myself", headers={"Authorization": "Bearer " + peer["bearer"]}), 200).json()
    if me.get("name") != "bench":
        raise BenchError(f"peer myself: {me}")
    expect(requests.post(base + "/o/token/", data={"grant_type": "client_credentials", "scope": "read"},
                         headers={"Authorization": cc}), 200)


def check_against_oauthlib(pem, consumer_key, url, header):
    """Our signer must give oauthlib's signature for the same nonce and timestamp (RSA PKCS#1 v1.5 is deterministic)."""
    from oauthlib.oauth1 import SIGNATURE_RSA, SIGNATURE_TYPE_AUTH_HEADER, Client
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
    client = Client(consumer_key, signature_method=SIGNATURE_RSA, rsa_key=pem.decode(),
                    signature_type=SIGNATURE_TYPE_AUTH_HEADER, nonce=fields["oauth_nonce"],
                    timestamp=fields["oauth_timestamp"])
    _, headers, _ = client.sign(url, "GET")
    theirs = dict(re.findall(r'(\w+)="([^"]*)"', headers["Authorization"]))
    if theirs["oauth_signature"] != fields["oauth_signature"]:
        raise BenchError("the harness's RFC 5849 signer disagrees with oauthlib")


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------

def openssl_rsa2048():
    """verify/s and sign/s from `openssl speed -seconds 3 rsa2048`."""
    out = subprocess.run(["openssl", "speed", "-seconds", "3", "rsa2048"], capture_output=True, text=True,
                         timeout=120).stdout
    header, row = None, None
    for line in out.splitlines():
        if "sign/s" in line and "verify/s" in line:
            header = line.split()
        elif re.match(r"\s*rsa\s*2048 bits", line):
            row = line
    if not header or not row:
        raise BenchError(f"could not parse openssl speed output: {out[-500:]}")
    values = row.split("bits", 1)[1].split()
    columns = dict(zip(header, values))
    return {"sign_per_s": float(columns["sign/s"]), "verify_per_s": float(columns["verify/s"]),
            "version": subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--linkgate-url", required=True)
    ap.add_argument("--linkgate-pid", type=int, required=True)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--binary", default="")
    ap.add_argument("--peer-url")
    ap.add_argument("--peer-pid", type=int)
    ap.add_argument("--peer-seed")
    ap.add_argument("--peer-worker", default="")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--directory-user", help="a user of the bench's LDAP directory (scenario 9)")
    ap.add_argument("--directory-password")
    ap.add_argument("--openssl", action="store_true")
    # --database postgres: two nodes on one fresh database of the bench's own PostgreSQL cluster;
    # the superuser URL comes in BENCH_PG_ADMIN_URL (not on the command line).
    ap.add_argument("--pg-url", help="node A, the one of the one-node scenarios")
    ap.add_argument("--pg-pid", type=int)
    ap.add_argument("--pg-url-b", help="node B, on the same database, for the two-node run")
    ap.add_argument("--pg-pid-b", type=int)
    ap.add_argument("--pg-database")
    ap.add_argument("--pg-role")
    ap.add_argument("--pg-postmaster-pid", type=int)
    ap.add_argument("--pg-version", default="")
    args = ap.parse_args()

    base, pid = args.linkgate_url, args.linkgate_pid
    run = dict(duration=args.duration, connections=args.connections, threads=args.threads)
    memory = {"after_start": memory_kib(pid)}
    log("== seeding Linkgate (users, clients, OAuth 1.0a consumer, tokens, consent)")
    t0 = time.monotonic()
    seed = seed_linkgate(base, args.admin_password)
    memory["after_seeding"] = memory_kib(pid)
    log(f"   seeded in {time.monotonic() - t0:.1f} s")

    pg_seed = counters = None
    if args.pg_url:
        log("== seeding the PostgreSQL-backed node A (node B shares its database)")
        t0 = time.monotonic()
        pg_seed = seed_linkgate(args.pg_url, args.admin_password)
        log(f"   seeded in {time.monotonic() - t0:.1f} s")
        # The smoke check only needs the scenarios to work: no counting (it waits 2 x 10.5 s a scenario).
        if not args.smoke:
            counters = PgCounters(os.environ["BENCH_PG_ADMIN_URL"], args.pg_database, args.pg_role,
                                  args.pg_postmaster_pid)

    peer = None
    if args.peer_url:
        with open(args.peer_seed) as f:
            peer = json.load(f)
        check_peer(args.peer_url, peer)

    results = {"linkgate": {}, "peer": {}, "postgres": {}, "two_nodes": {}, "authorize": {}}
    lines = []

    def emit(text):
        print(text, flush=True)
        lines.append(text)

    def report(server, number, res):
        emit(result_line(server, number, res))
        if "attack" in res:
            emit(attack_line(res))
        if "db" in res:
            emit(db_line(res))
        results[server][str(number)] = res

    def pr(number, name, *a, **kw):
        report("peer", number, run_wrk(args.peer_url, name, *a, **kw, **run, pid=args.peer_pid))

    def run_suite(server, base, pid, seed, db_pid=None, after=lambda number: None, before_attack=lambda: None):
        """Scenarios 1-7 against one node; `after(n)` runs right after scenario n (the peer's turn)."""

        def measure(number, name, *a, attack=False, ratio_to=None, **kw):
            if counters and db_pid:
                counters.begin()
            guesser = None
            if attack:
                guesser = PasswordGuesser(base, MYSELF, seed["user"], duration=args.duration,
                                          connections=2 if args.smoke else 8)
            try:
                res = run_wrk(base, name, *a, **kw, **run, pid=pid, db_pid=db_pid,
                              attacker_pid=guesser.pid if guesser else None)
            finally:
                if guesser:
                    attack_result = guesser.finish(timeout=args.duration + 30)
            if guesser:
                res["attack"] = attack_result
                plain = results[server]["2"]["rps"]
                res["ratio_to_2"] = round(res["rps"] / plain, 3) if plain else None
            if ratio_to is not None:
                plain = results[server][str(ratio_to)]["rps"]
                res[f"ratio_to_{ratio_to}"] = round(res["rps"] / plain, 3) if plain else None
            if counters and db_pid:
                # Under attack the guesser's answered requests reach the database too.
                res["db"] = counters.end(res["ok"] + (res["attack"]["answered"] if attack else 0),
                                        args.connections + (res["attack"]["connections"] if attack else 0))
            report(server, number, res)
            after(number)

        # 1. introspection
        measure(1, "introspect", "POST", INTROSPECT, [f"Authorization: {seed['cc_basic']}", FORM],
                body="token=" + seed["tokens"][0])
        # 2. bearer myself
        measure(2, "myself-bearer", "GET", MYSELF, [f"Authorization: Bearer {seed['tokens'][1]}"])
        # 3. client_credentials issue
        measure(3, "cc-token", "POST", TOKEN, [f"Authorization: {seed['cc_basic']}", FORM],
                body="grant_type=client_credentials&scope=WRITE")

        # Pool sizes: the rate of a cheaper scenario bounds the rate of the one that needs the pool.
        # The smoke check fails on any error, so it takes a wider margin.
        def pool_size(bound_rps, floor):
            return max(floor, int(bound_rps * args.duration * (2.0 if args.smoke else 1.3)) + 200)

        # 4. OAuth 1.0a 2LO, pre-signed right before the run. The oldest timestamp must still be inside the
        # server's ±300 s window at the end of the run.
        need = pool_size(results[server]["2"]["rps"], 500)
        sigfile = os.path.join(args.workdir, f"oauth1-headers-{server}.txt")
        deadline = max(10, 240 - args.duration)
        signed, took = presign(seed["pem"], seed["consumer_key"], base + MYSELF, base, need, sigfile, deadline)
        log(f"   pre-signed {signed} OAuth 1.0a requests in {took:.1f} s ({signed / took:.0f}/s)")
        if signed < need:
            log(f"   warning: wanted {need} signatures, stopped after {deadline} s of signing")
        measure(4, "myself-oauth1-2lo", "GET", MYSELF, [], datafile=sigfile, kind="auth")

        # 5. code exchange, codes minted right before the run (they live 600 s)
        need = pool_size(results[server]["3"]["rps"], 300)
        codefile = os.path.join(args.workdir, f"codes-{server}.txt")
        if counters and db_pid:
            counters.begin()
        minted, took = seed["minter"].mint(need, codefile, args.workdir)
        log(f"   minted {minted} authorization codes in {took:.1f} s ({minted / took:.0f}/s)")
        if counters and db_pid:
            # The browser side of the code flow, as a by-product: GET authorize with a session
            # cookie and a remembered consent, 303 to the code (mint.lua runs 16 connections).
            minting = {"name": "authorize (minting codes)", "ok": minted, "codes_per_s": round(minted / took, 1),
                       "db": counters.end(minted, 16)}
            results["authorize"][server] = minting
            emit(db_line(minting, label="authorize, minting codes for 5"))
        bodyfile = os.path.join(args.workdir, f"code-bodies-{server}.txt")
        write_code_bodies(codefile, bodyfile, seed["verifier"])
        measure(5, "code-exchange", "POST", TOKEN, [f"Authorization: {seed['code_basic']}", FORM],
                datafile=bodyfile, kind="body")

        # 10. scenario 5 with scope "openid profile email": one RS256 id_token signature per exchange
        # (INTERFACE §14); codes minted the same way, right before the run.
        need = pool_size(results[server]["5"]["rps"], 300)
        codefile = os.path.join(args.workdir, f"codes-openid-{server}.txt")
        minted, took = seed["openid_minter"].mint(need, codefile, args.workdir)
        log(f"   minted {minted} openid authorization codes in {took:.1f} s ({minted / took:.0f}/s)")
        bodyfile = os.path.join(args.workdir, f"code-bodies-openid-{server}.txt")
        write_code_bodies(codefile, bodyfile, seed["verifier"])
        measure(10, "code-exchange-openid", "POST", TOKEN, [f"Authorization: {seed['code_basic']}", FORM],
                datafile=bodyfile, kind="body", ratio_to=5)

        # 6. the HTTP ceiling
        measure(6, "status", "GET", "/status", [])

        # 8 and 9 (before 7, whose guessing locks the loopback address out of password checks): HTTP
        # Basic as a local user and as a directory user, both remembered verified pairs (INTERFACE §10,
        # §13). The first request of 9 binds to the directory and creates the shadow user.
        if server == "linkgate" and args.directory_user:
            local = basic(seed["user"], seed["password"])
            expect(requests.get(base + MYSELF, headers={"Authorization": local}), 200)
            measure(8, "myself-basic-local", "GET", MYSELF, [f"Authorization: {local}"])
            directory = basic(args.directory_user, args.directory_password)
            me = expect(requests.get(base + MYSELF, headers={"Authorization": directory}), 200).json()
            if me.get("directory") != "ldap":
                raise BenchError(f"the directory user is not a directory user: {me}")
            measure(9, "myself-basic-directory", "GET", MYSELF, [f"Authorization: {directory}"])

        before_attack()
        # 7. scenario 2 again while a guesser sends wrong passwords for a real user over HTTP Basic.
        # Last, because password throttling (INTERFACE §10) may lock the loopback address out of
        # password checks for minutes afterwards.
        measure(7, "bearer-attacked", "GET", MYSELF, [f"Authorization: Bearer {seed['tokens'][1]}"], attack=True)

    def two_node_runs():
        """Scenarios 1-3 with the load split over node A and node B, on one database."""
        nodes = [(args.pg_url, args.pg_pid), (args.pg_url_b, args.pg_pid_b)]
        runs = [
            (1, "introspect", "POST", INTROSPECT, [f"Authorization: {pg_seed['cc_basic']}", FORM],
             "token=" + pg_seed["tokens"][0]),
            (2, "myself-bearer", "GET", MYSELF, [f"Authorization: Bearer {pg_seed['tokens'][1]}"], None),
            (3, "cc-token", "POST", TOKEN, [f"Authorization: {pg_seed['cc_basic']}", FORM],
             "grant_type=client_credentials&scope=WRITE"),
        ]
        for number, name, method, path, headers, body in runs:
            if counters:
                counters.begin()
            res = run_wrk_nodes(nodes, name, method, path, headers, body, **run, db_pid=args.pg_postmaster_pid)
            if counters:
                res["db"] = counters.end(res["ok"], args.connections)
            one = results["postgres"][str(number)]["rps"]
            res["ratio_to_one_node"] = round(res["rps"] / one, 3) if one else None
            res["saturation"] = saturation(res)
            results["two_nodes"][str(number)] = res
            emit(two_node_line(number, res))
            if "db" in res:
                emit(db_line(res))
            if res["saturation"]:
                emit(saturation_line(res["saturation"]))

    print(f"== machine: {os.cpu_count()} cores, load average before the runs {os.getloadavg()[0]:.2f}", flush=True)
    print("== Linkgate memory before load: " + "; ".join(
        f"{when.replace('_', ' ')} VmHWM {hwm / 1024:.1f} MiB VmRSS {rss / 1024:.1f} MiB"
        for when, (hwm, rss) in memory.items()), flush=True)
    print(f"== load: wrk {args.threads} threads, {args.connections} connections, {args.duration} s per scenario; "
          f"req/s counts 2xx responses; VmHWM/VmRSS of the server after the scenario", flush=True)

    peer_scenarios = {
        1: lambda: pr(1, "introspect", "POST", "/o/introspect/",
                      [f"Authorization: {basic(peer['cc_client']['id'], peer['cc_client']['secret'])}", FORM],
                      body="token=" + peer["bearer"]),
        2: lambda: pr(2, "myself-bearer", "GET", "/api/myself", [f"Authorization: Bearer {peer['bearer']}"]),
        3: lambda: pr(3, "cc-token", "POST", "/o/token/",
                      [f"Authorization: {basic(peer['cc_client']['id'], peer['cc_client']['secret'])}", FORM],
                      body="grant_type=client_credentials&scope=read"),
    }
    run_suite("linkgate", base, pid, seed,
              after=lambda n: peer_scenarios[n]() if peer and n in peer_scenarios else None)
    if args.pg_url:
        print(f"== PostgreSQL: node A {args.pg_url} on a fresh database of a private local PostgreSQL "
              f"{args.pg_version} (pg_stat_statements on; each scenario waits {PgCounters.SETTLE_S} s before and "
              f"after for the transaction counters)" if counters else
              f"== PostgreSQL: node A {args.pg_url} (smoke: no round-trip counting)", flush=True)
        run_suite("postgres", args.pg_url, args.pg_pid, pg_seed, db_pid=args.pg_postmaster_pid,
                  # Before 7: the guesser's lockout would reach node B through the database (§11).
                  before_attack=two_node_runs)

    openssl = None
    if args.openssl:
        openssl = openssl_rsa2048()
        emit(f"ceiling  4 openssl rsa2048     {openssl['verify_per_s']:>9.1f} verify/s on one core "
             f"({openssl['sign_per_s']:.1f} sign/s; {openssl['version']})")

    # Summary
    failures = []
    for server in ("linkgate", "peer", "postgres", "two_nodes"):
        for number, name, _ in SCENARIOS:
            r = results[server].get(str(number))
            if r is None:
                continue
            if r["ok"] == 0:
                failures.append(f"{server} {number} {name}: no successful request")
            if r["errors"]:
                detail = ([f"{n['statuses']} first non-2xx: {n['first_error']}" for n in r["nodes"]]
                          if "nodes" in r else f"{r['statuses']} {r['socket_errors']}; first non-2xx: {r['first_error']}")
                failures.append(f"{server} {number} {name}: {r['errors']} errors {detail}")
            attack = r.get("attack")
            if attack is not None:
                if attack["answered"] == 0:
                    failures.append(f"{server} {number} {name}: the password guesser got no answer "
                                    f"(socket errors {attack['socket_errors']})")
                if attack["other_statuses"]:
                    failures.append(f"{server} {number} {name}: wrong passwords answered other than 401/429: "
                                    f"{attack['other_statuses']}; first: {attack['first_unexpected']}")

    pg_ratios = {str(n): round(results["postgres"][str(n)]["rps"] / results["linkgate"][str(n)]["rps"], 3)
                 for n, _, _ in SCENARIOS
                 if str(n) in results["postgres"] and results["linkgate"].get(str(n), {}).get("rps")}
    if args.smoke:
        for f in failures:
            print(f"   problem: {f}")
        print("== smoke: " + ("PASS" if not failures else "FAIL"))
    else:
        print()
        print("== summary (req/s = 2xx responses per second; latency in ms"
              + ("; ratio = Linkgate req/s / peer req/s)" if peer else ")"))
        head = f"{'#':<2} {'scenario':<38} {'req/s':>9} {'p50':>7} {'p99':>7} {'errors':>6}"
        if peer:
            head += f" | {'peer req/s':>10} {'p50':>7} {'p99':>7} {'errors':>6} {'ratio':>6}"
        print(head)
        print("-" * len(head))
        for number, name, title in SCENARIOS:
            r = results["linkgate"].get(str(number))
            if r is None:
                continue
            row = f"{number:<2} {title:<38} {r['rps']:>9.1f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['errors']:>6}"
            p = results["peer"].get(str(number))
            if p:
                ratio = f"{r['rps'] / p['rps']:.1f}x" if p["rps"] else "n/a"
                row += f" | {p['rps']:>10.1f} {p['p50_ms']:>7.2f} {p['p99_ms']:>7.2f} {p['errors']:>6} {ratio:>6}"
            elif peer:
                row += " |"
            print(row)
        if openssl:
            print(f"   ceiling for 4: openssl speed rsa2048 = {openssl['verify_per_s']:.1f} verify/s on one core")
        for server in ("linkgate", "postgres"):
            attacked = results[server].get("7")
            if not attacked:
                continue
            a = attacked["attack"]
            ratio = attacked["ratio_to_2"]
            print(f"   7 under attack{' (PostgreSQL node)' if server == 'postgres' else ''}: "
                  f"{a['answered_per_s']:.1f} wrong-password guesses answered/s from {a['connections']} "
                  f"connections (401: {a['status_401']}, 429: {a['status_429']}); bearer req/s ratio 7/2 = "
                  + (f"{ratio:.2f}" if ratio is not None else "n/a")
                  + f" (target >= {ATTACK_TARGET_RATIO:.2f}"
                  + (", met)" if ratio is not None and ratio >= ATTACK_TARGET_RATIO else ", not met)"))
        for server in ("linkgate", "postgres"):
            openid = results[server].get("10")
            if openid:
                ratio = openid["ratio_to_5"]
                print(f"   10/5 code exchange with openid (id_token) / plain code exchange"
                      f"{' (PostgreSQL node)' if server == 'postgres' else ''} = "
                      + (f"{ratio:.2f}" if ratio is not None else "n/a") + f" (target >= {OPENID_TARGET_RATIO:.2f}"
                      + (", met)" if ratio is not None and ratio >= OPENID_TARGET_RATIO else ", not met)"))
        local, directory = results["linkgate"].get("8"), results["linkgate"].get("9")
        if local and directory and local["rps"]:
            ratio = directory["rps"] / local["rps"]
            print(f"   9/8 HTTP Basic, directory user / local user = {ratio:.2f} (target >= {DIRECTORY_TARGET_RATIO:.2f}"
                  + (", met)" if ratio >= DIRECTORY_TARGET_RATIO else ", not met)"))
        hwm = max(r["vmhwm_mib"] for r in results["linkgate"].values())
        text = f"   Linkgate peak RSS (VmHWM) {hwm:.1f} MiB"
        if results["postgres"]:
            text += f"; PostgreSQL-backed node A {max(r['vmhwm_mib'] for r in results['postgres'].values()):.1f} MiB"
        if peer:
            text += (f"; peer (gunicorn master + workers, summed) "
                     f"{max(r['vmhwm_mib'] for r in results['peer'].values()):.1f} MiB")
        print(text)
        if results["postgres"]:
            print_postgres_summary(results, pg_ratios, counters is not None)
        for f in failures:
            print(f"   problem: {f}")
        noisy = [f"{server} {n} ({r['other_cpu_pct']:.0f}%)" for server in ("linkgate", "peer", "postgres", "two_nodes")
                 for n, r in results[server].items() if r["other_cpu_pct"] > 20]
        if noisy:
            print(f"   warning: other processes used over 20% of a core during: {', '.join(noisy)}; "
                  f"those numbers are low by an unknown amount")

    doc = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"duration_s": args.duration, "connections": args.connections, "wrk_threads": args.threads,
                   "smoke": args.smoke, "binary": args.binary, "cpus": os.cpu_count(),
                   "loadavg_at_end": os.getloadavg(),
                   "peer": ({"url": args.peer_url, "server": f"gunicorn, 2 workers, {args.peer_worker}"}
                            if peer else None),
                   "postgres": ({"version": args.pg_version, "nodes": [args.pg_url, args.pg_url_b],
                                 "database": args.pg_database} if args.pg_url else None)},
        "scenarios": {str(n): {"name": name, "title": title} for n, name, title in SCENARIOS},
        "linkgate_memory_before_load_mib": {k: {"vmhwm": round(h / 1024, 1), "vmrss": round(r / 1024, 1)}
                                            for k, (h, r) in memory.items()},
        "linkgate": results["linkgate"],
        "peer": results["peer"] if peer else None,
        "ratios": ({str(n): round(results["linkgate"][str(n)]["rps"] / results["peer"][str(n)]["rps"], 2)
                    for n in PEER_SCENARIOS if results["peer"].get(str(n), {}).get("rps")} if peer else None),
        "attack_ratio_7_to_2": results["linkgate"]["7"].get("ratio_to_2"),
        "openid_ratio_10_to_5": results["linkgate"]["10"].get("ratio_to_5"),
        "openid_ratio_target": OPENID_TARGET_RATIO,
        "postgres": results["postgres"] if args.pg_url else None,
        "postgres_to_sqlite_ratios": pg_ratios if args.pg_url else None,
        "postgres_ratio_targets": {str(n): t for n, t in PG_RATIO_TARGETS.items()} if args.pg_url else None,
        "two_nodes": results["two_nodes"] if args.pg_url else None,
        "postgres_authorize_while_minting": results["authorize"].get("postgres"),
        "openssl_rsa2048": openssl,
        "lines": lines,
        "failures": failures,
    }
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"   results: {args.results}")
    return 1 if (args.smoke and failures) else 0


if __name__ == "__main__":
    # scripts/bench stops the driver with SIGTERM: exit through SystemExit, so subprocess.run kills
    # a running wrk and the signing pool is terminated, instead of leaving them behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
