"""Real third-party OAuth 2.0 clients against the running Linkgate (INTERFACE.md §4, §6, §9).

authlib and requests-oauthlib play the application; a cookie-keeping requests.Session plays the
person's browser, reading the login and consent forms from the served HTML (oauth_support.Browser).
Redirects to the application are captured, never followed: the redirect URIs point at a loopback
port nothing listens on. Statuses and bodies are asserted exactly; a failure that contradicts
INTERFACE.md or the RFCs is a server bug.
"""
import base64
import hashlib
import time
from urllib.parse import urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError as AuthlibOAuthError
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError, MismatchingStateError
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession

from conftest import error_keys_ok
from oauth_support import (APPLICATION_KEYS, APPLICATIONS, AUTHORIZE, CONSENT, INTROSPECT, INTROSPECTION_KEYS,
                           METADATA, METADATA_ALT, MYSELF, PROFILE_APPS, REVOKE, TOKEN, Browser, Forms,
                           assert_html_page_headers, assert_json, assert_no_store, assert_oauth_error,
                           assert_token_response,
                           assert_redirect_to, authorize_url, describe, pkce_pair, query_params, uniq,
                           unused_loopback_port)

INACTIVE = {"active": False}


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------

def recorded(session, recorder):
    """Adds the suite's recorder hook to a third-party library's session, plus a list of what it saw."""
    seen = []
    session.hooks["response"].append(recorder.hook)
    session.hooks["response"].append(lambda resp, *a, **k: seen.append(resp))
    return seen


def assert_token_dead(admin, client, *tokens):
    for token in tokens:
        assert admin.introspect(token, client) == INACTIVE, f"token {token[:6]}… is still active"


def assert_bearer_rejected(resp):
    """RFC 6750 §3: a dead token gets 401 with a Bearer challenge naming invalid_token."""
    assert resp.status_code == 401, describe(resp)
    challenge = resp.headers.get("WWW-Authenticate", "")
    assert challenge.lower().startswith("bearer") and 'error="invalid_token"' in challenge, describe(resp)
    body = resp.json()
    assert error_keys_ok(resp, body), describe(resp)


def assert_myself(admin, token, user, client, scope):
    body = assert_json(admin.myself(token), 200)
    assert body["name"] == user
    assert body["auth"] == {"protocol": "oauth2", "mode": "user", "client": client["clientId"], "scope": scope}, body
    return body


def assert_introspection_active(body, client, user, scope, base_url):
    assert set(body) == INTROSPECTION_KEYS, body
    assert body["active"] is True
    assert body["scope"] == scope and body["client_id"] == client["clientId"]
    assert body["username"] == user and body["sub"] == user
    assert body["token_type"] == "bearer" and body["mode"] == "user" and body["act"] is None
    assert body["iss"] == base_url
    assert isinstance(body["iat"], int) and isinstance(body["exp"], int)
    assert abs(body["iat"] - time.time()) < 120, body
    return body


def consent_shows(client, scope):
    """A consent-page check: the client's name and the scope asked for are on the page."""
    def check(forms, page):
        text = forms.visible_text
        assert client["name"] in text, text
        assert scope in text, text
        assert forms.ids.get("scope") is not None, "no element with id=scope"
        buttons = {b["value"]: b for b in forms.form(CONSENT)["buttons"] if b["name"] == "decision"}
        assert set(buttons) == {"approve", "deny"}, buttons
        assert buttons["approve"]["id"] == "approve" and buttons["deny"]["id"] == "deny", buttons
        assert all(b["type"] == "submit" and b["text"].strip() for b in buttons.values()), buttons
    return check


# --------------------------------------------------------------------------------------------
# RFC 8414 metadata
# --------------------------------------------------------------------------------------------

def test_metadata_document(http, base_url):
    first = assert_json(http.get(base_url + METADATA, timeout=15), 200)
    second = assert_json(http.get(base_url + METADATA_ALT, timeout=15), 200)
    assert first == second
    assert first["issuer"] == base_url
    assert first["authorization_endpoint"] == base_url + AUTHORIZE
    assert first["token_endpoint"] == base_url + TOKEN
    assert first["revocation_endpoint"] == base_url + REVOKE
    assert first["introspection_endpoint"] == base_url + INTROSPECT
    assert first["response_types_supported"] == ["code"]
    assert set(first["scopes_supported"]) == {"openid", "profile", "email", "READ", "WRITE", "ADMIN", "SYSTEM_ADMIN"}
    assert first["jwks_uri"] == base_url + "/rest/oauth2/latest/jwks"
    assert first["userinfo_endpoint"] == base_url + "/rest/oauth2/latest/userinfo"
    assert {"authorization_code", "refresh_token"} <= set(first["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(first["token_endpoint_auth_methods_supported"])
    assert set(first["code_challenge_methods_supported"]) == {"S256", "plain"}


# --------------------------------------------------------------------------------------------
# authlib, PKCE S256, client_secret_basic
# --------------------------------------------------------------------------------------------

def test_authlib_pkce_s256_code_flow_refresh_rotation_and_reuse(admin, base_url, browser, redirect_uri, recorder):
    user, password = admin.create_user(display_name="Authlib User")
    client = admin.create_client([redirect_uri], scope="WRITE")
    oauth = AuthlibSession(client["clientId"], client["clientSecret"], scope="WRITE", redirect_uri=redirect_uri,
                           code_challenge_method="S256")
    seen = recorded(oauth, recorder)
    verifier = generate_token(64)
    url, state = oauth.create_authorization_url(base_url + AUTHORIZE, code_verifier=verifier)
    sent = query_params(url)
    expected_challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert sent["code_challenge"] == expected_challenge and sent["code_challenge_method"] == "S256", sent

    outcome = browser.authorize(url, login=(user, password), check_consent=consent_shows(client, "WRITE"))
    params = assert_redirect_to(outcome, redirect_uri, {"code", "state"})
    assert params["state"] == state
    recorder.add_secret(params["code"])

    token = oauth.fetch_token(base_url + TOKEN, authorization_response=outcome.location, code_verifier=verifier)
    resp = seen[-1]
    first = assert_token_response(resp, "WRITE")
    admin.remember_tokens(first)
    # client_secret_basic: credentials in the Authorization header only.
    assert resp.request.headers["Authorization"].startswith("Basic "), resp.request.headers
    sent_body = query_params("?" + resp.request.body)
    assert "client_secret" not in sent_body and sent_body["code_verifier"] == verifier, sent_body
    assert token["access_token"] == first["access_token"]

    # The token works on REST through authlib's own bearer auth.
    me = oauth.get(base_url + MYSELF, timeout=15)
    body = assert_json(me, 200)
    assert body["name"] == user and body["displayName"] == "Authlib User"
    assert body["auth"] == {"protocol": "oauth2", "mode": "user", "client": client["clientId"], "scope": "WRITE"}
    put = oauth.put(base_url + MYSELF, json={"displayName": "Changed By Authlib"}, timeout=15)
    assert assert_json(put, 200)["displayName"] == "Changed By Authlib"

    introspected = oauth.introspect_token(base_url + INTROSPECT, token=first["access_token"], token_type_hint="access_token")
    active = assert_introspection_active(assert_json(introspected, 200), client, user, "WRITE", base_url)
    assert active["exp"] - active["iat"] == 3600

    # Refresh: rotation.
    refreshed = oauth.refresh_token(base_url + TOKEN, refresh_token=first["refresh_token"])
    second = assert_token_response(seen[-1], "WRITE")
    admin.remember_tokens(second)
    assert refreshed["access_token"] == second["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert_myself(admin, second["access_token"], user, client, "WRITE")
    assert admin.introspect(first["refresh_token"], client) == INACTIVE

    # The old (rotated) refresh token: invalid_grant, and the whole grant is revoked.
    with pytest.raises(AuthlibOAuthError) as failure:
        oauth.refresh_token(base_url + TOKEN, refresh_token=first["refresh_token"])
    assert failure.value.error == "invalid_grant"
    assert_oauth_error(seen[-1], 400, "invalid_grant")
    assert_token_dead(admin, client, second["access_token"], second["refresh_token"], first["access_token"])
    assert_bearer_rejected(admin.myself(second["access_token"]))
    # The refresh token minted by rotation is dead too.
    with pytest.raises(AuthlibOAuthError) as failure:
        oauth.refresh_token(base_url + TOKEN, refresh_token=second["refresh_token"])
    assert failure.value.error == "invalid_grant"


def test_authlib_revocation_rfc7009(admin, base_url, browser, redirect_uri, recorder):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    oauth = AuthlibSession(client["clientId"], client["clientSecret"], scope="READ", redirect_uri=redirect_uri,
                           code_challenge_method="S256")
    seen = recorded(oauth, recorder)

    def new_grant(login):
        verifier = generate_token(48)
        url, _ = oauth.create_authorization_url(base_url + AUTHORIZE, code_verifier=verifier)
        outcome = browser.authorize(url, login=login, consent=login is not None)
        token = oauth.fetch_token(base_url + TOKEN, authorization_response=outcome.location, code_verifier=verifier)
        admin.remember_tokens(token)
        assert_myself(admin, token["access_token"], user, client, "READ")
        return token

    # Revoking the access token: 200, empty body, never cached; the token is dead, the refresh token is not.
    first = new_grant((user, password))
    resp = oauth.revoke_token(base_url + REVOKE, token=first["access_token"], token_type_hint="access_token")
    assert resp.status_code == 200 and resp.content == b"", describe(resp)
    assert_no_store(resp)
    assert_token_dead(admin, client, first["access_token"])
    assert_bearer_rejected(admin.myself(first["access_token"]))
    # Revoking it again, or a token that never existed: still 200 (RFC 7009 §2.2).
    for token in (first["access_token"], "never-issued-" + generate_token(40)):
        resp = oauth.revoke_token(base_url + REVOKE, token=token)
        assert resp.status_code == 200 and resp.content == b"", describe(resp)

    # Revoking the refresh token ends it and (RFC 7009 §2.1, SHOULD) the grant's access tokens.
    second = new_grant(None)   # consent remembered, session still logged in
    third = oauth.refresh_token(base_url + TOKEN, refresh_token=second["refresh_token"])
    admin.remember_tokens(third)
    resp = oauth.revoke_token(base_url + REVOKE, token=third["refresh_token"], token_type_hint="refresh_token")
    assert resp.status_code == 200 and resp.content == b"", describe(resp)
    assert admin.introspect(third["refresh_token"], client) == INACTIVE
    with pytest.raises(AuthlibOAuthError) as failure:
        oauth.refresh_token(base_url + TOKEN, refresh_token=third["refresh_token"])
    assert failure.value.error == "invalid_grant"
    assert_oauth_error(seen[-1], 400, "invalid_grant")
    assert_token_dead(admin, client, third["access_token"])

    # Wrong client credentials: 401 invalid_client with a Basic challenge; nothing is revoked.
    fourth = new_grant(None)
    resp = admin.request("POST", REVOKE, auth=(client["clientId"], "wrong-" + client["clientSecret"]),
                         data={"token": fourth["access_token"]})
    assert_oauth_error(resp, 401, "invalid_client")
    assert resp.headers.get("WWW-Authenticate", "").startswith("Basic"), describe(resp)
    assert admin.introspect(fourth["access_token"], client)["active"] is True

    # Another client cannot revoke this client's token (RFC 7009 §2.1). Linkgate answers it like an
    # unknown token (200, §2.2) so the endpoint reveals nothing; the token must stay alive.
    other = admin.create_client(["https://other-app.example/cb"], scope="READ")
    resp = admin.request("POST", REVOKE, auth=(other["clientId"], other["clientSecret"]), data={"token": fourth["access_token"]})
    assert resp.status_code == 200 and resp.content == b"", describe(resp)
    assert admin.introspect(fourth["access_token"], client)["active"] is True, "another client revoked the token"
    assert_myself(admin, fourth["access_token"], user, client, "READ")


def test_replayed_code_is_invalid_grant_and_revokes_its_tokens(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="WRITE")
    verifier, challenge = pkce_pair()
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="READ", state="replay", code_challenge=challenge, code_challenge_method="S256")
    outcome = browser.authorize(url, login=(user, password))
    assert_redirect_to(outcome, redirect_uri, {"code", "state"})
    admin.recorder.add_secret(outcome.code)

    first = assert_token_response(admin.exchange_code(client, outcome.code, redirect_uri, verifier), "READ")
    admin.remember_tokens(first)
    assert_myself(admin, first["access_token"], user, client, "READ")
    assert_oauth_error(admin.exchange_code(client, outcome.code, redirect_uri, verifier), 400, "invalid_grant")
    assert_token_dead(admin, client, first["access_token"], first["refresh_token"])
    assert_bearer_rejected(admin.myself(first["access_token"]))


def test_pkce_and_redirect_uri_are_enforced_at_the_token_endpoint(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    other_redirect = redirect_uri.replace("/cb", "/cb2")
    client = admin.create_client([redirect_uri, other_redirect], scope="READ")
    login = (user, password)

    def code_for(challenge=None, method=None, redirect=redirect_uri, consent=True):
        nonlocal login
        url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect,
                            scope="READ", code_challenge=challenge, code_challenge_method=method)
        outcome = browser.authorize(url, login=login, consent=consent)
        login = None
        assert_redirect_to(outcome, redirect, {"code"})
        admin.recorder.add_secret(outcome.code)
        return outcome.code

    verifier, challenge = pkce_pair()
    # Wrong verifier → invalid_grant (RFC 7636 §4.6).
    code = code_for(challenge, "S256")
    other_verifier, _ = pkce_pair()
    assert_oauth_error(admin.exchange_code(client, code, redirect_uri, other_verifier), 400, "invalid_grant")
    # A redirect_uri that differs from the authorize one → invalid_grant (RFC 6749 §4.1.3).
    code = code_for(challenge, "S256", consent=False)
    assert_oauth_error(admin.exchange_code(client, code, other_redirect, verifier), 400, "invalid_grant")
    # plain PKCE works with the verifier itself as the challenge.
    code = code_for(verifier, "plain", consent=False)
    body = assert_token_response(admin.exchange_code(client, code, redirect_uri, verifier), "READ")
    admin.remember_tokens(body)
    # Basic and client_secret_post together → invalid_request (RFC 6749 §2.3, §5.2).
    code = code_for(challenge, "S256", consent=False)
    resp = admin.request("POST", TOKEN, auth=(client["clientId"], client["clientSecret"]),
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                               "code_verifier": verifier, "client_id": client["clientId"],
                               "client_secret": client["clientSecret"]})
    assert_oauth_error(resp, 400, "invalid_request")


# --------------------------------------------------------------------------------------------
# requests-oauthlib, client_secret_post, state verification
# --------------------------------------------------------------------------------------------

def test_requests_oauthlib_client_secret_post_flow(admin, base_url, browser, redirect_uri, recorder, monkeypatch):
    # The whole run is on loopback http; oauthlib insists on https unless told otherwise.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    user, password = admin.create_user(display_name="Oauthlib User")
    client = admin.create_client([redirect_uri], scope="WRITE")
    oauth = RequestsOAuthlibSession(client["clientId"], redirect_uri=redirect_uri, scope=["READ"], pkce="S256")
    seen = recorded(oauth, recorder)
    url, state = oauth.authorization_url(base_url + AUTHORIZE)
    sent = query_params(url)
    assert sent["state"] == state and sent["code_challenge_method"] == "S256" and sent["scope"] == "READ", sent

    outcome = browser.authorize(url, login=(user, password), check_consent=consent_shows(client, "READ"))
    params = assert_redirect_to(outcome, redirect_uri, {"code", "state"})
    assert params["state"] == state
    recorder.add_secret(params["code"])

    # State verification is real: a redirect carrying another state is refused by the client.
    forged = outcome.location.replace("state=", "state=forged", 1)
    with pytest.raises(MismatchingStateError):
        oauth.fetch_token(base_url + TOKEN, authorization_response=forged, client_secret=client["clientSecret"],
                          include_client_id=True)
    assert not seen, "a token request was sent despite the state mismatch"

    token = oauth.fetch_token(base_url + TOKEN, authorization_response=outcome.location,
                              client_secret=client["clientSecret"], include_client_id=True)
    resp = seen[-1]
    first = assert_token_response(resp, "READ")
    admin.remember_tokens(first)
    assert token["access_token"] == first["access_token"]
    # client_secret_post: credentials in the body, no Authorization header.
    assert "Authorization" not in resp.request.headers, resp.request.headers
    body = query_params("?" + resp.request.body)
    assert body["client_id"] == client["clientId"] and body["client_secret"] == client["clientSecret"], body
    assert body["grant_type"] == "authorization_code" and body["redirect_uri"] == redirect_uri and body["code_verifier"]

    me = assert_json(oauth.get(base_url + MYSELF, timeout=15), 200)
    assert me["name"] == user
    assert me["auth"] == {"protocol": "oauth2", "mode": "user", "client": client["clientId"], "scope": "READ"}
    # READ cannot write: 403 insufficient_scope (RFC 6750 §3.1), nothing changes.
    put = oauth.put(base_url + MYSELF, json={"displayName": "Must Not Change"}, timeout=15)
    assert put.status_code == 403, describe(put)
    assert 'error="insufficient_scope"' in put.headers.get("WWW-Authenticate", ""), describe(put)
    assert error_keys_ok(put, put.json()), describe(put)
    assert assert_json(oauth.get(base_url + MYSELF, timeout=15), 200)["displayName"] == "Oauthlib User"

    # Refresh with client_secret_post: rotation.
    refreshed = oauth.refresh_token(base_url + TOKEN, client_id=client["clientId"], client_secret=client["clientSecret"])
    second = assert_token_response(seen[-1], "READ")
    admin.remember_tokens(second)
    assert "Authorization" not in seen[-1].request.headers
    assert refreshed["refresh_token"] == second["refresh_token"] != first["refresh_token"]
    assert_json(oauth.get(base_url + MYSELF, timeout=15), 200)

    # The rotated-out refresh token: invalid_grant, and the grant dies.
    with pytest.raises(InvalidGrantError):
        oauth.refresh_token(base_url + TOKEN, refresh_token=first["refresh_token"], client_id=client["clientId"],
                            client_secret=client["clientSecret"])
    assert_oauth_error(seen[-1], 400, "invalid_grant")
    # Introspection with client_secret_post this time.
    for dead in (second["access_token"], second["refresh_token"]):
        resp = admin.request("POST", INTROSPECT, auth=None,
                             data={"token": dead, "client_id": client["clientId"], "client_secret": client["clientSecret"]})
        assert assert_json(resp, 200) == INACTIVE
    assert_bearer_rejected(oauth.get(base_url + MYSELF, timeout=15))


# --------------------------------------------------------------------------------------------
# authlib driven by the RFC 8414 metadata document
# --------------------------------------------------------------------------------------------

def test_authlib_from_metadata_document(http, admin, base_url, browser, redirect_uri, recorder):
    doc = assert_json(http.get(base_url + METADATA, timeout=15), 200)
    assert doc["issuer"] == base_url
    for key in ("authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert doc[key].startswith(doc["issuer"] + "/"), doc
    assert "S256" in doc["code_challenge_methods_supported"]
    assert "client_secret_post" in doc["token_endpoint_auth_methods_supported"]

    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="WRITE")
    oauth = AuthlibSession(client["clientId"], client["clientSecret"], scope="READ WRITE", redirect_uri=redirect_uri,
                           code_challenge_method="S256", token_endpoint_auth_method="client_secret_post",
                           revocation_endpoint_auth_method="client_secret_post",
                           token_endpoint=doc["token_endpoint"])
    seen = recorded(oauth, recorder)
    verifier = generate_token(80)
    awkward = "meta state: a b&c=d+e/ü?#"
    url, state = oauth.create_authorization_url(doc["authorization_endpoint"], state=awkward, code_verifier=verifier)
    assert state == awkward
    # INTERFACE §4: "READ WRITE" is granted as the highest value, WRITE.
    outcome = browser.authorize(url, login=(user, password), check_consent=consent_shows(client, "WRITE"))
    assert assert_redirect_to(outcome, redirect_uri, {"code", "state"})["state"] == awkward
    recorder.add_secret(outcome.code)

    token = oauth.fetch_token(authorization_response=outcome.location, code_verifier=verifier)  # URL from metadata
    assert seen[-1].request.url == doc["token_endpoint"]
    assert "Authorization" not in seen[-1].request.headers
    body = assert_token_response(seen[-1], "WRITE")
    admin.remember_tokens(body)
    assert token["scope"] == "WRITE"
    assert_myself(admin, token["access_token"], user, client, "WRITE")

    introspected = assert_json(oauth.introspect_token(doc["introspection_endpoint"], token=token["access_token"]), 200)
    assert_introspection_active(introspected, client, user, "WRITE", doc["issuer"])
    resp = oauth.revoke_token(doc["revocation_endpoint"], token=token["access_token"])
    assert resp.status_code == 200, describe(resp)
    assert assert_json(oauth.introspect_token(doc["introspection_endpoint"], token=token["access_token"]), 200) == INACTIVE


# --------------------------------------------------------------------------------------------
# state, deny, remembered consent, scopes
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def state_user(admin):
    return admin.create_user()


@pytest.fixture(scope="module")
def state_browser(new_session, base_url, recorder, state_user):
    """One logged-in browser for all the state cases (login happens on the first authorization)."""
    b = Browser(new_session(), base_url, recorder)
    b.pending_login = state_user
    return b


AWKWARD_STATES = [
    "plain-state-123",
    "with space",
    "a&b=c",
    "a+b",
    "++",
    "100% literal %20 %2B %zz",
    "ünïcødé ✓ 日本語 🙂",
    "=?&#/;:@,$",
    " leading and trailing ",
    "<script>alert(1)</script>\"'&amp;",
    "~-._" + "x" * 200,
]


@pytest.mark.parametrize("state", AWKWARD_STATES, ids=range(len(AWKWARD_STATES)))
def test_state_round_trips_byte_for_byte(admin, base_url, state_browser, redirect_uri, state):
    """RFC 6749 §4.1.2: state comes back unchanged on deny, approve and remembered consent."""
    client = admin.create_client([redirect_uri], scope="READ")
    verifier, challenge = pkce_pair()
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="READ", state=state, code_challenge=challenge, code_challenge_method="S256")
    login, state_browser.pending_login = state_browser.pending_login, None

    def check_page(forms, page):
        consent_shows(client, "READ")(forms, page)
        assert Forms.hidden(forms.form(CONSENT))["state"] == state
        assert "<script>alert(1)" not in page.text, "state rendered unescaped on the consent page"

    denied = state_browser.authorize(url, login=login, decision="deny", check_consent=check_page)
    params = assert_redirect_to(denied, redirect_uri, {"error", "error_description", "state"})
    assert params["error"] == "access_denied" and params["state"] == state

    approved = state_browser.authorize(url, check_consent=check_page)
    params = assert_redirect_to(approved, redirect_uri, {"code", "state"})
    assert params["state"] == state
    admin.recorder.add_secret(params["code"])

    remembered = state_browser.authorize(url, consent=False)
    params = assert_redirect_to(remembered, redirect_uri, {"code", "state"})
    assert params["state"] == state
    admin.recorder.add_secret(params["code"])
    body = assert_token_response(admin.exchange_code(client, params["code"], redirect_uri, verifier), "READ")
    admin.remember_tokens(body)


def test_deny_sends_access_denied_and_remembers_nothing(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="WRITE")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="WRITE", state="deny-me")
    outcome = browser.authorize(url, login=(user, password), decision="deny", check_consent=consent_shows(client, "WRITE"))
    params = assert_redirect_to(outcome, redirect_uri, {"error", "error_description", "state"})
    assert params["error"] == "access_denied" and params["state"] == "deny-me" and params["error_description"]
    assert assert_json(admin.request("GET", APPLICATIONS, auth=(user, password)), 200) == []
    # Nothing remembered: the next request shows the consent page again.
    outcome = browser.authorize(url, decision="deny")
    assert outcome.params["error"] == "access_denied"


def test_remembered_consent_same_or_lower_scope_skips_the_page(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="WRITE")

    def url(scope, state):
        return authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                             scope=scope, state=state)

    def tokens(outcome, scope):
        params = assert_redirect_to(outcome, redirect_uri, {"code", "state"})
        admin.recorder.add_secret(params["code"])
        body = assert_token_response(admin.exchange_code(client, params["code"], redirect_uri), scope)
        admin.remember_tokens(body)
        return body

    read1 = tokens(browser.authorize(url("READ", "r1"), login=(user, password),
                                     check_consent=consent_shows(client, "READ")), "READ")
    # Same scope: no consent page, a code at once.
    read2 = tokens(browser.authorize(url("READ", "r2"), consent=False), "READ")
    assert_myself(admin, read2["access_token"], user, client, "READ")
    # Higher scope: the page again.
    write1 = tokens(browser.authorize(url("WRITE", "w1"), check_consent=consent_shows(client, "WRITE")), "WRITE")
    # Then WRITE, the default (the registered WRITE) and READ are all remembered.
    tokens(browser.authorize(url("WRITE", "w2"), consent=False), "WRITE")
    tokens(browser.authorize(url(None, "w3"), consent=False), "WRITE")
    tokens(browser.authorize(url("READ", "r3"), consent=False), "READ")

    # One authorized application, at the highest scope consented to.
    apps = assert_json(admin.request("GET", APPLICATIONS, auth=(user, password)), 200)
    assert len(apps) == 1, apps
    app = apps[0]
    assert set(app) == APPLICATION_KEYS, app
    assert app["protocol"] == "oauth2" and app["client"] == client["clientId"] and app["name"] == client["name"]
    assert app["scope"] == "WRITE"
    assert isinstance(app["authorizedAt"], int) and abs(app["authorizedAt"] - time.time()) < 120
    # Revoking the app (INTERFACE §9) kills its tokens and forgets the consent.
    resp = admin.request("DELETE", f"{APPLICATIONS}/{app['id']}", auth=(user, password))
    assert resp.status_code == 204 and resp.content == b"", describe(resp)
    assert_token_dead(admin, client, read1["access_token"], read2["refresh_token"], write1["access_token"])
    assert_bearer_rejected(admin.myself(write1["access_token"]))
    assert assert_json(admin.request("GET", APPLICATIONS, auth=(user, password)), 200) == []
    tokens(browser.authorize(url("READ", "r4"), check_consent=consent_shows(client, "READ")), "READ")


def test_admin_scope_for_non_admin_is_invalid_scope(admin, base_url, browser, new_session, recorder, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="ADMIN")

    def url(scope, state="scope-state"):
        return authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                             scope=scope, state=state)

    login = (user, password)
    for scope in ["ADMIN", None, "READ ADMIN", "SYSTEM_ADMIN", "read", "READ BOGUS"]:
        outcome = browser.authorize(url(scope), login=login, consent=False)
        login = None
        params = assert_redirect_to(outcome, redirect_uri, {"error", "error_description", "state"})
        assert params["error"] == "invalid_scope" and params["state"] == "scope-state", (scope, params)
    # READ is fine for the same user and client.
    outcome = browser.authorize(url("READ"), check_consent=consent_shows(client, "READ"))
    assert_redirect_to(outcome, redirect_uri, {"code", "state"})
    admin.recorder.add_secret(outcome.code)

    # An admin may be granted ADMIN (after consenting), but not more than the client's registered scope.
    admin_name, admin_password = admin.create_user(admin=True)
    admin_browser = Browser(new_session(), base_url, recorder)
    outcome = admin_browser.authorize(url("ADMIN"), login=(admin_name, admin_password), check_consent=consent_shows(client, "ADMIN"))
    params = assert_redirect_to(outcome, redirect_uri, {"code", "state"})
    admin.recorder.add_secret(params["code"])
    body = assert_token_response(admin.exchange_code(client, params["code"], redirect_uri), "ADMIN")
    admin.remember_tokens(body)
    outcome = admin_browser.authorize(url("SYSTEM_ADMIN"), consent=False)
    assert assert_redirect_to(outcome, redirect_uri, {"error", "error_description", "state"})["error"] == "invalid_scope"


# --------------------------------------------------------------------------------------------
# Untrusted client or redirect: an error page, never a redirect
# --------------------------------------------------------------------------------------------

def test_unknown_client_or_unregistered_redirect_shows_error_page(admin, base_url, browser, new_session, recorder, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    port = urlsplit(redirect_uri).port
    bad = [
        dict(client_id="no-such-client-" + uniq("x"), redirect_uri=redirect_uri),
        dict(client_id=client["clientId"], redirect_uri=redirect_uri + "x"),
        dict(client_id=client["clientId"], redirect_uri=redirect_uri + "/"),
        dict(client_id=client["clientId"], redirect_uri=f"http://localhost:{port}/cb"),
        dict(client_id=client["clientId"], redirect_uri="https://evil.example/cb"),
        dict(client_id=client["clientId"], redirect_uri=None),
        dict(client_id=None, redirect_uri=redirect_uri),
    ]
    anonymous = Browser(new_session(), base_url, recorder)
    logged = browser
    # Log `logged` in through a normal request first.
    ok = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri, scope="READ")
    logged.authorize(ok, login=(user, password), decision="deny")
    for who in (anonymous, logged):
        for params in bad:
            url = authorize_url(base_url, response_type="code", scope="READ", state="s", **params)
            resp = who.get(url)
            assert resp.status_code == 400, describe(resp)
            assert "Location" not in resp.headers, describe(resp)
            assert_html_page_headers(resp)
            assert_no_store(resp)
    # The consent endpoint itself is just as strict.
    resp = logged.get(base_url + CONSENT + "?" + urlsplit(authorize_url(
        base_url, response_type="code", client_id=client["clientId"], redirect_uri="https://evil.example/cb")).query)
    assert resp.status_code == 400 and "Location" not in resp.headers, describe(resp)


def test_consent_form_needs_its_csrf_token_and_is_revalidated(admin, base_url, browser, new_session, recorder, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="READ", state="csrf-state")
    captured = {}

    def keep(forms, page):
        captured["form"] = forms.form(CONSENT)

    # Deny once to reach the consent page (and log in); keep its form.
    browser.authorize(url, login=(user, password), decision="deny", check_consent=keep)
    form = captured["form"]
    approve = [b for b in form["buttons"] if b["value"] == "approve"][0]
    good = Forms.submission(form, approve)
    other = Browser(new_session(), base_url, recorder)
    other_user, other_password = admin.create_user()
    other.authorize(url, login=(other_user, other_password), decision="deny", check_consent=keep)
    other_token = Forms.hidden(captured["form"])["csrf_token"]

    variants = {
        "missing": [(k, v) for k, v in good if k != "csrf_token"],
        "empty": [(k, "" if k == "csrf_token" else v) for k, v in good],
        "other-session": [(k, other_token if k == "csrf_token" else v) for k, v in good],
    }
    for name, data in variants.items():
        resp = browser.post(base_url + CONSENT, data=data)
        assert resp.status_code == 403, (name, describe(resp))
        assert "Location" not in resp.headers, (name, describe(resp))
    # A tampered redirect_uri is checked again: error page, no redirect.
    tampered = [(k, "https://evil.example/cb" if k == "redirect_uri" else v) for k, v in good]
    resp = browser.post(base_url + CONSENT, data=tampered)
    assert resp.status_code == 400 and "Location" not in resp.headers, describe(resp)
    # Nothing was granted by any of that.
    assert assert_json(admin.request("GET", APPLICATIONS, auth=(user, password)), 200) == []
    # The genuine form still works.
    resp = browser.post(base_url + CONSENT, data=good)
    target = browser.location(resp)
    assert query_params(target)["state"] == "csrf-state" and query_params(target)["code"]
    admin.recorder.add_secret(query_params(target)["code"])


def test_codes_are_bound_to_their_client_and_credentials_never_in_query(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    thief = admin.create_client([redirect_uri], scope="READ")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri, scope="READ")
    outcome = browser.authorize(url, login=(user, password))
    admin.recorder.add_secret(outcome.code)
    assert_oauth_error(admin.exchange_code(thief, outcome.code, redirect_uri), 400, "invalid_grant")

    outcome = browser.authorize(url, consent=False)
    admin.recorder.add_secret(outcome.code)
    resp = admin.request("POST", TOKEN, auth=(client["clientId"], client["clientSecret"]),
                         params={"code": outcome.code},
                         data={"grant_type": "authorization_code", "redirect_uri": redirect_uri})
    assert_oauth_error(resp, 400, "invalid_request")
    resp = admin.request("POST", TOKEN, auth=None, params={"client_secret": client["clientSecret"]},
                         data={"grant_type": "authorization_code", "code": outcome.code, "redirect_uri": redirect_uri,
                               "client_id": client["clientId"]})
    assert_oauth_error(resp, 400, "invalid_request")


def test_refresh_tokens_are_bound_to_client_and_scope(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="WRITE")
    thief = admin.create_client([redirect_uri], scope="WRITE")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri, scope="READ")
    outcome = browser.authorize(url, login=(user, password))
    admin.recorder.add_secret(outcome.code)
    first = assert_token_response(admin.exchange_code(client, outcome.code, redirect_uri), "READ")
    admin.remember_tokens(first)

    def refresh(who, token, **extra):
        return admin.request("POST", TOKEN, auth=(who["clientId"], who["clientSecret"]),
                             data={"grant_type": "refresh_token", "refresh_token": token, **extra})

    # Another client's refresh token: invalid_grant (RFC 6749 §6), and the owner's grant is untouched.
    assert_oauth_error(refresh(thief, first["refresh_token"]), 400, "invalid_grant")
    # A wider scope than the grant's: invalid_scope (RFC 6749 §6).
    assert_oauth_error(refresh(client, first["refresh_token"], scope="WRITE"), 400, "invalid_scope")
    assert_myself(admin, first["access_token"], user, client, "READ")
    second = assert_token_response(refresh(client, first["refresh_token"]), "READ")
    admin.remember_tokens(second)
    assert_myself(admin, second["access_token"], user, client, "READ")


def test_authorize_request_errors_redirect_with_state(admin, base_url, browser, redirect_uri):
    """RFC 6749 §4.1.2.1 / RFC 7636 §4.4.1: with a trusted client and redirect, errors go back to the client."""
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    _, challenge = pkce_pair()
    base = dict(client_id=client["clientId"], redirect_uri=redirect_uri, state="err state+&")
    cases = [
        (dict(base, response_type=None), "invalid_request"),
        (dict(base, response_type="token"), "unsupported_response_type"),
        (dict(base, response_type="code", code_challenge="too-short"), "invalid_request"),
        (dict(base, response_type="code", code_challenge=challenge, code_challenge_method="S512"), "invalid_request"),
        (dict(base, response_type="code", code_challenge_method="S256"), "invalid_request"),
    ]
    login = (user, password)
    for params, error in cases:
        outcome = browser.authorize(authorize_url(base_url, **params), login=login, consent=False)
        login = None
        got = assert_redirect_to(outcome, redirect_uri, {"error", "error_description", "state"})
        assert got["error"] == error and got["state"] == "err state+&", (params, got)
    # A repeated parameter (RFC 6749 §3.1) is refused too.
    url = authorize_url(base_url, response_type="code", scope="READ", **base) + "&scope=READ"
    outcome = browser.authorize(url, consent=False)
    got = assert_redirect_to(outcome, redirect_uri, {"error", "error_description", "state"})
    assert got["error"] == "invalid_request", got
    url = authorize_url(base_url, response_type="code", scope="READ", **base) + "&client_id=" + client["clientId"]
    resp = browser.get(url)
    assert resp.status_code == 400 and "Location" not in resp.headers, describe(resp)


def test_redirect_uri_query_is_kept(admin, base_url, browser):
    """RFC 6749 §3.1.2: a registered redirect URI's own query is retained when parameters are added."""
    user, password = admin.create_user()
    redirect = f"http://127.0.0.1:{unused_loopback_port()}/cb?tenant=a%20b&x=1"
    client = admin.create_client([redirect], scope="READ")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect,
                        scope="READ", state="q")
    denied = browser.authorize(url, login=(user, password), decision="deny")
    assert denied.location.startswith(redirect + "&"), denied.location
    assert assert_redirect_to(denied, redirect, {"tenant", "x", "error", "error_description", "state"})["tenant"] == "a b"
    approved = browser.authorize(url)
    params = assert_redirect_to(approved, redirect, {"tenant", "x", "code", "state"})
    assert params["tenant"] == "a b" and params["x"] == "1" and params["state"] == "q"
    admin.recorder.add_secret(params["code"])
    body = assert_token_response(admin.exchange_code(client, params["code"], redirect), "READ")
    admin.remember_tokens(body)


def test_wrong_password_on_the_way_keeps_the_authorization_request(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="READ", state="retry ü")
    path_query = url[len(base_url):]
    login_url = browser.location(browser.get(url))
    form = Forms(browser.get(login_url).text).form("/login")
    resp = browser.post(base_url + "/login", data=Forms.submission(form, username=user, password="not-the-password"))
    assert resp.status_code == 401, describe(resp)
    assert_html_page_headers(resp)
    again = Forms(resp.text)
    retry = again.form("/login")
    assert Forms.hidden(retry)["next"] == path_query, retry
    assert [f["value"] for f in retry["fields"] if f["name"] == "username"] == [user]
    assert [f["value"] for f in retry["fields"] if f["name"] == "password"] == [""], "the password was echoed back"
    resp = browser.post(base_url + "/login", data=Forms.submission(retry, password=password))
    assert browser.location(resp) == url, describe(resp)
    outcome = browser.authorize(url)
    params = assert_redirect_to(outcome, redirect_uri, {"code", "state"})
    assert params["state"] == "retry ü"
    admin.recorder.add_secret(params["code"])


def test_missing_code_verifier_is_refused(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    _, challenge = pkce_pair()
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="READ", code_challenge=challenge, code_challenge_method="S256")
    outcome = browser.authorize(url, login=(user, password))
    admin.recorder.add_secret(outcome.code)
    assert_oauth_error(admin.exchange_code(client, outcome.code, redirect_uri), 400, "invalid_grant")


def test_applications_lifecycle_user_and_client_deletion(admin, base_url, browser, new_session, recorder, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="WRITE")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri, scope="WRITE")
    outcome = browser.authorize(url, login=(user, password))
    admin.recorder.add_secret(outcome.code)
    token = assert_token_response(admin.exchange_code(client, outcome.code, redirect_uri), "WRITE")
    admin.remember_tokens(token)
    assert_myself(admin, token["access_token"], user, client, "WRITE")

    # The token itself may list its own user's applications (READ); lastUsedAt is set after use.
    apps = assert_json(admin.request("GET", APPLICATIONS, auth=None,
                                     headers={"Authorization": f"Bearer {token['access_token']}"}), 200)
    assert len(apps) == 1 and set(apps[0]) == APPLICATION_KEYS, apps
    assert apps[0]["client"] == client["clientId"] and apps[0]["scope"] == "WRITE"
    assert isinstance(apps[0]["lastUsedAt"], int) and apps[0]["lastUsedAt"] >= apps[0]["authorizedAt"], apps

    # Another user cannot see or delete it: 404.
    other, other_password = admin.create_user()
    assert assert_json(admin.request("GET", APPLICATIONS, auth=(other, other_password)), 200) == []
    resp = admin.request("DELETE", f"{APPLICATIONS}/{apps[0]['id']}", auth=(other, other_password))
    assert_json(resp, 404)
    resp = admin.request("DELETE", f"{APPLICATIONS}/no-such-app", auth=(user, password))
    assert_json(resp, 404)
    assert_myself(admin, token["access_token"], user, client, "WRITE")

    # The profile page's Revoke form needs this session's CSRF token (INTERFACE §3, §9).
    page = browser.get(base_url + PROFILE_APPS)
    assert page.status_code == 200, describe(page)
    forms = Forms(page.text)
    revoke_form = forms.form(f"/profile/applications/{apps[0]['id']}/revoke")
    assert revoke_form["method"] == "post" and Forms.hidden(revoke_form)["csrf_token"]
    assert client["name"] in forms.visible_text
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "A" * 43}):
        resp = browser.post(base_url + revoke_form["action"], data=data)
        assert resp.status_code == 403, describe(resp)
    assert len(assert_json(admin.request("GET", APPLICATIONS, auth=(user, password)), 200)) == 1
    assert_myself(admin, token["access_token"], user, client, "WRITE")
    # Another user's session cannot use the form for this app, even with its own token.
    other_browser = Browser(new_session(), base_url, recorder)
    other_browser.login_through(base_url + "/login?next=%2Fprofile%2Fapplications", other, other_password,
                                expected_next=PROFILE_APPS)
    home = other_browser.get(base_url + "/")
    assert home.status_code == 200, describe(home)
    other_token = Forms.hidden(Forms(home.text).form("/logout"))["csrf_token"]
    resp = other_browser.post(base_url + revoke_form["action"], data={"csrf_token": other_token})
    assert resp.status_code == 404, describe(resp)
    assert_myself(admin, token["access_token"], user, client, "WRITE")

    # Deleting the client revokes its tokens (INTERFACE §5).
    resp = admin.request("DELETE", f"/rest/oauth2/latest/client/{client['clientId']}")
    assert resp.status_code == 204, describe(resp)
    assert_bearer_rejected(admin.myself(token["access_token"]))
    assert assert_json(admin.request("GET", APPLICATIONS, auth=(user, password)), 200) == []

    # Deleting the user revokes every token they hold (INTERFACE §3).
    client2 = admin.create_client([redirect_uri], scope="READ")
    url2 = authorize_url(base_url, response_type="code", client_id=client2["clientId"], redirect_uri=redirect_uri, scope="READ")
    outcome = browser.authorize(url2)
    admin.recorder.add_secret(outcome.code)
    token2 = assert_token_response(admin.exchange_code(client2, outcome.code, redirect_uri), "READ")
    admin.remember_tokens(token2)
    assert_myself(admin, token2["access_token"], user, client2, "READ")
    resp = admin.request("DELETE", f"/rest/api/latest/user/{user}")
    assert resp.status_code == 204, describe(resp)
    assert_bearer_rejected(admin.myself(token2["access_token"]))
    assert_token_dead(admin, client2, token2["access_token"], token2["refresh_token"])


# --------------------------------------------------------------------------------------------
# Pages: keyboard use (labels) and anti-framing headers
# --------------------------------------------------------------------------------------------

def _assert_keyboard_usable(forms, where):
    assert forms.html_lang, f"{where}: <html> has no lang"
    assert not forms.tabindex_negative, f"{where}: elements taken out of the tab order: {forms.tabindex_negative}"
    for form in forms.forms:
        for field in form["fields"]:
            if field["type"] in ("hidden", "submit", "button"):
                continue
            assert field["id"], f"{where}: input {field['name']!r} has no id to label"
            assert forms.labels.get(field["id"]), f"{where}: input {field['name']!r} has no <label for={field['id']!r}>"
        for button in form["buttons"]:
            name = button["text"].strip() or button["attrs"].get("aria-label", "").strip()
            assert name, f"{where}: a button has no accessible name: {button}"
            assert button["type"] == "submit", f"{where}: button is not a submit button: {button}"


def test_login_and_consent_pages_keyboard_usable_and_unframeable(admin, base_url, browser, redirect_uri):
    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri, scope="READ")
    first = browser.get(url)
    login_url = browser.location(first)
    page = browser.get(login_url)
    assert page.status_code == 200, describe(page)
    assert_html_page_headers(page)
    forms = Forms(page.text)
    _assert_keyboard_usable(forms, "login page")
    assert forms.labels.get("username") and forms.labels.get("password"), forms.labels
    username_field = [f for f in forms.form("/login")["fields"] if f["name"] == "username"][0]
    assert "autofocus" in username_field["attrs"], "the login page does not focus the user name field"

    seen = {}

    def check(forms, page):
        seen["forms"] = forms
        assert_html_page_headers(page)

    outcome = browser.authorize(url, login=(user, password), check_consent=check)
    assert_redirect_to(outcome, redirect_uri, {"code"})
    admin.recorder.add_secret(outcome.code)
    _assert_keyboard_usable(seen["forms"], "consent page")

    # The applications page and the error page are unframeable too.
    resp = browser.get(base_url + PROFILE_APPS)
    assert resp.status_code == 200, describe(resp)
    assert_html_page_headers(resp)
    _assert_keyboard_usable(Forms(resp.text), "applications page")
    resp = browser.get(base_url + "/plugins/servlet/oauth2/error")
    assert resp.status_code == 400, describe(resp)
    assert_html_page_headers(resp)


# --------------------------------------------------------------------------------------------
# Nothing secret in the log, no 5xx (keep last)
# --------------------------------------------------------------------------------------------

def test_zz_tokens_codes_and_secrets_never_logged_no_server_errors(http, base_url, recorder, log_path):
    assert http.get(base_url + "/status", timeout=15).status_code == 200
    time.sleep(0.2)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    leaked = sorted(s for s in recorder.secrets if s in log)
    assert not leaked, f"{len(leaked)} secret(s) found in the server log: {[s[:6] + '…' for s in leaked]}"
    assert recorder.server_errors == [], f"5xx responses seen: {recorder.server_errors}"
    assert recorder.html_header_problems == [], recorder.html_header_problems


# --------------------------------------------------------------------------------------------
# INTERFACE §6 / issue 11: a code redeemed by 8 racing requests
# --------------------------------------------------------------------------------------------

def test_code_redemption_race_leaves_no_live_tokens(admin, base_url, browser, redirect_uri):
    """8 concurrent exchanges of one code, 50 rounds: one 200 and seven invalid_grant every time,
    and the replays revoke what the winner got, whenever they land."""
    from concurrent.futures import ThreadPoolExecutor
    import requests

    user, password = admin.create_user()
    client = admin.create_client([redirect_uri], scope="READ")
    login = (user, password)
    sessions = [requests.Session() for _ in range(8)]
    survivors = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_ in range(50):
            verifier, challenge = pkce_pair()
            url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                                scope="READ", code_challenge=challenge, code_challenge_method="S256")
            outcome = browser.authorize(url, login=login, consent=login is not None)
            login = None
            code = outcome.code
            admin.recorder.add_secret(code)
            data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
            auth = (client["clientId"], client["clientSecret"])
            responses = list(pool.map(lambda s: s.post(base_url + TOKEN, auth=auth, data=data, timeout=30), sessions))
            codes = sorted(r.status_code for r in responses)
            assert codes == [200] + [400] * 7, f"round {round_}: {codes}"
            for r in responses:
                if r.status_code == 400:
                    assert r.json()["error"] == "invalid_grant", describe(r)
            winner = next(r.json() for r in responses if r.status_code == 200)
            admin.remember_tokens(winner)
            for token in (winner["access_token"], winner["refresh_token"]):
                if admin.introspect(token, client)["active"]:
                    survivors.append(round_)
    for s in sessions:
        s.close()
    assert survivors == [], f"rounds whose winner kept a live token after the replays: {survivors}"
