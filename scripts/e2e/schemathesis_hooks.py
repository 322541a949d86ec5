"""Schemathesis hooks for test_openapi.py (loaded through SCHEMATHESIS_HOOKS).

- A deserializer for `application/x-www-form-urlencoded` answers (the OAuth 1.0a token endpoints,
  RFC 5849 §2.1/§2.3), so their bodies are checked against the document like JSON ones.
- The harness's own accounts stay out of the fuzzing: schemathesis learns user names from
  responses and would otherwise change the password of (or delete, or demote) the admin it runs
  as, after which every request is a failed password check and the run tests only lockouts. A
  generated `{name}` that names one of $OPENAPI_PROTECTED_USERS is sent with a suffix instead:
  the operation is still exercised, on a user that is not the harness's.
- The token, revocation and introspection endpoints see the runner's Basic credentials as a wrong
  client secret; INTERFACE §10 throttles those per (client_id, address) after a few failures.
  Before each call to them the runner lifts that client lockout through the REST API, so the
  endpoints' own logic is tested rather than only the throttle (which test_abuse.py covers).
- Only loopback traffic: `consumerInfoUrl` (INTERFACE §7) makes the server fetch that URL, so a
  generated one is replaced by a URL on the server itself: its own consumer-info document (a
  good fetch) or, for about half of the values, its /status (a fetch whose answer is not consumer
  XML). Nothing is ever sent to a generated host.
"""
import os
import zlib
from urllib.parse import parse_qsl

import requests
import schemathesis

PROTECTED = set(filter(None, os.environ.get("OPENAPI_PROTECTED_USERS", "").split(",")))
RUNNER = os.environ.get("OPENAPI_RUNNER_USER", "")
RUNNER_PASSWORD = os.environ.get("OPENAPI_RUNNER_PASSWORD", "")
BASE_URL = os.environ.get("OPENAPI_BASE_URL", "")
assert BASE_URL.startswith("http://127.0.0.1:"), "OPENAPI_BASE_URL must be the private server's loopback URL"
CLIENT_AUTH_PATHS = {"/rest/oauth2/latest/token", "/rest/oauth2/latest/revoke", "/rest/oauth2/latest/introspect"}


@schemathesis.deserializer("application/x-www-form-urlencoded")
def deserialize_form(ctx, response):
    text = response.content.decode("utf-8")
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError(f"a parameter is repeated in the form body: {text!r}")
    return dict(pairs)


@schemathesis.hook
def before_call(context, case, kwargs):
    name = (case.path_parameters or {}).get("name")
    if name in PROTECTED and "{name}" in case.operation.path:
        case.path_parameters["name"] = name + "-not-the-runner"
    generated = case.body.get("consumerInfoUrl") if isinstance(case.body, dict) else None
    # The server fetches only http(s) URLs; anything else it refuses without a request.
    if isinstance(generated, str) and generated.lower().startswith(("http://", "https://")):
        own = "/plugins/servlet/oauth/consumer-info" if zlib.crc32(generated.encode()) % 2 else "/status"
        case.body["consumerInfoUrl"] = BASE_URL + own
    if case.operation.path in CLIENT_AUTH_PATHS and RUNNER and BASE_URL:
        lifted = requests.delete(BASE_URL + "/rest/api/latest/lockout", params={"user": RUNNER},
                                 auth=(RUNNER, RUNNER_PASSWORD), timeout=10)
        assert lifted.status_code == 204, f"lifting the runner's client lockout failed: {lifted.status_code} {lifted.text}"
