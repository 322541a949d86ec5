"""`--log-format json` (INTERFACE §15): one JSON object per line with time, level, message and the
request fields; no secret in any line."""
import json

import requests

from conftest import ADMIN_PASSWORD, launch_server, shutdown_server
from oauth_support import CLIENTS, MYSELF, TOKEN, describe


def test_json_logs_one_object_per_line_with_request_fields_and_no_secrets(tmp_path):
    srv = launch_server(tmp_path, extra_args=["--log-format", "json"])
    try:
        created = requests.post(srv.base_url + CLIENTS, auth=("admin", ADMIN_PASSWORD), timeout=15,
                                json={"name": "log test", "redirects": [], "scope": "READ"})
        assert created.status_code == 201, describe(created)
        client_id, secret = created.json()["clientId"], created.json()["clientSecret"]
        assert requests.get(srv.base_url + "/status?token=query-secret-1", timeout=15).status_code == 200
        token = requests.post(srv.base_url + TOKEN, auth=(client_id, secret),
                              data={"grant_type": "client_credentials"}, timeout=15).json()["access_token"]
        assert requests.get(srv.base_url + MYSELF, headers={"Authorization": f"Bearer {token}"}, timeout=15).status_code == 200
        assert requests.get(srv.base_url + MYSELF, auth=("admin", "wrong-password-1"), timeout=15).status_code == 401
    finally:
        shutdown_server(srv)
    lines = [line for line in srv.log_text().splitlines() if line.strip()]
    assert lines
    entries = []
    for line in lines:
        entry = json.loads(line)                      # every line is one JSON object
        assert {"time", "level", "message"} <= set(entry), entry
        entries.append(entry)
    requests_logged = [e for e in entries if e["message"] == "request"]
    assert any(e.get("path") == TOKEN and e.get("method") == "POST" and e.get("status") == "200" for e in requests_logged), requests_logged
    assert all({"method", "path", "status", "ms"} <= set(e) for e in requests_logged)
    text = srv.log_text()
    for value in (secret, token, ADMIN_PASSWORD, "wrong-password-1", "query-secret-1"):
        assert value not in text, "a secret reached the log"
