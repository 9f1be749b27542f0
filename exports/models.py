"""Export jobs (tenant schema): an export of a large range written to a file in the background."""

import uuid

from django.db import models


class ExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class ExportJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.JSONField()  # the caller as an actor of the audit log (tenants.principal.Principal.actor)
    filters = models.JSONField(default=dict)  # the list's query parameters, as parsed (EventFilter.as_params)
    format = models.CharField(max_length=8)
    # What the creator may see (search.audience.Audience): sensitive content decrypted; the access trail included.
    sensitive = models.BooleanField(default=False)
    access_trail = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True)  # the matches counted when the job started (progress)
    progress = models.FloatField(default=0.0)
    file_name = models.CharField(max_length=255, blank=True, default="")  # the storage path, while the file exists
    size = models.BigIntegerField(null=True)  # bytes of the compressed file
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="exports_job_expiry")]

    def __str__(self):
        return f"export {self.id} ({self.format}, {self.status})"
