"""The driver behind scripts/bench: seeds the servers, runs wrk per scenario, prints and saves results.

scripts/bench starts the servers (and stops them); this module only talks to them over
loopback HTTP and reads their /proc entries. Run it through scripts/bench, not by hand.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from multiprocessing import Pool
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "scenario.lua")
ATTACK_LUA = os.path.join(HERE, "attack.lua")

USERS = "/rest/api/latest/user"
MYSELF = "/rest/api/latest/myself"
CLIENTS = "/rest/oauth2/latest/client"
CONSUMERS = "/rest/oauth1/latest/consumer"
AUTHORIZE = "/rest/oauth2/latest/authorize"
TOKEN = "/rest/oauth2/latest/token"
INTROSPECT = "/rest/oauth2/latest/introspect"
CONSENT = "/plugins/servlet/oauth2/consent"
REDIRECT = "http://127.0.0.1/bench/callback"
FORM = "Content-Type: application/x-www-form-urlencoded"

SCENARIOS = [
    (1, "introspect", "POST introspect (client_secret_basic)"),
    (2, "myself-bearer", "GET myself, Bearer"),
    (3, "cc-token", "POST token, client_credentials"),
    (4, "myself-oauth1-2lo", "GET myself, OAuth 1.0a 2LO RSA-SHA1"),
    (5, "code-exchange", "POST token, authorization_code"),
    (6, "status", "GET /status"),
    (7, "bearer-attacked", "GET myself, Bearer, under guessing"),
]
ATTACK_TARGET_RATIO = 0.80   # scenario 7 req/s over scenario 2 req/s of the same run
PEER_SCENARIOS = {1, 2, 3}


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def describe(resp):
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:400]!r}"


def expect(resp, status):
    if resp.status_code != status:
        raise BenchError(f"seeding failed: {describe(resp)}")
    return resp


# ------------------------------------------------------------------------------------------
# /proc sampling
# ------------------------------------------------------------------------------------------

def proc_tree(pid):
    """pid and all its descendants (gunicorn: master + workers)."""
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        pids += kids
        frontier += kids
    return pids


def memory_kib(pid):
    """(VmHWM, VmRSS) in KiB, summed over the process tree."""
    hwm = rss = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return hwm, rss


def cpu_ticks(pid):
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime
        except (OSError, IndexError):
            pass
    return total


def machine_busy_seconds():
    """CPU seconds all cores spent outside idle/iowait since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def alive(pid):
    return os.path.exists(f"/proc/{pid}")


# ------------------------------------------------------------------------------------------
# wrk
# ------------------------------------------------------------------------------------------

def run_wrk(target, name, method, path, headers=(), body=None, datafile=None, kind=None, *, duration, connections,
            threads, pid, attacker_pid=None):
    threads = max(1, min(threads, connections))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s", "-s", LUA]
    for h in headers:
        cmd += ["-H", h]
    cmd += [target, "--", method, path, body or "-", datafile or "-", kind or "-", str(threads)]
    hz = os.sysconf("SC_CLK_TCK")
    before_cpu, before_self = cpu_ticks(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    before_busy = machine_busy_seconds()
    before_attacker = cpu_ticks(attacker_pid) if attacker_pid else 0
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    wall = time.monotonic() - started
    after_cpu, after_self = cpu_ticks(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_seconds() - before_busy
    # A concurrent load generator (the password guesser) is still running: its CPU is its own column.
    attacker_cpu = (cpu_ticks(attacker_pid) - before_attacker) / hz if attacker_pid else 0.0
    if not alive(pid):
        raise BenchError(f"{name}: the server process {pid} died during the run")
    line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"{name}: wrk failed (exit {proc.returncode}): {proc.stderr.strip()} {proc.stdout.strip()}")
    r = json.loads(line[len("BENCH_RESULT "):])
    secs = r["duration_us"] / 1e6
    ok = sum(n for code, n in r["statuses"].items() if 200 <= int(code) <= 299)
    socket_errors = sum(r["socket_errors"].values())
    non2xx = r["requests"] - ok
    hwm, rss = memory_kib(pid)
    wrk_cpu = (after_self.ru_utime + after_self.ru_stime) - (before_self.ru_utime + before_self.ru_stime)
    server_cpu = (after_cpu - before_cpu) / hz
    result = {
        "name": name,
        "requests": r["requests"],
        "ok": ok,
        "duration_s": round(secs, 3),
        "rps": round(ok / secs, 1) if secs else 0.0,
        "p50_ms": round(r["latency_us"]["p50"] / 1000, 3),
        "p90_ms": round(r["latency_us"]["p90"] / 1000, 3),
        "p99_ms": round(r["latency_us"]["p99"] / 1000, 3),
        "max_ms": round(r["latency_us"]["max"] / 1000, 3),
        "errors": non2xx + socket_errors,
        "non2xx": non2xx,
        "socket_errors": r["socket_errors"],
        "statuses": {k: r["statuses"][k] for k in sorted(r["statuses"])},
        "exhausted": r["exhausted"],
        "first_error": r["sample"],
        "server_cpu_pct": round(100 * server_cpu / wall, 1),
        "wrk_cpu_pct": round(100 * wrk_cpu / wall, 1),
        # everything else on the machine during the run (other users' builds and tests): noise
        "other_cpu_pct": round(max(0.0, 100 * (busy - server_cpu - wrk_cpu - attacker_cpu) / wall), 1),
        "vmhwm_mib": round(hwm / 1024, 1),
        "vmrss_mib": round(rss / 1024, 1),
    }
    if attacker_pid:
        result["attacker_cpu_pct"] = round(100 * attacker_cpu / wall, 1)
    return result


class PasswordGuesser:
    """A second wrk (attack.lua) sending HTTP Basic for a real user name with a new wrong password per
    request, from loopback, while a scenario is measured. Started `lead` seconds before the measured
    run and stopped about a second after it; its rate is guesses answered per second of its own run."""

    def __init__(self, target, path, user, *, duration, connections, lead=1.0):
        self.connections = connections
        cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{int(duration + 2 * lead)}s", "--timeout", "10s",
               "-s", ATTACK_LUA, target, "--", path, user]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(lead)
        if self.proc.poll() is not None:
            raise BenchError(f"the password guesser (wrk) exited at once: {self.proc.communicate()}")

    @property
    def pid(self):
        return self.proc.pid

    def finish(self, timeout):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        line = next((l for l in out.splitlines() if l.startswith("ATTACK_RESULT ")), None)
        if self.proc.returncode != 0 or line is None:
            raise BenchError(f"the password guesser (wrk) failed (exit {self.proc.returncode}): {err.strip()} {out.strip()}")
        r = json.loads(line[len("ATTACK_RESULT "):])
        secs = r["duration_us"] / 1e6
        statuses = {k: r["statuses"][k] for k in sorted(r["statuses"])}
        answered = sum(statuses.values())
        return {
            "connections": self.connections,
            "duration_s": round(secs, 3),
            "answered": answered,
            "answered_per_s": round(answered / secs, 1) if secs else 0.0,
            "status_401": statuses.get("401", 0),
            "status_429": statuses.get("429", 0),
            "other_statuses": {k: v for k, v in statuses.items() if k not in ("401", "429")},
            "socket_errors": r["socket_errors"],
            "p50_ms": round(r["latency_us"]["p50"] / 1000, 3),
            "p99_ms": round(r["latency_us"]["p99"] / 1000, 3),
            "first_unexpected": r["sample"],
        }


def attack_line(result):
    a = result["attack"]
    ratio = result.get("ratio_to_2")
    text = (f"{'':<11}attack: {a['connections']} connections guessing passwords, {a['answered_per_s']:.1f} guesses "
            f"answered/s (401: {a['status_401']}, 429: {a['status_429']}"
            + (f", other: {a['other_statuses']}" if a["other_statuses"] else "")
            + f"), guess p50 {a['p50_ms']:.1f} ms p99 {a['p99_ms']:.1f} ms, guesser cpu {result['attacker_cpu_pct']:.0f}%")
    socket = {k: v for k, v in a["socket_errors"].items() if v}
    if socket:
        text += f", socket errors {socket}"
    if ratio is not None:
        text += f"; bearer under attack / plain bearer (2) = {ratio:.2f} (target >= {ATTACK_TARGET_RATIO:.2f})"
    return text


def result_line(server, number, result):
    status_text = " ".join(f"{k}:{v}" for k, v in result["statuses"].items())
    text = (f"{server:<8} {number} {result['name']:<18} {result['rps']:>9.1f} req/s  p50 {result['p50_ms']:>7.2f} ms  "
            f"p99 {result['p99_ms']:>7.2f} ms  errors {result['errors']:<6} VmHWM {result['vmhwm_mib']:.1f} MiB  "
            f"VmRSS {result['vmrss_mib']:.1f} MiB  cpu {result['server_cpu_pct']:.0f}% (wrk {result['wrk_cpu_pct']:.0f}%, "
            f"other {result['other_cpu_pct']:.0f}%)  [{status_text}]")
    socket = {k: v for k, v in result["socket_errors"].items() if v}
    if socket:
        text += f"  socket errors {socket}"
    if result["exhausted"]:
        text += f"  POOL EXHAUSTED: {result['exhausted']} requests reused a code/nonce"
    if result["non2xx"] and result["first_error"]:
        text += f"\n{'':<11}first non-2xx: {result['first_error'][:300]}"
    return text


# ------------------------------------------------------------------------------------------
# OAuth 1.0a RSA-SHA1 signing (RFC 5849), one private-key operation per request
# ------------------------------------------------------------------------------------------

def pct(value):
    return quote(value, safe="-._~")


def oauth1_header(private_key, consumer_key, method, url, realm, nonce, timestamp):
    params = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce,
        "oauth_signature_method": "RSA-SHA1",
        "oauth_timestamp": str(timestamp),
        "oauth_version": "1.0",
    }
    normalized = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in params.items()))
    base_string = "&".join((method.upper(), pct(url), pct(normalized)))
    signature = private_key.sign(base_string.encode("ascii"), padding.PKCS1v15(), hashes.SHA1())
    params["oauth_signature"] = base64.b64encode(signature).decode("ascii")
    return "OAuth " + ", ".join([f'realm="{pct(realm)}"'] + [f'{k}="{pct(v)}"' for k, v in params.items()])


_worker_key = None


def _sign_init(pem):
    global _worker_key
    _worker_key = serialization.load_pem_private_key(pem, password=None)


def _sign_chunk(job):
    consumer_key, url, realm, count = job
    return [oauth1_header(_worker_key, consumer_key, "GET", url, realm, secrets.token_hex(16), int(time.time()))
            for _ in range(count)]


def presign(pem, consumer_key, url, realm, count, path, deadline):
    """Signs `count` requests (fewer if signing takes longer than `deadline` seconds) into `path`."""
    started = time.monotonic()
    chunk = 2000
    jobs = [(consumer_key, url, realm, min(chunk, count - i)) for i in range(0, count, chunk)]
    signed = 0
    with Pool(os.cpu_count() or 2, initializer=_sign_init, initargs=(pem,)) as pool, open(path, "w") as out:
        for headers in pool.imap(_sign_chunk, jobs):
            out.write("\n".join(headers) + "\n")
            signed += len(headers)
            if time.monotonic() - started > deadline:
                pool.terminate()
                break
    return signed, time.monotonic() - started


# ------------------------------------------------------------------------------------------
# Browser side of the authorization-code flow
# ------------------------------------------------------------------------------------------

class FormFields(HTMLParser):
    """Hidden inputs of the form posting to `action`."""

    def __init__(self, html, action):
        super().__init__(convert_charrefs=True)
        self.action, self.inside, self.fields = action, False, {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif tag == "input" and self.inside and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def code_from(location):
    if not location or not location.startswith(REDIRECT + "?"):
        raise BenchError(f"authorize did not redirect to the client with a code: Location {location!r}")
    query = parse_qs(urlsplit(location).query)
    if "code" not in query:
        raise BenchError(f"authorize redirected without a code: {location!r}")
    return query["code"][0]


class CodeMinter:
    """Logs `user` in once, approves the client once; later authorize calls 303 straight to the code."""

    def __init__(self, base, client_id, user, password, challenge):
        self.base = base
        self.query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                                "scope": "WRITE", "state": "bench", "code_challenge": challenge,
                                "code_challenge_method": "S256"})
        s = requests.Session()
        page = expect(s.get(base + "/login", params={"next": "/"}), 200)
        login = FormFields(page.text, "/login").fields
        if "csrf_token" not in login:
            raise BenchError("the login page has no csrf_token field")
        expect(s.post(base + "/login", data={**login, "username": user, "password": password, "next": "/"},
                      allow_redirects=False), 303)
        r = s.get(base + AUTHORIZE + "?" + self.query, allow_redirects=False)
        location = r.headers.get("Location", "")
        if r.status_code in (302, 303) and location.startswith(CONSENT):   # the consent page, shown once
            r = s.get(base + location, allow_redirects=False)
        if r.status_code == 200:
            fields = FormFields(r.text, CONSENT).fields
            r = s.post(base + CONSENT, data={**fields, "decision": "approve"}, allow_redirects=False)
        expect(r, 303)
        self.first = code_from(r.headers.get("Location"))
        self.cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)

    def mint(self, count, path, workdir):
        """Writes at least `count` fresh codes to `path`, one a line, minting them with wrk (mint.lua)
        in runs of a few seconds: Python alone mints under 1,000 codes a second here."""
        started = time.monotonic()
        target = AUTHORIZE + "?" + self.query
        have, rate, rounds = 0, None, 0
        with open(path, "w") as out:
            while have < count:
                rounds += 1
                if rounds > 20:
                    raise BenchError(f"could mint only {have} of {count} authorization codes")
                seconds = 1 if rate is None else max(1, min(30, int((count - have) / rate * 1.2) + 1))
                prefix = os.path.join(workdir, f"mint-{rounds}")
                cmd = ["wrk", "-t", "2", "-c", "16", "-d", f"{seconds}s", "--timeout", "5s",
                       "-s", os.path.join(HERE, "mint.lua"), "-H", f"Cookie: {self.cookie}",
                       self.base, "--", target, prefix]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
                line = next((l for l in proc.stdout.splitlines() if l.startswith("MINT_RESULT ")), None)
                if proc.returncode != 0 or line is None:
                    raise BenchError(f"minting codes: wrk failed (exit {proc.returncode}): {proc.stderr} {proc.stdout}")
                result = json.loads(line[len("MINT_RESULT "):])
                if result["failed"]:
                    raise BenchError(f"minting codes: {result['failed']} authorize calls did not 303 to a code; "
                                     f"first: {result['sample']}")
                for n in range(2):
                    part = f"{prefix}.{n}"
                    if os.path.exists(part):
                        with open(part) as f:
                            codes = [unquote(c) for c in f.read().split()]
                        os.unlink(part)
                        out.write("".join(c + "\n" for c in codes))
                        have += len(codes)
                rate = max(have / (time.monotonic() - started), 1.0)
        return have, time.monotonic() - started


# ------------------------------------------------------------------------------------------
# Seeding
# ------------------------------------------------------------------------------------------

def seed_linkgate(base, admin_password):
    admin = requests.Session()
    admin.auth = ("admin", admin_password)
    user, password = "bench", secrets.token_urlsafe(18)
    expect(admin.post(base + USERS, json={"name": user, "password": password, "displayName": "Bench User",
                                           "email": "bench@example.com"}), 201)
    code_client = expect(admin.post(base + CLIENTS, json={"name": "bench-code", "redirects": [REDIRECT],
                                                           "scope": "WRITE"}), 201).json()
    cc_client = expect(admin.post(base + CLIENTS, json={"name": "bench-cc", "redirects": [], "scope": "WRITE",
                                                         "executeAs": user}), 201).json()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    consumer_key = "bench:" + secrets.token_hex(4)
    expect(admin.post(base + CONSUMERS, json={"key": consumer_key, "name": "bench-consumer", "publicKey": public_pem,
                                               "twoLeggedAllowed": True, "executeAs": user}), 201)

    cc_basic = basic(cc_client["clientId"], cc_client["clientSecret"])
    tokens = []
    for _ in range(2):
        r = expect(requests.post(base + TOKEN, data={"grant_type": "client_credentials", "scope": "WRITE"},
                                 headers={"Authorization": cc_basic}), 200)
        tokens.append(r.json()["access_token"])

    # Each scenario's request, once, before any load.
    body = expect(requests.post(base + INTROSPECT, data={"token": tokens[0]},
                                headers={"Authorization": cc_basic}), 200).json()
    if body.get("active") is not True:
        raise BenchError(f"introspection of a fresh token is not active: {body}")
    url = base + MYSELF
    header = oauth1_header(key, consumer_key, "GET", url, base, secrets.token_hex(16), int(time.time()))
    check_against_oauthlib(pem, consumer_key, url, header)
    r = requests.get(url, headers={"Authorization": header})
    if r.status_code != 200:
        raise BenchError(f"a correctly signed 2LO request was refused: {r.status_code} "
                         f"{r.headers.get('WWW-Authenticate')} {r.text[:300]}")

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    minter = CodeMinter(base, code_client["clientId"], user, password, challenge)
    code_basic = basic(code_client["clientId"], code_client["clientSecret"])
    r = expect(requests.post(base + TOKEN, data={"grant_type": "authorization_code", "code": minter.first,
                                                "redirect_uri": REDIRECT, "code_verifier": verifier},
                             headers={"Authorization": code_basic}), 200)
    if "refresh_token" not in r.json():
        raise BenchError(f"code exchange gave no refresh token: {r.text}")
    # Scenario 2 uses this 3LO user token: the common bearer case. (A two-legged token would also
    # write an audit entry per use, INTERFACE §8; that cost shows in scenarios 3 and 4.)
    tokens[1] = r.json()["access_token"]
    me = expect(requests.get(base + MYSELF, headers={"Authorization": "Bearer " + tokens[1]}), 200).json()
    if me.get("name") != user or me.get("auth", {}).get("mode") != "user":
        raise BenchError(f"myself with the bearer token: {me}")
    # Consent is remembered now: authorize answers 303 with a code at once.
    code_from(expect(requests.get(base + AUTHORIZE + "?" + minter.query, headers={"Cookie": minter.cookie},
                                  allow_redirects=False), 303).headers.get("Location"))
    return {
        "cc_basic": cc_basic, "code_basic": code_basic, "tokens": tokens, "pem": pem,
        "consumer_key": consumer_key, "minter": minter, "verifier": verifier, "user": user,
    }


def check_peer(base, peer):
    """Each peer scenario's request once, plus DOT's documented bearer-token introspection."""
    cc = basic(peer["cc_client"]["id"], peer["cc_client"]["secret"])
    for how in ({"Authorization": cc}, {"Authorization": "Bearer " + peer["introspection"]}):
        body = expect(requests.post(base + "/o/introspect/", data={"token": peer["bearer"]}, headers=how), 200).json()
        if body.get("active") is not True:
            raise BenchError(f"peer introspection is not active: {body}")
    me = expect(requests.get(base + "/api/myself", headers={"Authorization": "Bearer " + peer["bearer"]}), 200).json()
    if me.get("name") != "bench":
        raise BenchError(f"peer myself: {me}")
    expect(requests.post(base + "/o/token/", data={"grant_type": "client_credentials", "scope": "read"},
                         headers={"Authorization": cc}), 200)


def check_against_oauthlib(pem, consumer_key, url, header):
    """Our signer must give oauthlib's signature for the same nonce and timestamp (RSA PKCS#1 v1.5 is deterministic)."""
    from oauthlib.oauth1 import SIGNATURE_RSA, SIGNATURE_TYPE_AUTH_HEADER, Client
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
    client = Client(consumer_key, signature_method=SIGNATURE_RSA, rsa_key=pem.decode(),
                    signature_type=SIGNATURE_TYPE_AUTH_HEADER, nonce=fields["oauth_nonce"],
                    timestamp=fields["oauth_timestamp"])
    _, headers, _ = client.sign(url, "GET")
    theirs = dict(re.findall(r'(\w+)="([^"]*)"', headers["Authorization"]))
    if theirs["oauth_signature"] != fields["oauth_signature"]:
        raise BenchError("the harness's RFC 5849 signer disagrees with oauthlib")


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------

def openssl_rsa2048():
    """verify/s and sign/s from `openssl speed -seconds 3 rsa2048`."""
    out = subprocess.run(["openssl", "speed", "-seconds", "3", "rsa2048"], capture_output=True, text=True,
                         timeout=120).stdout
    header, row = None, None
    for line in out.splitlines():
        if "sign/s" in line and "verify/s" in line:
            header = line.split()
        elif re.match(r"\s*rsa\s*2048 bits", line):
            row = line
    if not header or not row:
        raise BenchError(f"could not parse openssl speed output: {out[-500:]}")
    values = row.split("bits", 1)[1].split()
    columns = dict(zip(header, values))
    return {"sign_per_s": float(columns["sign/s"]), "verify_per_s": float(columns["verify/s"]),
            "version": subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--linkgate-url", required=True)
    ap.add_argument("--linkgate-pid", type=int, required=True)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--binary", default="")
    ap.add_argument("--peer-url")
    ap.add_argument("--peer-pid", type=int)
    ap.add_argument("--peer-seed")
    ap.add_argument("--peer-worker", default="")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--openssl", action="store_true")
    args = ap.parse_args()

    base, pid = args.linkgate_url, args.linkgate_pid
    run = dict(duration=args.duration, connections=args.connections, threads=args.threads)
    memory = {"after_start": memory_kib(pid)}
    log("== seeding Linkgate (users, clients, OAuth 1.0a consumer, tokens, consent)")
    t0 = time.monotonic()
    seed = seed_linkgate(base, args.admin_password)
    memory["after_seeding"] = memory_kib(pid)
    log(f"   seeded in {time.monotonic() - t0:.1f} s")

    peer = None
    if args.peer_url:
        with open(args.peer_seed) as f:
            peer = json.load(f)
        check_peer(args.peer_url, peer)

    results = {"linkgate": {}, "peer": {}}
    lines = []

    def report(server, number, res):
        text = result_line(server, number, res)
        print(text, flush=True)
        lines.append(text)
        results[server][str(number)] = res

    def lg(number, name, *a, **kw):
        report("linkgate", number, run_wrk(base, name, *a, **kw, **run, pid=pid))

    def lg_under_attack(number, name, *a, **kw):
        """Scenario `number` measured while PasswordGuesser runs; the attack's figures and the ratio
        to scenario 2 join its result."""
        guesser = PasswordGuesser(base, MYSELF, seed["user"], duration=args.duration,
                                  connections=2 if args.smoke else 8)
        try:
            res = run_wrk(base, name, *a, **kw, **run, pid=pid, attacker_pid=guesser.pid)
        finally:
            attack = guesser.finish(timeout=args.duration + 30)
        res["attack"] = attack
        plain = results["linkgate"]["2"]["rps"]
        res["ratio_to_2"] = round(res["rps"] / plain, 3) if plain else None
        report("linkgate", number, res)
        text = attack_line(res)
        print(text, flush=True)
        lines.append(text)

    def pr(number, name, *a, **kw):
        report("peer", number, run_wrk(args.peer_url, name, *a, **kw, **run, pid=args.peer_pid))

    print(f"== machine: {os.cpu_count()} cores, load average before the runs {os.getloadavg()[0]:.2f}", flush=True)
    print("== Linkgate memory before load: " + "; ".join(
        f"{when.replace('_', ' ')} VmHWM {hwm / 1024:.1f} MiB VmRSS {rss / 1024:.1f} MiB"
        for when, (hwm, rss) in memory.items()), flush=True)
    print(f"== load: wrk {args.threads} threads, {args.connections} connections, {args.duration} s per scenario; "
          f"req/s counts 2xx responses; VmHWM/VmRSS of the server after the scenario", flush=True)

    # 1. introspection
    lg(1, "introspect", "POST", INTROSPECT, [f"Authorization: {seed['cc_basic']}", FORM],
       body="token=" + seed["tokens"][0])
    if peer:
        pr(1, "introspect", "POST", "/o/introspect/",
           [f"Authorization: {basic(peer['cc_client']['id'], peer['cc_client']['secret'])}", FORM],
           body="token=" + peer["bearer"])
    # 2. bearer myself
    lg(2, "myself-bearer", "GET", MYSELF, [f"Authorization: Bearer {seed['tokens'][1]}"])
    if peer:
        pr(2, "myself-bearer", "GET", "/api/myself", [f"Authorization: Bearer {peer['bearer']}"])
    # 3. client_credentials issue
    lg(3, "cc-token", "POST", TOKEN, [f"Authorization: {seed['cc_basic']}", FORM],
       body="grant_type=client_credentials&scope=WRITE")
    if peer:
        pr(3, "cc-token", "POST", "/o/token/",
           [f"Authorization: {basic(peer['cc_client']['id'], peer['cc_client']['secret'])}", FORM],
           body="grant_type=client_credentials&scope=read")

    # Pool sizes: the rate of a cheaper scenario bounds the rate of the one that needs the pool.
    # The smoke check fails on any error, so it takes a wider margin.
    def pool_size(bound_rps, floor):
        return max(floor, int(bound_rps * args.duration * (2.0 if args.smoke else 1.3)) + 200)

    # 4. OAuth 1.0a 2LO, pre-signed right before the run. The oldest timestamp must still be inside the server's ±300 s window at the end of the run.
    need = pool_size(results["linkgate"]["2"]["rps"], 500)
    sigfile = os.path.join(args.workdir, "oauth1-headers.txt")
    deadline = max(10, 240 - args.duration)
    signed, took = presign(seed["pem"], seed["consumer_key"], base + MYSELF, base, need, sigfile, deadline)
    log(f"   pre-signed {signed} OAuth 1.0a requests in {took:.1f} s ({signed / took:.0f}/s)")
    if signed < need:
        log(f"   warning: wanted {need} signatures, stopped after {deadline} s of signing")
    lg(4, "myself-oauth1-2lo", "GET", MYSELF, [], datafile=sigfile, kind="auth")

    # 5. code exchange, codes minted right before the run (they live 600 s)
    need = pool_size(results["linkgate"]["3"]["rps"], 300)
    codefile = os.path.join(args.workdir, "codes.txt")
    minted, took = seed["minter"].mint(need, codefile, args.workdir)
    log(f"   minted {minted} authorization codes in {took:.1f} s ({minted / took:.0f}/s)")
    bodyfile = os.path.join(args.workdir, "code-bodies.txt")
    with open(codefile) as src, open(bodyfile, "w") as dst:
        for code in src.read().split():
            dst.write(urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                 "code_verifier": seed["verifier"]}) + "\n")
    lg(5, "code-exchange", "POST", TOKEN, [f"Authorization: {seed['code_basic']}", FORM],
       datafile=bodyfile, kind="body")

    # 6. the HTTP ceiling
    lg(6, "status", "GET", "/status", [])

    # 7. scenario 2 again while a guesser sends wrong passwords for a real user over HTTP Basic.
    # Last, because password throttling (INTERFACE §10) may lock the loopback address out of
    # password checks for minutes afterwards.
    lg_under_attack(7, "bearer-attacked", "GET", MYSELF, [f"Authorization: Bearer {seed['tokens'][1]}"])

    openssl = None
    if args.openssl:
        openssl = openssl_rsa2048()
        text = (f"ceiling  4 openssl rsa2048     {openssl['verify_per_s']:>9.1f} verify/s on one core "
                f"({openssl['sign_per_s']:.1f} sign/s; {openssl['version']})")
        print(text, flush=True)
        lines.append(text)

    # Summary
    failures = []
    for server in ("linkgate", "peer"):
        for number, name, _ in SCENARIOS:
            r = results[server].get(str(number))
            if r is None:
                continue
            if r["ok"] == 0:
                failures.append(f"{server} {number} {name}: no successful request")
            if r["errors"]:
                failures.append(f"{server} {number} {name}: {r['errors']} errors {r['statuses']} "
                                f"{r['socket_errors']}; first non-2xx: {r['first_error']}")
            attack = r.get("attack")
            if attack is not None:
                if attack["answered"] == 0:
                    failures.append(f"{server} {number} {name}: the password guesser got no answer "
                                    f"(socket errors {attack['socket_errors']})")
                if attack["other_statuses"]:
                    failures.append(f"{server} {number} {name}: wrong passwords answered other than 401/429: "
                                    f"{attack['other_statuses']}; first: {attack['first_unexpected']}")

    if args.smoke:
        for f in failures:
            print(f"   problem: {f}")
        print("== smoke: " + ("PASS" if not failures else "FAIL"))
    else:
        print()
        print("== summary (req/s = 2xx responses per second; latency in ms"
              + ("; ratio = Linkgate req/s / peer req/s)" if peer else ")"))
        head = f"{'#':<2} {'scenario':<38} {'req/s':>9} {'p50':>7} {'p99':>7} {'errors':>6}"
        if peer:
            head += f" | {'peer req/s':>10} {'p50':>7} {'p99':>7} {'errors':>6} {'ratio':>6}"
        print(head)
        print("-" * len(head))
        for number, name, title in SCENARIOS:
            r = results["linkgate"][str(number)]
            row = f"{number:<2} {title:<38} {r['rps']:>9.1f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['errors']:>6}"
            p = results["peer"].get(str(number))
            if p:
                ratio = f"{r['rps'] / p['rps']:.1f}x" if p["rps"] else "n/a"
                row += f" | {p['rps']:>10.1f} {p['p50_ms']:>7.2f} {p['p99_ms']:>7.2f} {p['errors']:>6} {ratio:>6}"
            elif peer:
                row += " |"
            print(row)
        if openssl:
            print(f"   ceiling for 4: openssl speed rsa2048 = {openssl['verify_per_s']:.1f} verify/s on one core")
        attacked = results["linkgate"]["7"]
        a = attacked["attack"]
        ratio = attacked["ratio_to_2"]
        print(f"   7 under attack: {a['answered_per_s']:.1f} wrong-password guesses answered/s from {a['connections']} "
              f"connections (401: {a['status_401']}, 429: {a['status_429']}); bearer req/s ratio 7/2 = "
              + (f"{ratio:.2f}" if ratio is not None else "n/a")
              + f" (target >= {ATTACK_TARGET_RATIO:.2f}"
              + (", met)" if ratio is not None and ratio >= ATTACK_TARGET_RATIO else ", not met)"))
        hwm = max(r["vmhwm_mib"] for r in results["linkgate"].values())
        text = f"   Linkgate peak RSS (VmHWM) {hwm:.1f} MiB"
        if peer:
            text += (f"; peer (gunicorn master + workers, summed) "
                     f"{max(r['vmhwm_mib'] for r in results['peer'].values()):.1f} MiB")
        print(text)
        for f in failures:
            print(f"   problem: {f}")
        noisy = [f"{server} {n} ({r['other_cpu_pct']:.0f}%)" for server in ("linkgate", "peer")
                 for n, r in results[server].items() if r["other_cpu_pct"] > 20]
        if noisy:
            print(f"   warning: other processes used over 20% of a core during: {', '.join(noisy)}; "
                  f"those numbers are low by an unknown amount")

    doc = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"duration_s": args.duration, "connections": args.connections, "wrk_threads": args.threads,
                   "smoke": args.smoke, "binary": args.binary, "cpus": os.cpu_count(),
                   "loadavg_at_end": os.getloadavg(),
                   "peer": ({"url": args.peer_url, "server": f"gunicorn, 2 workers, {args.peer_worker}"}
                            if peer else None)},
        "scenarios": {str(n): {"name": name, "title": title} for n, name, title in SCENARIOS},
        "linkgate_memory_before_load_mib": {k: {"vmhwm": round(h / 1024, 1), "vmrss": round(r / 1024, 1)}
                                            for k, (h, r) in memory.items()},
        "linkgate": results["linkgate"],
        "peer": results["peer"] if peer else None,
        "ratios": ({str(n): round(results["linkgate"][str(n)]["rps"] / results["peer"][str(n)]["rps"], 2)
                    for n in PEER_SCENARIOS if results["peer"].get(str(n), {}).get("rps")} if peer else None),
        "attack_ratio_7_to_2": results["linkgate"]["7"].get("ratio_to_2"),
        "openssl_rsa2048": openssl,
        "lines": lines,
        "failures": failures,
    }
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"   results: {args.results}")
    return 1 if (args.smoke and failures) else 0


if __name__ == "__main__":
    # scripts/bench stops the driver with SIGTERM: exit through SystemExit, so subprocess.run kills
    # a running wrk and the signing pool is terminated, instead of leaving them behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
