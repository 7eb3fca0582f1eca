"""The JSON log format and the log context (unit: records made in memory)."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading

from jeroboam.observability import logs


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = sys.exc_info() if exc else None
    made = logging.LogRecord("jeroboam.test", logging.WARNING, __file__, 1, message, args, exc_info)
    logs.ContextFilter().filter(made)
    return made


def formatted(made: logging.LogRecord) -> dict[str, object]:
    line = logs.JsonFormatter().format(made)
    assert "\n" not in line  # one object per line, whatever the message holds
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_a_line_without_context_has_the_base_fields_only() -> None:
    line = formatted(record("cluster %s is %s", "c1", "ok"))
    assert line["message"] == "cluster c1 is ok"
    assert line["level"] == "WARNING"
    assert line["logger"] == "jeroboam.test"
    assert str(line["time"]).endswith("+00:00")
    assert "request_id" not in line
    assert "cluster_uuid" not in line


def test_the_request_id_set_for_a_request_is_on_its_lines() -> None:
    token = logs.request_id.set("req-1234")
    try:
        line = formatted(record("served"))
    finally:
        logs.request_id.reset(token)
    assert line["request_id"] == "req-1234"
    assert "request_id" not in formatted(record("after the request"))


def test_about_cluster_names_the_cluster_and_request_then_restores() -> None:
    outer = logs.request_id.set("req-outer")
    try:
        with logs.about_cluster("uuid-1", "req-op"):
            inside = formatted(record("working"))
            logs.request_id.set("req-read-later")  # set while the work is read: undone on exit too
        after = formatted(record("done"))
    finally:
        logs.request_id.reset(outer)
    assert inside["cluster_uuid"] == "uuid-1"
    assert inside["request_id"] == "req-op"
    assert "cluster_uuid" not in after
    assert after["request_id"] == "req-outer"


def test_context_does_not_leak_into_other_threads() -> None:
    seen: dict[str, object] = {}
    with logs.about_cluster("uuid-2", "req-2"):
        thread = threading.Thread(target=lambda: seen.update(formatted(record("elsewhere"))))
        thread.start()
        thread.join()
    assert "cluster_uuid" not in seen
    assert "request_id" not in seen


def test_an_exception_is_one_field_with_the_traceback() -> None:
    try:
        raise ValueError('bad "quote"\nnew line')
    except ValueError:
        line = formatted(record("failed", exc=True))
    assert "Traceback" in str(line["exception"])
    assert "ValueError" in str(line["exception"])


def test_non_ascii_and_odd_arguments_are_kept() -> None:
    line = formatted(record("name %s, value %r", "Jéroboam", {"a": 1}))
    assert line["message"] == "name Jéroboam, value {'a': 1}"


def test_a_cluster_learnt_in_a_worker_thread_names_the_request_line() -> None:
    # The API serves a request's blocking work in a thread that runs in a copy of its context
    # (anyio.to_thread): the cluster the work resolves must reach the request's own line.
    def serve() -> None:
        subject = logs.begin_request("req-t")
        worker = contextvars.copy_context()
        inside = worker.run(lambda: (logs.concerns_cluster("uuid-t"), formatted(record("resolved")))[1])
        assert inside["cluster_uuid"] == "uuid-t"
        assert subject.cluster == "uuid-t"
        line = formatted(record("GET /v1/clusters/web 200"))
        assert line["cluster_uuid"] == "uuid-t"
        assert line["request_id"] == "req-t"
        logs.concerns_cluster("uuid-other")  # a request that reads two clusters keeps the first
        assert subject.cluster == "uuid-t"

    contextvars.copy_context().run(serve)
    assert "cluster_uuid" not in formatted(record("after"))


def test_request_fields_given_as_extra_are_json_fields() -> None:
    made = record("GET / 200")
    made.status = 200
    made.duration_ms = 1.5
    line = formatted(made)
    assert (line["status"], line["duration_ms"]) == (200, 1.5)
