"""The peer's own views: the bearer-protected counterpart of Linkgate's GET /rest/api/latest/myself."""
from django.http import JsonResponse
from django.views import View
from oauth2_provider.views.generic import ScopedProtectedResourceView


class MyselfView(ScopedProtectedResourceView):
    """The token's user as JSON; needs a valid bearer token with scope `read`."""

    required_scopes = ["read"]

    def get(self, request, *args, **kwargs):
        user = request.resource_owner
        if user is None:
            return JsonResponse({"name": None, "displayName": None, "email": None, "admin": False})
        return JsonResponse({
            "name": user.get_username(),
            "displayName": user.get_full_name() or user.get_username(),
            "email": user.email or None,
            "admin": user.is_staff,
        })


class StatusView(View):
    """Liveness, like Linkgate's GET /status."""

    def get(self, request, *args, **kwargs):
        return JsonResponse({"state": "RUNNING"})
