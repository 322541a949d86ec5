"""INTERFACE §10 against the real binary: password guessing is throttled before scrypt runs,
client secrets likewise, and nothing secret reaches the log. Uses a private server, since it
locks 127.0.0.1 out on purpose."""
import statistics
import threading
import time
import uuid

import pytest
import requests

from conftest import ADMIN_PASSWORD, launch_server, shutdown_server

USERS = "/rest/api/latest/user"
MYSELF = "/rest/api/latest/myself"
LOCKOUT = "/rest/api/latest/lockout"
TOKEN = "/rest/oauth2/latest/token"


@pytest.fixture(scope="module")
def private(tmp_path_factory):
    srv = launch_server(tmp_path_factory.mktemp("abuse"))
    yield srv
    shutdown_server(srv)


def test_guessing_flood_is_refused_without_hashing(private):
    base = private.base_url
    admin = ("admin", ADMIN_PASSWORD)
    created = requests.post(base + USERS, auth=admin, json={"name": "alice", "password": "alice-password-1"}, timeout=10)
    assert created.status_code == 201, created.text
    client = requests.post(base + "/rest/oauth2/latest/client", auth=admin,
                           json={"name": "Svc", "redirects": [], "scope": "READ"}, timeout=10).json()

    # 5 wrong passwords for alice from this address lock the pair: the right one is refused too.
    for _ in range(5):
        assert requests.get(base + MYSELF, auth=("alice", "wrong-" + uuid.uuid4().hex), timeout=10).status_code == 401
    refused = requests.get(base + MYSELF, auth=("alice", "alice-password-1"), timeout=10)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "too_many_requests" and int(refused.headers["Retry-After"]) > 0
    lockouts = requests.get(base + LOCKOUT, auth=admin, timeout=10).json()
    assert {"user": "alice", "address": "127.0.0.1", "failures": 5, "kind": "password"}.items() <= lockouts[0].items(), lockouts

    # A flood of new names from 8 threads: once the address has 20 failures, every check is a 429
    # answered without scrypt (well under one hash's time).
    statuses, latencies, lock = [], [], threading.Lock()

    def guess():
        s = requests.Session()
        for _ in range(40):
            started = time.monotonic()
            r = s.get(base + MYSELF, auth=("user-" + uuid.uuid4().hex[:8], "guess-" + uuid.uuid4().hex), timeout=30)
            with lock:
                statuses.append(r.status_code)
                latencies.append((r.status_code, time.monotonic() - started))

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {401, 429}, set(statuses)
    # 5 of the address's 20 went on alice above. Checks running in parallel count against the
    # limit before they finish, so no burst gets past it.
    assert statuses.count(401) <= 15, f"{statuses.count(401)} guesses were checked; the address limit is 20"
    assert statuses.count(429) >= len(statuses) - 15, statuses.count(429)
    refused_ms = statistics.median(t for s, t in latencies if s == 429) * 1000
    print(f"guessing flood: {len(statuses)} guesses, {statuses.count(401)} checked (401), {statuses.count(429)} refused (429), "
          f"median 429 in {refused_ms:.1f} ms")
    assert refused_ms < 50, f"refusals took {refused_ms:.1f} ms: the KDF seems to run"

    # The address is locked for every name, the admin's included; client secrets are counted apart.
    assert requests.get(base + USERS, auth=admin, timeout=10).status_code == 429
    for _ in range(5):
        bad = requests.post(base + TOKEN, auth=(client["clientId"], "wrong"), data={"grant_type": "client_credentials"}, timeout=10)
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_client", bad.text
    good = requests.post(base + TOKEN, auth=(client["clientId"], client["clientSecret"]), data={"grant_type": "client_credentials"}, timeout=10)
    assert good.status_code == 429 and good.json()["error"] == "too_many_requests" and "Retry-After" in good.headers, good.text

    # No password or secret reached the log.
    log = private.log_text()
    for secret in ("alice-password-1", client["clientSecret"], ADMIN_PASSWORD):
        assert secret not in log
    assert "guess-" not in log
