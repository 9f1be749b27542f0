"""Export jobs: create, run (a Celery task calls export_job_run), link, expire.

A job exports what the streamed export would (the same filters, formats and audience) into a gzip-compressed
file in the `exports` storage (settings.STORAGES; a local directory by default, any Django storage such as an
S3-compatible one by configuration) at `exports/<schema>/<job id>.<ext>.gz`, so every tenant's files live
apart. It reads the export's lines (exports.lines, as the streamed export does) in keyset pages (one short
query each, so no transaction is held for the whole run) and commits its progress every EXPORT_PROGRESS_ROWS
rows. Files and jobs expire EXPORT_TTL_HOURS after the job was created: a periodic task deletes the file and
marks the job `expired`.

Downloads go through a signed link (django.core.signing, salt DOWNLOAD_SALT) naming the tenant's schema, the
job and the link's expiry; the link alone is the credential (a browser can follow it), it is valid for
EXPORT_LINK_MINUTES (at most until the file expires), and the detail of a job hands out a fresh one.
"""

import gzip
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.core.files import File
from django.core.files.storage import storages
from django.db import connection, transaction
from django.http import QueryDict
from django.utils import timezone

from auditlog.conf import auditlog_setting
from auditlog.errors import CONFLICT, ApiError, FieldErrors
from search.audience import Audience
from search.filters import EventFilter, parse_filters

from .formats import DEFAULT_FORMAT, FORMATS, writer_for
from .models import ExportJob, ExportStatus
from .selectors import events_count, export_line_pages

logger = logging.getLogger(__name__)

DOWNLOAD_SALT = "auditlog.exports.download"
ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)


def export_storage():
    return storages["exports"]


def export_file_name(schema: str, job: ExportJob) -> str:
    return f"exports/{schema}/{job.id}.{job.format}.gz"


def export_filename(tenant, fmt: str, at: datetime | None = None, *, compressed: bool = False) -> str:
    """The name a client saves an export under: auditlog-<tenant slug>-<UTC time>.<ext>[.gz]."""
    stamp = (at or timezone.now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"auditlog-{tenant.slug}-{stamp}.{fmt}" + (".gz" if compressed else "")


def filters_from_body(raw) -> EventFilter:
    """The `filters` of a job request ({name: value or [values]}, the list's query parameters) -> EventFilter."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FieldErrors({"filters": ['An object of the list\'s query parameters, e.g. {"severity": "ERROR"}.']})
    params = QueryDict(mutable=True)
    bad = {}
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) for v in values):
            bad[f"filters.{name}"] = ["A string or a list of strings."]
            continue
        params.setlist(name, values)
    if bad:
        raise FieldErrors(bad)
    try:
        f, _extra = parse_filters(params)
    except FieldErrors as exc:
        raise FieldErrors({f"filters.{name}": messages for name, messages in exc.details.items()}) from None
    return f


def export_job_create(*, principal, audience: Audience, fmt: str | None, filters) -> ExportJob:
    """Queue an export job of the caller's tenant (call in its schema); the task starts once this commits."""
    fmt = fmt or DEFAULT_FORMAT
    if fmt not in FORMATS:
        raise FieldErrors({"format": [f"One of {', '.join(FORMATS)}."]})
    f = filters_from_body(filters)
    limit = auditlog_setting("EXPORT_JOBS_ACTIVE_MAX")
    if ExportJob.objects.filter(status__in=ACTIVE).count() >= limit:
        raise ApiError(
            code=CONFLICT,
            status_code=409,
            message=f"At most {limit} export jobs may be queued or running at once; wait for one to finish.",
        )
    job = ExportJob.objects.create(
        created_by=principal.actor,
        filters=f.as_params(),
        format=fmt,
        sensitive=audience.sensitive,
        access_trail=audience.access_trail,
        expires_at=timezone.now() + timedelta(hours=auditlog_setting("EXPORT_TTL_HOURS")),
    )
    from .tasks import export_job_run_task  # the task module imports this one

    job_id = str(job.id)
    transaction.on_commit(lambda: export_job_run_task.delay(job_id))
    return job


def _update(job: ExportJob, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    ExportJob.objects.filter(id=job.id).update(**fields)


def job_filter(job: ExportJob) -> EventFilter:
    params = QueryDict(mutable=True)
    for name, value in job.filters.items():
        params[name] = value
    f, _extra = parse_filters(params)
    f.access_trail = job.access_trail
    return f


def export_job_run(job_id: str) -> str | None:
    """Run a queued job (in its tenant's schema): write the file, then mark it done (or failed)."""
    job = ExportJob.objects.filter(id=job_id, status=ExportStatus.QUEUED).first()
    if job is None:  # unknown, already run, or expired while queued
        return None
    _update(job, status=ExportStatus.RUNNING, started_at=timezone.now())
    try:
        _write(job)
    except Exception as exc:
        logger.exception("export job %s of %s failed", job.id, connection.schema_name)
        _update(
            job,
            status=ExportStatus.FAILED,
            error=f"The export failed ({type(exc).__name__}); try again, or narrow the filters.",
            finished_at=timezone.now(),
        )
    return job.status


def _write(job: ExportJob) -> None:
    f = job_filter(job)
    audience = Audience(sensitive=job.sensitive, access_trail=job.access_trail)
    total = events_count(f)
    _update(job, total=total)
    every = auditlog_setting("EXPORT_PROGRESS_ROWS")
    rows, reported = 0, 0
    writer = writer_for(job.format, connection.tenant, audience)
    with tempfile.TemporaryFile() as tmp:
        with gzip.GzipFile(fileobj=tmp, mode="wb", compresslevel=6) as gz:
            gz.write(writer.head())
            for lines in export_line_pages(f, job.format, page_size=auditlog_setting("EXPORT_FETCH_ROWS")):
                gz.write(writer.chunk(lines))
                rows += len(lines)
                if rows - reported >= every:
                    reported = rows
                    # Events written meanwhile (backfills) may make rows exceed the count taken at the start.
                    _update(job, rows=rows, progress=min(rows / max(total, 1), 0.99))
            gz.write(writer.tail())
        size = tmp.tell()
        tmp.seek(0)
        storage = export_storage()
        name = export_file_name(connection.schema_name, job)
        if storage.exists(name):  # a rerun after a crash: replace, never save under another name
            storage.delete(name)
        saved = storage.save(name, File(tmp, name=name))
    _update(
        job,
        status=ExportStatus.DONE,
        rows=rows,
        progress=1.0,
        file_name=saved,
        size=size,
        finished_at=timezone.now(),
    )


def export_jobs_expire(now: datetime | None = None) -> int:
    """Delete the files of jobs past their expiry and mark those jobs expired (in a tenant's schema)."""
    now = now or timezone.now()
    storage = export_storage()
    expired = 0
    for job in ExportJob.objects.filter(expires_at__lte=now).exclude(status=ExportStatus.EXPIRED):
        if job.file_name:
            storage.delete(job.file_name)
        _update(job, status=ExportStatus.EXPIRED, file_name="")
        expired += 1
    return expired


# Download links


@dataclass(frozen=True)
class LinkClaims:
    schema: str
    job_id: str
    expires: datetime


class LinkInvalid(Exception):
    pass


class LinkExpired(LinkInvalid):
    pass


def download_token(job: ExportJob, schema: str, now: datetime | None = None) -> tuple[str, datetime]:
    """A signed token for the job's file: (token, when it expires)."""
    now = now or timezone.now()
    expires = min(now + timedelta(minutes=auditlog_setting("EXPORT_LINK_MINUTES")), job.expires_at)
    token = signing.dumps({"s": schema, "j": str(job.id), "e": int(expires.timestamp())}, salt=DOWNLOAD_SALT)
    return token, expires


def download_claims(token: str, job_id: str, now: datetime | None = None) -> LinkClaims:
    """The claims of a download token for this job; raises LinkInvalid (forged, altered, another job's) or
    LinkExpired."""
    try:
        data = signing.loads(token, salt=DOWNLOAD_SALT)
        claims = LinkClaims(str(data["s"]), str(data["j"]), datetime.fromtimestamp(int(data["e"]), tz=UTC))
    except (signing.BadSignature, KeyError, TypeError, ValueError, OverflowError):
        raise LinkInvalid from None
    if claims.job_id != job_id:
        raise LinkInvalid
    if claims.expires <= (now or timezone.now()):
        raise LinkExpired
    return claims
