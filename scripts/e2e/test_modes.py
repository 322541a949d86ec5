"""OAuth 2.0 token modes, introspection and the audit log end to end (INTERFACE.md §3, §4, §6, §7, §8).

Real clients play the application:
- authlib's OAuth2Session fetches `client_credentials` tokens (client_secret_basic and _post);
- PyJWT signs RFC 7523 assertions (RS256) for the `jwt-bearer` grant, and authlib's AssertionSession
  runs the same grant as a library would; hostile assertions (alg none, HS256, forged, replayed …)
  are built by hand;
- requests-oauthlib's OAuth1 (RSA-SHA1) makes OAuth 1.0a two-legged calls, with and without
  `xoauth_requestor_id`.
Every refusal is checked for its exact status and RFC error code, and every two-legged or
impersonated issue and use must be in the audit log (§8), refusals with outcome `failure`.
A failure that contradicts INTERFACE.md or an RFC is a server bug, not a reason to relax a test.
"""
import base64
import hashlib
import hmac
import time
import uuid
from urllib.parse import parse_qsl

import jwt
import pytest
import requests
from authlib.integrations.requests_client import AssertionSession
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError as AuthlibOAuthError
from oauthlib.oauth1 import SIGNATURE_RSA
from requests_oauthlib import OAuth1

from conftest import error_keys_ok
from oauth1_support import CONSUMERS, ec_public_pem, new_rsa_key
from oauth_support import (AUDIT_ENTRY_KEYS, CLIENTS, INTROSPECT, INTROSPECTION_KEYS, JWT_BEARER, MYSELF, REVOKE, TOKEN,
                           USERS, Admin, assert_json, assert_oauth_error, assert_token_response,
                           assertion_claims, b64url_json, describe, jwt_bearer_data, signed_assertion, uniq)

INACTIVE = {"active": False}
ISSUED = []          # every access token and assertion this module obtained: none may reach the server log


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keys():
    """One RSA key pair for the module's impersonating clients (key generation is slow)."""
    return new_rsa_key()


@pytest.fixture(scope="module")
def other_keys():
    return new_rsa_key()


@pytest.fixture(scope="module")
def person(admin):
    """A non-admin user the impersonating clients act for."""
    return admin.create_user(display_name="Impersonated Person")[0]


@pytest.fixture(scope="module")
def boss(admin):
    """An admin user."""
    return admin.create_user(admin=True, display_name="Admin Person")[0]


@pytest.fixture(scope="module")
def imp_client(admin, keys):
    """An impersonating client (scope WRITE) with the module's public key."""
    return admin.create_client([], scope="WRITE", impersonation=True, publicKey=keys.public_pem)


def recorded(session, recorder):
    """The suite's recorder hook on a third-party library's session, plus a list of what it saw."""
    seen = []
    session.hooks["response"].append(recorder.hook)
    session.hooks["response"].append(lambda resp, *a, **k: seen.append(resp))
    return seen


def remember(recorder, body):
    if isinstance(body, dict):
        for key in ("access_token", "refresh_token"):
            if isinstance(body.get(key), str):
                ISSUED.append(body[key])
                recorder.add_secret(body[key])


def post_token(admin, data, auth=None):
    return admin.request("POST", TOKEN, auth=auth, data=data)


def cc_token(admin, client, scope=None, recorder=None):
    """A client_credentials token (client_secret_basic), asserted 200; the token body."""
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    resp = post_token(admin, data, auth=(client["clientId"], client["clientSecret"]))
    body = assert_json(resp, 200)
    ISSUED.append(body["access_token"])
    if recorder is not None:
        recorder.add_secret(body["access_token"])
    return body


def jwt_token(admin, base_url, client, keys, subject, scope=None, recorder=None, **claims):
    """A jwt-bearer token for `subject` (assertion signed with `keys`), asserted 200; the token body."""
    assertion = signed_assertion(keys.private_key, assertion_claims(base_url, client["clientId"], subject, **claims))
    ISSUED.append(assertion)
    data = jwt_bearer_data(assertion, **({"scope": scope} if scope is not None else {}))
    body = assert_json(post_token(admin, data), 200)
    ISSUED.append(body["access_token"])
    if recorder is not None:
        recorder.add_secret(body["access_token"])
    return body


def assert_introspection(body, base_url, client_id, user, scope, mode, act):
    """INTERFACE §6: exactly these keys; username/sub the acting user (sub = client_id for an application
    principal with no user); act {"sub": client_id} for impersonation, else null."""
    assert set(body) == INTROSPECTION_KEYS, body
    assert isinstance(body["iat"], int) and isinstance(body["exp"], int), body
    assert abs(body["iat"] - time.time()) < 120 and body["exp"] - body["iat"] == 3600, body
    assert body == {"active": True, "scope": scope, "client_id": client_id, "username": user,
                    "sub": user if user is not None else client_id, "token_type": "bearer", "exp": body["exp"],
                    "iat": body["iat"], "iss": base_url, "mode": mode, "act": act}, body
    return body


def assert_myself(resp, name, mode, client_id, scope, protocol="oauth2"):
    body = assert_json(resp, 200)
    assert set(body) == {"name", "displayName", "email", "admin", "directory", "auth"}, body
    assert body["name"] == name, body
    assert body["auth"] == {"protocol": protocol, "mode": mode, "client": client_id, "scope": scope}, body
    if name is None:
        assert body["displayName"] is None and body["email"] is None and body["admin"] is False, body
    return body


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def only_entry(entries, what):
    assert len(entries) == 1, f"expected exactly one new audit entry for {what}, got {entries}"
    return entries[0]


def assert_entry(entry, action, outcome, client=..., subject=..., actor=..., detail_prefix=None):
    assert set(entry) == AUDIT_ENTRY_KEYS, entry
    assert entry["action"] == action and entry["outcome"] == outcome, entry
    if client is not ...:
        assert entry["client"] == client, entry
    if subject is not ...:
        assert entry["subject"] == subject, entry
    if actor is not ...:
        assert entry["actor"] == actor, entry
    if detail_prefix is not None:
        assert isinstance(entry["detail"], str) and entry["detail"].startswith(detail_prefix), entry
    return entry


# --------------------------------------------------------------------------------------------
# 1. Clients for the two-legged modes
# --------------------------------------------------------------------------------------------

def test_impersonating_client_needs_a_strong_rsa_key(admin, keys):
    def create(**extra):
        return admin.request("POST", CLIENTS, json={"name": uniq("imp-client"), "redirects": [], "scope": "WRITE",
                                                     **extra})
    for extra in ({"impersonation": True},
                  {"impersonation": True, "publicKey": None},
                  {"impersonation": True, "publicKey": "not a key"},
                  {"impersonation": True, "publicKey": new_rsa_key(1024).public_pem},
                  {"impersonation": True, "publicKey": ec_public_pem()},
                  {"impersonation": True, "publicKey": keys.private_pem}):
        resp = create(**extra)
        body = assert_json(resp, 400)
        assert error_keys_ok(resp, body) and body["error"] == "invalid_request", describe(resp)
    created = assert_json(create(impersonation=True, publicKey=keys.public_pem), 201)
    assert created["impersonation"] is True and created["executeAs"] is None
    assert "BEGIN PUBLIC KEY" in created["publicKey"], created


def test_execute_as_must_name_a_user(admin):
    resp = admin.request("POST", CLIENTS, json={"name": uniq("cc-client"), "redirects": [], "scope": "WRITE",
                                                "executeAs": uniq("nobody")})
    assert resp.status_code == 400, describe(resp)


# --------------------------------------------------------------------------------------------
# 2. client_credentials with authlib (mode application)
# --------------------------------------------------------------------------------------------

def test_client_credentials_basic_acts_as_the_application(admin, base_url, recorder):
    client = admin.create_client([], scope="WRITE")
    cid = client["clientId"]
    mark = admin.audit_mark()
    session = AuthlibSession(cid, client["clientSecret"], token_endpoint_auth_method="client_secret_basic")
    seen = recorded(session, recorder)
    token = session.fetch_token(base_url + TOKEN, grant_type="client_credentials")
    remember(recorder, token)
    ISSUED.append(token["access_token"])
    resp = seen[-1]
    # client_secret_basic: the secret travels in the Authorization header only.
    sent = dict(parse_qsl(resp.request.body)) if resp.request.body else {}
    assert resp.request.headers["Authorization"].startswith("Basic "), resp.request.headers
    assert sent.get("grant_type") == "client_credentials" and "client_secret" not in sent, sent
    body = assert_token_response(resp, "WRITE", refresh=False)
    assert "refresh_token" not in token and token["access_token"] == body["access_token"]

    introspected = admin.introspect(body["access_token"], client)
    assert_introspection(introspected, base_url, cid, None, "WRITE", "application", None)
    # The admin may introspect too (Basic), and so may any other registered client.
    assert admin.request("POST", INTROSPECT, data={"token": body["access_token"]}).json() == introspected
    other = admin.create_client([], scope="READ")
    assert admin.introspect(body["access_token"], other) == introspected

    # The token works with authlib's session; /myself shows the application principal.
    assert_myself(session.get(base_url + MYSELF, timeout=15), None, "application", cid, "WRITE")
    # An application principal has no profile to change, even with WRITE.
    put = session.put(base_url + MYSELF, json={"displayName": "nobody"}, timeout=15)
    assert put.status_code == 403, describe(put)

    entries = admin.audit_after(mark, client=cid)
    issues = [e for e in entries if e["action"] == "token.issue"]
    uses = [e for e in entries if e["action"] == "token.use"]
    assert_entry(only_entry(issues, "the client_credentials issue"), "token.issue", "success", client=cid, subject=None,
                 actor=cid, detail_prefix="client_credentials")
    # Each use is recorded (at least the successful GET; the refused PUT is checked in its own test).
    assert [e for e in uses if e["outcome"] == "success"], entries
    for use in uses:
        assert_entry(use, "token.use", use["outcome"], client=cid, subject=None, actor=cid)
    assert len(uses) <= 2, entries


def test_client_credentials_post_acts_as_execute_as(admin, base_url, recorder):
    runner = admin.create_user(display_name="Runner")[0]
    client = admin.create_client([], scope="WRITE", executeAs=runner)
    cid = client["clientId"]
    assert client["executeAs"] == runner
    mark = admin.audit_mark()
    session = AuthlibSession(cid, client["clientSecret"], token_endpoint_auth_method="client_secret_post", scope="READ")
    seen = recorded(session, recorder)
    token = session.fetch_token(base_url + TOKEN, grant_type="client_credentials")
    remember(recorder, token)
    resp = seen[-1]
    # client_secret_post: id and secret in the form body, no Authorization header.
    sent = dict(parse_qsl(resp.request.body))
    assert "Authorization" not in resp.request.headers, resp.request.headers
    assert sent["client_id"] == cid and sent["client_secret"] == client["clientSecret"], sent
    body = assert_token_response(resp, "READ", refresh=False)

    assert_introspection(admin.introspect(body["access_token"], client), base_url, cid, runner, "READ", "application", None)
    me = assert_myself(session.get(base_url + MYSELF, timeout=15), runner, "application", cid, "READ")
    assert me["displayName"] == "Runner"
    # READ is not enough to change the profile: 403 insufficient_scope.
    put = session.put(base_url + MYSELF, json={"displayName": "x"}, timeout=15)
    assert put.status_code == 403 and 'error="insufficient_scope"' in put.headers.get("WWW-Authenticate", ""), describe(put)

    issue = only_entry([e for e in admin.audit_after(mark, client=cid) if e["action"] == "token.issue"], "the issue")
    assert_entry(issue, "token.issue", "success", client=cid, subject=runner, actor=cid, detail_prefix="client_credentials")
    uses = admin.audit_after(mark, client=cid, action="token.use")
    assert 1 <= len(uses) <= 2 and all(u["subject"] == runner for u in uses), uses
    assert uses[-1]["outcome"] == "success", uses        # the GET


def test_client_credentials_execute_as_admin_may_hold_admin(admin, base_url, boss, recorder):
    client = admin.create_client([], scope="ADMIN", executeAs=boss)
    body = cc_token(admin, client, recorder=recorder)          # omitted scope → the registered ADMIN
    assert body["scope"] == "ADMIN" and "refresh_token" not in body
    assert_introspection(admin.introspect(body["access_token"], client), base_url, client["clientId"], boss, "ADMIN",
                         "application", None)
    assert cc_token(admin, client, scope="READ WRITE", recorder=recorder)["scope"] == "WRITE"


@pytest.mark.parametrize("scope, method", [("ADMIN", "client_secret_basic"), ("SYSTEM_ADMIN", "client_secret_post"),
                                           (None, "client_secret_basic")])
def test_client_credentials_application_principal_holds_at_most_write(admin, base_url, recorder, scope, method):
    """INTERFACE §4: an application principal with no execute-as user can hold at most WRITE (even when the
    client's ceiling is higher, and when the scope is omitted, which asks for the ceiling)."""
    client = admin.create_client([], scope="SYSTEM_ADMIN")
    cid = client["clientId"]
    mark = admin.audit_mark()
    session = AuthlibSession(cid, client["clientSecret"], token_endpoint_auth_method=method)
    seen = recorded(session, recorder)
    kwargs = {"scope": scope} if scope else {}
    with pytest.raises(AuthlibOAuthError) as raised:
        session.fetch_token(base_url + TOKEN, grant_type="client_credentials", **kwargs)
    assert raised.value.error == "invalid_scope"
    assert_oauth_error(seen[-1], 400, "invalid_scope")
    failure = only_entry(admin.audit_after(mark, client=cid, action="token.issue"), "the refused issue")
    assert_entry(failure, "token.issue", "failure", client=cid, subject=None, detail_prefix="client_credentials")
    # WRITE is fine.
    assert cc_token(admin, client, scope="WRITE", recorder=recorder)["scope"] == "WRITE"


def test_client_credentials_scope_rules(admin, recorder):
    runner = admin.create_user()[0]
    client = admin.create_client([], scope="ADMIN", executeAs=runner)
    auth = (client["clientId"], client["clientSecret"])
    # A non-admin execute-as user cannot get ADMIN; above the ceiling, unknown or lower-case → invalid_scope.
    for scope in ("ADMIN", "SYSTEM_ADMIN", "BOGUS", "read", "READ bogus"):
        assert_oauth_error(post_token(admin, {"grant_type": "client_credentials", "scope": scope}, auth=auth),
                           400, "invalid_scope")
    assert cc_token(admin, admin.create_client([], scope="READ"), recorder=recorder)["scope"] == "READ"
    read_only = admin.create_client([], scope="READ")
    assert_oauth_error(post_token(admin, {"grant_type": "client_credentials", "scope": "WRITE"},
                                  auth=(read_only["clientId"], read_only["clientSecret"])), 400, "invalid_scope")


def test_client_credentials_client_authentication(admin):
    client = admin.create_client([], scope="WRITE")
    cid, secret = client["clientId"], client["clientSecret"]
    wrong = post_token(admin, {"grant_type": "client_credentials"}, auth=(cid, secret + "x"))
    assert_oauth_error(wrong, 401, "invalid_client")
    assert wrong.headers.get("WWW-Authenticate", "").startswith("Basic"), describe(wrong)
    assert_oauth_error(post_token(admin, {"grant_type": "client_credentials", "client_id": cid,
                                          "client_secret": "wrong"}), 401, "invalid_client")
    assert_oauth_error(post_token(admin, {"grant_type": "client_credentials"}), 401, "invalid_client")
    # Never both methods at once (INTERFACE §6).
    both = post_token(admin, {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
                      auth=(cid, secret))
    assert both.status_code in (400, 401) and both.json()["error"] in ("invalid_request", "invalid_client"), describe(both)
    # A refresh token grant has nothing to refresh: client_credentials issues none.
    assert_oauth_error(post_token(admin, {"grant_type": "refresh_token", "refresh_token": "x" * 43}, auth=(cid, secret)),
                       400, "invalid_grant")


def test_application_token_revocation_is_audited(admin, base_url, recorder):
    client = admin.create_client([], scope="WRITE")
    cid = client["clientId"]
    token = cc_token(admin, client, recorder=recorder)["access_token"]
    mark = admin.audit_mark()
    resp = admin.request("POST", REVOKE, auth=(cid, client["clientSecret"]), data={"token": token})
    assert resp.status_code == 200, describe(resp)
    assert admin.introspect(token, client) == INACTIVE
    me = admin.myself(token)
    assert me.status_code == 401 and 'error="invalid_token"' in me.headers.get("WWW-Authenticate", ""), describe(me)
    revoke = only_entry(admin.audit_after(mark, action="token.revoke", client=cid), "the revocation")
    assert_entry(revoke, "token.revoke", "success", client=cid)


def test_refused_bearer_use_is_audited_as_a_failure(admin, base_url, recorder):
    """The brief for §8: each use of an application token is audited, refusals included with outcome failure.
    A READ token used for a WRITE request is refused (403 insufficient_scope): that use must not read 'success'."""
    client = admin.create_client([], scope="READ")
    cid = client["clientId"]
    token = cc_token(admin, client, recorder=recorder)["access_token"]
    mark = admin.audit_mark()
    put = admin.request("PUT", MYSELF, auth=None, headers=bearer(token), json={"displayName": "x"})
    assert put.status_code == 403 and 'error="insufficient_scope"' in put.headers.get("WWW-Authenticate", ""), describe(put)
    uses = admin.audit_after(mark, client=cid, action="token.use")
    assert_entry(only_entry(uses, "the refused use"), "token.use", "failure", client=cid, subject=None)


def test_use_of_a_revoked_application_token_is_audited_as_a_failure(admin, base_url, recorder):
    client = admin.create_client([], scope="WRITE")
    cid = client["clientId"]
    token = cc_token(admin, client, recorder=recorder)["access_token"]
    resp = admin.request("POST", REVOKE, auth=(cid, client["clientSecret"]), data={"token": token})
    assert resp.status_code == 200, describe(resp)
    mark = admin.audit_mark()
    assert admin.myself(token).status_code == 401
    uses = admin.audit_after(mark, client=cid, action="token.use")
    assert_entry(only_entry(uses, "the refused use of a revoked token"), "token.use", "failure", client=cid, subject=None)


def test_deleting_the_execute_as_user(admin, base_url, recorder):
    """A client's execute-as user cannot be deleted while the client names it (409 conflict, as test_oauth1 accepts
    for consumers); once the client points elsewhere, deleting the user kills the tokens that act as it (§3)."""
    runner = admin.create_user()[0]
    client = admin.create_client([], scope="WRITE", executeAs=runner)
    cid = client["clientId"]
    token = cc_token(admin, client, recorder=recorder)["access_token"]
    assert admin.myself(token).status_code == 200
    refused = admin.request("DELETE", f"{USERS}/{runner}")
    body = assert_json(refused, 409)
    assert body["error"] == "conflict", describe(refused)
    assert_myself(admin.myself(token), runner, "application", cid, "WRITE")

    other = admin.create_user()[0]
    assert admin.request("PUT", f"{CLIENTS}/{cid}", json={"executeAs": other}).status_code == 200
    assert admin.request("DELETE", f"{USERS}/{runner}").status_code == 204
    assert admin.introspect(token, client) == INACTIVE
    assert admin.myself(token).status_code == 401
    # New tokens act as the new execute-as user.
    fresh = cc_token(admin, client, recorder=recorder)["access_token"]
    assert_myself(admin.myself(fresh), other, "application", cid, "WRITE")


# --------------------------------------------------------------------------------------------
# 3. jwt-bearer (RFC 7523, mode impersonation)
# --------------------------------------------------------------------------------------------

def test_jwt_bearer_with_pyjwt_impersonates_the_user(admin, base_url, imp_client, keys, person, recorder):
    cid = imp_client["clientId"]
    mark = admin.audit_mark()
    claims = assertion_claims(base_url, cid, person)
    assertion = signed_assertion(keys.private_key, claims)
    ISSUED.append(assertion)
    resp = post_token(admin, jwt_bearer_data(assertion))        # the assertion alone authenticates the client
    body = assert_token_response(resp, "WRITE", refresh=False)   # omitted scope → the client's WRITE
    remember(recorder, body)
    token = body["access_token"]

    assert_introspection(admin.introspect(token, imp_client), base_url, cid, person, "WRITE", "impersonation",
                         {"sub": cid})
    me = assert_myself(admin.myself(token), person, "impersonation", cid, "WRITE")
    assert me["displayName"] == "Impersonated Person"
    # The impersonated user's own rights apply: WRITE may change the profile.
    put = admin.request("PUT", MYSELF, auth=None, headers=bearer(token), json={"displayName": "Changed by the app"})
    assert assert_myself(put, person, "impersonation", cid, "WRITE")["displayName"] == "Changed by the app"
    # But it is not an admin: admin REST is refused.
    assert admin.request("GET", USERS, auth=None, headers=bearer(token)).status_code == 403

    entries = admin.audit_after(mark, client=cid)
    issue = only_entry([e for e in entries if e["action"] == "token.issue"], "the jwt-bearer issue")
    assert_entry(issue, "token.issue", "success", client=cid, subject=person, actor=cid, detail_prefix="jwt-bearer")
    uses = [e for e in entries if e["action"] == "token.use"]
    # GET and PUT /myself succeeded; the refused admin call may be recorded either way.
    assert 2 <= len(uses) <= 3 and all(u["subject"] == person and u["actor"] == cid for u in uses), entries
    assert [u["outcome"] for u in uses[-2:]] == ["success", "success"], entries


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_jwt_bearer_with_a_valid_client_secret(admin, base_url, imp_client, keys, person, recorder, method):
    cid, secret = imp_client["clientId"], imp_client["clientSecret"]
    assertion = signed_assertion(keys.private_key, assertion_claims(base_url, cid, person))
    ISSUED.append(assertion)
    if method == "client_secret_basic":
        resp = post_token(admin, jwt_bearer_data(assertion, scope="READ"), auth=(cid, secret))
    else:
        resp = post_token(admin, jwt_bearer_data(assertion, scope="READ", client_id=cid, client_secret=secret))
    body = assert_token_response(resp, "READ", refresh=False)
    remember(recorder, body)
    assert_introspection(admin.introspect(body["access_token"], imp_client), base_url, cid, person, "READ",
                         "impersonation", {"sub": cid})


@pytest.mark.filterwarnings("ignore")   # authlib/joserfc deprecation notes about its own key import
def test_jwt_bearer_with_authlib_assertion_session(admin, base_url, imp_client, keys, person, recorder):
    """authlib's RFC 7523 client: AssertionSession signs a fresh assertion (RS256, new jti) and fetches the token
    on first use. exp must be ≤ 10 min ahead, so expires_in is set (authlib's default is an hour)."""
    cid = imp_client["clientId"]
    session = AssertionSession(token_endpoint=base_url + TOKEN, issuer=cid, subject=person, audience=base_url + TOKEN,
                               key=keys.private_pem, alg="RS256", expires_in=300, scope="READ", default_timeout=15)
    seen = recorded(session, recorder)
    resp = session.get(base_url + MYSELF)
    assert_myself(resp, person, "impersonation", cid, "READ")
    token_resp = [r for r in seen if r.request.url == base_url + TOKEN]
    assert len(token_resp) == 1
    body = assert_token_response(token_resp[0], "READ", refresh=False)
    remember(recorder, body)
    sent = dict(parse_qsl(token_resp[0].request.body))
    assert sent["grant_type"] == JWT_BEARER
    ISSUED.append(sent["assertion"])
    # A second session (new assertion, new jti) gets a second token.
    again = AssertionSession(token_endpoint=base_url + TOKEN, issuer=cid, subject=person, audience=base_url + TOKEN,
                             key=keys.private_pem, alg="RS256", expires_in=300, default_timeout=15)
    recorded(again, recorder)
    assert_myself(again.get(base_url + MYSELF), person, "impersonation", cid, "WRITE")
    remember(recorder, again.token)


def test_jwt_bearer_admin_scope_for_an_admin_user(admin, base_url, keys, boss, person, recorder):
    client = admin.create_client([], scope="SYSTEM_ADMIN", impersonation=True, publicKey=keys.public_pem)
    cid = client["clientId"]
    body = jwt_token(admin, base_url, client, keys, boss, scope="SYSTEM_ADMIN", recorder=recorder)
    assert body["scope"] == "SYSTEM_ADMIN"
    # Impersonating an admin with SYSTEM_ADMIN is enough for admin REST (INTERFACE §3), e.g. the audit log.
    audit = admin.audit(auth=None, headers=bearer(body["access_token"]), limit=1)
    assert audit.status_code == 200, describe(audit)
    # ADMIN scope is not SYSTEM_ADMIN: 403.
    admin_only = jwt_token(admin, base_url, client, keys, boss, scope="ADMIN", recorder=recorder)
    assert admin_only["scope"] == "ADMIN"
    assert admin.audit(auth=None, headers=bearer(admin_only["access_token"])).status_code == 403
    # Omitted scope for a non-admin user asks for the ceiling (SYSTEM_ADMIN): refused.
    assertion = signed_assertion(keys.private_key, assertion_claims(base_url, cid, person))
    assert_oauth_error(post_token(admin, jwt_bearer_data(assertion)), 400, "invalid_scope")


def test_deleting_the_impersonated_user_kills_the_token(admin, base_url, imp_client, keys, recorder):
    victim = admin.create_user()[0]
    token = jwt_token(admin, base_url, imp_client, keys, victim, recorder=recorder)["access_token"]
    assert admin.myself(token).status_code == 200
    assert admin.request("DELETE", f"{USERS}/{victim}").status_code == 204
    assert admin.introspect(token, imp_client) == INACTIVE
    assert admin.myself(token).status_code == 401
    assertion = signed_assertion(keys.private_key, assertion_claims(base_url, imp_client["clientId"], victim))
    assert_oauth_error(post_token(admin, jwt_bearer_data(assertion)), 400, "invalid_grant")


def _hs256(header, claims, secret):
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


class JwtCase:
    """One refused jwt-bearer request: how to build it, the RFC answer, and who the audit entry names."""

    def __init__(self, name, status, error, build, client="imp", subject="person"):
        self.name, self.status, self.error, self.build = name, status, error, build
        self.client = client          # "imp": the impersonating client; "plain"; None; "any" (not identifiable)
        self.subject = subject        # "person", "unknown", None or "any"


def _claims(ctx, **changes):
    return assertion_claims(ctx["base_url"], ctx["imp"]["clientId"], ctx["person"], **changes)


def _rs(ctx, **changes):
    return signed_assertion(ctx["keys"].private_key, _claims(ctx, **changes))


def _now():
    return int(time.time())


JWT_CASES = [
    JwtCase("signed-with-another-key", 400, "invalid_grant",
            lambda c: {"data": jwt_bearer_data(signed_assertion(c["other_keys"].private_key, _claims(c)))}),
    JwtCase("tampered-claims", 400, "invalid_grant",
            lambda c: {"data": jwt_bearer_data(_tamper(_rs(c), c))}, subject="boss"),
    JwtCase("expired", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, exp=_now() - 120, iat=_now() - 400))}),
    JwtCase("exp-too-far-ahead", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, exp=_now() + 3600))}),
    JwtCase("exp-missing", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, exp=None))}),
    JwtCase("nbf-in-the-future", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, nbf=_now() + 400))}),
    JwtCase("iat-in-the-future", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, iat=_now() + 400))}),
    JwtCase("aud-is-the-issuer", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, aud=c["base_url"]))}),
    JwtCase("aud-another-server", 400, "invalid_grant",
            lambda c: {"data": jwt_bearer_data(_rs(c, aud="https://elsewhere.example/rest/oauth2/latest/token"))}),
    JwtCase("aud-missing", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, aud=None))}),
    JwtCase("jti-missing", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, jti=None))}),
    JwtCase("jti-empty", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, jti=""))}),
    JwtCase("alg-none", 400, "invalid_grant",
            lambda c: {"data": jwt_bearer_data(f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{b64url_json(_claims(c))}.")},
            client="any", subject="any"),
    JwtCase("alg-HS256-keyed-with-the-public-key", 400, "invalid_grant",
            lambda c: {"data": jwt_bearer_data(_hs256({"alg": "HS256", "typ": "JWT"}, _claims(c),
                                                      c["keys"].public_pem.encode("ascii")))},
            client="any", subject="any"),
    JwtCase("alg-HS256-keyed-with-the-client-secret", 400, "invalid_grant",
            lambda c: {"data": jwt_bearer_data(_hs256({"alg": "HS256", "typ": "JWT"}, _claims(c),
                                                      c["imp"]["clientSecret"].encode("ascii")))},
            client="any", subject="any"),
    JwtCase("not-a-jws", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data("not-a-jwt")}, client="any", subject="any"),
    JwtCase("garbage-parts", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data("e30.e30.@@@")}, client="any",
            subject="any"),
    JwtCase("oversized", 400, "invalid_request",
            lambda c: {"data": jwt_bearer_data(_rs(c, padding="x" * 9000))}, client="any", subject="any"),
    JwtCase("unknown-user", 400, "invalid_grant", lambda c: {"data": jwt_bearer_data(_rs(c, sub=c["nobody"]))},
            subject="unknown"),
    JwtCase("scope-above-the-client-ceiling", 400, "invalid_scope",
            lambda c: {"data": jwt_bearer_data(_rs(c, sub=c["boss"]), scope="ADMIN")}, subject="boss"),
    JwtCase("unknown-scope", 400, "invalid_scope", lambda c: {"data": jwt_bearer_data(_rs(c), scope="EVERYTHING")}),
    JwtCase("admin-scope-for-a-non-admin-user", 400, "invalid_scope",
            lambda c: {"data": jwt_bearer_data(signed_assertion(
                c["keys"].private_key, assertion_claims(c["base_url"], c["admin_ceiling"]["clientId"], c["person"])),
                scope="ADMIN")}, client="admin_ceiling"),
    JwtCase("client-without-impersonation", 400, "unauthorized_client",
            lambda c: {"data": jwt_bearer_data(signed_assertion(
                c["keys"].private_key, assertion_claims(c["base_url"], c["plain"]["clientId"], c["person"])))},
            client="plain"),
    JwtCase("unknown-iss", 401, "invalid_client",
            lambda c: {"data": jwt_bearer_data(_rs(c, iss=uuid.uuid4().hex))}, client=None),
    JwtCase("wrong-client-secret", 401, "invalid_client",
            lambda c: {"data": jwt_bearer_data(_rs(c)), "auth": (c["imp"]["clientId"], "wrong-secret")}, client=None),
    JwtCase("client-id-is-another-client", 400, "invalid_grant",
            lambda c: {"data": jwt_bearer_data(_rs(c), client_id=c["plain"]["clientId"])}, client="any"),
]


def _tamper(assertion, ctx):
    """The assertion with its claims swapped for another user's after signing."""
    header, _, signature = assertion.split(".")
    return f"{header}.{b64url_json(_claims(ctx, sub=ctx['boss']))}.{signature}"


@pytest.fixture(scope="module")
def jwt_ctx(admin, base_url, imp_client, keys, other_keys, person, boss):
    return {"base_url": base_url, "imp": imp_client, "keys": keys, "other_keys": other_keys, "person": person,
            "boss": boss, "nobody": uniq("nobody"),
            "plain": admin.create_client([], scope="WRITE"),
            "admin_ceiling": admin.create_client([], scope="ADMIN", impersonation=True, publicKey=keys.public_pem)}


@pytest.mark.parametrize("case", JWT_CASES, ids=[c.name for c in JWT_CASES])
def test_jwt_bearer_refusals_are_answered_and_audited(admin, jwt_ctx, case):
    request = case.build(jwt_ctx)
    mark = admin.audit_mark()
    resp = post_token(admin, request["data"], auth=request.get("auth"))
    assert_oauth_error(resp, case.status, case.error)
    if case.status == 401 and request.get("auth"):
        assert resp.headers.get("WWW-Authenticate", "").startswith("Basic"), describe(resp)
    # §8: the refused attempt is in the audit log, outcome failure, detail "jwt-bearer: <error code>…".
    entry = only_entry(admin.audit_after(mark), f"the refused assertion ({case.name})")
    assert_entry(entry, "token.issue", "failure", detail_prefix=f"jwt-bearer: {case.error}")
    clients = {"imp": jwt_ctx["imp"]["clientId"], "plain": jwt_ctx["plain"]["clientId"],
               "admin_ceiling": jwt_ctx["admin_ceiling"]["clientId"], None: None}
    if case.client != "any":
        assert entry["client"] == clients[case.client], entry
    subjects = {"person": jwt_ctx["person"], "boss": jwt_ctx["boss"], "unknown": jwt_ctx["nobody"]}
    if case.subject != "any" and case.client is not None:
        assert entry["subject"] == subjects[case.subject], entry
    # Nothing was issued: the refused assertion left no token behind in the log either.
    assert "access_token" not in resp.text


def test_jwt_bearer_jti_is_single_use(admin, base_url, imp_client, keys, person, recorder):
    cid = imp_client["clientId"]
    assertion = signed_assertion(keys.private_key, assertion_claims(base_url, cid, person))
    ISSUED.append(assertion)
    first = assert_token_response(post_token(admin, jwt_bearer_data(assertion)), "WRITE", refresh=False)
    remember(recorder, first)
    mark = admin.audit_mark()
    replay = post_token(admin, jwt_bearer_data(assertion))
    assert_oauth_error(replay, 400, "invalid_grant")
    entry = only_entry(admin.audit_after(mark), "the replayed assertion")
    assert_entry(entry, "token.issue", "failure", client=cid, subject=person, detail_prefix="jwt-bearer: invalid_grant")
    # A new assertion that reuses the jti (new signature, new exp) is a replay too.
    jti = assertion_claims(base_url, cid, person)["jti"]
    first_jti = jwt.decode(assertion, options={"verify_signature": False})["jti"]
    reused = signed_assertion(keys.private_key, assertion_claims(base_url, cid, person, jti=first_jti, exp=_now() + 200))
    assert_oauth_error(post_token(admin, jwt_bearer_data(reused)), 400, "invalid_grant")
    # The first token still works (a replay does not revoke it), and a fresh jti gets a new token.
    assert admin.myself(first["access_token"]).status_code == 200
    fresh = signed_assertion(keys.private_key, assertion_claims(base_url, cid, person, jti=jti))
    remember(recorder, assert_token_response(post_token(admin, jwt_bearer_data(fresh)), "WRITE", refresh=False))


def test_jwt_bearer_aud_as_a_list_and_skew(admin, base_url, imp_client, keys, person, recorder):
    """RFC 7519 §4.1.3: aud may be an array; INTERFACE §8: 60 s of clock skew on exp/iat/nbf."""
    body = jwt_token(admin, base_url, imp_client, keys, person, recorder=recorder,
                     aud=["https://other.example/token", base_url + TOKEN])
    assert body["scope"] == "WRITE"
    jwt_token(admin, base_url, imp_client, keys, person, recorder=recorder, exp=_now() - 20, iat=_now() - 200)
    jwt_token(admin, base_url, imp_client, keys, person, recorder=recorder, iat=_now() + 20, nbf=_now() + 20)
    jwt_token(admin, base_url, imp_client, keys, person, recorder=recorder, exp=_now() + 600)


def test_jwt_bearer_without_assertion_is_refused_and_audited(admin):
    """§8: every refused jwt-bearer attempt is audited, including one that forgot the assertion."""
    mark = admin.audit_mark()
    resp = post_token(admin, {"grant_type": JWT_BEARER})
    assert_oauth_error(resp, 400, "invalid_request")
    entry = only_entry(admin.audit_after(mark), "the jwt-bearer request without an assertion")
    assert_entry(entry, "token.issue", "failure", detail_prefix="jwt-bearer: invalid_request")


# --------------------------------------------------------------------------------------------
# 4. The audit log REST resource
# --------------------------------------------------------------------------------------------

def test_audit_needs_an_admin(admin, base_url, recorder):
    anonymous = admin.audit(auth=None)
    assert anonymous.status_code == 401 and anonymous.headers.get("WWW-Authenticate"), describe(anonymous)
    name, password = admin.create_user()
    plain = admin.audit(auth=(name, password))
    body = assert_json(plain, 403)
    assert error_keys_ok(plain, body) and body["error"] == "forbidden", describe(plain)
    assert admin.audit(auth=("admin", "wrong-password")).status_code == 401
    # An application principal (no user) is not an admin, whatever its scope.
    token = cc_token(admin, admin.create_client([], scope="WRITE"), recorder=recorder)["access_token"]
    assert admin.audit(auth=None, headers=bearer(token)).status_code == 403


@pytest.mark.parametrize("query", [
    "limit=0", "limit=501", "limit=-1", "limit=abc", "limit=1.5", "limit=", "since=-1", "since=abc", "since=1e9",
    "cursor=abc", "cursor=0", "cursor=-5", "colour=blue", "limit=1&limit=2", "client=a&client=b",
])
def test_audit_bad_parameters(admin, base_url, query):
    resp = admin.session.get(f"{base_url}/rest/api/latest/audit?{query}", auth=admin.auth, timeout=15)
    body = assert_json(resp, 400)
    assert error_keys_ok(resp, body) and body["error"] == "invalid_request", describe(resp)


def test_audit_entries_shape_and_order(admin):
    body = assert_json(admin.audit(), 200)
    assert set(body) == {"entries", "next"}
    entries = body["entries"]
    assert 0 < len(entries) <= 100                       # default limit 100
    ids = [int(e["id"]) for e in entries]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids), "newest first, no repeats"
    times = [e["time"] for e in entries]
    assert times == sorted(times, reverse=True)
    for e in entries:
        assert set(e) == AUDIT_ENTRY_KEYS, e
        assert isinstance(e["id"], str) and isinstance(e["time"], int) and isinstance(e["action"], str), e
        assert e["outcome"] in ("success", "failure"), e
        for key in ("actor", "client", "subject", "detail"):
            assert e[key] is None or isinstance(e[key], str), e
    assert len(admin.audit_entries(limit=1)) == 1
    assert len(admin.audit_entries(limit=500)) <= 500


def test_audit_filters_and_cursor_paging(admin, recorder):
    client = admin.create_client([], scope="WRITE")
    cid = client["clientId"]
    for _ in range(7):
        cc_token(admin, client, recorder=recorder)
    refused = post_token(admin, {"grant_type": "client_credentials", "scope": "ADMIN"},
                         auth=(cid, client["clientSecret"]))
    assert_oauth_error(refused, 400, "invalid_scope")

    everything = admin.audit_entries(client=cid, limit=500)
    assert all(e["client"] == cid for e in everything), everything
    actions = [e["action"] for e in everything]
    assert actions.count("token.issue") == 8 and actions.count("client.create") == 1, everything
    assert [e["outcome"] for e in everything if e["action"] == "token.issue"] == ["failure"] + ["success"] * 7
    assert actions[-1] == "client.create"          # the oldest

    # Cursor paging through more entries than the limit: no gaps, no repeats, then next null.
    pages, cursor = [], None
    while True:
        params = {"client": cid, "limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        body = assert_json(admin.audit(**params), 200)
        assert len(body["entries"]) <= 3
        pages.append(body["entries"])
        cursor = body["next"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor, body
        assert len(body["entries"]) == 3, "a page that is followed by more must be full"
        assert len(pages) < 10, "paging does not end"
    assert [len(p) for p in pages] == [3, 3, 3]
    assert [e["id"] for p in pages for e in p] == [e["id"] for e in everything]
    # A page that ends exactly at the last entry says there is no more.
    exact = assert_json(admin.audit(client=cid, limit=9), 200)
    assert len(exact["entries"]) == 9 and exact["next"] is None, exact

    # action filter, and action + client + cursor together.
    issues = admin.audit_entries(client=cid, action="token.issue", limit=500)
    assert len(issues) == 8 and all(e["action"] == "token.issue" for e in issues)
    first = assert_json(admin.audit(client=cid, action="token.issue", limit=5), 200)
    second = assert_json(admin.audit(client=cid, action="token.issue", limit=5, cursor=first["next"]), 200)
    assert [e["id"] for e in first["entries"] + second["entries"]] == [e["id"] for e in issues]
    assert second["next"] is None
    assert all(e["action"] == "client.create" for e in admin.audit_entries(action="client.create", limit=50))
    assert admin.audit_entries(action="no.such.action") == []

    # since: only entries at or after that time.
    oldest = everything[-1]["time"]
    newest = everything[0]["time"]
    since = admin.audit_entries(client=cid, since=newest, limit=500)
    assert since and all(e["time"] >= newest for e in since)
    assert {e["id"] for e in since} == {e["id"] for e in everything if e["time"] >= newest}
    assert len(admin.audit_entries(client=cid, since=oldest, limit=500)) == len(everything)
    future = assert_json(admin.audit(since=int(time.time()) + 3600), 200)
    assert future == {"entries": [], "next": None}
    assert admin.audit_entries(client=uniq("no-such-client")) == []


def test_audit_user_filter_and_admin_actions(admin, keys):
    # user.create / update / delete, client.* and consumer.* are all recorded with the admin as actor.
    name, _ = admin.create_user()
    assert admin.request("PUT", f"{USERS}/{name}", json={"displayName": "Renamed"}).status_code == 200
    client = admin.create_client([], scope="READ", executeAs=name)
    cid = client["clientId"]
    assert admin.request("PUT", f"{CLIENTS}/{cid}", json={"scope": "WRITE"}).status_code == 200
    reset = admin.request("PUT", f"{CLIENTS}/reset/{cid}")
    assert reset.status_code == 200, describe(reset)
    admin.recorder.add_secret(reset.json()["clientSecret"])
    assert admin.request("DELETE", f"{CLIENTS}/{cid}").status_code == 204
    key = uniq("audit-consumer")
    assert admin.request("POST", CONSUMERS, json={"key": key, "name": "Audit Consumer",
                                                  "publicKey": keys.public_pem}).status_code == 201
    assert admin.request("PUT", f"{CONSUMERS}/{key}", json={"name": "Audit Consumer 2"}).status_code == 200
    assert admin.request("DELETE", f"{CONSUMERS}/{key}").status_code == 204
    assert admin.request("DELETE", f"{USERS}/{name}").status_code == 204

    mine = admin.audit_entries(user=name, limit=500)
    assert mine and all(name in (e["subject"], e["actor"]) for e in mine), mine
    assert {"user.create", "user.update", "user.delete"} <= {e["action"] for e in mine}, mine
    for action in ("user.create", "user.update", "user.delete"):
        assert_entry([e for e in mine if e["action"] == action][0], action, "success", actor="admin", subject=name)
    by_client = admin.audit_entries(client=cid, limit=500)
    for action in ("client.create", "client.update", "client.reset_secret", "client.delete"):
        matching = [e for e in by_client if e["action"] == action]
        assert len(matching) == 1, (action, by_client)
        assert_entry(matching[0], action, "success", actor="admin")
    consumer_events = [e for e in admin.audit_entries(limit=100) if key in (e["client"], e["subject"])]
    for action in ("consumer.create", "consumer.update", "consumer.delete"):
        matching = [e for e in consumer_events if e["action"] == action]
        assert len(matching) == 1, (action, consumer_events)
        assert_entry(matching[0], action, "success", actor="admin")
    # The admin's own actions: user=admin matches the actor.
    admin_entries = admin.audit_entries(user="admin", limit=50)
    assert admin_entries and all("admin" in (e["actor"], e["subject"]) for e in admin_entries)
    # No secret in any detail.
    for e in admin.audit_entries(limit=500):
        assert reset.json()["clientSecret"] not in (e["detail"] or ""), e
        assert client["clientSecret"] not in (e["detail"] or ""), e


# --------------------------------------------------------------------------------------------
# 5. OAuth 1.0a two-legged calls (requests-oauthlib) in the audit log
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def make_consumer(admin, keys):
    def make(**body):
        body.setdefault("key", uniq("modes-consumer"))
        body.setdefault("name", uniq("Modes Consumer"))
        body.setdefault("publicKey", keys.public_pem)
        return assert_json(admin.request("POST", CONSUMERS, json=body), 201)
    return make


def oauth1(consumer, keys):
    return OAuth1(consumer["key"], signature_method=SIGNATURE_RSA, rsa_key=keys.private_pem)


def test_oauth1_two_legged_calls_are_audited(admin, base_url, keys, make_consumer, person, recorder):
    consumer = make_consumer(twoLeggedAllowed=True, impersonationAllowed=True)
    key = consumer["key"]
    session = requests.Session()
    recorded(session, recorder)
    mark = admin.audit_mark()

    two_lo = session.get(base_url + MYSELF, auth=oauth1(consumer, keys), timeout=15)
    assert_myself(two_lo, None, "application", key, None, protocol="oauth1")
    two_loi = session.get(base_url + MYSELF, params={"xoauth_requestor_id": person}, auth=oauth1(consumer, keys), timeout=15)
    assert_myself(two_loi, person, "impersonation", key, None, protocol="oauth1")
    nobody = uniq("nobody")
    refused = session.get(base_url + MYSELF, params={"xoauth_requestor_id": nobody}, auth=oauth1(consumer, keys), timeout=15)
    assert refused.status_code == 401, describe(refused)
    assert 'oauth_problem="permission_denied"' in refused.headers.get("WWW-Authenticate", ""), describe(refused)

    entries = admin.audit_after(mark, client=key)
    assert [e["action"] for e in entries] == ["token.use"] * 3, entries
    failure, impersonated, application = entries
    assert_entry(application, "token.use", "success", client=key, subject=None, actor=key)
    assert_entry(impersonated, "token.use", "success", client=key, subject=person, actor=key)
    assert_entry(failure, "token.use", "failure", client=key, subject=nobody, actor=key)
    assert admin.audit_after(mark, client=key, user=person) == [impersonated]


def test_oauth1_refused_impersonation_and_2lo_are_audited(admin, base_url, keys, make_consumer, person, recorder):
    runner = admin.create_user()[0]
    consumer = make_consumer(executeAs=runner)          # neither 2LO nor impersonation allowed
    key = consumer["key"]
    session = requests.Session()
    recorded(session, recorder)
    mark = admin.audit_mark()
    imp = session.get(base_url + MYSELF, params={"xoauth_requestor_id": person}, auth=oauth1(consumer, keys), timeout=15)
    assert imp.status_code == 401 and 'oauth_problem="permission_denied"' in imp.headers.get("WWW-Authenticate", ""), \
        describe(imp)
    plain = session.get(base_url + MYSELF, auth=oauth1(consumer, keys), timeout=15)
    assert plain.status_code == 401, describe(plain)
    entries = admin.audit_after(mark, client=key)
    assert [(e["action"], e["outcome"]) for e in entries] == [("token.use", "failure")] * 2, entries
    assert entries[1]["subject"] == person, entries
    assert entries[0]["subject"] in (None, runner), entries
    # A bad signature is not attributable to a use of the consumer's credentials, but must not be a success.
    forged = session.get(base_url + MYSELF, auth=OAuth1(key, signature_method=SIGNATURE_RSA,
                                                        rsa_key=new_rsa_key().private_pem), timeout=15)
    assert forged.status_code == 401, describe(forged)
    assert all(e["outcome"] == "failure" for e in admin.audit_after(mark, client=key))


# --------------------------------------------------------------------------------------------
# 6. Nothing secret in the server log
# --------------------------------------------------------------------------------------------

def test_zz_no_token_or_assertion_in_the_server_log(server):
    assert ISSUED, "the module issued no tokens?"
    log = server.log_text()
    leaked = [value[:12] + "…" for value in ISSUED if value in log]
    assert leaked == [], f"tokens or assertions in the server log: {leaked}"
