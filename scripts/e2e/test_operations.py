"""Operations (INTERFACE §15): health while starting and when the store cannot answer, Prometheus
metrics on their own port, and graceful drain on SIGTERM. Each test runs a private server on SQLite
(the PostgreSQL side of health and metrics is in test_cluster.py).
"""
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import ADMIN_PASSWORD, REPO_ROOT, _free_port, launch_server, launch_watching_startup, shutdown_server

ADMIN = ("admin", ADMIN_PASSWORD)
USERS = "/rest/api/latest/user"
MYSELF = "/rest/api/latest/myself"
CLIENTS = "/rest/oauth2/latest/client"
TOKEN = "/rest/oauth2/latest/token"


def scrape(port):
    """The families of GET /metrics, parsed by the Prometheus client library (a format check too)."""
    resp = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(resp.text)}, resp.text


def samples(families, name, suffix=""):
    """(labels, value) of family `name`'s samples named `name + suffix`."""
    family = families.get(name)
    assert family is not None, f"family {name} missing; have {sorted(families)}"
    return [(s.labels, s.value) for s in family.samples if s.name == name + suffix]


def value(families, name, suffix="", **labels):
    found = [v for (l, v) in samples(families, name, suffix) if all(l.get(k) == w for k, w in labels.items())]
    assert found, f"no {name}{suffix} sample with {labels}: {samples(families, name, suffix)}"
    return sum(found)


def dashboard_families():
    """The metric families Resources/grafana/linkgate-dashboard.json's queries use."""
    import json
    import re
    dashboard = json.loads((REPO_ROOT / "Resources" / "grafana" / "linkgate-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 10
    names = {name for expr in exprs for name in re.findall(r"\b(?:linkgate|process)_[a-z_]+", expr)}
    return {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in names}


# -- Metrics -----------------------------------------------------------------------------------

def test_metrics_port_serves_every_family_labelled_by_route_template(tmp_path):
    metrics_port = _free_port()
    srv = launch_server(tmp_path, extra_args=["--metrics-port", str(metrics_port)])
    try:
        base = srv.base_url
        secret_name = "secret-" + uuid.uuid4().hex[:12]
        # A route with a path parameter, for a user who does not exist: labelled by its template.
        assert requests.get(base + USERS + "/" + secret_name, auth=ADMIN, timeout=10).status_code == 404
        assert requests.get(base + "/no/such/" + secret_name, timeout=10).status_code == 404
        # A method outside the usual set (PURGE: the parser knows it, no route serves it) is counted as
        # "other": a client cannot mint label values.
        assert requests.request("PURGE", base + "/status", timeout=10).status_code in (404, 405)
        # A token issued (client_credentials: mode application), a refused client secret, a bad bearer.
        client = requests.post(base + CLIENTS, auth=ADMIN, json={"name": "Svc", "redirects": [], "scope": "READ"}, timeout=10).json()
        issued = requests.post(base + TOKEN, auth=(client["clientId"], client["clientSecret"]),
                               data={"grant_type": "client_credentials"}, timeout=10)
        assert issued.status_code == 200, issued.text
        assert requests.post(base + TOKEN, auth=(client["clientId"], "wrong-" + secret_name),
                             data={"grant_type": "client_credentials"}, timeout=10).status_code == 401
        assert requests.get(base + MYSELF, headers={"Authorization": "Bearer not-a-token"}, timeout=10).status_code == 401
        # An OAuth 1.0a request from an unknown consumer.
        oauth1 = requests.get(base + MYSELF, timeout=10, headers={"Authorization": (
            'OAuth oauth_consumer_key="nobody", oauth_signature_method="RSA-SHA1", oauth_signature="x", '
            f'oauth_timestamp="{int(time.time())}", oauth_nonce="{uuid.uuid4().hex}", oauth_version="1.0"')})
        assert oauth1.status_code == 401, oauth1.text
        # Five wrong passwords lock the (name, address) pair; the sixth check is throttled (§10).
        created = requests.post(base + USERS, auth=ADMIN, json={"name": secret_name, "password": "right-password-1"}, timeout=10)
        assert created.status_code == 201, created.text
        for _ in range(5):
            assert requests.get(base + MYSELF, auth=(secret_name, "wrong-password"), timeout=10).status_code == 401
        assert requests.get(base + MYSELF, auth=(secret_name, "right-password-1"), timeout=10).status_code == 429

        families, text = scrape(metrics_port)
        # Labels never carry raw paths, ids or user names.
        assert secret_name not in text and client["clientId"] not in text

        assert value(families, "linkgate_http_requests", "_total", route="/rest/api/latest/user/{name}", method="GET", status="404") == 1
        assert value(families, "linkgate_http_requests", "_total", route="unmatched", method="GET", status="404") == 1
        assert value(families, "linkgate_http_requests", "_total", method="other") == 1
        assert value(families, "linkgate_http_requests", "_total", route=TOKEN, method="POST", status="200") == 1
        assert value(families, "linkgate_http_requests", "_total", route=MYSELF, status="429") == 1
        assert families["linkgate_http_request_duration_seconds"].type == "histogram"
        assert value(families, "linkgate_http_request_duration_seconds", "_count", route=TOKEN) == 2
        assert value(families, "linkgate_http_request_duration_seconds", "_bucket", route=TOKEN, le="+Inf") == 2

        assert value(families, "linkgate_tokens_issued", "_total", protocol="oauth2", grant="client_credentials", mode="application") == 1
        assert value(families, "linkgate_auth_failures", "_total", kind="client", reason="invalid_client") == 1
        assert value(families, "linkgate_auth_failures", "_total", kind="bearer", reason="invalid_token") == 1
        assert value(families, "linkgate_auth_failures", "_total", kind="oauth1", reason="consumer_key_unknown") == 1
        assert value(families, "linkgate_auth_failures", "_total", kind="password", reason="invalid_credentials") == 5
        assert value(families, "linkgate_throttled", "_total", kind="password") == 1

        # Every acknowledged write went through the SQLite group commit: its time and batch size.
        assert families["linkgate_store_commit_duration_seconds"].type == "histogram"
        commits = value(families, "linkgate_store_commit_duration_seconds", "_count", store="sqlite")
        assert commits >= 3   # user, client, token at least
        assert value(families, "linkgate_store_commit_batch_size", "_count", store="sqlite") == commits
        assert value(families, "linkgate_store_commit_batch_size", "_sum", store="sqlite") >= commits
        assert value(families, "linkgate_store_commit_batch_size", "_bucket", store="sqlite", le="256.0") == commits

        assert 10 * 2**20 < value(families, "process_resident_memory_bytes") < 4 * 2**30
        assert 3 <= value(families, "process_open_fds") < 1000

        # The Grafana dashboard in Resources/ queries only families this server exposes.
        assert dashboard_families() <= set(families), dashboard_families() - set(families)

        # Never on the public port.
        assert requests.get(base + "/metrics", timeout=10).status_code == 404
    finally:
        shutdown_server(srv)


def test_metrics_port_must_be_valid_and_not_the_public_port(tmp_path):
    binary = REPO_ROOT / ".build" / "debug" / "linkgate"
    import os
    binary = Path(os.environ.get("LINKGATE_BIN", str(binary)))
    port = _free_port()
    for args, words in ((["--port", str(port), "--metrics-port", str(port)], "must differ from --port"),
                        (["--metrics-port", "70000"], "invalid metrics port '70000'")):
        result = subprocess.run([str(binary), "serve", "--database", str(tmp_path / "db.sqlite"), *args],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3, result.stderr


def test_without_metrics_port_nothing_listens_for_metrics(tmp_path):
    srv = launch_server(tmp_path)
    try:
        assert requests.get(srv.base_url + "/metrics", timeout=10).status_code == 404
        assert "--metrics-port" not in " ".join(srv.command)
    finally:
        shutdown_server(srv)


# -- Health ------------------------------------------------------------------------------------

def hold_write_lock(path, seconds, started):
    """Holds SQLite's write lock on `path` for `seconds` from another process's connection."""
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    db.execute("ROLLBACK")
    db.close()


def test_status_is_starting_while_the_sqlite_migration_waits_for_a_lock(tmp_path):
    """The port answers at once: STARTING (503) while migrating, other paths 503 + Retry-After."""
    database = tmp_path / "linkgate.sqlite"
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(database, 3.0, started))
    holder.start()
    assert started.wait(10)
    srv, states, other = launch_watching_startup(tmp_path, MYSELF, database=database)
    holder.join()
    assert srv is not None, "the server did not come up"
    try:
        assert (503, "STARTING") in states, states
        assert other is not None and other.status_code == 503
        assert other.json()["error"] == "temporarily_unavailable" and other.headers["Retry-After"] == "1"
        resp = requests.get(srv.base_url + "/status", timeout=10)
        assert (resp.status_code, resp.json()) == (200, {"state": "RUNNING"})
        assert requests.get(srv.base_url + MYSELF, auth=ADMIN, timeout=10).status_code == 200
    finally:
        shutdown_server(srv)


def test_status_is_error_while_sqlite_cannot_take_a_write_and_recovers(tmp_path):
    srv = launch_server(tmp_path)
    try:
        started = threading.Event()
        holder = threading.Thread(target=hold_write_lock, args=(srv.database, 5.0, started))
        holder.start()
        assert started.wait(10)
        time.sleep(1.1)   # past the one-second health cache
        resp = requests.get(srv.base_url + "/status", timeout=10)
        assert (resp.status_code, resp.json()) == (503, {"state": "ERROR"}), resp.text
        holder.join()
        deadline = time.monotonic() + 5
        while True:
            resp = requests.get(srv.base_url + "/status", timeout=10)
            if resp.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (resp.status_code, resp.json()) == (200, {"state": "RUNNING"})
    finally:
        shutdown_server(srv)


# -- Graceful drain ----------------------------------------------------------------------------

def slow_request(port, body, pause, result):
    """POSTs `body` to the token endpoint in two halves `pause` seconds apart; stores the status."""
    head = (f"POST {TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        result["sent_head"] = time.monotonic()
        time.sleep(pause)
        try:
            sock.sendall(body[len(body) // 2:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            result["status"] = int(answer.split(b" ", 2)[1]) if answer else None
        except OSError as error:
            result["error"] = repr(error)


def start_slow_request(port, body, pause, result, daemon=False):
    """`slow_request` on a thread, returned once its head is sent and the server has had 0.2 s to
    read it: SIGTERM then finds a request in flight, not an idle connection it may close at once."""
    worker = threading.Thread(target=slow_request, args=(port, body, pause, result), daemon=daemon)
    worker.start()
    while "sent_head" not in result:
        time.sleep(0.01)
    time.sleep(0.2)
    return worker


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_zero(tmp_path):
    srv = launch_server(tmp_path)
    port = int(srv.base_url.rsplit(":", 1)[1])
    result = {}
    body = b"grant_type=client_credentials&client_id=nobody&client_secret=" + b"x" * 64
    worker = start_slow_request(port, body, 2.0, result)
    signalled = time.monotonic()
    srv.process.send_signal(15)
    time.sleep(0.5)
    # No new connections once draining has begun.
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.base_url + "/status", timeout=2)
    worker.join(20)
    # The request in flight got its real answer (401 invalid_client for an unknown client).
    assert result.get("status") == 401, result
    code = srv.process.wait(15)
    assert code == 0, srv.log_text()
    assert time.monotonic() - signalled < 5
    srv.log_file.close()


def test_sigterm_gives_a_stuck_request_10_seconds_then_exits_zero(tmp_path):
    srv = launch_server(tmp_path)
    port = int(srv.base_url.rsplit(":", 1)[1])
    result = {}
    body = b"grant_type=client_credentials&client_id=nobody&client_secret=" + b"x" * 64
    start_slow_request(port, body, 15.0, result, daemon=True)
    signalled = time.monotonic()
    srv.process.send_signal(15)
    code = srv.process.wait(20)
    waited = time.monotonic() - signalled
    assert code == 0, srv.log_text()
    assert 9.5 <= waited < 13, waited
    srv.log_file.close()


# -- Console: the System page ------------------------------------------------------------------

def system_page(base, user, password):
    from console_support import ConsoleSession
    console = ConsoleSession(requests.Session(), base).login(user, password)
    return console, console.get("/admin/system")


def fact(html, element_id):
    import re
    match = re.search(rf'<dd id="{element_id}">(.*?)</dd>', html, re.S)
    assert match, f"no #{element_id} on the System page"
    return re.sub(r"<[^>]+>", "", match.group(1)).split()


def test_system_page_shows_version_store_directory_uptime_and_counts(tmp_path):
    # A directory that does not answer (nothing listens on the port): the page says so.
    closed = _free_port()
    srv = launch_server(tmp_path, extra_args=["--ldap-url", f"ldap://127.0.0.1:{closed}", "--ldap-base-dn", "dc=example,dc=com"])
    try:
        base = srv.base_url
        # Not logged in: to the login page; a non-admin: 403.
        resp = requests.get(base + "/admin/system", allow_redirects=False, timeout=10)
        assert resp.status_code == 303 and resp.headers["Location"].startswith("/login?next=")
        assert requests.post(base + USERS, auth=ADMIN, json={"name": "pat", "password": "pat-password-1"}, timeout=10).status_code == 201
        _, refused = system_page(base, "pat", "pat-password-1")
        assert refused.status_code == 403

        client = requests.post(base + CLIENTS, auth=ADMIN, json={"name": "Svc", "redirects": [], "scope": "READ"}, timeout=10).json()
        for _ in range(3):
            assert requests.post(base + TOKEN, auth=(client["clientId"], client["clientSecret"]),
                                 data={"grant_type": "client_credentials"}, timeout=10).status_code == 200
        consumer = requests.post(base + "/rest/oauth1/latest/consumer", auth=ADMIN, timeout=10, json={
            "key": "ops-consumer", "name": "Ops", "publicKey": RSA_PUBLIC_KEY})
        assert consumer.status_code == 201, consumer.text

        console, page = system_page(base, "admin", ADMIN_PASSWORD)
        assert page.status_code == 200, page.text
        html = page.text
        version = requests.get(base + "/rest/applinks/1.0/manifest", headers={"Accept": "application/json"}, timeout=10).json()["version"]
        assert fact(html, "version") == ["Linkgate", version]
        assert fact(html, "store") == ["SQLite", str(srv.database)]
        assert fact(html, "directory")[:4] == ["ldap", "at", f"ldap://127.0.0.1:{closed},", "base"]
        assert "unreachable" in fact(html, "directory")
        assert fact(html, "users")[0] == "2"            # admin and pat
        assert fact(html, "links")[:2] == ["2", "(1"]   # one client, one consumer
        assert fact(html, "live-tokens")[:2] == ["3", "(3"]
        uptime = fact(html, "uptime")
        assert uptime[1] in ("min", "h", "d"), uptime
        assert ADMIN_PASSWORD not in html and client["clientSecret"] not in html
        assert 'href="/admin/system" aria-current="page"' in html
    finally:
        shutdown_server(srv)


RSA_PUBLIC_KEY = None


def setup_module(module):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    module.RSA_PUBLIC_KEY = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
