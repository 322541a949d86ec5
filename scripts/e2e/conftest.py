"""End-to-end fixtures: run the real Linkgate binary on a free loopback port.

Environment:
  LINKGATE_BIN  path of the server binary (default: <repo>/.build/debug/linkgate)
"""
import os
import signal
import socket
import subprocess
import time
from http.cookiejar import DefaultCookiePolicy
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

REPO_ROOT = (Path(__file__).resolve().parent / ".." / "..").resolve()
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "linkgate"
ADMIN_PASSWORD = "admin-pass-e2e"
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0


class Recorder:
    """Everything the suite saw on the wire that later tests check: 500s, secrets, HTML headers."""

    def __init__(self):
        self.responses = 0
        self.server_errors = []      # "METHOD URL -> status"
        self.secrets = set()         # values that must never appear in the server log
        self.session_cookies = set()
        self.client_secrets = set()
        self.html_header_problems = []

    def add_secret(self, value):
        if value:
            self.secrets.add(value)

    def hook(self, response, *args, **kwargs):
        self.responses += 1
        request = response.request
        if response.status_code >= 500:
            self.server_errors.append(f"{request.method} {request.url} -> {response.status_code}")
        # Session cookies handed out by the server.
        for header in _set_cookie_headers(response):
            cookie = SimpleCookie()
            try:
                cookie.load(header)
            except Exception:  # noqa: BLE001 - a malformed header is itself checked by the tests
                continue
            morsel = cookie.get("linkgate_session")
            if morsel is not None and morsel.value:
                self.session_cookies.add(morsel.value)
                self.add_secret(morsel.value)
        # Client secrets returned by create/reset.
        if "json" in response.headers.get("Content-Type", ""):
            try:
                body = response.json()
            except ValueError:
                body = None
            items = body if isinstance(body, list) else [body]
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("clientSecret"), str):
                    self.client_secrets.add(item["clientSecret"])
                    self.add_secret(item["clientSecret"])
        # INTERFACE §1: every HTML page carries the anti-framing / referrer headers.
        if response.headers.get("Content-Type", "").startswith("text/html"):
            problems = []
            if response.headers.get("X-Frame-Options") != "DENY":
                problems.append(f"X-Frame-Options={response.headers.get('X-Frame-Options')!r}")
            csp = response.headers.get("Content-Security-Policy", "")
            if "frame-ancestors 'none'" not in csp or "default-src" not in csp:
                problems.append(f"Content-Security-Policy={csp!r}")
            if response.headers.get("Referrer-Policy") != "no-referrer":
                problems.append(f"Referrer-Policy={response.headers.get('Referrer-Policy')!r}")
            if problems:
                self.html_header_problems.append(f"{request.method} {request.url}: {', '.join(problems)}")


def _set_cookie_headers(response):
    raw = getattr(response, "raw", None)
    headers = getattr(raw, "headers", None)
    if headers is not None and hasattr(headers, "getlist"):
        return headers.getlist("Set-Cookie")
    value = response.headers.get("Set-Cookie")
    return [value] if value else []


def error_keys_ok(response, body):
    """INTERFACE §1: an error body is exactly {"error", "error_description"}; errors of /rest/api/…
    resources also carry Jira's keys, "errorMessages": [<the description>] and "errors": {}."""
    if not isinstance(body, dict):
        return False
    if urlsplit(response.request.url).path.startswith("/rest/api/"):
        return (set(body) == {"error", "error_description", "errorMessages", "errors"}
                and body["errorMessages"] == [body["error_description"]] and body["errors"] == {})
    return set(body) == {"error", "error_description"}


def set_cookie_headers(response):
    """All raw Set-Cookie header lines of a response."""
    return _set_cookie_headers(response)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, process, base_url, log_path, database, log_file=None, command=None):
        self.process = process
        self.base_url = base_url
        self.log_path = log_path
        self.database = database
        self.log_file = log_file
        self.command = command

    def log_text(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")


RECORDER = Recorder()


@pytest.fixture(scope="session")
def recorder():
    RECORDER.add_secret(ADMIN_PASSWORD)
    return RECORDER


def launch_server(workdir, port=None, extra_args=()):
    """Starts the Linkgate binary on a free loopback port with the database `workdir`/linkgate.sqlite
    (fresh unless an earlier start in the same `workdir` left one; `port` restarts on that port).

    Waits until GET /status answers 200; fails the calling test/fixture (with the server log) if it
    does not. Used by the session `server` fixture and by suites that need a private instance;
    `extra_args` are more `linkgate serve` flags (e.g. `["--idle-timeout", "2"]`).
    The log `workdir`/server.log is appended to, so a restarted server's log follows the first.
    """
    binary = Path(os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN)))
    if not binary.is_file():
        pytest.fail(f"server binary not found: {binary} (build it, or set LINKGATE_BIN)")
    workdir = Path(workdir)
    database = workdir / "linkgate.sqlite"
    log_path = workdir / "server.log"
    port = port or _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["LINKGATE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    # Flags below win over any LINKGATE_* variable that may be set in the caller's shell.
    command = [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--database", str(database), "--base-url", base_url, *extra_args]
    log_file = open(log_path, "ab")
    process = subprocess.Popen(command, cwd=str(REPO_ROOT), env=env, stdout=log_file,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    srv = Server(process, base_url, log_path, database, log_file=log_file, command=command)

    deadline = time.monotonic() + STARTUP_TIMEOUT
    ready = False
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(base_url + "/status", timeout=1).status_code == 200:
                ready = True
                break
        except requests.RequestException:
            pass
        time.sleep(0.1)
    if not ready:
        killed = process.poll() is None
        if killed:
            process.kill()
            process.wait(5)
        log_file.close()
        why = (f"exited with code {process.returncode} before answering GET /status"
               if process.returncode is not None and not killed
               else f"did not answer GET /status within {STARTUP_TIMEOUT:.0f} s")
        pytest.fail(f"server {why}; command: {' '.join(command)}\n"
                    f"--- server log ---\n{srv.log_text()}")
    return srv


def shutdown_server(srv):
    """Graceful shutdown: SIGTERM must stop the server with exit code 0 within 10 s (else: fail)."""
    process = srv.process
    try:
        if process.poll() is not None:
            pytest.fail(f"server died during the tests (exit code {process.returncode})\n"
                        f"--- server log ---\n{srv.log_text()}")
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            pytest.fail(f"server did not exit within {SHUTDOWN_TIMEOUT:.0f} s of SIGTERM\n"
                        f"--- server log ---\n{srv.log_text()}")
        assert code == 0, f"server exited with code {code} after SIGTERM\n--- server log ---\n{srv.log_text()}"
    finally:
        if srv.log_file is not None:
            srv.log_file.close()


SESSION_SERVER = []   # the shared server, once a test has asked for it


@pytest.fixture(scope="session")
def server(tmp_path_factory, recorder):
    srv = launch_server(tmp_path_factory.mktemp("linkgate"))
    SESSION_SERVER.append(srv)
    yield srv
    shutdown_server(srv)


@pytest.fixture(autouse=True)
def _lift_lockouts():
    """Every suite talks to the shared server from 127.0.0.1, and many send wrong passwords or
    secrets on purpose: after each test an admin lifts the INTERFACE §10 lockouts, so one test's
    failures never lock out the next. Tests of throttling itself use a private server."""
    yield
    if SESSION_SERVER:
        response = requests.delete(SESSION_SERVER[0].base_url + "/rest/api/latest/lockout",
                                   auth=("admin", ADMIN_PASSWORD), timeout=10)
        assert response.status_code == 204, f"lifting lockouts failed: {response.status_code} {response.text}"


@pytest.fixture(scope="session")
def base_url(server):
    return server.base_url


@pytest.fixture(scope="session")
def admin_auth():
    return ("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def log_path(server):
    return server.log_path


@pytest.fixture(scope="session")
def new_session(recorder):
    """Factory for requests.Session objects whose responses are all recorded."""
    made = []

    def make():
        s = requests.Session()
        s.hooks["response"].append(recorder.hook)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture(scope="session")
def http(new_session):
    """A shared session for REST calls that never stores cookies (so only explicit credentials count)."""
    s = new_session()
    s.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return s


# --------------------------------------------------------------------------------------------
# Screenshots taken by the browser suites (test_browser_chromium.py)
# --------------------------------------------------------------------------------------------

SCREENSHOTS_ENV = "LINKGATE_SCREENSHOTS"
SCREENSHOT_FILES = []   # paths written during this run


def screenshots_dir():
    """$LINKGATE_SCREENSHOTS, or <repo>/.build/e2e-screenshots."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or (REPO_ROOT / ".build" / "e2e-screenshots")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOT_FILES:
        folders = sorted({str(Path(p).parent) for p in SCREENSHOT_FILES})
        terminalreporter.write_line(f"e2e screenshots ({len(SCREENSHOT_FILES)}): {', '.join(folders)}")
