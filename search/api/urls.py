from django.urls import path

from ingest.api.views import LogBulkView

from . import views

urlpatterns = [
    path("logs", views.LogListView.as_view(), name="log-list"),
    path("logs/bulk", LogBulkView.as_view(), name="log-bulk"),
    path("logs/<str:event_id>/related", views.LogRelatedView.as_view(), name="log-related"),
    path("logs/<str:event_id>", views.LogDetailView.as_view(), name="log-detail"),
]
