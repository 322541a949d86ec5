"""OpenID Connect Core on the authorization-code flow against the running Linkgate (INTERFACE.md §14).

authlib plays the relying party: its OAuth2Session runs the code flow with PKCE and `openid profile
email`, and authlib.jose / authlib.oidc.core.CodeIDToken validate the id_token (RS256 signature against
the JWKS named by the discovery document, iss, aud, exp, nonce, at_hash). A cookie-keeping
requests.Session plays the person's browser (oauth_support.Browser); redirects to the relying party
are captured, never followed.
"""
import base64
import hashlib
import json
import time

import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

from oauth_support import (AUTHORIZE, CONSENT, METADATA, TOKEN, Browser, Forms, Outcome, assert_json, assert_no_store,
                           assert_redirect_to, authorize_url, describe, query_params, uniq)

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/rest/oauth2/latest/jwks"
USERINFO = "/rest/oauth2/latest/userinfo"
OIDC_TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"}


@pytest.fixture(scope="module")
def provider(http, base_url):
    """The discovery document, as a relying party configured only from the issuer reads it."""
    return assert_json(http.get(base_url + DISCOVERY, timeout=15), 200)


def new_user(admin, recorder, email=True):
    name = uniq("oidc-user")
    password = f"pw-{generate_token(16)}-Zq9!"
    recorder.add_secret(password)
    body = {"name": name, "password": password, "displayName": f"Display {name}"}
    if email:
        body["email"] = f"{name}@example.test"
    resp = admin.request("POST", "/rest/api/latest/user", json=body)
    assert resp.status_code == 201, describe(resp)
    return name, password


def key_set(http, provider):
    resp = http.get(provider["jwks_uri"], timeout=15)
    return JsonWebKey.import_key_set(assert_json_public(resp))


def assert_json_public(resp):
    assert resp.status_code == 200, describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("application/json"), describe(resp)
    return resp.json()


def validate(id_token, keys, base_url, client_id, access_token, nonce=None):
    """authlib's own id_token validation (OIDC Core §3.1.3.7): signature, iss, aud, exp, iat, nonce, at_hash."""
    params = {"client_id": client_id, "access_token": access_token}
    if nonce is not None:
        params["nonce"] = nonce
    claims = jwt.decode(id_token, keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": base_url},
                                        "aud": {"essential": True, "value": client_id},
                                        "auth_time": {"essential": True}}, claims_params=params)
    claims.validate(leeway=5)
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"], header
    return claims


def follow_own(browser, url, limit=6):
    """GETs `url` and follows redirects while they stay on Linkgate; returns (final url, last response)."""
    for _ in range(limit):
        resp = browser.get(url)
        if resp.status_code != 303:
            return url, resp
        url = browser.location(resp)
        if not browser.own(url):
            return url, resp
    raise AssertionError(f"too many redirects ending at {url}")


def log_in(browser, login_page_url, username, password):
    """Submits the login form served at `login_page_url` and returns where it sends the browser."""
    page = browser.get(login_page_url)
    assert page.status_code == 200, describe(page)
    form = Forms(page.text).form("/login")
    submit = [b for b in form["buttons"] if b["type"] == "submit"]
    resp = browser.post(browser.base + "/login", data=Forms.submission(form, submit[0], username=username, password=password))
    assert resp.status_code == 303, describe(resp)
    return browser.location(resp)


def approve_consent(browser, consent_url):
    page = browser.get(consent_url)
    assert page.status_code == 200, describe(page)
    forms = Forms(page.text)
    form = forms.form(CONSENT)
    approve = [b for b in form["buttons"] if b["name"] == "decision" and b["value"] == "approve"]
    resp = browser.post(browser.base + CONSENT, data=Forms.submission(form, approve[0]))
    return browser.location(resp), forms


def code_flow(browser, url, login=None, consent=True):
    """authorize → (login) → (consent) → the relying party's redirect URL."""
    target, _ = follow_own(browser, url)
    if login is not None:
        assert target.startswith(browser.base + "/login?"), target
        target = log_in(browser, target, *login)
        target, _ = follow_own(browser, target)
    if consent:
        assert target.startswith(browser.base + CONSENT + "?"), target
        target, _ = approve_consent(browser, target)
    assert not browser.own(target), target
    return target


def oidc_client(admin, redirect_uri, scope="WRITE"):
    return admin.create_client([redirect_uri], scope=scope, name=uniq("oidc-rp"))


def rp(client, redirect_uri, scope="openid profile email"):
    return AuthlibSession(client["clientId"], client["clientSecret"], scope=scope, redirect_uri=redirect_uri,
                          code_challenge_method="S256")


def test_discovery_and_jwks(http, base_url, provider):
    rfc8414 = assert_json(http.get(base_url + METADATA, timeout=15), 200)
    assert provider["issuer"] == base_url
    assert provider["authorization_endpoint"] == base_url + AUTHORIZE
    assert provider["token_endpoint"] == base_url + TOKEN
    assert provider["userinfo_endpoint"] == base_url + USERINFO
    assert provider["jwks_uri"] == base_url + JWKS
    assert provider["response_types_supported"] == ["code"]
    assert provider["subject_types_supported"] == ["public"]
    assert provider["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "profile", "email", "READ", "WRITE", "ADMIN", "SYSTEM_ADMIN"} == set(provider["scopes_supported"])
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "preferred_username", "email"} \
        <= set(provider["claims_supported"])
    # Consistent with the RFC 8414 document on every member both carry.
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "scopes_supported",
                "response_types_supported", "grant_types_supported", "token_endpoint_auth_methods_supported",
                "code_challenge_methods_supported"):
        assert provider[key] == rfc8414[key], key
    jwks = assert_json_public(http.get(base_url + JWKS, timeout=15))
    assert len(jwks["keys"]) >= 1
    for key in jwks["keys"]:
        assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}, key
        assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256"), key
        canonical = json.dumps({"e": key["e"], "kty": "RSA", "n": key["n"]}, separators=(",", ":"), sort_keys=True)
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
        assert key["kid"] == thumbprint, "kid is not the RFC 7638 thumbprint"
        assert len(base64.urlsafe_b64decode(key["n"] + "==")) >= 256


def test_code_flow_refresh_and_userinfo(http, base_url, provider, admin, browser, redirect_uri, recorder):
    user, password = new_user(admin, recorder)
    client = oidc_client(admin, redirect_uri)
    oauth = rp(client, redirect_uri)
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = oauth.create_authorization_url(provider["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    before = int(time.time())
    location = code_flow(browser, url, login=(user, password))
    params = assert_redirect_to(Outcome(location), redirect_uri, {"code", "state"})
    assert params["state"] == state
    recorder.add_secret(params["code"])
    token = oauth.fetch_token(provider["token_endpoint"], authorization_response=location, code_verifier=verifier)
    admin.remember_tokens(token)
    assert set(token) - {"expires_at"} == OIDC_TOKEN_KEYS, token.keys()
    # No permission value asked for → the client's registered scope, listed after the OIDC values.
    assert token["scope"] == "openid profile email WRITE"
    keys = key_set(http, provider)
    claims = validate(token["id_token"], keys, base_url, client["clientId"], token["access_token"], nonce)
    assert claims["sub"] == user and claims["aud"] == client["clientId"] and claims["nonce"] == nonce
    assert claims["name"] == f"Display {user}" and claims["preferred_username"] == user
    assert claims["email"] == f"{user}@example.test"
    assert before - 2 <= claims["auth_time"] <= claims["iat"] <= int(time.time()) + 2
    assert claims["exp"] == claims["iat"] + 3600

    # Userinfo by GET and POST: the same claims as the id_token's identity part.
    expected = {"sub": user, "name": f"Display {user}", "preferred_username": user, "email": f"{user}@example.test"}
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    got = http.get(provider["userinfo_endpoint"], headers=bearer, timeout=15)
    assert got.status_code == 200 and got.json() == expected, describe(got)
    assert_no_store(got)
    posted = http.post(provider["userinfo_endpoint"], headers=bearer, timeout=15)
    assert posted.status_code == 200 and posted.json() == expected, describe(posted)

    # Refresh: a new, valid id_token (no nonce) whose auth_time is still the original login's.
    time.sleep(1.1)
    refreshed = oauth.refresh_token(provider["token_endpoint"], refresh_token=token["refresh_token"])
    admin.remember_tokens(refreshed)
    assert refreshed["scope"] == "openid profile email WRITE" and refreshed["id_token"] != token["id_token"]
    again = validate(refreshed["id_token"], keys, base_url, client["clientId"], refreshed["access_token"])
    assert again["auth_time"] == claims["auth_time"] and again["iat"] > claims["iat"] and "nonce" not in again
    resp = http.get(provider["userinfo_endpoint"], headers={"Authorization": f"Bearer {refreshed['access_token']}"}, timeout=15)
    assert resp.status_code == 200 and resp.json() == expected, describe(resp)


def test_scopes_limit_claims_and_userinfo_errors(http, base_url, provider, admin, browser, redirect_uri, recorder):
    user, password = new_user(admin, recorder, email=False)
    client = oidc_client(admin, redirect_uri)
    oauth = rp(client, redirect_uri, scope="openid READ")
    verifier = generate_token(64)
    url, _ = oauth.create_authorization_url(provider["authorization_endpoint"], code_verifier=verifier)
    location = code_flow(browser, url, login=(user, password))
    token = oauth.fetch_token(provider["token_endpoint"], authorization_response=location, code_verifier=verifier)
    admin.remember_tokens(token)
    assert token["scope"] == "openid READ"
    claims = validate(token["id_token"], key_set(http, provider), base_url, client["clientId"], token["access_token"])
    assert not {"name", "preferred_username", "email", "nonce"} & set(claims), claims
    resp = http.get(provider["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=15)
    assert resp.status_code == 200 and resp.json() == {"sub": user}, describe(resp)

    # RFC 6750 §3.1: no token → 401 with the challenge; a bad one → invalid_token.
    none = http.get(provider["userinfo_endpoint"], timeout=15)
    assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Bearer"), describe(none)
    bad = http.post(provider["userinfo_endpoint"], headers={"Authorization": "Bearer " + generate_token(43)}, timeout=15)
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"], describe(bad)
    assert bad.json()["error"] == "invalid_token"

    # A plain OAuth 2.0 token of the same user and client: no openid → 403 insufficient_scope, no id_token.
    plain = rp(client, redirect_uri, scope="READ")
    url, _ = plain.create_authorization_url(provider["authorization_endpoint"], code_verifier=verifier)
    location = code_flow(browser, url, consent=False)
    token = plain.fetch_token(provider["token_endpoint"], authorization_response=location, code_verifier=verifier)
    admin.remember_tokens(token)
    assert "id_token" not in token and token["scope"] == "READ"
    resp = http.get(provider["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=15)
    assert resp.status_code == 403, describe(resp)
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"], describe(resp)


def auth_url(base_url, client, redirect_uri, **extra):
    return authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                         state="st-1", **extra)


def exchange(admin, client, location, redirect_uri):
    code = query_params(location)["code"]
    resp = admin.exchange_code(client, code, redirect_uri)
    body = assert_json(resp, 200)
    admin.remember_tokens(body)
    return body


def unverified_claims(id_token):
    return json.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))


def test_prompt_max_age_and_login_hint(base_url, admin, browser, redirect_uri, recorder):
    user, password = new_user(admin, recorder)
    client = oidc_client(admin, redirect_uri)

    # prompt=none without a session: login_required, back to the client with state; no page.
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", prompt="none"))
    assert query_params(target) == {"error": "login_required", "error_description": query_params(target)["error_description"],
                                    "state": "st-1"}, target

    # login_hint prefills the login form's user name.
    resp = browser.get(auth_url(base_url, client, redirect_uri, scope="openid", login_hint=user))
    login_page = browser.location(resp)
    assert query_params(login_page)["login_hint"] == user
    page = browser.get(login_page)
    assert page.status_code == 200, describe(page)
    assert f'value="{user}"' in page.text, "login_hint did not prefill the user name"

    first = code_flow(browser, auth_url(base_url, client, redirect_uri, scope="openid", nonce="n-first"), login=(user, password))
    first_auth = unverified_claims(exchange(admin, client, first, redirect_uri)["id_token"])["auth_time"]

    # prompt=none with a session and remembered consent: a code at once.
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", prompt="none"))
    assert "code" in query_params(target), target
    # prompt=none when consent would be asked (a wider scope than remembered): consent_required.
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid profile", prompt="none"))
    assert query_params(target).get("error") == "consent_required", target
    # prompt=consent asks again though consent is remembered.
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", prompt="consent"))
    assert target.startswith(base_url + CONSENT + "?"), target

    # max_age: a session younger than it needs no login; an older one must log in again.
    time.sleep(2.2)
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", max_age="3600"))
    assert "code" in query_params(target), target
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", max_age="1", prompt="none"))
    assert query_params(target).get("error") == "login_required", target
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", max_age="1"))
    assert target.startswith(base_url + "/login?"), target
    location = log_in(browser, target, user, password)
    target, _ = follow_own(browser, location)
    claims = unverified_claims(exchange(admin, client, target, redirect_uri)["id_token"])
    assert claims["auth_time"] > first_auth, (claims, first_auth)

    # prompt=login logs in again even with a fresh session; auth_time is the new login.
    time.sleep(1.1)
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", prompt="login"))
    assert target.startswith(base_url + "/login?"), target
    location = log_in(browser, target, user, password)
    target, _ = follow_own(browser, location)
    relogin = unverified_claims(exchange(admin, client, target, redirect_uri)["id_token"])
    assert relogin["auth_time"] > claims["auth_time"], (relogin, claims)


def test_bad_scopes_change_nothing(base_url, admin, browser, redirect_uri, recorder):
    user, password = new_user(admin, recorder)
    client = oidc_client(admin, redirect_uri)
    # Logged in, but no consent yet.
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid"))
    location = log_in(browser, target, user, password)
    target, _ = follow_own(browser, location)
    assert target.startswith(base_url + CONSENT + "?"), target
    for scope in ("openid READ WRITE", "openid phone", "openid SYSTEM_ADMIN"):
        target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope=scope))
        params = query_params(target)
        assert params["error"] == "invalid_scope" and params["state"] == "st-1", target
    for extra in ({"prompt": "none login"}, {"max_age": "-5"}):
        target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", **extra))
        assert query_params(target)["error"] == "invalid_request", target
    # Nothing was remembered: consent is still needed.
    target, _ = follow_own(browser, auth_url(base_url, client, redirect_uri, scope="openid", prompt="none"))
    assert query_params(target).get("error") == "consent_required", target
