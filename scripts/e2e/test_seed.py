"""`serve --seed FILE` (INTERFACE §12): applied at every start, idempotently; a bad file stops the start."""
import json
import os
import subprocess

import requests

from conftest import DEFAULT_BIN, launch_server, shutdown_server

TOKEN = "/rest/oauth2/latest/token"
SEED = {
    "users": [{"name": "seeded", "password": "seeded-pass-1", "displayName": "Seeded"}],
    "clients": [{"name": "Seeded Jira", "redirects": ["https://jira.example/cb"], "scope": "WRITE",
                 "clientId": "seeded-jira", "clientSecret": "seeded-secret-0123456789"}],
}


def test_seed_applied_twice_creates_once_and_keeps_fixed_credentials(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    for start in range(2):
        srv = launch_server(tmp_path, extra_args=["--seed", str(seed)])
        try:
            token = requests.post(srv.base_url + TOKEN, auth=("seeded-jira", "seeded-secret-0123456789"),
                                  data={"grant_type": "client_credentials"}, timeout=15)
            assert token.status_code == 200, token.text
            me = requests.get(srv.base_url + "/rest/api/latest/myself", auth=("seeded", "seeded-pass-1"), timeout=15)
            assert me.status_code == 200 and me.json()["displayName"] == "Seeded", me.text
        finally:
            shutdown_server(srv)
    log = srv.log_text()
    assert "created=2 unchanged=0 updated=0" in log, log
    assert "created=0 unchanged=2 updated=0" in log, log


def test_a_bad_seed_file_stops_the_start_naming_the_entry(tmp_path):
    seed = tmp_path / "bad.json"
    seed.write_text(json.dumps({"clients": [{"name": "Broken", "redirects": ["ftp://x"], "scope": "READ"}]}))
    binary = os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN))
    result = subprocess.run([binary, "serve", "--port", "0", "--database", str(tmp_path / "l.sqlite"), "--seed", str(seed)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "clients[0] (Broken): redirects:" in result.stdout + result.stderr, result.stdout + result.stderr
