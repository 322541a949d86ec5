"""Real-browser helpers shared by the Chromium suites (test_browser_chromium.py, test_console_browser.py).

Not a test module (no `test_` prefix). It holds:
- CallbackServer: a tiny HTTP server on a free loopback port that plays an application's redirect
  endpoint (records every GET to /cb…, answers with a small page);
- Chromium: headless Chromium driven by selenium, started on first use inside a test so that a
  missing browser or driver FAILS that test with a clear message (never a skip);
- waiting and screenshot helpers, and page checks a real browser is best placed to make (labels,
  horizontal overflow at a phone's width, markup that must not have been injected).

Needs Debian's chromium and chromium-driver (scripts/install-test-deps installs them).
"""
import base64
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import SCREENSHOT_FILES, screenshots_dir

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
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


# --------------------------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------------------------

class Chromium:
    """Starts headless Chromium on first use, inside the test, so that a missing browser FAILS it."""

    def __init__(self, window_size=(1100, 900)):
        self._driver = None
        self._profile = None
        self.window_size = window_size

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
        width, height = self.window_size
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
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


# --------------------------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Screenshots and page checks
# --------------------------------------------------------------------------------------------

def screenshot(driver, name, folder=None):
    """A screenshot of the viewport into `folder` (default: screenshots_dir())."""
    folder = Path(folder) if folder is not None else screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    assert path.stat().st_size > 1000, f"{path} looks empty"
    SCREENSHOT_FILES.append(path)
    print(f"screenshot saved: {path} (folder {folder})")
    return path


def full_page_screenshot(driver, path):
    """The whole page (not only the viewport) as PNG at `path`, through the DevTools protocol."""
    size = driver.execute_script(
        "const e = document.documentElement;"
        "return [Math.max(e.scrollWidth, window.innerWidth), Math.min(Math.max(e.scrollHeight, window.innerHeight), 6000)];")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 1000, f"{path} looks empty"
    SCREENSHOT_FILES.append(path)
    return path


def assert_labelled(driver, element_id):
    """A real browser's view: the field has at least one <label> attached."""
    element = driver.find_element(By.ID, element_id)
    labels = driver.execute_script("return Array.from(arguments[0].labels || []).map(l => l.textContent.trim())", element)
    assert labels and all(labels), f"#{element_id} has no label: {labels}"
    return element


# Form controls that are not hidden and have neither a <label for=id> (with text) nor aria-label(ledby).
UNLABELLED_CONTROLS_JS = """
return Array.from(document.querySelectorAll('input, select, textarea')).filter(function (el) {
  if ((el.getAttribute('type') || '').toLowerCase() === 'hidden') return false;
  var byFor = el.id && Array.from(document.querySelectorAll('label')).some(function (l) {
    return l.htmlFor === el.id && l.textContent.trim() !== '';
  });
  var aria = (el.getAttribute('aria-label') || '').trim() !== '' || (el.getAttribute('aria-labelledby') || '').trim() !== '';
  return !(byFor || aria);
}).map(function (el) { return el.outerHTML.slice(0, 160); });
"""

# Buttons or links a person cannot reach (disabled, or taken out of the tab order) although shown.
UNREACHABLE_BUTTONS_JS = """
return Array.from(document.querySelectorAll('button, a[href]')).filter(function (el) {
  var shown = el.offsetParent !== null || el.getClientRects().length > 0;
  return shown && (el.disabled || el.tabIndex < 0);
}).map(function (el) { return el.outerHTML.slice(0, 160); });
"""

OVERFLOW_JS = """
var width = arguments[0], e = document.documentElement;
return {scrollWidth: e.scrollWidth, innerWidth: window.innerWidth, clientWidth: e.clientWidth,
        widest: Array.from(document.querySelectorAll('body *')).map(function (el) {
          var r = el.getBoundingClientRect();
          return {right: Math.round(r.right + window.scrollX), tag: el.tagName.toLowerCase(), id: el.id,
                  cls: typeof el.className === 'string' ? el.className : '', text: (el.textContent || '').trim().slice(0, 40)};
        }).filter(function (x) { return x.right > width + 1; })
          .sort(function (a, b) { return b.right - a.right; }).slice(0, 5)};
"""


def horizontal_overflow(driver, width):
    """None when the page fits `width` CSS px (no horizontal scrollbar), else a description.

    A phone-emulating Chromium zooms out to show an overflowing page, which makes window.innerWidth
    grow past the device width; so both must hold: innerWidth == width and scrollWidth <= innerWidth + 1.
    """
    m = driver.execute_script(OVERFLOW_JS, width)
    if m["innerWidth"] == width and m["scrollWidth"] <= m["innerWidth"] + 1:
        return None
    return (f"document.documentElement.scrollWidth={m['scrollWidth']} window.innerWidth={m['innerWidth']} "
            f"(device width {width}); widest elements: {m['widest']}")


def set_viewport(driver, width=None, height=812, mobile=True):
    """Emulates a phone's viewport `width` CSS px wide (None: back to the window's own size)."""
    if width is None:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    else:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    # Let the layout settle at the new size.
    driver.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


# Markup a page of Linkgate never contains on its own: any script but the console's copy-button
# script, images, frames, and inline event handlers. A name rendered unescaped shows up here even
# where the CSP (default-src 'self') would stop the script from running.
INJECTED_MARKUP_JS = """
return Array.from(document.querySelectorAll('script, img, iframe, object, embed, svg, [onerror], [onload], [onclick]'))
  .filter(function (el) { return !(el.tagName === 'SCRIPT' && el.getAttribute('src') === '/static/console.js'); })
  .map(function (el) { return el.outerHTML.slice(0, 160); });
"""


def open_alert_text(driver):
    """The text of an open JavaScript dialog (which is then dismissed), or None."""
    from selenium.common.exceptions import NoAlertPresentException
    try:
        alert = driver.switch_to.alert
        text = alert.text
        alert.dismiss()
        return text
    except NoAlertPresentException:
        return None
