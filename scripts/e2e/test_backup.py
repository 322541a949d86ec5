"""`linkgate backup` (INTERFACE §15): a consistent copy of a SQLite database while `serve` writes to it."""
import base64
import hashlib
import os
import sqlite3
import subprocess
import threading
import time

import requests

from conftest import ADMIN_PASSWORD, DEFAULT_BIN, launch_server, shutdown_server
from oauth_support import CLIENTS, TOKEN, describe

BINARY = os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN))


def storage_digest(token):
    """How the server stores a token: base64url(SHA-256), no padding; a time-ordered token (12
    lowercase hex digits of milliseconds, then 43 characters) keeps its time prefix in front."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    if len(token) == 55 and all(c in "0123456789abcdef" for c in token[:12]):
        return token[:12] + digest
    return digest


def backup(database, destination):
    return subprocess.run([BINARY, "backup", "--database", str(database), "--to", str(destination)],
                          capture_output=True, text=True, timeout=120)


def test_backup_under_write_load_is_consistent_and_holds_every_acknowledged_token(tmp_path):
    database = tmp_path / "live.sqlite"
    srv = launch_server(tmp_path, database=database)
    try:
        created = requests.post(srv.base_url + CLIENTS, auth=("admin", ADMIN_PASSWORD), timeout=15,
                                json={"name": "backup load", "redirects": [], "scope": "READ"})
        assert created.status_code == 201, describe(created)
        client = (created.json()["clientId"], created.json()["clientSecret"])
        acknowledged, lock, stop = [], threading.Lock(), threading.Event()

        def load():
            session = requests.Session()
            while not stop.is_set():
                answer = session.post(srv.base_url + TOKEN, auth=client, data={"grant_type": "client_credentials"}, timeout=15)
                assert answer.status_code == 200, describe(answer)
                with lock:
                    acknowledged.append((time.monotonic(), answer.json()["access_token"]))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        began = time.monotonic()
        copies = []
        for number in range(3):                                # three backups in the middle of the load
            destination = tmp_path / f"copy-{number}.sqlite"
            result = backup(database, destination)
            assert result.returncode == 0, result.stderr
            copies.append((began, destination))
            began = time.monotonic()
            time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert len(acknowledged) > 50, f"only {len(acknowledged)} tokens under load"

        for started, destination in copies:
            with sqlite3.connect(f"file:{destination}?mode=ro", uri=True) as copy:
                assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                stored = {row[0] for row in copy.execute("SELECT digest FROM oauth2_tokens")}
            before = [token for at, token in acknowledged if at < started]
            assert before, "no token was acknowledged before the backup began"
            missing = [token for token in before if storage_digest(token) not in stored]
            assert not missing, f"{len(missing)} of {len(before)} tokens acknowledged before the backup are not in it"
        print(f"\n{len(acknowledged)} tokens issued under load; 3 backups, each holding every token acknowledged before it began")
        # The server is unaffected: it keeps answering and its own database still checks out.
        assert requests.post(srv.base_url + TOKEN, auth=client, data={"grant_type": "client_credentials"}, timeout=15).status_code == 200
    finally:
        shutdown_server(srv)
    with sqlite3.connect(database) as live:
        assert live.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_backup_refuses_an_existing_file_a_missing_database_and_postgres_with_one_line(tmp_path):
    database = tmp_path / "live.sqlite"
    srv = launch_server(tmp_path, database=database)
    shutdown_server(srv)
    existing = tmp_path / "taken.sqlite"
    existing.write_bytes(b"keep me")
    for result in (backup(database, existing), backup(tmp_path / "absent.sqlite", tmp_path / "new.sqlite")):
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: backup failed:"), result.stderr
    assert existing.read_bytes() == b"keep me"
    assert not (tmp_path / "new.sqlite").exists()
    postgres = backup("postgres://user:secret@127.0.0.1:1/db", tmp_path / "pg.sqlite")
    assert postgres.returncode != 0 and "pg_dump" in postgres.stderr and "secret" not in postgres.stderr
