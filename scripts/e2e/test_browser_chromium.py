"""A real headless Chromium (selenium) through Linkgate's OAuth 2.0 pages (INTERFACE.md §3, §6, §9).

A tiny HTTP server on a free loopback port plays the application's redirect endpoint: it records
the query it receives and shows a page. Chromium opens the authorize URL, a person types into the
login form and clicks Allow; the test then exchanges the code, calls the API, and revokes the app
from the profile page. Screenshots of the pages go to $LINKGATE_SCREENSHOTS (default:
<repo>/.build/e2e-screenshots).

Needs Debian's chromium and chromium-driver (scripts/install-test-deps installs them). When either
is missing the tests FAIL with a message saying so; they are never skipped.
"""
import os
import secrets
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import SCREENSHOT_FILES, screenshots_dir
from oauth_support import (APPLICATIONS, CONSENT, PROFILE_APPS, Admin, assert_json, assert_token_response,
                           authorize_url, pkce_pair)

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    SELENIUM_IMPORT_ERROR = None
except ImportError as error:  # reported as a test failure, never a skip
    SELENIUM_IMPORT_ERROR = error

CHROMIUM = os.environ.get("LINKGATE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("LINKGATE_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 20


# --------------------------------------------------------------------------------------------
# The application's redirect endpoint
# --------------------------------------------------------------------------------------------

class CallbackServer:
    """Records every GET to /cb… (path, query pairs, Referer) and answers with a small page."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                split = urlsplit(self.path)
                if split.path == "/frame":
                    body = f'<!doctype html><title>Framing test</title><iframe id="victim" src="{outer.frame_target}" ' \
                           'width="600" height="400"></iframe>'
                elif split.path == "/frameable":
                    body = '<!doctype html><title>Frameable</title><input id="username" aria-label="control">'
                elif split.path.startswith("/cb"):
                    with outer.lock:
                        outer.received.append({"path": split.path, "query": split.query,
                                               "params": parse_qsl(split.query, keep_blank_values=True),
                                               "referer": self.headers.get("Referer")})
                    body = ('<!doctype html><html lang="en"><title>Example app</title>'
                            '<h1 id="landed">Example app: Linkgate sent you back</h1>')
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.frame_target = "about:blank"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="callback-server", daemon=True)
        self.thread.start()

    def url(self, path="/cb"):
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path):
        with self.lock:
            return [r for r in self.received if r["path"] == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def callback():
    server = CallbackServer()
    yield server
    server.stop()


# --------------------------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------------------------

class Chromium:
    """Starts headless Chromium on first use, inside the test, so that a missing browser FAILS it."""

    def __init__(self):
        self._driver = None
        self._profile = None

    @property
    def driver(self):
        if self._driver is None:
            self._driver = self._start()
        return self._driver

    def _start(self):
        problems = []
        if SELENIUM_IMPORT_ERROR is not None:
            problems.append(f"the Python package selenium is not installed ({SELENIUM_IMPORT_ERROR}); "
                            "pip install -r scripts/e2e/requirements.txt")
        for what, path, package in (("Chromium", CHROMIUM, "chromium"), ("ChromeDriver", CHROMEDRIVER, "chromium-driver")):
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                problems.append(f"{what} not found at {path} (install the Debian package {package}, "
                                "e.g. with scripts/install-test-deps)")
        if problems:
            pytest.fail("the real-browser end-to-end tests cannot run: " + "; ".join(problems), pytrace=False)
        self._profile = tempfile.TemporaryDirectory(prefix="linkgate-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900",
                    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions", "--lang=en-US",
                    f"--user-data-dir={self._profile.name}"):
            options.add_argument(arg)
        try:
            driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        except WebDriverException as error:
            pytest.fail(f"headless Chromium ({CHROMIUM}) with {CHROMEDRIVER} did not start: {error.msg}", pytrace=False)
        driver.set_page_load_timeout(WAIT)
        return driver

    def fresh(self):
        """Forget every cookie (a new person at the keyboard)."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})

    def quit(self):
        if self._driver is not None:
            self._driver.quit()
            self._driver = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None


@pytest.fixture(scope="module")
def chromium():
    browser = Chromium()
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def admin(http, base_url, admin_auth, recorder):
    return Admin(http, base_url, admin_auth, recorder)


def wait_for(driver, condition, what):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(lambda d: condition(d))
    except TimeoutException:
        pytest.fail(f"timed out waiting for {what}; the browser is at {driver.current_url}\n"
                    f"--- page ---\n{driver.page_source[:2000]}")


def wait_for_path(driver, base_url, path):
    def at(d):
        url = d.current_url
        return url.startswith(base_url + "/") and urlsplit(url).path == path and d.execute_script(
            "return document.readyState") == "complete"
    wait_for(driver, at, f"{base_url}{path}")


def wait_for_callback(driver, callback, path="/cb"):
    wait_for(driver, lambda d: d.current_url.startswith(callback.url(path)) and callback.hits(path)
             and d.find_elements(By.ID, "landed"), f"the redirect to {callback.url(path)}")
    hits = callback.hits(path)
    assert len(hits) == 1, hits
    return hits[0]


def screenshot(driver, name):
    folder = screenshots_dir()
    path = folder / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    assert path.stat().st_size > 1000, f"{path} looks empty"
    SCREENSHOT_FILES.append(path)
    print(f"screenshot saved: {path} (folder {folder})")
    return path


def assert_labelled(driver, element_id):
    """A real browser's view: the field has at least one <label> attached."""
    element = driver.find_element(By.ID, element_id)
    labels = driver.execute_script("return Array.from(arguments[0].labels || []).map(l => l.textContent.trim())", element)
    assert labels and all(labels), f"#{element_id} has no label: {labels}"
    return element


def exchange(admin, client, code, redirect_uri, verifier, scope):
    resp = admin.exchange_code(client, code, redirect_uri, verifier)
    body = assert_token_response(resp, scope)
    admin.remember_tokens(body)
    return body


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

def test_chromium_login_consent_code_exchange_and_revoke_from_profile(chromium, callback, admin, base_url):
    driver = chromium.driver
    chromium.fresh()
    user, password = admin.create_user(display_name="Chromium Person")
    redirect_uri = callback.url("/cb")
    client = admin.create_client([redirect_uri], scope="WRITE", name=f"Example App {secrets.token_hex(3)}")
    verifier, challenge = pkce_pair()
    state = "chromium state: a b&c=d+e/%20 ü ✓"
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="WRITE", state=state, code_challenge=challenge, code_challenge_method="S256")

    # Not logged in: the authorize URL lands on the login page.
    driver.get(url)
    wait_for_path(driver, base_url, "/login")
    username = assert_labelled(driver, "username")
    password_field = assert_labelled(driver, "password")
    assert password_field.get_attribute("type") == "password"
    screenshot(driver, "01-login.png")
    username.send_keys(user)
    password_field.send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type='submit']").click()

    # The consent page names the application and the scope.
    wait_for_path(driver, base_url, CONSENT)
    text = driver.find_element(By.TAG_NAME, "body").text
    assert client["name"] in text, text
    assert driver.find_element(By.ID, "scope").text == "WRITE"
    approve = driver.find_element(By.ID, "approve")
    assert approve.is_displayed() and approve.is_enabled() and approve.text.strip()
    assert driver.find_element(By.ID, "deny").is_displayed()
    screenshot(driver, "02-consent.png")
    approve.click()

    # The application's redirect endpoint gets a code and the exact state, and no Referer.
    hit = wait_for_callback(driver, callback)
    params = dict(hit["params"])
    assert sorted(name for name, _ in hit["params"]) == ["code", "state"], hit
    assert params["state"] == state, hit
    assert params["code"], hit
    admin.recorder.add_secret(params["code"])
    assert hit["referer"] is None, f"the browser sent a Referer to the application: {hit['referer']}"
    screenshot(driver, "03-redirected-to-app.png")

    # The application exchanges the code and calls the API.
    token = exchange(admin, client, params["code"], redirect_uri, verifier, "WRITE")
    me = assert_json(admin.myself(token["access_token"]), 200)
    assert me["name"] == user and me["displayName"] == "Chromium Person"
    assert me["auth"] == {"protocol": "oauth2", "mode": "user", "client": client["clientId"], "scope": "WRITE"}

    # The person opens Authorized applications, sees the app, and revokes it.
    driver.get(base_url + PROFILE_APPS)
    wait_for_path(driver, base_url, PROFILE_APPS)
    table = driver.find_element(By.CSS_SELECTOR, "table.apps")
    assert client["name"] in table.text and "WRITE" in table.text, table.text
    screenshot(driver, "04-applications.png")
    revoke = driver.find_element(By.XPATH, f"//button[@aria-label=\"Revoke {client['name']}\"]")
    assert revoke.text.strip() == "Revoke"
    revoke.click()
    wait_for(driver, lambda d: "revoked=1" in d.current_url and d.find_elements(By.ID, "no-apps"),
             "the applications page after revoking")
    assert "revoked" in driver.find_element(By.CSS_SELECTOR, "[role='status']").text.lower()
    assert client["name"] not in driver.find_element(By.TAG_NAME, "body").text
    screenshot(driver, "05-applications-revoked.png")

    # The token stopped working at once.
    resp = admin.myself(token["access_token"])
    assert resp.status_code == 401, resp.text
    assert 'error="invalid_token"' in resp.headers.get("WWW-Authenticate", "")
    assert admin.introspect(token["access_token"], client) == {"active": False}
    assert admin.introspect(token["refresh_token"], client) == {"active": False}
    assert assert_json(admin.request("GET", APPLICATIONS, auth=(user, password)), 200) == []


def test_chromium_keyboard_only_login_and_consent(chromium, callback, admin, base_url):
    """Tab and Enter only: the login form and the Allow button are reachable by keyboard."""
    driver = chromium.driver
    chromium.fresh()
    user, password = admin.create_user()
    redirect_uri = callback.url("/cb-keyboard")
    client = admin.create_client([redirect_uri], scope="READ")
    verifier, challenge = pkce_pair()
    url = authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                        scope="READ", state="keyboard", code_challenge=challenge, code_challenge_method="S256")
    driver.get(url)
    wait_for_path(driver, base_url, "/login")
    assert driver.switch_to.active_element.get_attribute("id") == "username", "the user name field is not focused"
    ActionChains(driver).send_keys(user).send_keys(Keys.TAB).send_keys(password).send_keys(Keys.ENTER).perform()

    wait_for_path(driver, base_url, CONSENT)
    focused = []
    for _ in range(25):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        active = driver.switch_to.active_element
        focused.append(active.get_attribute("id") or active.tag_name)
        if active.get_attribute("id") == "approve":
            break
    assert focused[-1] == "approve", f"Tab never reached the Allow button; focus went {focused}"
    ActionChains(driver).send_keys(Keys.ENTER).perform()

    hit = wait_for_callback(driver, callback, "/cb-keyboard")
    params = dict(hit["params"])
    assert set(params) == {"code", "state"} and params["state"] == "keyboard", hit
    admin.recorder.add_secret(params["code"])
    token = exchange(admin, client, params["code"], redirect_uri, verifier, "READ")
    assert assert_json(admin.myself(token["access_token"]), 200)["name"] == user


def test_chromium_deny_reaches_the_app_with_access_denied(chromium, callback, admin, base_url):
    driver = chromium.driver
    chromium.fresh()
    user, password = admin.create_user()
    redirect_uri = callback.url("/cb-deny")
    client = admin.create_client([redirect_uri], scope="READ")
    state = "deny ü+&="
    driver.get(authorize_url(base_url, response_type="code", client_id=client["clientId"], redirect_uri=redirect_uri,
                             scope="READ", state=state))
    wait_for_path(driver, base_url, "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    wait_for_path(driver, base_url, CONSENT)
    driver.find_element(By.ID, "deny").click()
    hit = wait_for_callback(driver, callback, "/cb-deny")
    params = dict(hit["params"])
    assert set(params) == {"error", "error_description", "state"}, hit
    assert params["error"] == "access_denied" and params["state"] == state, hit


def test_chromium_refuses_to_frame_linkgate_pages(chromium, callback, base_url):
    """X-Frame-Options DENY / frame-ancestors 'none' as a real browser applies them."""
    driver = chromium.driver

    def framed_login_form(target):
        callback.frame_target = target
        driver.get(callback.url("/frame"))
        driver.switch_to.frame(driver.find_element(By.ID, "victim"))
        try:
            wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete", "the framed page")
            time.sleep(0.3)  # let a (wrongly) allowed page finish rendering its form
            return driver.find_elements(By.ID, "username") != []
        finally:
            driver.switch_to.default_content()

    # Control: a page without the headers does render in the frame, so the check below can fail.
    assert framed_login_form(callback.url("/frameable")), "control page did not render in the frame"
    for path in ("/login", "/login?next=%2Fprofile%2Fapplications"):
        assert not framed_login_form(base_url + path), f"Linkgate's {path} rendered inside a foreign frame"
