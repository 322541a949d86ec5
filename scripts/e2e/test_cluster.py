"""Several equal nodes on one PostgreSQL database (INTERFACE §11; issue 12, item 8).

Two `linkgate serve` nodes, A and B, on different loopback ports share ONE fresh database of the
private test cluster, and one public base URL (as behind a load balancer), so OAuth 1.0a base
strings and issuers are the same on both. Every sentence of §11 is exercised across the nodes:
  - a token, authorization code, session cookie, consent (and its form's CSRF token) or OAuth 1.0a
    nonce made on one node is valid (or spent) on the other;
  - a code, a refresh token and a signed request's nonce presented concurrently to both nodes
    succeed exactly once (many rounds, two threads released together);
  - a revocation, a change to a user (password, admin flag, deletion), a client (secret reset,
    deletion), a consumer (2LO switched off, deletion) or a lockout made on A takes effect on B within
    1 s: B is polled every 20 ms and the observed delay is printed at the end of the module;
  - the server's RSA key (consumer-info) and the applinks manifest id are the same on every node;
  - nodes started at once on an empty database all come up (migrations under an advisory lock), and
    `linkgate migrate` on the migrated database exits 0; URLs with `?host=<socket dir>` and
    `?sslmode=prefer` and a `--database-pool` smaller than the default work;
  - the database going away: 503 temporarily_unavailable and /status 503 ERROR within 10 s, never a
    500 or a hang, and recovery without a restart (on a private cluster of its own, so the shared
    one keeps running);
  - kill -9 of a node under a client_credentials write load: every token it acknowledged (a complete
    200) is valid through the other node, which keeps serving throughout.

Environment:
  LINKGATE_E2E_POSTGRES      admin URL of the private test cluster (scripts/pg-test-cluster start
                             prints it; scripts/test sets it). Without it the module is skipped.
  LINKGATE_CLUSTER_ROUNDS    rounds of each concurrent-redemption race (default 25)
"""
import json
import os
import random
import secrets
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import requests

from conftest import (ADMIN_PASSWORD, DEFAULT_BIN, REPO_ROOT, create_postgres_database, drop_postgres_database,
                      launch_server, launch_watching_startup, postgres_admin_url, postgres_tool, run_sql,
                      shutdown_server)
from oauth1_support import (ACCESS_TOKEN, CONSUMER_INFO, CONSUMERS, MANIFEST, REQUEST_TOKEN,
                            authorize_request_token, callback_params, new_rsa_key, parse_challenge, sign)
from oauth_support import (APPLICATIONS, CLIENTS, INTROSPECT, JWT_BEARER, MYSELF, REVOKE, TOKEN, USERS, Admin, Browser,
                           Forms, assertion_claims, authorize_url, describe, pkce_pair, query_params, signed_assertion,
                           uniq, unused_loopback_port)

if postgres_admin_url() is None:
    pytest.skip("the cluster suite needs PostgreSQL: set LINKGATE_E2E_POSTGRES to the admin URL of a private "
                "cluster (scripts/pg-test-cluster start prints one; scripts/test sets it)", allow_module_level=True)

LOCKOUT = "/rest/api/latest/lockout"
POLL_INTERVAL = 0.02          # the brief: poll the other node every 20 ms
PROPAGATION_LIMIT = 1.0       # INTERFACE §11: within 1 s
GIVE_UP_AFTER = 6.0
ROUNDS = int(os.environ.get("LINKGATE_CLUSTER_ROUNDS", "25"))
OUTAGE_DEADLINE = 10.0        # §11 / issue 12 item 7: 503 within 10 s, no request hanging past 10 s
INACTIVE = {"active": False}

DELAYS = []                   # (what, lower bound s, upper bound s), printed at the end of the module
FIGURES = {}                  # other measured figures, printed with the delays
SERVER_ERRORS = []            # 5xx answers seen outside the outage test


# --------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------

class Cluster:
    """Nodes A and B on one database; `public` is the base URL both were given (A's address)."""

    def __init__(self, database, public, workdirs, port_a):
        self.database = database
        self.public = public
        self.workdirs = workdirs
        self.port_a = port_a
        self.a = None
        self.b = None

    def start_a(self):
        self.a = launch_server(self.workdirs[0], port=self.port_a, database=self.database, public_base_url=self.public)
        return self.a

    def start_b(self):
        # B also runs with a smaller pool than the default 8 (§11 --database-pool).
        self.b = launch_server(self.workdirs[1], database=self.database, public_base_url=self.public,
                               extra_args=["--database-pool", "4"])
        return self.b


def session():
    """A plain requests.Session that notes every 5xx (not the session-wide recorder: the outage test
    provokes 503s on purpose, and the other suites assert that recorder saw none)."""
    s = requests.Session()
    s.hooks["response"].append(_note_server_error)
    return s


def _note_server_error(resp, *args, **kwargs):
    if resp.status_code >= 500:
        SERVER_ERRORS.append(f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:200]!r}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    database = create_postgres_database(prefix="lg_cluster")
    port_a = unused_loopback_port()
    c = Cluster(database, f"http://127.0.0.1:{port_a}",
                [tmp_path_factory.mktemp("node-a"), tmp_path_factory.mktemp("node-b")], port_a)
    c.start_a()
    try:
        c.start_b()
    except BaseException:
        shutdown_server(c.a)
        raise
    yield c
    for node in (c.a, c.b):
        shutdown_server(node)


@pytest.fixture(scope="module", autouse=True)
def report(pytestconfig):
    """Prints the observed invalidation delays and other figures once the module is done."""
    yield
    lines = [f"cluster: {what}: visible on the other node after {low * 1000:.0f}-{high * 1000:.0f} ms"
             for what, low, high in DELAYS]
    if DELAYS:
        worst = max(high for _, _, high in DELAYS)
        lines.append(f"cluster: {len(DELAYS)} changes, worst observed delay {worst * 1000:.0f} ms")
    lines += [f"cluster: {name}: {json.dumps(value)}" for name, value in FIGURES.items()]
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def admin_a(cluster, recorder):
    return Admin(session(), cluster.a.base_url, ("admin", ADMIN_PASSWORD), recorder)


@pytest.fixture(autouse=True)
def _lift_lockouts_on_the_cluster(request):
    """Many probes here fail on purpose (old passwords and secrets) from 127.0.0.1: lift INTERFACE §10's
    lockouts after each test that used the shared nodes, as conftest does for the shared server."""
    yield
    if "cluster" in request.fixturenames:
        c = request.getfixturevalue("cluster")
        node = c.a if c.a.process.poll() is None else c.b
        resp = requests.delete(node.base_url + LOCKOUT, auth=("admin", ADMIN_PASSWORD), timeout=15)
        assert resp.status_code == 204, describe(resp)


def at(node, url):
    """`url` (built on any base) aimed at `node`'s own address: same path and query."""
    split, own = urlsplit(url), urlsplit(node.base_url)
    return urlunsplit((own.scheme, own.netloc, split.path, split.query, split.fragment))


def json_of(resp):
    try:
        return resp.json()
    except ValueError:
        return None


def observe(what, probe, limit=PROPAGATION_LIMIT):
    """Polls `probe()` every 20 ms from now until it returns True (the change is visible), and records
    the delay since the call: at least the start of the seeing probe, at most its end. Fails past
    `limit` (or when nothing is seen within GIVE_UP_AFTER s)."""
    started = time.monotonic()
    while True:
        sent = time.monotonic()
        if probe():
            low, high = sent - started, time.monotonic() - started
            break
        if sent - started > GIVE_UP_AFTER:
            pytest.fail(f"{what}: not visible on the other node after {GIVE_UP_AFTER:.0f} s")
        time.sleep(max(0.0, POLL_INTERVAL - (time.monotonic() - sent)))
    DELAYS.append((what, low, high))
    assert low <= limit, f"{what}: took {low:.3f} s to reach the other node (INTERFACE §11: within {limit} s)"
    return low


# --------------------------------------------------------------------------------------------
# Flows used by several tests
# --------------------------------------------------------------------------------------------

def redirect_uri():
    return f"http://127.0.0.1:{unused_loopback_port()}/cb"


def token_request(node, client, data, http=None, secret=None):
    http = http or session()
    return http.post(node.base_url + TOKEN, auth=(client["clientId"], secret or client["clientSecret"]),
                     data=data, timeout=15)


def introspect(node, token, introspector):
    resp = requests.post(node.base_url + INTROSPECT, auth=(introspector["clientId"], introspector["clientSecret"]),
                         data={"token": token}, timeout=15)
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def bearer_myself(node, token, http=None):
    return (http or requests).get(node.base_url + MYSELF, headers={"Authorization": f"Bearer {token}"}, timeout=15)


class Person:
    """A user and their browser (one cookie jar for both nodes: cookies do not care about ports)."""

    def __init__(self, admin, cluster, admin_flag=False):
        self.name, self.password = admin.create_user(admin=admin_flag)
        self.http = session()
        self.cluster = cluster
        self.logged_in = False

    def browser(self, node):
        return Browser(self.http, node.base_url)

    def code(self, node, client, redirect, scope="WRITE", consent=None):
        """authorize → (login) → (consent) on `node`; the code. consent None: the first time only."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        url = authorize_url(node.base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect,
                            scope=scope, state=state, code_challenge=challenge, code_challenge_method="S256")
        login = None if self.logged_in else (self.name, self.password)
        outcome = self.browser(node).authorize(url, login=login,
                                               consent=(not self.logged_in) if consent is None else consent)
        self.logged_in = True
        assert outcome.params.get("state") == state and outcome.code, outcome.location
        return outcome.code, verifier

    def tokens(self, node, client, redirect, scope="WRITE"):
        code, verifier = self.code(node, client, redirect, scope)
        resp = token_request(node, client, {"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": redirect, "code_verifier": verifier})
        assert resp.status_code == 200, describe(resp)
        return resp.json()


def race(cluster, send):
    """Calls send(session, node) for A and B at the same instant (threads released by a barrier, each
    with a connection already open to its node); their results, A's first."""
    nodes = (cluster.a, cluster.b)
    sessions = [session() for _ in nodes]
    try:
        for sess, node in zip(sessions, nodes):
            sess.get(node.base_url + "/status", timeout=15)
        barrier = threading.Barrier(len(nodes))

        def run(sess, node):
            barrier.wait(10)
            return send(sess, node)

        with ThreadPoolExecutor(len(nodes)) as pool:
            return [f.result() for f in [pool.submit(run, sess, node) for sess, node in zip(sessions, nodes)]]
    finally:
        for sess in sessions:
            sess.close()


# --------------------------------------------------------------------------------------------
# Start-up and shared identity
# --------------------------------------------------------------------------------------------

def test_nodes_started_together_on_an_empty_database_all_come_up(tmp_path_factory):
    """§11: several nodes starting at once on one empty database are safe (one migrates, the others
    wait); they agree on the bootstrap admin, the server key and the applinks id made on first start."""
    database = create_postgres_database(prefix="lg_cluster_start")
    workdirs = [tmp_path_factory.mktemp(f"together-{i}") for i in range(3)]
    started = time.monotonic()
    with ThreadPoolExecutor(len(workdirs)) as pool:
        futures = [pool.submit(launch_server, w, database=database) for w in workdirs]
        outcomes = []
        for f in futures:
            try:
                outcomes.append(f.result())
            except BaseException as error:   # pytest.fail inside launch_server: keep it, stop the others first
                outcomes.append(error)
    nodes = [o for o in outcomes if not isinstance(o, BaseException)]
    FIGURES["3 nodes started together: seconds until all answered /status"] = round(time.monotonic() - started, 2)
    try:
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert not errors, f"{len(errors)} of {len(workdirs)} nodes did not come up: {errors[0]}"
        http = session()
        keys, ids = set(), set()
        for node in nodes:
            resp = http.get(node.base_url + "/status", timeout=15)
            assert resp.status_code == 200 and resp.json() == {"state": "RUNNING"}, describe(resp)
            users = http.get(node.base_url + USERS, auth=("admin", ADMIN_PASSWORD), timeout=15)
            assert users.status_code == 200, describe(users)
            assert [u["name"] for u in users.json()] == ["admin"], f"bootstrap users on {node.base_url}: {users.text}"
            info = http.get(node.base_url + CONSUMER_INFO, timeout=15)
            assert info.status_code == 200, describe(info)
            keys.add(ET.fromstring(info.content).findtext("publicKey"))
            manifest = http.get(node.base_url + MANIFEST, headers={"Accept": "application/json"}, timeout=15)
            assert manifest.status_code == 200, describe(manifest)
            ids.add(manifest.json()["id"])
        assert len(keys) == 1, f"the nodes started together publish {len(keys)} different server keys"
        assert len(ids) == 1, f"the nodes started together report {len(ids)} applinks ids: {ids}"
        # The schema is complete on every node: a user made on the first is seen by the last.
        name = uniq("together")
        resp = http.post(nodes[0].base_url + USERS, auth=("admin", ADMIN_PASSWORD), timeout=15,
                         json={"name": name, "password": secrets.token_urlsafe(16)})
        assert resp.status_code == 201, describe(resp)
        resp = http.get(f"{nodes[-1].base_url}{USERS}/{name}", auth=("admin", ADMIN_PASSWORD), timeout=15)
        assert resp.status_code == 200 and resp.json()["name"] == name, describe(resp)
        # `linkgate migrate` on the migrated database, with the nodes running: nothing to do, exit 0.
        binary = os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN))
        migrate = subprocess.run([binary, "migrate", "--database", database], capture_output=True, text=True,
                                 timeout=60, cwd=str(REPO_ROOT))
        assert migrate.returncode == 0, f"linkgate migrate exited {migrate.returncode}: {migrate.stderr[-2000:]}"
    finally:
        for node in nodes:
            shutdown_server(node)


def test_server_key_and_applinks_id_are_the_same_on_every_node(cluster):
    http = session()
    infos = [http.get(node.base_url + CONSUMER_INFO, timeout=15) for node in (cluster.a, cluster.b)]
    for resp in infos:
        assert resp.status_code == 200, describe(resp)
    roots = [ET.fromstring(resp.content) for resp in infos]
    assert roots[0].findtext("publicKey") and roots[0].findtext("publicKey") == roots[1].findtext("publicKey")
    assert roots[0].findtext("key") == roots[1].findtext("key")
    for accept in ("application/xml", "application/json"):
        docs = [http.get(node.base_url + MANIFEST, headers={"Accept": accept}, timeout=15) for node in (cluster.a, cluster.b)]
        for resp in docs:
            assert resp.status_code == 200, describe(resp)
        if accept == "application/json":
            ids = [resp.json()["id"] for resp in docs]
            urls = [resp.json()["url"] for resp in docs]
        else:
            ids = [ET.fromstring(resp.content).findtext("id") for resp in docs]
            urls = [ET.fromstring(resp.content).findtext("url") for resp in docs]
        assert ids[0] and ids[0] == ids[1], f"applinks ids differ ({accept}): {ids}"
        assert urls == [cluster.public, cluster.public], urls


def test_unix_socket_and_sslmode_in_the_database_url(cluster, tmp_path_factory):
    """§11: `?host=/path/to/socket-dir` reaches PostgreSQL over its Unix socket, `?sslmode=prefer` falls
    back to plain TCP on a server without TLS; a node so configured joins the same database."""
    socket_dir = run_sql(postgres_admin_url(), "SHOW unix_socket_directories")[0][0].split(",")[0].strip()
    split = urlsplit(cluster.database)
    # The port names the socket file (.s.PGSQL.PORT); the host part is replaced by ?host=.
    via_socket = urlunsplit((split.scheme, split.netloc, split.path, f"host={quote(socket_dir, safe='')}", ""))
    via_prefer = urlunsplit((split.scheme, split.netloc, split.path, "sslmode=prefer", ""))
    http = session()
    for url, label in ((via_socket, "socket"), (via_prefer, "sslmode-prefer")):
        node = launch_server(tmp_path_factory.mktemp(f"node-{label}"), database=url, public_base_url=cluster.public)
        try:
            keys = [http.get(n.base_url + CONSUMER_INFO, timeout=15).content for n in (node, cluster.a)]
            assert keys[0] == keys[1], f"the node on {label} does not share the cluster's key"
            users = http.get(node.base_url + USERS, auth=("admin", ADMIN_PASSWORD), timeout=15)
            assert users.status_code == 200, describe(users)
        finally:
            shutdown_server(node)


# --------------------------------------------------------------------------------------------
# Made on one node, valid (or spent) on the other
# --------------------------------------------------------------------------------------------

def test_client_credentials_token_made_on_one_node_works_on_the_other(cluster, admin_a):
    runner, _ = admin_a.create_user()
    client = admin_a.create_client([], scope="WRITE", executeAs=runner)
    introspector = admin_a.create_client([], scope="READ")
    for made, used in ((cluster.a, cluster.b), (cluster.b, cluster.a)):
        resp = token_request(made, client, {"grant_type": "client_credentials"})
        assert resp.status_code == 200, describe(resp)
        token = resp.json()["access_token"]
        body = introspect(used, token, introspector)
        assert body["active"] is True and body["client_id"] == client["clientId"] and body["username"] == runner, body
        me = bearer_myself(used, token)
        assert me.status_code == 200 and me.json()["auth"]["client"] == client["clientId"], describe(me)
        # RFC 7009 revocation on the node that made it: the other node refuses the token.
        resp = session().post(made.base_url + REVOKE, auth=(client["clientId"], client["clientSecret"]),
                              data={"token": token}, timeout=15)
        assert resp.status_code == 200, describe(resp)
        observe(f"revocation of an access token ({'A→B' if made is cluster.a else 'B→A'})",
                lambda: introspect(used, token, introspector) == INACTIVE)
        assert bearer_myself(used, token).status_code == 401


def test_session_cookie_consent_and_code_across_nodes(cluster, admin_a):
    """Log in on A; the session is good on B; the consent page shown by B is answered on A (its CSRF
    token belongs to the session, not the node); B redeems A's code; consent remembered on A spares B's
    page; the refresh made on A rotates for B; a replayed code on A revokes what B issued; logging out
    on B ends the session on A."""
    person = Person(admin_a, cluster)
    redirect = redirect_uri()
    client = admin_a.create_client([redirect], scope="WRITE")
    introspector = admin_a.create_client([], scope="READ")
    a, b = person.browser(cluster.a), person.browser(cluster.b)

    verifier, challenge = pkce_pair()
    params = dict(response_type="code", client_id=client["clientId"], redirect_uri=redirect, scope="WRITE",
                  state="st-" + secrets.token_hex(4), code_challenge=challenge, code_challenge_method="S256")
    url_a, url_b = authorize_url(cluster.a.base_url, **params), authorize_url(cluster.b.base_url, **params)
    path_query = url_a[len(cluster.a.base_url):]
    a.login_through(a.location(a.get(url_a)), person.name, person.password, expected_next=path_query)
    person.logged_in = True
    assert person.http.cookies.get("linkgate_session"), "no session cookie after logging in on A"

    consent_url = b.location(b.get(url_b))                       # B knows A's session
    assert consent_url.startswith(cluster.b.base_url + "/plugins/servlet/oauth2/consent?"), consent_url
    page = b.get(consent_url)
    assert page.status_code == 200, describe(page)
    form = Forms(page.text).form("/plugins/servlet/oauth2/consent")
    approve = [btn for btn in form["buttons"] if btn["name"] == "decision" and btn["value"] == "approve"][0]
    answer = a.post(cluster.a.base_url + "/plugins/servlet/oauth2/consent", data=Forms.submission(form, approve))
    assert answer.status_code == 303, describe(answer)
    location = answer.headers["Location"]
    assert location.startswith(redirect + "?"), location
    code = query_params(location)["code"]

    resp = token_request(cluster.b, client, {"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": redirect, "code_verifier": verifier})
    assert resp.status_code == 200, describe(resp)
    first = resp.json()
    assert introspect(cluster.a, first["access_token"], introspector)["active"] is True

    # The code is spent everywhere: replayed on A → invalid_grant, and B's tokens are revoked (§6).
    replay = token_request(cluster.a, client, {"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": redirect, "code_verifier": verifier})
    assert replay.status_code == 400 and json_of(replay)["error"] == "invalid_grant", describe(replay)
    observe("tokens of a replayed code revoked (A→B)",
            lambda: introspect(cluster.b, first["access_token"], introspector) == INACTIVE)

    # Consent given on A: B redirects straight to the client.
    code2, verifier2 = person.code(cluster.b, client, redirect, consent=False)
    resp = token_request(cluster.a, client, {"grant_type": "authorization_code", "code": code2,
                                             "redirect_uri": redirect, "code_verifier": verifier2})
    assert resp.status_code == 200, describe(resp)
    grant = resp.json()
    # Refresh rotation across nodes: rotated on A, the old refresh token is dead on B (and kills the grant).
    rotated = token_request(cluster.a, client, {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]})
    assert rotated.status_code == 200, describe(rotated)
    stale = token_request(cluster.b, client, {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]})
    assert stale.status_code == 400 and json_of(stale)["error"] == "invalid_grant", describe(stale)
    assert introspect(cluster.a, rotated.json()["access_token"], introspector) == INACTIVE

    # Logout on B (with the CSRF token of B's home page) ends the session on A too.
    cookie = person.http.cookies.get("linkgate_session")
    home = b.get(cluster.b.base_url + "/")
    assert home.status_code == 200, describe(home)
    logout_form = Forms(home.text).form("/logout")
    resp = b.post(cluster.b.base_url + "/logout", data=Forms.hidden(logout_form))
    assert resp.status_code == 303, describe(resp)
    stale_browser = requests.get(cluster.a.base_url + "/", headers={"Cookie": f"linkgate_session={cookie}"},
                                 allow_redirects=False, timeout=15)
    assert stale_browser.status_code == 303 and stale_browser.headers["Location"].startswith("/login"), \
        describe(stale_browser)


def test_oauth1_three_legged_across_nodes_and_nonce_replay_on_the_other_node(cluster, admin_a):
    person = Person(admin_a, cluster)
    keys = new_rsa_key()
    callback = f"http://127.0.0.1:{unused_loopback_port()}/oauth1/callback"
    consumer = {"key": uniq("cluster-consumer"), "name": uniq("Cluster Consumer"), "publicKey": keys.public_pem,
                "twoLeggedAllowed": True, "callback": callback}
    resp = admin_a.request("POST", CONSUMERS, json=consumer)
    assert resp.status_code == 201, describe(resp)
    http = session()

    def signed(method, path, node, **kw):
        # Signed over the public base URL (the base-string URI), sent to `node`.
        s = sign(keys, consumer["key"], method, cluster.public + path, **kw)
        s.url = at(node, s.url)
        return s

    # Request token on A, authorized in the browser on B, exchanged on B, used on A.
    resp = signed("POST", REQUEST_TOKEN, cluster.a, extra=[("oauth_callback", callback)]).send(http)
    assert resp.status_code == 200, describe(resp)
    request_token = query_params("?" + resp.text)["oauth_token"]
    answer = authorize_request_token(person.browser(cluster.b), cluster.b.base_url, request_token, consumer["name"],
                                     login=(person.name, person.password))
    verifier = callback_params(answer, callback)["oauth_verifier"]
    resp = signed("POST", ACCESS_TOKEN, cluster.b, token=request_token, extra=[("oauth_verifier", verifier)]).send(http)
    assert resp.status_code == 200, describe(resp)
    access = query_params("?" + resp.text)["oauth_token"]
    me = signed("GET", MYSELF, cluster.a, token=access).send(http)
    assert me.status_code == 200 and me.json()["name"] == person.name, describe(me)
    # The verifier was spent on B: the same exchange on A is refused.
    again = signed("POST", ACCESS_TOKEN, cluster.a, token=request_token, extra=[("oauth_verifier", verifier)]).send(http)
    assert again.status_code == 401, describe(again)

    # A nonce spent on one node is spent on the other (the same request, byte for byte).
    def problem(resp):
        if resp.status_code != 401 or not resp.headers.get("WWW-Authenticate", "").startswith("OAuth "):
            return None
        return parse_challenge(resp.headers["WWW-Authenticate"])[1].get("oauth_problem")

    for first, second in ((cluster.a, cluster.b), (cluster.b, cluster.a)):
        s = signed("GET", MYSELF, first, token="")
        ok = s.send(http)
        assert ok.status_code == 200 and ok.json()["auth"]["mode"] == "application", describe(ok)
        s.url = at(second, s.url)
        replay = s.send(http)
        assert problem(replay) == "nonce_used", describe(replay)

    # The same signed request sent to both nodes at the same instant is accepted exactly once.
    outcomes = []
    for _ in range(ROUNDS):
        s = signed("GET", MYSELF, cluster.a, token="")
        results = race(cluster, lambda sess, node: replace(s, url=at(node, s.url)).send(sess))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 401], [describe(r) for r in results]
        assert problem([r for r in results if r.status_code == 401][0]) == "nonce_used", [describe(r) for r in results]
        outcomes.append("A" if results[0].status_code == 200 else "B")
    FIGURES["concurrent OAuth 1.0a nonce on both nodes: winner per round"] = {
        "rounds": ROUNDS, "A": outcomes.count("A"), "B": outcomes.count("B")}


def test_jwt_bearer_jti_spent_on_one_node_is_spent_on_the_other(cluster, admin_a):
    """§8's single-use jti is a nonce too: an assertion accepted on A is refused on B."""
    user, _ = admin_a.create_user()
    keys = new_rsa_key()
    client = admin_a.create_client([], scope="WRITE", impersonation=True, publicKey=keys.public_pem)
    claims = assertion_claims(cluster.public, client["clientId"], user)
    assertion = signed_assertion(keys.private_key, claims)
    http = session()
    data = {"grant_type": JWT_BEARER, "assertion": assertion}
    first = http.post(cluster.a.base_url + TOKEN, data=data, timeout=15)
    assert first.status_code == 200, describe(first)
    second = http.post(cluster.b.base_url + TOKEN, data=data, timeout=15)
    assert second.status_code == 400 and json_of(second)["error"] == "invalid_grant", describe(second)


# --------------------------------------------------------------------------------------------
# Concurrent redemption on both nodes: exactly once
# --------------------------------------------------------------------------------------------

def redeemed_once_on_both_nodes(cluster, client, data, what):
    """Sends the same token request to A and B at once: exactly one gets 200, the other
    invalid_grant. Returns the winning response and "A" or "B"."""
    results = race(cluster, lambda sess, node: token_request(node, client, data, sess))
    ok = [r for r in results if r.status_code == 200]
    refused = [r for r in results if r.status_code != 200]
    assert len(ok) == 1, f"{what} was redeemed {len(ok)} times: " + " | ".join(describe(r) for r in results)
    assert refused[0].status_code == 400 and json_of(refused[0])["error"] == "invalid_grant", describe(refused[0])
    return ok[0], "A" if results[0].status_code == 200 else "B"


def test_code_redeemed_concurrently_on_both_nodes_succeeds_exactly_once(cluster, admin_a):
    person = Person(admin_a, cluster)
    redirect = redirect_uri()
    client = admin_a.create_client([redirect], scope="WRITE")
    introspector = admin_a.create_client([], scope="READ")
    winners = []
    for _ in range(ROUNDS):
        code, verifier = person.code(cluster.a, client, redirect)
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier}
        won, winner = redeemed_once_on_both_nodes(cluster, client, data, "the code")
        winners.append(winner)
        # The refused one was a second use of the code: what the winner got is revoked (§6).
        token = won.json()["access_token"]
        assert introspect(cluster.b, token, introspector) == INACTIVE, "the winner's token survived the second use"
    FIGURES["concurrent code redemption on both nodes: winner per round"] = {
        "rounds": ROUNDS, "A": winners.count("A"), "B": winners.count("B")}


def test_refresh_token_redeemed_concurrently_on_both_nodes_succeeds_exactly_once(cluster, admin_a):
    person = Person(admin_a, cluster)
    redirect = redirect_uri()
    client = admin_a.create_client([redirect], scope="WRITE")
    introspector = admin_a.create_client([], scope="READ")
    winners = []
    for _ in range(ROUNDS):
        grant = person.tokens(cluster.a, client, redirect)
        data = {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
        won, winner = redeemed_once_on_both_nodes(cluster, client, data, "the refresh token")
        winners.append(winner)
        # The loser presented a rotated refresh token: the whole grant is revoked (§6).
        assert introspect(cluster.a, won.json()["access_token"], introspector) == INACTIVE
        assert introspect(cluster.a, grant["access_token"], introspector) == INACTIVE
    FIGURES["concurrent refresh on both nodes: winner per round"] = {
        "rounds": ROUNDS, "A": winners.count("A"), "B": winners.count("B")}


# --------------------------------------------------------------------------------------------
# Changes on A reach B within 1 s (B's caches are warmed first, so invalidation is what is measured)
# --------------------------------------------------------------------------------------------

def test_password_change_on_one_node_reaches_the_other(cluster, admin_a):
    person = Person(admin_a, cluster)
    old = (person.name, person.password)
    http = session()
    assert http.get(cluster.b.base_url + MYSELF, auth=old, timeout=15).status_code == 200
    new_password = "pw-" + secrets.token_urlsafe(16)
    resp = admin_a.request("PUT", f"{USERS}/{person.name}", json={"password": new_password})
    assert resp.status_code == 200, describe(resp)
    # Polled with the old password: successes until B knows (no failure counted), then one 401.
    observe("user password change", lambda: http.get(cluster.b.base_url + MYSELF, auth=old, timeout=15).status_code == 401)
    assert http.get(cluster.b.base_url + MYSELF, auth=(person.name, new_password), timeout=15).status_code == 200


def test_admin_flag_change_on_one_node_reaches_the_other(cluster, admin_a):
    person = Person(admin_a, cluster, admin_flag=True)
    auth = (person.name, person.password)
    http = session()
    assert http.get(cluster.b.base_url + USERS, auth=auth, timeout=15).status_code == 200
    resp = admin_a.request("PUT", f"{USERS}/{person.name}", json={"admin": False})
    assert resp.status_code == 200 and resp.json()["admin"] is False, describe(resp)
    observe("user admin flag removed", lambda: http.get(cluster.b.base_url + USERS, auth=auth, timeout=15).status_code == 403)


def test_user_deletion_on_one_node_reaches_the_other(cluster, admin_a):
    person = Person(admin_a, cluster)
    redirect = redirect_uri()
    client = admin_a.create_client([redirect], scope="WRITE")
    grant = person.tokens(cluster.a, client, redirect)
    http = session()
    assert bearer_myself(cluster.b, grant["access_token"], http).status_code == 200
    assert http.get(cluster.b.base_url + MYSELF, auth=(person.name, person.password), timeout=15).status_code == 200
    resp = admin_a.request("DELETE", f"{USERS}/{person.name}")
    assert resp.status_code == 204, describe(resp)
    observe("user deleted: their bearer token refused",
            lambda: bearer_myself(cluster.b, grant["access_token"], http).status_code == 401)
    observe("user deleted: their password refused",
            lambda: http.get(cluster.b.base_url + MYSELF, auth=(person.name, person.password), timeout=15).status_code == 401)


def test_client_changes_on_one_node_reach_the_other(cluster, admin_a):
    runner, _ = admin_a.create_user()
    client = admin_a.create_client([], scope="WRITE", executeAs=runner)
    http = session()
    cc = {"grant_type": "client_credentials"}
    warm = token_request(cluster.b, client, cc, http)
    assert warm.status_code == 200, describe(warm)
    token = warm.json()["access_token"]

    resp = admin_a.request("PUT", f"{CLIENTS}/reset/{client['clientId']}")
    assert resp.status_code == 200, describe(resp)
    new_secret = resp.json()["clientSecret"]
    observe("client secret reset: the old secret refused",
            lambda: token_request(cluster.b, client, cc, http).status_code == 401)
    assert token_request(cluster.b, client, cc, http, secret=new_secret).status_code == 200

    resp = admin_a.request("PUT", f"{CLIENTS}/{client['clientId']}", json={"allowedAddresses": ["192.0.2.0/24"]})
    assert resp.status_code == 200, describe(resp)
    observe("client network restriction added: its bearer token refused",
            lambda: bearer_myself(cluster.b, token, http).status_code == 401)
    resp = admin_a.request("PUT", f"{CLIENTS}/{client['clientId']}", json={"allowedAddresses": []})
    assert resp.status_code == 200, describe(resp)
    observe("client network restriction lifted", lambda: bearer_myself(cluster.b, token, http).status_code == 200)

    resp = admin_a.request("DELETE", f"{CLIENTS}/{client['clientId']}")
    assert resp.status_code == 204, describe(resp)
    observe("client deleted: its bearer token refused", lambda: bearer_myself(cluster.b, token, http).status_code == 401)
    observe("client deleted: its new secret refused",
            lambda: token_request(cluster.b, client, cc, http, secret=new_secret).status_code == 401)


def test_consumer_changes_on_one_node_reach_the_other(cluster, admin_a):
    keys = new_rsa_key()
    key = uniq("cluster-2lo")
    resp = admin_a.request("POST", CONSUMERS, json={"key": key, "name": uniq("Cluster 2LO"), "publicKey": keys.public_pem,
                                                    "twoLeggedAllowed": True})
    assert resp.status_code == 201, describe(resp)
    http = session()

    def two_legged():
        s = sign(keys, key, "GET", cluster.public + MYSELF, token="")
        s.url = at(cluster.b, s.url)
        resp = s.send(http)
        if resp.status_code == 401 and resp.headers.get("WWW-Authenticate", "").startswith("OAuth "):
            return parse_challenge(resp.headers["WWW-Authenticate"])[1].get("oauth_problem")
        return resp.status_code

    assert two_legged() == 200
    resp = admin_a.request("PUT", f"{CONSUMERS}/{key}", json={"twoLeggedAllowed": False})
    assert resp.status_code == 200, describe(resp)
    observe("consumer 2LO switched off", lambda: two_legged() == "permission_denied")
    resp = admin_a.request("PUT", f"{CONSUMERS}/{key}", json={"twoLeggedAllowed": True})
    assert resp.status_code == 200, describe(resp)
    observe("consumer 2LO switched on", lambda: two_legged() == 200)
    resp = admin_a.request("DELETE", f"{CONSUMERS}/{key}")
    assert resp.status_code == 204, describe(resp)
    observe("consumer deleted", lambda: two_legged() == "consumer_key_unknown")


def test_lockout_made_and_lifted_on_one_node_reaches_the_other(cluster, admin_a):
    """§10 lockouts across nodes. B is probed with the right password: while B does not know of the
    lockout a success would reset the count, so the lock direction is one probe 1 s after the lock;
    the lift is polled (a locked check answers 429 without hashing and counts nothing)."""
    person = Person(admin_a, cluster)
    right, wrong = (person.name, person.password), (person.name, "wrong-" + secrets.token_hex(6))
    http = session()
    assert http.get(cluster.b.base_url + MYSELF, auth=right, timeout=15).status_code == 200
    for _ in range(5):
        resp = http.get(cluster.a.base_url + MYSELF, auth=wrong, timeout=15)
        assert resp.status_code == 401, describe(resp)
    locked = http.get(cluster.a.base_url + MYSELF, auth=right, timeout=15)
    assert locked.status_code == 429, describe(locked)
    locked_at = time.monotonic()
    time.sleep(max(0.0, PROPAGATION_LIMIT - (time.monotonic() - locked_at)))
    probe = http.get(cluster.b.base_url + MYSELF, auth=right, timeout=15)
    assert probe.status_code == 429, f"B does not refuse a pair locked on A 1 s ago: {describe(probe)}"
    resp = admin_a.request("DELETE", LOCKOUT, params={"user": person.name, "address": "127.0.0.1"})
    assert resp.status_code == 204, describe(resp)
    observe("lockout lifted", lambda: http.get(cluster.b.base_url + MYSELF, auth=right, timeout=15).status_code == 200)


def test_guesses_spread_over_both_nodes_count_as_one_nodes(cluster, admin_a):
    """§10 limits hold for the cluster: 3 wrong passwords on A and 2 on B lock the pair on both."""
    person = Person(admin_a, cluster)
    right, wrong = (person.name, person.password), (person.name, "wrong-" + secrets.token_hex(6))
    http = session()
    for node in (cluster.a, cluster.a, cluster.a, cluster.b, cluster.b):
        resp = http.get(node.base_url + MYSELF, auth=wrong, timeout=15)
        assert resp.status_code == 401, describe(resp)
        time.sleep(0.2)  # each failure reaches the other node (measured: tens of ms)
    for node in (cluster.a, cluster.b):
        probe = http.get(node.base_url + MYSELF, auth=right, timeout=15)
        assert probe.status_code == 429, f"{node.base_url}: 5 guesses over two nodes did not lock the pair: {describe(probe)}"
    resp = admin_a.request("DELETE", LOCKOUT, params={"user": person.name})
    assert resp.status_code == 204, describe(resp)
    observe("lockout lifted on both", lambda: all(http.get(n.base_url + MYSELF, auth=right, timeout=15).status_code == 200
                                                   for n in (cluster.a, cluster.b)))


def test_application_revoked_by_its_user_on_one_node_reaches_the_other(cluster, admin_a):
    """§9: the user revokes an app on A; its tokens stop working on B."""
    person = Person(admin_a, cluster)
    redirect = redirect_uri()
    client = admin_a.create_client([redirect], scope="WRITE")
    grant = person.tokens(cluster.a, client, redirect)
    http = session()
    assert bearer_myself(cluster.b, grant["access_token"], http).status_code == 200
    apps = http.get(cluster.a.base_url + APPLICATIONS, auth=(person.name, person.password), timeout=15)
    assert apps.status_code == 200, describe(apps)
    mine = [app for app in apps.json() if app["client"] == client["clientId"]]
    assert len(mine) == 1, apps.text
    resp = http.delete(f"{cluster.a.base_url}{APPLICATIONS}/{quote(str(mine[0]['id']), safe='')}",
                       auth=(person.name, person.password), timeout=15)
    assert resp.status_code == 204, describe(resp)
    observe("application revoked by its user", lambda: bearer_myself(cluster.b, grant["access_token"], http).status_code == 401)
    refreshed = token_request(cluster.b, client, {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]})
    assert refreshed.status_code == 400 and json_of(refreshed)["error"] == "invalid_grant", describe(refreshed)


# --------------------------------------------------------------------------------------------
# kill -9 of one node under a write load
# --------------------------------------------------------------------------------------------

def test_kill9_of_one_node_under_write_load_loses_nothing_it_acknowledged(cluster, admin_a):
    runner, _ = admin_a.create_user()
    client = admin_a.create_client([], scope="WRITE", executeAs=runner)
    introspector = admin_a.create_client([], scope="READ")
    rng = random.Random(secrets.randbits(32))
    totals = {"acknowledged_by_killed_node": 0, "cut_off_by_kill": 0, "acknowledged_by_survivor": 0, "cycles": 3}
    for cycle in range(totals["cycles"]):
        victim, survivor = cluster.a, cluster.b
        acked, survivor_acked, failures = [], [], []
        cut_off = [0]
        killed, stop = threading.Event(), threading.Event()
        lock = threading.Lock()

        def load(node, sink, victim_side):
            """client_credentials issues until `stop`; only complete 200s count as acknowledged. On the
            victim's side a failed request after the kill is the kill's doing (counted, then stop)."""
            http = requests.Session()
            try:
                while not stop.is_set():
                    sent_before_kill = not killed.is_set()
                    try:
                        resp = http.post(node.base_url + TOKEN, auth=(client["clientId"], client["clientSecret"]),
                                         data={"grant_type": "client_credentials"}, timeout=10)
                    except requests.RequestException as error:
                        if victim_side and killed.is_set():
                            if sent_before_kill:
                                with lock:
                                    cut_off[0] += 1
                            return
                        failures.append(f"cycle {cycle}: {node.base_url}: {error!r}")
                        return
                    if resp.status_code != 200:
                        failures.append(f"cycle {cycle}: {describe(resp)}")
                        return
                    with lock:
                        sink.append(resp.json()["access_token"])
            finally:
                http.close()

        workers = [threading.Thread(target=load, args=(victim, acked, True), daemon=True) for _ in range(3)]
        workers.append(threading.Thread(target=load, args=(survivor, survivor_acked, False), daemon=True))
        for w in workers:
            w.start()
        time.sleep(rng.uniform(0.5, 1.5))
        killed.set()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        victim.log_file.close()
        time.sleep(0.5)          # the survivor keeps serving while its peer is dead
        stop.set()
        for w in workers:
            w.join(30)
            assert not w.is_alive(), "a load thread did not stop"
        assert not failures, failures[:5]
        with lock:
            tokens, theirs = list(acked), list(survivor_acked)
        assert tokens, f"cycle {cycle}: the killed node acknowledged nothing"
        assert theirs, f"cycle {cycle}: the surviving node acknowledged nothing"
        lost = [t for t in tokens + theirs if introspect(survivor, t, introspector).get("active") is not True]
        assert not lost, f"cycle {cycle}: {len(lost)} of {len(tokens) + len(theirs)} acknowledged tokens are not active"
        totals["acknowledged_by_killed_node"] += len(tokens)
        totals["acknowledged_by_survivor"] += len(theirs)
        totals["cut_off_by_kill"] += cut_off[0]
        cluster.start_a()        # same port, same database: back in the cluster
        assert introspect(cluster.a, tokens[-1], introspector)["active"] is True
    FIGURES["kill -9 under client_credentials load"] = totals
    assert totals["cut_off_by_kill"] > 0, f"the kills never interrupted a request: {totals}"


# --------------------------------------------------------------------------------------------
# Database outage (a private cluster of its own, so the shared one keeps running)
# --------------------------------------------------------------------------------------------

def pg_test_cluster(*args):
    result = subprocess.run([str(REPO_ROOT / "scripts" / "pg-test-cluster"), *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"pg-test-cluster {' '.join(args)}: {result.stderr[-2000:]}"
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def test_database_outage_answers_503_and_recovers_without_a_restart(tmp_path_factory):
    # Under .build (not a pytest tmp dir): as root the cluster runs as linkgate-pg, which must reach it.
    outage_dir = REPO_ROOT / ".build" / "pg-test-outage"
    port = unused_loopback_port()
    admin_url = pg_test_cluster("start", str(outage_dir), str(port))
    node, database = None, None
    try:
        database = create_postgres_database(admin_url, prefix="lg_outage")
        node = launch_server(tmp_path_factory.mktemp("outage"), database=database)
        http = requests.Session()
        admin = ("admin", ADMIN_PASSWORD)
        resp = http.post(node.base_url + CLIENTS, auth=admin, timeout=15,
                         json={"name": uniq("outage"), "redirects": [], "scope": "READ"})
        assert resp.status_code == 201, describe(resp)
        client = resp.json()
        client_auth = (client["clientId"], client["clientSecret"])
        resp = http.post(node.base_url + TOKEN, auth=client_auth, data={"grant_type": "client_credentials"}, timeout=15)
        assert resp.status_code == 200, describe(resp)
        token = resp.json()["access_token"]
        pid = node.process.pid

        seen = []     # (phase, what, seconds since the stop/start when sent, status, body, seconds taken)
        seen_lock = threading.Lock()
        calls = {
            "status": lambda h: h.get(node.base_url + "/status", timeout=15),
            "token": lambda h: h.post(node.base_url + TOKEN, auth=client_auth, timeout=15,
                                      data={"grant_type": "client_credentials"}),
            "introspect": lambda h: h.post(node.base_url + INTROSPECT, auth=client_auth, timeout=15,
                                           data={"token": token}),
            "bearer": lambda h: h.get(node.base_url + MYSELF, headers={"Authorization": f"Bearer {token}"}, timeout=15),
        }

        def probing(phase, since, done):
            """Each kind of request on its own thread, one after the other every 250 ms, until `done(kind,
            entry)` says that kind is settled; returns when every kind is."""
            def loop(what):
                h = requests.Session()
                try:
                    while True:
                        began = time.monotonic()
                        try:
                            resp = calls[what](h)
                            entry = (phase, what, round(began - since, 2), resp.status_code, json_of(resp),
                                     round(time.monotonic() - began, 2))
                        except requests.RequestException as error:
                            entry = (phase, what, round(began - since, 2), None, repr(error),
                                     round(time.monotonic() - began, 2))
                        with seen_lock:
                            seen.append(entry)
                        if done(what, entry) or time.monotonic() - since > 60:
                            return
                        time.sleep(0.25)
                finally:
                    h.close()
            with ThreadPoolExecutor(len(calls)) as pool:
                list(pool.map(loop, calls))

        def unavailable(entry):
            _, what, _, status, body, _ = entry
            if what == "status":
                return status == 503 and body == {"state": "ERROR"}
            return status == 503 and isinstance(body, dict) and body.get("error") == "temporarily_unavailable"

        def recovered_answer(entry):
            _, what, _, status, body, _ = entry
            if what == "status":
                return status == 200 and body == {"state": "RUNNING"}
            if what == "introspect":
                return status == 200 and isinstance(body, dict) and body.get("active") is True
            return status == 200

        pg_test_cluster("stop", str(outage_dir))
        stopped = time.monotonic()
        # Down: each kind keeps probing for 3 s after its first 503 (and gives up 15 s after the stop).
        first_503 = {}

        def settled_down(what, entry):
            if unavailable(entry) and what not in first_503:
                first_503[what] = round(entry[2] + entry[5], 2)      # answered this long after the stop
            return (what in first_503 and time.monotonic() - stopped > first_503[what] + 3) \
                or time.monotonic() - stopped > OUTAGE_DEADLINE + 5

        probing("down", stopped, settled_down)
        pg_test_cluster("start", str(outage_dir), str(port))
        restarted = time.monotonic()
        back = {}

        def settled_up(what, entry):
            if recovered_answer(entry):
                back[what] = round(entry[2] + entry[5], 2)
                return True
            return False

        probing("up", restarted, settled_up)
        recovered = max(back.values()) if len(back) == len(calls) else None

        down = [e for e in seen if e[0] == "down"]
        FIGURES["outage: first 503 answered after the stop (s), by request"] = first_503
        FIGURES["outage: slowest answer while down (s), by request"] = {
            what: max(e[5] for e in down if e[1] == what) for what in calls if any(e[1] == what for e in down)}
        FIGURES["outage: all answering normally again after the database came back (s)"] = recovered
        problems = [e for e in seen if e[3] == 500 or e[3] is None or e[5] > OUTAGE_DEADLINE]
        assert not problems, f"500s, dropped or hanging requests during the outage: {problems[:10]}"
        for what in calls:
            assert what in first_503, (f"{what}: never answered 503 temporarily_unavailable (status: 503 ERROR) "
                                       f"while the database was down: {[e for e in down if e[1] == what][:8]}")
            assert first_503[what] <= OUTAGE_DEADLINE, f"{what}: the first 503 came {first_503[what]} s after the stop"
        # While down, anything that needs the database (tokens are never cached) is refused as unavailable,
        # never with another error; /status may say RUNNING a little longer, never anything else.
        wrong = [e for e in down if not unavailable(e)
                 and not (e[1] == "status" and e[3] == 200 and e[2] <= OUTAGE_DEADLINE)]
        assert not wrong, f"answers other than 503 temporarily_unavailable with the database down: {wrong[:10]}"
        assert recovered is not None, f"no recovery within 60 s of the database coming back: {seen[-8:]}"
        assert recovered <= 30, f"recovery took {recovered} s after the database came back"
        assert node.process.poll() is None and node.process.pid == pid, "the node was not the same process"
    finally:
        if node is not None:
            shutdown_server(node)
        if database is not None:
            pg_test_cluster("start", str(outage_dir), str(port))    # no-op unless a failure left it stopped
            drop_postgres_database(database)
        pg_test_cluster("stop", str(outage_dir))


def test_zz_no_server_errors_on_the_cluster(cluster):
    assert SERVER_ERRORS == [], f"5xx answers: {SERVER_ERRORS[:10]}"
    for node in (cluster.a, cluster.b):
        log = node.log_text()
        assert ADMIN_PASSWORD not in log
        assert urlsplit(cluster.database).password not in log, "the database password is in a node's log"


# --------------------------------------------------------------------------------------------
# Operations on PostgreSQL (INTERFACE §15): STARTING while migrating, commit metrics
# --------------------------------------------------------------------------------------------

MIGRATION_LOCK = 0x6C69_6E6B_6761_7465   # PostgresSchema.lockKey


def test_a_node_waiting_to_migrate_answers_starting_then_records_commits(tmp_path_factory):
    """A node whose migration waits (another session holds the migration lock) has its port open
    and answers /status 503 STARTING, other paths 503 + Retry-After; then RUNNING, and with
    --metrics-port its multi-statement transactions appear in linkgate_store_commit_duration_seconds."""
    from prometheus_client.parser import text_string_to_metric_families
    database = create_postgres_database(prefix="lg_starting")
    holder = subprocess.Popen([postgres_tool("psql"), "-X", "-q", "-d", database, "-c",
                               f"SELECT pg_advisory_lock({MIGRATION_LOCK}); SELECT pg_sleep(3);"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)   # psql connected and took the lock
    metrics_port = unused_loopback_port()
    node, states, other = launch_watching_startup(tmp_path_factory.mktemp("starting"), USERS, database=database,
                                                  extra_args=["--metrics-port", str(metrics_port)])
    assert holder.wait(15) == 0, holder.stderr.read()
    assert node is not None, "the node did not come up"
    base = node.base_url
    try:
        assert (503, "STARTING") in states, states
        assert other is not None and other.status_code == 503 and other.json()["error"] == "temporarily_unavailable"
        assert other.headers["Retry-After"] == "1"
        resp = requests.get(base + "/status", timeout=10)
        assert (resp.status_code, resp.json()) == (200, {"state": "RUNNING"})
        name = uniq("ops")
        created = requests.post(base + USERS, auth=("admin", ADMIN_PASSWORD),
                                json={"name": name, "password": "ops-password-1"}, timeout=10)
        assert created.status_code == 201, describe(created)
        changed = requests.put(base + USERS + "/" + name, auth=("admin", ADMIN_PASSWORD), json={"displayName": "Ops"}, timeout=10)
        assert changed.status_code == 200, describe(changed)
        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        counts = [s.value for s in families["linkgate_store_commit_duration_seconds"].samples
                  if s.name.endswith("_count") and s.labels.get("store") == "postgresql"]
        assert counts and counts[0] >= 1, text
        assert "linkgate_store_commit_batch_size" not in families   # a SQLite group-commit figure
    finally:
        shutdown_server(node)
        drop_postgres_database(database)
