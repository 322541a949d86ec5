"""Two real clients, configured per their own documentation, against the real binary.

(a) atlassian-python-api (PyPI) treats Linkgate as its Jira over OAuth 1.0a. Its `oauth` dict
    (access_token, access_token_secret, consumer_key, key_cert) signs RSA-SHA512 by default, so the
    consumer opts in with `"signatureMethods": ["RSA-SHA1", "RSA-SHA512"]` (INTERFACE §7). The token
    comes from the 3LO dance (the library does not dance; its docs take the token as given), done
    here with requests-oauthlib signing RSA-SHA512 too. `Jira.myself()` then answers as the user.
    When the consumer drops RSA-SHA512 the library's error carries Linkgate's reason text, read from
    Jira's `errorMessages` (INTERFACE §1).
(b) git-credential-oauth (Debian package; Go's x/oauth2) with a Linkgate OAuth 2.0 client, set up
    with the `credential.<url>.oauth*` keys of its README. `git credential fill` runs the helper; its
    browser hook (an `open` command on PATH, which it runs with the authorize URL) hands the URL to
    headless Chromium, which logs in and approves. The helper sends a standard-base64 PKCE verifier
    (with `=`, often `+` and `/`), which INTERFACE §6 accepts. The password git gets back is an
    access token Linkgate introspects as active.
"""
import os
import subprocess
import time
from pathlib import Path

import pytest
from oauthlib.oauth1.rfc5849 import SIGNATURE_RSA_SHA512
from requests import HTTPError
from requests_oauthlib import OAuth1Session

from browser_support import Chromium, wait_for, wait_for_path
from oauth1_support import ACCESS_TOKEN, AUTHORIZE1, CONSUMERS, REQUEST_TOKEN, authorize_request_token, new_rsa_key
from oauth_support import CONSENT, Browser, assert_json, describe, uniq, unused_loopback_port

try:
    from selenium.webdriver.common.by import By
except ImportError:  # browser_support's Chromium reports the missing package as a test failure
    pass


@pytest.fixture(scope="module")
def chromium():
    browser = Chromium()
    yield browser
    browser.quit()


# --------------------------------------------------------------------------------------------
# (a) atlassian-python-api, OAuth 1.0a, RSA-SHA512
# --------------------------------------------------------------------------------------------

def test_atlassian_python_api_oauth1_rsa_sha512(admin, base_url, new_session, recorder):
    from atlassian import Jira

    keys = new_rsa_key()
    key = uniq("python-api")
    entity = assert_json(admin.request("POST", CONSUMERS, json={
        "key": key, "name": "atlassian-python-api", "publicKey": keys.public_pem,
        "signatureMethods": ["RSA-SHA1", "RSA-SHA512"]}), 201)
    assert entity["signatureMethods"] == ["RSA-SHA1", "RSA-SHA512"]
    user, password = admin.create_user(display_name="Python API Person")

    # The 3LO dance, signed RSA-SHA512 like the library will sign.
    callback = f"http://127.0.0.1:{unused_loopback_port()}/oauth1/callback"
    dance = OAuth1Session(key, signature_method=SIGNATURE_RSA_SHA512, rsa_key=keys.private_pem, callback_uri=callback)
    fetched = dance.fetch_request_token(base_url + REQUEST_TOKEN)
    recorder.add_secret(fetched["oauth_token"])
    browser = Browser(new_session(), base_url, recorder)
    answer = authorize_request_token(browser, base_url, fetched["oauth_token"], "atlassian-python-api",
                                     login=(user, password), authorize_url=dance.authorization_url(base_url + AUTHORIZE1))
    assert answer.status_code in (302, 303), describe(answer)
    dance.parse_authorization_response(answer.headers["Location"])
    access = dance.fetch_access_token(base_url + ACCESS_TOKEN)
    recorder.add_secret(access["oauth_token"])

    # The library, configured as its docs show.
    oauth = {"access_token": access["oauth_token"], "access_token_secret": access["oauth_token_secret"],
             "consumer_key": key, "key_cert": keys.private_pem}
    jira = Jira(url=base_url, oauth=oauth)
    assert jira._session.auth.client.signature_method == "RSA-SHA512", "the library no longer signs RSA-SHA512 by default"
    me = jira.myself()
    assert me["name"] == user and me["displayName"] == "Python API Person", me
    assert me["auth"] == {"protocol": "oauth1", "mode": "user", "client": key, "scope": None}, me

    # The consumer drops RSA-SHA512: the library reports Linkgate's reason (Jira's errorMessages).
    assert_json(admin.request("PUT", f"{CONSUMERS}/{key}", json={"signatureMethods": ["RSA-SHA1"]}), 200)
    with pytest.raises(HTTPError) as refused:
        Jira(url=base_url, oauth=oauth).myself()
    assert refused.value.response.status_code == 400
    assert 'oauth_problem="signature_method_rejected"' in refused.value.response.headers["WWW-Authenticate"]
    body = refused.value.response.json()
    reason = "oauth_problem=signature_method_rejected: this consumer signs with RSA-SHA1 only, not RSA-SHA512"
    assert body == {"error": "invalid_request", "error_description": reason, "errorMessages": [reason], "errors": {}}, body
    assert str(refused.value) == reason, str(refused.value)
    print(f"\natlassian-python-api reported (400): {refused.value}")

    # A 401 too: the library shows a 401's text only for Jira's exact Content-Type, which Linkgate sends.
    assert_json(admin.request("PUT", f"{CONSUMERS}/{key}", json={"signatureMethods": ["RSA-SHA512"],
                                                                 "threeLeggedAllowed": False}), 200)
    with pytest.raises(HTTPError) as denied:
        Jira(url=base_url, oauth=oauth).myself()
    assert denied.value.response.status_code == 401
    assert str(denied.value) == "oauth_problem=permission_denied: three-legged access is not allowed for this consumer", (
        str(denied.value))
    print(f"atlassian-python-api reported (401): {denied.value}")


# --------------------------------------------------------------------------------------------
# (b) git-credential-oauth, OAuth 2.0 authorization code + PKCE
# --------------------------------------------------------------------------------------------

def git_env(home, bin_dir, opened):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_NOSYSTEM="1",
               GIT_TERMINAL_PROMPT="0", PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               LINKGATE_E2E_OPENED=str(opened))
    return env


def test_git_credential_oauth_fill_gives_an_active_token(admin, base_url, chromium, tmp_path):
    helper = "/usr/bin/git-credential-oauth"
    if not os.access(helper, os.X_OK):
        pytest.fail("git-credential-oauth is not installed (Debian package git-credential-oauth; scripts/install-test-deps)")
    # Linkgate matches redirect URIs exactly (INTERFACE §6), so the port is fixed in the client and in
    # git's config, as the helper's README says for servers without RFC 8252 §7.3 any-port loopback.
    redirect = f"http://127.0.0.1:{unused_loopback_port()}/callback"
    client = admin.create_client([redirect], scope="READ", name=uniq("git-credential-oauth"))
    user, password = admin.create_user(display_name="Git Person")

    home = tmp_path / "home"
    bin_dir = tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    opened = tmp_path / "opened-urls"
    # The helper runs `open <authorize URL>` when an `open` command exists: hand the URL to the test.
    (bin_dir / "open").write_text('#!/bin/sh\nprintf \'%s\\n\' "$1" >> "$LINKGATE_E2E_OPENED"\n')
    (bin_dir / "open").chmod(0o755)
    env = git_env(home, bin_dir, opened)
    for name, value in [("credential.helper", "oauth"),
                        (f"credential.{base_url}.oauthClientId", client["clientId"]),
                        (f"credential.{base_url}.oauthClientSecret", client["clientSecret"]),
                        (f"credential.{base_url}.oauthScopes", "READ"),
                        (f"credential.{base_url}.oauthAuthURL", "/rest/oauth2/latest/authorize"),
                        (f"credential.{base_url}.oauthTokenURL", "/rest/oauth2/latest/token"),
                        (f"credential.{base_url}.oauthRedirectURL", redirect)]:
        subprocess.run(["git", "config", "--global", "--add", name, value], env=env, check=True, timeout=10)

    host = base_url.removeprefix("http://")
    fill = subprocess.Popen(["git", "credential", "fill"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        fill.stdin.write(f"protocol=http\nhost={host}\n\n")
        fill.stdin.close()
        fill.stdin = None  # written and closed: communicate() below only reads
        deadline = time.monotonic() + 20
        while not (opened.exists() and opened.read_text().strip()):
            if fill.poll() is not None or time.monotonic() > deadline:
                fill.kill()
                out, err = fill.communicate(timeout=5)
                pytest.fail(f"git-credential-oauth never opened a browser (exit {fill.returncode}); stderr:\n{err}")
            time.sleep(0.05)
        url = opened.read_text().strip().splitlines()[0]
        assert url.startswith(base_url + "/rest/oauth2/latest/authorize?"), url

        # The browser: log in, approve; Linkgate redirects to the helper's loopback listener.
        driver = chromium.driver
        chromium.fresh()
        driver.get(url)
        wait_for_path(driver, base_url, "/login")
        driver.find_element(By.ID, "username").send_keys(user)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type='submit']").click()
        wait_for_path(driver, base_url, CONSENT)
        assert client["name"] in driver.find_element(By.TAG_NAME, "body").text
        driver.find_element(By.ID, "approve").click()
        wait_for(driver, lambda d: d.current_url.startswith(redirect) and "Success" in d.page_source,
                 "the helper's loopback page")
        out, err = fill.communicate(timeout=30)
    finally:
        if fill.poll() is None:
            fill.kill()
            fill.communicate(timeout=5)
    assert fill.returncode == 0, f"git credential fill failed ({fill.returncode}):\n{err}"
    credential = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert credential.get("host") == host and credential.get("username") == "oauth2", out
    token = credential.get("password", "")
    admin.recorder.add_secret(token)
    assert token, out

    info = admin.introspect(token, client)
    assert info["active"] is True, info
    assert info["client_id"] == client["clientId"] and info["username"] == user and info["scope"] == "READ", info
    me = assert_json(admin.myself(token), 200)
    assert me["name"] == user and me["auth"]["protocol"] == "oauth2", me
    print(f"\ngit credential fill → username=oauth2, a token introspected active for {user} (scope READ)")
