"""Shared helpers for the OAuth 2.0 end-to-end suites (INTERFACE.md §4, §6, §9).

Not a test module (no `test_` prefix): it holds the REST helper, an HTML form parser and a
"browser" that walks the authorization endpoint, the login page and the consent page exactly
as a person's browser would, reading every field from the served forms.
"""
import base64
import hashlib
import itertools
import re
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

from conftest import _free_port, error_keys_ok

USERS = "/rest/api/latest/user"
CLIENTS = "/rest/oauth2/latest/client"
MYSELF = "/rest/api/latest/myself"
APPLICATIONS = "/rest/api/latest/myself/applications"
AUTHORIZE = "/rest/oauth2/latest/authorize"
TOKEN = "/rest/oauth2/latest/token"
REVOKE = "/rest/oauth2/latest/revoke"
INTROSPECT = "/rest/oauth2/latest/introspect"
CONSENT = "/plugins/servlet/oauth2/consent"
METADATA = "/.well-known/oauth-authorization-server"
METADATA_ALT = "/rest/oauth2/latest/.well-known/oauth-authorization-server"
PROFILE_APPS = "/profile/applications"
AUDIT = "/rest/api/latest/audit"
VERIFY = "/rest/auth/latest/verify"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
INTROSPECTION_KEYS = {"active", "scope", "client_id", "username", "sub", "token_type", "exp", "iat", "iss", "mode", "act"}
APPLICATION_KEYS = {"id", "protocol", "client", "name", "scope", "authorizedAt", "lastUsedAt"}
AUDIT_ENTRY_KEYS = {"id", "time", "actor", "client", "subject", "action", "outcome", "detail"}
TOKEN_RE = r"^[A-Za-z0-9_-]{43,}$"

_counter = itertools.count(1)


def uniq(prefix):
    return f"{prefix}-{next(_counter)}-{secrets.token_hex(3)}"


def describe(resp):
    req = resp.request
    return f"{req.method} {req.url} -> {resp.status_code} {dict(resp.headers)!r} {resp.text[:600]!r}"


def unused_loopback_port():
    """A loopback port nothing listens on (bound once by us, then released)."""
    return _free_port()


def pkce_pair(length=64):
    """(code_verifier, S256 code_challenge) per RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(length)[:length]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
    return verifier, challenge


def authorize_url(base_url, **params):
    """The authorize URL with every value percent-encoded (a space is %20, '+' is %2B)."""
    return base_url + AUTHORIZE + "?" + urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote)


def query_params(url):
    """The query of `url` as a dict; fails on repeated or malformed parameters."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=bool(urlsplit(url).query))
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"repeated parameters in {url!r}"
    return dict(pairs)


def assert_no_store(resp):
    assert "no-store" in resp.headers.get("Cache-Control", ""), f"Cache-Control: {describe(resp)}"
    assert resp.headers.get("Pragma") == "no-cache", f"Pragma: {describe(resp)}"


def assert_json(resp, status):
    assert resp.status_code == status, describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("application/json"), describe(resp)
    return resp.json()


def assert_oauth_error(resp, status, code):
    """RFC 6749 §5.2 / INTERFACE §1: exactly error + error_description, never cached."""
    body = assert_json(resp, status)
    assert error_keys_ok(resp, body), describe(resp)
    assert body["error"] == code, describe(resp)
    assert isinstance(body["error_description"], str) and body["error_description"], describe(resp)
    assert_no_store(resp)
    return body


def assert_html_page_headers(resp):
    """INTERFACE §1: HTML pages cannot be framed and send no referrer."""
    assert resp.headers.get("Content-Type", "").startswith("text/html"), describe(resp)
    assert resp.headers.get("X-Frame-Options") == "DENY", describe(resp)
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src" in csp, describe(resp)
    assert resp.headers.get("Referrer-Policy") == "no-referrer", describe(resp)


def assert_token_response(resp, scope, refresh=True):
    """INTERFACE §6: 200 {"access_token","token_type":"bearer","expires_in":3600,"refresh_token","scope"}."""
    body = assert_json(resp, 200)
    assert set(body) == (TOKEN_KEYS if refresh else TOKEN_KEYS - {"refresh_token"}), describe(resp)
    assert body["token_type"] == "bearer", describe(resp)
    assert body["expires_in"] == 3600 and isinstance(body["expires_in"], int), describe(resp)
    assert body["scope"] == scope, describe(resp)
    assert re.match(TOKEN_RE, body["access_token"]), describe(resp)
    if refresh:
        assert re.match(TOKEN_RE, body["refresh_token"]), describe(resp)
        assert body["refresh_token"] != body["access_token"]
    assert_no_store(resp)
    return body


class Forms(HTMLParser):
    """Forms (inputs and buttons, in document order), labels, ids and the visible text of a page."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.labels = {}          # for= -> label text
        self.ids = {}             # id -> (tag, attrs)
        self.text = []
        self.html_lang = None
        self.tabindex_negative = []
        self._form = None
        self._label = None
        self._button = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if "id" in a:
            self.ids[a["id"]] = (tag, a)
        if tag == "html":
            self.html_lang = a.get("lang")
        if a.get("tabindex", "").strip().startswith("-"):
            self.tabindex_negative.append((tag, a))
        if tag == "form":
            self._form = {"action": a.get("action"), "method": a.get("method", "get").lower(),
                          "fields": [], "buttons": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            self._form["fields"].append({"name": a.get("name"), "value": a.get("value", ""),
                                         "type": a.get("type", "text").lower(), "id": a.get("id"), "attrs": a})
        elif tag == "button" and self._form is not None:
            self._button = {"name": a.get("name"), "value": a.get("value", ""), "type": a.get("type", "submit").lower(),
                            "id": a.get("id"), "attrs": a, "text": ""}
            self._form["buttons"].append(self._button)
        elif tag == "label":
            self._label = {"for": a.get("for"), "text": ""}

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None
        elif tag == "label" and self._label is not None:
            if self._label["for"]:
                self.labels[self._label["for"]] = " ".join(self._label["text"].split())
            self._label = None

    def handle_data(self, data):
        self.text.append(data)
        if self._label is not None:
            self._label["text"] += data
        if self._button is not None:
            self._button["text"] += data

    def form(self, action):
        matches = [f for f in self.forms if f["action"] == action]
        assert len(matches) == 1, f"expected one form posting to {action}, found {self.forms}"
        return matches[0]

    @staticmethod
    def hidden(form):
        return {f["name"]: f["value"] for f in form["fields"] if f["type"] == "hidden" and f["name"]}

    @staticmethod
    def submission(form, button=None, **typed):
        """The (name, value) pairs a browser sends: fields in order, typed values, then the button."""
        pairs = []
        for field in form["fields"]:
            name = field["name"]
            if not name or field["type"] in ("submit", "button", "image", "reset"):
                continue
            pairs.append((name, typed.pop(name) if name in typed else field["value"]))
        assert not typed, f"the form has no fields named {sorted(typed)}: {form}"
        if button is not None and button.get("name"):
            pairs.append((button["name"], button["value"]))
        return pairs

    @property
    def visible_text(self):
        return " ".join(" ".join(self.text).split())


class Admin:
    """Admin REST calls (HTTP Basic as the bootstrap admin; never follows redirects)."""

    def __init__(self, session, base_url, admin_auth, recorder):
        self.session = session
        self.base = base_url
        self.auth = admin_auth
        self.recorder = recorder

    def request(self, method, path, auth="admin", **kw):
        kw.setdefault("timeout", 15)
        kw.setdefault("allow_redirects", False)
        return self.session.request(method, self.base + path, auth=self.auth if auth == "admin" else auth, **kw)

    def create_user(self, admin=False, display_name=None):
        name = uniq("oauth-user")
        password = f"pw-{secrets.token_urlsafe(12)}-Zq9!"
        self.recorder.add_secret(password)
        body = {"name": name, "password": password, "admin": admin}
        if display_name is not None:
            body["displayName"] = display_name
        resp = self.request("POST", USERS, json=body)
        assert resp.status_code == 201, describe(resp)
        return name, password

    def create_client(self, redirects, scope="WRITE", name=None, **extra):
        """extra: more keys for the JSON body (impersonation, publicKey, executeAs)."""
        resp = self.request("POST", CLIENTS, json={"name": name or uniq("oauth-client"),
                                                   "redirects": list(redirects), "scope": scope, **extra})
        assert resp.status_code == 201, describe(resp)
        body = resp.json()
        self.recorder.add_secret(body["clientSecret"])
        return body

    def introspect(self, token, client):
        """RFC 7662 introspection, authenticated as `client` with client_secret_basic."""
        resp = self.request("POST", INTROSPECT, auth=(client["clientId"], client["clientSecret"]), data={"token": token})
        return assert_json(resp, 200)

    def myself(self, token):
        return self.request("GET", MYSELF, auth=None, headers={"Authorization": f"Bearer {token}"})

    def exchange_code(self, client, code, redirect_uri, verifier=None):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if verifier is not None:
            data["code_verifier"] = verifier
        resp = self.request("POST", TOKEN, auth=(client["clientId"], client["clientSecret"]), data=data)
        return resp

    def audit(self, auth="admin", headers=None, **params):
        """GET the audit log (INTERFACE §8) with these query parameters; the raw response."""
        return self.request("GET", AUDIT, auth=auth, headers=headers, params=params)

    def audit_entries(self, **params):
        resp = self.audit(**params)
        body = assert_json(resp, 200)
        assert set(body) == {"entries", "next"}, describe(resp)
        for entry in body["entries"]:
            assert set(entry) == AUDIT_ENTRY_KEYS, entry
        return body["entries"]

    def audit_mark(self):
        """The id of the newest audit entry (0 when the log is empty): a marker for audit_after."""
        entries = self.audit_entries(limit=1)
        return int(entries[0]["id"]) if entries else 0

    def audit_after(self, mark, **params):
        """The entries (newest first) recorded after `audit_mark()` returned `mark`, matching the filters."""
        return [e for e in self.audit_entries(limit=500, **params) if int(e["id"]) > mark]

    def remember_tokens(self, body):
        for key in ("access_token", "refresh_token"):
            if isinstance(body, dict) and isinstance(body.get(key), str):
                self.recorder.add_secret(body[key])


class Outcome:
    """Where the server finally sent the browser (outside its own origin), not followed."""

    def __init__(self, location, consent_page=None, consent_response=None):
        self.location = location
        self.params = query_params(location)
        self.consent_page = consent_page
        self.consent_response = consent_response

    @property
    def code(self):
        return self.params.get("code")


class Browser:
    """A cookie-keeping requests.Session that does what a person's browser does on Linkgate's pages."""

    def __init__(self, session, base_url, recorder=None):
        self.s = session
        self.s.headers["User-Agent"] = "Mozilla/5.0 (linkgate-e2e browser)"
        self.base = base_url
        self.recorder = recorder
        self.logged_in_as = None

    def get(self, url, **kw):
        kw.setdefault("timeout", 15)
        return self.s.get(url, allow_redirects=False, **kw)

    def post(self, url, data, **kw):
        kw.setdefault("timeout", 15)
        return self.s.post(url, data=data, allow_redirects=False, **kw)

    def location(self, resp):
        assert resp.status_code == 303, describe(resp)
        loc = resp.headers.get("Location")
        assert loc, describe(resp)
        return urljoin(resp.request.url, loc)

    def own(self, url):
        return url.startswith(self.base + "/")

    def login_through(self, login_url, username, password, expected_next):
        """The login page the server sent us to: read its form, type the credentials, submit."""
        split = urlsplit(login_url)
        assert f"{split.scheme}://{split.netloc}" == self.base and split.path == "/login", login_url
        assert query_params(login_url) == {"next": expected_next}, login_url
        page = self.get(login_url)
        assert page.status_code == 200, describe(page)
        assert_html_page_headers(page)
        forms = Forms(page.text)
        form = forms.form("/login")
        assert form["method"] == "post", form
        assert Forms.hidden(form).get("next") == expected_next, form
        assert Forms.hidden(form).get("csrf_token"), form
        submit = [b for b in form["buttons"] if b["type"] == "submit"]
        assert len(submit) == 1, form
        data = Forms.submission(form, submit[0], username=username, password=password)
        resp = self.post(self.base + "/login", data=data)
        assert resp.status_code == 303, describe(resp)
        assert self.location(resp) == self.base + expected_next, describe(resp)
        self.logged_in_as = username
        if self.recorder is not None:
            self.recorder.add_secret(password)
        return resp

    def authorize(self, url, login=None, consent=True, decision="approve", check_consent=None):
        """Walks authorize → (login) → (consent) and returns the Outcome (the redirect, not followed).

        login: (username, password) when the server must send us to the login page first.
        consent: whether the consent page must be shown (False: remembered consent).
        check_consent: optional callable(Forms, response) run on the consent page.
        """
        assert url.startswith(self.base + AUTHORIZE + "?"), url
        path_query = url[len(self.base):]
        query = path_query.split("?", 1)[1]
        resp = self.get(url)
        if login is not None:
            login_url = self.location(resp)
            assert_no_store(resp)
            self.login_through(login_url, *login, expected_next=path_query)
            resp = self.get(url)
        target = self.location(resp)
        assert_no_store(resp)
        if not consent:
            assert not self.own(target), f"expected a direct redirect to the client, got {target}"
            return Outcome(target)
        assert target == self.base + CONSENT + "?" + query, f"expected the consent page, got {target}"
        page = self.get(target)
        assert page.status_code == 200, describe(page)
        assert_html_page_headers(page)
        forms = Forms(page.text)
        if check_consent is not None:
            check_consent(forms, page)
        form = forms.form(CONSENT)
        assert form["method"] == "post", form
        assert Forms.hidden(form).get("csrf_token"), form
        buttons = [b for b in form["buttons"] if b["name"] == "decision" and b["value"] == decision]
        assert len(buttons) == 1, f"no decision={decision} button: {form['buttons']}"
        resp = self.post(self.base + CONSENT, data=Forms.submission(form, buttons[0]))
        target = self.location(resp)
        assert_no_store(resp)
        assert not self.own(target), f"the consent answer did not leave Linkgate: {target}"
        return Outcome(target, consent_page=forms, consent_response=page)


def assert_redirect_to(outcome, redirect_uri, keys):
    """The redirect goes to exactly redirect_uri (same scheme, host, port, path) with exactly `keys`."""
    got, want = urlsplit(outcome.location), urlsplit(redirect_uri)
    assert (got.scheme, got.netloc, got.path) == (want.scheme, want.netloc, want.path), outcome.location
    assert got.fragment == "", outcome.location
    assert set(outcome.params) == set(keys), f"{outcome.location} has {sorted(outcome.params)}, want {sorted(keys)}"
    return outcome.params


# --------------------------------------------------------------------------------------------
# RFC 7523 JWT bearer assertions (INTERFACE §8, mode impersonation)
# --------------------------------------------------------------------------------------------

def assertion_claims(base_url, client_id, subject, lifetime=300, **changes):
    """The claims INTERFACE §8 asks for: iss = client_id, sub, aud = BASE token endpoint, exp, iat, a fresh jti.
    `changes` overrides claims; a value of None removes the claim."""
    import time
    import uuid
    now = int(time.time())
    claims = {"iss": client_id, "sub": subject, "aud": base_url + TOKEN, "exp": now + lifetime, "iat": now,
              "jti": str(uuid.uuid4())}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def signed_assertion(private_key, claims, alg="RS256", headers=None):
    """A compact JWS signed by PyJWT (private_key: a cryptography RSA private key)."""
    import jwt
    return jwt.encode(claims, private_key, algorithm=alg, headers=headers)


def b64url_json(value):
    import json
    raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwt_bearer_data(assertion, **extra):
    """The token request body of the jwt-bearer grant (RFC 7523 §2.1)."""
    return {"grant_type": JWT_BEARER, "assertion": assertion, **extra}
