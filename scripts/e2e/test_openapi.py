"""`GET /rest/openapi.json` (INTERFACE §15) end to end: the document is valid OpenAPI 3.1, names every
route the route files register, and a private server's answers conform to it under schemathesis.

Schemathesis (the CLI of the pinned package in requirements.txt) sends every operation of the
document, valid and invalid data alike, as an admin with HTTP Basic, and checks that no answer is a
5xx and that each answer's status code, content type, headers and body are the documented ones.
The test fails on any failure it reports.

Lockouts (INTERFACE §10): schemathesis sends only the right password, but it learns user names
from responses and would change the password of (or delete) the admin it runs as, after which it
would test nothing but lockouts. So it runs as a second admin made for the run, and
schemathesis_hooks.py keeps that admin and the suite's `admin` out of generated `{name}`s; the
lockout list must be empty afterwards and both admins must still log in. The hooks also keep every
`consumerInfoUrl` fetch on loopback.
"""
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from conftest import ADMIN_PASSWORD, DEFAULT_BIN, REPO_ROOT, launch_server, shutdown_server

sys.path.insert(0, str(REPO_ROOT / "python"))
from linkgate_fixture import Fixture  # noqa: E402

SERVER_SOURCES = REPO_ROOT / "Sources" / "LinkgateServer"
# Where routes are registered: the REST/OAuth routes, fixture mode's control API, and the console
# pages (read too, so the check below sees that each of them is an HTML page and nothing else).
ROUTE_FILES = (sorted((SERVER_SOURCES / "Routes").glob("*.swift")) + sorted((SERVER_SOURCES / "Console").glob("*.swift"))
               + sorted((SERVER_SOURCES / "Fixture").glob("*.swift")))
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,unsupported_method")
TIME_BUDGET = 240          # seconds, for the whole schemathesis test (debug build, 2 cores)
FUZZ_ADMIN = "openapi-fuzz-admin"
# Every phase but stateful's long random walks is bounded by the examples per operation; the
# stateful phase follows the document's links (create → get/update/delete) a few times.
PHASES = ["--max-examples", "10", "--phases", "examples,coverage,fuzzing,stateful"]


def is_console_page(path):
    """The browser console and its assets: HTML pages for people, not REST or OAuth endpoints."""
    return path == "/" or path == "/admin" or path.startswith(("/admin/", "/profile/", "/static/"))


def registered_routes():
    """{(METHOD, /path/{param}): file} of every route the route files register, read from the Swift source.
    Each registration form the files use is understood; any other line in an `add(to:)` fails the
    test, so a new form cannot slip by unread. Closure handlers' bodies are skipped."""
    routes = {}
    for file in ROUTE_FILES:
        text = file.read_text(encoding="utf-8")
        constants = dict(re.findall(r'static let (\w+) = "([^"]+)"', text))
        body = re.search(r"func add\(to router: [^)]*\) \{\n(.*?)\n    \}\n", text, re.S)
        if body is None:
            continue
        groups = dict(re.findall(r'let (\w+) = router\.group\("([^"]+)"\)', body.group(1)))
        loop_paths, loop_methods, closure_depth = [], [], 0
        for line in body.group(1).splitlines():
            line = line.strip()
            if closure_depth:
                closure_depth += line.count("{") - line.count("}")
                continue
            if m := re.match(r'for path in \[(.*)\] \{$', line):
                loop_paths = re.findall(r'"([^"]+)"', m.group(1))
                continue
            if m := re.match(r'for method in \[(.*)\] \{$', line):
                loop_methods = [w.upper() for w in re.findall(r"\.(get|post|put|delete|patch|head)\b", m.group(1))]
                continue
            if line == "}":
                loop_paths, loop_methods = [], []
                continue
            if line == "" or line.startswith(("let ", "//")):
                continue
            m = re.match(r'(\w+)\.(get|post|put|delete|on)\((.*)$', line)
            if m is None:
                raise AssertionError(f"{file.name}: cannot read route registration {line!r}")
            target, method, args = m.groups()
            prefix = "" if target == "router" else groups.get(target)
            assert prefix is not None, f"{file.name}: {target} is not a router group: {line!r}"
            if a := re.match(r'(?:RouterPath\()?"([^"]*)"', args):
                paths = [a.group(1)]
            elif args.startswith("RouterPath(path)"):
                paths = loop_paths
            elif a := re.match(r"RouterPath\(Self\.(\w+)\)", args):
                paths = [constants[a.group(1)]]
            elif args.startswith("use:"):
                paths = [""]
            else:
                raise AssertionError(f"{file.name}: cannot read route registration {line!r}")
            methods = loop_methods if method == "on" else [method.upper()]
            assert methods and paths, f"{file.name}: cannot tell the method or path of {line!r}"
            closure_depth = line.count("{") - line.count("}")
            for path in paths:
                full = "/" + "/".join(s for s in (prefix + "/" + path).split("/") if s)
                full = re.sub(r"/:(\w+)", r"/{\1}", full)
                for verb in methods:
                    routes[(verb, full)] = file
    return routes


def documented_operations(document):
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in ("get", "put", "post", "delete", "patch", "head", "options")}


@pytest.fixture(scope="module")
def private_server(tmp_path_factory):
    srv = launch_server(tmp_path_factory.mktemp("openapi"))
    yield srv
    shutdown_server(srv)


def test_document_is_valid_openapi_3_1_with_the_base_url(private_server):
    response = requests.get(private_server.base_url + "/rest/openapi.json", timeout=10)   # public: no credentials
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": private_server.base_url}]
    try:
        validate_openapi(document)
    except OpenAPIValidationError as error:
        pytest.fail(f"not valid OpenAPI 3.1: {error}")
    # The served document is the stored one, apart from `servers`.
    import json
    stored = json.loads((REPO_ROOT / "Resources" / "openapi.json").read_text(encoding="utf-8"))
    stored["servers"] = document["servers"]
    assert stored == document


def test_every_registered_route_is_documented(private_server):
    document = requests.get(private_server.base_url + "/rest/openapi.json", timeout=10).json()
    routes = registered_routes()
    documented = documented_operations(document)
    api_routes = {r for r in routes if not is_console_page(r[1])}
    assert len(api_routes) > 50, sorted(routes)
    assert ("POST", "/rest/oauth2/latest/token") in api_routes and ("DELETE", "/__fixture/faults/{id}") in api_routes
    assert ("GET", "/rest/openapi.json") in api_routes and ("GET", "/status") in api_routes
    assert sorted(api_routes - documented) == [], "routes missing from Resources/openapi.json"
    assert sorted(documented - api_routes) == [], "documented operations that no route file registers"
    # The console pages left out are HTML for people: each answers a page or a redirect to the
    # login page, never JSON (fixture mode's /admin/requests is not in serve).
    console = sorted(r for r in routes if is_console_page(r[1]))
    assert len(console) > 20, console
    for method, path in console:
        if method == "GET" and "{" not in path and routes[(method, path)].parent.name != "Fixture":
            answer = requests.get(private_server.base_url + path, allow_redirects=False, timeout=10)
            assert answer.status_code in (200, 303), (path, answer.status_code)
            assert not answer.headers.get("Content-Type", "").startswith("application/json"), path


def schemathesis_binary():
    path = Path(sys.executable).parent / "schemathesis"
    assert path.is_file(), f"schemathesis not installed next to {sys.executable} (scripts/e2e/requirements.txt)"
    return str(path)


def run_schemathesis(base_url, extra, workdir, timeout, runner=("", ""), protected=()):
    """The schemathesis CLI on the document the server at `base_url` serves, with the hooks of
    schemathesis_hooks.py; its exit code and output. The document is handed over as a file (with
    --url): loaded from its URL, schemathesis would leave out the operation that serves it."""
    served = requests.get(base_url + "/rest/openapi.json", timeout=10)
    assert served.status_code == 200, served.text
    schema_file = Path(workdir) / "openapi.json"
    schema_file.write_bytes(served.content)
    command = [schemathesis_binary(), "run", str(schema_file), "--url", base_url, "--checks", CHECKS, "--workers", "1",
               "--seed", "15", "--max-redirects", "0", "--request-timeout", "20", "--suppress-health-check", "all",
               "--no-color", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEMATHESIS_", "LINKGATE_", "OPENAPI_"))}
    env.update({"SCHEMATHESIS_HOOKS": "schemathesis_hooks", "OPENAPI_BASE_URL": base_url,
                "OPENAPI_RUNNER_USER": runner[0], "OPENAPI_RUNNER_PASSWORD": runner[1],
                "OPENAPI_PROTECTED_USERS": ",".join(protected),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent),
                                                            os.environ.get("PYTHONPATH")]))})
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=str(workdir), env=env)
    output = result.stdout + result.stderr
    return result.returncode, output


def served_operations(base_url, fixture):
    """How many operations of the served document are (fixture=True) or are not fixture-only."""
    document = requests.get(base_url + "/rest/openapi.json", timeout=10).json()
    return sum(1 for item in document["paths"].values() for method, operation in item.items()
               if method in ("get", "put", "post", "delete") and ("fixture" in operation.get("tags", [])) == fixture)


def assert_every_operation_passed(output, expected):
    """schemathesis' summary: every selected operation tested, and every generated case passed."""
    tested = re.search(r"Tested: (\d+)", output)
    assert tested and int(tested.group(1)) == expected, f"expected {expected} operations tested:\n{output[-3000:]}"
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases and cases.group(1) == cases.group(2) and int(cases.group(1)) > 10 * expected, output[-3000:]


def test_schemathesis_finds_no_server_error_and_no_violation(tmp_path):
    started = time.monotonic()
    (tmp_path / "serve").mkdir()
    srv = launch_server(tmp_path / "serve")
    try:
        base = srv.base_url
        admin = ("admin", ADMIN_PASSWORD)
        password = secrets.token_urlsafe(24)
        made = requests.post(base + "/rest/api/latest/user", auth=admin, timeout=10,
                             json={"name": FUZZ_ADMIN, "password": password, "admin": True})
        assert made.status_code == 201, made.text
        code, output = run_schemathesis(
            base, ["--auth", f"{FUZZ_ADMIN}:{password}", "--exclude-tag", "fixture", *PHASES],
            tmp_path, timeout=TIME_BUDGET, runner=(FUZZ_ADMIN, password), protected=(FUZZ_ADMIN, "admin"))
        print(output[-6000:])
        assert code == 0, f"schemathesis reported failures against serve:\n{output[-20000:]}"
        assert_every_operation_passed(output, served_operations(base, fixture=False))
        # Nothing it sent counted as a failed password check: no lockouts, both admins still work.
        lockouts = requests.get(base + "/rest/api/latest/lockout", auth=(FUZZ_ADMIN, password), timeout=10)
        assert lockouts.status_code == 200 and lockouts.json() == [], lockouts.text
        assert requests.get(base + "/rest/api/latest/myself", auth=admin, timeout=10).json()["admin"] is True
        assert srv.process.poll() is None, "the server died under schemathesis"
    finally:
        shutdown_server(srv)
    # The fixture's control API, with its own bearer scheme, on a fixture process.
    fixture = Fixture(binary=os.environ.get("LINKGATE_BIN", str(DEFAULT_BIN)), cwd=str(REPO_ROOT),
                      env={k: v for k, v in os.environ.items() if not k.startswith("LINKGATE_")})
    try:
        remaining = TIME_BUDGET - (time.monotonic() - started)
        code, output = run_schemathesis(
            fixture.base_url, ["-H", f"Authorization: Bearer {fixture.control_token}", "--include-tag", "fixture", *PHASES],
            tmp_path, timeout=max(10, remaining))
        print(output[-4000:])
        assert code == 0, f"schemathesis reported failures against the fixture control API:\n{output[-20000:]}"
        assert_every_operation_passed(output, served_operations(fixture.base_url, fixture=True))
    finally:
        assert fixture.stop() == 0
    elapsed = time.monotonic() - started
    print(f"schemathesis test took {elapsed:.1f} s")
    assert elapsed < TIME_BUDGET, f"took {elapsed:.0f} s, over the {TIME_BUDGET} s budget"
