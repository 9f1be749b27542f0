from django.urls import path

from . import views

# Before search's routes, so that `logs/export` is not taken for an event id.
urlpatterns = [
    path("logs/export", views.LogExportView.as_view(), name="log-export"),
    path("exports", views.ExportListView.as_view(), name="export-list"),
    path("exports/<str:pk>", views.ExportDetailView.as_view(), name="export-detail"),
    path("exports/<str:pk>/download", views.ExportDownloadView.as_view(), name="export-download"),
]
