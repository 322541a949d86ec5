"""Run `linkgate fixture` from Python tests and drive its control API (INTERFACE.md §12).

One file, standard library plus `requests`. Typical use::

    from linkgate_fixture import Fixture

    with Fixture(config={"users": [{"name": "alice", "password": "alice-pass-1"}],
                         "clients": [{"name": "App", "redirects": ["http://127.0.0.1:9/cb"],
                                      "scope": "WRITE", "clientId": "app",
                                      "clientSecret": "app-secret-0123456789"}]}) as lg:
        tokens = lg.mint_tokens("app", user="alice")
        requests.get(lg.base_url + "/rest/api/latest/myself",
                     headers={"Authorization": "Bearer " + tokens["access_token"]})

pytest, one fixture process per session (and, under pytest-xdist, per worker: each worker is its
own Python process, so a session-scoped fixture starts one server per worker on its own free
port)::

    # conftest.py
    import pytest
    from linkgate_fixture import fixture_session
    linkgate = fixture_session(config="tests/seed.json")   # the pytest fixture `linkgate`

    @pytest.fixture(autouse=True)
    def _clean(linkgate):
        linkgate.reset()                                     # every test starts from the seed

The binary is `binary=`, else $LINKGATE_BIN, else `linkgate` on PATH.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from urllib.parse import quote

import requests as _http

__all__ = ["Fixture", "Sandbox", "FixtureError", "FixtureStartError", "ControlError", "fixture_session",
           "worker_id"]

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CONTROL_TIMEOUT = 30.0


class FixtureError(Exception):
    """Base class of this module's errors."""


class FixtureStartError(FixtureError):
    """The fixture process did not print its ready line (it died, timed out or printed garbage)."""


class ControlError(FixtureError):
    """A control call answered an unexpected status. `error`/`error_description` come from the
    JSON error body when there is one; `response` is the requests.Response."""

    def __init__(self, method, url, response):
        self.status = response.status_code
        self.response = response
        self.error = None
        self.error_description = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            self.error = body.get("error")
            self.error_description = body.get("error_description")
        detail = f"{self.error}: {self.error_description}" if self.error else response.text[:300]
        super().__init__(f"{method} {url} -> {self.status} {detail}")


def worker_id():
    """The pytest-xdist worker id ("gw0", "gw1", ...) or "master" outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")


def _drop_none(mapping):
    return {k: v for k, v in mapping.items() if v is not None}


class _Control:
    """The control API of INTERFACE §12 at `<base_url>/__fixture/...` (a fixture or a sandbox)."""

    def __init__(self, base_url, control_token):
        self.base_url = base_url.rstrip("/")
        self.control_token = control_token
        self._local = threading.local()       # one requests.Session per thread for the control calls

    def url(self, path):
        """An absolute URL of this server (`path` starts with "/")."""
        return self.base_url + path

    def control(self, method, path, body=None, params=None, expect=(200,)):
        """One control call (`path` below /__fixture); returns the Response, raises ControlError
        unless its status is in `expect`."""
        url = self.base_url + "/__fixture" + path
        response = self._session().request(method, url, json=body, params=params, allow_redirects=False,
                                     headers={"Authorization": "Bearer " + self.control_token},
                                     timeout=CONTROL_TIMEOUT)
        if response.status_code not in expect:
            raise ControlError(method, url, response)
        return response

    def discovery(self):
        """GET /.well-known/openid-configuration of this server (INTERFACE §14): its OpenID Connect
        issuer (this base URL, a sandbox's own), endpoints and `jwks_uri`, for a relying party."""
        response = self._session().get(self.base_url + "/.well-known/openid-configuration", timeout=CONTROL_TIMEOUT)
        response.raise_for_status()
        return response.json()

    # -- state --------------------------------------------------------------------------------

    def reset(self):
        """POST /__fixture/reset: back to the state right after the seed (tokens, codes, consents,
        sessions, nonces, lockouts, faults and journal cleared, clock restored)."""
        self.control("POST", "/reset", expect=(204,))

    def clock(self):
        """GET /__fixture/clock → the server's time (epoch seconds)."""
        return self.control("GET", "/clock").json()["now"]

    def set_clock(self, epoch):
        """Sets the server's clock to `epoch` (it keeps running from there) → the new time."""
        return self.control("POST", "/clock", {"set": int(epoch)}).json()["now"]

    def advance(self, seconds):
        """Moves the server's clock by `seconds` (may be negative) → the new time."""
        return self.control("POST", "/clock", {"advance": int(seconds)}).json()["now"]

    # -- flows without a browser --------------------------------------------------------------

    def authorize(self, url, user, decision="approve", scope=None):
        """Runs the OAuth 2.0 authorize request `url` (a full authorize URL) and its consent for
        `user` → the redirect URL (with `code`, or an error redirect). An invalid request raises
        ControlError (status 400, `.error`, `.error_description`)."""
        body = _drop_none({"url": url, "user": user, "decision": decision, "scope": scope})
        return self.control("POST", "/authorize", body).json()["redirect"]

    def oauth1_authorize(self, oauth_token, user, decision="approve"):
        """Approves or denies an OAuth 1.0a request token for `user` →
        {"verifier": str|None, "redirect": str|None}."""
        body = {"oauthToken": oauth_token, "user": user, "decision": decision}
        return self.control("POST", "/oauth1/authorize", body).json()

    def mint_tokens(self, client_id, user=None, scope=None, expires_in=None, refresh=False):
        """Mints tokens of `client_id` without a flow → the token response of §6
        (without `user`: an application token)."""
        body = _drop_none({"clientId": client_id, "user": user, "scope": scope, "expiresIn": expires_in})
        body["refresh"] = bool(refresh)
        return self.control("POST", "/tokens", body).json()

    # -- faults -------------------------------------------------------------------------------

    def add_fault(self, endpoint, match=None, times=1, status=None, error=None, error_description=None,
                  body=None, content_type=None, delay_ms=None, drop=False):
        """The next `times` requests to `endpoint` (a §12 endpoint name) that match `match`
        ({"client_id", "grant_type", "user"}, any subset) get this answer instead → the fault id."""
        fault = _drop_none({"endpoint": endpoint, "match": match, "times": times, "status": status,
                            "error": error, "errorDescription": error_description, "body": body,
                            "contentType": content_type, "delayMs": delay_ms})
        if drop:
            fault["drop"] = True
        return self.control("POST", "/faults", fault, expect=(201,)).json()["id"]

    def faults(self):
        """The faults still armed (a list of dicts)."""
        return self.control("GET", "/faults").json()

    def clear_faults(self, id=None):  # noqa: A002 - the control API's name
        """Removes the fault `id`, or every fault."""
        path = "/faults" if id is None else "/faults/" + quote(str(id), safe="")
        self.control("DELETE", path, expect=(204,))

    # -- journal ------------------------------------------------------------------------------

    def requests(self, endpoint=None, since=None):
        """The request journal, oldest first; `endpoint` filters by §12 endpoint name, `since`
        keeps the entries whose id is greater."""
        return self.control("GET", "/requests", params=_drop_none({"endpoint": endpoint, "since": since})).json()

    journal = requests

    # -- sandboxes ----------------------------------------------------------------------------

    def sandbox(self, config=None):
        """Creates an isolated server inside this one, seeded from `config` (a seed dict) → Sandbox."""
        body = {} if config is None else {"config": config}
        created = self.control("POST", "/sandboxes", body, expect=(201,)).json()
        return Sandbox(self, created["id"], created["baseUrl"])

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _http.Session()
        return session

    def close_session(self):
        """Closes this thread's control session (others close when their thread ends)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None


class Sandbox(_Control):
    """A sandbox (`<BASE>/s/<id>`): the whole server and the control API under its own base URL,
    with the parent's control token."""

    def __init__(self, parent, sandbox_id, base_url):
        super().__init__(base_url, parent.control_token)
        self.parent = parent
        self.id = sandbox_id

    def delete(self):
        """DELETE /__fixture/sandboxes/{id} on the parent."""
        self.parent.control("DELETE", "/sandboxes/" + quote(str(self.id), safe=""), expect=(204,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.delete()

    def __repr__(self):
        return f"Sandbox({self.base_url!r})"


class Fixture(_Control):
    """A `linkgate fixture` process, started at construction; `.stop()` (or `with`) ends it.

    binary: the linkgate executable (default $LINKGATE_BIN, else `linkgate` on PATH).
    config: a seed dict (written to a temporary file) or the path of a seed file.
    host, port, base_url: passed as --host / --port (default 0: a free port) / --base-url.
    ready_file: a path for --ready-file, True for one in the temporary folder, or None.
    log_path: where the server's stderr goes (default: a file in the temporary folder).
    extra_args: more command-line arguments; env, cwd: for the process (the server reads its
      templates from ./Resources unless `extra_args=["--resources", DIR]` or LINKGATE_RESOURCES).
    timeout: seconds to wait for the ready line.

    After start: .base_url, .control_token, .pid, .process, .ready (the parsed ready line),
    .startup_seconds (process start → ready line), .log_path, .ready_file.
    """

    def __init__(self, binary=None, config=None, host=None, port=0, base_url=None, ready_file=None,
                 log_path=None, extra_args=(), env=None, cwd=None, timeout=STARTUP_TIMEOUT):
        self.binary = binary or os.environ.get("LINKGATE_BIN") or shutil.which("linkgate")
        if not self.binary:
            raise FixtureStartError("linkgate binary not found: pass binary=, set LINKGATE_BIN or put it on PATH")
        self.tmpdir = tempfile.mkdtemp(prefix=f"linkgate-fixture-{worker_id()}-")
        self.config_path = None
        if isinstance(config, dict):
            self.config_path = os.path.join(self.tmpdir, "seed.json")
            with open(self.config_path, "w", encoding="utf-8") as f:
                json.dump(config, f)
        elif config is not None:
            self.config_path = os.fspath(config)
        if ready_file is True:
            ready_file = os.path.join(self.tmpdir, "ready.json")
        self.ready_file = os.fspath(ready_file) if ready_file else None
        self.log_path = os.fspath(log_path) if log_path else os.path.join(self.tmpdir, "fixture.log")

        command = [self.binary, "fixture", "--port", str(port)]
        if host is not None:
            command += ["--host", host]
        if base_url is not None:
            command += ["--base-url", base_url]
        if self.config_path is not None:
            command += ["--config", self.config_path]
        if self.ready_file is not None:
            command += ["--ready-file", self.ready_file]
        command += list(extra_args)
        self.command = command

        self.stdout_lines = []                  # every line the process printed on stdout
        self._lines = deque()
        self._line_event = threading.Condition()
        self._log = open(self.log_path, "ab")   # stderr goes here: never a full pipe
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._log, env=env, cwd=cwd)
        self._reader = threading.Thread(target=self._read_stdout, name="linkgate-fixture-stdout", daemon=True)
        self._reader.start()
        try:
            line = self._wait_ready_line(timeout)
            try:
                ready = json.loads(line)
                base, token, pid = ready["baseUrl"], ready["controlToken"], ready["pid"]
            except (ValueError, KeyError, TypeError):
                raise FixtureStartError(f"not a ready line: {line!r}\n{self._stderr_tail()}") from None
        except BaseException:
            self._terminate()
            shutil.rmtree(self.tmpdir, ignore_errors=True)     # the error carries the stderr tail
            raise
        self.startup_seconds = time.monotonic() - started
        self.ready = ready
        self.pid = pid
        super().__init__(base, token)

    # -- process ------------------------------------------------------------------------------

    def _read_stdout(self):
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._line_event:
                self.stdout_lines.append(line)
                self._lines.append(line)
                self._line_event.notify_all()
        with self._line_event:
            self._line_event.notify_all()

    def _wait_ready_line(self, timeout):
        deadline = time.monotonic() + timeout
        with self._line_event:
            while not self._lines:
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise FixtureStartError(f"linkgate fixture exited with code {self.process.returncode} "
                                            f"before its ready line; command: {' '.join(self.command)}\n"
                                            f"{self._stderr_tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FixtureStartError(f"no ready line within {timeout:.0f} s; command: "
                                            f"{' '.join(self.command)}\n{self._stderr_tail()}")
                self._line_event.wait(min(left, 0.1))
            return self._lines.popleft()

    def _stderr_tail(self, limit=4000):
        try:
            self._log.flush()
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - limit))
                text = f.read().decode("utf-8", "replace")
        except OSError as error:
            text = f"(log unreadable: {error})"
        return f"--- stderr (last {limit} bytes) ---\n{text}"

    def log_text(self):
        """The server's stderr so far."""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _terminate(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()
        return self.process.returncode

    def stop(self, remove_files=True):
        """SIGTERM, wait up to 10 s, then SIGKILL → the exit code. Removes the temporary folder
        (seed copy, default log and ready file) unless `remove_files` is false."""
        code = self._terminate()
        self.close_session()
        if remove_files:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return code

    @property
    def running(self):
        return self.process.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"Fixture({getattr(self, 'base_url', None)!r}, pid={self.process.pid})"


def fixture_session(name="linkgate", **fixture_args):
    """A session-scoped pytest fixture named `name` that starts one Fixture(**fixture_args) and
    stops it at the end of the session. Assign it in a conftest.py (`linkgate = fixture_session()`).

    Under pytest-xdist every worker is its own process with its own session, so each worker gets
    its own fixture process on its own free port (`--port 0`); its stderr log is named after the
    worker (see `worker_id()`): its temporary folder is named after the worker."""
    import pytest  # only needed by this helper

    @pytest.fixture(scope="session", name=name)
    def _fixture():
        fixture = Fixture(**fixture_args)
        try:
            yield fixture
        finally:
            fixture.stop()

    return _fixture
