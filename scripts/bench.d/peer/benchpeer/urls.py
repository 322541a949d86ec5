"""Routes: django-oauth-toolkit under /o/ (token, introspect, ...) and the bearer 'myself' view."""
from django.urls import include, path

from .views import MyselfView, StatusView

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/myself", MyselfView.as_view()),
    path("status", StatusView.as_view()),
]
