"""The admin web console (README "The web console") in a real headless Chromium, and its security on the wire.

The module runs its own Linkgate (fresh database, so the links table starts empty) next to the
suite's shared server, and two browsers: the administrator's and a person's. A small HTTP server
plays the linked application's redirect endpoint; `requests` plays the application's back end.

1. The story: the admin logs in, creates a user on the Users page and an OAuth 2.0 link, and
   reads the Client ID and the secret off the credentials page; the person authorizes the app
   through login and consent; the app exchanges the code and calls the API; the person revokes
   the app on /profile/applications and the token stops working; the admin sees the use on
   /admin and the entries on /admin/audit, filtered by the client id.
2. Every console page, screenshotted at desktop width and at 375 px (phone emulation) into
   <screenshots>/console ($LINKGATE_SCREENSHOTS/console, default <repo>/.build/e2e-screenshots/console;
   the run's summary line names the folder). At 375 px no page may scroll sideways; on every page
   every visible control has a label, and no button or link is out of reach.
3. The OAuth 2.0 form filled and submitted by keyboard alone.
4. Security: admins only (non-admin 403, anonymous 303 to the login page), CSRF on every POST
   (no token or another session's token: 403 and nothing changed, while the same POST with the
   right token works), hostile names escaped on every page, no framing.
5. Deleting a link revokes its tokens; resetting the secret retires the old one at once.

Needs Debian's chromium and chromium-driver; without them the browser tests FAIL (never skip).
A failure here that shows the console misbehaving is a server bug, not a reason to relax a test.
"""
import re
import secrets
import time
from calendar import timegm
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from browser_support import (INJECTED_MARKUP_JS, UNLABELLED_CONTROLS_JS, UNREACHABLE_BUTTONS_JS, CallbackServer, Chromium,
                             full_page_screenshot, horizontal_overflow, open_alert_text, set_viewport, wait_for,
                             wait_for_callback, wait_for_path)
from conftest import launch_server, screenshots_dir, shutdown_server
from console_support import (CONSUMERS, XSS_IMG, XSS_NAME, XSS_RAW_MARKERS, XSS_SCRIPT, ConsoleSession, Snapshot,
                             login_location)
from oauth1_support import PeerServer, consumer_info_xml, element_text, new_rsa_key
from oauth_support import (AUTHORIZE, CLIENTS, CONSENT, TOKEN, Admin, Forms, assert_json, assert_oauth_error,
                           assert_token_response, describe, pkce_pair, uniq)

try:
    from selenium.common.exceptions import UnexpectedAlertPresentException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
except ImportError:  # browser_support's Chromium turns a missing selenium into a test failure
    pass

PHONE_WIDTH = 375
DESKTOP = (1280, 900)
DATE_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC$")
LINK_COLUMNS = ["Application", "Protocol", "Direction", "Modes", "Scope", "Allowed from", "Tokens active", "Last used", "Actions"]
REFUSED = "Nothing was changed."


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A private Linkgate for this module: the console's empty states are really empty."""
    srv = launch_server(tmp_path_factory.mktemp("linkgate-console"))
    yield srv
    shutdown_server(srv)


@pytest.fixture(scope="module")
def url(console):
    return console.base_url


@pytest.fixture(scope="module")
def api(http, url, admin_auth, recorder):
    """Admin REST (HTTP Basic) on the module's server: set-up and before/after comparisons."""
    return Admin(http, url, admin_auth, recorder)


@pytest.fixture(scope="module")
def callback():
    server = CallbackServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def peer():
    """Another application's consumer-info endpoint (for OAuth 1.0a links made by URL)."""
    server = PeerServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def keys():
    return [new_rsa_key(), new_rsa_key()]


@pytest.fixture(scope="module")
def admin_chrome():
    browser = Chromium(window_size=DESKTOP)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def person_chrome():
    browser = Chromium(window_size=DESKTOP)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def web(new_session, url, recorder):
    """web(user, password): a requests session logged in through the login form."""
    def make(user, password):
        return ConsoleSession(new_session(), url, recorder).login(user, password)
    return make


@pytest.fixture(scope="module")
def admin_web(web, admin_auth):
    return web(*admin_auth)


class Shots:
    """Screenshots of console pages at desktop width and at 375 px, with the page checks made there."""

    def __init__(self, folder):
        self.folder = folder
        self.problems = []
        self.pages = []

    def capture(self, driver, name):
        set_viewport(driver, None)
        where = f"{name} ({driver.current_url})"
        self.pages.append(name)
        alert = open_alert_text(driver)
        if alert is not None:
            self.problems.append(f"{where}: a JavaScript dialog opened: {alert!r}")
        for what, script in (("controls without a label", UNLABELLED_CONTROLS_JS),
                             ("buttons/links out of keyboard reach", UNREACHABLE_BUTTONS_JS),
                             ("markup that Linkgate does not write (injected?)", INJECTED_MARKUP_JS)):
            found = driver.execute_script(script)
            if found:
                self.problems.append(f"{where}: {what}: {found}")
        full_page_screenshot(driver, self.folder / f"{name}-desktop.png")
        set_viewport(driver, PHONE_WIDTH)
        try:
            overflow = horizontal_overflow(driver, PHONE_WIDTH)
            if overflow:
                self.problems.append(f"{where} at {PHONE_WIDTH} px scrolls sideways: {overflow}")
            full_page_screenshot(driver, self.folder / f"{name}-{PHONE_WIDTH}.png")
        finally:
            set_viewport(driver, None)

    def take_problems(self):
        problems, self.problems = self.problems, []
        return problems


@pytest.fixture(scope="module")
def shots_folder():
    folder = screenshots_dir() / "console"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):   # the folder shows this run only
        old.unlink()
    return folder


@pytest.fixture
def shots(shots_folder):
    """Per test: its own list of page problems; the screenshots all go to <screenshots>/console."""
    print(f"console screenshots folder: {shots_folder}")
    return Shots(shots_folder)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def browser_login(driver, url, user, password, path):
    """Opens `path`, is sent to the login page, logs in there and lands back on `path`."""
    driver.get(url + path)
    wait_for_path(driver, url, "/login")
    assert dict(parse_qsl(urlsplit(driver.current_url).query)).get("next") == path, driver.current_url
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type='submit']").click()
    wait_for_path(driver, url, urlsplit(path).path)


def as_admin(chrome, url, admin_auth):
    """The admin's browser, logged in (once) through /admin → login page → /admin."""
    driver = chrome.driver
    if not getattr(chrome, "logged_in", False):
        browser_login(driver, url, *admin_auth, "/admin")
        chrome.logged_in = True
    return driver


def go(driver, url, path):
    driver.get(url + path)
    wait_for_path(driver, url, urlsplit(path).path)
    return driver


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def type_into(driver, element_id, text, clear=True):
    field = driver.find_element(By.ID, element_id)
    if clear:
        field.clear()
    field.send_keys(text)
    return field


def submit_and_wait(driver, button_id, condition, what):
    driver.find_element(By.ID, button_id).click()
    return wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete" and condition(d), what)


TABLE_JS = """
var visible = function (el) {
  var copy = el.cloneNode(true);
  copy.querySelectorAll('.visually-hidden').forEach(function (h) { h.remove(); });
  copy.querySelectorAll('br').forEach(function (br) { br.replaceWith(' '); });
  return copy.textContent.replace(/\\s+/g, ' ').trim();
};
return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr')).map(function (tr) {
  var cells = {};
  tr.querySelectorAll('td[data-label]').forEach(function (td) { cells[td.getAttribute('data-label')] = visible(td); });
  cells._actions = Array.from(tr.querySelectorAll('td.actions-cell a')).map(function (a) {
    return [visible(a), a.textContent.replace(/\\s+/g, ' ').trim(), a];
  });
  return cells;
});
"""


def browser_rows(driver, table="table.apps"):
    """A table's body rows as seen in the browser, in one round trip: [{data-label: text, "_actions": [...]}].
    Texts leave out visually hidden parts; _actions holds (visible text, accessible name, element) per action link."""
    return driver.execute_script(TABLE_JS, table)


def browser_link_rows(driver):
    return browser_rows(driver, "table.links")


def browser_link_row(driver, name):
    table = browser_link_rows(driver)
    found = [r for r in table if r.get("Application") == name]
    assert len(found) == 1, f"expected one row for {name!r} in {[{k: v for k, v in r.items() if k != '_actions'} for r in table]}"
    return found[0]


def action_labels(row):
    """[(visible text, accessible name)] of a row's action links (the name adds a visually hidden part)."""
    return [(text, name) for text, name, _ in row["_actions"]]


def action_link(row, label):
    """The row's action link whose visible text is `label` (Edit, View credentials, …)."""
    found = [element for text, _, element in row["_actions"] if text == label]
    assert len(found) == 1, f"no single {label!r} link among {action_labels(row)}"
    return found[0]


def epoch(date_text):
    m = DATE_RE.match(date_text)
    assert m, f"not a console date: {date_text!r}"
    return timegm(tuple(int(g) for g in m.groups()) + (0, 0, 0))


def token_request(api, client_id, secret, **data):
    return api.request("POST", TOKEN, auth=(client_id, secret), data=data or {"grant_type": "client_credentials"})


def bearer(api, path, token):
    return api.request("GET", path, auth=None, headers={"Authorization": f"Bearer {token}"})


def authorize_query(authorize_endpoint, **params):
    return authorize_endpoint + "?" + urlencode(params)


def assert_refused_page(resp):
    """A console POST refused for its CSRF token: 403, an HTML page saying nothing changed."""
    assert resp.status_code == 403, describe(resp)
    assert resp.headers.get("Content-Type", "").startswith("text/html"), describe(resp)
    assert REFUSED in Forms(resp.text).visible_text, describe(resp)


def assert_no_raw_markup(html, where):
    leaked = [m for m in XSS_RAW_MARKERS if m in html]
    assert not leaked, f"{where}: unescaped markup {leaked} in the page:\n{html[:3000]}"


FOCUSABLE_JS = """
function describe(el) {
  if (el.id) return '#' + el.id;
  return el.tagName.toLowerCase() + '[' + (el.getAttribute('href') || el.getAttribute('name') || '') + ']'
    + ':' + (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
}
if (arguments[0] === 'active') return describe(document.activeElement);
return Array.from(document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')).filter(function (el) {
  if (el.tagName === 'INPUT' && el.type === 'hidden') return false;
  return !el.disabled && el.tabIndex >= 0 && (el.offsetParent !== null || el.getClientRects().length > 0);
}).map(describe);
"""


def focusable(driver):
    return driver.execute_script(FOCUSABLE_JS, "all")


def active(driver):
    return driver.execute_script(FOCUSABLE_JS, "active")


def press(driver, *keys):
    chain = ActionChains(driver)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def tab_through(driver, count):
    """Presses Tab `count` times from the top of a freshly loaded page; what had the focus after each."""
    seen = []
    for _ in range(count):
        press(driver, Keys.TAB)
        seen.append(active(driver))
    return seen


def create_link_in_browser(driver, url, name, redirects, scope="READ", execute_as=None):
    """Create link → OAuth 2.0 → fill → Create link; returns (client_id, secret) from the credentials page."""
    go(driver, url, "/admin")
    driver.find_element(By.ID, "create-link").click()
    wait_for_path(driver, url, "/admin/links/new")
    driver.find_element(By.ID, "new-oauth2").click()
    wait_for_path(driver, url, "/admin/links/oauth2/new")
    type_into(driver, "name", name)
    type_into(driver, "redirects", "\n".join(redirects))
    Select(driver.find_element(By.ID, "scope")).select_by_value(scope)
    if execute_as:
        type_into(driver, "executeAs", execute_as)
    submit_and_wait(driver, "save", lambda d: d.find_elements(By.ID, "client-secret") or d.find_elements(By.ID, "name-error")
                    or d.find_elements(By.CSS_SELECTOR, ".field-error"), "the credentials page")
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".field-error")]
    assert not errors, f"creating {name!r} failed: {errors}"
    assert text_of(driver, "h1") == f"Link created: {name}"
    client_id = text_of(driver, "#client-id")
    secret = text_of(driver, "#client-secret")
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", client_id), client_id
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", secret), secret
    return client_id, secret


# --------------------------------------------------------------------------------------------
# 2. Every console page at desktop width and at 375 px
# --------------------------------------------------------------------------------------------

def test_console_pages_at_desktop_width_and_375px(admin_chrome, url, admin_auth, api, shots, callback, peer, keys, recorder):
    # Start from an empty link list (the module's server is private; this also makes the order of tests irrelevant).
    for client in assert_json(api.request("GET", CLIENTS), 200):
        assert api.request("DELETE", f"{CLIENTS}/{client['clientId']}").status_code == 204
    for consumer in assert_json(api.request("GET", CONSUMERS), 200):
        assert api.request("DELETE", f"{CONSUMERS}/{consumer['key']}").status_code == 204

    driver = as_admin(admin_chrome, url, admin_auth)
    go(driver, url, "/admin")
    assert text_of(driver, "h1") == "Application links"
    assert text_of(driver, "#no-links") == "No application links yet. Create the first one."
    assert not driver.find_elements(By.CSS_SELECTOR, "table.links")
    shots.capture(driver, "01-links-empty")

    driver.find_element(By.ID, "create-link").click()
    wait_for_path(driver, url, "/admin/links/new")
    assert text_of(driver, "h1") == "Create an application link"
    assert text_of(driver, "#new-oauth2") == "OAuth 2.0" and text_of(driver, "#new-oauth1") == "OAuth 1.0a"
    shots.capture(driver, "02-new-link-chooser")

    driver.find_element(By.ID, "new-oauth2").click()
    wait_for_path(driver, url, "/admin/links/oauth2/new")
    assert text_of(driver, "h1") == "New OAuth 2.0 link"
    assert text_of(driver, "#save") == "Create link"
    assert Select(driver.find_element(By.ID, "scope")).first_selected_option.get_attribute("value") == "READ"
    shots.capture(driver, "03-oauth2-form")

    # Server-side validation: the message next to the field, the typed values kept.
    name = f"Shots App {secrets.token_hex(3)}"
    type_into(driver, "name", name)
    type_into(driver, "redirects", "ftp://example.com/cb")
    Select(driver.find_element(By.ID, "scope")).select_by_value("WRITE")
    submit_and_wait(driver, "save", lambda d: d.find_elements(By.ID, "redirects-error"), "the redirect URL's error")
    assert "must use https" in text_of(driver, "#redirects-error"), text_of(driver, "#redirects-error")
    redirects = driver.find_element(By.ID, "redirects")
    assert redirects.get_attribute("aria-invalid") == "true"
    assert redirects.get_attribute("aria-describedby") == "redirects-error"
    assert redirects.get_attribute("value") == "ftp://example.com/cb"
    assert driver.find_element(By.ID, "name").get_attribute("value") == name
    assert driver.find_element(By.ID, "name").get_attribute("aria-invalid") is None
    assert Select(driver.find_element(By.ID, "scope")).first_selected_option.get_attribute("value") == "WRITE"
    assert text_of(driver, "p.error[role='alert']") == "Please correct the field marked below."
    shots.capture(driver, "04-oauth2-form-error")

    redirect_uri = callback.url("/cb-shots")
    type_into(driver, "redirects", redirect_uri)
    submit_and_wait(driver, "save", lambda d: d.find_elements(By.ID, "client-secret"), "the credentials page")
    assert text_of(driver, "h1") == f"Link created: {name}"
    assert text_of(driver, "p.notice") == "Copy the client secret now: it is shown only this once."
    client_id, secret = text_of(driver, "#client-id"), text_of(driver, "#client-secret")
    recorder.add_secret(secret)
    assert text_of(driver, "#authorize-url") == url + AUTHORIZE
    assert text_of(driver, "#token-url") == url + TOKEN
    assert text_of(driver, "#scopes") == "READ WRITE"
    copies = driver.find_elements(By.CSS_SELECTOR, "button.copy")
    assert [b.get_attribute("data-copy") for b in copies] == ["#client-id", "#client-secret", "#authorize-url", "#token-url"]
    assert all(b.is_displayed() and b.text == "Copy" for b in copies), "the copy buttons are not shown"
    stored = assert_json(api.request("GET", f"{CLIENTS}/{client_id}"), 200)
    assert (stored["name"], stored["redirects"], stored["scope"]) == (name, [redirect_uri], "WRITE"), stored
    assert token_request(api, client_id, secret).status_code == 200
    shots.capture(driver, "05-credentials-new-link")

    go(driver, url, f"/admin/links/oauth2/{client_id}")
    assert text_of(driver, "h1") == f"Credentials: {name}"
    assert text_of(driver, "#client-id") == client_id
    assert not driver.find_elements(By.ID, "client-secret") and secret not in driver.page_source
    assert "Not shown again." in text_of(driver, "dl.credentials")
    shots.capture(driver, "06-credentials-view")

    # OAuth 1.0a: the form, its validation, a link made by consumer-info URL and one by key.
    go(driver, url, "/admin")
    driver.find_element(By.ID, "create-link").click()
    wait_for_path(driver, url, "/admin/links/new")
    driver.find_element(By.ID, "new-oauth1").click()
    wait_for_path(driver, url, "/admin/links/oauth1/new")
    assert text_of(driver, "h1") == "New OAuth 1.0a link"
    assert text_of(driver, "#server-consumer-key") and len(text_of(driver, "#server-public-key")) > 200
    assert driver.find_element(By.ID, "threeLeggedAllowed").is_selected()
    shots.capture(driver, "07-oauth1-form")

    submit_and_wait(driver, "save", lambda d: d.find_elements(By.ID, "key-error"), "the consumer key's error")
    assert text_of(driver, "#key-error") == "is required (or give the peer's consumer-info URL)"
    assert driver.find_element(By.ID, "key").get_attribute("aria-invalid") == "true"
    shots.capture(driver, "08-oauth1-form-error")

    by_url_key, by_url_name = uniq("peer-by-url"), f"Peer By URL {secrets.token_hex(2)}"
    info_url = peer.xml(f"/{by_url_key}/plugins/servlet/oauth/consumer-info",
                        consumer_info_xml(by_url_key, by_url_name, keys[0].public_der_b64, description="Fetched from the peer"))
    type_into(driver, "consumerInfoUrl", info_url)
    submit_and_wait(driver, "save", lambda d: urlsplit(d.current_url).path == "/admin" or d.find_elements(By.CSS_SELECTOR, ".field-error"),
                    "the links page after saving")
    assert not driver.find_elements(By.CSS_SELECTOR, ".field-error"), driver.find_element(By.TAG_NAME, "main").text
    assert "notice=saved" in driver.current_url and text_of(driver, "p.notice") == "The link was saved."

    by_key, by_key_name = uniq("peer-by-key"), f"Peer By Key {secrets.token_hex(2)}"
    go(driver, url, "/admin/links/oauth1/new")
    type_into(driver, "key", by_key)
    type_into(driver, "name", by_key_name)
    type_into(driver, "publicKey", keys[1].public_pem)
    driver.find_element(By.ID, "twoLeggedAllowed").click()
    submit_and_wait(driver, "save", lambda d: urlsplit(d.current_url).path == "/admin" or d.find_elements(By.CSS_SELECTOR, ".field-error"),
                    "the links page after saving")
    if "notice=saved" not in driver.current_url:
        errors = {e.get_attribute("id"): e.text for e in driver.find_elements(By.CSS_SELECTOR, ".field-error")}
        shots.problems.append(
            "POST /admin/links/oauth1/new (key + name + PEM public key typed into the textarea by Chromium): expected "
            f"303 to /admin?notice=saved, got the form again with {errors} (see test_pem_keys_pasted_in_a_browser_are_accepted)")
        shots.capture(driver, "08b-oauth1-form-pem-refused")
        # Go on with the walk: the same link made through REST with LF line endings.
        assert api.request("POST", CONSUMERS, json={"key": by_key, "name": by_key_name, "publicKey": keys[1].public_pem,
                                                    "twoLeggedAllowed": True}).status_code == 201
        go(driver, url, "/admin")
    consumers = {c["key"]: c for c in assert_json(api.request("GET", CONSUMERS), 200)}
    assert consumers[by_url_key]["name"] == by_url_name, consumers
    assert consumers[by_key]["name"] == by_key_name and consumers[by_key]["twoLeggedAllowed"] is True, consumers

    # The full table.
    headers = [th.text.strip() for th in driver.find_elements(By.CSS_SELECTOR, "table.links thead th")]
    assert headers == LINK_COLUMNS, headers
    table = browser_link_rows(driver)
    names = [r["Application"] for r in table]
    assert sorted(names, key=str.lower) == names and set(names) == {name, by_url_name, by_key_name}, names
    row = browser_link_row(driver, name)
    assert {k: row[k] for k in LINK_COLUMNS[1:8]} == {"Protocol": "OAuth 2.0", "Direction": "Incoming", "Modes": "3LO, 2LO",
                                                     "Scope": "WRITE", "Allowed from": "any address", "Tokens active": "1",
                                                     "Last used": row["Last used"]}, row
    assert action_labels(row) == [("Edit", f"Edit {name}"), ("View credentials", f"View credentials of {name}"),
                                  ("Reset secret", f"Reset secret of {name}"), ("Delete", f"Delete {name}")]
    for peer_name in (by_url_name, by_key_name):
        row1 = browser_link_row(driver, peer_name)
        assert (row1["Protocol"], row1["Direction"], row1["Scope"], row1["Tokens active"], row1["Last used"]) == \
            ("OAuth 1.0a", "Incoming", "—", "0", "never"), row1
        assert action_labels(row1) == [("Edit", f"Edit {peer_name}"), ("Delete", f"Delete {peer_name}")]
    shots.capture(driver, "09-links-list")

    action_link(browser_link_row(driver, name), "Edit").click()
    wait_for_path(driver, url, f"/admin/links/oauth2/{client_id}/edit")
    assert text_of(driver, "h1") == f"Edit {name}" and text_of(driver, "#save") == "Save"
    assert driver.find_element(By.ID, "name").get_attribute("value") == name
    assert driver.find_element(By.ID, "redirects").get_attribute("value") == redirect_uri
    shots.capture(driver, "10-oauth2-edit")

    go(driver, url, "/admin")
    action_link(browser_link_row(driver, name), "Reset secret").click()
    wait_for_path(driver, url, f"/admin/links/oauth2/{client_id}/reset")
    assert text_of(driver, "h1") == f"Reset the secret of {name}?"
    assert text_of(driver, "#confirm") == "Reset secret" and driver.find_element(By.ID, "cancel").get_attribute("href") == url + "/admin"
    shots.capture(driver, "11-reset-confirm")

    go(driver, url, "/admin")
    action_link(browser_link_row(driver, name), "Delete").click()
    wait_for_path(driver, url, f"/admin/links/oauth2/{client_id}/delete")
    assert text_of(driver, "h1") == f"Delete {name}?"
    assert text_of(driver, "#confirm") == "Delete link" and "danger" in driver.find_element(By.ID, "confirm").get_attribute("class")
    shots.capture(driver, "12-delete-confirm")

    go(driver, url, "/admin")
    action_link(browser_link_row(driver, by_key_name), "Edit").click()
    wait_for_path(driver, url, f"/admin/links/oauth1/{by_key}/edit")
    assert text_of(driver, "h1") == f"Edit {by_key_name}"
    shots.capture(driver, "13-oauth1-edit")

    # Users: the table, the create form with an error, the delete confirmation.
    doomed, _ = api.create_user(display_name="Doomed Person")
    api.create_user(admin=True, display_name="Second Administrator")
    go(driver, url, "/admin/users")
    assert text_of(driver, "h1") == "Users"
    shots.capture(driver, "14-users")
    type_into(driver, "new-name", "no spaces allowed")
    type_into(driver, "new-displayName", "Kept Display Name")
    type_into(driver, "new-password", "long-enough-password")
    submit_and_wait(driver, "create-user-button", lambda d: d.find_elements(By.ID, "name-error"), "the user name's error")
    assert text_of(driver, "#name-error").startswith("may contain only letters"), text_of(driver, "#name-error")
    assert driver.find_element(By.ID, "new-name").get_attribute("aria-invalid") == "true"
    assert driver.find_element(By.ID, "new-name").get_attribute("aria-describedby") == "name-error"
    assert driver.find_element(By.ID, "new-name").get_attribute("value") == "no spaces allowed"
    assert driver.find_element(By.ID, "new-displayName").get_attribute("value") == "Kept Display Name"
    shots.capture(driver, "15-users-error")

    go(driver, url, f"/admin/users/{doomed}/delete")
    assert text_of(driver, "h1") == f"Delete {doomed}?" and text_of(driver, "#confirm") == "Delete user"
    assert driver.find_element(By.ID, "cancel").get_attribute("href") == url + "/admin/users"
    shots.capture(driver, "16-user-delete-confirm")

    go(driver, url, "/admin/audit")
    assert text_of(driver, "h1") == "Audit log"
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.apps tbody tr")) >= 5
    shots.capture(driver, "17-audit")

    go(driver, url, "/profile/applications")
    assert text_of(driver, "#no-apps") == "You have not authorized any applications."
    shots.capture(driver, "18-profile-applications-none")

    problems = shots.take_problems()
    assert not problems, "console page problems:\n" + "\n".join(problems)


# --------------------------------------------------------------------------------------------
# 1. The story, in two real browsers
# --------------------------------------------------------------------------------------------

def test_console_story_link_authorize_use_revoke_and_audit(admin_chrome, person_chrome, url, admin_auth, api, callback, shots,
                                                          recorder):
    started = int(time.time())
    driver = as_admin(admin_chrome, url, admin_auth)

    # The admin creates the person on the Users page.
    person, password = uniq("person"), f"pw-{secrets.token_urlsafe(10)}-Zq9!"
    recorder.add_secret(password)
    go(driver, url, "/admin/users")
    type_into(driver, "new-name", person)
    type_into(driver, "new-displayName", "Console Person")
    type_into(driver, "new-email", f"{person}@example.com")
    type_into(driver, "new-password", password)
    submit_and_wait(driver, "create-user-button", lambda d: "notice=created" in d.current_url or d.find_elements(By.CSS_SELECTOR, ".field-error"),
                    "the users page after creating")
    assert "notice=created" in driver.current_url, driver.find_element(By.TAG_NAME, "main").text
    assert text_of(driver, "p.notice") == "The user was created."
    mine = [r for r in browser_rows(driver) if r["User"] == f"Console Person {person}"]
    assert len(mine) == 1, [r["User"] for r in browser_rows(driver)]
    assert mine[0]["E-mail"] == f"{person}@example.com" and mine[0]["Administrator"] == "Make admin", mine[0]

    # The admin creates the OAuth 2.0 link and copies its credentials.
    app_name = f"Story App {secrets.token_hex(3)}"
    redirect_uri = callback.url("/cb-story")
    client_id, secret = create_link_in_browser(driver, url, app_name, [redirect_uri], scope="WRITE")
    recorder.add_secret(secret)
    authorize_endpoint = text_of(driver, "#authorize-url")
    token_endpoint = text_of(driver, "#token-url")

    # The person authorizes the app in their own browser: login, consent, back to the app.
    pd = person_chrome.driver
    person_chrome.fresh()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    pd.get(authorize_query(authorize_endpoint, response_type="code", client_id=client_id, redirect_uri=redirect_uri,
                           scope="WRITE", state=state, code_challenge=challenge, code_challenge_method="S256"))
    wait_for_path(pd, url, "/login")
    pd.find_element(By.ID, "username").send_keys(person)
    pd.find_element(By.ID, "password").send_keys(password)
    pd.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type='submit']").click()
    wait_for_path(pd, url, CONSENT)
    assert text_of(pd, "h1") == f"Allow {app_name} to use your account?"
    assert text_of(pd, "#scope") == "WRITE"
    pd.find_element(By.ID, "approve").click()
    hit = wait_for_callback(pd, callback, "/cb-story")
    params = dict(hit["params"])
    assert params.get("state") == state and params.get("code"), hit
    recorder.add_secret(params["code"])

    # The app's back end exchanges the code and calls the API.
    resp = api.session.post(token_endpoint, auth=(client_id, secret), allow_redirects=False, timeout=15,
                            data={"grant_type": "authorization_code", "code": params["code"], "redirect_uri": redirect_uri,
                                  "code_verifier": verifier})
    tokens = assert_token_response(resp, "WRITE")
    api.remember_tokens(tokens)
    me = assert_json(bearer(api, "/rest/api/latest/myself", tokens["access_token"]), 200)
    assert (me["name"], me["displayName"], me["email"]) == (person, "Console Person", f"{person}@example.com"), me
    assert me["auth"] == {"protocol": "oauth2", "mode": "user", "client": client_id, "scope": "WRITE"}, me

    # The admin sees the link in use: an access and a refresh token live, last used just now.
    go(driver, url, "/admin")
    row = browser_link_row(driver, app_name)
    assert row["Tokens active"] == "2", row
    assert started - 2 <= epoch(row["Last used"]) <= time.time() + 2, row

    # The person sees the app on the profile page and revokes it.
    go(pd, url, "/profile/applications")
    table = pd.find_element(By.CSS_SELECTOR, "table.apps")
    assert app_name in table.text and "WRITE" in table.text and "OAuth 2.0" in table.text, table.text
    shots.capture(pd, "19-profile-applications")
    revoke = pd.find_element(By.XPATH, f"//button[@aria-label=\"Revoke {app_name}\"]")
    assert revoke.text.strip() == "Revoke"
    revoke.click()
    wait_for(pd, lambda d: "revoked=1" in d.current_url and d.find_elements(By.ID, "no-apps"), "the profile page after revoking")
    assert text_of(pd, "p.notice") == "Access revoked. The application's tokens no longer work."
    assert app_name not in pd.find_element(By.TAG_NAME, "main").text

    # The tokens stopped working.
    resp = bearer(api, "/rest/api/latest/myself", tokens["access_token"])
    assert resp.status_code == 401, describe(resp)
    assert 'error="invalid_token"' in resp.headers.get("WWW-Authenticate", ""), describe(resp)
    resp = api.session.post(token_endpoint, auth=(client_id, secret), allow_redirects=False, timeout=15,
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert_oauth_error(resp, 400, "invalid_grant")

    # The person's browser is not an admin's: the console answers 403.
    go(pd, url, "/admin")
    assert text_of(pd, "h1") == "Administrators only"
    shots.capture(pd, "20-admin-forbidden-for-a-person")

    # The admin: no tokens left; the audit log, filtered by the client id in the browser.
    go(driver, url, "/admin")
    assert browser_link_row(driver, app_name)["Tokens active"] == "0"
    go(driver, url, "/admin/audit")
    type_into(driver, "f-client", client_id)
    driver.find_element(By.CSS_SELECTOR, "form.filters button[type='submit']").click()
    wait_for(driver, lambda d: "client=" in d.current_url and d.execute_script("return document.readyState") == "complete",
             "the filtered audit page")
    assert dict(parse_qsl(urlsplit(driver.current_url).query)).get("client") == client_id, driver.current_url
    assert driver.find_element(By.ID, "f-client").get_attribute("value") == client_id
    page = browser_rows(driver)
    assert page and all(r["Client"] == client_id for r in page), page
    actions = [r["Action"] for r in page]
    created = [r for r in page if r["Action"] == "client.create"]
    revoked = [r for r in page if r["Action"] == "application.revoke"]
    assert len(created) == 1 and created[0]["Actor"] == "admin" and created[0]["Subject"] == app_name, page
    assert len(revoked) == 1 and revoked[0]["Actor"] == person and revoked[0]["Subject"] == person, page
    assert all(r["Outcome"] == "success" for r in created + revoked), page
    rest = api.audit_entries(client=client_id, limit=100)
    assert actions == [e["action"] for e in rest], (actions, rest)
    shots.capture(driver, "21-audit-filtered-by-client")

    problems = shots.take_problems()
    assert not problems, "console page problems:\n" + "\n".join(problems)


def test_links_table_keeps_last_use_after_the_person_revokes(admin_chrome, url, admin_auth, api, web, callback, recorder):
    """"Last used" is history: a person revoking the app does not make the link "never" used."""
    person, password = api.create_user()
    client = api.create_client([callback.url("/cb-lastuse")], scope="READ", name=f"Last Use App {secrets.token_hex(3)}")
    me = web(person, password)
    verifier, challenge = pkce_pair()
    resp = me.get(AUTHORIZE + "?" + urlencode({"response_type": "code", "client_id": client["clientId"],
                                               "redirect_uri": callback.url("/cb-lastuse"), "scope": "READ", "state": "s",
                                               "code_challenge": challenge, "code_challenge_method": "S256"}))
    assert resp.status_code == 303 and urlsplit(resp.headers["Location"]).path == CONSENT, describe(resp)
    consent = me.get(resp.headers["Location"])
    form = Forms(consent.text).form(CONSENT)
    approve = [b for b in form["buttons"] if b["value"] == "approve"][0]
    resp = me.post(CONSENT, Forms.submission(form, approve))
    code = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))["code"]
    recorder.add_secret(code)
    tokens = assert_token_response(api.exchange_code(client, code, callback.url("/cb-lastuse"), verifier), "READ")
    api.remember_tokens(tokens)
    assert bearer(api, "/rest/api/latest/myself", tokens["access_token"]).status_code == 200

    driver = as_admin(admin_chrome, url, admin_auth)
    go(driver, url, "/admin")
    before = browser_link_row(driver, client["name"])
    assert before["Tokens active"] == "2" and DATE_RE.match(before["Last used"]), before

    apps = assert_json(api.request("GET", "/rest/api/latest/myself/applications", auth=(person, password)), 200)
    assert api.request("DELETE", f"/rest/api/latest/myself/applications/{apps[0]['id']}", auth=(person, password)).status_code == 204
    go(driver, url, "/admin")
    after = browser_link_row(driver, client["name"])
    assert after["Tokens active"] == "0", after
    assert after["Last used"] == before["Last used"], (
        f"/admin 'Last used' of {client['name']!r} went from {before['Last used']!r} to {after['Last used']!r} "
        "when the person revoked the app: the link WAS used; revoking must not erase that")


# --------------------------------------------------------------------------------------------
# 3. Keyboard only
# --------------------------------------------------------------------------------------------

def test_oauth2_form_by_keyboard_alone(admin_chrome, url, admin_auth, api, keys, callback):
    driver = as_admin(admin_chrome, url, admin_auth)
    executor, _ = api.create_user(display_name="Execute-as Person")
    go(driver, url, "/admin/links/oauth2/new")

    # Every control has a label; Tab visits every control, button and link, in page order.
    assert driver.execute_script(UNLABELLED_CONTROLS_JS) == []
    for element_id in ("name", "redirects", "scope", "executeAs", "impersonation", "publicKey"):
        labels = driver.execute_script("return Array.from(arguments[0].labels).map(l => l.textContent.trim())",
                                       driver.find_element(By.ID, element_id))
        assert labels and all(labels), f"#{element_id}: {labels}"
    expected = focusable(driver)
    for must in ("#name", "#redirects", "#scope", "#executeAs", "#impersonation", "#publicKey", "#allowedAddresses", "#save"):
        assert must in expected, expected
    assert tab_through(driver, len(expected)) == expected

    # Fill and submit with the keyboard only.
    go(driver, url, "/admin/links/oauth2/new")
    for _ in range(expected.index("#name") + 1):
        press(driver, Keys.TAB)
    assert active(driver) == "#name"
    name = f"Keyboard App {secrets.token_hex(3)}"
    first, second = callback.url("/cb-kb-1"), callback.url("/cb-kb-2")
    press(driver, name, Keys.TAB)
    assert active(driver) == "#redirects"
    press(driver, first, Keys.ENTER, second, Keys.TAB)
    assert active(driver) == "#scope"
    press(driver, "W")   # type-ahead picks "WRITE — …"
    assert Select(driver.find_element(By.ID, "scope")).first_selected_option.get_attribute("value") == "WRITE"
    press(driver, Keys.TAB)
    assert active(driver) == "#executeAs"
    press(driver, executor, Keys.TAB)
    assert active(driver) == "#impersonation"
    press(driver, Keys.SPACE)
    assert driver.find_element(By.ID, "impersonation").is_selected()
    press(driver, Keys.TAB)
    assert active(driver) == "#publicKey"
    press(driver, keys[0].public_pem.strip(), Keys.TAB)
    assert active(driver) == "#allowedAddresses"
    press(driver, "127.0.0.0/8", Keys.TAB)
    assert active(driver) == "#save"
    press(driver, Keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(By.ID, "client-secret") or d.find_elements(By.CSS_SELECTOR, ".field-error"),
             "the credentials page")
    errors = {e.get_attribute("id"): e.text for e in driver.find_elements(By.CSS_SELECTOR, ".field-error")}
    if errors:
        # The keyboard did its part: everything typed reached the server and came back in the form ...
        assert driver.find_element(By.ID, "name").get_attribute("value") == name
        assert driver.find_element(By.ID, "redirects").get_attribute("value").splitlines() == [first, second]
        assert Select(driver.find_element(By.ID, "scope")).first_selected_option.get_attribute("value") == "WRITE"
        assert driver.find_element(By.ID, "executeAs").get_attribute("value") == executor
        assert driver.find_element(By.ID, "impersonation").is_selected()
    # ... and the server must accept it.
    assert not errors, (f"POST /admin/links/oauth2/new from the keyboard-filled form: expected the credentials page, "
                        f"got 400 with {errors} (the PEM typed into #publicKey is sent with the browser's CRLF line endings)")
    assert text_of(driver, "h1") == f"Link created: {name}"
    stored = assert_json(api.request("GET", f"{CLIENTS}/{text_of(driver, '#client-id')}"), 200)
    assert stored["name"] == name and stored["redirects"] == [first, second], stored
    assert stored["scope"] == "WRITE" and stored["executeAs"] == executor and stored["impersonation"] is True, stored
    assert stored["publicKey"].split() == keys[0].public_pem.split(), stored


def test_credentials_page_and_confirmations_by_keyboard(admin_chrome, url, admin_auth, api, recorder):
    """Copy buttons, Reset/Delete confirmations: every control in Tab reach; Enter confirms."""
    driver = as_admin(admin_chrome, url, admin_auth)
    name = f"Keyboard Creds {secrets.token_hex(3)}"
    client_id, secret = create_link_in_browser(driver, url, name, [], scope="READ")
    recorder.add_secret(secret)
    expected = focusable(driver)
    copies = [d for d in expected if d.startswith("button[]:Copy")]
    assert len(copies) == 4, expected
    assert tab_through(driver, len(expected)) == expected

    go(driver, url, f"/admin/links/oauth2/{client_id}/reset")
    expected = focusable(driver)
    assert "#confirm" in expected and "#cancel" in expected, expected
    assert tab_through(driver, expected.index("#confirm") + 1)[-1] == "#confirm"
    press(driver, Keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(By.ID, "client-secret"), "the new secret after Enter on Reset secret")
    new_secret = text_of(driver, "#client-secret")
    recorder.add_secret(new_secret)
    assert new_secret != secret

    go(driver, url, f"/admin/links/oauth2/{client_id}/delete")
    expected = focusable(driver)
    assert tab_through(driver, expected.index("#confirm") + 1)[-1] == "#confirm"
    press(driver, Keys.SPACE)
    wait_for(driver, lambda d: "notice=deleted" in d.current_url, "the links page after Space on Delete link")
    assert api.request("GET", f"{CLIENTS}/{client_id}").status_code == 404


def test_pem_keys_pasted_in_a_browser_are_accepted(admin_web, api, keys):
    """Browsers submit a <textarea>'s line breaks as CRLF (HTML: textarea wrapping transformation),
    so a PEM public key pasted into the console always arrives with \r\n line endings."""
    token = admin_web.csrf("/")
    crlf = keys[0].public_pem.replace("\n", "\r\n")
    problems = []
    resp = admin_web.post("/admin/links/oauth2/new", {"csrf_token": token, "name": uniq("crlf-pem-link"), "redirects": "",
                                                      "scope": "READ", "impersonation": "on", "publicKey": crlf})
    if resp.status_code != 200 or 'id="client-secret"' not in resp.text:
        problems.append(f"POST /admin/links/oauth2/new with impersonation and a CRLF PEM: expected 200 and the credentials page, "
                        f"got {resp.status_code} {re.findall(r'<p class=.field-error.[^>]*>[^<]*', resp.text)}")
    resp = admin_web.post("/admin/links/oauth1/new", {"csrf_token": token, "key": uniq("crlf-pem-consumer"), "name": "CRLF PEM",
                                                      "publicKey": crlf, "threeLeggedAllowed": "on"})
    if resp.status_code != 303:
        problems.append(f"POST /admin/links/oauth1/new with a CRLF PEM: expected 303 to /admin?notice=saved, "
                        f"got {resp.status_code} {re.findall(r'<p class=.field-error.[^>]*>[^<]*', resp.text)}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# 4. Security
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def targets(api, keys):
    """One of each thing the console pages are about: an OAuth 2.0 link, an OAuth 1.0a link, a user."""
    client = api.create_client([], scope="READ", name=f"Target Link {secrets.token_hex(3)}")
    consumer_key = uniq("target-consumer")
    resp = api.request("POST", CONSUMERS, json={"key": consumer_key, "name": "Target Consumer", "publicKey": keys[1].public_pem})
    assert resp.status_code == 201, describe(resp)
    user, password = api.create_user(display_name="Target Person")
    return {"client": client, "consumer": consumer_key, "user": user, "password": password}


def console_pages(t):
    c, k, u = t["client"]["clientId"], t["consumer"], t["user"]
    return ["/admin", "/admin/links/new", "/admin/links/oauth2/new", f"/admin/links/oauth2/{c}", f"/admin/links/oauth2/{c}/edit",
            f"/admin/links/oauth2/{c}/reset", f"/admin/links/oauth2/{c}/delete", "/admin/links/oauth1/new",
            f"/admin/links/oauth1/{k}/edit", f"/admin/links/oauth1/{k}/delete", "/admin/users", f"/admin/users/{u}/delete",
            "/admin/audit", f"/admin/audit?client={c}&action=client.create"]


def console_posts(t):
    """Every console POST with form data that would succeed with the right csrf_token."""
    c, k, u = t["client"]["clientId"], t["consumer"], t["user"]
    return [
        ("/admin/links/oauth2/new", {"name": uniq("csrf-new-link"), "redirects": "", "scope": "READ"}),
        (f"/admin/links/oauth2/{c}/edit", {"name": uniq("csrf-renamed"), "redirects": "", "scope": "WRITE"}),
        (f"/admin/links/oauth2/{c}/reset", {}),
        (f"/admin/links/oauth2/{c}/delete", {}),
        ("/admin/links/oauth1/new", {"key": uniq("csrf-consumer"), "name": "CSRF consumer", "publicKey": t["public_pem"]}),
        (f"/admin/links/oauth1/{k}/edit", {"name": "CSRF renamed", "publicKey": t["public_pem"], "twoLeggedAllowed": "on"}),
        (f"/admin/links/oauth1/{k}/delete", {}),
        ("/admin/users", {"name": uniq("csrf-user"), "password": "long-enough-pw", "admin": "on"}),
        (f"/admin/users/{u}/admin", {"admin": "on"}),
        (f"/admin/users/{u}/password", {"password": "a-new-password-1"}),
        (f"/admin/users/{u}/delete", {}),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(http, url, api, targets, keys):
    for path in console_pages(targets):
        resp = http.get(url + path, allow_redirects=False, timeout=15)
        assert login_location(resp) == ("/login", path), describe(resp)
    before = Snapshot(api)
    for path, data in console_posts({**targets, "public_pem": keys[1].public_pem}):
        resp = http.post(url + path, data={**data, "csrf_token": "x" * 43}, allow_redirects=False, timeout=15)
        assert login_location(resp) == ("/login", path), describe(resp)
    assert before.differences() == []


def test_people_who_are_not_admins_get_403_everywhere(web, url, api, targets, keys):
    person = web(targets["user"], targets["password"])
    for path in console_pages(targets):
        resp = person.get(path)
        assert resp.status_code == 403, describe(resp)
        assert resp.headers.get("Content-Type", "").startswith("text/html"), describe(resp)
        page = Forms(resp.text)
        assert "Administrators only" in page.visible_text, describe(resp)
        assert targets["client"]["clientId"] not in resp.text and targets["client"]["name"] not in resp.text
    token = person.csrf("/")   # the person's own, valid session token
    before = Snapshot(api)
    for path, data in console_posts({**targets, "public_pem": keys[1].public_pem}):
        resp = person.post(path, {**data, "csrf_token": token})
        assert resp.status_code == 403, describe(resp)
        assert "Administrators only" in Forms(resp.text).visible_text, describe(resp)
    assert before.differences() == []
    # The person's password was not changed by their own attempt.
    assert api.request("GET", "/rest/api/latest/myself", auth=(targets["user"], targets["password"])).status_code == 200


def test_every_console_post_needs_this_sessions_csrf_token(web, admin_web, admin_auth, api, url, keys, recorder):
    """No token, an empty or made-up one, another session's of the same admin, another admin's: 403, nothing changed.
    Then the same POST with the session's own token does what it should (so the refusals were about the token)."""
    other_admin, other_password = api.create_user(admin=True)
    foreign = {"another session of the same admin": web(*admin_auth).csrf("/"),
               "another admin's session": web(other_admin, other_password).csrf("/")}
    own = admin_web.csrf("/")
    assert own not in foreign.values()
    bad_tokens = [("no csrf_token", None), ("an empty csrf_token", ""), ("a made-up csrf_token", secrets.token_urlsafe(32))]
    bad_tokens += [(what, value) for what, value in foreign.items()]

    link = api.create_client([], scope="READ", name=f"CSRF Link {secrets.token_hex(3)}")
    consumer_key = uniq("csrf-target-consumer")
    assert api.request("POST", CONSUMERS, json={"key": consumer_key, "name": "CSRF Target",
                                                "publicKey": keys[0].public_pem}).status_code == 201
    user, password = api.create_user()
    targets = {"client": link, "consumer": consumer_key, "user": user, "public_pem": keys[1].public_pem}

    failures = []
    for path, data in console_posts(targets):
        before = Snapshot(api)
        for what, token in bad_tokens:
            body = dict(data) if token is None else {**data, "csrf_token": token}
            resp = admin_web.post(path, body)
            if resp.status_code != 403 or REFUSED not in Forms(resp.text).visible_text:
                failures.append(f"POST {path} with {what}: expected 403 '{REFUSED}', got {resp.status_code} "
                                f"{Forms(resp.text).visible_text[:200]!r}")
        changed = before.differences()
        if changed:
            failures.append(f"POST {path} with bad tokens changed things: {changed}")
        # What the refused POSTs must not have done, checked by use.
        if path.endswith("/reset"):
            assert token_request(api, link["clientId"], link["clientSecret"]).status_code == 200
        if path.endswith("/password"):
            assert api.request("GET", "/rest/api/latest/myself", auth=(user, password)).status_code == 200

        # Control: the same POST with the session's own token works.
        resp = admin_web.post(path, {**data, "csrf_token": own})
        if path == "/admin/links/oauth2/new" or path.endswith("/reset"):
            assert resp.status_code == 200 and "client-secret" in resp.text, describe(resp)
            recorder.add_secret(element_text(resp.text, "client-secret"))
        else:
            assert resp.status_code == 303, describe(resp)
        assert before.differences() != [], f"POST {path} with the right token changed nothing"
        if path.endswith("/reset"):
            resp = token_request(api, link["clientId"], link["clientSecret"])
            assert_oauth_error(resp, 401, "invalid_client")
        if path.endswith("/password"):
            assert api.request("GET", "/rest/api/latest/myself", auth=(user, password)).status_code == 401
            assert api.request("GET", "/rest/api/latest/myself", auth=(user, data["password"])).status_code == 200
    assert not failures, "\n".join(failures)


def test_profile_revoke_needs_the_persons_csrf_token(web, admin_web, api, url, callback, recorder):
    person, password = api.create_user()
    client = api.create_client([callback.url("/cb-csrf-profile")], scope="READ")
    me = web(person, password)
    resp = me.get(AUTHORIZE + "?" + urlencode({"response_type": "code", "client_id": client["clientId"],
                                               "redirect_uri": callback.url("/cb-csrf-profile"), "scope": "READ"}))
    consent = me.get(resp.headers["Location"])
    form = Forms(consent.text).form(CONSENT)
    resp = me.post(CONSENT, Forms.submission(form, [b for b in form["buttons"] if b["value"] == "approve"][0]))
    recorder.add_secret(dict(parse_qsl(urlsplit(resp.headers["Location"]).query)).get("code"))
    page = me.get("/profile/applications")
    (action,) = [f["action"] for f in Forms(page.text).forms if f["action"].endswith("/revoke")]
    for what, token in (("no token", None), ("the admin's session token", admin_web.csrf("/")), ("a made-up token", "x" * 43)):
        resp = me.post(action, {} if token is None else {"csrf_token": token})
        assert resp.status_code == 403, f"{what}: {describe(resp)}"
        assert len(assert_json(api.request("GET", "/rest/api/latest/myself/applications", auth=(person, password)), 200)) == 1
    resp = me.post(action, {"csrf_token": me.csrf("/profile/applications")})
    assert resp.status_code == 303 and resp.headers["Location"] == "/profile/applications?revoked=1", describe(resp)
    assert assert_json(api.request("GET", "/rest/api/latest/myself/applications", auth=(person, password)), 200) == []


def test_hostile_names_are_escaped_on_every_page(admin_web, web, api, url, admin_chrome, person_chrome, admin_auth, callback, keys,
                                                recorder):
    token = admin_web.csrf("/admin/links/oauth2/new")
    redirect_uri = callback.url("/cb-xss")
    # An OAuth 2.0 link, an OAuth 1.0a link and a user, all named with markup, made through the console forms.
    resp = admin_web.post("/admin/links/oauth2/new", {"csrf_token": token, "name": XSS_NAME, "redirects": redirect_uri, "scope": "READ"})
    assert resp.status_code == 200, describe(resp)
    assert_no_raw_markup(resp.text, "the new link's credentials page")
    client_id, secret = element_text(resp.text, "client-id"), element_text(resp.text, "client-secret")
    recorder.add_secret(secret)
    consumer_key = uniq("xss-consumer")
    resp = admin_web.post("/admin/links/oauth1/new", {"csrf_token": token, "key": consumer_key, "name": XSS_NAME + " 1.0a",
                                                      "publicKey": keys[1].public_pem, "threeLeggedAllowed": "on"})
    assert resp.status_code == 303, describe(resp)
    person, password = uniq("xss-person"), f"pw-{secrets.token_urlsafe(10)}"
    recorder.add_secret(password)
    resp = admin_web.post("/admin/users", {"csrf_token": token, "name": person, "displayName": XSS_NAME,
                                           "email": f"{person}@example.com", "password": password})
    assert resp.status_code == 303, describe(resp)
    # Hostile input echoed by validation errors and by the audit filter.
    resp = admin_web.post("/admin/links/oauth2/new", {"csrf_token": token, "name": XSS_NAME + " 2",
                                                      "redirects": "javascript:" + XSS_IMG, "scope": "READ"})
    assert resp.status_code == 400 and 'id="redirects-error"' in resp.text, describe(resp)
    assert_no_raw_markup(resp.text, "the OAuth 2.0 form with an error")
    assert Forms(resp.text).ids["name"][1]["value"] == XSS_NAME + " 2"
    resp = admin_web.post("/admin/users", {"csrf_token": token, "name": XSS_IMG, "displayName": XSS_NAME, "password": "x"})
    assert resp.status_code == 400, describe(resp)
    assert_no_raw_markup(resp.text, "the users page with an error")
    assert Forms(resp.text).ids["new-name"][1]["value"] == XSS_IMG

    admin_pages = {"/admin": XSS_NAME, f"/admin/links/oauth2/{client_id}": XSS_NAME, f"/admin/links/oauth2/{client_id}/edit": XSS_NAME,
                   f"/admin/links/oauth2/{client_id}/reset": XSS_NAME, f"/admin/links/oauth2/{client_id}/delete": XSS_NAME,
                   f"/admin/links/oauth1/{consumer_key}/edit": XSS_NAME + " 1.0a",
                   f"/admin/links/oauth1/{consumer_key}/delete": XSS_NAME + " 1.0a",
                   "/admin/users": XSS_NAME, "/admin/audit": XSS_NAME,
                   "/admin/audit?" + urlencode({"client": XSS_IMG, "user": XSS_SCRIPT}): None}
    for path, shown in admin_pages.items():
        resp = admin_web.get(path)
        assert resp.status_code == 200, describe(resp)
        assert_no_raw_markup(resp.text, path)
        if shown is not None:
            assert shown in Forms(resp.text).visible_text, f"{path} does not show the name as text"
    filtered = Forms(admin_web.get("/admin/audit?" + urlencode({"client": XSS_IMG, "user": XSS_SCRIPT})).text)
    assert (filtered.ids["f-client"][1]["value"], filtered.ids["f-user"][1]["value"]) == (XSS_IMG, XSS_SCRIPT)

    # The person's pages: the consent page (authorizing the hostile app), home, authorized applications.
    me = web(person, password)
    resp = me.get(AUTHORIZE + "?" + urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                                               "scope": "READ", "state": "xss"}))
    consent_path = resp.headers["Location"][len(url):] if resp.headers["Location"].startswith(url) else resp.headers["Location"]
    assert urlsplit(consent_path).path == CONSENT, describe(resp)
    consent = me.get(consent_path)
    assert consent.status_code == 200, describe(consent)
    assert_no_raw_markup(consent.text, "the consent page")
    assert XSS_NAME in Forms(consent.text).visible_text

    problems = []

    def check_in_browser(driver, where, shown):
        try:
            driver.execute_script("return document.readyState")
            alert = open_alert_text(driver)
            if alert is not None:
                problems.append(f"{where}: a dialog opened: {alert!r}")
            injected = driver.execute_script(INJECTED_MARKUP_JS)
            if injected:
                problems.append(f"{where}: markup from a name became elements: {injected}")
            if shown is not None and shown not in driver.find_element(By.TAG_NAME, "body").text:
                problems.append(f"{where}: the name is not shown as text")
        except UnexpectedAlertPresentException as error:
            problems.append(f"{where}: an alert fired: {error.alert_text!r}")

    driver = as_admin(admin_chrome, url, admin_auth)
    for path, shown in admin_pages.items():
        try:
            driver.get(url + path)
        except UnexpectedAlertPresentException as error:
            problems.append(f"{path}: an alert fired: {error.alert_text!r}")
            continue
        check_in_browser(driver, path, shown)

    pd = person_chrome.driver
    person_chrome.fresh()
    browser_login(pd, url, person, password, consent_path)
    check_in_browser(pd, "the consent page", XSS_NAME)
    pd.find_element(By.ID, "approve").click()
    wait_for_callback(pd, callback, "/cb-xss")
    for path in ("/", "/profile/applications"):
        go(pd, url, path)
        check_in_browser(pd, path, XSS_NAME)
        assert_no_raw_markup(me.get(path).text, path)
    assert XSS_NAME in Forms(me.get("/profile/applications").text).visible_text
    assert not problems, "\n".join(problems)


def test_every_console_page_refuses_to_be_framed(admin_web, web, url, api, targets, admin_chrome, admin_auth, callback):
    responses = [admin_web.get(path) for path in console_pages(targets)]
    assert all(r.status_code == 200 for r in responses), [describe(r) for r in responses if r.status_code != 200]
    token = admin_web.csrf("/")
    responses.append(admin_web.post("/admin/links/oauth2/new", {"csrf_token": token, "name": "", "redirects": "", "scope": "READ"}))
    assert responses[-1].status_code == 400, describe(responses[-1])
    responses.append(admin_web.post("/admin/users", {"name": "nobody"}))
    assert responses[-1].status_code == 403, describe(responses[-1])
    responses.append(admin_web.get("/admin/links/oauth2/no-such-client/edit"))
    assert responses[-1].status_code == 404, describe(responses[-1])
    responses.append(web(targets["user"], targets["password"]).get("/admin"))
    assert responses[-1].status_code == 403, describe(responses[-1])
    for resp in responses:
        assert resp.headers.get("Content-Type", "").startswith("text/html"), describe(resp)
        assert resp.headers.get("X-Frame-Options") == "DENY", describe(resp)
        assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", ""), describe(resp)

    # And as a browser applies it: the console does not render inside another site's frame.
    driver = as_admin(admin_chrome, url, admin_auth)

    def renders_in_frame(target, element_id):
        callback.frame_target = target
        driver.get(callback.url("/frame"))
        driver.switch_to.frame(driver.find_element(By.ID, "victim"))
        try:
            wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete", "the framed page")
            time.sleep(0.3)
            return driver.find_elements(By.ID, element_id) != []
        finally:
            driver.switch_to.default_content()

    assert renders_in_frame(callback.url("/frameable"), "username"), "control page did not render in the frame"
    assert not renders_in_frame(url + "/admin", "create-link"), "/admin rendered inside a foreign frame"
    assert not renders_in_frame(url + "/admin/users", "create-user-button"), "/admin/users rendered inside a foreign frame"


# --------------------------------------------------------------------------------------------
# 5. Delete revokes, reset rotates — through the console in the browser
# --------------------------------------------------------------------------------------------

def test_reset_secret_and_delete_in_the_console(admin_chrome, url, admin_auth, api, recorder, shots):
    driver = as_admin(admin_chrome, url, admin_auth)
    executor, _ = api.create_user(display_name="Two-legged Executor")
    name = f"Two-legged App {secrets.token_hex(3)}"
    client_id, old_secret = create_link_in_browser(driver, url, name, [], scope="WRITE", execute_as=executor)
    recorder.add_secret(old_secret)
    assert "none (two-legged only)" in text_of(driver, "dl.credentials")

    first = assert_json(token_request(api, client_id, old_secret), 200)
    api.remember_tokens(first)
    me = assert_json(bearer(api, "/rest/api/latest/myself", first["access_token"]), 200)
    assert me["name"] == executor and me["auth"]["client"] == client_id, me

    # Reset secret: /admin → Reset secret → confirm → a new secret, shown once.
    go(driver, url, "/admin")
    assert browser_link_row(driver, name)["Modes"] == f"2LO as {executor}"
    action_link(browser_link_row(driver, name), "Reset secret").click()
    wait_for_path(driver, url, f"/admin/links/oauth2/{client_id}/reset")
    driver.find_element(By.ID, "confirm").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "client-secret"), "the new secret")
    assert text_of(driver, "h1") == f"New secret: {name}"
    assert text_of(driver, "#client-id") == client_id
    new_secret = text_of(driver, "#client-secret")
    recorder.add_secret(new_secret)
    assert new_secret != old_secret and re.fullmatch(r"[A-Za-z0-9_-]{43,}", new_secret)
    shots.capture(driver, "22-new-secret")

    assert_oauth_error(token_request(api, client_id, old_secret), 401, "invalid_client")
    second = assert_json(token_request(api, client_id, new_secret), 200)
    api.remember_tokens(second)
    assert bearer(api, "/rest/api/latest/myself", second["access_token"]).status_code == 200

    # Delete: /admin → Delete → confirm → back on /admin with a notice; every token of the link stops working.
    go(driver, url, "/admin")
    action_link(browser_link_row(driver, name), "Delete").click()
    wait_for_path(driver, url, f"/admin/links/oauth2/{client_id}/delete")
    driver.find_element(By.ID, "confirm").click()
    wait_for(driver, lambda d: "notice=deleted" in d.current_url, "the links page after deleting")
    assert urlsplit(driver.current_url).path == "/admin"
    assert text_of(driver, "p.notice") == "The link was deleted and its tokens revoked."
    assert name not in [r["Application"] for r in browser_link_rows(driver)]
    shots.capture(driver, "23-links-after-delete")
    for body in (first, second):
        resp = bearer(api, "/rest/api/latest/myself", body["access_token"])
        assert resp.status_code == 401, describe(resp)
    assert_oauth_error(token_request(api, client_id, new_secret), 401, "invalid_client")
    assert api.request("GET", f"{CLIENTS}/{client_id}").status_code == 404
    deleted = api.audit_entries(client=client_id, action="client.delete")
    assert len(deleted) == 1 and deleted[0]["actor"] == "admin", deleted
    problems = shots.take_problems()
    assert not problems, "console page problems:\n" + "\n".join(problems)


ACTIONS_ROW_JS = """
return Array.from(document.querySelectorAll('.actions')).map(function (row) {
  return Array.from(row.children).map(function (el) {
    var r = el.getBoundingClientRect();
    return {what: el.id || el.textContent.trim(), top: Math.round(r.top), bottom: Math.round(r.bottom)};
  });
});
"""


def test_form_buttons_line_up_with_cancel(admin_chrome, url, admin_auth, api):
    """In every form's action row the submit button and the Cancel link-button share top and bottom edges."""
    driver = as_admin(admin_chrome, url, admin_auth)
    client = api.create_client([], scope="READ", name=f"Aligned Link {secrets.token_hex(3)}")
    key = uniq("aligned-consumer")
    assert api.request("POST", CONSUMERS, json={"key": key, "name": "Aligned Consumer",
                                                "publicKey": new_rsa_key().public_pem}).status_code == 201
    c = client["clientId"]
    problems = []
    for path in ("/admin/links/oauth2/new", f"/admin/links/oauth2/{c}/edit", f"/admin/links/oauth2/{c}/reset",
                 f"/admin/links/oauth2/{c}/delete", "/admin/links/oauth1/new", f"/admin/links/oauth1/{key}/edit"):
        go(driver, url, path)
        for width in (None, PHONE_WIDTH):
            set_viewport(driver, width)
            try:
                for row in driver.execute_script(ACTIONS_ROW_JS):
                    edges = {(item["top"], item["bottom"]) for item in row}
                    if len(row) > 1 and (max(t for t, _ in edges) - min(t for t, _ in edges) > 1
                                         or max(b for _, b in edges) - min(b for _, b in edges) > 1):
                        problems.append(f"{path} at {width or DESKTOP[0]} px: {row}")
            finally:
                set_viewport(driver, None)
    assert not problems, "action rows whose buttons do not line up (top/bottom px):\n" + "\n".join(problems)


# --------------------------------------------------------------------------------------------
# Validation statuses, audit filters and paging
# --------------------------------------------------------------------------------------------

def test_console_forms_answer_400_or_409_with_the_message_next_to_the_field(admin_web, api, targets, callback):
    token = admin_web.csrf("/")
    cases = [
        ("/admin/links/oauth2/new", {"name": "", "redirects": "", "scope": "READ"}, 400, "name", "name"),
        ("/admin/links/oauth2/new", {"name": "Bad Redirect", "redirects": "http://example.com/cb", "scope": "READ"}, 400,
         "redirects", "redirects"),
        ("/admin/links/oauth2/new", {"name": "Bad Scope", "redirects": "", "scope": "EVERYTHING"}, 400, "scope", "scope"),
        ("/admin/links/oauth2/new", {"name": "No Such Executor", "redirects": "", "scope": "READ", "executeAs": "nobody-here"}, 400,
         "executeAs", "executeAs"),
        ("/admin/links/oauth2/new", {"name": "No Key", "redirects": "", "scope": "READ", "impersonation": "on"}, 400,
         "publicKey", "publicKey"),
        ("/admin/links/oauth1/new", {"consumerInfoUrl": callback.url("/no-such-consumer-info")}, 400,
         "consumerInfoUrl", "consumerInfoUrl"),
        ("/admin/links/oauth1/new", {"key": "k", "name": "No Key"}, 400, "publicKey", "publicKey"),
        ("/admin/users", {"name": "ok-name", "password": "short"}, 400, "password", "new-password"),
        ("/admin/users", {"name": "ok-name", "password": "long-enough", "email": "not-an-address"}, 400, "email", "new-email"),
        ("/admin/users", {"name": targets["user"], "password": "long-enough"}, 409, "name", "new-name"),
    ]
    before = Snapshot(api)
    for path, data, status, field, input_id in cases:
        resp = admin_web.post(path, {**data, "csrf_token": token})
        assert resp.status_code == status, f"{path} {data}: {describe(resp)}"
        page = Forms(resp.text)
        error_id = f"{field}-error"
        assert error_id in page.ids and page.ids[error_id][0] == "p" and "field-error" in page.ids[error_id][1].get("class", ""), \
            f"{path} {data}: no p.field-error#{error_id}:\n{resp.text[:3000]}"
        attrs = page.ids[input_id][1]
        assert attrs.get("aria-invalid") == "true" and attrs.get("aria-describedby") == error_id, (path, data, attrs)
        for name, value in data.items():   # what was typed is kept
            if name in page.ids and page.ids[name][0] == "input" and page.ids[name][1].get("type") not in ("checkbox", "password"):
                assert page.ids[name][1].get("value") == value, (path, name, page.ids[name])
    assert before.differences() == []

    # A per-row password error sits in its row.
    resp = admin_web.post(f"/admin/users/{targets['user']}/password", {"csrf_token": token, "password": "short"})
    assert resp.status_code == 400, describe(resp)
    page = Forms(resp.text)
    field_id = f"pw-{targets['user']}"
    assert page.ids[field_id][1].get("aria-invalid") == "true" and f"{field_id}-error" in page.ids, resp.text[:3000]
    assert before.differences() == []


def test_audit_page_filters_and_pages_back(admin_chrome, url, admin_auth, api):
    client = api.create_client([], scope="READ", name=f"Busy Link {secrets.token_hex(3)}")
    for _ in range(55):
        body = assert_json(token_request(api, client["clientId"], client["clientSecret"]), 200)
        api.remember_tokens(body)
    driver = as_admin(admin_chrome, url, admin_auth)
    go(driver, url, "/admin/audit")
    type_into(driver, "f-client", client["clientId"])
    Select(driver.find_element(By.ID, "f-action")).select_by_value("token.issue")
    driver.find_element(By.CSS_SELECTOR, "form.filters button[type='submit']").click()
    wait_for(driver, lambda d: "action=token.issue" in d.current_url and d.execute_script("return document.readyState") == "complete",
             "the filtered audit page")

    first = browser_rows(driver)
    assert len(first) == 50 and all(r["Client"] == client["clientId"] and r["Action"] == "token.issue" for r in first), first[:3]
    older = driver.find_element(By.ID, "older")
    assert older.text == "Older entries"
    older.click()
    wait_for(driver, lambda d: "cursor=" in d.current_url and d.execute_script("return document.readyState") == "complete",
             "the older audit entries")
    query = dict(parse_qsl(urlsplit(driver.current_url).query))
    assert query.get("client") == client["clientId"] and query.get("action") == "token.issue", driver.current_url
    second = browser_rows(driver)
    assert len(second) == 5 and all(r["Client"] == client["clientId"] and r["Action"] == "token.issue" for r in second), second
    assert not driver.find_elements(By.ID, "older")
    rest = api.audit_entries(client=client["clientId"], action="token.issue", limit=100)
    assert len(rest) == 55
    assert [r["Time"] for r in first + second] == [time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(e["time"])) for e in rest]


# --------------------------------------------------------------------------------------------
# The module's server: no 5xx, no secret in its log
# --------------------------------------------------------------------------------------------

def test_zz_console_server_log_has_no_secrets_and_no_server_errors(console, url, recorder):
    log = console.log_text()
    leaked = sorted(s for s in recorder.secrets if s and s in log)
    assert not leaked, f"secrets in the console server's log: {[s[:6] + '…' for s in leaked]}"
    errors = [line for line in log.splitlines() if re.search(r"\bstatus=5\d\d\b", line)]
    assert not errors, "5xx answers (browser or requests):\n" + "\n".join(errors[:20])
    assert [e for e in recorder.server_errors if e.split(" ", 2)[1].startswith(url + "/")] == []
