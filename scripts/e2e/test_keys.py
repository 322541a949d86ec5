"""`linkgate keys rotate` against a running server on the same database (INTERFACE §14).

A private server re-reads its signing keys every 2 s (LINKGATE_SIGNING_KEYS_REFRESH, for tests;
the default is 30 s). authlib validates the id_tokens against the JWKS as a relying party would.
"""
import base64
import json
import os
import subprocess
import time

import pytest
from authlib.common.security import generate_token

from conftest import ADMIN_PASSWORD, DEFAULT_BIN, launch_server, shutdown_server
from oauth_support import AUDIT, Admin, Browser, Outcome, assert_redirect_to, unused_loopback_port
from test_oidc import DISCOVERY, assert_json_public, code_flow, key_set, new_user, oidc_client, rp, unverified_claims, validate

BINARY = os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN))
CONSUMER_INFO = "/plugins/servlet/oauth/consumer-info"
PICK_UP_SECONDS = 2


def keys_rotate(database, *extra):
    return subprocess.run([BINARY, "keys", "rotate", "--database", str(database), *extra],
                          capture_output=True, text=True, timeout=120)


def header_kid(id_token):
    return json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))["kid"]


@pytest.fixture()
def private_server(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKGATE_SIGNING_KEYS_REFRESH", str(PICK_UP_SECONDS))
    srv = launch_server(tmp_path)
    yield srv
    shutdown_server(srv)


def sign_in(srv, new_session, recorder, admin, client, redirect_uri, provider):
    """A full code flow as a new user; the token response."""
    user, password = new_user(admin, recorder)
    browser = Browser(new_session(), srv.base_url, recorder)
    oauth = rp(client, redirect_uri)
    verifier, nonce = generate_token(64), generate_token(20)
    url, _ = oauth.create_authorization_url(provider["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    location = code_flow(browser, url, login=(user, password))
    assert_redirect_to(Outcome(location), redirect_uri, {"code", "state"})
    token = oauth.fetch_token(provider["token_endpoint"], authorization_response=location, code_verifier=verifier)
    admin.remember_tokens(token)
    return token, nonce


def test_rotation_reaches_the_running_server_and_keeps_old_tokens_valid(private_server, new_session, recorder):
    srv = private_server
    http = new_session()
    admin = Admin(new_session(), srv.base_url, ("admin", ADMIN_PASSWORD), recorder)
    provider = assert_json_public(http.get(srv.base_url + DISCOVERY, timeout=15))
    redirect_uri = f"http://127.0.0.1:{unused_loopback_port()}/cb"
    client = oidc_client(admin, redirect_uri)
    consumer_info = http.get(srv.base_url + CONSUMER_INFO, timeout=15)
    assert consumer_info.status_code == 200

    old_kids = [key["kid"] for key in assert_json_public(http.get(provider["jwks_uri"], timeout=15))["keys"]]
    assert len(old_kids) == 1
    old_token, old_nonce = sign_in(srv, new_session, recorder, admin, client, redirect_uri, provider)
    assert header_kid(old_token["id_token"]) == old_kids[0]

    rotated = keys_rotate(srv.database, "--json")
    assert rotated.returncode == 0, rotated.stderr
    answer = json.loads(rotated.stdout)
    assert set(answer) == {"kid", "createdAt"} and answer["kid"] not in old_kids
    assert abs(answer["createdAt"] - time.time()) < 60

    # Picked up within the re-read interval (INTERFACE §14 allows 60 s): poll the JWKS.
    deadline, kids = time.monotonic() + 10 * PICK_UP_SECONDS + 5, None
    while time.monotonic() < deadline:
        kids = [key["kid"] for key in assert_json_public(http.get(provider["jwks_uri"], timeout=15))["keys"]]
        if answer["kid"] in kids:
            break
        time.sleep(0.25)
    assert kids == [old_kids[0], answer["kid"]], kids

    # A new id_token is signed with the new key and validates against the JWKS; the old one still does.
    keys = key_set(http, provider)
    new_token, new_nonce = sign_in(srv, new_session, recorder, admin, client, redirect_uri, provider)
    assert header_kid(new_token["id_token"]) == answer["kid"]
    validate(new_token["id_token"], keys, srv.base_url, client["clientId"], new_token["access_token"], new_nonce)
    validate(old_token["id_token"], keys, srv.base_url, client["clientId"], old_token["access_token"], old_nonce)
    assert unverified_claims(new_token["id_token"])["sub"] != unverified_claims(old_token["id_token"])["sub"]

    # §7: the application link's key is not rotated.
    assert http.get(srv.base_url + CONSUMER_INFO, timeout=15).text == consumer_info.text

    # Without --json: just the kid; a second rotation lists a third key, the first two stay.
    again = keys_rotate(srv.database)
    assert again.returncode == 0, again.stderr
    third = again.stdout.strip()
    assert len(third) == 43 and third not in (old_kids[0], answer["kid"]), again.stdout
    deadline = time.monotonic() + 10 * PICK_UP_SECONDS + 5
    while time.monotonic() < deadline:
        kids = [key["kid"] for key in assert_json_public(http.get(provider["jwks_uri"], timeout=15))["keys"]]
        if third in kids:
            break
        time.sleep(0.25)
    assert kids == [old_kids[0], answer["kid"], third], kids

    # Each rotation is audited (actor cli:<OS user>, subject the new kid).
    entries = admin.request("GET", AUDIT, params={"action": "keys.rotate", "limit": 10})
    assert entries.status_code == 200
    rotations = [(entry["subject"], entry["actor"].startswith("cli:")) for entry in entries.json()["entries"]]
    assert sorted(rotations) == sorted([(answer["kid"], True), (third, True)]), rotations


def test_rotate_on_a_missing_database_is_one_line_error(tmp_path):
    result = keys_rotate(tmp_path / "nowhere.sqlite")
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.strip().count("\n") == 0 and "no database file" in result.stderr, result.stderr
    assert not (tmp_path / "nowhere.sqlite").exists()
