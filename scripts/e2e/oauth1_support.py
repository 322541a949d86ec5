"""Helpers for the OAuth 1.0a end-to-end suite (INTERFACE.md §3, §7, §9).

Not a test module (no `test_` prefix). It holds:
- RSA key material made with `cryptography` (PEM, bare base64 DER, EC / short / private keys);
- an independent RFC 5849 signer (`sign`), so hostile requests can be built field by field:
  every protocol parameter, where it travels (header, query, body) and the signature itself;
- `assert_oauth_problem`, which checks the status, the `WWW-Authenticate: OAuth` challenge and,
  at the token endpoints, the problem repeated form-encoded in the body;
- the browser side of the OAuth 1.0a authorize page (login, consumer name, approve / deny);
- a tiny threaded HTTP server that plays a peer's consumer-info endpoint, well-behaved or not.
"""
import base64
import functools
import secrets
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from conftest import error_keys_ok
from oauth_support import Forms, assert_html_page_headers, assert_no_store, describe, query_params

REQUEST_TOKEN = "/plugins/servlet/oauth/request-token"
AUTHORIZE1 = "/plugins/servlet/oauth/authorize"
ACCESS_TOKEN = "/plugins/servlet/oauth/access-token"
CONSUMER_INFO = "/plugins/servlet/oauth/consumer-info"
MANIFEST = "/rest/applinks/1.0/manifest"
CONSUMERS = "/rest/oauth1/latest/consumer"

CONSUMER_KEYS = {"key", "name", "description", "publicKey", "callback", "threeLeggedAllowed", "twoLeggedAllowed",
                 "executeAs", "impersonationAllowed", "allowedAddresses", "signatureMethods"}
ACCESS_TOKEN_KEYS = {"oauth_token", "oauth_token_secret", "oauth_expires_in", "oauth_session_handle",
                     "oauth_authorization_expires_in"}
FIVE_YEARS = 5 * 365 * 24 * 3600
INBOUND_TYPES = [
    "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider",
    "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider",
    "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthWithImpersonationAuthenticationProvider",
]


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------

@dataclass
class KeyPair:
    private_key: object
    private_pem: str          # PKCS#8 PEM (what requests-oauthlib / jira take as rsa_key / key_cert)
    public_pem: str           # SubjectPublicKeyInfo PEM
    public_der_b64: str       # bare base64 of the SubjectPublicKeyInfo DER (Atlassian's consumer-info form)

    @property
    def public_numbers(self):
        return self.private_key.public_key().public_numbers()


def _keypair(private_key):
    public = private_key.public_key()
    return KeyPair(
        private_key=private_key,
        private_pem=private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode("ascii"),
        public_pem=public.public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii"),
        public_der_b64=base64.b64encode(public.public_bytes(serialization.Encoding.DER,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)).decode("ascii"),
    )


def new_rsa_key(bits=2048):
    return _keypair(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def _probable_prime(bits):
    """A random prime of exactly `bits` bits (Miller-Rabin, 40 rounds)."""
    while True:
        n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if any(n % p == 0 for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
            continue
        d, r = n - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(40):
            x = pow(secrets.randbelow(n - 3) + 2, d, n)
            if x in (1, n - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, n)
                if x == n - 1:
                    break
            else:
                break
        else:
            return n


@functools.lru_cache(maxsize=None)
def small_rsa_public_pem(bits=512):
    """A genuine but too-short RSA public key. cryptography refuses to generate keys under 1024 bits,
    so the modulus is built from two random primes and loaded through RSAPublicNumbers."""
    while True:
        p, q = _probable_prime(bits // 2), _probable_prime(bits - bits // 2)
        n = p * q
        if p != q and n.bit_length() == bits and (p - 1) % 65537 and (q - 1) % 65537:
            break
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def ec_public_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public_key(text):
    """A public key given as PEM or as bare base64 DER (whichever form the server echoes)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return serialization.load_pem_public_key(text.encode("ascii"))
    return serialization.load_der_public_key(base64.b64decode("".join(text.split())))


# --------------------------------------------------------------------------------------------
# RFC 5849 signing, independent of oauthlib
# --------------------------------------------------------------------------------------------

def pct(value):
    """RFC 5849 §3.6: UTF-8, then every byte but ALPHA / DIGIT / '-' / '.' / '_' / '~' as %XX (upper case)."""
    return quote(str(value).encode("utf-8"), safe="~")


def base_string(method, url, pairs):
    """RFC 5849 §3.4.1: METHOD & encoded base-string URI & encoded normalized parameters."""
    parts = urlsplit(url)
    netloc = parts.netloc.lower()
    if (parts.scheme == "http" and netloc.endswith(":80")) or (parts.scheme == "https" and netloc.endswith(":443")):
        netloc = netloc.rsplit(":", 1)[0]
    uri = f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}"
    normalized = "&".join(f"{n}={v}" for n, v in sorted((pct(n), pct(v)) for n, v in pairs))
    return f"{method.upper()}&{pct(uri)}&{pct(normalized)}"


def rsa_sha1(private_key, text):
    signature = private_key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA1())
    return base64.b64encode(signature).decode("ascii")


def authorization_header(oauth_pairs, realm=""):
    """`OAuth realm="…", name="value", …` with every name and value percent-encoded (RFC 5849 §3.5.1)."""
    items = [f'realm="{realm}"'] + [f'{pct(n)}="{pct(v)}"' for n, v in oauth_pairs]
    return "OAuth " + ", ".join(items)


@dataclass
class Signed:
    """A signed request, ready to send: its URL (with query), headers, form body, and the oauth_* pairs."""
    method: str
    url: str
    headers: dict
    data: object
    oauth: list = field(default_factory=list)
    base_string: str = ""

    def send(self, session, **kw):
        kw.setdefault("timeout", 15)
        kw.setdefault("allow_redirects", False)
        return session.request(self.method, self.url, headers=self.headers, data=self.data, **kw)

    def oauth_value(self, name):
        return dict(self.oauth)[name]


def sign(key, consumer_key, method, url, *, query=(), form=None, token=None, timestamp=None, nonce=None,
         signature_method="RSA-SHA1", version="1.0", extra=(), signature=None, realm=""):
    """Signs `method url?query` (+ a form body) with RSA-SHA1 as RFC 5849 §3 says.

    token: None leaves oauth_token out; "" sends it empty (as Atlassian peers do for 2LO).
    extra: more oauth_* pairs for the header (oauth_callback, oauth_verifier, …).
    signature: use this value instead of the real signature (for hostile probes).
    version: None leaves oauth_version out.
    """
    oauth = [("oauth_consumer_key", consumer_key), ("oauth_nonce", nonce or secrets.token_hex(16)),
             ("oauth_signature_method", signature_method),
             ("oauth_timestamp", str(int(time.time())) if timestamp is None else str(timestamp))]
    if version is not None:
        oauth.append(("oauth_version", version))
    if token is not None:
        oauth.append(("oauth_token", token))
    oauth += list(extra)
    query = list(query)
    form_pairs = list(form) if form is not None else []
    text = base_string(method, url, oauth + query + form_pairs)
    sig = rsa_sha1(key.private_key, text) if signature is None else signature
    oauth.append(("oauth_signature", sig))
    full_url = url + ("?" + urlencode(query, quote_via=quote) if query else "")
    headers = {"Authorization": authorization_header(oauth, realm)}
    data = None
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urlencode(form_pairs, quote_via=quote)
    return Signed(method.upper(), full_url, headers, data, oauth, text)


# --------------------------------------------------------------------------------------------
# Problem reporting (INTERFACE §7)
# --------------------------------------------------------------------------------------------

def parse_challenge(value):
    """`OAuth realm="…", oauth_problem="…", …` → (scheme, {name: decoded value})."""
    scheme, _, rest = value.strip().partition(" ")
    params = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " ,\t":
            i += 1
        if i >= len(rest):
            break
        eq = rest.index("=", i)
        name = rest[i:eq].strip()
        i = eq + 1
        if rest[i] == '"':
            end = rest.index('"', i + 1)
            raw = rest[i + 1:end]
            i = end + 1
        else:
            end = rest.find(",", i)
            end = len(rest) if end < 0 else end
            raw = rest[i:end].strip()
            i = end
        assert name not in params, f"{name} twice in the challenge {value!r}"
        params[name] = unquote(raw)
    return scheme, params


def assert_oauth_problem(resp, status, problem, realm, token_endpoint=False, **expected):
    """Exact status; `WWW-Authenticate: OAuth realm="BASE", oauth_problem="…"`; extra problem parameters
    (`expected`, e.g. oauth_parameters_absent="oauth_verifier") both in the challenge and, at the token
    endpoints, in the form-encoded body. REST resources answer INTERFACE §1's JSON error."""
    assert resp.status_code == status, describe(resp)
    challenges = resp.headers.get("WWW-Authenticate")
    assert challenges, f"no WWW-Authenticate: {describe(resp)}"
    scheme, params = parse_challenge(challenges)
    assert scheme == "OAuth", describe(resp)
    assert challenges.startswith(f'OAuth realm="{realm}"'), describe(resp)
    assert params.get("realm") == realm, describe(resp)
    assert params.get("oauth_problem") == problem, describe(resp)
    for name, value in expected.items():
        if value is ...:
            assert name in params, f"{name} missing from the challenge: {describe(resp)}"
        else:
            assert params.get(name) == value, f"{name}: {describe(resp)}"
    if token_endpoint:
        assert resp.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"), describe(resp)
        body = dict(parse_qsl(resp.text, keep_blank_values=True))
        assert body.get("oauth_problem") == problem, describe(resp)
        for name, value in expected.items():
            if value is ...:
                assert name in body, f"{name} missing from the body: {describe(resp)}"
            else:
                assert body.get(name) == value, f"{name} in the body: {describe(resp)}"
        assert "oauth_token" not in body and "oauth_token_secret" not in body, describe(resp)
        assert_no_store(resp)
        return params, body
    body = resp.json()
    assert error_keys_ok(resp, body), describe(resp)
    assert body["error"] == ("invalid_request" if status == 400 else "unauthorized"), describe(resp)
    return params, body


def assert_acceptable_timestamps(params, resp):
    """`oauth_acceptable_timestamps=min-max`: the ±300 s window around the server's clock (now)."""
    value = params.get("oauth_acceptable_timestamps", "")
    low, sep, high = value.partition("-")
    assert sep and low.isdigit() and high.isdigit(), f"oauth_acceptable_timestamps={value!r}: {describe(resp)}"
    low, high = int(low), int(high)
    now = int(time.time())
    assert high - low == 600, value
    assert low - 5 <= now - 300 <= low + 5, f"{value} is not now±300 (now={now})"


# --------------------------------------------------------------------------------------------
# The person's browser on the authorize page
# --------------------------------------------------------------------------------------------

class ElementText(HTMLParser):
    """The text inside the element with a given id."""

    def __init__(self, html, element_id):
        super().__init__(convert_charrefs=True)
        self.element_id = element_id
        self.depth = 0
        self.found = False
        self.text = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.depth = 1
            self.found = True

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text += data


def element_text(html, element_id):
    parsed = ElementText(html, element_id)
    return parsed.text.strip() if parsed.found else None


def authorize_request_token(browser, base_url, request_token, consumer_name, login=None, decision="approve",
                            authorize_url=None):
    """GET the authorize page (logging in through the served form when `login` is given), check it names
    the consumer, then press the `decision` button. Returns the decision's response (not followed)."""
    url = authorize_url or f"{base_url}{AUTHORIZE1}?oauth_token={quote(request_token, safe='')}"
    path_query = url[len(base_url):]
    resp = browser.get(url)
    if login is not None:
        login_url = browser.location(resp)
        browser.login_through(login_url, *login, expected_next=path_query)
        resp = browser.get(url)
    assert resp.status_code == 200, describe(resp)
    assert_html_page_headers(resp)
    assert_no_store(resp)
    forms = Forms(resp.text)
    assert consumer_name in forms.visible_text, f"the authorize page does not name {consumer_name!r}: {forms.visible_text}"
    form = forms.form(AUTHORIZE1)
    assert form["method"] == "post", form
    hidden = Forms.hidden(form)
    assert hidden.get("csrf_token"), form
    assert hidden.get("oauth_token") == request_token, form
    buttons = {b["value"]: b for b in form["buttons"] if b["name"] == "decision"}
    assert set(buttons) == {"approve", "deny"}, form["buttons"]
    assert buttons["approve"]["id"] == "approve" and buttons["deny"]["id"] == "deny", form["buttons"]
    return browser.post(base_url + AUTHORIZE1, data=Forms.submission(form, buttons[decision]))


def callback_params(resp, callback):
    """The 303 to the consumer's callback: exactly oauth_token and oauth_verifier."""
    assert resp.status_code == 303, describe(resp)
    location = resp.headers["Location"]
    got, want = urlsplit(location), urlsplit(callback)
    assert (got.scheme, got.netloc, got.path) == (want.scheme, want.netloc, want.path), location
    params = query_params(location)
    assert set(params) == {"oauth_token", "oauth_verifier"}, location
    return params


# --------------------------------------------------------------------------------------------
# A peer's consumer-info endpoint, well-behaved or hostile
# --------------------------------------------------------------------------------------------

def consumer_info_xml(key, name, public_key, description=None, callback=None):
    from xml.sax.saxutils import escape
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<consumer><key>{escape(key)}</key><name>{escape(name)}</name>'
    xml += f"<publicKey>{escape(public_key)}</publicKey>"
    if description is not None:
        xml += f"<description>{escape(description)}</description>"
    if callback is not None:
        xml += f"<callback>{escape(callback)}</callback>"
    return xml + "</consumer>\n"


class PeerServer:
    """A ThreadingHTTPServer on a loopback port; `routes[path] = callable(handler)` answers GETs."""

    def __init__(self):
        self.routes = {}
        self.hits = []
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server API
                hits.append((self.path, dict(self.headers)))
                route = routes.get(self.path)
                try:
                    if route is None:
                        self.reply(404, b"not here", "text/plain")
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def reply(self, status, body, content_type="application/xml"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass   # a peer whose client (Linkgate) hung up on it is the point of some tests

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def xml(self, path, text, status=200):
        body = text.encode("utf-8")
        self.routes[path] = lambda h: h.reply(status, body)
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
