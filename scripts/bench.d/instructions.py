"""Instructions per request (valgrind --tool=callgrind), scenario by scenario: the repeatable
figure for before/after comparisons, where req/s moves ±15 % from run to run on this machine.

    .build/bench-venv/bin/python scripts/bench.d/instructions.py BINARY [--requests N] [--scenarios a,b] [--keep DIR] [--database URL]

Starts BINARY under callgrind on a fresh SQLite file (or the empty PostgreSQL database --database names), seeds it like scripts/bench, and per
scenario: warms up, zeroes the counters, sends N requests one after another on one keep-alive
connection, dumps, and divides the dump's instruction count (Ir) by N. Everything the process
executes in that window counts, on every thread (the group-commit writer too); the idle
background (NIO's timers, about 0.5 M Ir/s) is measured first and subtracted by wall time.
Requests are sequential, so every write commits alone (a group-commit batch of one).

valgrind 3.19 (Debian) crashes in libdispatch's `dispatch_main`: its rt_sigsuspend wrapper writes
into the caller's signal mask, which libdispatch keeps in read-only memory. sigsuspend_shim.c,
preloaded, hands the kernel a writable copy. Built here with cc.
"""
import argparse
import glob
import http.client
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import requests

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402
from ab import free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ALL = ["status", "introspect", "myself-bearer", "cc-token", "myself-oauth1-2lo", "code-exchange", "code-exchange-openid"]


def shim(workdir):
    out = os.path.join(workdir, "sigsuspend_shim.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", out, os.path.join(HERE, "sigsuspend_shim.c")], check=True)
    return out


class Server:
    def __init__(self, binary, workdir, database=None):
        self.workdir, self.port = workdir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(18)
        env = dict(os.environ, LINKGATE_ADMIN_PASSWORD=self.password, LINKGATE_LOG_LEVEL="warning",
                   LD_PRELOAD=shim(workdir))
        self.out = os.path.join(workdir, "callgrind.out")
        self.log = open(os.path.join(workdir, "valgrind.log"), "wb")
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--compress-strings=no", f"--callgrind-out-file={self.out}.%p",
             binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--database", database or os.path.join(workdir, "linkgate.sqlite"), "--base-url", self.url],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"valgrind exited {self.proc.returncode}; see {self.log.name}")
            try:
                if requests.get(self.url + "/status", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise SystemExit("the server did not start under callgrind within 300 s")

    def control(self, flag):
        subprocess.run(["callgrind_control", flag, str(self.proc.pid)], check=True, capture_output=True)

    def window(self, action):
        """Ir executed while `action` runs, and its wall time."""
        self.control("-z")
        started = time.monotonic()
        action()
        wall = time.monotonic() - started
        self.control("-d")
        dumps = sorted(glob.glob(f"{self.out}.{self.proc.pid}.*"), key=os.path.getmtime)
        with open(dumps[-1]) as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
        return total, wall, dumps[-1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def sender(url, method, path, headers, bodies):
    """Sends one request per body (or per header set) on one keep-alive connection; all must be 2xx."""
    def run():
        conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=120)
        for h, body in zip(headers, bodies):
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            r.read()
            if not 200 <= r.status < 300:
                raise SystemExit(f"{method} {path}: {r.status}")
        conn.close()
    return run


def requests_for(name, server, seed, n):
    """(method, path, [headers] * n, [body] * n) for scenario `name`: fresh codes, nonces as needed."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    if name == "status":
        return "GET", "/status", [{}] * n, [None] * n
    if name == "introspect":
        return "POST", bench.INTROSPECT, [{**form, "Authorization": seed["cc_basic"]}] * n, ["token=" + seed["tokens"][0]] * n
    if name == "myself-bearer":
        return "GET", bench.MYSELF, [{"Authorization": "Bearer " + seed["tokens"][1]}] * n, [None] * n
    if name == "cc-token":
        return "POST", bench.TOKEN, [{**form, "Authorization": seed["cc_basic"]}] * n, \
            ["grant_type=client_credentials&scope=WRITE"] * n
    if name == "myself-oauth1-2lo":
        from cryptography.hazmat.primitives import serialization
        key = serialization.load_pem_private_key(seed["pem"], password=None)
        url = server.url + bench.MYSELF
        headers = [{"Authorization": bench.oauth1_header(key, seed["consumer_key"], "GET", url, server.url,
                                                         secrets.token_hex(16), int(time.time()))} for _ in range(n)]
        return "GET", bench.MYSELF, headers, [None] * n
    if name in ("code-exchange", "code-exchange-openid"):
        minter = seed["minter" if name == "code-exchange" else "openid_minter"]
        codefile, bodyfile = os.path.join(server.workdir, "codes.txt"), os.path.join(server.workdir, "bodies.txt")
        with open(codefile, "w") as out:
            for _ in range(n):
                r = requests.get(server.url + bench.AUTHORIZE + "?" + minter.query, headers={"Cookie": minter.cookie},
                                 allow_redirects=False)
                out.write(bench.code_from(r.headers.get("Location")) + "\n")
        bench.write_code_bodies(codefile, bodyfile, seed["verifier"])
        with open(bodyfile) as f:
            bodies = f.read().split()
        return "POST", bench.TOKEN, [{**form, "Authorization": seed["code_basic"]}] * n, bodies
    raise SystemExit(f"unknown scenario {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--database", metavar="LOCATION", help="serve's --database: an empty PostgreSQL database's URL, say "
                    "(default: a new SQLite file); only the node's instructions are counted, not the database server's")
    ap.add_argument("--scenarios", default=",".join(ALL))
    ap.add_argument("--keep", metavar="DIR", help="copy each scenario's dump to DIR/<scenario>.callgrind "
                    "(read with callgrind_annotate --inclusive=yes)")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    work = tempfile.mkdtemp(prefix="linkgate-callgrind.")
    server = Server(args.binary, work, args.database)
    try:
        seed = bench.seed_linkgate(server.url, server.password)
        idle, idle_wall, _ = server.window(lambda: time.sleep(3))
        rate = idle / idle_wall
        print(f"idle background: {rate / 1e6:.2f} M Ir/s", flush=True)
        for name in args.scenarios.split(","):
            warm = requests_for(name, server, seed, 20)
            sender(server.url, *warm)()
            method, path, headers, bodies = requests_for(name, server, seed, args.requests)
            total, wall, dump = server.window(sender(server.url, method, path, headers, bodies))
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                shutil.copy(dump, os.path.join(args.keep, f"{name}.callgrind"))
            per_request = (total - rate * wall) / args.requests
            print(f"{name:<22} {per_request / 1e3:>9.1f} k Ir/request  ({args.requests} requests, {wall:.1f} s)", flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
