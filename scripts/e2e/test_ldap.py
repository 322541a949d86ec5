"""A shared user base from an LDAP directory (INTERFACE §13), against a real private slapd
(scripts/ldap-test-server, loaded from scripts/ldap/directory.ldif) and the real binary.

The module's slapd and Linkgate are shared by its tests; each test uses its own directory users,
and the tests that change the directory (delete, modify, stop) come last.
"""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN_PASSWORD, REPO_ROOT, launch_server, shutdown_server
from oauth1_support import CONSUMERS, new_rsa_key, sign
from oauth_support import CLIENTS, MYSELF, TOKEN, USERS, describe

SUFFIX = "dc=example,dc=com"
SERVICE_DN = f"cn=linkgate,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "linkgate-service-secret"
ADMINS = f"cn=linkgate-admins,ou=groups,{SUFFIX}"
CACHE_TTL = 2
ADMIN = ("admin", ADMIN_PASSWORD)


class Directory:
    """The private slapd of this module, and the rootdn's tools to change it."""

    def __init__(self, folder, port):
        self.folder, self.port = folder, port
        self.url = f"ldap://127.0.0.1:{port}"

    def run(self, *args):
        return subprocess.run([str(REPO_ROOT / "scripts" / "ldap-test-server"), *args, str(self.folder), str(self.port)],
                              capture_output=True, text=True, timeout=60)

    def start(self):
        result = self.run("start")
        assert result.returncode == 0, result.stderr + result.stdout

    def stop(self):
        result = subprocess.run([str(REPO_ROOT / "scripts" / "ldap-test-server"), "stop", str(self.folder)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr + result.stdout

    def as_root(self, tool, ldif=None, *args):
        command = [tool, "-x", "-H", self.url, "-D", f"cn=admin,{SUFFIX}", "-y", str(self.folder / "admin-password"), *args]
        result = subprocess.run(command, input=ldif, capture_output=True, text=True, timeout=30,
                                env=dict(os.environ, LDAPNOINIT="1"))
        assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"

    def delete(self, dn):
        self.as_root("ldapdelete", None, dn)

    def modify(self, ldif):
        self.as_root("ldapmodify", ldif)


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    if not shutil.which("slapd") and not Path("/usr/sbin/slapd").exists():
        pytest.fail("slapd is not installed: run scripts/install-test-deps")
    folder = tmp_path_factory.mktemp("slapd")
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    found = Directory(folder, port)
    found.start()
    yield found
    found.stop()


def ldap_args(directory, admin_group=ADMINS, ttl=CACHE_TTL):
    return ["--ldap-url", directory.url, "--ldap-bind-dn", SERVICE_DN, "--ldap-base-dn", SUFFIX,
            "--ldap-admin-group", admin_group, "--ldap-cache-ttl", str(ttl)]


@pytest.fixture(scope="module")
def linkgate(directory, tmp_path_factory):
    os.environ["LINKGATE_LDAP_BIND_PASSWORD"] = SERVICE_PASSWORD
    try:
        srv = launch_server(tmp_path_factory.mktemp("linkgate-ldap"), extra_args=ldap_args(directory))
    finally:
        del os.environ["LINKGATE_LDAP_BIND_PASSWORD"]
    yield srv
    shutdown_server(srv)
    assert SERVICE_PASSWORD not in srv.log_text()
    for secret in ("alice-secret", "bob-secret", "carol-secret", "twin-secret", "zoe-secret", "special-secret"):
        assert secret not in srv.log_text(), f"{secret} in the server log"


@pytest.fixture(autouse=True)
def _lift_module_lockouts(request):
    """This module's tests all fail passwords from 127.0.0.1 on purpose: after each, an admin lifts
    the §10 lockouts of the module's server, so one test's failures never lock out the next."""
    yield
    if "linkgate" in request.fixturenames:
        srv = request.getfixturevalue("linkgate")
        lifted = requests.delete(srv.base_url + "/rest/api/latest/lockout", auth=ADMIN, timeout=10)
        assert lifted.status_code == 204, describe(lifted)


def myself(base, auth):
    return requests.get(base + MYSELF, auth=auth, timeout=15)


def test_a_directory_user_logs_in_and_becomes_a_shadow_user(linkgate):
    me = myself(linkgate.base_url, ("alice", "alice-secret"))
    assert me.status_code == 200, describe(me)
    body = me.json()
    assert (body["name"], body["displayName"], body["email"], body["admin"], body["directory"]) == \
        ("alice", "Alice Liddell", "alice@example.com", True, "ldap")      # admin: member of cn=linkgate-admins
    listed = {user["name"]: user for user in requests.get(linkgate.base_url + USERS, auth=ADMIN, timeout=15).json()}
    assert listed["alice"]["directory"] == "ldap" and listed["admin"]["directory"] == "local"
    bob = myself(linkgate.base_url, ("bob", "bob-secret")).json()
    assert (bob["admin"], bob["directory"]) == (False, "ldap")


def test_wrong_passwords_unknown_names_and_empty_passwords_fail(linkgate):
    for auth in [("bob", "not-bobs"), ("nobody-here", "whatever-1"), ("bob", ""), ("", "bob-secret")]:
        assert myself(linkgate.base_url, auth).status_code == 401, auth


def test_two_entries_for_one_name_fail_even_with_the_right_password(linkgate):
    assert myself(linkgate.base_url, ("twin", "twin-secret")).status_code == 401


@pytest.mark.parametrize("name", ["*", "alice)(uid=*", "*)(|(uid=*", "alic*", "alice)(|(objectClass=*)", "\\2a", "alice\x00"])
def test_filter_injection_finds_nobody(linkgate, name):
    assert myself(linkgate.base_url, (name, "alice-secret")).status_code in (400, 401), name


def test_names_needing_escaping_and_non_ascii_names_log_in(linkgate):
    special = myself(linkgate.base_url, ("j*doe(ops)\\x", "special-secret"))
    assert special.status_code == 200 and special.json()["displayName"] == "Special Person", describe(special)
    # UTF-8 credentials, as the server's challenge asks (RFC 7617 §2.1; requests sends str as Latin-1).
    zoe = myself(linkgate.base_url, ("zoë".encode(), b"zoe-secret"))
    assert zoe.status_code == 200 and zoe.json()["displayName"] == "Zoë Yamada", describe(zoe)
    smith = myself(linkgate.base_url, ("jsmith", "jsmith-secret"))
    assert smith.status_code == 200 and smith.json()["email"] is None, describe(smith)


def test_local_users_win_on_a_name_clash(linkgate):
    created = requests.post(linkgate.base_url + USERS, auth=ADMIN, timeout=15,
                            json={"name": "carol", "password": "carol-local-pass", "displayName": "Local Carol"})
    assert created.status_code == 201, describe(created)
    assert myself(linkgate.base_url, ("carol", "carol-secret")).status_code == 401
    local = myself(linkgate.base_url, ("carol", "carol-local-pass"))
    assert local.status_code == 200 and local.json()["directory"] == "local", describe(local)


def test_admin_from_a_groupOfUniqueNames_or_memberOf(directory, tmp_path):
    os.environ["LINKGATE_LDAP_BIND_PASSWORD"] = SERVICE_PASSWORD
    try:
        srv = launch_server(tmp_path, extra_args=ldap_args(directory, admin_group=f"cn=operators,ou=groups,{SUFFIX}"))
    finally:
        del os.environ["LINKGATE_LDAP_BIND_PASSWORD"]
    try:
        # carol is a uniqueMember of cn=operators; alice is not.
        assert myself(srv.base_url, ("carol", "carol-secret")).json()["admin"] is True
        assert myself(srv.base_url, ("alice", "alice-secret")).json()["admin"] is False
    finally:
        shutdown_server(srv)


def test_a_directory_users_password_and_admin_flag_are_not_set_here(linkgate):
    assert myself(linkgate.base_url, ("bob", "bob-secret")).status_code == 200
    for change in ({"password": "a-new-password-1"}, {"admin": True}):
        refused = requests.put(linkgate.base_url + USERS + "/bob", auth=ADMIN, json=change, timeout=15)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", describe(refused)
    assert myself(linkgate.base_url, ("bob", "bob-secret")).status_code == 200


def test_an_admin_may_delete_the_shadow_record_and_it_comes_back(linkgate):
    assert myself(linkgate.base_url, ("zoë".encode(), b"zoe-secret")).status_code == 200
    deleted = requests.delete(linkgate.base_url + USERS + "/zo%C3%AB", auth=ADMIN, timeout=15)
    assert deleted.status_code == 204, describe(deleted)
    assert requests.get(linkgate.base_url + USERS + "/zo%C3%AB", auth=ADMIN, timeout=15).status_code == 404
    assert myself(linkgate.base_url, ("zoë".encode(), b"zoe-secret")).status_code == 200
    assert requests.get(linkgate.base_url + USERS + "/zo%C3%AB", auth=ADMIN, timeout=15).json()["directory"] == "ldap"


def test_the_login_page_accepts_directory_users(linkgate):
    session = requests.Session()
    page = session.get(linkgate.base_url + "/login", timeout=15)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = session.post(linkgate.base_url + "/login", allow_redirects=False, timeout=15,
                        data={"username": "jsmith", "password": "jsmith-secret", "csrf_token": csrf, "next": "/"})
    assert done.status_code == 303, describe(done)
    assert "Smith, John" in session.get(linkgate.base_url + "/", timeout=15).text


def test_password_checks_are_throttled_like_local_ones_and_a_throttled_check_skips_the_directory(linkgate, directory):
    for _ in range(5):
        assert myself(linkgate.base_url, ("alice", "wrong-guess")).status_code == 401
    locked = myself(linkgate.base_url, ("alice", "alice-secret"))
    assert locked.status_code == 429 and "Retry-After" in locked.headers, describe(locked)
    # Refused before the directory is asked: with the directory down it is still 429, not 503.
    directory.stop()
    try:
        assert myself(linkgate.base_url, ("alice", "another-guess")).status_code == 429
    finally:
        directory.start()
    lifted = requests.delete(linkgate.base_url + "/rest/api/latest/lockout", params={"user": "alice"}, auth=ADMIN, timeout=15)
    assert lifted.status_code in (200, 204), describe(lifted)
    assert myself(linkgate.base_url, ("alice", "alice-secret")).status_code == 200


def test_the_directory_refreshes_the_shadow_at_each_check(linkgate, directory):
    assert myself(linkgate.base_url, ("bob", "bob-secret")).json()["displayName"] == "Bob Builder"
    directory.modify(f"dn: uid=bob,ou=people,{SUFFIX}\nchangetype: modify\nreplace: cn\ncn: Robert Builder\n"
                     "-\nreplace: userPassword\nuserPassword: bob-secret-2\n")
    me = myself(linkgate.base_url, ("bob", "bob-secret-2"))
    assert me.status_code == 200 and me.json()["displayName"] == "Robert Builder", describe(me)
    # A remembered (name, password) pair is trusted for at most --ldap-cache-ttl: then the old one fails.
    time.sleep(CACHE_TTL + 0.5)
    assert myself(linkgate.base_url, ("bob", "bob-secret")).status_code == 401


def register_client(base, execute_as):
    created = requests.post(base + CLIENTS, auth=ADMIN, timeout=15, json={
        "name": f"robot for {execute_as}", "redirects": [], "scope": "READ", "executeAs": execute_as})
    assert created.status_code == 201, describe(created)
    return created.json()["clientId"], created.json()["clientSecret"]


def register_consumer(base, key):
    pair = new_rsa_key()
    created = requests.post(base + CONSUMERS, auth=ADMIN, timeout=15, json={
        "key": key, "name": key, "publicKey": pair.public_pem, "twoLeggedAllowed": True, "impersonationAllowed": True})
    assert created.status_code == 201, describe(created)
    return pair


def two_legged_as(base, pair, key, user):
    signed = sign(pair, key, "GET", base + MYSELF, query=[("xoauth_requestor_id", user)], token="")
    return requests.get(signed.url, headers=signed.headers, timeout=15)


def test_impersonation_and_execute_as_follow_the_directory(linkgate, directory):
    base = linkgate.base_url
    # carol's directory entry (uid=carol) is shadowed by a local carol; jsmith is a directory user never
    # impersonated yet: executeAs and xoauth_requestor_id accept directory users not seen before.
    client_id, secret = register_client(base, "jsmith")
    token = requests.post(base + TOKEN, auth=(client_id, secret), data={"grant_type": "client_credentials"}, timeout=15)
    assert token.status_code == 200, describe(token)
    bearer = {"Authorization": "Bearer " + token.json()["access_token"]}
    assert requests.get(base + MYSELF, headers=bearer, timeout=15).json()["name"] == "jsmith"
    pair = register_consumer(base, "ldap-2lo")
    impersonated = two_legged_as(base, pair, "ldap-2lo", "jsmith")
    assert impersonated.status_code == 200 and impersonated.json()["directory"] == "ldap", describe(impersonated)

    directory.delete(f"cn=Smith\\, John,ou=people,{SUFFIX}")
    time.sleep(CACHE_TTL + 0.5)
    gone = requests.get(base + MYSELF, headers=bearer, timeout=15)
    assert gone.status_code == 401, describe(gone)                                   # its token stopped working
    assert two_legged_as(base, pair, "ldap-2lo", "jsmith").status_code == 401           # no longer impersonable
    again = requests.post(base + TOKEN, auth=(client_id, secret), data={"grant_type": "client_credentials"}, timeout=15)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", describe(again)
    assert myself(base, ("jsmith", "jsmith-secret")).status_code == 401


def test_directory_down_local_users_unaffected_directory_users_503_then_recovery(linkgate, directory):
    base = linkgate.base_url
    directory.stop()
    try:
        assert myself(base, ADMIN).status_code == 200                                   # local: unaffected
        began = time.monotonic()
        down = myself(base, ("twin", "twin-secret"))                                     # not remembered: needs the directory
        took = time.monotonic() - began
        assert down.status_code == 503 and down.json()["error"] == "temporarily_unavailable", describe(down)
        assert took < 7, f"503 took {took:.1f} s"
        print(f"\ndirectory down: 503 after {took:.2f} s")
        session = requests.Session()
        page = session.get(base + "/login", timeout=15)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        login = session.post(base + "/login", timeout=15, allow_redirects=False,
                             data={"username": "bob", "password": "not-remembered-1", "csrf_token": csrf, "next": "/"})
        assert login.status_code == 503 and "directory cannot be reached" in login.text, describe(login)
        time.sleep(CACHE_TTL + 0.5)     # no remembered pair or directory answer is fresh any more
        assert myself(base, ("j*doe(ops)\\x", "special-secret")).status_code == 503
    finally:
        directory.start()
    deadline = time.monotonic() + 15
    while myself(base, ("j*doe(ops)\\x", "special-secret")).status_code != 200:
        assert time.monotonic() < deadline, "no recovery within 15 s of the directory coming back"
        time.sleep(0.2)


def test_the_system_page_shows_the_directory_reachable(linkgate, directory):
    """INTERFACE §15: the console's System page names the directory and says it answers."""
    from console_support import ConsoleSession
    console = ConsoleSession(requests.Session(), linkgate.base_url).login("admin", ADMIN[1])
    page = console.get("/admin/system")
    assert page.status_code == 200, describe(page)
    state = re.search(r'<dd id="directory">(.*?)</dd>', page.text, re.S).group(1)
    assert f"ldap at <code>{directory.url}, base {SUFFIX}</code>" in state, state
    assert "<strong>reachable</strong>" in state and "unreachable" not in state, state
    assert SERVICE_PASSWORD not in page.text
