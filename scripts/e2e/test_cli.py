"""The admin commands `linkgate user|client|consumer` (INTERFACE §15) against a running `serve` on the
same database (SQLite here; PostgreSQL with $LINKGATE_E2E_POSTGRES): every subcommand, `--json`
output in the REST API's entity shapes, one-line errors with a non-zero exit, secrets shown once,
the shared audit log, and changes taking effect in the running server within 2 s (§11, §15)."""
import getpass
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, DEFAULT_BIN, launch_server, shutdown_server
from oauth1_support import CONSUMER_KEYS, new_rsa_key, sign
from oauth_support import (AUDIT, CLIENTS, MYSELF, TOKEN, USERS, assertion_claims, describe, jwt_bearer_data,
                           signed_assertion, uniq)

BINARY = os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN))
ADMIN = ("admin", ADMIN_PASSWORD)
PROPAGATION_LIMIT = 2.0                  # INTERFACE §15
USER_KEYS = {"name", "displayName", "email", "admin", "directory"}
CLIENT_KEYS = {"id", "clientId", "clientSecret", "name", "redirects", "scope", "impersonation", "publicKey",
               "executeAs", "allowedAddresses"}
ACTOR = "cli:" + getpass.getuser()
MEASURED = {}                            # what propagated: ms after the command returned / after it started
LAST_STARTED = [0.0]                     # when the latest command was started


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = launch_server(tmp_path_factory.mktemp("cli"))
    yield server
    shutdown_server(server)
    if MEASURED:
        print("\nin effect in the running server, ms after the command returned / after it started: "
              + "; ".join(f"{what} {after * 1000:.0f} / {total * 1000:.0f}" for what, (after, total) in MEASURED.items()))


def linkgate(srv, *args, stdin=None, database=True):
    command = [BINARY, *args] + (["--database", str(srv.database)] if database else [])
    LAST_STARTED[0] = time.monotonic()
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)


def succeeds(result):
    assert result.returncode == 0, f"exit {result.returncode}; stderr: {result.stderr!r}; stdout: {result.stdout!r}"
    return result.stdout


def json_of(result):
    return json.loads(succeeds(result))


def fails(result, *fragments):
    """A non-zero exit with exactly one line on stderr (naming `fragments`), nothing on stdout; the line."""
    assert result.returncode != 0, f"expected a failure; stdout: {result.stdout!r}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {result.stderr!r}"
    line = lines[0]
    assert line.startswith("Error: ") and not line.startswith("Error: Error") and not line.startswith("Error: error"), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert result.stdout == "", result.stdout
    return line


def until(what, condition, limit=PROPAGATION_LIMIT):
    """Polls `condition` until it holds; fails past `limit` seconds after the latest command returned.
    Records the time taken from then and from the command's start (an upper bound from its commit)."""
    began, started = time.monotonic(), LAST_STARTED[0]
    while True:
        if condition():
            now = time.monotonic()
            MEASURED[what] = (now - began, now - started)
            return now - began
        if time.monotonic() - began > limit:
            pytest.fail(f"{what}: not in effect in the running server after {limit} s")
        time.sleep(0.02)


def password():
    return "pw-" + os.urandom(9).hex()


def basic_status(srv, name, secret):
    return requests.get(srv.base_url + MYSELF, auth=(name, secret), timeout=15).status_code


def client_credentials(srv, client_id, secret):
    return requests.post(srv.base_url + TOKEN, auth=(client_id, secret), data={"grant_type": "client_credentials"}, timeout=15)


def audit(srv):
    resp = requests.get(srv.base_url + AUDIT, auth=ADMIN, params={"limit": 500}, timeout=15)
    assert resp.status_code == 200, describe(resp)
    return resp.json()["entries"]


# --------------------------------------------------------------------------------------------
# user add | list | passwd | delete
# --------------------------------------------------------------------------------------------

def test_user_commands(srv):
    name, secret = uniq("cli-user"), password()
    created = json_of(linkgate(srv, "user", "add", name, "--display-name", "CLI Person", "--email", "cli@example.com",
                               "--json", stdin=secret + "\n"))
    assert created == {"name": name, "displayName": "CLI Person", "email": "cli@example.com", "admin": False,
                       "directory": "local"}, created
    rest = requests.get(f"{srv.base_url}{USERS}/{name}", auth=ADMIN, timeout=15)
    assert rest.status_code == 200 and rest.json() == created, describe(rest)
    assert basic_status(srv, name, secret) == 200
    assert secret not in created.values()

    # Text output, and an admin user.
    boss = uniq("cli-boss")
    text = succeeds(linkgate(srv, "user", "add", boss, "--admin", stdin=password() + "\n"))
    assert text.strip() == f"created user '{boss}' (admin)", text

    listed = json_of(linkgate(srv, "user", "list", "--json"))
    assert isinstance(listed, list) and all(set(user) == USER_KEYS for user in listed), listed
    assert {"admin", name, boss} <= {user["name"] for user in listed}
    assert listed == requests.get(srv.base_url + USERS, auth=ADMIN, timeout=15).json()
    table = succeeds(linkgate(srv, "user", "list"))
    assert any(line.split()[0] == name and "cli@example.com" in line for line in table.splitlines()), table

    # Errors: one line each, non-zero exit, nothing changed.
    fails(linkgate(srv, "user", "add", name, stdin=password() + "\n"), "already")
    fails(linkgate(srv, "user", "add", "bad name!", stdin=password() + "\n"), "name")
    fails(linkgate(srv, "user", "add", uniq("cli-short"), stdin="short\n"), "password", "8")
    fails(linkgate(srv, "user", "add", uniq("cli-nopass"), stdin=""), "standard input")
    fails(linkgate(srv, "user", "add", uniq("cli-mail"), "--email", "not-an-address", stdin=password() + "\n"), "email")
    fails(linkgate(srv, "user", "delete", "nobody-" + uniq("x")), "no user named")
    fails(linkgate(srv, "user", "passwd", "nobody-" + uniq("x"), stdin=password() + "\n"), "no user named")
    fails(linkgate(srv, "user", "passwd", name, stdin="short\n"), "password")
    assert basic_status(srv, name, secret) == 200

    # passwd while serve runs: the old password (verified and cached by the server just now) stops
    # working, the new one works.
    new_secret = password()
    changed = json_of(linkgate(srv, "user", "passwd", name, "--json", stdin=new_secret + "\n"))
    assert changed == created
    until("user passwd (old password refused)", lambda: basic_status(srv, name, secret) == 401)
    assert basic_status(srv, name, new_secret) == 200

    # delete: gone from the server (Basic refused) and from the list.
    deleted = json_of(linkgate(srv, "user", "delete", name, "--json"))
    assert deleted["name"] == name
    until("user delete (Basic refused)", lambda: basic_status(srv, name, new_secret) == 401)
    assert name not in {user["name"] for user in json_of(linkgate(srv, "user", "list", "--json"))}
    text = succeeds(linkgate(srv, "user", "delete", boss))
    assert text.strip().startswith(f"deleted user '{boss}'"), text
    fails(linkgate(srv, "user", "delete", name), "no user named")

    # The CLI's changes are in the same audit log as REST's, with the CLI as the actor.
    mine = [(entry["action"], entry["subject"]) for entry in audit(srv) if entry["actor"] == ACTOR]
    for action in ("user.create", "user.update", "user.delete"):
        assert (action, name) in mine, (action, mine)
    assert ("user.create", boss) in mine


def test_user_delete_kills_the_users_bearer_tokens(srv, tmp_path):
    """A deleted user's tokens die in the running server within 2 s (INTERFACE §3, §15)."""
    name = uniq("cli-token-user")
    succeeds(linkgate(srv, "user", "add", name, stdin=password() + "\n"))
    keys = new_rsa_key()
    key_file = tmp_path / "client.pem"
    key_file.write_text(keys.public_pem)
    client = json_of(linkgate(srv, "client", "add", uniq("cli-imp"), "--scope", "WRITE", "--impersonation",
                              "--public-key-file", str(key_file), "--json"))
    assert client["impersonation"] is True and client["publicKey"] and client["clientSecret"]
    assertion = signed_assertion(keys.private_key, assertion_claims(srv.base_url, client["clientId"], name))
    issued = requests.post(srv.base_url + TOKEN, data=jwt_bearer_data(assertion), timeout=15)
    assert issued.status_code == 200, describe(issued)
    bearer = {"Authorization": "Bearer " + issued.json()["access_token"]}

    def myself():
        return requests.get(srv.base_url + MYSELF, headers=bearer, timeout=15)

    assert myself().status_code == 200 and myself().json()["name"] == name
    succeeds(linkgate(srv, "user", "delete", name))
    until("user delete (bearer token refused)", lambda: myself().status_code == 401)
    succeeds(linkgate(srv, "client", "delete", client["clientId"]))


# --------------------------------------------------------------------------------------------
# client add | list | reset-secret | delete
# --------------------------------------------------------------------------------------------

def test_client_commands(srv, tmp_path):
    name = uniq("cli-client")
    text = succeeds(linkgate(srv, "client", "add", name, "--scope", "READ", "--redirect", "https://app.example/cb",
                             "--redirect", "http://127.0.0.1:9000/cb", "--allowed-address", "127.0.0.0/8"))
    fields = dict(line.split(":", 1) for line in text.splitlines() if line.startswith("client "))
    client_id, secret = fields["client id"].strip(), fields["client secret"].strip()
    assert text.count(secret) == 1 and "shown only this once" in text, text

    rest = requests.get(f"{srv.base_url}{CLIENTS}/{client_id}", auth=ADMIN, timeout=15)
    assert rest.status_code == 200, describe(rest)
    assert rest.json()["redirects"] == ["https://app.example/cb", "http://127.0.0.1:9000/cb"]
    assert rest.json()["scope"] == "READ" and rest.json()["allowedAddresses"] == ["127.0.0.0/8"]

    # --json on add carries the secret (once); list never does, and matches REST's list.
    other = json_of(linkgate(srv, "client", "add", uniq("cli-client-json"), "--scope", "WRITE", "--json"))
    assert set(other) == CLIENT_KEYS and other["clientSecret"] and other["redirects"] == [], other
    listing = linkgate(srv, "client", "list", "--json")
    listed = json_of(listing)
    assert all(set(entry) == CLIENT_KEYS and entry["clientSecret"] is None for entry in listed), listed
    assert secret not in listing.stdout and other["clientSecret"] not in listing.stdout
    assert listed == requests.get(srv.base_url + CLIENTS, auth=ADMIN, timeout=15).json()
    assert {client_id, other["clientId"]} <= {entry["clientId"] for entry in listed}
    table = succeeds(linkgate(srv, "client", "list"))
    assert any(line.split()[0] == client_id for line in table.splitlines()) and secret not in table, table

    # reset-secret while serve runs: the server has the client cached (a token was just issued
    # with the old secret); the old secret gets invalid_client, the new one works.
    assert client_credentials(srv, client_id, secret).status_code == 200
    reset = linkgate(srv, "client", "reset-secret", name)            # by name; by id below
    new_secret = dict(line.split(":", 1) for line in succeeds(reset).splitlines()
                      if line.startswith("client secret"))["client secret"].strip()
    assert new_secret != secret and reset.stdout.count(new_secret) == 1

    def old_refused():
        resp = client_credentials(srv, client_id, secret)
        return resp.status_code == 401 and resp.json()["error"] == "invalid_client"

    until("client reset-secret (old secret invalid_client)", old_refused)
    assert client_credentials(srv, client_id, new_secret).status_code == 200
    again = json_of(linkgate(srv, "client", "reset-secret", client_id, "--json"))
    assert again["clientId"] == client_id and again["clientSecret"] not in (None, secret, new_secret)

    # Errors: one line each.
    fails(linkgate(srv, "client", "add", name, "--scope", "READ"), "already")
    fails(linkgate(srv, "client", "add", uniq("cli-bad"), "--scope", "READ", "--redirect", "javascript:alert(1)"), "redirect")
    fails(linkgate(srv, "client", "add", uniq("cli-bad"), "--scope", "READ", "--redirect", "http://app.example/cb"), "redirect")
    fails(linkgate(srv, "client", "add", uniq("cli-bad"), "--scope", "EVERYTHING"), "scope")
    fails(linkgate(srv, "client", "add", uniq("cli-bad"), "--scope", "READ", "--impersonation"), "publicKey")
    fails(linkgate(srv, "client", "add", uniq("cli-bad"), "--scope", "READ", "--public-key-file", str(tmp_path / "none.pem")),
          "none.pem")
    fails(linkgate(srv, "client", "add", uniq("cli-bad"), "--scope", "READ", "--allowed-address", "300.1.1.1"), "allowedAddresses")
    fails(linkgate(srv, "client", "add", uniq("cli-bad"), "--scope", "READ", "--execute-as", "nobody-" + uniq("x")), "executeAs")
    fails(linkgate(srv, "client", "reset-secret", "no-such-client"), "no client")
    fails(linkgate(srv, "client", "delete", "no-such-client"), "no client")

    # delete: every secret dies in the running server.
    deleted = json_of(linkgate(srv, "client", "delete", client_id, "--json"))
    assert deleted["clientId"] == client_id and deleted["clientSecret"] is None
    until("client delete (invalid_client)", lambda: client_credentials(srv, client_id, again["clientSecret"]).status_code == 401)
    assert client_id not in {entry["clientId"] for entry in json_of(linkgate(srv, "client", "list", "--json"))}
    assert succeeds(linkgate(srv, "client", "delete", other["name"])).startswith(f"deleted client '{other['name']}'")
    fails(linkgate(srv, "client", "delete", client_id), "no client")

    mine = [(entry["action"], entry["client"]) for entry in audit(srv) if entry["actor"] == ACTOR]
    for action in ("client.create", "client.reset_secret", "client.delete"):
        assert any(a == action and c == client_id for a, c in mine), (action, mine)


# --------------------------------------------------------------------------------------------
# consumer add | list | delete
# --------------------------------------------------------------------------------------------

def test_consumer_commands(srv, tmp_path):
    keys = new_rsa_key()
    key_file = tmp_path / "consumer.pem"
    key_file.write_text(keys.public_pem)
    key = uniq("cli-consumer")
    created = json_of(linkgate(srv, "consumer", "add", key, "--name", "CLI Peer", "--public-key-file", str(key_file),
                               "--two-legged", "--callback", "https://peer.example/cb", "--signature-method", "RSA-SHA1",
                               "--signature-method", "RSA-SHA256", "--json"))
    assert set(created) == CONSUMER_KEYS, created
    assert created["key"] == key and created["twoLeggedAllowed"] is True and created["threeLeggedAllowed"] is True
    assert created["signatureMethods"] == ["RSA-SHA1", "RSA-SHA256"] and created["executeAs"] is None
    rest = requests.get(f"{srv.base_url}/rest/oauth1/latest/consumer/{key}", auth=ADMIN, timeout=15)
    assert rest.status_code == 200 and rest.json() == created, describe(rest)

    text = succeeds(linkgate(srv, "consumer", "add", uniq("cli-text"), "--name", "Text Peer", "--public-key-file", str(key_file),
                             "--no-three-legged"))
    assert text.startswith("created consumer ") and "modes: none" in text, text
    listed = json_of(linkgate(srv, "consumer", "list", "--json"))
    assert key in {entry["key"] for entry in listed} and all(set(entry) == CONSUMER_KEYS for entry in listed)
    assert listed == requests.get(srv.base_url + "/rest/oauth1/latest/consumer", auth=ADMIN, timeout=15).json()
    table = succeeds(linkgate(srv, "consumer", "list"))
    assert any(line.split()[0] == key and "2LO" in line for line in table.splitlines()), table

    def signed_myself():
        return sign(keys, key, "GET", srv.base_url + MYSELF).send(requests.Session())

    answer = signed_myself()
    assert answer.status_code == 200 and answer.json()["auth"]["client"] == key, describe(answer)

    fails(linkgate(srv, "consumer", "add", key, "--name", "Again", "--public-key-file", str(key_file)), "already")
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    fails(linkgate(srv, "consumer", "add", uniq("cli-bad"), "--name", "Bad", "--public-key-file", str(bad_key)), "publicKey")
    fails(linkgate(srv, "consumer", "add", uniq("cli-bad"), "--name", "Bad", "--public-key-file", str(key_file),
                   "--signature-method", "HMAC-SHA1"), "signatureMethods")
    fails(linkgate(srv, "consumer", "delete", "no-such-consumer"), "no consumer")

    # delete while serve runs: the consumer's signed requests are refused.
    deleted = json_of(linkgate(srv, "consumer", "delete", key, "--json"))
    assert deleted == created
    until("consumer delete (signed request refused)", lambda: signed_myself().status_code == 401)
    fails(linkgate(srv, "consumer", "delete", key), "no consumer")
    mine = [(entry["action"], entry["client"]) for entry in audit(srv) if entry["actor"] == ACTOR]
    assert ("consumer.create", key) in mine and ("consumer.delete", key) in mine, mine


# --------------------------------------------------------------------------------------------
# Usage errors, help, the database
# --------------------------------------------------------------------------------------------

def test_usage_errors_are_one_line_too(srv, tmp_path):
    line = fails(linkgate(srv, "client", "add", uniq("cli-x")), "--scope")     # a required option missing
    assert "Usage" not in line
    fails(linkgate(srv, "user", "add"), "name")                               # a required argument missing
    fails(linkgate(srv, "consumer", "list", "--bogus"), "--bogus")
    fails(linkgate(srv, "user", "frobnicate", database=False), "frobnicate")
    # A mistyped SQLite path is not created (serve creates databases, the admin commands do not).
    missing = tmp_path / "typo.sqlite"
    fails(linkgate(srv, "user", "list", "--database", str(missing), database=False), "typo.sqlite")
    assert not missing.exists()


def test_every_admin_command_has_help(srv):
    for group, commands in {"user": ["add", "list", "delete", "passwd"], "client": ["add", "list", "delete", "reset-secret"],
                            "consumer": ["add", "list", "delete"]}.items():
        top = linkgate(srv, group, "--help", database=False)
        assert top.returncode == 0 and all(command in top.stdout for command in commands), top.stdout
        for command in commands:
            shown = linkgate(srv, group, command, "--help", database=False)
            assert shown.returncode == 0 and "--database" in shown.stdout and "--json" in shown.stdout, shown
            # Every option line carries a description (swift-argument-parser prints it on the same
            # or the next line, indented).
            lines = shown.stdout.splitlines()
            options = [i for i, text in enumerate(lines) if text.startswith("  -")]
            for i in options:
                described = len(lines[i].split("  ")) > 2 or (i + 1 < len(lines) and lines[i + 1].startswith(" " * 8))
                assert described, f"{group} {command}: no help for {lines[i]!r}"
