"""Fixture mode's footprint (INTERFACE §12, issue 13): start time, reset time, sandbox creation
time and the memory of N sandboxes in one `linkgate fixture` process.

Run by `scripts/bench --fixture`. Times are wall-clock medians on this machine; memory is the
process's resident set (VmRSS) before and after creating the sandboxes, each seeded like the main
server (2 users, 2 clients, 1 consumer) and used for one token exchange.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests

SEED = {
    "users": [{"name": "alice", "password": "alice-password-1", "displayName": "Alice"},
              {"name": "bob", "password": "bob-password-12"}],
    "clients": [{"name": "Jira", "redirects": ["http://127.0.0.1:9/cb"], "scope": "WRITE",
                 "clientId": "jira", "clientSecret": "jira-secret-0123456789"},
                {"name": "Other", "redirects": ["http://127.0.0.1:9/other"], "scope": "READ"}],
    "consumers": [],
    "consent": "auto",
}


def start(binary, seed_path):
    began = time.perf_counter()
    process = subprocess.Popen([binary, "fixture", "--config", seed_path], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    elapsed = time.perf_counter() - began
    if not line:
        process.kill()
        sys.exit("error: linkgate fixture printed no ready line")
    return process, json.loads(line), elapsed


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def code_flow(session, base, token):
    """One authorization-code flow through the control API and the real token endpoint."""
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/rest/oauth2/latest/authorize?" + urllib.parse.urlencode(
        {"client_id": "jira", "redirect_uri": "http://127.0.0.1:9/cb", "response_type": "code", "state": "s"})
    redirect = session.post(f"{base}/__fixture/authorize", json={"url": url, "user": "alice"}, headers=headers)
    redirect.raise_for_status()
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect.json()["redirect"]).query)["code"][0]
    tokens = session.post(f"{base}/rest/oauth2/latest/token", auth=("jira", "jira-secret-0123456789"),
                          data={"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb"})
    tokens.raise_for_status()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--sandboxes", type=int, default=100)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--resets", type=int, default=50)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as seed_file:
        json.dump(SEED, seed_file)
    try:
        starts = []
        for _ in range(args.starts):
            process, ready, elapsed = start(args.binary, seed_file.name)
            starts.append(elapsed)
            process.terminate()
            process.wait(timeout=10)

        process, ready, _ = start(args.binary, seed_file.name)
        try:
            base, token, pid = ready["baseUrl"], ready["controlToken"], ready["pid"]
            headers = {"Authorization": f"Bearer {token}"}
            session = requests.Session()
            resets = []
            for _ in range(args.resets):
                code_flow(session, base, token)
                began = time.perf_counter()
                session.post(f"{base}/__fixture/reset", headers=headers).raise_for_status()
                resets.append(time.perf_counter() - began)
            before = rss_kib(pid)
            creations = []
            for _ in range(args.sandboxes):
                began = time.perf_counter()
                created = session.post(f"{base}/__fixture/sandboxes", json={"config": SEED}, headers=headers)
                creations.append(time.perf_counter() - began)
                created.raise_for_status()
                code_flow(session, created.json()["baseUrl"], token)
            after = rss_kib(pid)
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        os.unlink(seed_file.name)

    results = {
        "start_ms_median": round(statistics.median(starts) * 1000, 1),
        "reset_ms_median": round(statistics.median(resets) * 1000, 2),
        "sandbox_create_ms_median": round(statistics.median(creations) * 1000, 2),
        "sandboxes": args.sandboxes,
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_sandbox": round((after - before) / args.sandboxes),
    }
    print(f"fixture: ready in {results['start_ms_median']} ms (median of {args.starts} starts, seed included); "
          f"reset {results['reset_ms_median']} ms (median of {args.resets}); "
          f"sandbox created in {results['sandbox_create_ms_median']} ms (median); "
          f"{args.sandboxes} sandboxes: RSS {results['rss_before_mib']} → {results['rss_after_mib']} MiB, "
          f"{results['kib_per_sandbox']} KiB each")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
