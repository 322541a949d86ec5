"""End-to-end tests of Linkgate's foundation (INTERFACE.md §1, §2, §3, §5) against the real server.

Every request goes over HTTP to the binary started by conftest.py. Tests assert exact statuses
and bodies; a failure that contradicts INTERFACE.md is a server bug, not a reason to relax a test.
"""
import base64
import itertools
import json
import re
from html.parser import HTMLParser
from urllib.parse import quote, urljoin

import pytest

from conftest import error_keys_ok, set_cookie_headers

USERS = "/rest/api/latest/user"
CLIENTS = "/rest/oauth2/latest/client"
MYSELF = "/rest/api/latest/myself"

USER_KEYS = {"name", "displayName", "email", "admin", "directory"}
CLIENT_KEYS = {"id", "clientId", "clientSecret", "name", "redirects", "scope", "impersonation", "publicKey", "executeAs",
               "allowedAddresses"}
AUTH_KEYS = {"protocol", "mode", "client", "scope"}
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{43,}$")
SESSION_COOKIE = "linkgate_session"
ERROR_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict"}
BIG = 70 * 1024  # > 64 KiB

_counter = itertools.count(1)


def uniq(prefix):
    return f"{prefix}-{next(_counter)}"


def describe(resp):
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:600]!r}"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

class Api:
    """Thin REST client: admin Basic auth by default, never follows redirects, never keeps cookies."""

    DEFAULT = object()

    def __init__(self, session, base_url, admin_auth, recorder):
        self.session = session
        self.base = base_url
        self.admin = admin_auth
        self.recorder = recorder

    def call(self, method, path, auth=DEFAULT, **kwargs):
        kwargs.setdefault("timeout", 15)
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.base + path, auth=self.admin if auth is Api.DEFAULT else auth, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def put(self, path, **kw):
        return self.call("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def raw(self, method, path, data, auth=DEFAULT, content_type="application/json"):
        return self.call(method, path, auth=auth, data=data, headers={"Content-Type": content_type})

    # ---- users
    def create_user(self, name=None, password=None, **extra):
        name = name or uniq("user")
        password = password or f"pw-{uniq('secret')}-Zq9!"
        self.recorder.add_secret(password)
        resp = self.post(USERS, json={"name": name, "password": password, **extra})
        assert resp.status_code == 201, describe(resp)
        return name, password, resp.json()

    def users(self):
        resp = self.get(USERS)
        assert resp.status_code == 200, describe(resp)
        return sorted(resp.json(), key=lambda u: u["name"])

    # ---- clients
    def create_client(self, name=None, redirects=("https://app.example/cb",), scope="WRITE", **extra):
        body = {"name": name or uniq("client"), "redirects": list(redirects), "scope": scope, **extra}
        resp = self.post(CLIENTS, json=body)
        assert resp.status_code == 201, describe(resp)
        return resp.json()

    def clients(self):
        resp = self.get(CLIENTS)
        assert resp.status_code == 200, describe(resp)
        return sorted(resp.json(), key=lambda c: c["clientId"])


def assert_json(resp, status):
    assert resp.status_code == status, describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("application/json"), describe(resp)
    return resp.json()


def assert_error(resp, status, code=None):
    """INTERFACE §1: {"error": code, "error_description": text} with the code for the status."""
    body = assert_json(resp, status)
    assert isinstance(body, dict), describe(resp)
    assert error_keys_ok(resp, body), describe(resp)
    expected = code or ERROR_CODES.get(status)
    if expected is not None:
        assert body["error"] == expected, describe(resp)
    else:
        assert isinstance(body["error"], str) and body["error"], describe(resp)
    assert isinstance(body["error_description"], str) and body["error_description"], describe(resp)
    # INTERFACE §1: error responses send Cache-Control: no-store and Pragma: no-cache.
    assert "no-store" in resp.headers.get("Cache-Control", ""), f"Cache-Control: {describe(resp)}"
    assert resp.headers.get("Pragma") == "no-cache", f"Pragma: {describe(resp)}"
    return body


def assert_unauthorized(resp):
    assert_error(resp, 401, "unauthorized")
    assert resp.headers.get("WWW-Authenticate"), f"401 without WWW-Authenticate: {describe(resp)}"


def basic(value):
    return {"Authorization": "Basic " + base64.b64encode(value.encode()).decode()}


def session_cookies_set(resp):
    """Values of linkgate_session cookies set by a response (non-empty only)."""
    values = []
    for header in set_cookie_headers(resp):
        name, _, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            value = rest.split(";", 1)[0].strip()
            if value:
                values.append((value, header))
    return values


class Page(HTMLParser):
    """Collects forms (with inputs and buttons) and visible text of an HTML page."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.text = []
        self._form = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action"), "method": a.get("method", "get").lower(), "inputs": {}, "types": {}}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form["inputs"][a["name"]] = a.get("value", "")
            self._form["types"][a["name"]] = a.get("type", "text").lower()

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None

    def handle_data(self, data):
        self.text.append(data)

    def form(self, action):
        matches = [f for f in self.forms if f["action"] == action]
        assert len(matches) == 1, f"expected one form posting to {action}, found {self.forms}"
        return matches[0]

    @property
    def visible_text(self):
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def api(http, base_url, admin_auth, recorder):
    return Api(http, base_url, admin_auth, recorder)


@pytest.fixture()
def browser(new_session, base_url):
    """A fresh cookie-keeping browser session."""
    s = new_session()
    s.headers["User-Agent"] = "Mozilla/5.0 (linkgate-e2e)"
    return s


def get_login_form(browser, base_url, next_path="/"):
    resp = browser.get(f"{base_url}/login?next={quote(next_path, safe='')}", allow_redirects=False, timeout=15)
    assert resp.status_code == 200, describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("text/html"), describe(resp)
    form = Page(resp.text).form("/login")
    return resp, form


def login(browser, base_url, username, password, next_path="/"):
    """Log in exactly as a browser would; returns the POST response (not followed)."""
    _, form = get_login_form(browser, base_url, next_path)
    values = dict(form["inputs"])
    values["username"] = username
    values["password"] = password
    return browser.post(base_url + "/login", data=values, allow_redirects=False, timeout=15)


def logged_in(browser, base_url, username, password):
    resp = login(browser, base_url, username, password)
    assert resp.status_code == 303, describe(resp)
    assert browser.cookies.get(SESSION_COOKIE), "no session cookie after login"
    return browser.cookies.get(SESSION_COOKIE)


def home_csrf(browser, base_url):
    resp = browser.get(base_url + "/", allow_redirects=False, timeout=15)
    assert resp.status_code == 200, describe(resp)
    form = Page(resp.text).form("/logout")
    token = form["inputs"].get("csrf_token")
    assert token and form["types"]["csrf_token"] == "hidden", form
    return token


def cookie_only(new_session, base_url, value):
    """A session carrying only the given session cookie."""
    s = new_session()
    s.cookies.set(SESSION_COOKIE, value, domain="127.0.0.1", path="/")
    return s


def location_of(resp, base_url):
    loc = resp.headers.get("Location")
    assert loc is not None, f"no Location header: {describe(resp)}"
    return urljoin(base_url + "/login", loc)


# --------------------------------------------------------------------------------------------
# 1. Service
# --------------------------------------------------------------------------------------------

def test_status_running(api):
    resp = api.get("/status", auth=None)
    assert assert_json(resp, 200) == {"state": "RUNNING"}


def test_bootstrap_admin_exists(api):
    users = api.users()
    admin = [u for u in users if u["name"] == "admin"]
    assert len(admin) == 1 and admin[0]["admin"] is True, users
    assert set(admin[0]) == USER_KEYS


# --------------------------------------------------------------------------------------------
# 2. Users REST
# --------------------------------------------------------------------------------------------

def test_user_lifecycle(api):
    name = uniq("alice")
    password = "alice-password-e2e-1"
    api.recorder.add_secret(password)
    resp = api.post(USERS, json={"name": name, "password": password, "displayName": "Alice E2E",
                                 "email": "alice@example.com"})
    body = assert_json(resp, 201)
    assert body == {"name": name, "displayName": "Alice E2E", "email": "alice@example.com", "admin": False, "directory": "local"}
    assert password not in resp.text

    listed = [u for u in api.users() if u["name"] == name]
    assert listed == [body]
    for user in api.users():
        assert set(user) == USER_KEYS, user

    resp = api.get(f"{USERS}/{name}")
    assert assert_json(resp, 200) == body

    resp = api.put(f"{USERS}/{name}", json={"displayName": "Alice Renamed", "email": "alice2@example.com"})
    updated = assert_json(resp, 200)
    assert updated == {"name": name, "displayName": "Alice Renamed", "email": "alice2@example.com", "admin": False, "directory": "local"}
    assert assert_json(api.get(f"{USERS}/{name}"), 200) == updated

    # PUT changes only the keys given.
    resp = api.put(f"{USERS}/{name}", json={"displayName": "Only Display"})
    assert assert_json(resp, 200) == {**updated, "displayName": "Only Display"}
    resp = api.put(f"{USERS}/{name}", json={"email": "alice3@example.com"})
    assert assert_json(resp, 200) == {**updated, "displayName": "Only Display", "email": "alice3@example.com"}

    # The user's password still works after profile edits (Basic auth as the user).
    assert api.get(MYSELF, auth=(name, password)).status_code == 200

    resp = api.delete(f"{USERS}/{name}")
    assert resp.status_code == 204, describe(resp)
    assert resp.content == b""
    assert_error(api.get(f"{USERS}/{name}"), 404, "not_found")
    assert_error(api.delete(f"{USERS}/{name}"), 404, "not_found")
    assert_error(api.put(f"{USERS}/{name}", json={"displayName": "x"}), 404, "not_found")
    assert name not in [u["name"] for u in api.users()]
    # A deleted user can no longer authenticate.
    assert_unauthorized(api.get(MYSELF, auth=(name, password)))


def test_user_minimal_create_has_every_key(api):
    name = uniq("minimal")
    _, _, body = api.create_user(name=name)
    assert set(body) == USER_KEYS
    assert body["name"] == name and body["admin"] is False and body["email"] is None
    assert body["displayName"] is None or isinstance(body["displayName"], str)


def test_user_admin_flag(api):
    name, password, body = api.create_user(admin=True, displayName="Second Admin")
    assert body == {"name": name, "displayName": "Second Admin", "email": None, "admin": True, "directory": "local"}
    assert api.get(USERS, auth=(name, password)).status_code == 200


def test_get_unknown_user_is_404(api):
    assert_error(api.get(f"{USERS}/no-such-user-e2e"), 404, "not_found")


@pytest.mark.parametrize("second", ["same", "lower", "upper"])
def test_duplicate_user_name_conflict(api, second):
    base = uniq("Bob")
    api.create_user(name=base)
    before = api.users()
    other = {"same": base, "lower": base.lower(), "upper": base.upper()}[second]
    resp = api.post(USERS, json={"name": other, "password": "another-password-1"})
    assert_error(resp, 409, "conflict")
    assert api.users() == before


def test_user_put_rejects_bad_input_and_changes_nothing(api):
    name, _, original = api.create_user(displayName="Stable", email="stable@example.com")
    cases = [
        (b'{"displayName": ', 400),
        (json.dumps({"displayName": 5}).encode(), 400),
        (json.dumps({"admin": "yes"}).encode(), 400),
        (json.dumps({"role": "admin"}).encode(), 400),
        (json.dumps([{"displayName": "x"}]).encode(), 400),
        (json.dumps({"displayName": "x" * BIG}).encode(), 413),
    ]
    for data, status in cases:
        assert_error(api.raw("PUT", f"{USERS}/{name}", data), status)
        assert assert_json(api.get(f"{USERS}/{name}"), 200) == original


# --------------------------------------------------------------------------------------------
# 3. Hostile input
# --------------------------------------------------------------------------------------------

def _user_body(case, **override):
    body = {"name": f"hostile-{case}", "password": "hostile-password-1"}
    body.update(override)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()

USER_HOSTILE = [
    ("invalid-json", b'{"name": "hostile-invalid-json", "password": ', 400),
    ("trailing-garbage", b'{"name": "hostile-trailing", "password": "hostile-password-1"} xyz', 400),
    ("empty-body", b"", 400),
    ("form-encoded", b"name=hostile-form&password=hostile-password-1", 400),
    ("json-array", json.dumps([{"name": "hostile-array", "password": "hostile-password-1"}]).encode(), 400),
    ("json-string", b'"hostile"', 400),
    ("json-null", b"null", 400),
    ("admin-string", _user_body("admin-string", admin="yes"), 400),
    ("name-number", _user_body("name-number", name=1), 400),
    ("name-null", _user_body("name-null", name=None), 400),
    ("password-number", _user_body("password-number", password=12345678), 400),
    ("displayName-object", _user_body("displayname-object", displayName={"a": 1}), 400),
    ("unknown-key", _user_body("unknown-key", role="admin"), 400),
    ("missing-name", _user_body("missing-name", name=_DROP), 400),
    ("missing-password", _user_body("missing-password", password=_DROP), 400),
    ("sql-name", _user_body("sql", name="x'); DROP TABLE users;--"), 400),
    ("html-name", _user_body("html", name="<script>alert(1)</script>"), 400),
    ("space-name", _user_body("space", name="a b"), 400),
    ("slash-name", _user_body("slash", name="../admin"), 400),
    ("empty-name", _user_body("empty", name=""), 400),
    ("too-large", _user_body("too-large", displayName="A" * BIG), 413),
]


@pytest.mark.parametrize("case,body,status", USER_HOSTILE, ids=[c[0] for c in USER_HOSTILE])
def test_hostile_user_create(api, case, body, status):
    before = api.users()
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = api.raw("POST", USERS, data)
    assert_error(resp, status)
    assert api.users() == before


def _client_body(case, **override):
    body = {"name": f"hostile-client-{case}", "redirects": ["https://app.example/cb"], "scope": "WRITE"}
    body.update(override)
    return {k: v for k, v in body.items() if v is not _DROP}


CLIENT_HOSTILE = [
    ("invalid-json", b'{"name": "hc", "redirects": [', 400),
    ("trailing-garbage", b'{"name": "hc-t", "redirects": [], "scope": "READ"} xyz', 400),
    ("empty-body", b"", 400),
    ("json-array", json.dumps([_client_body("array")]).encode(), 400),
    ("json-null", b"null", 400),
    ("redirects-string", _client_body("redirects-string", redirects="x"), 400),
    ("redirects-numbers", _client_body("redirects-numbers", redirects=[1]), 400),
    ("redirects-null", _client_body("redirects-null", redirects=None), 400),
    ("name-number", _client_body("name-number", name=1), 400),
    ("scope-number", _client_body("scope-number", scope=1), 400),
    ("impersonation-string", _client_body("impersonation-string", impersonation="yes"), 400),
    ("unknown-key", _client_body("unknown-key", secret="x"), 400),
    ("client-secret-key", _client_body("client-secret-key", clientSecret="chosen-by-caller"), 400),
    ("missing-name", _client_body("missing-name", name=_DROP), 400),
    ("missing-redirects", _client_body("missing-redirects", redirects=_DROP), 400),
    ("missing-scope", _client_body("missing-scope", scope=_DROP), 400),
    ("too-large", _client_body("too-large", redirects=["https://app.example/" + "a" * BIG]), 413),
]


@pytest.mark.parametrize("case,body,status", CLIENT_HOSTILE, ids=[c[0] for c in CLIENT_HOSTILE])
def test_hostile_client_create(api, case, body, status):
    before = api.clients()
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = api.raw("POST", CLIENTS, data)
    assert_error(resp, status)
    assert api.clients() == before


@pytest.mark.parametrize("path", [USERS, CLIENTS])
def test_chunked_body_over_limit_is_413(api, path):
    """The 64 KiB limit also holds when the body has no Content-Length (chunked upload)."""
    users, clients = api.users(), api.clients()
    filler = "A" * BIG
    payload = {"name": uniq("chunked"), "password": "chunked-password-1", "displayName": filler} if path == USERS \
        else {"name": uniq("chunked"), "redirects": ["https://app.example/" + filler], "scope": "READ"}
    data = json.dumps(payload).encode()

    def chunks():
        for i in range(0, len(data), 8192):
            yield data[i:i + 8192]

    resp = api.call("POST", path, data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert_error(resp, 413)
    assert api.users() == users and api.clients() == clients


def test_hostile_display_names_are_stored_verbatim(api):
    users_before = {u["name"] for u in api.users()}
    for display in ["<script>alert(1)</script>", "x'); DROP TABLE users;--"]:
        name, _, body = api.create_user(displayName=display)
        assert body["displayName"] == display
        assert assert_json(api.get(f"{USERS}/{name}"), 200)["displayName"] == display
    # The users table is intact: every earlier user is still listed.
    assert users_before <= {u["name"] for u in api.users()}


def test_hostile_client_name_is_stored_verbatim(api):
    name = "x'); DROP TABLE users;--" + uniq("")
    body = api.create_client(name=name)
    assert body["name"] == name
    assert assert_json(api.get(f"{CLIENTS}/{body['clientId']}"), 200)["name"] == name
    assert "admin" in [u["name"] for u in api.users()]
    assert api.delete(f"{CLIENTS}/{body['clientId']}").status_code == 204


# --------------------------------------------------------------------------------------------
# 4. OAuth 2.0 client registry
# --------------------------------------------------------------------------------------------

def test_client_lifecycle(api):
    name = uniq("app")
    resp = api.post(CLIENTS, json={"name": name, "redirects": ["https://app.example/cb"], "scope": "WRITE"})
    created = assert_json(resp, 201)
    assert set(created) == CLIENT_KEYS, created
    assert created["id"] not in (None, "")
    assert isinstance(created["clientId"], str) and created["clientId"]
    assert isinstance(created["clientSecret"], str) and SECRET_RE.match(created["clientSecret"]), created
    assert created["name"] == name
    assert created["redirects"] == ["https://app.example/cb"]
    assert created["scope"] == "WRITE"
    assert created["impersonation"] is False
    assert created["publicKey"] is None
    assert created["executeAs"] is None
    cid = created["clientId"]
    shown = {**created, "clientSecret": None}

    listed = [c for c in api.clients() if c["clientId"] == cid]
    assert listed == [shown]
    for client in api.clients():
        assert set(client) == CLIENT_KEYS, client
        assert client["clientSecret"] is None, client
    assert created["clientSecret"] not in api.get(CLIENTS).text

    assert assert_json(api.get(f"{CLIENTS}/{cid}"), 200) == shown

    # PUT changes only the keys given.
    resp = api.put(f"{CLIENTS}/{cid}", json={"scope": "READ"})
    after_scope = assert_json(resp, 200)
    assert after_scope == {**shown, "scope": "READ"}
    resp = api.put(f"{CLIENTS}/{cid}", json={"redirects": ["https://app.example/cb2", "http://127.0.0.1:9000/cb"]})
    after_redirects = assert_json(resp, 200)
    assert after_redirects == {**after_scope, "redirects": ["https://app.example/cb2", "http://127.0.0.1:9000/cb"]}
    renamed = uniq("app-renamed")
    resp = api.put(f"{CLIENTS}/{cid}", json={"name": renamed})
    after_name = assert_json(resp, 200)
    assert after_name == {**after_redirects, "name": renamed}
    assert assert_json(api.get(f"{CLIENTS}/{cid}"), 200) == after_name

    # Reset: a new, different secret, shown once.
    resp = api.put(f"{CLIENTS}/reset/{cid}")
    reset = assert_json(resp, 200)
    assert set(reset) == CLIENT_KEYS
    assert isinstance(reset["clientSecret"], str) and SECRET_RE.match(reset["clientSecret"]), reset
    assert reset["clientSecret"] != created["clientSecret"]
    assert {**reset, "clientSecret": None} == after_name
    assert assert_json(api.get(f"{CLIENTS}/{cid}"), 200)["clientSecret"] is None

    resp = api.delete(f"{CLIENTS}/{cid}")
    assert resp.status_code == 204, describe(resp)
    assert resp.content == b""
    assert_error(api.get(f"{CLIENTS}/{cid}"), 404, "not_found")
    assert_error(api.delete(f"{CLIENTS}/{cid}"), 404, "not_found")
    assert_error(api.put(f"{CLIENTS}/reset/{cid}"), 404, "not_found")
    assert cid not in [c["clientId"] for c in api.clients()]


def test_client_secrets_are_unique(api):
    a = api.create_client()
    b = api.create_client()
    assert a["clientId"] != b["clientId"]
    assert a["clientSecret"] != b["clientSecret"]


def test_unknown_client_is_404(api):
    assert_error(api.get(f"{CLIENTS}/no-such-client"), 404, "not_found")
    assert_error(api.put(f"{CLIENTS}/no-such-client", json={"scope": "READ"}), 404, "not_found")


BAD_REDIRECTS = [
    "javascript:alert(1)",
    "data:text/html,x",
    "file:///etc/passwd",
    "https://a.example/cb#",
    "https://a.example/cb#frag",
    "http://evil.example/cb",
    "/relative",
    "https://user:pw@a.example/cb",
    "ftp://a.example/cb",
    "http://127.0.0.1.evil.example/cb",
    "http://localhost.evil.example/cb",
    "javascript://a.example/%0aalert(1)",
    "https://",
    "",
]


@pytest.mark.parametrize("uri", BAD_REDIRECTS)
def test_bad_redirect_uri_rejected(api, uri):
    before = api.clients()
    resp = api.post(CLIENTS, json={"name": uniq("badredir"), "redirects": ["https://ok.example/cb", uri], "scope": "READ"})
    assert_error(resp, 400, "invalid_request")
    assert api.clients() == before


def test_bad_redirect_uri_rejected_on_update(api):
    client = api.create_client()
    shown = {**client, "clientSecret": None}
    for uri in ["javascript:alert(1)", "http://evil.example/cb", "https://a.example/cb#"]:
        resp = api.put(f"{CLIENTS}/{client['clientId']}", json={"redirects": [uri]})
        assert_error(resp, 400, "invalid_request")
        assert assert_json(api.get(f"{CLIENTS}/{client['clientId']}"), 200) == shown


@pytest.mark.parametrize("redirects", [
    ["http://127.0.0.1:9000/cb"],
    ["http://localhost/cb"],
    ["http://[::1]:8080/cb"],
    ["https://a.example/cb?x=1"],
    [],
    ["https://a.example/cb", "http://127.0.0.1/cb"],
])
def test_allowed_redirects(api, redirects):
    body = api.create_client(redirects=redirects, scope="READ")
    assert body["redirects"] == redirects
    assert assert_json(api.get(f"{CLIENTS}/{body['clientId']}"), 200)["redirects"] == redirects
    assert api.delete(f"{CLIENTS}/{body['clientId']}").status_code == 204


@pytest.mark.parametrize("scope", ["READ WRITE", "read", "", "SUPER", "WRITE "])
def test_bad_scope_rejected(api, scope):
    before = api.clients()
    resp = api.post(CLIENTS, json={"name": uniq("badscope"), "redirects": [], "scope": scope})
    assert_error(resp, 400, "invalid_request")
    assert api.clients() == before


@pytest.mark.parametrize("scope", ["READ", "WRITE", "ADMIN", "SYSTEM_ADMIN"])
def test_every_scope_accepted(api, scope):
    body = api.create_client(scope=scope, redirects=[])
    assert body["scope"] == scope
    assert api.delete(f"{CLIENTS}/{body['clientId']}").status_code == 204


def test_execute_as(api):
    before = api.clients()
    resp = api.post(CLIENTS, json={"name": uniq("exec"), "redirects": [], "scope": "READ", "executeAs": "no-such-user-e2e"})
    assert_error(resp, 400, "invalid_request")
    assert api.clients() == before

    user, _, _ = api.create_user()
    body = api.create_client(redirects=[], scope="READ", executeAs=user)
    assert body["executeAs"] == user
    shown = assert_json(api.get(f"{CLIENTS}/{body['clientId']}"), 200)
    assert shown == {**body, "clientSecret": None}

    resp = api.put(f"{CLIENTS}/{body['clientId']}", json={"executeAs": "no-such-user-e2e"})
    assert_error(resp, 400, "invalid_request")
    assert assert_json(api.get(f"{CLIENTS}/{body['clientId']}"), 200) == shown


def test_duplicate_client_name_conflict(api):
    name = uniq("dup-app")
    api.create_client(name=name)
    before = api.clients()
    resp = api.post(CLIENTS, json={"name": name, "redirects": [], "scope": "READ"})
    assert_error(resp, 409, "conflict")
    assert api.clients() == before
    # Renaming another client onto the taken name is a conflict as well.
    other = api.create_client()
    resp = api.put(f"{CLIENTS}/{other['clientId']}", json={"name": name})
    assert_error(resp, 409, "conflict")
    assert assert_json(api.get(f"{CLIENTS}/{other['clientId']}"), 200)["name"] == other["name"]


# --------------------------------------------------------------------------------------------
# 5. Authentication and authorization on REST
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [USERS, CLIENTS, MYSELF])
def test_no_credentials_is_401(api, path):
    assert_unauthorized(api.get(path, auth=None))


def test_wrong_credentials_are_401(api):
    assert_unauthorized(api.get(USERS, auth=("admin", "wrong-password")))
    assert_unauthorized(api.get(USERS, auth=("nobody-e2e", "whatever-password")))
    assert_unauthorized(api.get(USERS, auth=("", "")))


@pytest.mark.parametrize("header", [
    "Basic",
    "Basic ",
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"admin").decode(),           # no colon
    "Basic " + base64.b64encode(b"admin:").decode(),          # empty password
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),   # not UTF-8
    "basicc YWRtaW46YWRtaW4tcGFzcy1lMmU=",
    "Bearer not-a-real-token",
    "Bearer",
])
def test_malformed_authorization_is_401(api, header):
    resp = api.get(USERS, auth=None, headers={"Authorization": header})
    assert_unauthorized(resp)
    # INTERFACE §10: a known scheme with an empty or malformed credential gets its own challenge.
    scheme = header.split(" ", 1)[0]
    if scheme.lower() in ("basic", "bearer"):
        assert resp.headers["WWW-Authenticate"].split(" ", 1)[0].lower() == scheme.lower(), describe(resp)


def test_unauthenticated_writes_change_nothing(api):
    users, clients = api.users(), api.clients()
    assert_unauthorized(api.post(USERS, auth=None, json={"name": uniq("anon"), "password": "anon-password-1"}))
    assert_unauthorized(api.post(CLIENTS, auth=None, json={"name": uniq("anon"), "redirects": [], "scope": "READ"}))
    assert_unauthorized(api.delete(f"{USERS}/admin", auth=None))
    assert api.users() == users and api.clients() == clients


def test_non_admin_is_forbidden(api):
    name, password, _ = api.create_user(displayName="Plain User")
    me = (name, password)
    victim, _, _ = api.create_user()
    client = api.create_client()
    users, clients = api.users(), api.clients()

    for resp in [
        api.get(USERS, auth=me),
        api.get(f"{USERS}/admin", auth=me),
        api.post(USERS, auth=me, json={"name": uniq("evil"), "password": "evil-password-1", "admin": True}),
        api.put(f"{USERS}/{name}", auth=me, json={"admin": True}),
        api.delete(f"{USERS}/{victim}", auth=me),
        api.get(CLIENTS, auth=me),
        api.get(f"{CLIENTS}/{client['clientId']}", auth=me),
        api.post(CLIENTS, auth=me, json={"name": uniq("evil"), "redirects": [], "scope": "READ"}),
        api.put(f"{CLIENTS}/reset/{client['clientId']}", auth=me),
        api.delete(f"{CLIENTS}/{client['clientId']}", auth=me),
    ]:
        assert_error(resp, 403, "forbidden")
    assert api.users() == users and api.clients() == clients


def test_myself_with_basic(api):
    name, password, _ = api.create_user(displayName="Myself User", email="me@example.com")
    resp = api.get(MYSELF, auth=(name, password))
    assert assert_json(resp, 200) == {
        "name": name, "displayName": "Myself User", "email": "me@example.com", "admin": False, "directory": "local",
        "auth": {"protocol": "basic", "mode": None, "client": None, "scope": None},
    }

    resp = api.put(MYSELF, auth=(name, password), json={"displayName": "New"})
    body = assert_json(resp, 200)
    assert body["name"] == name and body["displayName"] == "New"
    assert assert_json(api.get(MYSELF, auth=(name, password)), 200)["displayName"] == "New"
    assert assert_json(api.get(f"{USERS}/{name}"), 200) == {
        "name": name, "displayName": "New", "email": "me@example.com", "admin": False, "directory": "local"}


def test_myself_admin(api, admin_auth):
    body = assert_json(api.get(MYSELF, auth=admin_auth), 200)
    assert body["name"] == "admin" and body["admin"] is True
    assert body["auth"] == {"protocol": "basic", "mode": None, "client": None, "scope": None}
    assert set(body) == USER_KEYS | {"auth"}


def test_myself_put_cannot_escalate(api):
    name, password, original = api.create_user(displayName="No Escalation")
    for data in [{"admin": True}, {"displayName": "x", "admin": True}, {"name": "admin"}]:
        resp = api.put(MYSELF, auth=(name, password), json=data)
        assert_error(resp, 400, "invalid_request")
    assert assert_json(api.get(f"{USERS}/{name}"), 200) == original
    assert_error(api.raw("PUT", MYSELF, b"[1]", auth=(name, password)), 400, "invalid_request")
    assert_error(api.raw("PUT", MYSELF, b'{"displayName":', auth=(name, password)), 400, "invalid_request")
    assert_error(api.put(MYSELF, auth=(name, password), json={"displayName": 7}), 400, "invalid_request")
    assert assert_json(api.get(f"{USERS}/{name}"), 200) == original


# --------------------------------------------------------------------------------------------
# 6. Browser login
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web_user(api):
    name, password, _ = api.create_user(displayName="Web <b>User</b>")
    return name, password


def test_login_form(browser, base_url):
    resp, form = get_login_form(browser, base_url, "/")
    assert form["method"] == "post"
    assert set(form["inputs"]) >= {"username", "password", "csrf_token", "next"}
    assert form["types"]["password"] == "password"
    assert form["types"]["csrf_token"] == "hidden" and form["inputs"]["csrf_token"]
    assert form["types"]["next"] == "hidden" and form["inputs"]["next"] == "/"
    assert resp.headers.get("Cache-Control") is not None


def test_browser_login_flow(browser, base_url, web_user, new_session, api):
    name, password = web_user
    resp = login(browser, base_url, name, password, next_path="/")
    assert resp.status_code == 303, describe(resp)
    assert location_of(resp, base_url) == base_url + "/"
    cookies = session_cookies_set(resp)
    assert len(cookies) == 1, set_cookie_headers(resp)
    value, header = cookies[0]
    attrs = [p.strip().lower() for p in header.split(";")[1:]]
    assert "httponly" in attrs, header
    assert "samesite=lax" in attrs, header
    assert SECRET_RE.match(value), header
    assert browser.cookies.get(SESSION_COOKIE) == value

    # The home page shows who is signed in (and escapes the display name).
    resp = browser.get(base_url + "/", allow_redirects=False, timeout=15)
    assert resp.status_code == 200, describe(resp)
    page = Page(resp.text)
    assert name in page.visible_text
    assert "Web <b>User</b>" in page.visible_text
    assert "<b>User</b>" not in resp.text, "display name rendered unescaped"

    # Safe REST method with only the cookie → honoured, as a session caller.
    only_cookie = cookie_only(new_session, base_url, value)
    resp = only_cookie.get(base_url + MYSELF, timeout=15, allow_redirects=False)
    body = assert_json(resp, 200)
    assert body["name"] == name
    assert body["auth"] == {"protocol": "session", "mode": None, "client": None, "scope": None}

    # Unsafe REST method with only the cookie → 401, nothing changes.
    resp = only_cookie.put(base_url + MYSELF, json={"displayName": "Cookie Write"}, timeout=15, allow_redirects=False)
    assert_unauthorized(resp)
    assert assert_json(api.get(f"{USERS}/{name}"), 200)["displayName"] == "Web <b>User</b>"


def test_admin_cookie_cannot_write_rest(api, browser, base_url, admin_auth, new_session):
    value = logged_in(browser, base_url, *admin_auth)
    only_cookie = cookie_only(new_session, base_url, value)
    assert only_cookie.get(base_url + USERS, timeout=15).status_code == 200
    users, clients = api.users(), api.clients()
    assert_unauthorized(only_cookie.post(base_url + USERS, json={"name": uniq("csrf"), "password": "csrf-password-1"},
                                         timeout=15, allow_redirects=False))
    assert_unauthorized(only_cookie.post(base_url + CLIENTS, json={"name": uniq("csrf"), "redirects": [], "scope": "READ"},
                                         timeout=15, allow_redirects=False))
    assert_unauthorized(only_cookie.delete(f"{base_url}{USERS}/{users[-1]['name']}", timeout=15, allow_redirects=False))
    assert api.users() == users and api.clients() == clients


@pytest.mark.parametrize("variant", ["missing", "wrong", "other-browser", "empty"])
def test_login_csrf(browser, base_url, web_user, new_session, variant):
    name, password = web_user
    _, form = get_login_form(browser, base_url)
    values = dict(form["inputs"], username=name, password=password)
    if variant == "missing":
        del values["csrf_token"]
    elif variant == "wrong":
        values["csrf_token"] = "A" * 43
    elif variant == "empty":
        values["csrf_token"] = ""
    else:
        _, other_form = get_login_form(new_session(), base_url)
        values["csrf_token"] = other_form["inputs"]["csrf_token"]
    resp = browser.post(base_url + "/login", data=values, allow_redirects=False, timeout=15)
    assert resp.status_code == 403, describe(resp)
    assert session_cookies_set(resp) == []
    assert browser.cookies.get(SESSION_COOKIE) is None
    assert browser.get(base_url + MYSELF, timeout=15).status_code == 401


def test_login_wrong_password(browser, base_url, web_user):
    name, _ = web_user
    resp = login(browser, base_url, name, "definitely-wrong-password")
    assert resp.status_code == 401, describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("text/html")
    assert session_cookies_set(resp) == []
    assert browser.cookies.get(SESSION_COOKIE) is None
    resp = login(browser, base_url, "no-such-user-e2e", "definitely-wrong-password")
    assert resp.status_code == 401, describe(resp)
    assert session_cookies_set(resp) == []


def test_new_session_id_on_every_login(browser, base_url, web_user, new_session):
    name, password = web_user
    # A planted cookie (session fixation attempt) is not adopted.
    planted = "P" * 43
    browser.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1", path="/")
    assert browser.get(base_url + MYSELF, timeout=15).status_code == 401
    first = logged_in(browser, base_url, name, password)
    assert first != planted
    second = logged_in(browser, base_url, name, password)
    assert second != first
    other = logged_in(new_session(), base_url, name, password)
    assert other not in (first, second)
    assert cookie_only(new_session, base_url, second).get(base_url + MYSELF, timeout=15).status_code == 200


@pytest.mark.parametrize("evil", ["//evil.example", "https://evil.example", "/\\evil.example", "\\\\evil.example",
                                  "javascript:alert(1)", "///evil.example", "/\t/evil.example"])
def test_login_next_must_be_local(browser, base_url, web_user, evil):
    name, password = web_user
    # The form never echoes a foreign `next`.
    _, form = get_login_form(browser, base_url, evil)
    assert form["inputs"]["next"] == "/"
    # Even when posted directly, the redirect goes home.
    _, form = get_login_form(browser, base_url)
    values = dict(form["inputs"], username=name, password=password, next=evil)
    resp = browser.post(base_url + "/login", data=values, allow_redirects=False, timeout=15)
    assert resp.status_code == 303, describe(resp)
    assert location_of(resp, base_url) == base_url + "/", resp.headers.get("Location")


def test_login_next_local_path_is_honoured(browser, base_url, web_user):
    name, password = web_user
    resp = login(browser, base_url, name, password, next_path="/profile/applications?x=1")
    assert resp.status_code == 303, describe(resp)
    assert location_of(resp, base_url) == base_url + "/profile/applications?x=1"


def test_logout(browser, base_url, web_user, new_session):
    name, password = web_user
    value = logged_in(browser, base_url, name, password)
    token = home_csrf(browser, base_url)

    # Without the form token: refused, session intact.
    resp = browser.post(base_url + "/logout", data={}, allow_redirects=False, timeout=15)
    assert resp.status_code == 403, describe(resp)
    assert browser.get(base_url + MYSELF, timeout=15).status_code == 200

    # With another session's token: refused, session intact.
    other = new_session()
    logged_in(other, base_url, name, password)
    other_token = home_csrf(other, base_url)
    assert other_token != token
    resp = browser.post(base_url + "/logout", data={"csrf_token": other_token}, allow_redirects=False, timeout=15)
    assert resp.status_code == 403, describe(resp)
    assert browser.get(base_url + MYSELF, timeout=15).status_code == 200
    assert other.get(base_url + MYSELF, timeout=15).status_code == 200

    # With this session's token: logged out; the old cookie is dead everywhere.
    resp = browser.post(base_url + "/logout", data={"csrf_token": token}, allow_redirects=False, timeout=15)
    assert resp.status_code == 303, describe(resp)
    replay = cookie_only(new_session, base_url, value)
    assert_unauthorized(replay.get(base_url + MYSELF, timeout=15, allow_redirects=False))
    home = replay.get(base_url + "/", allow_redirects=False, timeout=15)
    assert home.status_code in (302, 303) and "/login" in home.headers.get("Location", ""), describe(home)
    # The other browser's session is unaffected.
    assert other.get(base_url + MYSELF, timeout=15).status_code == 200


# --------------------------------------------------------------------------------------------
# 7. HTML security headers
# --------------------------------------------------------------------------------------------

def _assert_html_headers(resp):
    assert resp.headers.get("Content-Type", "").startswith("text/html"), describe(resp)
    assert resp.headers.get("X-Frame-Options") == "DENY"
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, csp
    assert "default-src" in csp, csp
    assert resp.headers.get("Referrer-Policy") == "no-referrer"


def test_html_security_headers(browser, base_url, web_user):
    resp, _ = get_login_form(browser, base_url)
    _assert_html_headers(resp)
    name, password = web_user
    resp = login(browser, base_url, name, "wrong-password-for-headers")
    assert resp.status_code == 401
    _assert_html_headers(resp)
    resp = browser.post(base_url + "/login", data={"username": name, "password": password}, allow_redirects=False, timeout=15)
    assert resp.status_code == 403
    _assert_html_headers(resp)
    logged_in(browser, base_url, name, password)
    resp = browser.get(base_url + "/", allow_redirects=False, timeout=15)
    assert resp.status_code == 200
    _assert_html_headers(resp)


# --------------------------------------------------------------------------------------------
# 8. Secrets never in the log; no 500s (keep this test last in the file)
# --------------------------------------------------------------------------------------------

def test_zz_log_is_clean_and_no_server_errors(api, browser, base_url, web_user, recorder, log_path, admin_auth):
    # Make sure there is at least one client secret and one session cookie to look for,
    # even when this test runs on its own.
    client = api.create_client()
    reset = assert_json(api.put(f"{CLIENTS}/reset/{client['clientId']}"), 200)
    logged_in(browser, base_url, *web_user)
    assert client["clientSecret"] in recorder.client_secrets
    assert reset["clientSecret"] in recorder.client_secrets
    assert recorder.session_cookies
    assert admin_auth[1] in recorder.secrets and web_user[1] in recorder.secrets
    # One more request so that the lines of the previous ones are surely written.
    assert api.get("/status", auth=None).status_code == 200

    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert "path=/status" in log or "/status" in log, "the request log seems empty; is the server logging?"
    leaked = sorted(s for s in recorder.secrets if s in log)
    assert not leaked, f"{len(leaked)} secret(s) found in the server log: {[s[:6] + '…' for s in leaked]}"
    for needle in ["Traceback", "SELECT ", "INSERT ", "Fatal error"]:
        assert needle not in log, f"server log contains {needle!r}"

    assert recorder.responses > 0
    assert recorder.server_errors == [], f"5xx responses seen: {recorder.server_errors}"
    assert recorder.html_header_problems == [], recorder.html_header_problems
