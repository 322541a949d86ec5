"""End-to-end fixtures: run the real Linkgate binary on a free loopback port.

Environment:
  LINKGATE_BIN            path of the server binary (default: <repo>/.build/debug/linkgate)
  LINKGATE_E2E_POSTGRES   an admin URL of a private PostgreSQL cluster (scripts/pg-test-cluster):
                          when set, every server gets its own fresh database there (INTERFACE §11)
                          instead of a SQLite file; a restart in the same workdir reuses it.
"""
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from http.cookiejar import DefaultCookiePolicy
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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


# --------------------------------------------------------------------------------------------
# PostgreSQL (INTERFACE §11): one fresh database per server workdir on the private test cluster
# --------------------------------------------------------------------------------------------

POSTGRES_ENV = "LINKGATE_E2E_POSTGRES"
POSTGRES_URL_FILE = "postgres-database.url"   # in a workdir: the database its servers use
CREATED_DATABASES = []                         # (admin URL, name) made by this session, dropped at its end


def postgres_admin_url():
    """$LINKGATE_E2E_POSTGRES (an admin URL of the private test cluster), or None: run on SQLite."""
    return os.environ.get(POSTGRES_ENV, "").strip() or None


def postgres_tool(name):
    """A PostgreSQL client program (psql, pg_amcheck, ...) of the highest installed version."""
    def version(path):
        part = Path(path).parts[4]          # /usr/lib/postgresql/<version>/bin/<name>
        return int(part) if part.isdigit() else 0
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found (scripts/install-test-deps installs Debian's postgresql)")
    return found


def psql_binary():
    return postgres_tool("psql")


def run_sql(url, sql, timeout=30):
    """Runs `sql` (one or more statements) on the database at `url` with psql; returns the rows of
    the last statement as lists of strings (NULL is ""). Fails the test on any SQL error."""
    result = subprocess.run([psql_binary(), "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                             "-d", url, "-c", sql],
                            capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    if result.returncode != 0:
        pytest.fail(f"psql failed ({result.returncode}) on {sql!r}: {result.stderr.strip()}")
    return [line.split("\x1f") for line in result.stdout.splitlines() if line != ""]


def database_url(admin_url, name):
    """`admin_url` pointing at database `name` instead (same user, password, host, port, query)."""
    split = urlsplit(admin_url)
    return urlunsplit((split.scheme, split.netloc, "/" + name, split.query, ""))


def create_postgres_database(admin_url=None, prefix="lg_e2e"):
    """A fresh, empty database on the cluster of `admin_url` (default $LINKGATE_E2E_POSTGRES); its URL.
    Dropped at the end of the pytest session."""
    admin_url = admin_url or postgres_admin_url()
    assert admin_url, f"{POSTGRES_ENV} is not set"
    name = f"{prefix}_{secrets.token_hex(6)}"
    run_sql(admin_url, f'CREATE DATABASE "{name}"')
    CREATED_DATABASES.append((admin_url, name))
    return database_url(admin_url, name)


def drop_postgres_database(url):
    """Drops a database made by create_postgres_database now (FORCE ends its connections), e.g. before
    its cluster is stopped; returns whether psql succeeded."""
    split = urlsplit(url)
    name = split.path.lstrip("/")
    for admin_url, made in list(CREATED_DATABASES):
        if made == name and urlsplit(admin_url).netloc == split.netloc:
            CREATED_DATABASES.remove((admin_url, made))
            result = subprocess.run([psql_binary(), "-X", "-q", "-d", admin_url, "-c",
                                     f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                                    capture_output=True, timeout=60, env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
            return result.returncode == 0
    return False


def pytest_sessionfinish(session, exitstatus):
    """Drops the databases this session created (servers are stopped by now; FORCE ends stragglers,
    such as a node a failed test left running)."""
    for admin_url, name in list(CREATED_DATABASES):
        drop_postgres_database(database_url(admin_url, name))


class Server:
    def __init__(self, process, base_url, log_path, database, log_file=None, command=None):
        self.process = process
        self.base_url = base_url
        self.log_path = log_path
        self.database = database        # the SQLite file (a Path), or the PostgreSQL URL (a str)
        self.log_file = log_file
        self.command = command

    @property
    def on_postgres(self):
        return isinstance(self.database, str) and self.database.startswith(("postgres://", "postgresql://"))

    def sql(self, query, timeout=30):
        """Runs SQL on this server's PostgreSQL database (see run_sql); only for a PostgreSQL server."""
        assert self.on_postgres, f"server on {self.database} is not on PostgreSQL"
        return run_sql(self.database, query, timeout=timeout)

    def log_text(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace")


RECORDER = Recorder()


@pytest.fixture(scope="session")
def recorder():
    RECORDER.add_secret(ADMIN_PASSWORD)
    return RECORDER


def workdir_database(workdir):
    """The database for servers of `workdir`: `workdir`/linkgate.sqlite, or with $LINKGATE_E2E_POSTGRES
    a fresh PostgreSQL database made on the first start in `workdir` (its URL kept in the workdir)."""
    if postgres_admin_url() is None:
        return workdir / "linkgate.sqlite"
    remembered = workdir / POSTGRES_URL_FILE
    if remembered.is_file():
        return remembered.read_text(encoding="utf-8").strip()
    url = create_postgres_database()
    remembered.write_text(url + "\n", encoding="utf-8")
    return url


def launch_server(workdir, port=None, extra_args=(), database=None, public_base_url=None):
    """Starts the Linkgate binary on a free loopback port with the database `workdir`/linkgate.sqlite
    (fresh unless an earlier start in the same `workdir` left one; `port` restarts on that port).
    With $LINKGATE_E2E_POSTGRES set, the database is instead a fresh PostgreSQL database of its own
    (reused by a restart in the same `workdir`). `database` (a path or URL) overrides both, e.g. to
    run several nodes on one PostgreSQL database; `public_base_url` is the `--base-url` (default: the
    node's own address), e.g. the one address of several nodes behind a load balancer.

    Waits until GET /status answers 200; fails the calling test/fixture (with the server log) if it
    does not. Used by the session `server` fixture and by suites that need a private instance;
    `extra_args` are more `linkgate serve` flags (e.g. `["--idle-timeout", "2"]`).
    The log `workdir`/server.log is appended to, so a restarted server's log follows the first.
    """
    binary = Path(os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN)))
    if not binary.is_file():
        pytest.fail(f"server binary not found: {binary} (build it, or set LINKGATE_BIN)")
    workdir = Path(workdir)
    database = database if database is not None else workdir_database(workdir)
    log_path = workdir / "server.log"
    port = port or _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["LINKGATE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    # Flags below win over any LINKGATE_* variable that may be set in the caller's shell.
    command = [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--database", str(database), "--base-url", public_base_url or base_url, *extra_args]
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


def launch_watching_startup(workdir, probe_path, **launch_args):
    """`launch_server` on a free port in a thread while this thread polls GET /status (INTERFACE §15):
    returns (the server or None, every (status code, state) seen before it was up, the answer to one
    admin GET of `probe_path` sent while the state was STARTING, or None)."""
    import threading
    port = _free_port()
    launched = {}
    starter = threading.Thread(target=lambda: launched.setdefault("server", launch_server(workdir, port=port, **launch_args)))
    starter.start()
    base = f"http://127.0.0.1:{port}"
    states, probe = [], None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while starter.is_alive() and time.monotonic() < deadline:
        try:
            resp = requests.get(base + "/status", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.05)
            continue
        states.append((resp.status_code, resp.json()["state"]))
        if states[-1] == (503, "STARTING") and probe is None:
            probe = requests.get(base + probe_path, auth=("admin", ADMIN_PASSWORD), timeout=2)
        time.sleep(0.1)
    starter.join(STARTUP_TIMEOUT)
    return launched.get("server"), states, probe


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


# --------------------------------------------------------------------------------------------
# The OAuth suites' common parts (a suite with its own kind of browser defines its own fixture)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def admin(http, base_url, admin_auth, recorder):
    """The admin's REST client (oauth_support.Admin) against the session's server."""
    from oauth_support import Admin  # oauth_support imports this module
    return Admin(http, base_url, admin_auth, recorder)


@pytest.fixture(scope="module")
def redirect_uri():
    """A loopback redirect URI (RFC 8252 §7.3) on a port nothing listens on: redirects are captured, not followed."""
    from oauth_support import unused_loopback_port
    return f"http://127.0.0.1:{unused_loopback_port()}/cb"


@pytest.fixture()
def browser(new_session, base_url, recorder):
    """A person's cookie-keeping browser (oauth_support.Browser), its answers checked by the recorder."""
    from oauth_support import Browser
    return Browser(new_session(), base_url, recorder)
