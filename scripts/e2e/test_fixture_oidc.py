"""OpenID Connect in fixture mode and the console (INTERFACE.md §12 with §14; issue 16 item 5).

A `linkgate fixture` process is seeded with users that have display names and e-mail addresses.
authlib plays the relying party on the main fixture server and on a sandbox (`<BASE>/s/<id>`,
its own issuer): it reads only the discovery document, runs the code flow with PKCE and a nonce
(the consent given headlessly by `POST /__fixture/authorize`, or through the real login and
consent pages), and validates the id_token against the JWKS the discovery document names, with
the issuer each server claims. `POST /__fixture/tokens` with `openid` answers an id_token too.
The console's links page marks the OAuth 2.0 links that use OpenID Connect.
"""
import os
import re
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

from conftest import DEFAULT_BIN, REPO_ROOT
from console_support import ConsoleSession
from oauth_support import Forms, assert_json, describe, query_params, unused_loopback_port

sys.path.insert(0, str(REPO_ROOT / "python"))
from linkgate_fixture import ControlError, Fixture  # noqa: E402

DISCOVERY = "/.well-known/openid-configuration"
CONSENT = "/plugins/servlet/oauth2/consent"
REDIRECT = f"http://127.0.0.1:{unused_loopback_port()}/cb"
ALICE = {"name": "alice", "password": "alice-pass-oidc-5c1e9a", "displayName": "Alice Liddell", "email": "alice@wonderland.test"}
BOB = {"name": "bob", "password": "bob-pass-oidc-7d2f0b"}          # no display name or e-mail
ROOT = {"name": "root", "password": "root-pass-oidc-3a8e6c", "admin": True}
RP = {"clientId": "oidc-rp", "clientSecret": "oidc-rp-secret-9f3b2d7e1a"}
PLAIN = {"clientId": "plain-app", "clientSecret": "plain-app-secret-4e1c8b2d6f"}
SEED = {
    "users": [ALICE, BOB, ROOT],
    "clients": [{"name": "OIDC Relying Party", "redirects": [REDIRECT], "scope": "WRITE", **RP},
                {"name": "Plain App", "redirects": [REDIRECT], "scope": "READ", **PLAIN}],
}
BADGE = "OpenID Connect"


@pytest.fixture(scope="module")
def fx():
    path = Path(os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN)))
    if not path.is_file():
        pytest.fail(f"server binary not found: {path} (build it, or set LINKGATE_BIN)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKGATE_")}
    fixture = Fixture(binary=str(path), env=env, config=SEED, cwd=str(REPO_ROOT))
    yield fixture
    assert fixture.stop() == 0, "fixture exited uncleanly after SIGTERM"


def form_posting_to(forms, path):
    """The one form whose action ends with `path` (a sandbox's pages post under its mount)."""
    matches = [f for f in forms.forms if f["action"].endswith(path)]
    assert len(matches) == 1, f"expected one form posting to …{path}, found {forms.forms}"
    return matches[0]


def console_login(ctl, user, password):
    """A console session on `ctl` (main fixture or sandbox), logged in through its login form."""
    console = ConsoleSession(requests.Session(), ctl.base_url)
    page = console.get("/login")
    assert page.status_code == 200, describe(page)
    form = form_posting_to(Forms(page.text), "/login")
    resp = console.post("/login", Forms.submission(form, None, username=user, password=password))
    assert resp.status_code == 303, describe(resp)
    console.user = user
    return console


@pytest.fixture()
def lg(fx):
    fx.reset()
    return fx


@pytest.fixture()
def sandbox(fx):
    with fx.sandbox(SEED) as sb:
        yield sb


def discovery(base):
    """The discovery document, as a relying party configured only from the issuer reads it."""
    resp = requests.get(base + DISCOVERY, timeout=15)
    doc = assert_json(resp, 200)
    assert "public" in resp.headers.get("Cache-Control", ""), describe(resp)
    assert doc["issuer"] == base, doc
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert doc[key].startswith(base + "/"), (key, doc[key])
    metadata = assert_json(requests.get(base + "/.well-known/oauth-authorization-server", timeout=15), 200)
    assert metadata["issuer"] == base and metadata["jwks_uri"] == doc["jwks_uri"], metadata
    return doc


def validate(id_token, provider, access_token, nonce=None, client_id=RP["clientId"]):
    """authlib's id_token validation (OIDC Core §3.1.3.7) against the provider's JWKS and issuer."""
    keys = JsonWebKey.import_key_set(assert_json(requests.get(provider["jwks_uri"], timeout=15), 200))
    params = {"client_id": client_id, "access_token": access_token}
    if nonce is not None:
        params["nonce"] = nonce
    claims = jwt.decode(id_token, keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": provider["issuer"]},
                                        "aud": {"essential": True, "value": client_id},
                                        "auth_time": {"essential": True}}, claims_params=params)
    claims.validate(leeway=5)
    return claims


def relying_party(scope="openid profile email"):
    return AuthlibSession(RP["clientId"], RP["clientSecret"], scope=scope, redirect_uri=REDIRECT, code_challenge_method="S256")


def headless_flow(ctl, user="alice", scope="openid profile email"):
    """authlib's authorize URL, approved by POST /__fixture/authorize, exchanged by authlib → (provider, token, nonce)."""
    provider = discovery(ctl.base_url)
    oauth = relying_party(scope)
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = oauth.create_authorization_url(provider["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    redirect = ctl.authorize(url, user)
    assert redirect.startswith(REDIRECT + "?") and query_params(redirect)["state"] == state, redirect
    token = oauth.fetch_token(provider["token_endpoint"], authorization_response=redirect, code_verifier=verifier)
    return provider, token, nonce


def userinfo(provider, access_token):
    return assert_json(requests.get(provider["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"},
                                    timeout=15), 200)


def test_seeded_users_get_their_claims_in_a_code_flow(lg):
    provider, token, nonce = headless_flow(lg)
    assert token["scope"] == "openid profile email WRITE", token
    claims = validate(token["id_token"], provider, token["access_token"], nonce)
    assert claims["iss"] == lg.base_url and claims["sub"] == "alice" and claims["nonce"] == nonce
    assert claims["name"] == ALICE["displayName"] and claims["email"] == ALICE["email"]
    assert claims["preferred_username"] == "alice"
    assert userinfo(provider, token["access_token"]) == {
        "sub": "alice", "name": ALICE["displayName"], "preferred_username": "alice", "email": ALICE["email"]}
    # A seeded user without an e-mail address: no email claim (OIDC Core §5.3.2), the name as display name.
    provider, token, nonce = headless_flow(lg, user="bob")
    claims = validate(token["id_token"], provider, token["access_token"], nonce)
    assert claims["sub"] == "bob" and "email" not in claims and claims["preferred_username"] == "bob", claims
    assert "email" not in userinfo(provider, token["access_token"])


def test_a_sandbox_is_its_own_issuer(lg, sandbox):
    assert sandbox.base_url == lg.base_url + "/s/" + sandbox.id
    provider = discovery(sandbox.base_url)
    assert sandbox.discovery() == provider and lg.discovery() == discovery(lg.base_url)   # the helper's view
    assert provider["jwks_uri"] == sandbox.base_url + "/rest/oauth2/latest/jwks"
    assert provider["userinfo_endpoint"] == sandbox.base_url + "/rest/oauth2/latest/userinfo"
    provider, token, nonce = headless_flow(sandbox)
    claims = validate(token["id_token"], provider, token["access_token"], nonce)
    assert claims["iss"] == sandbox.base_url and claims["name"] == ALICE["displayName"], claims
    assert userinfo(provider, token["access_token"])["email"] == ALICE["email"]
    # The main server's issuer does not accept it, and the sandbox's token means nothing there.
    main = discovery(lg.base_url)
    with pytest.raises(Exception, match="invalid_claim.*'iss'"):           # authlib/joserfc's InvalidClaimError
        validate(token["id_token"], main, token["access_token"], nonce)
    resp = requests.get(main["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=15)
    assert resp.status_code == 401, describe(resp)


def test_sandbox_code_flow_through_login_and_consent_pages(sandbox):
    """A person's browser on the sandbox's own login and consent pages; the consent page says what
    profile and email share."""
    provider = discovery(sandbox.base_url)
    oauth = relying_party()
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = oauth.create_authorization_url(provider["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    browser = requests.Session()
    mount = urlsplit(sandbox.base_url).path

    def go(target):
        resp = browser.get(target, allow_redirects=False, timeout=15)
        while resp.status_code == 303 and urljoin(target, resp.headers["Location"]).startswith(sandbox.base_url + "/"):
            target = urljoin(target, resp.headers["Location"])
            if urlsplit(target).path in (mount + "/login", mount + CONSENT):
                break
            resp = browser.get(target, allow_redirects=False, timeout=15)
        return target, resp

    target, _ = go(url)
    assert urlsplit(target).path == mount + "/login", target
    page = browser.get(target, timeout=15)
    form = form_posting_to(Forms(page.text), "/login")
    resp = browser.post(sandbox.base_url + "/login", allow_redirects=False, timeout=15,
                        data=Forms.submission(form, None, username="alice", password=ALICE["password"]))
    assert resp.status_code == 303, describe(resp)
    target, _ = go(urljoin(sandbox.base_url + "/login", resp.headers["Location"]))
    assert urlsplit(target).path == mount + CONSENT, target
    page = browser.get(target, timeout=15)
    assert page.status_code == 200, describe(page)
    forms = Forms(page.text)
    text = forms.visible_text
    assert "openid profile email WRITE" in text, text
    assert "See your name" in text and "See your e-mail address" in text, text
    form = form_posting_to(forms, CONSENT)
    approve = [b for b in form["buttons"] if b["name"] == "decision" and b["value"] == "approve"]
    resp = browser.post(sandbox.base_url + CONSENT, data=Forms.submission(form, approve[0]), allow_redirects=False, timeout=15)
    assert resp.status_code == 303 and resp.headers["Location"].startswith(REDIRECT + "?"), describe(resp)
    location = resp.headers["Location"]
    assert query_params(location)["state"] == state
    token = oauth.fetch_token(provider["token_endpoint"], authorization_response=location, code_verifier=verifier)
    claims = validate(token["id_token"], provider, token["access_token"], nonce)
    assert claims["iss"] == sandbox.base_url and claims["email"] == ALICE["email"] and claims["name"] == ALICE["displayName"]


@pytest.mark.parametrize("where", ["main", "sandbox"])
def test_minted_tokens_with_openid_carry_an_id_token(lg, sandbox, where):
    ctl = lg if where == "main" else sandbox
    provider = discovery(ctl.base_url)
    now = ctl.clock()
    body = ctl.mint_tokens(RP["clientId"], user="alice", scope="openid email READ", expires_in=300, refresh=True)
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"}, body
    assert body["scope"] == "openid email READ" and body["expires_in"] == 300, body
    claims = validate(body["id_token"], provider, body["access_token"])
    assert claims["iss"] == ctl.base_url and claims["sub"] == "alice" and claims["email"] == ALICE["email"]
    assert "nonce" not in claims and "name" not in claims, claims                     # no nonce; no profile asked
    assert abs(claims["auth_time"] - now) <= 2 and claims["exp"] == claims["iat"] + 300, claims
    assert userinfo(provider, body["access_token"]) == {"sub": "alice", "email": ALICE["email"]}
    # Its refresh answers a new id_token with the minting's auth_time.
    refreshed = assert_json(requests.post(provider["token_endpoint"], auth=(RP["clientId"], RP["clientSecret"]), timeout=15,
                                          data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}), 200)
    again = validate(refreshed["id_token"], provider, refreshed["access_token"])
    assert again["auth_time"] == claims["auth_time"], again
    # Without openid nothing changes: no id_token, the bare permission value.
    plain = ctl.mint_tokens(RP["clientId"], user="alice", scope="READ")
    assert "id_token" not in plain and plain["scope"] == "READ", plain
    # An application token has no end-user to name: invalid_scope.
    with pytest.raises(ControlError) as raised:
        ctl.mint_tokens(RP["clientId"], scope="openid READ")
    assert (raised.value.status, raised.value.error) == (400, "invalid_scope"), raised.value


def link_rows(console):
    """{link name: the text of its row} from the console's links table."""
    page = console.get("/admin")
    assert page.status_code == 200, describe(page)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S):
        name = re.search(r"<strong>(.*?)</strong>", row)
        if name:
            rows[name.group(1)] = " ".join(re.sub(r"<[^>]+>", " ", row).split())
    return rows


@pytest.mark.parametrize("where", ["main", "sandbox"])
def test_console_marks_the_links_that_use_openid(lg, sandbox, where):
    ctl = lg if where == "main" else sandbox
    console = console_login(ctl, "root", ROOT["password"])
    rows = link_rows(console)
    assert set(rows) >= {"OIDC Relying Party", "Plain App"}, rows
    assert not any(BADGE in text for text in rows.values()), rows           # nothing used openid yet
    # Plain OAuth 2.0 tokens mark nothing.
    ctl.mint_tokens(PLAIN["clientId"], user="alice", scope="READ")
    headless_flow(ctl, scope="openid")
    rows = link_rows(console)
    assert BADGE in rows["OIDC Relying Party"] and BADGE not in rows["Plain App"], rows
    # A live minted openid token (no consent) marks a link too, until it expires.
    minted = ctl.mint_tokens(PLAIN["clientId"], user="alice", scope="openid READ", expires_in=60)
    assert "id_token" in minted
    assert BADGE in link_rows(console)["Plain App"]
    ctl.advance(61)
    rows = link_rows(console)
    assert BADGE not in rows["Plain App"] and BADGE in rows["OIDC Relying Party"], rows   # the consent stays
