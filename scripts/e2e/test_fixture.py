"""`linkgate fixture` end to end (INTERFACE.md §12), driven through python/linkgate_fixture.py.

Every line of §12 is exercised against real fixture processes: the ready line, the refused
`--database`, the loopback bind, the banner, the seed, the consent modes, every control call
(authorize, oauth1/authorize, tokens, faults, journal, clock, reset, sandboxes), the 401 of the
control API, and the `serve` instance of conftest.py that must have none of it. Start and reset
times are measured and printed. A failure that contradicts §12 is a server bug, not a reason to
relax the test.
"""
import base64
import ipaddress
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, quote, urljoin

import pytest
import requests

from conftest import DEFAULT_BIN, REPO_ROOT
from oauth1_support import (ACCESS_TOKEN, AUTHORIZE1, CONSUMERS, REQUEST_TOKEN, assert_oauth_problem,
                            authorize_request_token, new_rsa_key, parse_challenge, sign)
from oauth_support import (AUTHORIZE, INTROSPECT, METADATA, MYSELF, REVOKE, TOKEN, TOKEN_KEYS, TOKEN_RE, USERS, VERIFY,
                           Browser, Forms, assert_html_page_headers, assert_json, assert_oauth_error, authorize_url,
                           describe, pkce_pair, query_params, unused_loopback_port)

sys.path.insert(0, str(REPO_ROOT / "python"))
from linkgate_fixture import ControlError, Fixture, FixtureStartError, Sandbox  # noqa: E402

BANNER = "fixture — not for production"
REDIRECT = f"http://127.0.0.1:{unused_loopback_port()}/cb"
CALLBACK = f"http://127.0.0.1:{unused_loopback_port()}/oauth1/cb"
AUDIT = "/rest/api/latest/audit"

ALICE = ("alice", "alice-pass-7f3b9c2e41")
BOB = ("bob", "bob-pass-4e8a1d6f93")
ROOT = ("root", "root-pass-9c1e5a7b02")
JIRA = {"clientId": "jira-test", "clientSecret": "jira-test-secret-5b2f8e1c9d"}
OTHER = {"clientId": "other-app", "clientSecret": "other-app-secret-3d7c1a9e4f"}
ROBOT = {"clientId": "robot", "clientSecret": "robot-secret-8e2d4c6a1b77"}
CONSUMER_KEY = "jira-consumer"
CONSUMER = new_rsa_key()
LIFETIMES = {"accessToken": 1800, "refreshToken": 86400, "code": 120}
SEED_NOW = 1_900_000_000
JOURNAL_KEYS = {"id", "time", "method", "path", "endpoint", "status", "clientId", "grantType", "user", "oauth1"}
ENDPOINTS = ["authorize", "token", "revoke", "introspect", "metadata", "myself", "oauth1-request-token",
             "oauth1-authorize", "oauth1-access-token", "verify", "login"]


def client_entry(client, name, redirects=(REDIRECT,), scope="WRITE", **extra):
    return {"name": name, "redirects": list(redirects), "scope": scope, **client, **extra}


SEED = {
    "users": [{"name": ALICE[0], "password": ALICE[1], "displayName": "Alice"},
              {"name": BOB[0], "password": BOB[1]},
              {"name": ROOT[0], "password": ROOT[1], "admin": True}],
    "clients": [client_entry(JIRA, "Jira Test"), client_entry(OTHER, "Other App"),
                client_entry(ROBOT, "Robot", redirects=())],
    "consumers": [{"key": CONSUMER_KEY, "name": "Jira Consumer", "publicKey": CONSUMER.public_pem,
                   "twoLeggedAllowed": True}],
    "lifetimes": LIFETIMES,
}
# Small seeds for the other consent modes (no admin user: the fixture makes `admin`).
SEED_AUTO = {"users": [{"name": ALICE[0], "password": ALICE[1]}], "clients": [client_entry(JIRA, "Jira Test")],
             "consent": "auto", "now": SEED_NOW}
SEED_DENY = {"users": [{"name": ALICE[0], "password": ALICE[1]}], "clients": [client_entry(JIRA, "Jira Test")],
             "consent": "deny"}


# --------------------------------------------------------------------------------------------
# Processes and helpers
# --------------------------------------------------------------------------------------------

def binary():
    path = Path(os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN)))
    if not path.is_file():
        pytest.fail(f"server binary not found: {path} (build it, or set LINKGATE_BIN)")
    return str(path)


def clean_env():
    """The caller's environment without LINKGATE_* settings (flags and the seed decide)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LINKGATE_")}


def start(**kwargs):
    kwargs.setdefault("cwd", str(REPO_ROOT))     # Resources/ (templates) are found from here
    return Fixture(binary=binary(), env=clean_env(), **kwargs)


def stop(fixture):
    code = fixture.stop()
    assert code == 0, f"fixture exited with {code} after SIGTERM"
    assert len(fixture.stdout_lines) == 1, f"stdout must hold only the ready line: {fixture.stdout_lines}"


def report(capsys, text):
    with capsys.disabled():
        print("\n" + text)


@pytest.fixture(scope="module")
def fx():
    fixture = start(config=SEED)
    yield fixture
    stop(fixture)


@pytest.fixture()
def lg(fx):
    """The main fixture, reset to its seed before the test."""
    fx.reset()
    return fx


@pytest.fixture(scope="module")
def fx_auto():
    fixture = start(config=SEED_AUTO)
    fixture.clock_at_start = fixture.clock()
    yield fixture
    stop(fixture)


@pytest.fixture(scope="module")
def fx_deny():
    fixture = start(config=SEED_DENY)
    yield fixture
    stop(fixture)


def basic(client):
    return (client["clientId"], client["clientSecret"])


def client_credentials(base, client):
    return requests.post(base + TOKEN, auth=basic(client), data={"grant_type": "client_credentials"}, timeout=15)


def introspect(base, token, client=JIRA):
    resp = requests.post(base + INTROSPECT, auth=basic(client), data={"token": token}, timeout=15)
    return assert_json(resp, 200)


def bearer_myself(base, token):
    return requests.get(base + MYSELF, headers={"Authorization": f"Bearer {token}"}, timeout=15)


def exchange(base, client, code, verifier, post=False):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    if post:
        return requests.post(base + TOKEN, data={**data, "client_id": client["clientId"],
                                                 "client_secret": client["clientSecret"]}, timeout=15)
    return requests.post(base + TOKEN, auth=basic(client), data=data, timeout=15)


def pkce_url(base, client=JIRA, scope=None, state=None):
    """(authorize URL with an S256 challenge, verifier, state)."""
    verifier, challenge = pkce_pair()
    state = state or secrets.token_urlsafe(12)
    url = authorize_url(base, response_type="code", client_id=client["clientId"], redirect_uri=REDIRECT,
                        scope=scope, state=state, code_challenge=challenge, code_challenge_method="S256")
    return url, verifier, state


def code_flow(ctl, client=JIRA, user=ALICE[0], scope=None):
    """/__fixture/authorize approves a PKCE authorize request → (code, verifier)."""
    url, verifier, state = pkce_url(ctl.base_url, client, scope)
    redirect = ctl.authorize(url, user)
    assert redirect.startswith(REDIRECT + "?"), redirect
    params = query_params(redirect)
    assert set(params) == {"code", "state"} and params["state"] == state, redirect
    assert re.match(TOKEN_RE, params["code"]), redirect
    return params["code"], verifier


def banner_shown(resp):
    return BANNER in Forms(resp.text).visible_text.casefold()


def signed_request_token(ctl, callback="oob", **kw):
    return sign(CONSUMER, CONSUMER_KEY, "POST", ctl.base_url + REQUEST_TOKEN, extra=[("oauth_callback", callback)], **kw)


def form(resp):
    assert resp.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"), describe(resp)
    return dict(parse_qsl(resp.text, keep_blank_values=True))


def oauth1_request_token(ctl, callback):
    resp = signed_request_token(ctl, callback).send(requests.Session())
    assert resp.status_code == 200, describe(resp)
    body = form(resp)
    return body["oauth_token"], body["oauth_token_secret"]


def oauth1_exchange(ctl, token, verifier):
    return sign(CONSUMER, CONSUMER_KEY, "POST", ctl.base_url + ACCESS_TOKEN, token=token,
                extra=[("oauth_verifier", verifier)]).send(requests.Session())


def oauth1_myself(ctl, token=None, **kw):
    return sign(CONSUMER, CONSUMER_KEY, "GET", ctl.base_url + MYSELF, token=token, **kw).send(requests.Session())


def bad_signature():
    return base64.b64encode(secrets.token_bytes(256)).decode("ascii")


def listening_addresses(port):
    """Addresses in LISTEN state on `port` (from /proc/net/tcp and tcp6)."""
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port or fields[3] != "0A":
                continue
            raw = bytes.fromhex(address)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(socket.inet_ntop(family, raw))
    return found


def files_open_for_writing(pid, allowed):
    """Regular files (also deleted ones) that process `pid` holds open for writing, except `allowed`."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            flags = int(re.search(r"flags:\s+(\d+)", Path(f"/proc/{pid}/fdinfo/{fd}").read_text()).group(1), 8)
        except (OSError, AttributeError):
            continue
        if not flags & (os.O_WRONLY | os.O_RDWR) or not target.startswith("/"):
            continue
        if target.startswith(("/dev/", "/proc/", "/memfd:")) or target in allowed:
            continue
        found.append(target)
    return found


# --------------------------------------------------------------------------------------------
# Start: ready line, ready file, loopback, nothing on disk, --database refused
# --------------------------------------------------------------------------------------------

def test_ready_line_ready_file_loopback_and_start_time(tmp_path, capsys):
    ready_path = tmp_path / "ready.json"
    fixture = start(config=SEED, ready_file=ready_path)
    try:
        ready = fixture.ready
        assert set(ready) == {"baseUrl", "controlToken", "pid"}, ready
        assert isinstance(ready["pid"], int) and ready["pid"] == fixture.process.pid, ready
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", ready["baseUrl"])
        assert match and int(match.group(1)) != 0, ready
        port = int(match.group(1))
        assert isinstance(ready["controlToken"], str) and len(ready["controlToken"]) >= 32, ready
        assert json.loads(ready_path.read_text(encoding="utf-8")) == ready
        assert requests.get(fixture.base_url + "/status", timeout=10).json() == {"state": "RUNNING"}

        # Default --host: loopback only.
        addresses = listening_addresses(port)
        assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses

        # The whole server works on an in-memory store: nothing is opened for writing on disk.
        assert client_credentials(fixture.base_url, JIRA).status_code == 200
        assert requests.get(fixture.base_url + MYSELF, auth=ALICE, timeout=10).status_code == 200
        written = files_open_for_writing(fixture.process.pid, allowed={fixture.log_path})
        assert written == [], f"the fixture writes to disk: {written}"
    finally:
        code = fixture.stop()
    assert code == 0
    # Exactly one line on stdout over the whole life of the process, and it is the ready object.
    assert len(fixture.stdout_lines) == 1, fixture.stdout_lines
    assert json.loads(fixture.stdout_lines[0]) == ready
    starts = [fixture.startup_seconds]
    for _ in range(4):
        again = start(config=SEED)
        starts.append(again.startup_seconds)
        stop(again)
    report(capsys, f"fixture start with a seed of 3 users, 3 clients, 1 consumer (process start → ready line): "
                   f"median {statistics.median(starts) * 1000:.0f} ms, min {min(starts) * 1000:.0f} ms, "
                   f"max {max(starts) * 1000:.0f} ms ({len(starts)} starts)")


def test_base_url_option():
    port = unused_loopback_port()
    fixture = start(port=port, base_url=f"http://localhost:{port}")
    try:
        assert fixture.base_url == f"http://localhost:{port}", fixture.ready
        metadata = assert_json(requests.get(f"http://127.0.0.1:{port}{METADATA}", timeout=15), 200)
        assert metadata["issuer"] == f"http://localhost:{port}", metadata
    finally:
        stop(fixture)


def test_database_is_refused(tmp_path):
    usage = subprocess.run([binary(), "fixture", "--help"], capture_output=True, text=True, timeout=60, env=clean_env())
    assert usage.returncode == 0, usage                       # the command exists: a refusal below is its own
    database = tmp_path / "linkgate.sqlite"
    result = subprocess.run([binary(), "fixture", "--port", "0", "--database", str(database)], capture_output=True,
                            text=True, timeout=60, env=clean_env(), cwd=str(REPO_ROOT))
    assert result.returncode != 0, result
    assert "database" in (result.stdout + result.stderr).lower(), result
    assert "controlToken" not in result.stdout, result
    assert not database.exists()
    # The module reports the early exit with the server's message.
    with pytest.raises(FixtureStartError) as raised:
        start(extra_args=["--database", str(database)])
    assert "exited" in str(raised.value) and "database" in str(raised.value).split("--- stderr")[1].lower(), raised.value


# --------------------------------------------------------------------------------------------
# Banner, control API authentication, `serve` has neither
# --------------------------------------------------------------------------------------------

def test_banner_on_every_html_page(lg):
    base = lg.base_url
    pages = {}
    browser = Browser(requests.Session(), base)
    url, _, _ = pkce_url(base)
    path_query = url[len(base):]
    login_url = browser.location(browser.get(url))
    pages["login"] = browser.get(login_url)
    browser.login_through(login_url, *ALICE, expected_next=path_query)
    consent_url = browser.location(browser.get(url))
    pages["consent"] = browser.get(consent_url)
    error = browser.get(authorize_url(base, response_type="code", client_id="no-such-client", redirect_uri=REDIRECT))
    pages["error"] = browser.get(browser.location(error)) if error.status_code == 303 else error
    token, _ = oauth1_request_token(lg, CALLBACK)
    pages["oauth1 authorize"] = browser.get(f"{base}{AUTHORIZE1}?oauth_token={token}")
    pages["profile"] = browser.get(base + "/profile/applications")
    oob_token, _ = oauth1_request_token(lg, "oob")
    pages["oauth1 verifier"] = authorize_request_token(browser, base, oob_token, "Jira Consumer")
    stranger = Browser(requests.Session(), base)
    login_form = Forms(stranger.get(base + "/login?next=/").text).form("/login")
    pages["login refused"] = stranger.post(base + "/login", data=Forms.submission(
        login_form, login_form["buttons"][0], username="alice", password="not-her-password"))

    admin = Browser(requests.Session(), base)
    admin.login_through(base + "/login?next=/admin", *ROOT, expected_next="/admin")
    for path in ("/admin", "/admin/users", "/admin/audit", "/admin/requests", "/admin/links/new", "/admin/links/oauth2/new"):
        pages[path] = admin.get(base + path)

    for name, page in pages.items():
        assert page.status_code in (200, 400, 401, 403), f"{name}: {describe(page)}"
        assert_html_page_headers(page)
        assert banner_shown(page), f"{name} has no banner: {Forms(page.text).visible_text[:300]}"



def test_console_requests_page_shows_the_journal_masked(lg):
    lg.reset()
    secret = ROBOT["clientSecret"]
    token = requests.post(lg.base_url + TOKEN, auth=(ROBOT["clientId"], secret),
                          data={"grant_type": "client_credentials"}, timeout=15).json()["access_token"]
    requests.get(lg.base_url + MYSELF, headers={"Authorization": f"Bearer {token}"}, timeout=15)
    admin = Browser(requests.Session(), lg.base_url)
    admin.login_through(lg.base_url + "/login?next=/admin/requests", *ROOT, expected_next="/admin/requests")
    page = admin.get(lg.base_url + "/admin/requests")
    assert page.status_code == 200, describe(page)
    rows = re.findall(r"<tr[^>]*>\s*<td data-label=\"#\">", page.text)
    assert len(rows) >= 3, page.text[:2000]                     # token, myself, login
    text = page.text
    assert TOKEN in text and MYSELF in text and "client_credentials" in text and ROBOT["clientId"] in text
    assert 'http-equiv="refresh"' in text                       # live
    assert token not in text and secret not in text and ROOT[1] not in text
    paused = admin.get(lg.base_url + "/admin/requests?live=0")
    assert 'http-equiv="refresh"' not in paused.text
    # The page does not journal itself.
    assert not [entry for entry in lg.requests() if entry["path"].startswith("/admin/requests")]

CONTROL_CALLS = [
    ("POST", "/reset", None),
    ("GET", "/clock", None),
    ("POST", "/clock", {"advance": 86400}),
    ("POST", "/authorize", {"url": "http://127.0.0.1/x", "user": "alice", "decision": "approve"}),
    ("POST", "/oauth1/authorize", {"oauthToken": "x", "user": "alice", "decision": "approve"}),
    ("POST", "/tokens", {"clientId": "robot"}),
    ("POST", "/faults", {"endpoint": "metadata", "status": 503}),
    ("GET", "/faults", None),
    ("DELETE", "/faults", None),
    ("GET", "/requests", None),
    ("POST", "/sandboxes", {}),
    ("DELETE", "/sandboxes/no-such-sandbox", None),
]


def test_control_api_needs_the_control_token(lg):
    sandbox = lg.sandbox({"users": [{"name": "carol", "password": "carol-pass-0123"}]})
    minted = lg.mint_tokens("jira-test", user="alice", scope="WRITE")["access_token"]
    fault = lg.add_fault("metadata", status=503, body="kept", content_type="text/plain", times=5)
    clock = lg.set_clock(2_000_000_000)
    wrong = [None, {"Authorization": "Bearer " + secrets.token_urlsafe(32)},
             {"Authorization": "Bearer " + lg.control_token + "x"},
             {"Authorization": "Bearer " + minted},
             {"Authorization": "Basic " + base64.b64encode(f"root:{lg.control_token}".encode()).decode()},
             {"Authorization": "Basic " + base64.b64encode(f"{ROOT[0]}:{ROOT[1]}".encode()).decode()}]
    try:
        for base in (lg.base_url, sandbox.base_url):
            for method, path, body in CONTROL_CALLS:
                for headers in wrong:
                    resp = requests.request(method, base + "/__fixture" + path, json=body, headers=headers, timeout=15)
                    assert resp.status_code == 401, f"{headers}: {describe(resp)}"
                    assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer"), describe(resp)
        # Nothing changed: the fault is still armed, the clock was not advanced.
        assert [f["id"] for f in lg.faults()] == [fault]
        assert clock <= lg.clock() <= clock + 30
    finally:
        sandbox.delete()


def test_serve_has_no_control_api_and_no_banner(base_url):
    for method, path, body in CONTROL_CALLS:
        for headers in (None, {"Authorization": "Bearer " + secrets.token_urlsafe(32)}):
            resp = requests.request(method, base_url + "/__fixture" + path, json=body, headers=headers, timeout=15)
            assert resp.status_code == 404, describe(resp)
    login = requests.get(base_url + "/login", timeout=15)
    assert login.status_code == 200 and not banner_shown(login), login.text[:500]
    assert requests.get(base_url + "/s/abc/status", timeout=15).status_code == 404


# --------------------------------------------------------------------------------------------
# Seed and consent modes
# --------------------------------------------------------------------------------------------

def test_seed_users_clients_and_consumers_with_fixed_credentials(lg):
    base = lg.base_url
    body = assert_json(client_credentials(base, JIRA), 200)
    assert re.match(TOKEN_RE, body["access_token"]) and body["expires_in"] == LIFETIMES["accessToken"], body
    assert client_credentials(base, {**JIRA, "clientSecret": OTHER["clientSecret"]}).status_code == 401
    me = assert_json(requests.get(base + MYSELF, auth=ALICE, timeout=15), 200)
    assert me["name"] == "alice" and me["displayName"] == "Alice" and me["admin"] is False, me
    entity = assert_json(requests.get(base + "/rest/oauth2/latest/client/jira-test", auth=ROOT, timeout=15), 200)
    assert (entity["clientId"], entity["name"], entity["redirects"], entity["scope"]) == \
        ("jira-test", "Jira Test", [REDIRECT], "WRITE"), entity
    consumer = assert_json(requests.get(f"{base}{CONSUMERS}/{CONSUMER_KEY}", auth=ROOT, timeout=15), 200)
    assert consumer["name"] == "Jira Consumer" and consumer["twoLeggedAllowed"] is True, consumer
    me = assert_json(oauth1_myself(lg), 200)
    assert me["name"] is None and me["auth"]["mode"] == "application" and me["auth"]["client"] == CONSUMER_KEY, me


def test_without_an_admin_in_the_seed_admin_has_the_control_token(fx_auto):
    users = assert_json(requests.get(fx_auto.base_url + USERS, auth=("admin", fx_auto.control_token), timeout=15), 200)
    by_name = {u["name"]: u for u in users}
    assert by_name["admin"]["admin"] is True and "alice" in by_name, users


def test_consent_page_is_the_default(lg):
    browser = Browser(requests.Session(), lg.base_url)
    url, verifier, state = pkce_url(lg.base_url)
    outcome = browser.authorize(url, login=ALICE, consent=True, decision="approve")
    assert outcome.location.startswith(REDIRECT + "?") and set(outcome.params) == {"code", "state"}, outcome.location
    assert outcome.params["state"] == state
    body = assert_json(exchange(lg.base_url, JIRA, outcome.code, verifier), 200)
    assert body["scope"] == "WRITE" and body["expires_in"] == LIFETIMES["accessToken"], body


def test_consent_auto_redirects_with_a_code_at_once(fx_auto):
    fx_auto.reset()
    browser = Browser(requests.Session(), fx_auto.base_url)
    url, verifier, state = pkce_url(fx_auto.base_url)
    outcome = browser.authorize(url, login=ALICE, consent=False)
    assert outcome.location.startswith(REDIRECT + "?") and set(outcome.params) == {"code", "state"}, outcome.location
    assert outcome.params["state"] == state
    token = assert_json(exchange(fx_auto.base_url, JIRA, outcome.code, verifier), 200)["access_token"]
    assert assert_json(bearer_myself(fx_auto.base_url, token), 200)["name"] == "alice"


def test_consent_deny_refuses_every_authorize_at_once(fx_deny):
    fx_deny.reset()
    browser = Browser(requests.Session(), fx_deny.base_url)
    url, _, state = pkce_url(fx_deny.base_url)
    outcome = browser.authorize(url, consent=False)            # at once: not even a login page
    assert outcome.location.startswith(REDIRECT + "?"), outcome.location
    assert set(outcome.params) == {"error", "error_description", "state"}, outcome.location
    assert outcome.params["error"] == "access_denied" and outcome.params["state"] == state


# --------------------------------------------------------------------------------------------
# /__fixture/authorize, /__fixture/oauth1/authorize, /__fixture/tokens
# --------------------------------------------------------------------------------------------

def test_fixture_authorize_approve_and_exchange(lg):
    code, verifier = code_flow(lg, scope="READ")
    body = assert_json(exchange(lg.base_url, JIRA, code, verifier), 200)
    assert set(body) == TOKEN_KEYS and body["scope"] == "READ", body
    me = assert_json(bearer_myself(lg.base_url, body["access_token"]), 200)
    assert me["name"] == "alice" and me["auth"] == {"protocol": "oauth2", "mode": "user", "client": "jira-test",
                                                     "scope": "READ"}, me
    assert_oauth_error(exchange(lg.base_url, JIRA, code, verifier), 400, "invalid_grant")   # single use


def test_fixture_authorize_deny_scope_and_error_redirect(lg):
    url, _, state = pkce_url(lg.base_url)
    denied = lg.authorize(url, "alice", decision="deny")
    assert denied.startswith(REDIRECT + "?"), denied
    params = query_params(denied)
    assert set(params) == {"error", "error_description", "state"} and params["error"] == "access_denied", denied
    assert params["state"] == state

    # `scope` narrows what the user grants (the URL asks for the client's WRITE).
    url, verifier, _ = pkce_url(lg.base_url)
    params = query_params(lg.authorize(url, "alice", scope="READ"))
    assert assert_json(exchange(lg.base_url, JIRA, params["code"], verifier), 200)["scope"] == "READ"

    # An error §6 redirects with comes back as the redirect.
    url, _, state = pkce_url(lg.base_url, scope="NO_SUCH_SCOPE")
    params = query_params(lg.authorize(url, "alice"))
    assert params["error"] == "invalid_scope" and params["state"] == state, params


def test_fixture_authorize_invalid_requests_answer_400(lg):
    base = lg.base_url
    good, _, _ = pkce_url(base)
    cases = {
        "unknown client": (authorize_url(base, response_type="code", client_id="no-such-client",
                                         redirect_uri=REDIRECT, state="s"), "alice", None),
        "redirect mismatch": (authorize_url(base, response_type="code", client_id="jira-test",
                                            redirect_uri=REDIRECT + "/other", state="s"), "alice", None),
        "no redirect_uri": (authorize_url(base, response_type="code", client_id="jira-test", state="s"), "alice", None),
        "unknown user": (good, "nobody-here", "invalid_request"),
        "not an authorize URL": (base + "/status", "alice", None),
    }
    for name, (url, user, expected) in cases.items():
        with pytest.raises(ControlError) as raised:
            lg.authorize(url, user)
        error = raised.value
        assert error.status == 400, f"{name}: {error}"
        body = error.response.json()
        assert set(body) == {"error", "error_description"}, f"{name}: {body}"
        assert isinstance(body["error"], str) and body["error"] and isinstance(body["error_description"], str), body
        if expected:
            assert body["error"] == expected, f"{name}: {body}"
    for body in ({"user": "alice"}, {"url": good}, {"url": good, "user": "alice", "decision": "maybe"}):
        resp = lg.control("POST", "/authorize", body, expect=(400,))
        assert set(resp.json()) == {"error", "error_description"}, resp.text


def test_oauth1_flow_with_fixture_authorize(lg):
    token, _ = oauth1_request_token(lg, CALLBACK)
    result = lg.oauth1_authorize(token, "alice")
    assert set(result) == {"verifier", "redirect"}, result
    assert re.match(TOKEN_RE, result["verifier"]), result
    assert result["redirect"].startswith(CALLBACK + "?"), result
    assert query_params(result["redirect"]) == {"oauth_token": token, "oauth_verifier": result["verifier"]}, result
    resp = oauth1_exchange(lg, token, result["verifier"])
    assert resp.status_code == 200, describe(resp)
    access = form(resp)["oauth_token"]
    me = assert_json(oauth1_myself(lg, token=access), 200)
    assert me["name"] == "alice" and me["auth"]["mode"] == "user" and me["auth"]["client"] == CONSUMER_KEY, me


def test_oauth1_fixture_authorize_oob_and_deny(lg):
    token, _ = oauth1_request_token(lg, "oob")
    result = lg.oauth1_authorize(token, "alice")
    assert result["redirect"] is None and re.match(TOKEN_RE, result["verifier"] or ""), result
    assert oauth1_exchange(lg, token, result["verifier"]).status_code == 200

    token, _ = oauth1_request_token(lg, CALLBACK)
    result = lg.oauth1_authorize(token, "alice", decision="deny")
    assert set(result) == {"verifier", "redirect"}, result
    if result["redirect"] is not None:
        assert query_params(result["redirect"])["oauth_token"] == token, result
    assert_oauth_problem(oauth1_exchange(lg, token, result["verifier"] or "denied"), 401, "permission_denied",
                         lg.base_url, token_endpoint=True)


def test_minted_application_token(lg):
    body = lg.mint_tokens("robot")
    assert set(body) == TOKEN_KEYS - {"refresh_token"}, body       # refresh defaults to false
    assert body["token_type"] == "bearer" and body["expires_in"] == LIFETIMES["accessToken"], body
    assert body["scope"] == "WRITE", body
    info = introspect(lg.base_url, body["access_token"])
    assert info["active"] is True and info["client_id"] == "robot" and info["username"] is None, info
    assert info["sub"] == "robot" and info["mode"] == "application", info
    me = assert_json(bearer_myself(lg.base_url, body["access_token"]), 200)
    assert me["name"] is None and me["auth"]["mode"] == "application" and me["auth"]["client"] == "robot", me


def test_minted_user_token_scope_refresh_and_lifetime(lg):
    body = lg.mint_tokens("jira-test", user="alice", scope="READ", expires_in=120, refresh=True)
    assert set(body) == TOKEN_KEYS and body["expires_in"] == 120 and body["scope"] == "READ", body
    info = introspect(lg.base_url, body["access_token"])
    assert info["active"] and info["username"] == "alice" and info["mode"] == "user", info
    assert info["exp"] - info["iat"] == 120, info
    me = assert_json(bearer_myself(lg.base_url, body["access_token"]), 200)
    assert me["name"] == "alice" and me["auth"]["scope"] == "READ", me
    refreshed = requests.post(lg.base_url + TOKEN, auth=basic(JIRA), timeout=15,
                              data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    refreshed = assert_json(refreshed, 200)
    assert refreshed["scope"] == "READ" and refreshed["refresh_token"] != body["refresh_token"], refreshed
    assert bearer_myself(lg.base_url, refreshed["access_token"]).status_code == 200

    plain = lg.mint_tokens("jira-test", user="alice")
    assert set(plain) == TOKEN_KEYS - {"refresh_token"}, plain
    assert plain["scope"] == "WRITE" and plain["expires_in"] == LIFETIMES["accessToken"], plain


def test_minting_for_unknown_clients_or_users(lg):
    with pytest.raises(ControlError) as raised:
        lg.mint_tokens("no-such-client")
    assert (raised.value.status, raised.value.error) == (400, "invalid_client"), raised.value
    with pytest.raises(ControlError) as raised:
        lg.mint_tokens("jira-test", user="nobody-here")
    assert (raised.value.status, raised.value.error) == (400, "invalid_request"), raised.value


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------

def send_to(ctl, endpoint, user=ALICE):
    """A request that §12 files under `endpoint` → (method, path, response)."""
    base = ctl.base_url
    s = requests.Session()
    kw = {"timeout": 15, "allow_redirects": False}
    if endpoint == "authorize":
        url = authorize_url(base, response_type="code", client_id="jira-test", redirect_uri=REDIRECT, state="s")
        return "GET", AUTHORIZE, s.get(url, **kw)
    if endpoint == "token":
        return "POST", TOKEN, s.post(base + TOKEN, auth=basic(JIRA), data={"grant_type": "client_credentials"}, **kw)
    if endpoint == "revoke":
        return "POST", REVOKE, s.post(base + REVOKE, auth=basic(JIRA), data={"token": "not-a-token"}, **kw)
    if endpoint == "introspect":
        return "POST", INTROSPECT, s.post(base + INTROSPECT, auth=basic(JIRA), data={"token": "not-a-token"}, **kw)
    if endpoint == "metadata":
        return "GET", METADATA, s.get(base + METADATA, **kw)
    if endpoint == "myself":
        return "GET", MYSELF, s.get(base + MYSELF, auth=user, **kw)
    if endpoint == "oauth1-request-token":
        return "POST", REQUEST_TOKEN, signed_request_token(ctl).send(s)
    if endpoint == "oauth1-authorize":
        return "GET", AUTHORIZE1, s.get(base + AUTHORIZE1 + "?oauth_token=not-a-token", **kw)
    if endpoint == "oauth1-access-token":
        return "POST", ACCESS_TOKEN, sign(CONSUMER, CONSUMER_KEY, "POST", base + ACCESS_TOKEN, token="not-a-token",
                                          extra=[("oauth_verifier", "not-a-verifier")]).send(s)
    if endpoint == "verify":
        return "GET", VERIFY, s.get(base + VERIFY, headers={"X-Original-Method": "GET", "X-Original-URI": MYSELF}, **kw)
    if endpoint == "login":
        return "POST", "/login", s.post(base + "/login", data={"username": user[0], "password": user[1], "next": "/"}, **kw)
    raise AssertionError(endpoint)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_endpoint_is_journaled_and_can_be_faulted(lg, endpoint):
    method, path, normal = send_to(lg, endpoint)
    assert normal.status_code < 500, describe(normal)
    entries = lg.requests(endpoint=endpoint)
    assert entries, f"no journal entry for {endpoint}"
    entry = entries[-1]
    assert set(entry) == JOURNAL_KEYS, entry
    assert (entry["endpoint"], entry["method"], entry["path"].split("?")[0], entry["status"]) == \
        (endpoint, method, path, normal.status_code), entry

    lg.add_fault(endpoint, status=503, body=f"injected at {endpoint}", content_type="text/plain")
    _, _, faulted = send_to(lg, endpoint)
    assert faulted.status_code == 503 and faulted.text == f"injected at {endpoint}", describe(faulted)
    assert faulted.headers.get("Content-Type", "").startswith("text/plain"), describe(faulted)
    _, _, after = send_to(lg, endpoint)
    assert after.status_code == normal.status_code, describe(after)


def test_fault_with_only_an_error_answers_400_json(lg):
    fault = lg.add_fault("token", error="temporarily_unavailable", error_description="injected by the test")
    assert isinstance(fault, str) and fault, fault
    resp = client_credentials(lg.base_url, JIRA)
    assert resp.status_code == 400, describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("application/json"), describe(resp)
    assert resp.json() == {"error": "temporarily_unavailable", "error_description": "injected by the test"}
    assert client_credentials(lg.base_url, JIRA).status_code == 200      # times defaults to 1


def test_fault_with_status_body_and_content_type(lg):
    lg.add_fault("metadata", status=502, body="<h1>bad gateway</h1>", content_type="text/html")
    resp = requests.get(lg.base_url + METADATA, timeout=15)
    assert resp.status_code == 502 and resp.text == "<h1>bad gateway</h1>", describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("text/html"), describe(resp)
    assert assert_json(requests.get(lg.base_url + METADATA, timeout=15), 200)["issuer"] == lg.base_url


def test_fault_delay_slows_the_normal_answer(lg):
    def timed():
        t0 = time.perf_counter()
        resp = requests.get(lg.base_url + METADATA, timeout=15)
        return time.perf_counter() - t0, resp
    baseline = max(timed()[0] for _ in range(3))
    lg.add_fault("metadata", delay_ms=800)
    elapsed, resp = timed()
    assert elapsed >= 0.8, f"answered after {elapsed:.3f} s"
    assert assert_json(resp, 200)["issuer"] == lg.base_url       # the normal answer, only later
    after, _ = timed()
    assert after < 0.8 and baseline < 0.8, (baseline, after)


def test_fault_drop_closes_the_connection(lg):
    lg.add_fault("token", drop=True)
    with pytest.raises(requests.ConnectionError):
        client_credentials(lg.base_url, JIRA)
    assert client_credentials(lg.base_url, JIRA).status_code == 200


def test_fault_times(lg):
    lg.add_fault("introspect", times=2, status=503, error="temporarily_unavailable")
    for _ in range(2):
        resp = requests.post(lg.base_url + INTROSPECT, auth=basic(JIRA), data={"token": "x"}, timeout=15)
        assert resp.status_code == 503, describe(resp)
        # §1: an error body carries both keys; a description nobody gave is null.
        assert resp.json() == {"error": "temporarily_unavailable", "error_description": None}, describe(resp)
    assert introspect(lg.base_url, "x") == {"active": False}


def test_fault_match_by_client_and_grant_type(lg):
    minted = lg.mint_tokens("jira-test", user="alice", refresh=True)
    lg.add_fault("token", match={"client_id": "jira-test", "grant_type": "client_credentials"}, status=503,
                 error="temporarily_unavailable")
    assert client_credentials(lg.base_url, OTHER).status_code == 200            # another client
    refreshed = requests.post(lg.base_url + TOKEN, auth=basic(JIRA), timeout=15,   # another grant
                              data={"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]})
    assert refreshed.status_code == 200, describe(refreshed)
    faulted = client_credentials(lg.base_url, JIRA)
    assert faulted.status_code == 503 and faulted.json()["error"] == "temporarily_unavailable", describe(faulted)
    assert client_credentials(lg.base_url, JIRA).status_code == 200


def test_fault_match_by_user(lg):
    _, _, normal = send_to(lg, "login", user=ALICE)
    lg.add_fault("login", match={"user": "bob"}, status=503, body="no bob today", content_type="text/plain")
    _, _, alice = send_to(lg, "login", user=ALICE)
    assert alice.status_code == normal.status_code, describe(alice)
    _, _, bob = send_to(lg, "login", user=BOB)
    assert bob.status_code == 503 and bob.text == "no bob today", describe(bob)


def test_faults_list_and_delete(lg):
    first = lg.add_fault("metadata", status=503, body="first", content_type="text/plain", times=5)
    second = lg.add_fault("introspect", error="temporarily_unavailable", times=5)
    assert first != second and all(isinstance(i, str) for i in (first, second))
    listed = {f["id"]: f for f in lg.faults()}
    assert set(listed) == {first, second}, listed
    assert listed[first]["endpoint"] == "metadata" and listed[second]["endpoint"] == "introspect", listed

    lg.clear_faults(first)
    assert [f["id"] for f in lg.faults()] == [second]
    assert requests.get(lg.base_url + METADATA, timeout=15).status_code == 200
    lg.clear_faults()
    assert lg.faults() == []
    assert introspect(lg.base_url, "x") == {"active": False}

    with pytest.raises(ControlError) as raised:
        lg.add_fault("no-such-endpoint", status=503)
    assert raised.value.status == 400, raised.value


# --------------------------------------------------------------------------------------------
# Journal
# --------------------------------------------------------------------------------------------

def test_journal_fields_and_filters(lg):
    at = lg.set_clock(2_000_000_000)
    assert client_credentials(lg.base_url, JIRA).status_code == 200
    assert requests.get(lg.base_url + MYSELF, auth=ALICE, timeout=15).status_code == 200
    assert requests.get(lg.base_url + "/status?journal-marker=1", timeout=15).status_code == 200
    entries = lg.requests()
    for entry in entries:
        assert set(entry) == JOURNAL_KEYS, entry
        assert isinstance(entry["id"], int) and isinstance(entry["time"], int), entry
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids

    token = [e for e in entries if e["endpoint"] == "token"][-1]
    assert token["method"] == "POST" and token["path"] == TOKEN and token["status"] == 200, token
    assert token["clientId"] == "jira-test" and token["grantType"] == "client_credentials", token
    assert token["oauth1"] is None and at <= token["time"] <= at + 60, token
    myself = [e for e in entries if e["endpoint"] == "myself"][-1]
    assert (myself["method"], myself["path"], myself["status"], myself["user"]) == ("GET", MYSELF, 200, "alice"), myself
    assert myself["clientId"] is None and myself["grantType"] is None and myself["oauth1"] is None, myself
    status = [e for e in entries if e["path"].startswith("/status")][-1]
    assert status["endpoint"] is None and status["status"] == 200, status

    only_tokens = lg.requests(endpoint="token")
    assert only_tokens and all(e["endpoint"] == "token" for e in only_tokens), only_tokens
    assert [e["id"] for e in only_tokens] == [e["id"] for e in entries if e["endpoint"] == "token"]

    later = lg.requests(since=token["id"])
    assert all(e["id"] > token["id"] for e in later), later
    expected = [e["id"] for e in entries if e["id"] > token["id"]]
    assert [e["id"] for e in later][:len(expected)] == expected, (later, expected)
    assert [e["id"] for e in lg.requests(endpoint="myself", since=token["id"])] == [myself["id"]]


def test_journal_never_shows_secrets(lg):
    base = lg.base_url
    used = [JIRA["clientSecret"], ALICE[1], BOB[1], ROOT[1], lg.control_token]
    # OAuth 2.0 through the browser: password, session cookie, code, verifier, tokens.
    browser = Browser(requests.Session(), base)
    url, verifier, _ = pkce_url(base)
    code = browser.authorize(url, login=ALICE).code
    used += [code, verifier, browser.s.cookies.get("linkgate_session")]
    tokens = assert_json(exchange(base, JIRA, code, verifier, post=True), 200)        # client_secret_post
    refreshed = assert_json(requests.post(base + TOKEN, auth=basic(JIRA), timeout=15, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}), 200)
    used += [tokens["access_token"], tokens["refresh_token"], refreshed["access_token"], refreshed["refresh_token"]]
    introspect(base, refreshed["access_token"])
    assert bearer_myself(base, refreshed["access_token"]).status_code == 200
    # Secrets where they do not belong: in paths and queries.
    requests.get(base + MYSELF + "?access_token=" + refreshed["access_token"], timeout=15)
    requests.post(f"{base}{TOKEN}?client_id=jira-test&client_secret={quote(JIRA['clientSecret'])}&code={code}",
                  data={"grant_type": "client_credentials"}, timeout=15)
    requests.post(base + REVOKE, auth=basic(JIRA), data={"token": refreshed["access_token"]}, timeout=15)
    requests.get(base + MYSELF, auth=("bob", BOB[1] + "-wrong"), timeout=15)
    used.append(BOB[1] + "-wrong")
    minted = lg.mint_tokens("jira-test", user="bob", refresh=True)
    used += [minted["access_token"], minted["refresh_token"]]
    # OAuth 1.0a: request token and secret, verifier, access token and secret.
    request_token, request_secret = oauth1_request_token(lg, CALLBACK)
    requests.get(f"{base}{AUTHORIZE1}?oauth_token={request_token}", allow_redirects=False, timeout=15)
    verifier1 = lg.oauth1_authorize(request_token, "alice")["verifier"]
    access = form(oauth1_exchange(lg, request_token, verifier1))
    assert oauth1_myself(lg, token=access["oauth_token"]).status_code == 200
    used += [request_token, request_secret, verifier1, access["oauth_token"], access["oauth_token_secret"],
             access["oauth_session_handle"]]

    raw = lg.control("GET", "/requests").text
    assert json.loads(raw), raw
    log = lg.log_text()                     # §1: nor in the server's log
    for value in used:
        assert value and len(value) >= 8, used
        for form_of_value in {value, quote(value, safe=""), quote(quote(value, safe=""), safe="")}:
            assert form_of_value not in raw, f"{value[:6]}… appears in the journal"
            assert form_of_value not in log, f"{value[:6]}… appears in the server log"


def test_journal_oauth1_base_strings(lg):
    good = sign(CONSUMER, CONSUMER_KEY, "GET", lg.base_url + MYSELF)
    assert good.send(requests.Session()).status_code == 200
    bad = sign(CONSUMER, CONSUMER_KEY, "GET", lg.base_url + MYSELF, signature=bad_signature())
    assert bad.send(requests.Session()).status_code == 401
    entries = lg.requests(endpoint="myself")
    assert entries[-2]["oauth1"] == {"baseString": good.base_string, "signatureValid": True}, entries[-2]
    assert entries[-1]["oauth1"] == {"baseString": bad.base_string, "signatureValid": False}, entries[-1]

    # 3LO: the token and the verifier are masked inside the base strings.
    request_token, _ = oauth1_request_token(lg, CALLBACK)
    verifier = lg.oauth1_authorize(request_token, "alice")["verifier"]
    access = form(oauth1_exchange(lg, request_token, verifier))["oauth_token"]
    three = sign(CONSUMER, CONSUMER_KEY, "GET", lg.base_url + MYSELF, token=access)
    assert three.send(requests.Session()).status_code == 200
    entry = lg.requests(endpoint="myself")[-1]["oauth1"]
    assert entry["signatureValid"] is True, entry
    assert access not in entry["baseString"] and "oauth_token" in entry["baseString"], entry
    assert entry["baseString"].split("&")[:2] == three.base_string.split("&")[:2], entry
    exchanged = lg.requests(endpoint="oauth1-access-token")[-1]["oauth1"]
    assert exchanged["signatureValid"] is True, exchanged
    for secret in (request_token, verifier):
        assert secret not in exchanged["baseString"], exchanged
    assert "oauth_verifier" in exchanged["baseString"], exchanged


def test_refused_signature_answers_the_base_string_in_fixture_mode_only(lg, base_url, admin_auth):
    bad = signed_request_token(lg, signature=bad_signature())
    resp = bad.send(requests.Session())
    _, body = assert_oauth_problem(resp, 401, "signature_invalid", lg.base_url, token_endpoint=True)
    assert body.get("oauth_signature_base_string") == bad.base_string, body

    # On a REST resource the base string comes back too (in the JSON problem body or the challenge).
    bad = sign(CONSUMER, CONSUMER_KEY, "GET", lg.base_url + MYSELF, signature=bad_signature())
    resp = bad.send(requests.Session())
    assert resp.status_code == 401, describe(resp)
    _, challenge = parse_challenge(resp.headers["WWW-Authenticate"])
    assert challenge["oauth_problem"] == "signature_invalid", describe(resp)
    given = resp.json().get("oauth_signature_base_string") or challenge.get("oauth_signature_base_string")
    assert given == bad.base_string, describe(resp)

    # `serve` never gives it.
    key = "fixture-suite-" + secrets.token_hex(4)
    created = requests.post(base_url + CONSUMERS, auth=admin_auth, timeout=15,
                            json={"key": key, "name": key, "publicKey": CONSUMER.public_pem, "twoLeggedAllowed": True})
    assert created.status_code == 201, describe(created)
    for method, path, extra in (("POST", REQUEST_TOKEN, [("oauth_callback", "oob")]), ("GET", MYSELF, [])):
        resp = sign(CONSUMER, key, method, base_url + path, extra=extra, signature=bad_signature()).send(requests.Session())
        assert resp.status_code == 401 and "signature_invalid" in resp.headers.get("WWW-Authenticate", ""), describe(resp)
        assert "oauth_signature_base_string" not in resp.text + resp.headers.get("WWW-Authenticate", ""), describe(resp)


# --------------------------------------------------------------------------------------------
# Clock
# --------------------------------------------------------------------------------------------

def test_clock_get_set_advance(lg):
    raw = lg.control("GET", "/clock").json()
    assert set(raw) == {"now"} and isinstance(raw["now"], int), raw
    assert abs(raw["now"] - time.time()) < 5, raw
    target = 2_100_000_000
    answer = lg.control("POST", "/clock", {"set": target}).json()
    assert set(answer) == {"now"} and target <= answer["now"] <= target + 2, answer
    assert target + 3600 <= lg.advance(3600) <= target + 3605
    assert target - 3600 <= lg.advance(-7200) <= target - 3595
    time.sleep(1.2)
    assert lg.clock() >= target - 3600 + 1            # it keeps running from where it was set
    for body in ({"set": "soon"}, {"advance": "x"}, {}, {"rewind": 5}):
        lg.control("POST", "/clock", body, expect=(400,))


def test_seed_now_starts_the_clock_and_reset_restores_it(fx_auto):
    assert SEED_NOW <= fx_auto.clock_at_start <= SEED_NOW + 10, fx_auto.clock_at_start
    fx_auto.advance(5000)
    fx_auto.reset()
    assert SEED_NOW <= fx_auto.clock() <= SEED_NOW + 10
    minted = fx_auto.mint_tokens("jira-test", user="alice")
    info = introspect(fx_auto.base_url, minted["access_token"])
    assert SEED_NOW <= info["iat"] <= SEED_NOW + 10 and info["exp"] == info["iat"] + 3600, info


def test_code_expires_when_the_clock_passes_its_lifetime(lg):
    code, verifier = code_flow(lg)
    lg.advance(LIFETIMES["code"] - 30)
    assert exchange(lg.base_url, JIRA, code, verifier).status_code == 200       # still alive
    code, verifier = code_flow(lg)
    lg.advance(LIFETIMES["code"] + 1)
    assert_oauth_error(exchange(lg.base_url, JIRA, code, verifier), 400, "invalid_grant")


def test_access_token_expires_with_the_clock(lg):
    token = lg.mint_tokens("jira-test", user="alice")["access_token"]
    info = introspect(lg.base_url, token)
    assert info["active"] and info["exp"] - info["iat"] == LIFETIMES["accessToken"], info
    lg.advance(LIFETIMES["accessToken"] - 60)
    assert introspect(lg.base_url, token)["active"] is True
    lg.advance(61)
    assert introspect(lg.base_url, token) == {"active": False}
    assert bearer_myself(lg.base_url, token).status_code == 401


def test_refresh_token_expires_with_the_clock(lg):
    minted = lg.mint_tokens("jira-test", user="alice", refresh=True)
    lg.advance(LIFETIMES["refreshToken"] + 1)
    refresh = requests.post(lg.base_url + TOKEN, auth=basic(JIRA), timeout=15,
                            data={"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]})
    assert_oauth_error(refresh, 400, "invalid_grant")


def test_oauth1_request_token_expires_with_the_clock(lg):
    token, _ = oauth1_request_token(lg, CALLBACK)
    lg.advance(601)                                        # request tokens live 600 s (§7)
    with pytest.raises(ControlError) as raised:
        lg.oauth1_authorize(token, "alice")
    assert raised.value.status == 400, raised.value


def test_lockout_back_off_follows_the_clock(lg):
    for _ in range(5):
        assert requests.get(lg.url(MYSELF), auth=("bob", "wrong-" + secrets.token_hex(4)), timeout=15).status_code == 401
    assert requests.get(lg.url(MYSELF), auth=BOB, timeout=15).status_code == 429
    lg.advance(61)                                         # the first back-off is 60 s (§10)
    assert requests.get(lg.url(MYSELF), auth=BOB, timeout=15).status_code == 200


def test_oauth1_timestamp_window_follows_the_clock(lg):
    assert oauth1_myself(lg).status_code == 200
    for offset in (86400, -86400):
        lg.reset()
        now = lg.advance(offset)
        resp = oauth1_myself(lg)            # timestamp: real time, a day off the server's clock
        params, _ = assert_oauth_problem(resp, 400, "timestamp_refused", lg.base_url, oauth_acceptable_timestamps=...)
        low, high = (int(x) for x in params["oauth_acceptable_timestamps"].split("-"))
        assert high - low == 600 and abs(low - (now - 300)) <= 5, params
        assert oauth1_myself(lg, timestamp=lg.clock()).status_code == 200       # the server's time is accepted
    lg.reset()
    assert oauth1_myself(lg).status_code == 200


def test_audit_entries_use_the_fixture_clock(lg):
    at = lg.set_clock(2_200_000_000)
    assert client_credentials(lg.base_url, ROBOT).status_code == 200      # a 2-legged token issue is audited
    entries = assert_json(requests.get(lg.base_url + AUDIT, auth=ROOT, params={"limit": 5}, timeout=15), 200)["entries"]
    assert entries and at <= entries[0]["time"] <= at + 60, entries


# --------------------------------------------------------------------------------------------
# Reset
# --------------------------------------------------------------------------------------------

def test_reset_clears_everything_but_the_seed_and_is_fast(lg, capsys):
    base = lg.base_url
    browser = Browser(requests.Session(), base)
    url, _, _ = pkce_url(base)
    browser.authorize(url, login=ALICE, consent=True)
    url, _, _ = pkce_url(base)
    browser.authorize(url, consent=False)                            # logged in, consent remembered
    minted = lg.mint_tokens("jira-test", user="alice", refresh=True)
    code, verifier = code_flow(lg)
    for _ in range(5):
        assert requests.get(base + MYSELF, auth=("bob", "wrong-" + secrets.token_hex(4)), timeout=15).status_code == 401
    assert requests.get(base + MYSELF, auth=BOB, timeout=15).status_code == 429          # locked out
    replayed = sign(CONSUMER, CONSUMER_KEY, "GET", base + MYSELF)
    assert replayed.send(requests.Session()).status_code == 200
    assert replayed.send(requests.Session()).status_code == 401                          # nonce spent
    lg.add_fault("metadata", status=503, body="down", content_type="text/plain", times=5)
    requests.get(base + "/status?before-reset-marker=1", timeout=15)
    created = requests.post(base + USERS, auth=ROOT, json={"name": "temp-user", "password": "temp-pass-0123456"},
                            timeout=15)
    assert created.status_code == 201, describe(created)
    lg.set_clock(2_300_000_000)

    durations = []
    for _ in range(5):
        t0 = time.perf_counter()
        lg.reset()
        durations.append((time.perf_counter() - t0) * 1000)

    assert introspect(base, minted["access_token"]) == {"active": False}
    refresh = requests.post(base + TOKEN, auth=basic(JIRA), timeout=15,
                            data={"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]})
    assert_oauth_error(refresh, 400, "invalid_grant")
    assert_oauth_error(exchange(base, JIRA, code, verifier), 400, "invalid_grant")
    url, _, _ = pkce_url(base)
    browser.authorize(url, login=ALICE, consent=True)      # session gone (login again), consent asked again
    assert requests.get(base + MYSELF, auth=BOB, timeout=15).status_code == 200           # lockout lifted
    assert replayed.send(requests.Session()).status_code == 200                           # nonces forgotten
    assert lg.faults() == [] and requests.get(base + METADATA, timeout=15).status_code == 200
    assert not [e for e in lg.requests() if "before-reset-marker" in e["path"]]
    assert requests.get(base + MYSELF, auth=("temp-user", "temp-pass-0123456"), timeout=15).status_code == 401
    assert requests.get(base + USERS + "/temp-user", auth=ROOT, timeout=15).status_code == 404
    assert abs(lg.clock() - time.time()) < 5
    # The seed is still there.
    assert client_credentials(base, JIRA).status_code == 200
    assert requests.get(base + MYSELF, auth=ALICE, timeout=15).status_code == 200
    assert oauth1_myself(lg).status_code == 200

    report(capsys, f"fixture reset: median {statistics.median(durations):.1f} ms, max {max(durations):.1f} ms "
                   f"({len(durations)} resets)")
    assert max(durations) < 1000, durations


# --------------------------------------------------------------------------------------------
# Sandboxes
# --------------------------------------------------------------------------------------------

def sandbox_seed(i):
    client = {"clientId": "sb-app", "clientSecret": f"sb-app-secret-{i}-0123456789"}
    return client, {"users": [{"name": "carol", "password": f"carol-pass-{i}-0123"}],
                    "clients": [client_entry(client, "Sandbox App")],
                    "consumers": [{"key": CONSUMER_KEY, "name": "Sandbox Consumer", "publicKey": CONSUMER.public_pem,
                                   "twoLeggedAllowed": True}]}


def test_sandbox_has_its_own_everything_and_is_gone_after_delete(lg):
    client, config = sandbox_seed(0)
    created = lg.control("POST", "/sandboxes", {"config": config}, expect=(201,)).json()
    assert set(created) == {"id", "baseUrl"}, created
    assert created["baseUrl"] == f"{lg.base_url}/s/{created['id']}", created
    sb = Sandbox(lg, created["id"], created["baseUrl"])
    carol = ("carol", "carol-pass-0-0123")
    try:
        assert requests.get(sb.url("/status"), timeout=15).json() == {"state": "RUNNING"}
        # Users and clients: seeded from its config, not the parent's.
        assert assert_json(requests.get(sb.url(MYSELF), auth=carol, timeout=15), 200)["name"] == "carol"
        assert requests.get(lg.url(MYSELF), auth=carol, timeout=15).status_code == 401
        assert requests.get(sb.url(MYSELF), auth=ALICE, timeout=15).status_code == 401
        assert client_credentials(sb.base_url, client).status_code == 200
        assert client_credentials(lg.base_url, client).status_code == 401
        assert client_credentials(sb.base_url, JIRA).status_code == 401
        metadata = assert_json(requests.get(sb.url(METADATA), timeout=15), 200)
        assert metadata["issuer"] == sb.base_url and metadata["token_endpoint"] == sb.url(TOKEN), metadata
        page = requests.get(sb.url("/login"), timeout=15)
        assert page.status_code == 200 and banner_shown(page), page.text[:300]
        # OAuth 1.0a under the sandbox's base (its base-string URI) and its own login page.
        me = assert_json(oauth1_myself(sb), 200)
        assert me["auth"]["mode"] == "application" and me["auth"]["client"] == CONSUMER_KEY, me
        url, _, _ = pkce_url(sb.base_url, client)
        to_login = requests.get(url, allow_redirects=False, timeout=15)
        assert to_login.status_code == 303, describe(to_login)
        assert urljoin(url, to_login.headers["Location"]).startswith(sb.url("/login?next=")), describe(to_login)
        # Clock.
        sb.set_clock(2_000_000_000)
        assert abs(lg.clock() - time.time()) < 5
        lg.set_clock(2_100_000_000)
        assert 2_000_000_000 <= sb.clock() <= 2_000_000_060
        # Faults.
        fault = sb.add_fault("metadata", status=503, body="sandbox down", content_type="text/plain")
        assert fault in [f["id"] for f in sb.faults()] and fault not in [f["id"] for f in lg.faults()]
        assert requests.get(lg.url(METADATA), timeout=15).status_code == 200
        assert requests.get(sb.url(METADATA), timeout=15).status_code == 503
        # Journal.
        sb_tokens = sb.requests(endpoint="token")
        assert [e for e in sb_tokens if e["clientId"] == "sb-app" and e["status"] == 200], sb_tokens
        parent = lg.requests()
        assert not [e for e in parent if e["clientId"] == "sb-app" and e["status"] == 200], parent
        assert not [e for e in parent if e["path"].startswith("/s/")], parent
        # Tokens, and a sandbox reset leaves the parent alone.
        sb_token = sb.mint_tokens("sb-app", user="carol")["access_token"]
        parent_token = lg.mint_tokens("jira-test", user="alice")["access_token"]
        assert introspect(sb.base_url, sb_token, client)["active"] is True
        assert introspect(lg.base_url, sb_token) == {"active": False}
        sb.reset()
        assert introspect(sb.base_url, sb_token, client) == {"active": False}
        assert introspect(lg.base_url, parent_token)["active"] is True
    finally:
        sb.delete()
    assert requests.get(sb.url("/status"), timeout=15).status_code == 404
    assert requests.get(sb.url(MYSELF), auth=carol, timeout=15).status_code == 404
    sb.control("GET", "/clock", expect=(404,))
    lg.control("DELETE", f"/sandboxes/{sb.id}", expect=(404,))


def test_sandbox_config_sets_its_consent_mode_clock_and_lifetimes(lg):
    client, config = sandbox_seed(1)
    sb = lg.sandbox({**config, "consent": "deny", "now": SEED_NOW, "lifetimes": {"accessToken": 300}})
    try:
        assert SEED_NOW <= sb.clock() <= SEED_NOW + 10
        assert abs(lg.clock() - time.time()) < 5
        url, _, state = pkce_url(sb.base_url, client)
        denied = requests.get(url, allow_redirects=False, timeout=15)
        assert denied.status_code == 303 and denied.headers["Location"].startswith(REDIRECT + "?"), describe(denied)
        assert query_params(denied.headers["Location"])["error"] == "access_denied"
        assert sb.mint_tokens("sb-app", user="carol")["expires_in"] == 300
        assert lg.mint_tokens("jira-test", user="alice")["expires_in"] == LIFETIMES["accessToken"]
    finally:
        sb.delete()


def test_eight_sandboxes_run_authorization_code_flows_in_parallel(lg, capsys):
    barrier = threading.Barrier(8)

    def flow(i):
        client, config = sandbox_seed(i)
        sb = lg.sandbox(config)
        barrier.wait(30)
        t0 = time.perf_counter()
        url, verifier, state = pkce_url(sb.base_url, client)
        redirect = sb.authorize(url, "carol")
        params = query_params(redirect)
        assert redirect.startswith(REDIRECT + "?") and params["state"] == state, redirect
        tokens = assert_json(exchange(sb.base_url, client, params["code"], verifier), 200)
        me = assert_json(bearer_myself(sb.base_url, tokens["access_token"]), 200)
        assert me["name"] == "carol" and me["auth"]["client"] == "sb-app", me
        info = introspect(sb.base_url, tokens["access_token"], client)
        assert info["active"] and info["username"] == "carol", info
        return sb, client, tokens, time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(flow, range(8)))
    elapsed = time.perf_counter() - t0
    try:
        assert len({sb.id for sb, *_ in results}) == 8
        for i, (sb, client, tokens, _) in enumerate(results):
            other_sb, other_client, _, _ = results[(i + 1) % 8]
            # Same client id everywhere, but each sandbox knows only its own secret and tokens.
            assert introspect(other_sb.base_url, tokens["access_token"], other_client) == {"active": False}
            assert bearer_myself(other_sb.base_url, tokens["access_token"]).status_code == 401
            assert client_credentials(other_sb.base_url, client).status_code == 401
            assert introspect(sb.base_url, tokens["access_token"], client)["active"] is True
    finally:
        for sb, *_ in results:
            sb.delete()
    flows = sorted(r[3] * 1000 for r in results)
    report(capsys, f"8 sandboxes, parallel PKCE flows: {elapsed * 1000:.0f} ms in all (create + flow), "
                   f"flows {flows[0]:.0f}–{flows[-1]:.0f} ms")
