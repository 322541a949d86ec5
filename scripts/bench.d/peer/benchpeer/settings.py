"""Settings of the benchmark peer: a minimal Django + django-oauth-toolkit authorization server.

Only what scripts/bench measures is installed: auth, contenttypes and oauth2_provider; no
sessions, admin, templates or middleware. DEBUG is off. The SQLite file comes from
BENCH_PEER_DB (a fresh temp file per run). It runs in WAL mode with synchronous=FULL and
IMMEDIATE transactions, as Linkgate's store does, so two gunicorn worker processes can write
tokens without "database is locked" errors. (The harness migrates and seeds with
BENCH_PEER_SYNCHRONOUS=OFF, which only makes the set-up faster.)
"""
import os

SECRET_KEY = os.environ.get("BENCH_PEER_SECRET_KEY", "linkgate-bench-peer-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "oauth2_provider",
    "benchpeer",
]
MIDDLEWARE = []
ROOT_URLCONF = "benchpeer.urls"
WSGI_APPLICATION = "benchpeer.wsgi.application"
TEMPLATES = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_PEER_DB", "/tmp/linkgate-bench-peer.sqlite3"),
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous="
            + os.environ.get("BENCH_PEER_SYNCHRONOUS", "FULL"),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
}
# Keep one SQLite connection per worker thread instead of opening one per request.
CONN_MAX_AGE = None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "Read",
        "write": "Write",
        "introspection": "Introspect tokens",
    },
    "DEFAULT_SCOPES": ["read", "write"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
