"""Linkgate's verify endpoint behind a REAL nginx, configured by the shipped example (INTERFACE.md §8).

The shipped server block, Resources/nginx/linkgate-auth-request.conf, is copied into a temporary nginx
prefix with only its addresses rewritten (plain string replacement of `127.0.0.1:8080` → the running
Linkgate, `127.0.0.1:9000` → a tiny upstream in a thread, `listen 8081` → a free loopback port), and
included from a generated nginx.conf (pid, logs and temp paths in the temporary prefix, `daemon off;`,
run as the current user). A second copy differs only by its documented optional line, enabled:
`proxy_set_header X-Linkgate-Require-Scope WRITE;`.

The upstream answers every request with the X-Linkgate-* headers it received, as JSON, so each test
sees exactly what the protected application would see. Clients: plain requests with Bearer tokens
(client_credentials and RFC 7523 jwt-bearer) and requests-oauthlib's OAuth1 (RSA-SHA1) signing the
nginx URL. nginx missing is a failure, never a skip.
"""
import json
import grp
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_RSA
from requests_oauthlib import OAuth1

from conftest import REPO_ROOT
from daemon_support import free_port, private_daemon
from oauth1_support import CONSUMERS, new_rsa_key, parse_challenge
from oauth_support import (REVOKE, TOKEN, USERS, VERIFY, assert_json, assertion_claims, describe,
                           jwt_bearer_data, signed_assertion, uniq)

SHIPPED_CONF = REPO_ROOT / "Resources" / "nginx" / "linkgate-auth-request.conf"
REQUIRE_SCOPE_LINE = "# proxy_set_header X-Linkgate-Require-Scope WRITE;"
LINKGATE_HEADERS = ("x-linkgate-user", "x-linkgate-client", "x-linkgate-scope", "x-linkgate-mode")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def find_nginx():
    candidates = [os.environ.get("NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("nginx is required for the auth_request suite but was not found (looked at $NGINX, PATH and "
                "/usr/sbin/nginx). Install it: `apt-get install nginx` (scripts/install-test-deps does this).")


# --------------------------------------------------------------------------------------------
# The protected application: echoes the identity headers it received
# --------------------------------------------------------------------------------------------

class Upstream:
    def __init__(self):
        self.hits = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = {name: self.headers.get_all(name) for name in LINKGATE_HEADERS if self.headers.get_all(name)}
                record = {"method": self.command, "path": self.path, "linkgate": seen,
                          "authorization": self.headers.get("Authorization"), "body": body.decode("utf-8", "replace")}
                hits.append(record)
                payload = json.dumps(record).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer  # noqa: N815 - http.server API

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        host, port = self.httpd.server_address[:2]
        return f"{host}:{port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------------------------
# nginx with the shipped configuration
# --------------------------------------------------------------------------------------------

class Nginx:
    def __init__(self, process, prefix, port, scoped_port, error_log):
        self.process = process
        self.prefix = prefix
        self.url = f"http://127.0.0.1:{port}"
        self.scoped_url = f"http://127.0.0.1:{scoped_port}"
        self.error_log = error_log

    def error_log_text(self):
        return self.error_log.read_text(encoding="utf-8", errors="replace") if self.error_log.exists() else ""


def rewrite_shipped(text, linkgate, app, port):
    """The shipped file with its three addresses replaced by plain string replacement (each must occur once)."""
    for needle in ("127.0.0.1:8080", "127.0.0.1:9000", "listen 8081"):
        count = text.count(needle)
        if count != 1:
            pytest.fail(f"{SHIPPED_CONF} should contain {needle!r} exactly once (found {count}); update this suite")
    return (text.replace("127.0.0.1:8080", linkgate)
                .replace("127.0.0.1:9000", app)
                .replace("listen 8081", f"listen 127.0.0.1:{port}"))


def require_scope_variant(site, port, scoped_port):
    """The same server block with its optional X-Linkgate-Require-Scope line enabled, on another port. Its
    upstream lines are dropped (the first copy already defines `linkgate` and `app`)."""
    if site.count(REQUIRE_SCOPE_LINE) != 1:
        pytest.fail(f"{SHIPPED_CONF} no longer has the line {REQUIRE_SCOPE_LINE!r}; update this suite")
    lines = [line for line in site.splitlines() if not line.lstrip().startswith("upstream ")]
    return ("\n".join(lines).replace(REQUIRE_SCOPE_LINE, REQUIRE_SCOPE_LINE.lstrip("# "))
            .replace(f"listen 127.0.0.1:{port}", f"listen 127.0.0.1:{scoped_port}") + "\n")


@pytest.fixture(scope="module")
def upstream():
    app = Upstream()
    yield app
    app.close()


@pytest.fixture(scope="module")
def nginx(server, upstream, tmp_path_factory):
    binary = find_nginx()
    if not SHIPPED_CONF.is_file():
        pytest.fail(f"the shipped nginx example is missing: {SHIPPED_CONF}")
    prefix = tmp_path_factory.mktemp("nginx")
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir()
    linkgate = urlsplit(server.base_url).netloc
    port, scoped_port = free_port(), free_port()
    site = rewrite_shipped(SHIPPED_CONF.read_text(encoding="utf-8"), linkgate, upstream.address, port)
    (prefix / "linkgate-auth-request.conf").write_text(site, encoding="utf-8")
    (prefix / "linkgate-auth-request-write.conf").write_text(require_scope_variant(site, port, scoped_port),
                                                             encoding="utf-8")
    error_log = prefix / "logs" / "error.log"
    user_line = ""
    if os.geteuid() == 0:
        # A root master would hand the workers to `nobody`; keep them as the current user.
        user_line = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};\n"
    temp = prefix / "temp"
    conf = prefix / "nginx.conf"
    conf.write_text(f"""# generated by scripts/e2e/test_nginx.py
{user_line}daemon off;
master_process on;
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {error_log} info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / 'logs' / 'access.log'};
    client_body_temp_path {temp / 'client_body'};
    proxy_temp_path {temp / 'proxy'};
    fastcgi_temp_path {temp / 'fastcgi'};
    uwsgi_temp_path {temp / 'uwsgi'};
    scgi_temp_path {temp / 'scgi'};
    include {prefix / 'linkgate-auth-request.conf'};
    include {prefix / 'linkgate-auth-request-write.conf'};
}}
""", encoding="utf-8")
    command = [binary, "-e", str(error_log), "-p", str(prefix), "-c", str(conf)]
    check = subprocess.run(command + ["-t"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        pytest.fail(f"nginx -t refused the configuration built from {SHIPPED_CONF}:\n{check.stdout}{check.stderr}\n"
                    f"--- nginx.conf ---\n{conf.read_text()}\n--- site ---\n{site}")
    # Graceful stop of the master we started: SIGQUIT.
    with private_daemon("nginx", command, prefix / "logs" / "stdout.log", [port, scoped_port], signal.SIGQUIT,
                        start_timeout=START_TIMEOUT, stop_timeout=STOP_TIMEOUT,
                        describe_failure=lambda: error_log.read_text(errors="replace")) as process:
        yield Nginx(process, prefix, port, scoped_port, error_log)


@pytest.fixture(scope="module")
def web():
    """The protected application's callers. Deliberately not hooked to the suite's recorder: nginx's own answers
    (a 500 when verify answers something auth_request cannot use) are asserted here, and must not be counted as
    Linkgate 5xx by the other modules' final checks."""
    session = requests.Session()
    yield session
    session.close()


@pytest.fixture(scope="module")
def keys():
    return new_rsa_key()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def through(web, nginx_url, path="/app/resource?x=1", method="GET", **kw):
    kw.setdefault("timeout", 15)
    kw.setdefault("allow_redirects", False)
    return web.request(method, nginx_url + path, **kw)


def seen_by_app(resp, upstream, path="/app/resource?x=1", method="GET"):
    """200 from the application itself: the X-Linkgate-* headers it received, each given exactly once."""
    body = assert_json(resp, 200)
    assert body == upstream.hits[-1], "the answer did not come from the upstream"
    assert body["method"] == method and body["path"] == path, body
    for name, values in body["linkgate"].items():
        assert len(values) == 1, f"{name} reached the application {len(values)} times: {values}"
    return {name: values[0] for name, values in body["linkgate"].items()}


def challenges(resp):
    """The WWW-Authenticate header lines of a response, as sent (not joined)."""
    return resp.raw.headers.getlist("WWW-Authenticate")


def assert_nginx_401(resp, upstream, hits_before, scheme, **params):
    """401 from nginx (the application never reached), carrying Linkgate's challenge: the scheme and, for OAuth
    problems, the oauth_problem. (How many times the line is repeated is checked on its own below.)"""
    assert resp.status_code == 401, describe(resp)
    assert len(upstream.hits) == hits_before, "a refused request reached the application"
    lines = challenges(resp)
    assert lines, f"no WWW-Authenticate from nginx: {describe(resp)}"
    distinct = set(lines)
    assert len(distinct) == 1, f"conflicting challenges: {lines}"
    got_scheme, got = parse_challenge(lines[0])
    assert got_scheme == scheme, lines
    for name, value in params.items():
        assert got.get(name) == value, (name, lines)
    assert resp.json() == {"error": "unauthorized", "error_description": "valid Linkgate credentials are required"}
    return lines


def client_credentials(admin, recorder, scope="WRITE", **extra):
    client = admin.create_client([], scope=scope, **extra)
    resp = admin.request("POST", TOKEN, auth=(client["clientId"], client["clientSecret"]),
                         data={"grant_type": "client_credentials"})
    token = assert_json(resp, 200)["access_token"]
    recorder.add_secret(token)
    return client, token


def oauth1(key, keys):
    return OAuth1(key, signature_method=SIGNATURE_RSA, rsa_key=keys.private_pem)


# --------------------------------------------------------------------------------------------
# (a) Bearer tokens from client_credentials
# --------------------------------------------------------------------------------------------

def test_application_token_passes_and_forged_identity_headers_are_dropped(nginx, upstream, web, admin, recorder):
    client, token = client_credentials(admin, recorder)
    resp = through(web, nginx.url, headers={
        "Authorization": f"Bearer {token}",
        # A caller trying to pass itself off as someone else: nginx must overwrite / drop these.
        "X-Linkgate-User": "admin", "X-Linkgate-Client": "forged-client", "X-Linkgate-Mode": "user",
        "X-Linkgate-Scope": "SYSTEM_ADMIN"})
    assert seen_by_app(resp, upstream) == {"x-linkgate-client": client["clientId"], "x-linkgate-mode": "application",
                                           "x-linkgate-scope": "WRITE"}
    # Without credentials the forged header gets nowhere either.
    before = len(upstream.hits)
    anonymous = through(web, nginx.url, headers={"X-Linkgate-User": "admin"})
    assert_nginx_401(anonymous, upstream, before, "Bearer")


def test_execute_as_token_sets_the_user(nginx, upstream, web, admin, recorder):
    runner = admin.create_user()[0]
    client, token = client_credentials(admin, recorder, executeAs=runner)
    resp = through(web, nginx.url, path="/app/put/here", method="PUT", json={"v": 1},
                   headers={"Authorization": f"Bearer {token}", "X-Linkgate-User": "admin"})
    assert seen_by_app(resp, upstream, path="/app/put/here", method="PUT") == {
        "x-linkgate-user": runner, "x-linkgate-client": client["clientId"], "x-linkgate-mode": "application",
        "x-linkgate-scope": "WRITE"}
    assert json.loads(upstream.hits[-1]["body"]) == {"v": 1}, "the request body must still reach the application"


def test_required_scope_line(nginx, upstream, web, admin, recorder):
    """The documented optional line (X-Linkgate-Require-Scope WRITE), enabled: READ → 403, WRITE → 200."""
    _, read_token = client_credentials(admin, recorder, scope="READ")
    before = len(upstream.hits)
    small = through(web, nginx.scoped_url, headers={"Authorization": f"Bearer {read_token}"})
    assert small.status_code == 403, describe(small)
    assert len(upstream.hits) == before
    # The same token is fine where no scope is required.
    assert seen_by_app(through(web, nginx.url, headers={"Authorization": f"Bearer {read_token}"}),
                       upstream)["x-linkgate-scope"] == "READ"
    client, write_token = client_credentials(admin, recorder, scope="WRITE")
    seen = seen_by_app(through(web, nginx.scoped_url, headers={"Authorization": f"Bearer {write_token}"}), upstream)
    assert seen == {"x-linkgate-client": client["clientId"], "x-linkgate-mode": "application", "x-linkgate-scope": "WRITE"}


def test_revoked_token_is_refused(nginx, upstream, web, admin, recorder):
    client, token = client_credentials(admin, recorder)
    assert through(web, nginx.url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert admin.request("POST", REVOKE, auth=(client["clientId"], client["clientSecret"]),
                         data={"token": token}).status_code == 200
    before = len(upstream.hits)
    resp = through(web, nginx.url, headers={"Authorization": f"Bearer {token}"})
    assert_nginx_401(resp, upstream, before, "Bearer", error="invalid_token")


# --------------------------------------------------------------------------------------------
# (b) OAuth 1.0a two-legged, signed by requests-oauthlib for the nginx URL
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def consumer(admin, keys):
    body = {"key": uniq("nginx-consumer"), "name": uniq("Nginx Consumer"), "publicKey": keys.public_pem,
            "twoLeggedAllowed": True, "impersonationAllowed": True}
    return assert_json(admin.request("POST", CONSUMERS, json=body), 201)


def test_oauth1_two_legged_through_nginx(nginx, upstream, web, consumer, keys):
    resp = through(web, nginx.url, path="/app/resource?x=1&y=a%20b", auth=oauth1(consumer["key"], keys))
    seen = seen_by_app(resp, upstream, path="/app/resource?x=1&y=a%20b")
    # No user (application principal) and no scope (OAuth 1.0 tokens carry none).
    assert seen == {"x-linkgate-client": consumer["key"], "x-linkgate-mode": "application"}


def test_oauth1_two_legged_with_impersonation_through_nginx(nginx, upstream, web, admin, consumer, keys):
    person = admin.create_user()[0]
    resp = through(web, nginx.url, path=f"/app/resource?xoauth_requestor_id={person}",
                   auth=oauth1(consumer["key"], keys), headers={"X-Linkgate-User": "admin"})
    seen = seen_by_app(resp, upstream, path=f"/app/resource?xoauth_requestor_id={person}")
    assert seen == {"x-linkgate-user": person, "x-linkgate-client": consumer["key"], "x-linkgate-mode": "impersonation"}
    # A POST with a JSON body (not signed, so it may travel): X-Original-Method makes the base string POST.
    resp = through(web, nginx.url, path=f"/app/items?xoauth_requestor_id={person}", method="POST",
                   json={"name": "thing"}, auth=oauth1(consumer["key"], keys))
    seen = seen_by_app(resp, upstream, path=f"/app/items?xoauth_requestor_id={person}", method="POST")
    assert seen["x-linkgate-user"] == person
    assert json.loads(upstream.hits[-1]["body"]) == {"name": "thing"}


def test_oauth1_refusals_through_nginx(nginx, upstream, web, admin, consumer, keys, base_url):
    mark = admin.audit_mark()
    nobody = uniq("nobody")
    before = len(upstream.hits)
    resp = through(web, nginx.url, path=f"/app/resource?xoauth_requestor_id={nobody}", auth=oauth1(consumer["key"], keys))
    assert_nginx_401(resp, upstream, before, "OAuth", oauth_problem="permission_denied", realm=base_url)
    entries = admin.audit_after(mark, client=consumer["key"])
    assert [(e["action"], e["outcome"], e["subject"]) for e in entries] == [("token.use", "failure", nobody)], entries
    # Signed for Linkgate's own URL but sent to nginx: the base string (from X-Original-URL) differs.
    prepared = requests.Request("GET", base_url + "/app/resource", auth=oauth1(consumer["key"], keys)).prepare()
    resp = through(web, nginx.url, path="/app/resource", headers={"Authorization": prepared.headers["Authorization"]})
    assert_nginx_401(resp, upstream, before, "OAuth", oauth_problem="signature_invalid")
    # Signed with another key.
    resp = through(web, nginx.url, auth=oauth1(consumer["key"], new_rsa_key()))
    assert_nginx_401(resp, upstream, before, "OAuth", oauth_problem="signature_invalid")
    # The same signed request twice: the nonce is spent.
    signed = requests.Request("GET", nginx.url + "/app/resource?x=1", auth=oauth1(consumer["key"], keys)).prepare()
    first = web.send(signed, timeout=15)
    seen_by_app(first, upstream)
    before = len(upstream.hits)
    assert_nginx_401(web.send(signed, timeout=15), upstream, before, "OAuth", oauth_problem="nonce_used")


# --------------------------------------------------------------------------------------------
# (c) No or garbage credentials
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [None, "Garbage xyz", "Bearer", "Bearer not-a-real-token", "Basic YWRtaW46eA=="])
def test_missing_or_garbage_credentials(nginx, upstream, web, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    before = len(upstream.hits)
    resp = through(web, nginx.url, headers=headers)
    assert resp.status_code == 401, describe(resp)
    assert len(upstream.hits) == before
    assert challenges(resp), f"no WWW-Authenticate: {describe(resp)}"
    scheme, _ = parse_challenge(challenges(resp)[0])
    assert scheme in ("Bearer", "OAuth"), challenges(resp)


@pytest.mark.parametrize("kind", ["garbage-oauth-header", "hmac-sha1", "stale-timestamp"])
def test_bad_oauth1_requests_are_401_at_the_proxy(nginx, upstream, web, consumer, keys, kind):
    """§8: for verify, bad credentials → 401 with WWW-Authenticate. nginx's auth_request knows only 2xx, 401 and
    403; any other answer (e.g. the 400 that RFC 5849 gives these problems on a resource) becomes a 500 for the
    caller. So OAuth 1.0 problems must reach nginx as 401 with the OAuth challenge."""
    before = len(upstream.hits)
    if kind == "garbage-oauth-header":
        resp = through(web, nginx.url, headers={"Authorization": "OAuth garbage"})
    elif kind == "hmac-sha1":
        resp = through(web, nginx.url, auth=OAuth1(consumer["key"], client_secret="not-a-secret"))
    else:
        resp = through(web, nginx.url, auth=OAuth1(consumer["key"], signature_method=SIGNATURE_RSA,
                                                   rsa_key=keys.private_pem, timestamp=str(int(time.time()) - 3600)))
    assert resp.status_code == 401, describe(resp)
    assert len(upstream.hits) == before
    assert challenges(resp) and parse_challenge(challenges(resp)[0])[0] == "OAuth", describe(resp)


def test_admin_basic_credentials_are_not_accepted_by_verify(nginx, upstream, web, admin_auth):
    """verify answers for Bearer and OAuth 1.0a only: even the admin's right password is no pass."""
    before = len(upstream.hits)
    resp = through(web, nginx.url, auth=admin_auth)
    assert_nginx_401(resp, upstream, before, "Bearer")


def test_401_carries_exactly_one_challenge(nginx, upstream, web):
    """RFC 9110 §11.6.1: the 401 carries Linkgate's challenge. nginx's auth_request already copies the
    subrequest's WWW-Authenticate to a 401; the shipped @unauthorized location must not add it a second time."""
    for headers in ({}, {"Authorization": "Garbage xyz"}, {"Authorization": "Bearer not-a-real-token"}):
        resp = through(web, nginx.url, headers=headers)
        assert resp.status_code == 401, describe(resp)
        assert len(challenges(resp)) == 1, (f"{headers or 'no Authorization'}: nginx sent "
                                            f"{len(challenges(resp))} WWW-Authenticate lines: {challenges(resp)}")


# --------------------------------------------------------------------------------------------
# (d) jwt-bearer impersonation tokens
# --------------------------------------------------------------------------------------------

def test_impersonation_token_sets_the_user(nginx, upstream, web, admin, keys, base_url, recorder):
    person = admin.create_user()[0]
    client = admin.create_client([], scope="WRITE", impersonation=True, publicKey=keys.public_pem)
    assertion = signed_assertion(keys.private_key, assertion_claims(base_url, client["clientId"], person))
    body = assert_json(admin.request("POST", TOKEN, auth=None, data=jwt_bearer_data(assertion, scope="READ")), 200)
    token = body["access_token"]
    recorder.add_secret(token)
    mark = admin.audit_mark()
    resp = through(web, nginx.url, headers={"Authorization": f"Bearer {token}", "X-Linkgate-User": "admin"})
    assert seen_by_app(resp, upstream) == {"x-linkgate-user": person, "x-linkgate-client": client["clientId"],
                                           "x-linkgate-mode": "impersonation", "x-linkgate-scope": "READ"}
    # READ is too small where WRITE is required.
    before = len(upstream.hits)
    assert through(web, nginx.scoped_url, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert len(upstream.hits) == before
    # Every use through the proxy is audited (§8).
    uses = admin.audit_after(mark, client=client["clientId"], action="token.use")
    assert uses and uses[-1]["outcome"] == "success" and uses[-1]["subject"] == person, uses
    # The impersonated user is deleted: the token stops working at the proxy too.
    assert admin.request("DELETE", f"{USERS}/{person}").status_code == 204
    before = len(upstream.hits)
    assert_nginx_401(through(web, nginx.url, headers={"Authorization": f"Bearer {token}"}), upstream, before,
                     "Bearer", error="invalid_token")


# --------------------------------------------------------------------------------------------
# The verify endpoint directly (what the proxy relies on)
# --------------------------------------------------------------------------------------------

def test_verify_directly(http, base_url, admin, consumer, keys, recorder):
    client, token = client_credentials(admin, recorder, scope="READ")
    ok = http.get(base_url + VERIFY, headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert ok.status_code == 200, describe(ok)
    assert ok.headers.get("X-Linkgate-Client") == client["clientId"] and "X-Linkgate-User" not in ok.headers
    assert ok.headers.get("X-Linkgate-Mode") == "application" and ok.headers.get("X-Linkgate-Scope") == "READ"
    small = http.get(base_url + VERIFY, headers={"Authorization": f"Bearer {token}", "X-Linkgate-Require-Scope": "WRITE"},
                     timeout=15)
    assert small.status_code == 403 and 'error="insufficient_scope"' in small.headers.get("WWW-Authenticate", ""), \
        describe(small)
    bad = http.get(base_url + VERIFY, headers={"Authorization": f"Bearer {token}", "X-Linkgate-Require-Scope": "write"},
                   timeout=15)
    assert bad.status_code == 400, describe(bad)
    # OAuth 1.0 with X-Original-URI: the base string URI is BASE + path.
    signed = requests.Request("GET", base_url + "/some/app/path?q=1", auth=oauth1(consumer["key"], keys)).prepare()
    resp = http.get(base_url + VERIFY, timeout=15, headers={"Authorization": signed.headers["Authorization"],
                                                             "X-Original-Method": "GET",
                                                             "X-Original-URI": "/some/app/path?q=1"})
    assert resp.status_code == 200, describe(resp)
    assert resp.headers.get("X-Linkgate-Mode") == "application" and "X-Linkgate-Scope" not in resp.headers
    # Without the original method, an OAuth 1.0 request cannot be checked.
    signed = requests.Request("GET", base_url + "/x", auth=oauth1(consumer["key"], keys)).prepare()
    resp = http.get(base_url + VERIFY, timeout=15, headers={"Authorization": signed.headers["Authorization"],
                                                             "X-Original-URI": "/x"})
    assert resp.status_code in (400, 401), describe(resp)


def test_zz_nginx_error_log_is_clean(nginx):
    """No auth_request 'unexpected status', upstream failure or worse in nginx's log during the suite."""
    bad = [line for line in nginx.error_log_text().splitlines()
           if any(f"[{level}]" in line for level in ("error", "crit", "alert", "emerg"))]
    assert bad == [], "\n".join(bad)
