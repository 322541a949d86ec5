"""Linkgate as the OpenID Provider of a REAL Apache httpd with mod_auth_openidc (INTERFACE.md §14).

The suite starts its own apache2 (`apache2 -f <conf> -DFOREGROUND`) on a free loopback port, with a
private configuration in a temporary directory (ServerRoot, PidFile, ErrorLog, Mutex and the
LoadModule lines all there; the system apache2 is never used). mod_auth_openidc is configured ONLY
from Linkgate's discovery document (OIDCProviderMetadataURL) plus the client registered over REST:

    <Location /protected>  AuthType openid-connect / Require valid-user

The protected location is a CGI script (mod_cgi, python3) that echoes REMOTE_USER and the OIDC_CLAIM_*
variables mod_auth_openidc sets, as JSON: what the protected application sees. The person's browser
is oauth_support.Browser (a cookie-keeping requests.Session; redirects followed one at a time).

mod_auth_openidc itself validates the id_token (RS256 signature against the JWKS from discovery, iss,
aud, exp, iat, nonce, at_hash); the suite checks the outcome and that apache's error log has no
auth_openidc errors. apache2 or mod_auth_openidc missing is a failure, never a skip
(scripts/install-test-deps installs both).
"""
import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from daemon_support import free_port, private_daemon
from oauth_support import AUTHORIZE, Browser, describe, query_params, uniq

DISCOVERY = "/.well-known/openid-configuration"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
# mod_cgi needs a non-threaded MPM (mod_cgid otherwise); mod_auth_openidc works with any.
MODULES = ("mpm_prefork", "authn_core", "authz_core", "authz_user", "mime", "alias", "cgi", "env", "headers",
           "auth_openidc")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
CGI_SCRIPT = """#!{python}
# Echoes the authenticated identity mod_auth_openidc hands the application (OIDCPassClaimsAs environment).
import json, os
seen = {{k: v for k, v in os.environ.items() if k == "REMOTE_USER" or k.startswith("OIDC_CLAIM_")}}
body = json.dumps(seen)
print("Content-Type: application/json")
print("Cache-Control: no-store")
print()
print(body)
"""


def _find_apache():
    binary = os.environ.get("APACHE2") or shutil.which("apache2") or "/usr/sbin/apache2"
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail("apache2 is required for the mod_auth_openidc suite but was not found ($APACHE2, PATH, "
                    "/usr/sbin/apache2). scripts/install-test-deps installs it (Debian: apache2).")
    for module in MODULES:
        if not (APACHE_MODULES / f"mod_{module}.so").is_file():
            pytest.fail(f"{APACHE_MODULES}/mod_{module}.so is missing: scripts/install-test-deps installs apache2 and "
                        "libapache2-mod-auth-openidc")
    return binary


class Apache:
    def __init__(self, process, root, port, error_log, client):
        self.process = process
        self.root = root
        self.port = port
        self.error_log = error_log
        self.client = client
        self.url = f"http://127.0.0.1:{port}"

    def log(self):
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def log_mark(self):
        return len(self.log())

    def oidc_errors(self, since=0):
        """auth_openidc lines at level error or worse (mod_auth_openidc logs as [auth_openidc:<level>]), after
        `since` (a log_mark()); any [core:error] too (a failed CGI, a refused configuration)."""
        bad = ("[auth_openidc:error]", "[auth_openidc:crit]", "[auth_openidc:alert]", "[auth_openidc:emerg]",
               "[core:error]", "[cgi:error]")
        return [line for line in self.log()[since:].splitlines() if any(level in line for level in bad)]


@pytest.fixture(scope="module")
def apache(server, base_url, admin):
    binary = _find_apache()
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/protected/redirect_uri"
    # Registered over REST like any other client (INTERFACE §6); scope = the permission value granted.
    client = admin.create_client([redirect_uri], scope="READ", name=uniq("apache-oidc"))
    # Not pytest's tmp dir (0700 under /tmp/pytest-of-<user>): when the suite runs as root, apache's
    # children run as an unprivileged user that must read the CGI script.
    root = Path(tempfile.mkdtemp(prefix="linkgate-apache-"))
    os.chmod(root, 0o755)
    (root / "logs").mkdir()
    cgi = root / "cgi"
    cgi.mkdir()
    script = cgi / "whoami"
    # The system interpreter (stdlib only): the venv may sit in a directory apache's children cannot read.
    script.write_text(CGI_SCRIPT.format(python=shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"))
    script.chmod(0o755)
    error_log = root / "logs" / "error.log"
    user_lines = ""
    if os.geteuid() == 0:
        # apache refuses to serve as root: children run as www-data (nobody when absent).
        try:
            pwd.getpwnam("www-data")
            user, group = "www-data", "www-data"
        except KeyError:
            user, group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        user_lines = f"User {user}\nGroup {group}\n"
    passphrase = uniq("oidc-crypto-passphrase")
    loads = "\n".join(f"LoadModule {m}_module {APACHE_MODULES / f'mod_{m}.so'}" for m in MODULES)
    conf = root / "httpd.conf"
    conf.write_text(f"""# generated by scripts/e2e/test_apache_oidc.py
ServerRoot {root}
{loads}
{user_lines}ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {root / 'logs' / 'httpd.pid'}
ErrorLog {error_log}
LogLevel warn auth_openidc:info
Mutex file:{root / 'logs'}
DefaultRuntimeDir {root / 'logs'}
StartServers 1
MinSpareServers 1
MaxSpareServers 2
DocumentRoot {cgi}
TypesConfig /dev/null

# The OpenID Provider, from its discovery document only (OpenID Discovery 1.0).
OIDCProviderMetadataURL {base_url}{DISCOVERY}
OIDCClientID {client['clientId']}
OIDCClientSecret {client['clientSecret']}
OIDCRedirectURI {redirect_uri}
OIDCCryptoPassphrase {passphrase}
OIDCScope "openid profile email"
OIDCPKCEMethod S256
OIDCRemoteUserClaim preferred_username
OIDCPassClaimsAs environment

ScriptAlias /protected {script}
<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
""", encoding="utf-8")
    command = [binary, "-f", str(conf), "-DFOREGROUND"]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    check = subprocess.run([binary, "-f", str(conf), "-t"], capture_output=True, text=True, timeout=30, env=env)
    if check.returncode != 0:
        pytest.fail(f"apache2 -t refused the configuration:\n{check.stdout}{check.stderr}\n--- httpd.conf ---\n"
                    f"{conf.read_text()}")
    try:
        with private_daemon("apache2", command, root / "logs" / "stdout.log", [port], signal.SIGTERM,
                            start_timeout=START_TIMEOUT, stop_timeout=STOP_TIMEOUT, env=env,
                            describe_failure=lambda: error_log.read_text(errors="replace")
                            if error_log.exists() else "") as process:
            yield Apache(process, root, port, error_log, client)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def browser(base_url, recorder):
    """A person's browser; only Linkgate's answers go to the suite's recorder (apache's own HTML redirect pages
    do not carry Linkgate's anti-framing headers, and must not be counted against it)."""
    session = requests.Session()
    session.hooks["response"].append(
        lambda resp, *a, **kw: recorder.hook(resp, *a, **kw) if resp.request.url.startswith(base_url + "/") else None)
    yield Browser(session, base_url, recorder)
    session.close()


def new_user(admin, recorder):
    name = uniq("apache-user")
    password = f"pw-{uniq('secret')}-Zq9!"
    recorder.add_secret(password)
    body = {"name": name, "password": password, "displayName": f"Display {name}", "email": f"{name}@example.test"}
    resp = admin.request("POST", "/rest/api/latest/user", json=body)
    assert resp.status_code == 201, describe(resp)
    return name, password


def redirect_target(browser, resp):
    """Where apache sends the browser (mod_auth_openidc answers 302)."""
    assert resp.status_code in (302, 303), describe(resp)
    location = resp.headers.get("Location")
    assert location, describe(resp)
    return requests.compat.urljoin(resp.request.url, location)


def test_discovery_only_configuration_signs_a_person_in(apache, browser, admin, recorder, base_url):
    name, password = new_user(admin, recorder)
    client_id = apache.client["clientId"]
    mark = apache.log_mark()

    # 1. Unauthenticated → mod_auth_openidc sends the browser to Linkgate's authorize endpoint (from discovery).
    first = browser.get(apache.url + "/protected?page=1")
    authorize = redirect_target(browser, first)
    split = urlsplit(authorize)
    assert f"{split.scheme}://{split.netloc}{split.path}" == base_url + AUTHORIZE, authorize
    params = query_params(authorize)
    assert params["response_type"] == "code", params
    assert params["client_id"] == client_id, params
    assert params["redirect_uri"] == f"{apache.url}/protected/redirect_uri", params
    assert set(params["scope"].split()) == {"openid", "profile", "email"}, params
    assert params.get("nonce") and params.get("state"), params
    assert params.get("code_challenge_method") == "S256" and len(params.get("code_challenge", "")) == 43, params

    # 2. Login + consent on Linkgate → back to apache's redirect URI with code and state.
    outcome = browser.authorize(authorize, login=(name, password), consent=True)
    back = urlsplit(outcome.location)
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{apache.url}/protected/redirect_uri", outcome.location
    assert outcome.params.get("code") and outcome.params.get("state") == params["state"], outcome.location
    assert "error" not in outcome.params, outcome.location

    # 3. apache redeems the code (PKCE verifier, client secret), validates the id_token, opens its session and
    #    sends the browser back to the page it first asked for.
    landing = browser.get(outcome.location)
    original = redirect_target(browser, landing)
    assert original == apache.url + "/protected?page=1", f"{original}\n{apache.log()}"

    # 4. The protected page, as the application sees it: the right person and the id_token's claims.
    page = browser.get(original)
    assert page.status_code == 200, f"{describe(page)}\n{apache.log()}"
    seen = page.json()
    assert seen.get("REMOTE_USER") == name, seen
    assert seen.get("OIDC_CLAIM_sub") == name, seen
    assert seen.get("OIDC_CLAIM_preferred_username") == name, seen
    assert seen.get("OIDC_CLAIM_name") == f"Display {name}", seen
    assert seen.get("OIDC_CLAIM_email") == f"{name}@example.test", seen
    assert seen.get("OIDC_CLAIM_iss") == base_url, seen
    assert seen.get("OIDC_CLAIM_aud") == client_id, seen
    assert seen.get("OIDC_CLAIM_nonce") == params["nonce"], seen

    # 5. The session cookie alone keeps the person signed in: no new trip to Linkgate.
    again = browser.get(apache.url + "/protected?page=2")
    assert again.status_code == 200 and again.json().get("REMOTE_USER") == name, describe(again)

    assert apache.oidc_errors(since=mark) == [], apache.log()


def test_a_new_browser_is_sent_to_log_in_and_a_refused_consent_is_not_a_session(apache, browser, admin, recorder):
    name, password = new_user(admin, recorder)
    authorize = redirect_target(browser, browser.get(apache.url + "/protected"))
    outcome = browser.authorize(authorize, login=(name, password), consent=True, decision="deny")
    assert outcome.params.get("error") == "access_denied", outcome.location
    # mod_auth_openidc answers the OP's error with its own error page (2.4.12: status 200), never the
    # protected content.
    refused = browser.get(outcome.location)
    assert "OpenID Connect Provider error: access_denied" in refused.text, describe(refused)
    assert "REMOTE_USER" not in refused.text and "OIDC_CLAIM" not in refused.text, describe(refused)
    still_out = browser.get(apache.url + "/protected")
    assert still_out.status_code in (302, 303), describe(still_out)
    assert redirect_target(browser, still_out).startswith(browser.base + AUTHORIZE + "?"), describe(still_out)
