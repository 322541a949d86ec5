"""OAuth 1.0a provider end to end with real clients (INTERFACE.md §3, §7, §9; RFC 5849).

requests-oauthlib (OAuth1Session / OAuth1, RSA-SHA1) and the Atlassian `jira` library play the
consumer; a cookie-keeping requests.Session plays the person's browser on the login and authorize
pages (forms read from the served HTML). Callbacks point at a loopback port nothing listens on:
the redirect is captured, never followed. Hostile requests are signed by an independent RFC 5849
signer (oauth1_support.sign) or by oauthlib's Client and then altered. Every refusal is checked
for its exact status and `oauth_problem`; a failure that contradicts INTERFACE.md or RFC 5849 is a
server bug, not a reason to relax the test.
"""
import base64
import gzip
import re
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.oauth1 import (SIGNATURE_HMAC_SHA1, SIGNATURE_PLAINTEXT, SIGNATURE_RSA, SIGNATURE_TYPE_BODY,
                             SIGNATURE_TYPE_QUERY, Client)
from jira.exceptions import JIRAError
from requests_oauthlib import OAuth1, OAuth1Session

from oauth1_support import (ACCESS_TOKEN, ACCESS_TOKEN_KEYS, AUTHORIZE1, CONSUMER_INFO, CONSUMER_KEYS, CONSUMERS,
                            FIVE_YEARS, INBOUND_TYPES, MANIFEST, REQUEST_TOKEN, KeyPair, PeerServer,
                            assert_acceptable_timestamps, assert_oauth_problem, authorize_request_token,
                            callback_params, consumer_info_xml, ec_public_pem, element_text, load_public_key,
                            new_rsa_key, sign, small_rsa_public_pem)
from oauth_support import (APPLICATION_KEYS, APPLICATIONS, MYSELF, PROFILE_APPS, TOKEN_RE, USERS, Forms,
                           assert_html_page_headers, assert_json, assert_no_store, describe, uniq,
                           unused_loopback_port)


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------

@dataclass
class Consumer:
    key: str
    name: str
    keys: KeyPair
    entity: dict

    def sign(self, base_url, method, path, **kw):
        return sign(self.keys, self.key, method, base_url + path, **kw)

    def auth(self, **kw):
        """requests-oauthlib's OAuth1 auth for this consumer (RSA-SHA1)."""
        return OAuth1(self.key, signature_method=SIGNATURE_RSA, rsa_key=self.keys.private_pem, **kw)


@pytest.fixture(scope="module")
def callback():
    """A loopback callback URL on a port nothing listens on: the 303 is captured, never followed."""
    return f"http://127.0.0.1:{unused_loopback_port()}/oauth1/callback"


@pytest.fixture(scope="module")
def make_consumer(admin):
    """Registers a consumer with a fresh 2048-bit RSA key; keyword arguments go into the JSON body."""
    def make(**body):
        keys = new_rsa_key()
        body.setdefault("key", uniq("consumer"))
        body.setdefault("name", uniq("Consumer App"))
        body.setdefault("publicKey", keys.public_pem)
        resp = admin.request("POST", CONSUMERS, json=body)
        entity = assert_json(resp, 201)
        return Consumer(entity["key"], entity["name"], keys, entity)
    return make


@pytest.fixture()
def person(admin):
    """A fresh user (name, password) with a display name."""
    return admin.create_user(display_name="OAuth One Person")


def recorded(session, recorder):
    """Adds the suite's recorder hook (5xx, HTML headers) to a third-party library's session."""
    session.hooks["response"].append(recorder.hook)
    return session


def remember(recorder, pairs):
    """Tokens, secrets, verifiers and session handles must never reach the server log."""
    for name in ("oauth_token", "oauth_token_secret", "oauth_verifier", "oauth_session_handle"):
        value = pairs.get(name) if isinstance(pairs, dict) else None
        if value and value != "denied":
            recorder.add_secret(value)


def form_body(resp):
    assert resp.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"), describe(resp)
    pairs = parse_qsl(resp.text, keep_blank_values=True, strict_parsing=True)
    names = [n for n, _ in pairs]
    assert len(names) == len(set(names)), describe(resp)
    return dict(pairs)


def request_token(consumer, http, base_url, recorder, callback=None):
    """POST request-token signed by `consumer` (1.0a when `callback` is given) → (token, body)."""
    extra = [("oauth_callback", callback)] if callback is not None else []
    resp = consumer.sign(base_url, "POST", REQUEST_TOKEN, extra=extra).send(http)
    assert resp.status_code == 200, describe(resp)
    assert_no_store(resp)
    body = form_body(resp)
    remember(recorder, body)
    expected = {"oauth_token", "oauth_token_secret"} | ({"oauth_callback_confirmed"} if callback is not None else set())
    assert set(body) == expected, describe(resp)
    assert re.match(TOKEN_RE, body["oauth_token"]) and re.match(TOKEN_RE, body["oauth_token_secret"]), describe(resp)
    if callback is not None:
        assert body["oauth_callback_confirmed"] == "true", describe(resp)
    return body["oauth_token"], body


def exchange(consumer, http, base_url, token, verifier=None):
    extra = [("oauth_verifier", verifier)] if verifier is not None else []
    return consumer.sign(base_url, "POST", ACCESS_TOKEN, token=token, extra=extra).send(http)


def assert_access_token(resp, recorder):
    assert resp.status_code == 200, describe(resp)
    assert_no_store(resp)
    body = form_body(resp)
    remember(recorder, body)
    assert set(body) == ACCESS_TOKEN_KEYS, describe(resp)
    for name in ("oauth_token", "oauth_token_secret", "oauth_session_handle"):
        assert re.match(TOKEN_RE, body[name]), f"{name}: {describe(resp)}"
    assert int(body["oauth_expires_in"]) == FIVE_YEARS, describe(resp)
    assert int(body["oauth_authorization_expires_in"]) == FIVE_YEARS, describe(resp)
    return body


def three_legged(consumer, http, browser, base_url, recorder, login, callback):
    """The whole 1.0a dance with the independent signer → the access token."""
    token, _ = request_token(consumer, http, base_url, recorder, callback=callback)
    params = callback_params(authorize_request_token(browser, base_url, token, consumer.name, login=login), callback)
    assert params["oauth_token"] == token
    remember(recorder, params)
    return assert_access_token(exchange(consumer, http, base_url, token, params["oauth_verifier"]), recorder)["oauth_token"]


def myself(consumer, http, base_url, token=None, query=()):
    return consumer.sign(base_url, "GET", MYSELF, token=token, query=query).send(http)


def assert_myself(resp, name, mode, consumer):
    body = assert_json(resp, 200)
    assert body["name"] == name, body
    assert body["auth"] == {"protocol": "oauth1", "mode": mode, "client": consumer.key, "scope": None}, body
    return body


def problem(resp, status, name, base_url, token_endpoint=False, **extra):
    return assert_oauth_problem(resp, status, name, base_url, token_endpoint=token_endpoint, **extra)


# --------------------------------------------------------------------------------------------
# 1. requests-oauthlib: the full 1.0a dance (callback URL and oob)
# --------------------------------------------------------------------------------------------

def test_requests_oauthlib_dance_with_callback(make_consumer, person, browser, base_url, callback, recorder, admin):
    consumer = make_consumer(description="An app that signs with RSA-SHA1")
    name, password = person
    oauth = recorded(OAuth1Session(consumer.key, signature_method=SIGNATURE_RSA, rsa_key=consumer.keys.private_pem,
                                   callback_uri=callback), recorder)

    fetched = oauth.fetch_request_token(base_url + REQUEST_TOKEN)
    remember(recorder, fetched)
    assert fetched["oauth_callback_confirmed"] == "true", fetched
    assert set(fetched) == {"oauth_token", "oauth_token_secret", "oauth_callback_confirmed"}, fetched
    authorize_url = oauth.authorization_url(base_url + AUTHORIZE1)
    assert authorize_url == f"{base_url}{AUTHORIZE1}?oauth_token={fetched['oauth_token']}"

    # Not logged in: the browser goes through the login form, comes back, sees the consumer and approves.
    answer = authorize_request_token(browser, base_url, fetched["oauth_token"], consumer.name,
                                     login=(name, password), authorize_url=authorize_url)
    assert_no_store(answer)
    params = callback_params(answer, callback)
    assert params["oauth_token"] == fetched["oauth_token"]
    assert re.match(TOKEN_RE, params["oauth_verifier"]), params
    remember(recorder, params)

    verified = oauth.parse_authorization_response(answer.headers["Location"])
    assert verified["oauth_verifier"] == params["oauth_verifier"]
    access = oauth.fetch_access_token(base_url + ACCESS_TOKEN)
    remember(recorder, access)
    assert set(access) == ACCESS_TOKEN_KEYS, access
    assert int(access["oauth_expires_in"]) == FIVE_YEARS and int(access["oauth_authorization_expires_in"]) == FIVE_YEARS
    assert access["oauth_token"] != fetched["oauth_token"]

    # Signed REST calls with the access token: GET and a PUT with a JSON body (not part of the signature).
    assert_myself(oauth.get(base_url + MYSELF, timeout=15), name, "user", consumer)
    changed = oauth.put(base_url + MYSELF, json={"displayName": "Renamed through OAuth 1.0a"}, timeout=15)
    body = assert_myself(changed, name, "user", consumer)
    assert body["displayName"] == "Renamed through OAuth 1.0a"
    stored = assert_json(admin.request("GET", f"{USERS}/{name}"), 200)
    assert stored["displayName"] == "Renamed through OAuth 1.0a"


def test_requests_oauthlib_dance_out_of_band(make_consumer, person, browser, base_url, recorder):
    consumer = make_consumer()
    name, password = person
    oauth = recorded(OAuth1Session(consumer.key, signature_method=SIGNATURE_RSA, rsa_key=consumer.keys.private_pem,
                                   callback_uri="oob"), recorder)
    fetched = oauth.fetch_request_token(base_url + REQUEST_TOKEN)
    remember(recorder, fetched)
    assert fetched["oauth_callback_confirmed"] == "true", fetched

    page = authorize_request_token(browser, base_url, fetched["oauth_token"], consumer.name, login=(name, password))
    assert page.status_code == 200, describe(page)      # no redirect for oob: the verifier is shown
    assert_html_page_headers(page)
    assert_no_store(page)
    verifier = element_text(page.text, "verifier")
    assert verifier and re.match(TOKEN_RE, verifier), page.text
    assert consumer.name in Forms(page.text).visible_text
    recorder.add_secret(verifier)

    access = oauth.fetch_access_token(base_url + ACCESS_TOKEN, verifier=verifier)
    remember(recorder, access)
    assert set(access) == ACCESS_TOKEN_KEYS, access
    assert_myself(oauth.get(base_url + MYSELF, timeout=15), name, "user", consumer)


def test_deny_redirects_with_denied_verifier_and_exchange_is_refused(make_consumer, person, browser, http, base_url,
                                                                     callback, recorder):
    consumer = make_consumer()
    token, _ = request_token(consumer, http, base_url, recorder, callback=callback)
    answer = authorize_request_token(browser, base_url, token, consumer.name, login=person, decision="deny")
    params = callback_params(answer, callback)
    assert params == {"oauth_token": token, "oauth_verifier": "denied"}
    problem(exchange(consumer, http, base_url, token, "denied"), 401, "permission_denied", base_url, token_endpoint=True)
    # The decided token cannot be shown again.
    again = browser.get(f"{base_url}{AUTHORIZE1}?oauth_token={token}")
    assert again.status_code == 400, describe(again)


def test_authorize_decision_needs_the_csrf_token(make_consumer, person, browser, http, base_url, callback, recorder):
    consumer = make_consumer()
    token, _ = request_token(consumer, http, base_url, recorder, callback=callback)
    url = f"{base_url}{AUTHORIZE1}?oauth_token={token}"
    browser.login_through(browser.location(browser.get(url)), *person, expected_next=url[len(base_url):])
    assert browser.get(url).status_code == 200
    for data in ({"oauth_token": token, "decision": "approve"},
                 {"oauth_token": token, "decision": "approve", "csrf_token": "forged-" + secrets.token_urlsafe(32)}):
        resp = browser.post(base_url + AUTHORIZE1, data=data)
        assert resp.status_code == 403, describe(resp)
    # Nothing was approved.
    problem(exchange(consumer, http, base_url, token, "guessed-" + secrets.token_urlsafe(8)), 401, "permission_unknown", base_url, token_endpoint=True)


def test_authorize_page_escapes_the_consumer_name(make_consumer, person, browser, http, base_url, callback, recorder):
    hostile = '<script>alert("x")</script> & <b>Bold</b>'
    consumer = make_consumer(name=hostile, description="<img src=x onerror=alert(1)>")
    token, _ = request_token(consumer, http, base_url, recorder, callback=callback)
    url = f"{base_url}{AUTHORIZE1}?oauth_token={token}"
    browser.login_through(browser.location(browser.get(url)), *person, expected_next=url[len(base_url):])
    page = browser.get(url)
    assert page.status_code == 200, describe(page)
    assert hostile in Forms(page.text).visible_text          # shown as text …
    assert "<script>" not in page.text and "<img" not in page.text and "<b>Bold" not in page.text  # … never as markup


def test_authorize_page_unknown_token(browser, base_url):
    resp = browser.get(f"{base_url}{AUTHORIZE1}?oauth_token=" + secrets.token_urlsafe(32))
    assert resp.status_code == 400, describe(resp)
    assert_html_page_headers(resp)


# --------------------------------------------------------------------------------------------
# 2. The jira library: an OAuth 1.0 token (no callback, no verifier), as jirashell's dance does
# --------------------------------------------------------------------------------------------

def _jira_style_access_token(consumer, person, browser, base_url, recorder):
    """jirashell.oauth_dance's three steps, with RSA-SHA1: request token (no callback), the user approves
    in a browser, access token (no verifier)."""
    resp = requests.post(base_url + REQUEST_TOKEN, auth=consumer.auth(), timeout=15)
    recorder.hook(resp)
    request = dict(parse_qsl(resp.text))
    remember(recorder, request)
    assert resp.status_code == 200, describe(resp)
    assert set(request) == {"oauth_token", "oauth_token_secret"}, request   # OAuth 1.0: no callback_confirmed

    page = authorize_request_token(browser, base_url, request["oauth_token"], consumer.name, login=person)
    assert page.status_code == 200, describe(page)
    assert element_text(page.text, "verifier") is None, "a 1.0 token must not show a verifier"
    text = Forms(page.text).visible_text
    assert consumer.name in text and "return to the application" in text.lower(), text

    oauth = OAuth1(consumer.key, signature_method=SIGNATURE_RSA, rsa_key=consumer.keys.private_pem,
                   resource_owner_key=request["oauth_token"], resource_owner_secret=request["oauth_token_secret"])
    resp = requests.post(base_url + ACCESS_TOKEN, auth=oauth, timeout=15)
    recorder.hook(resp)
    return assert_access_token(resp, recorder)


def _jira(base_url, consumer, access, recorder, signature_method=SIGNATURE_RSA):
    from jira import JIRA
    oauth = {"access_token": access["oauth_token"], "access_token_secret": access["oauth_token_secret"],
             "consumer_key": consumer.key, "key_cert": consumer.keys.private_pem}
    if signature_method is not None:
        oauth["signature_method"] = signature_method
    # jira.myself() reads {server}/rest/api/{rest_api_version}/myself; Linkgate serves .../latest/.
    client = JIRA(server=base_url, oauth=oauth, get_server_info=False, options={"rest_api_version": "latest"},
                  max_retries=0, timeout=15)
    recorded(client._session, recorder)
    return client


def test_jira_library_oauth_1_0_dance(make_consumer, person, browser, base_url, recorder):
    consumer = make_consumer()
    name, _ = person
    access = _jira_style_access_token(consumer, person, browser, base_url, recorder)
    client = _jira(base_url, consumer, access, recorder)
    me = client.myself()     # JIRA(...) already called it once to validate the OAuth session
    assert me["name"] == name and me["auth"] == {"protocol": "oauth1", "mode": "user", "client": consumer.key,
                                                  "scope": None}, me
    resp = client._session.get(base_url + MYSELF)
    assert_myself(resp, name, "user", consumer)


def test_jira_library_default_signature_falls_back_to_rsa(make_consumer, person, browser, base_url, recorder):
    """Without oauth['signature_method'] jira first signs HMAC-SHA1 (refused: 400 signature_method_rejected),
    then falls back to RSA-SHA1, which works."""
    consumer = make_consumer()
    access = _jira_style_access_token(consumer, person, browser, base_url, recorder)
    client = _jira(base_url, consumer, access, recorder, signature_method=None)
    assert client._session.auth.client.signature_method == SIGNATURE_RSA
    assert client.myself()["name"] == person[0]


def test_jirashell_oauth_dance_reports_the_problem(make_consumer, base_url, monkeypatch):
    """jirashell's oauth_dance signs its request-token call HMAC-SHA1; Linkgate refuses that, and the dance
    stops with the oauth_problem read from the form-encoded body."""
    from jira import jirashell
    consumer = make_consumer()
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("the dance should have stopped before asking"))
    with pytest.raises(SystemExit) as stopped:
        jirashell.oauth_dance(base_url, consumer.key, consumer.keys.private_pem, print_tokens=True, verify=False)
    assert str(stopped.value) == "OAuth error: signature_method_rejected"


# --------------------------------------------------------------------------------------------
# 3. Two-legged: as executeAs, as the application, impersonating; each refused when not allowed
# --------------------------------------------------------------------------------------------

def test_2lo_acts_as_execute_as(make_consumer, admin, http, base_url, recorder):
    runner, _ = admin.create_user()
    consumer = make_consumer(twoLeggedAllowed=True, executeAs=runner)
    resp = recorded(requests.Session(), recorder).get(base_url + MYSELF, auth=consumer.auth(), timeout=15)
    assert_myself(resp, runner, "application", consumer)


def test_2lo_acts_as_the_application(make_consumer, http, base_url, recorder):
    consumer = make_consumer(twoLeggedAllowed=True)
    resp = recorded(requests.Session(), recorder).get(base_url + MYSELF, auth=consumer.auth(), timeout=15)
    body = assert_myself(resp, None, "application", consumer)
    assert body["displayName"] is None and body["admin"] is False
    # Atlassian peers send oauth_token empty rather than leaving it out: same principal.
    assert_myself(myself(consumer, http, base_url, token=""), None, "application", consumer)
    # An application principal has no profile to change.
    put = consumer.sign(base_url, "PUT", MYSELF).send(http, json={"displayName": "nobody"})
    assert put.status_code == 403, describe(put)


def test_2lo_refused_when_not_allowed(make_consumer, admin, http, base_url):
    runner, _ = admin.create_user()
    consumer = make_consumer(executeAs=runner)            # twoLeggedAllowed defaults to false
    assert consumer.entity["twoLeggedAllowed"] is False
    problem(myself(consumer, http, base_url), 401, "permission_denied", base_url)
    problem(myself(consumer, http, base_url, token=""), 401, "permission_denied", base_url)


def test_2lo_impersonation(make_consumer, admin, http, base_url, recorder):
    target, _ = admin.create_user()
    # impersonationAllowed is independent of twoLeggedAllowed.
    consumer = make_consumer(impersonationAllowed=True)
    session = recorded(requests.Session(), recorder)
    resp = session.get(base_url + MYSELF, params={"xoauth_requestor_id": target}, auth=consumer.auth(), timeout=15)
    assert_myself(resp, target, "impersonation", consumer)
    # The same through the independent signer, and a JSON PUT as the impersonated user.
    put = consumer.sign(base_url, "PUT", MYSELF, query=[("xoauth_requestor_id", target)]).send(
        http, json={"displayName": "Changed by an impersonating app"})
    assert assert_myself(put, target, "impersonation", consumer)["displayName"] == "Changed by an impersonating app"
    # Plain 2LO is still refused for this consumer.
    problem(myself(consumer, http, base_url), 401, "permission_denied", base_url)


def test_2lo_impersonation_refused_when_not_allowed(make_consumer, admin, http, base_url):
    target, _ = admin.create_user()
    consumer = make_consumer(twoLeggedAllowed=True)       # impersonationAllowed defaults to false
    assert consumer.entity["impersonationAllowed"] is False
    problem(myself(consumer, http, base_url, query=[("xoauth_requestor_id", target)]), 401, "permission_denied", base_url)


def test_2lo_impersonating_unknown_or_deleted_user(make_consumer, admin, http, base_url):
    target, _ = admin.create_user()
    consumer = make_consumer(impersonationAllowed=True, twoLeggedAllowed=True)
    assert_myself(myself(consumer, http, base_url, query=[("xoauth_requestor_id", target)]), target, "impersonation", consumer)
    problem(myself(consumer, http, base_url, query=[("xoauth_requestor_id", uniq("nobody"))]), 401,
            "permission_denied", base_url)
    assert admin.request("DELETE", f"{USERS}/{target}").status_code == 204
    problem(myself(consumer, http, base_url, query=[("xoauth_requestor_id", target)]), 401, "permission_denied", base_url)


def test_three_legged_not_allowed(make_consumer, admin, person, browser, http, base_url, callback, recorder):
    refused = make_consumer(threeLeggedAllowed=False, twoLeggedAllowed=True)
    resp = refused.sign(base_url, "POST", REQUEST_TOKEN, extra=[("oauth_callback", callback)]).send(http)
    problem(resp, 401, "permission_denied", base_url, token_endpoint=True)
    assert_myself(myself(refused, http, base_url), None, "application", refused)   # 2LO still fine

    # A consumer whose 3LO is switched off later: its access token is refused, its 2LO is not.
    consumer = make_consumer(twoLeggedAllowed=True)
    token = three_legged(consumer, http, browser, base_url, recorder, person, callback)
    assert_myself(myself(consumer, http, base_url, token=token), person[0], "user", consumer)
    changed = assert_json(admin.request("PUT", f"{CONSUMERS}/{consumer.key}", json={"threeLeggedAllowed": False}), 200)
    assert changed["threeLeggedAllowed"] is False
    problem(myself(consumer, http, base_url, token=token), 401, "permission_denied", base_url)
    assert_myself(myself(consumer, http, base_url), None, "application", consumer)


def test_execute_as_user_deletion_is_handled(make_consumer, admin, http, base_url):
    """INTERFACE §3: DELETE user → 204 (its tokens and grants go too), or — as for an OAuth 2.0 client's
    execute-as user — 409 conflict. Never a 5xx; and the consumer never acts as a user who is gone."""
    runner, _ = admin.create_user()
    consumer = make_consumer(twoLeggedAllowed=True, executeAs=runner)
    assert_myself(myself(consumer, http, base_url), runner, "application", consumer)
    resp = admin.request("DELETE", f"{USERS}/{runner}")
    assert resp.status_code in (204, 409), describe(resp)
    if resp.status_code == 409:
        assert resp.json()["error"] == "conflict", describe(resp)
        assert_myself(myself(consumer, http, base_url), runner, "application", consumer)
    else:
        assert admin.request("GET", f"{USERS}/{runner}").status_code == 404
        after = myself(consumer, http, base_url)
        if after.status_code == 401:
            problem(after, 401, "permission_denied", base_url)
        else:
            assert assert_json(after, 200)["name"] is None, describe(after)


# --------------------------------------------------------------------------------------------
# 4. Hostile requests: exact status and oauth_problem, never a 500
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_legged(make_consumer):
    """A consumer allowed 3LO and 2LO (so a well-signed REST request succeeds as the application)."""
    return make_consumer(twoLeggedAllowed=True)


def test_baseline_signed_request_succeeds(two_legged, http, base_url):
    assert_myself(myself(two_legged, http, base_url), None, "application", two_legged)


def test_replayed_nonce(two_legged, http, base_url, recorder):
    # Signed once by oauthlib's Client, sent twice byte for byte.
    client = Client(two_legged.key, signature_method=SIGNATURE_RSA, rsa_key=two_legged.keys.private_pem)
    url, headers, _ = client.sign(base_url + MYSELF + "?expand=all", http_method="GET")
    first = http.get(url, headers=headers, timeout=15)
    assert_myself(first, None, "application", two_legged)
    problem(http.get(url, headers=headers, timeout=15), 401, "nonce_used", base_url)
    # At a token endpoint too (the body repeats the problem).
    signed = two_legged.sign(base_url, "POST", REQUEST_TOKEN, extra=[("oauth_callback", "oob")])
    first = signed.send(http)
    assert first.status_code == 200, describe(first)
    remember(recorder, form_body(first))
    problem(signed.send(http), 401, "nonce_used", base_url, token_endpoint=True)


def test_nonce_is_per_consumer_and_only_spent_by_a_valid_signature(two_legged, make_consumer, http, base_url):
    nonce = secrets.token_hex(16)
    # A bad signature does not burn the nonce …
    bad = two_legged.sign(base_url, "GET", MYSELF, nonce=nonce,
                          signature=base64.b64encode(secrets.token_bytes(256)).decode())
    problem(bad.send(http), 401, "signature_invalid", base_url)
    assert_myself(two_legged.sign(base_url, "GET", MYSELF, nonce=nonce).send(http), None, "application", two_legged)
    # … and another consumer may use the same nonce.
    other = make_consumer(twoLeggedAllowed=True)
    assert_myself(other.sign(base_url, "GET", MYSELF, nonce=nonce).send(http), None, "application", other)


@pytest.mark.parametrize("offset", [-1000, +1000, -310, +310], ids=["stale", "future", "just-stale", "just-future"])
def test_timestamp_outside_the_window(two_legged, http, base_url, offset):
    at = int(time.time()) + offset
    resp = two_legged.sign(base_url, "GET", MYSELF, timestamp=at).send(http)
    params, _ = problem(resp, 400, "timestamp_refused", base_url, oauth_acceptable_timestamps=...)
    assert_acceptable_timestamps(params, resp)
    resp = two_legged.sign(base_url, "POST", REQUEST_TOKEN, timestamp=at, extra=[("oauth_callback", "oob")]).send(http)
    params, body = problem(resp, 400, "timestamp_refused", base_url, token_endpoint=True, oauth_acceptable_timestamps=...)
    assert_acceptable_timestamps(params, resp)
    assert body["oauth_acceptable_timestamps"] == params["oauth_acceptable_timestamps"]


def test_timestamp_inside_the_window_is_accepted(two_legged, http, base_url):
    for offset in (-250, +250):
        resp = two_legged.sign(base_url, "GET", MYSELF, timestamp=int(time.time()) + offset).send(http)
        assert_myself(resp, None, "application", two_legged)


@pytest.mark.parametrize("timestamp", ["12abc", "-5", "1.5e9", "99999999999999999999", " "],
                         ids=["letters", "negative", "float", "huge", "space"])
def test_malformed_timestamp(two_legged, http, base_url, timestamp):
    problem(two_legged.sign(base_url, "GET", MYSELF, timestamp=timestamp).send(http), 400, "parameter_rejected", base_url)
    resp = two_legged.sign(base_url, "POST", REQUEST_TOKEN, timestamp=timestamp, extra=[("oauth_callback", "oob")]).send(http)
    problem(resp, 400, "parameter_rejected", base_url, token_endpoint=True)


@pytest.mark.parametrize("method", [SIGNATURE_HMAC_SHA1, SIGNATURE_PLAINTEXT, "RSA-SHA256"])
def test_signature_method_rejected(two_legged, http, base_url, method):
    auth = OAuth1(two_legged.key, client_secret="not-a-secret", signature_method=method,
                  rsa_key=two_legged.keys.private_pem)
    problem(http.get(base_url + MYSELF, auth=auth, timeout=15), 400, "signature_method_rejected", base_url)
    auth = OAuth1(two_legged.key, client_secret="not-a-secret", signature_method=method,
                  rsa_key=two_legged.keys.private_pem, callback_uri="oob")
    problem(http.post(base_url + REQUEST_TOKEN, auth=auth, timeout=15), 400, "signature_method_rejected", base_url,
            token_endpoint=True)


def test_tampered_query_after_signing(two_legged, http, base_url):
    signed = two_legged.sign(base_url, "GET", MYSELF, query=[("filter", "mine")])
    assert_myself(signed.send(http), None, "application", two_legged)
    resigned = two_legged.sign(base_url, "GET", MYSELF, query=[("filter", "mine")])
    resp = http.get(base_url + MYSELF + "?filter=everyone", headers=resigned.headers, timeout=15)
    problem(resp, 401, "signature_invalid", base_url)
    # Adding a parameter the signature did not cover is tampering too.
    resigned = two_legged.sign(base_url, "GET", MYSELF, query=[("filter", "mine")])
    resp = http.get(resigned.url + "&admin=true", headers=resigned.headers, timeout=15)
    problem(resp, 401, "signature_invalid", base_url)


def test_tampered_impersonation_target(make_consumer, admin, http, base_url):
    victim, _ = admin.create_user()
    allowed, _ = admin.create_user()
    consumer = make_consumer(impersonationAllowed=True)
    signed = consumer.sign(base_url, "GET", MYSELF, query=[("xoauth_requestor_id", allowed)])
    resp = http.get(base_url + MYSELF + "?xoauth_requestor_id=" + victim, headers=signed.headers, timeout=15)
    problem(resp, 401, "signature_invalid", base_url)


def test_tampered_form_body_at_request_token(two_legged, http, base_url):
    signed = two_legged.sign(base_url, "POST", REQUEST_TOKEN, form=[("oauth_callback", "oob"), ("scope", "read")])
    signed.data = "oauth_callback=oob&scope=admin"
    problem(signed.send(http), 401, "signature_invalid", base_url, token_endpoint=True)
    # The callback is signed too: swapping it for an attacker's URL breaks the signature.
    signed = two_legged.sign(base_url, "POST", REQUEST_TOKEN, form=[("oauth_callback", "https://app.example/cb")])
    signed.data = "oauth_callback=" + quote("https://evil.example/steal", safe="")
    problem(signed.send(http), 401, "signature_invalid", base_url, token_endpoint=True)


def test_signature_is_over_the_base_url_not_the_host_header(two_legged, http, base_url):
    signed = two_legged.sign(base_url, "GET", MYSELF)
    resp = http.get(signed.url, headers={**signed.headers, "Host": "evil.example:8443"}, timeout=15)
    assert_myself(resp, None, "application", two_legged)
    spoofed = sign(two_legged.keys, two_legged.key, "GET", "http://evil.example:8443" + MYSELF)
    problem(http.get(base_url + MYSELF, headers=spoofed.headers, timeout=15), 401, "signature_invalid", base_url)


@pytest.mark.parametrize("signature", ["!!!not*base64***", "", "AAAA", "QUJD" * 100],
                         ids=["not-base64", "empty", "short", "wrong-bytes"])
def test_garbage_signature(two_legged, http, base_url, signature):
    resp = two_legged.sign(base_url, "GET", MYSELF, signature=signature).send(http)
    if signature == "":
        problem(resp, 400, "parameter_absent", base_url, oauth_parameters_absent="oauth_signature")
    else:
        problem(resp, 401, "signature_invalid", base_url)


def test_signed_with_another_key(two_legged, http, base_url):
    stranger = new_rsa_key()
    signed = sign(stranger, two_legged.key, "GET", base_url + MYSELF)
    problem(signed.send(http), 401, "signature_invalid", base_url)


def test_unknown_consumer(http, base_url):
    keys = new_rsa_key()
    problem(sign(keys, uniq("no-such-consumer"), "GET", base_url + MYSELF).send(http), 401, "consumer_key_unknown", base_url)
    resp = sign(keys, uniq("no-such-consumer"), "POST", base_url + REQUEST_TOKEN, extra=[("oauth_callback", "oob")]).send(http)
    problem(resp, 401, "consumer_key_unknown", base_url, token_endpoint=True)


def test_unknown_token(two_legged, http, base_url):
    problem(myself(two_legged, http, base_url, token=secrets.token_urlsafe(32)), 401, "token_rejected", base_url)
    problem(exchange(two_legged, http, base_url, secrets.token_urlsafe(32), "whatever"), 401, "token_rejected", base_url,
            token_endpoint=True)


def test_missing_protocol_parameters(two_legged, http, base_url):
    signed = two_legged.sign(base_url, "GET", MYSELF)
    header = signed.headers["Authorization"]
    for name in ("oauth_consumer_key", "oauth_nonce", "oauth_timestamp", "oauth_signature_method", "oauth_signature"):
        stripped = re.sub(rf',\s*{name}="[^"]*"', "", header)
        assert stripped != header
        resp = http.get(signed.url, headers={"Authorization": stripped}, timeout=15)
        problem(resp, 400, "parameter_absent", base_url, oauth_parameters_absent=name)


def test_request_token_used_as_access_token(two_legged, http, base_url, recorder):
    token, _ = request_token(two_legged, http, base_url, recorder, callback="oob")
    problem(myself(two_legged, http, base_url, token=token), 401, "token_rejected", base_url)


def test_exchange_before_approval(two_legged, http, base_url, recorder, callback):
    token, _ = request_token(two_legged, http, base_url, recorder, callback=callback)
    problem(exchange(two_legged, http, base_url, token, "guessed-" + secrets.token_urlsafe(8)), 401, "permission_unknown",
            base_url, token_endpoint=True)
    token, _ = request_token(two_legged, http, base_url, recorder)      # OAuth 1.0: no verifier at all
    problem(exchange(two_legged, http, base_url, token), 401, "permission_unknown", base_url, token_endpoint=True)


@pytest.fixture()
def approved(two_legged, person, browser, http, base_url, recorder, callback):
    """A 1.0a request token the person has approved: (token, verifier)."""
    token, _ = request_token(two_legged, http, base_url, recorder, callback=callback)
    params = callback_params(authorize_request_token(browser, base_url, token, two_legged.name, login=person), callback)
    remember(recorder, params)
    return token, params["oauth_verifier"]


def test_wrong_verifier(two_legged, approved, http, base_url):
    token, verifier = approved
    problem(exchange(two_legged, http, base_url, token, verifier[:-2] + ("AA" if not verifier.endswith("AA") else "BB")),
            401, "token_rejected", base_url, token_endpoint=True)


def test_missing_verifier_for_1_0a(two_legged, approved, http, base_url, recorder):
    token, verifier = approved
    problem(exchange(two_legged, http, base_url, token), 400, "parameter_absent", base_url, token_endpoint=True,
            oauth_parameters_absent="oauth_verifier")
    # The token is still good for the real exchange afterwards.
    assert_access_token(exchange(two_legged, http, base_url, token, verifier), recorder)


def test_request_token_reused_for_a_second_exchange(two_legged, approved, http, base_url, recorder):
    token, verifier = approved
    access = assert_access_token(exchange(two_legged, http, base_url, token, verifier), recorder)
    problem(exchange(two_legged, http, base_url, token, verifier), 401, "token_rejected", base_url, token_endpoint=True)
    # An access token is not a request token either.
    problem(exchange(two_legged, http, base_url, access["oauth_token"], verifier), 401, "token_rejected", base_url,
            token_endpoint=True)


def test_request_token_of_another_consumer(two_legged, approved, make_consumer, http, base_url):
    token, verifier = approved
    other = make_consumer()
    problem(exchange(other, http, base_url, token, verifier), 401, "token_rejected", base_url, token_endpoint=True)


def test_access_token_of_another_consumer(two_legged, approved, make_consumer, http, base_url, recorder):
    token, verifier = approved
    access = assert_access_token(exchange(two_legged, http, base_url, token, verifier), recorder)
    other = make_consumer(twoLeggedAllowed=True)
    problem(myself(other, http, base_url, token=access["oauth_token"]), 401, "token_rejected", base_url)


def test_duplicated_protocol_parameter(two_legged, http, base_url):
    signed = two_legged.sign(base_url, "GET", MYSELF)
    nonce = signed.oauth_value("oauth_nonce")
    # The same nonce in the header and in the query (signed as such).
    dup = two_legged.sign(base_url, "GET", MYSELF, nonce=nonce, query=[("oauth_nonce", nonce)])
    problem(dup.send(http), 400, "parameter_rejected", base_url)
    dup = two_legged.sign(base_url, "GET", MYSELF, query=[("oauth_nonce", "another-" + secrets.token_hex(4))])
    problem(dup.send(http), 400, "parameter_rejected", base_url)
    # Twice inside the Authorization header.
    header = signed.headers["Authorization"] + f', oauth_nonce="{nonce}"'
    problem(http.get(signed.url, headers={"Authorization": header}, timeout=15), 400, "parameter_rejected", base_url)
    # Header and form body at a token endpoint.
    dup = two_legged.sign(base_url, "POST", REQUEST_TOKEN, extra=[("oauth_callback", "oob")],
                          form=[("oauth_callback", "oob")])
    problem(dup.send(http), 400, "parameter_rejected", base_url, token_endpoint=True)


def test_version_rejected(two_legged, http, base_url):
    problem(two_legged.sign(base_url, "GET", MYSELF, version="2.0").send(http), 400, "version_rejected", base_url)
    resp = two_legged.sign(base_url, "POST", REQUEST_TOKEN, version="2.0", extra=[("oauth_callback", "oob")]).send(http)
    problem(resp, 400, "version_rejected", base_url, token_endpoint=True)
    # oauth_version is optional (RFC 5849 §3.1).
    assert_myself(two_legged.sign(base_url, "GET", MYSELF, version=None).send(http), None, "application", two_legged)


def test_bad_callback_at_request_token(two_legged, http, base_url):
    for bad in ("javascript:alert(1)", "/relative/path", "not a url", "ftp://app.example/cb"):
        resp = two_legged.sign(base_url, "POST", REQUEST_TOKEN, extra=[("oauth_callback", bad)]).send(http)
        problem(resp, 400, "parameter_rejected", base_url, token_endpoint=True)


def test_oauth_parameters_in_query_or_body_at_token_endpoints(two_legged, http, base_url, recorder):
    """RFC 5849 §3.5.2/§3.5.3 transmission, signed by oauthlib: form body and query at request-token."""
    for signature_type in (SIGNATURE_TYPE_BODY, SIGNATURE_TYPE_QUERY):
        auth = two_legged.auth(callback_uri="oob", signature_type=signature_type)
        resp = http.post(base_url + REQUEST_TOKEN, auth=auth, timeout=15)
        assert resp.status_code == 200, describe(resp)
        body = form_body(resp)
        remember(recorder, body)
        assert body["oauth_callback_confirmed"] == "true"


def test_oauth_parameters_in_query_on_rest(two_legged, http, base_url):
    """INTERFACE §7: signed requests take their parameters from the Authorization header, the query and a form
    body. A REST request signed with every oauth_* parameter in the query (oauthlib SIGNATURE_TYPE_QUERY,
    RFC 5849 §3.5.3) must authenticate like the header form."""
    resp = http.get(base_url + MYSELF, auth=two_legged.auth(signature_type=SIGNATURE_TYPE_QUERY), timeout=15)
    assert_myself(resp, None, "application", two_legged)


def test_token_endpoints_answer_problems_as_form_even_on_get(two_legged, http, base_url):
    resp = http.get(base_url + ACCESS_TOKEN, timeout=15)
    problem(resp, 400, "parameter_absent", base_url, token_endpoint=True, oauth_parameters_absent=...)


# --------------------------------------------------------------------------------------------
# 5. Consumer registry (admin REST)
# --------------------------------------------------------------------------------------------

def _same_key(text, keys):
    loaded = load_public_key(text)
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == keys.public_numbers


def test_consumer_lifecycle(admin, make_consumer, http, base_url):
    keys = new_rsa_key()
    key = uniq("lifecycle")
    created = assert_json(admin.request("POST", CONSUMERS, json={"key": key, "name": "Lifecycle", "publicKey": keys.public_pem}), 201)
    assert set(created) == CONSUMER_KEYS, created
    assert created["key"] == key and created["name"] == "Lifecycle"
    assert created["description"] is None and created["callback"] is None and created["executeAs"] is None
    assert created["threeLeggedAllowed"] is True and created["twoLeggedAllowed"] is False
    assert created["impersonationAllowed"] is False
    _same_key(created["publicKey"], keys)

    listed = assert_json(admin.request("GET", CONSUMERS), 200)
    assert isinstance(listed, list) and all(set(c) == CONSUMER_KEYS for c in listed)
    assert [c for c in listed if c["key"] == key] == [created]
    assert assert_json(admin.request("GET", f"{CONSUMERS}/{key}"), 200) == created

    runner, _ = admin.create_user()
    change = {"name": "Lifecycle 2", "description": "now described", "callback": "https://app.example/oauth/cb",
              "twoLeggedAllowed": True, "executeAs": runner}
    updated = assert_json(admin.request("PUT", f"{CONSUMERS}/{key}", json=change), 200)
    assert updated == {**created, **change}
    assert assert_json(admin.request("GET", f"{CONSUMERS}/{key}"), 200) == updated
    # Only the keys given change; null clears a nullable one.
    updated = assert_json(admin.request("PUT", f"{CONSUMERS}/{key}", json={"description": None}), 200)
    assert updated == {**created, **change, "description": None}

    for bad in ({"key": "renamed"}, {"publicKey": ec_public_pem()}, {"executeAs": uniq("ghost")},
                {"unknownField": 1}, {"twoLeggedAllowed": "yes"}, {"callback": "javascript:alert(1)"}):
        resp = admin.request("PUT", f"{CONSUMERS}/{key}", json=bad)
        assert resp.status_code == 400, f"{bad}: {describe(resp)}"
    assert assert_json(admin.request("GET", f"{CONSUMERS}/{key}"), 200) == updated

    assert admin.request("DELETE", f"{CONSUMERS}/{key}").status_code == 204
    assert admin.request("GET", f"{CONSUMERS}/{key}").status_code == 404
    assert admin.request("DELETE", f"{CONSUMERS}/{key}").status_code == 404
    assert admin.request("PUT", f"{CONSUMERS}/{key}", json={"name": "x"}).status_code == 404
    assert key not in [c["key"] for c in assert_json(admin.request("GET", CONSUMERS), 200)]


def test_consumer_by_bare_base64_der(admin, http, base_url):
    keys = new_rsa_key()
    created = assert_json(admin.request("POST", CONSUMERS, json={
        "key": uniq("der"), "name": "DER", "publicKey": keys.public_der_b64, "twoLeggedAllowed": True}), 201)
    _same_key(created["publicKey"], keys)
    consumer = Consumer(created["key"], created["name"], keys, created)
    assert_myself(myself(consumer, http, base_url), None, "application", consumer)


def test_replacing_the_public_key(admin, make_consumer, http, base_url):
    consumer = make_consumer(twoLeggedAllowed=True)
    assert_myself(myself(consumer, http, base_url), None, "application", consumer)
    new_keys = new_rsa_key()
    assert_json(admin.request("PUT", f"{CONSUMERS}/{consumer.key}", json={"publicKey": new_keys.public_pem}), 200)
    problem(myself(consumer, http, base_url), 401, "signature_invalid", base_url)        # the old key is gone at once
    consumer.keys = new_keys
    assert_myself(myself(consumer, http, base_url), None, "application", consumer)


def test_duplicate_consumer_key(admin, make_consumer):
    consumer = make_consumer()
    resp = admin.request("POST", CONSUMERS, json={"key": consumer.key, "name": "Other", "publicKey": new_rsa_key().public_pem})
    assert resp.status_code == 409, describe(resp)
    assert resp.json()["error"] == "conflict"


def _private_pem():
    return new_rsa_key().private_pem


def _pkcs1_private_pem():
    from cryptography.hazmat.primitives import serialization
    return new_rsa_key().private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                   serialization.NoEncryption()).decode()


BAD_KEYS = {
    "ec-p256": ec_public_pem,
    "rsa-512": lambda: small_rsa_public_pem(512),
    "rsa-1000": lambda: small_rsa_public_pem(1000),
    "private-pkcs8": _private_pem,
    "private-pkcs1": _pkcs1_private_pem,
    "garbage": lambda: "not a key at all",
    "garbage-base64": lambda: base64.b64encode(secrets.token_bytes(300)).decode(),
    "empty": lambda: "",
    "truncated-pem": lambda: new_rsa_key().public_pem[:120] + "\n-----END PUBLIC KEY-----\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_KEYS))
def test_bad_public_keys_rejected(admin, kind):
    key = uniq("badkey")
    resp = admin.request("POST", CONSUMERS, json={"key": key, "name": "Bad key", "publicKey": BAD_KEYS[kind]()})
    assert resp.status_code == 400, describe(resp)
    assert resp.json()["error"] == "invalid_request", describe(resp)
    assert admin.request("GET", f"{CONSUMERS}/{key}").status_code == 404


def test_1024_bit_key_is_the_minimum(admin):
    keys = new_rsa_key(1024)
    resp = admin.request("POST", CONSUMERS, json={"key": uniq("k1024"), "name": "1024", "publicKey": keys.public_pem})
    assert resp.status_code == 201, describe(resp)


@pytest.mark.parametrize("body", [
    {"name": "no key", "publicKey": "x"},
    {"key": "k", "publicKey": "x"},
    {"key": "has space", "name": "n", "publicKey": None},
    {"key": "x", "name": "n", "publicKey": "x", "extra": True},
], ids=["no-key", "no-name", "bad-key-name", "unknown-field"])
def test_malformed_consumer_bodies(admin, body):
    if body.get("publicKey") is None:
        body = {**body, "publicKey": new_rsa_key().public_pem}
    resp = admin.request("POST", CONSUMERS, json=body)
    assert resp.status_code == 400, describe(resp)


def test_consumer_registry_needs_an_admin(admin, http, base_url):
    user, password = admin.create_user()
    body = {"key": uniq("nope"), "name": "Nope", "publicKey": new_rsa_key().public_pem}
    assert http.post(base_url + CONSUMERS, json=body, timeout=15).status_code == 401
    assert http.get(base_url + CONSUMERS, timeout=15).status_code == 401
    assert http.post(base_url + CONSUMERS, json=body, auth=(user, password), timeout=15).status_code == 403
    assert http.get(base_url + CONSUMERS, auth=(user, password), timeout=15).status_code == 403
    assert admin.request("GET", f"{CONSUMERS}/{body['key']}").status_code == 404


def test_deleting_a_consumer_kills_its_tokens(admin, make_consumer, person, browser, http, base_url, recorder, callback):
    consumer = make_consumer()
    token = three_legged(consumer, http, browser, base_url, recorder, person, callback)
    pending, _ = request_token(consumer, http, base_url, recorder, callback=callback)
    assert_myself(myself(consumer, http, base_url, token=token), person[0], "user", consumer)
    assert admin.request("DELETE", f"{CONSUMERS}/{consumer.key}").status_code == 204
    problem(myself(consumer, http, base_url, token=token), 401, "consumer_key_unknown", base_url)
    assert browser.get(f"{base_url}{AUTHORIZE1}?oauth_token={pending}").status_code == 400
    apps = assert_json(admin.request("GET", APPLICATIONS, auth=person), 200)
    assert consumer.key not in [a["client"] for a in apps], apps
    # Registering the same key (and public key) again does not bring the old tokens back.
    assert_json(admin.request("POST", CONSUMERS, json={"key": consumer.key, "name": consumer.name,
                                                       "publicKey": consumer.keys.public_pem}), 201)
    problem(myself(consumer, http, base_url, token=token), 401, "token_rejected", base_url)


# ---- by consumerInfoUrl --------------------------------------------------------------------

@pytest.fixture(scope="module")
def peer():
    server = PeerServer()
    yield server
    server.close()


def test_consumer_by_consumer_info_url(admin, peer, http, base_url):
    keys = new_rsa_key()
    key = uniq("peer")
    url = peer.xml(f"/{key}/plugins/servlet/oauth/consumer-info",
                   consumer_info_xml(key, "Peer & Co <Jira>", keys.public_der_b64, "A peer Jira", "https://jira.example/cb"))
    created = assert_json(admin.request("POST", CONSUMERS, json={"consumerInfoUrl": url, "twoLeggedAllowed": True}), 201)
    assert set(created) == CONSUMER_KEYS
    assert created["key"] == key and created["name"] == "Peer & Co <Jira>"
    assert created["description"] == "A peer Jira" and created["callback"] == "https://jira.example/cb"
    assert created["twoLeggedAllowed"] is True and created["threeLeggedAllowed"] is True
    _same_key(created["publicKey"], keys)
    path, headers = [h for h in peer.hits if h[0].startswith(f"/{key}/")][-1]
    assert "xml" in {k.lower(): v for k, v in headers.items()}.get("accept", ""), headers
    consumer = Consumer(key, created["name"], keys, created)
    assert_myself(myself(consumer, http, base_url), None, "application", consumer)


def test_consumer_info_url_of_linkgate_itself(admin, http, base_url):
    """An Atlassian-style peer: register Linkgate's own consumer-info document."""
    info = ET.fromstring(http.get(base_url + CONSUMER_INFO, timeout=15).content)
    key = info.findtext("key")
    created = assert_json(admin.request("POST", CONSUMERS, json={"consumerInfoUrl": base_url + CONSUMER_INFO}), 201)
    try:
        assert created["key"] == key and created["name"] == info.findtext("name")
        assert load_public_key(created["publicKey"]).public_numbers() == load_public_key(info.findtext("publicKey")).public_numbers()
    finally:
        assert admin.request("DELETE", f"{CONSUMERS}/{quote(key, safe='')}").status_code == 204


def _post_timed(admin, body, timeout=20):
    start = time.monotonic()
    resp = admin.request("POST", CONSUMERS, json=body, timeout=timeout)
    return resp, time.monotonic() - start


def assert_info_url_refused(resp, elapsed, limit):
    assert resp.status_code == 400, f"after {elapsed:.1f} s: {describe(resp)}"
    assert resp.json()["error"] == "invalid_request", describe(resp)
    assert elapsed < limit, f"took {elapsed:.1f} s (limit {limit} s): {describe(resp)}"


def test_consumer_info_url_unreachable(admin):
    resp, elapsed = _post_timed(admin, {"consumerInfoUrl": f"http://127.0.0.1:{unused_loopback_port()}/consumer-info"})
    assert_info_url_refused(resp, elapsed, 6.0)


def test_consumer_info_url_peer_never_answers(admin, peer):
    """The peer accepts the connection and sleeps 10 s before its headers: 400 after the 5 s timeout."""
    def sleepy(handler):
        time.sleep(10)
        handler.reply(200, consumer_info_xml("sleepy", "Sleepy", new_rsa_key().public_der_b64).encode())
    peer.routes["/sleepy"] = sleepy
    resp, elapsed = _post_timed(admin, {"consumerInfoUrl": peer.base + "/sleepy"})
    assert_info_url_refused(resp, elapsed, 6.5)


def test_consumer_info_url_peer_trickles_its_body(admin, peer):
    """The peer answers its headers at once, then sends the (small) body one byte every 0.33 s for ~7 s.
    The 5 s timeout covers the whole fetch: 400 within ~6 s, not whenever the peer finishes."""
    keys = new_rsa_key()
    document = consumer_info_xml(uniq("trickle"), "Trickle", keys.public_der_b64).encode()

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(document)))
        handler.end_headers()
        handler.wfile.write(document[:20])
        handler.wfile.flush()
        for i in range(20, 42):
            time.sleep(0.33)
            handler.wfile.write(document[i:i + 1])
            handler.wfile.flush()
        handler.wfile.write(document[42:])
        handler.wfile.flush()
    peer.routes["/trickle"] = trickle
    resp, elapsed = _post_timed(admin, {"consumerInfoUrl": peer.base + "/trickle"})
    assert_info_url_refused(resp, elapsed, 6.5)


def _billion_laughs(key, public_key):
    entities = '<!ENTITY lol0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE consumer [{entities}]><consumer><key>{key}</key>'
            f"<name>&lol9;</name><publicKey>{public_key}</publicKey></consumer>")


BAD_DOCUMENTS = {
    "huge-1mb": lambda k: ("<consumer>" + " " * (1 << 20) + "</consumer>", 200, None),
    "gzip-bomb": lambda k: (None, 200, "gzip"),
    "malformed-xml": lambda k: (f"<consumer><key>{uniq('m')}</key><name>unclosed</consumer", 200, None),
    "not-xml": lambda k: ('{"key": "json", "name": "x"}', 200, None),
    "wrong-root": lambda k: (f"<applink><key>{uniq('r')}</key><name>n</name><publicKey>{k.public_der_b64}</publicKey></applink>", 200, None),
    "no-public-key": lambda k: (f"<consumer><key>{uniq('n')}</key><name>n</name></consumer>", 200, None),
    "ec-key": lambda k: (consumer_info_xml(uniq("ec"), "EC", "".join(ec_public_pem().splitlines()[1:-1])), 200, None),
    "short-key": lambda k: (consumer_info_xml(uniq("short"), "Short", "".join(small_rsa_public_pem(512).splitlines()[1:-1])), 200, None),
    "private-key": lambda k: (consumer_info_xml(uniq("priv"), "Priv", "".join(k.private_pem.splitlines()[1:-1])), 200, None),
    "http-404": lambda k: (consumer_info_xml(uniq("404"), "404", k.public_der_b64), 404, None),
    "http-500": lambda k: (consumer_info_xml(uniq("500"), "500", k.public_der_b64), 500, None),
    "billion-laughs": lambda k: (_billion_laughs(uniq("lol"), k.public_der_b64), 200, None),
}


@pytest.mark.parametrize("kind", sorted(BAD_DOCUMENTS))
def test_consumer_info_url_bad_documents(admin, peer, kind):
    keys = new_rsa_key()
    text, status, encoding = BAD_DOCUMENTS[kind](keys)
    path = f"/bad/{kind}"
    if encoding == "gzip":
        body = gzip.compress(b"<consumer><key>bomb</key><name>" + b" " * (32 << 20) + b"</name></consumer>")

        def bomb(handler):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Encoding", "gzip")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        peer.routes[path] = bomb
        url = peer.base + path
    else:
        url = peer.xml(path, text, status=status)
    before = len(assert_json(admin.request("GET", CONSUMERS), 200))
    resp, elapsed = _post_timed(admin, {"consumerInfoUrl": url})
    assert_info_url_refused(resp, elapsed, 6.0)
    assert len(assert_json(admin.request("GET", CONSUMERS), 200)) == before


def test_consumer_info_url_does_not_resolve_external_entities(admin, peer):
    keys = new_rsa_key()
    key = uniq("xxe")
    document = (f'<?xml version="1.0"?><!DOCTYPE consumer [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
                f"<consumer><key>{key}</key><name>before&xxe;after</name><publicKey>{keys.public_der_b64}</publicKey></consumer>")
    resp = admin.request("POST", CONSUMERS, json={"consumerInfoUrl": peer.xml("/xxe", document)})
    # Refusing the document or dropping the entity are both fine; reading the file is not.
    assert resp.status_code in (201, 400), describe(resp)
    if resp.status_code == 201:
        name = resp.json()["name"]
        # Only the entity's text could have leaked, and only into <name>: exactly what stands
        # around it may remain (the random base64 key elsewhere can contain any short string).
        assert name in ("before", "beforeafter", "before&xxe;after"), describe(resp)
    if _readable("/etc/hostname") and resp.status_code == 201:
        hostname = open("/etc/hostname", encoding="utf-8").read().strip()
        assert not hostname or hostname not in resp.json()["name"], describe(resp)


def _readable(path):
    try:
        with open(path, encoding="utf-8"):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/consumer-info", "javascript:alert(1)",
                                 "not a url", "http://", "/plugins/servlet/oauth/consumer-info"])
def test_consumer_info_url_must_be_http(admin, url):
    resp, elapsed = _post_timed(admin, {"consumerInfoUrl": url})
    assert_info_url_refused(resp, elapsed, 6.0)


# --------------------------------------------------------------------------------------------
# 6. Discovery: consumer-info and the applinks manifest
# --------------------------------------------------------------------------------------------

def test_consumer_info_document(http, base_url):
    first = http.get(base_url + CONSUMER_INFO, timeout=15)
    second = http.get(base_url + CONSUMER_INFO, timeout=15)
    assert first.status_code == 200 and second.status_code == 200, describe(first)
    assert "xml" in first.headers.get("Content-Type", ""), describe(first)
    assert first.content == second.content
    root = ET.fromstring(first.content)
    assert root.tag == "consumer"
    assert root.findtext("key") and root.findtext("name"), first.text
    public = load_public_key(root.findtext("publicKey"))
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048, first.text
    assert not root.findtext("publicKey").strip().startswith("-----"), "Atlassian's form is bare base64 DER"


def test_applinks_manifest(http, base_url):
    xml_first = http.get(base_url + MANIFEST, timeout=15)
    xml_second = http.get(base_url + MANIFEST, headers={"Accept": "application/xml"}, timeout=15)
    for resp in (xml_first, xml_second):
        assert resp.status_code == 200 and "xml" in resp.headers.get("Content-Type", ""), describe(resp)
    root = ET.fromstring(xml_first.content)
    assert root.tag == "manifest"
    manifest_id = root.findtext("id")
    uuid.UUID(manifest_id)
    assert ET.fromstring(xml_second.content).findtext("id") == manifest_id
    assert root.findtext("name") and root.findtext("typeId") == "generic"
    assert root.findtext("version") and root.findtext("buildNumber") and root.findtext("applinksVersion")
    assert sorted(e.text for e in root.findall("inboundAuthenticationTypes")) == sorted(INBOUND_TYPES)
    assert root.findtext("publicSignup") == "false"
    assert root.findtext("url") == base_url

    as_json = [assert_json(http.get(base_url + MANIFEST, headers={"Accept": "application/json"}, timeout=15), 200)
               for _ in range(2)]
    assert as_json[0] == as_json[1]
    doc = as_json[0]
    assert set(doc) == {"id", "name", "typeId", "version", "buildNumber", "applinksVersion",
                        "inboundAuthenticationTypes", "outboundAuthenticationTypes", "publicSignup", "url"}, doc
    assert doc["id"] == manifest_id and doc["typeId"] == "generic" and doc["url"] == base_url
    assert doc["publicSignup"] is False
    assert sorted(doc["inboundAuthenticationTypes"]) == sorted(INBOUND_TYPES)
    assert isinstance(doc["outboundAuthenticationTypes"], list)
    assert doc["name"] == root.findtext("name") and doc["version"] == root.findtext("version")
    assert str(doc["buildNumber"]) == root.findtext("buildNumber")
    assert doc["applinksVersion"] == root.findtext("applinksVersion")


# --------------------------------------------------------------------------------------------
# 7. Authorized applications (INTERFACE §9)
# --------------------------------------------------------------------------------------------

def test_oauth1_token_listed_and_revocable(make_consumer, admin, person, browser, base_url, recorder, http):
    consumer = make_consumer()
    name, password = person
    access = _jira_style_access_token(consumer, person, browser, base_url, recorder)
    client = _jira(base_url, consumer, access, recorder)
    assert client.myself()["name"] == name

    apps = assert_json(admin.request("GET", APPLICATIONS, auth=person), 200)
    mine = [a for a in apps if a["client"] == consumer.key]
    assert len(mine) == 1, apps
    app = mine[0]
    assert set(app) == APPLICATION_KEYS, app
    assert app["protocol"] == "oauth1" and app["name"] == consumer.name and app["scope"] is None
    assert isinstance(app["authorizedAt"], int) and abs(app["authorizedAt"] - time.time()) < 120, app
    assert isinstance(app["lastUsedAt"], int) and app["lastUsedAt"] >= app["authorizedAt"], app
    assert isinstance(app["id"], str) and app["id"]
    assert access["oauth_token"] not in str(apps) and access["oauth_token_secret"] not in str(apps)

    # The page lists it too.
    page = browser.get(base_url + PROFILE_APPS)
    assert page.status_code == 200 and consumer.name in Forms(page.text).visible_text, describe(page)

    # Another user cannot revoke it.
    other = admin.create_user()
    assert admin.request("DELETE", f"{APPLICATIONS}/{app['id']}", auth=other).status_code == 404
    assert client.myself()["name"] == name

    assert admin.request("DELETE", f"{APPLICATIONS}/{app['id']}", auth=person).status_code == 204
    with pytest.raises(JIRAError) as refused:        # jira's session raises on any error status
        client._session.get(base_url + MYSELF)
    problem(refused.value.response, 401, "token_rejected", base_url)
    assert consumer.key not in [a["client"] for a in assert_json(admin.request("GET", APPLICATIONS, auth=person), 200)]
    assert admin.request("DELETE", f"{APPLICATIONS}/{app['id']}", auth=person).status_code == 404


def test_deleting_the_user_kills_their_oauth1_tokens(make_consumer, admin, person, browser, http, base_url, recorder,
                                                    callback):
    consumer = make_consumer()
    token = three_legged(consumer, http, browser, base_url, recorder, person, callback)
    assert_myself(myself(consumer, http, base_url, token=token), person[0], "user", consumer)
    assert admin.request("DELETE", f"{USERS}/{person[0]}").status_code == 204
    problem(myself(consumer, http, base_url, token=token), 401, "token_rejected", base_url)


# --------------------------------------------------------------------------------------------
# No 5xx, nothing secret in the log (keep last)
# --------------------------------------------------------------------------------------------

def test_zz_oauth1_no_server_errors_and_tokens_never_logged(http, base_url, recorder, log_path):
    assert http.get(base_url + "/status", timeout=15).status_code == 200
    time.sleep(0.2)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    leaked = sorted(s for s in recorder.secrets if s in log)
    assert not leaked, f"{len(leaked)} secret(s) found in the server log: {[s[:6] + '…' for s in leaked]}"
    assert recorder.server_errors == [], f"5xx responses seen: {recorder.server_errors}"
    assert recorder.html_header_problems == [], recorder.html_header_problems
