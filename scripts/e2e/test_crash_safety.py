"""Crash safety: what the server acknowledged survives a SIGKILL (issue 11, item 7).

One private `linkgate serve` on a fresh SQLite file. Per cycle, a few threads put concurrent load
on it: client_credentials token issues (INTERFACE §8), RFC 7009 revocations of some of the tokens
they were given, and OAuth 1.0a 2LO RSA-SHA1 signed `GET /rest/api/latest/myself` requests, each
with a fresh nonce (§7). Only what the server ACKNOWLEDGED counts: a complete 200 response. At a
random moment of the load the server gets SIGKILL; it is restarted on the same file and port, and
then:
  - every acknowledged token whose revocation was never attempted introspects as active;
  - every acknowledged revocation introspects as exactly {"active":false};
  - every acknowledged signed request, replayed byte for byte (same prepared request) within the
    ±300 s timestamp window, is refused with 401 oauth_problem="nonce_used";
  - `PRAGMA integrity_check` is "ok" on a copy of the database and WAL taken while the server was
    dead (so the restarted server still recovers the crashed files itself), and on the file
    itself after the final graceful stop.
    On PostgreSQL ($LINKGATE_E2E_POSTGRES) only the node is killed, never the database server, so
    there is no crashed file to copy: instead `pg_amcheck` (heap and B-tree checks of the amcheck
    extension) runs on the node's database after the final stop.
A sample of earlier cycles' acknowledgements is checked again after every restart, so a later
crash cannot lose them either.

Environment:
  LINKGATE_CRASH_CYCLES  kill/restart cycles (default 10, about a minute with the debug binary)
  LINKGATE_CRASH_SEED    seed for the kill moments and the load mix (default: random, printed)
"""
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

from conftest import ADMIN_PASSWORD, launch_server, postgres_tool, shutdown_server
from oauth1_support import CONSUMERS, new_rsa_key, parse_challenge, sign
from oauth_support import CLIENTS, INTROSPECT, MYSELF, REVOKE, TOKEN, USERS, describe

CYCLES_ENV = "LINKGATE_CRASH_CYCLES"
SEED_ENV = "LINKGATE_CRASH_SEED"
DEFAULT_CYCLES = 10
LOAD_THREADS = 4
KILL_AFTER = (0.3, 1.5)        # seconds of load before the SIGKILL (uniform)
NONCE_WINDOW = 300             # INTERFACE §7: timestamps within ±300 s; a nonce is single use within it
REPLAY_YOUNGER_THAN = NONCE_WINDOW - 60
TOKEN_LIFETIME = 3600
EARLIER_SAMPLE = 20            # earlier cycles' acknowledgements re-checked per kind after each restart
MAX_REPORTED = 30              # failure messages kept (all are counted)


def cycles_wanted():
    raw = os.environ.get(CYCLES_ENV, "").strip()
    if not raw:
        return DEFAULT_CYCLES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{CYCLES_ENV}={raw!r}: want a positive integer")
    return int(raw)


class Ledger:
    """What the server acknowledged, and what the checks found; shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}               # access token -> (cycle, wall time of the 200)
        self.revoke_attempted = set()  # tokens a revocation was sent for (acknowledged or not)
        self.revoked = {}              # access token -> cycle of the acknowledged revocation
        self.signed = []               # (cycle, oauth_timestamp, prepared request) of each acknowledged 200
        self.sent = Counter()          # requests sent, by kind
        self.cut_off = Counter()       # requests with no complete response (the kill), by kind
        self.checked = Counter()       # post-restart checks done, by kind
        self.failures = []
        self.failure_count = 0

    def fail(self, message):
        with self.lock:
            self.failure_count += 1
            if len(self.failures) < MAX_REPORTED:
                self.failures.append(message)


class Setup:
    def __init__(self, base_url, client, consumer_key, keys):
        self.base_url = base_url
        self.client = client
        self.consumer_key = consumer_key
        self.keys = keys

    @property
    def client_auth(self):
        return (self.client["clientId"], self.client["clientSecret"])


def register(base_url):
    """An executeAs user, a client_credentials client and a 2LO consumer (RSA key), over admin REST."""
    admin = requests.Session()
    admin.auth = ("admin", ADMIN_PASSWORD)
    runner = f"crash-runner-{secrets.token_hex(3)}"
    resp = admin.post(base_url + USERS, json={"name": runner, "password": secrets.token_urlsafe(18)}, timeout=15)
    assert resp.status_code == 201, describe(resp)
    resp = admin.post(base_url + CLIENTS, json={"name": f"crash-cc-{secrets.token_hex(3)}", "redirects": [],
                                                "scope": "WRITE", "executeAs": runner}, timeout=15)
    assert resp.status_code == 201, describe(resp)
    client = resp.json()
    keys = new_rsa_key()
    consumer_key = f"crash:{secrets.token_hex(4)}"
    resp = admin.post(base_url + CONSUMERS, json={"key": consumer_key, "name": "crash consumer",
                                                  "publicKey": keys.public_pem, "twoLeggedAllowed": True,
                                                  "executeAs": runner}, timeout=15)
    assert resp.status_code == 201, describe(resp)
    admin.close()
    return Setup(base_url, client, consumer_key, keys)


# --------------------------------------------------------------------------------------------
# Load (until the stop event; anything without a complete 200 is not acknowledged)
# --------------------------------------------------------------------------------------------

def complete_response(send):
    """The response of `send()`, read to its end, or None when there was none: the server was killed
    mid-request, or refuses connections since. Such a request is not acknowledged."""
    try:
        return send()
    except requests.RequestException:
        return None


def json_object(resp):
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def load_worker(setup, ledger, cycle, killed, stop, seed):
    rng = random.Random(seed)
    session = requests.Session()
    mine = []    # tokens this thread was given and has not tried to revoke
    base = setup.base_url

    def cut_off(kind, before_kill):
        if before_kill:
            with ledger.lock:
                ledger.cut_off[kind] += 1
        time.sleep(0.005)

    try:
        while not stop.is_set():
            draw = rng.random()
            if draw < 0.4 or (draw < 0.6 and not mine):
                kind = "token"
            elif draw < 0.6:
                kind = "revoke"
            else:
                kind = "signed"
            before_kill = not killed.is_set()
            if before_kill:
                with ledger.lock:
                    ledger.sent[kind] += 1
            if kind == "token":
                resp = complete_response(lambda: session.post(base + TOKEN, auth=setup.client_auth, timeout=10,
                                                              data={"grant_type": "client_credentials"}))
                if resp is None:
                    cut_off(kind, before_kill)
                    continue
                token = json_object(resp).get("access_token")
                if resp.status_code != 200 or not isinstance(token, str):
                    ledger.fail(f"cycle {cycle}: token issue under load: {describe(resp)}")
                    continue
                with ledger.lock:
                    ledger.tokens[token] = (cycle, time.time())
                mine.append(token)
            elif kind == "revoke":
                token = mine.pop(rng.randrange(len(mine)))
                with ledger.lock:
                    ledger.revoke_attempted.add(token)
                resp = complete_response(lambda: session.post(base + REVOKE, auth=setup.client_auth, timeout=10,
                                                              data={"token": token, "token_type_hint": "access_token"}))
                if resp is None:
                    cut_off(kind, before_kill)
                    continue
                if resp.status_code != 200:
                    ledger.fail(f"cycle {cycle}: revocation under load: {describe(resp)}")
                    continue
                with ledger.lock:
                    ledger.revoked[token] = cycle
            else:
                signed = sign(setup.keys, setup.consumer_key, "GET", base + MYSELF, token="")
                prepared = session.prepare_request(requests.Request("GET", signed.url, headers=signed.headers))
                resp = complete_response(lambda: session.send(prepared, timeout=10, allow_redirects=False))
                if resp is None:
                    cut_off(kind, before_kill)
                    continue
                if resp.status_code != 200 or json_object(resp).get("auth", {}).get("protocol") != "oauth1":
                    ledger.fail(f"cycle {cycle}: signed request under load: {describe(resp)}")
                    continue
                with ledger.lock:
                    ledger.signed.append((cycle, int(signed.oauth_value("oauth_timestamp")), prepared))
    finally:
        session.close()


def run_load_then_kill(srv, setup, ledger, cycle, rng):
    killed, stop = threading.Event(), threading.Event()
    workers = [threading.Thread(target=load_worker, args=(setup, ledger, cycle, killed, stop, rng.random()),
                                name=f"crash-load-{i}", daemon=True) for i in range(LOAD_THREADS)]
    for w in workers:
        w.start()
    time.sleep(rng.uniform(*KILL_AFTER))
    killed.set()
    srv.process.send_signal(signal.SIGKILL)
    srv.process.wait(10)
    srv.log_file.close()
    stop.set()
    for w in workers:
        w.join(30)
        assert not w.is_alive(), f"cycle {cycle}: load thread {w.name} did not stop"


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def integrity_of_copy(database, scratch):
    """PRAGMA integrity_check on a copy of the database and its WAL (not the stale -shm, which SQLite
    rebuilds from the WAL), leaving the crashed files for the restarted server to recover."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    copy = scratch / database.name
    shutil.copyfile(database, copy)
    wal = database.with_name(database.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, scratch / wal.name)
    return integrity_check(copy)


def postgres_integrity_check(url):
    """pg_amcheck on the database at `url` (heap and B-tree indexes); [] when it finds nothing."""
    result = subprocess.run([postgres_tool("pg_amcheck"), "--install-missing", "--heapallindexed",
                             url], capture_output=True, text=True, timeout=300)
    if result.returncode == 0:
        return []
    return (result.stdout + result.stderr).splitlines() or [f"pg_amcheck exited {result.returncode}"]


def integrity_check(path):
    connection = sqlite3.connect(str(path))
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


_local = threading.local()


def _session():
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def check_token_active(setup, ledger, cycle, token):
    resp = _session().post(setup.base_url + INTROSPECT, auth=setup.client_auth, data={"token": token}, timeout=15)
    body = json_object(resp) if resp.status_code == 200 else {}
    if not (body.get("active") is True and body.get("client_id") == setup.client["clientId"]):
        ledger.fail(f"after the cycle-{cycle} restart: a token acknowledged in cycle {ledger.tokens[token][0]} "
                    f"is not active: {describe(resp)}")
    with ledger.lock:
        ledger.checked["token"] += 1


def check_token_revoked(setup, ledger, cycle, token):
    resp = _session().post(setup.base_url + INTROSPECT, auth=setup.client_auth, data={"token": token}, timeout=15)
    body = json_object(resp) if resp.status_code == 200 else None
    if body != {"active": False}:
        ledger.fail(f"after the cycle-{cycle} restart: a revocation acknowledged in cycle {ledger.revoked[token]} "
                    f"did not hold: {describe(resp)}")
    with ledger.lock:
        ledger.checked["revoke"] += 1


def check_nonce_used(setup, ledger, cycle, entry):
    acked_cycle, timestamp, prepared = entry
    if time.time() - timestamp >= NONCE_WINDOW:
        ledger.fail(f"after the cycle-{cycle} restart: replay of a cycle-{acked_cycle} request came too late "
                    f"for the ±{NONCE_WINDOW} s window (a test problem)")
        return
    resp = _session().send(prepared, timeout=15, allow_redirects=False)
    problem = None
    if resp.status_code == 401 and resp.headers.get("WWW-Authenticate", "").startswith("OAuth "):
        problem = parse_challenge(resp.headers["WWW-Authenticate"])[1].get("oauth_problem")
    if problem != "nonce_used":
        ledger.fail(f"after the cycle-{cycle} restart: the replay of a signed request acknowledged in cycle "
                    f"{acked_cycle} was not refused with nonce_used: {describe(resp)}")
    with ledger.lock:
        ledger.checked["signed"] += 1


def check_after_restart(setup, ledger, cycle, rng, pool):
    now = time.time()
    with ledger.lock:
        tokens = [t for t in ledger.tokens if t not in ledger.revoke_attempted]
        revoked = list(ledger.revoked.items())
        signed = list(ledger.signed)
    # This cycle's acknowledgements, all of them; earlier cycles', a sample (still inside their lifetimes).
    fresh_tokens = [t for t in tokens if ledger.tokens[t][0] == cycle]
    old_tokens = [t for t in tokens if ledger.tokens[t][0] < cycle and now - ledger.tokens[t][1] < TOKEN_LIFETIME - 300]
    fresh_revoked = [t for t, c in revoked if c == cycle]
    old_revoked = [t for t, c in revoked if c < cycle]
    fresh_signed = [e for e in signed if e[0] == cycle]
    old_signed = [e for e in signed if e[0] < cycle and now - e[1] < REPLAY_YOUNGER_THAN]

    def sample(items):
        return rng.sample(items, min(EARLIER_SAMPLE, len(items)))

    jobs = ([(check_token_active, t) for t in fresh_tokens + sample(old_tokens)]
            + [(check_token_revoked, t) for t in fresh_revoked + sample(old_revoked)]
            + [(check_nonce_used, e) for e in fresh_signed + sample(old_signed)])
    for future in [pool.submit(fn, setup, ledger, cycle, item) for fn, item in jobs]:
        future.result()
    return len(fresh_tokens), len(fresh_revoked), len(fresh_signed)


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------

def test_acknowledged_writes_survive_sigkill(tmp_path, capsys):
    cycles = cycles_wanted()
    seed = int(os.environ.get(SEED_ENV) or secrets.randbits(32))
    rng = random.Random(seed)
    ledger = Ledger()
    started = time.monotonic()
    srv = launch_server(tmp_path)
    port = urlsplit(srv.base_url).port
    database = srv.database
    integrity_runs = 0
    per_cycle = []
    pool = ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="crash-check")
    try:
        setup = register(srv.base_url)
        for cycle in range(1, cycles + 1):
            run_load_then_kill(srv, setup, ledger, cycle, rng)
            if not srv.on_postgres:
                result = integrity_of_copy(database, tmp_path / "integrity-copy")
                integrity_runs += 1
                if result != ["ok"]:
                    ledger.fail(f"cycle {cycle}: PRAGMA integrity_check of the crashed database: {result[:10]}")
            srv = launch_server(tmp_path, port=port)
            assert srv.base_url == setup.base_url
            per_cycle.append(check_after_restart(setup, ledger, cycle, rng, pool))
        shutdown_server(srv)
        if srv.on_postgres:
            problems = postgres_integrity_check(database)
            integrity_runs += 1
            if problems:
                ledger.fail(f"pg_amcheck after the final graceful stop: {problems[:10]}")
        else:
            final = integrity_check(database)
            integrity_runs += 1
            if final != ["ok"]:
                ledger.fail(f"PRAGMA integrity_check after the final graceful stop: {final[:10]}")
    finally:
        pool.shutdown(wait=True)
        if srv.process.poll() is None:
            srv.process.kill()
            srv.process.wait(10)
        if not srv.log_file.closed:
            srv.log_file.close()

    figures = {
        "cycles": cycles,
        "store": "postgres" if srv.on_postgres else "sqlite",
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
        "sent": dict(ledger.sent),
        "cut_off_by_kill": dict(ledger.cut_off),
        "acknowledged": {"tokens": len(ledger.tokens), "revocations": len(ledger.revoked),
                         "signed_requests": len(ledger.signed)},
        "checked_after_restart": {"tokens_active": ledger.checked["token"],
                                  "revocations_held": ledger.checked["revoke"],
                                  "nonce_replays_refused": ledger.checked["signed"]},
        "acknowledged_per_cycle_min": {kind: min(c[i] for c in per_cycle)
                                       for i, kind in enumerate(("tokens", "revocations", "signed_requests"))},
        "integrity_checks": integrity_runs,
        "failures": ledger.failure_count,
    }
    with capsys.disabled():
        print(f"\ncrash safety: {json.dumps(figures)}")
        for message in ledger.failures:
            print(f"crash safety failure: {message}")

    assert ledger.failure_count == 0, f"{ledger.failure_count} failures, first ones:\n" + "\n".join(ledger.failures)
    # The checks above only mean something if every kind of write was acknowledged and then checked.
    for kind, n in figures["acknowledged"].items():
        assert n > 0, f"no {kind} were acknowledged in {cycles} cycles: {figures}"
    assert sum(figures["cut_off_by_kill"].values()) > 0, f"the kills never interrupted a request: {figures}"
