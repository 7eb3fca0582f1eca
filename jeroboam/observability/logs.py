"""Log context and the JSON log format.

Two context variables say what a log line concerns: the API middleware sets the
request id of the request being served, the conductor sets the cluster (and the
request id of the operation it works on) while it reconciles one. A filter
copies them onto every record, so both formats can show them; the JSON format
writes one object per line with them as fields.

In the API the cluster is learnt where a request resolves it (``concerns_cluster``,
called by the cluster lookups and the create), often in a worker thread that runs
in a copy of the request's context: the request's ``Subject`` (a mutable object
the middleware puts in the context) carries it back, so the request's own log
line (``jeroboam.api.requests``) names the cluster too.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("jeroboam_request_id", default=None)
cluster_uuid: ContextVar[str | None] = ContextVar("jeroboam_cluster_uuid", default=None)


class Subject:
    """What one API request concerns, filled in while it is served (shared with the threads that
    serve it: they run in copies of the request's context, which hold this same object)."""

    __slots__ = ("cluster",)

    def __init__(self) -> None:
        self.cluster: str | None = None


request_subject: ContextVar[Subject | None] = ContextVar("jeroboam_request_subject", default=None)


def begin_request(request: str) -> Subject:
    """The request ``request`` is served in this context from here on: its lines carry its id,
    and its ``Subject`` collects the cluster it turns out to concern."""
    subject = Subject()
    request_id.set(request)
    request_subject.set(subject)
    cluster_uuid.set(None)
    return subject


def concerns_cluster(uuid: str) -> None:
    """The lines logged from here on in this context, and the request being served, concern
    cluster ``uuid``. A request that reads several clusters keeps the first. Outside a request
    it does nothing: a lookup made by a tool or a test would otherwise stamp every later line of
    its thread (the conductor says what its work concerns with ``about_cluster``)."""
    subject = request_subject.get()
    if subject is None:
        return
    if subject.cluster is None:
        subject.cluster = uuid
    if cluster_uuid.get() is None:
        cluster_uuid.set(uuid)


@contextlib.contextmanager
def about_cluster(uuid: str, request: str | None = None) -> Iterator[None]:
    """Lines logged inside concern cluster ``uuid`` (and the request that asked for the work)."""
    cluster_token = cluster_uuid.set(uuid)
    request_token = request_id.set(request)
    try:
        yield
    finally:  # also undoes a request id set inside (the work's, once it is read)
        cluster_uuid.reset(cluster_token)
        request_id.reset(request_token)


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``cluster_uuid`` (or None) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        cluster = cluster_uuid.get()
        if cluster is None and (subject := request_subject.get()) is not None:
            cluster = subject.cluster  # learnt in a thread that served this request
        record.cluster_uuid = cluster
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context
    fields when set, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (("request_id", request_id), ("cluster_uuid", cluster_uuid)):
            # Set by ContextFilter (or passed as ``extra``); read here too for a handler installed without it.
            value = getattr(record, key, None) or var.get()
            if value is not None:
                line[key] = value
        for key in EXTRA_FIELDS:
            if (value := getattr(record, key, None)) is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


# Fields a line may carry through ``extra`` (the API's request lines), written as JSON fields.
EXTRA_FIELDS = ("method", "path", "status", "duration_ms")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: int, json_lines: bool) -> None:
    """The root logger: one stderr handler in the chosen format, with the context filter."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
