"""A real headless Chromium (selenium) through Linkgate's OAuth 2.0 pages (INTERFACE.md §3, §6, §9).

A tiny HTTP server on a free loopback port plays the application's redirect endpoint: it records
the query it receives and shows a page. Chromium opens the authorize URL, a person types into the
login form and clicks Allow; the test then exchanges the code, calls the API, and revokes the app
from the profile page. Screenshots of the pages go to $LINKGATE_SCREENSHOTS (default:
<repo>/.build/e2e-screenshots).

Needs Debian's chromium and chromium-driver (scripts/install-test-deps installs them). When either
is missing the tests FAIL with a message saying so; they are never skipped.
"""
import secrets
import time

import pytest

from browser_support import (CallbackServer, Chromium, assert_labelled, screenshot, wait_for, wait_for_callback,
                             wait_for_path)
from oauth_support import (APPLICATIONS, CONSENT, PROFILE_APPS, assert_json, assert_token_response,
                           authorize_url, pkce_pair)

try:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:  # browser_support's Chromium reports the missing package as a test failure
    pass


# --------------------------------------------------------------------------------------------
# The application's redirect endpoint (CallbackServer, in browser_support.py)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def callback():
    server = CallbackServer()
    yield server
    server.stop()


# --------------------------------------------------------------------------------------------
# Chromium (Chromium, wait_for…, screenshot, assert_labelled: in browser_support.py)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    browser = Chromium()
    yield browser
    browser.quit()


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
