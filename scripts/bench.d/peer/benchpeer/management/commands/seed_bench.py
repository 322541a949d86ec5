"""`manage.py seed_bench`: creates the benchmark's user, applications and tokens; prints them as JSON.

- user `bench`;
- `bench-code`: confidential, authorization-code (the user's tokens belong to it);
- `bench-cc`: confidential, client-credentials (scenario 3 issues its tokens; scenario 1
  authenticates as it with client_secret_basic);
- access tokens: `bearer` (user bench, scope `read write`) for 'myself' and to be introspected,
  and `introspection` (scope `introspection`), the DOT-documented way for a resource server to
  call /o/introspect/.

django-oauth-toolkit hashes client secrets with Django's password hasher by default (PBKDF2,
about a million iterations, so every client authentication would cost ~0.5 s of CPU).
Linkgate keeps a SHA-256 digest of its 256-bit secrets. The applications here are created
with `hash_client_secret=False`, so client authentication is a plain comparison, not a
PBKDF2 run.
"""
import json
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application


class Command(BaseCommand):
    help = "Seed the benchmark peer and print its credentials as JSON."

    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.create_user("bench", email="bench@example.com", password=secrets.token_urlsafe(16),
                                        first_name="Bench", last_name="User")
        code_secret = secrets.token_urlsafe(32)
        code_app = Application.objects.create(
            name="bench-code", user=user, client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris="http://127.0.0.1/bench/callback", client_secret=code_secret, hash_client_secret=False)
        cc_secret = secrets.token_urlsafe(32)
        cc_app = Application.objects.create(
            name="bench-cc", client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=cc_secret, hash_client_secret=False)
        expires = timezone.now() + timedelta(hours=2)

        def token(app, scope, owner):
            value = secrets.token_urlsafe(32)
            AccessToken.objects.create(user=owner, application=app, token=value, expires=expires, scope=scope)
            return value

        self.stdout.write(json.dumps({
            "code_client": {"id": code_app.client_id, "secret": code_secret},
            "cc_client": {"id": cc_app.client_id, "secret": cc_secret},
            "bearer": token(code_app, "read write", user),
            "introspection": token(cc_app, "introspection", None),
        }))
