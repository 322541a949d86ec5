"""Helpers for the admin web console suite (test_console_browser.py) on the requests side.

Not a test module (no `test_` prefix): a cookie-keeping console session that logs in through the
real login form and posts the console's forms, and snapshots of everything
the console can change (links, users, successful audit entries) for "nothing changed" checks.
"""
from urllib.parse import parse_qsl, urlsplit

from oauth_support import CLIENTS, USERS, Forms, describe

CONSUMERS = "/rest/oauth1/latest/consumer"

# The two hostile strings every name field gets in the XSS checks.
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_NAME = f"X {XSS_SCRIPT} {XSS_IMG}"
# What must never reach a page unescaped (the payload's markup, in any form a browser would parse).
XSS_RAW_MARKERS = ("<script>alert(1)", "<img src=x", "onerror=alert(1)>", '"><img')


class ConsoleSession:
    """A person's browser on the console pages, minus the rendering: cookies, forms, no redirects followed."""

    def __init__(self, session, base_url, recorder=None):
        self.s = session
        self.base = base_url
        self.recorder = recorder
        self.user = None

    def get(self, path, **kw):
        kw.setdefault("timeout", 15)
        return self.s.get(self.base + path, allow_redirects=False, **kw)

    def post(self, path, data, **kw):
        kw.setdefault("timeout", 15)
        return self.s.post(self.base + path, data=data, allow_redirects=False, **kw)

    def login(self, user, password):
        page = self.get("/login")
        assert page.status_code == 200, describe(page)
        form = Forms(page.text).form("/login")
        resp = self.post("/login", Forms.submission(form, None, username=user, password=password))
        assert resp.status_code == 303 and resp.headers.get("Location") == "/", describe(resp)
        self.user = user
        if self.recorder is not None:
            self.recorder.add_secret(password)
        return self

    def csrf(self, path="/"):
        """The session's csrf_token, read from a form of `path` (default: the home page's log-out form)."""
        page = self.get(path)
        assert page.status_code == 200, describe(page)
        tokens = {f["value"] for form in Forms(page.text).forms for f in form["fields"] if f["name"] == "csrf_token"}
        assert len(tokens) == 1 and all(tokens), f"{path}: csrf tokens {tokens}"
        return tokens.pop()


def login_location(resp):
    """(path, next) of a 303 to the login page."""
    assert resp.status_code == 303, describe(resp)
    split = urlsplit(resp.headers.get("Location", ""))
    return split.path, dict(parse_qsl(split.query, keep_blank_values=True)).get("next")


class Snapshot:
    """What the console can change: links, consumers, users (REST lists) and successful audit entries."""

    def __init__(self, api):
        self.api = api
        self.clients = self._list(CLIENTS)
        self.consumers = self._list(CONSUMERS)
        self.users = self._list(USERS)
        self.mark = api.audit_mark()

    def _list(self, path):
        resp = self.api.request("GET", path)
        assert resp.status_code == 200, describe(resp)
        return sorted(resp.json(), key=lambda item: repr(sorted(item.items())))

    def differences(self):
        """What changed since the snapshot (empty when nothing did)."""
        now = Snapshot(self.api)
        changed = []
        for what in ("clients", "consumers", "users"):
            if getattr(now, what) != getattr(self, what):
                changed.append(f"{what}: {getattr(self, what)} -> {getattr(now, what)}")
        audited = [e for e in self.api.audit_after(self.mark) if e["outcome"] == "success"]
        if audited:
            changed.append(f"new successful audit entries: {audited}")
        return changed
