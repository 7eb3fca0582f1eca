"""Every Prometheus metric of Jeroboam, defined here and nowhere else.

The metrics are built on first use (``metrics()``), after the command has chosen
between one process (an in-memory registry) and several (``use_multiprocess``:
prometheus_client's multiprocess mode, each process writing its samples into
files of a shared directory that any process aggregates at scrape time).
Figures that are cheap grouped counts of the database (queue depth, clusters by
status and health) are not kept in the processes: ``exposition`` asks a
``Snapshot`` source for them at scrape time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
DEFAULT_DRIVER_LABEL = "default"  # a template that names no driver (the default driver serves it)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds: HTTP requests are milliseconds; phases and operations are seconds to many minutes.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WORK_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class Metrics:
    """The process's metric objects (counters and histograms; gauges are scraped, see ``Snapshot``)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        def counter(name: str, doc: str, labels: Iterable[str]) -> Counter:
            return Counter(name, doc, list(labels), registry=registry)

        def histogram(name: str, doc: str, labels: Iterable[str], buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, list(labels), registry=registry, buckets=buckets)

        self.http_requests = counter(
            "jeroboam_http_requests", "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
        )  # fmt: skip
        self.http_duration = histogram(
            "jeroboam_http_request_duration_seconds", "Time to answer an HTTP request, by route template and method.",
            ("route", "method"), HTTP_BUCKETS,
        )  # fmt: skip
        self.operations_accepted = counter(
            "jeroboam_operations_accepted", "Cluster operations accepted by the API, by kind and driver.",
            ("kind", "driver"),
        )  # fmt: skip
        self.operations_completed = counter(
            "jeroboam_operations_completed", "Cluster operations that succeeded, by kind and driver.",
            ("kind", "driver"),
        )  # fmt: skip
        self.operations_failed = counter(
            "jeroboam_operations_failed", "Cluster operations that failed, by kind and driver.", ("kind", "driver")
        )
        self.operation_duration = histogram(
            "jeroboam_operation_duration_seconds",
            "From acceptance to the end of a cluster operation, by kind, driver and result.",
            ("kind", "driver", "result"), WORK_BUCKETS,
        )  # fmt: skip
        self.phase_duration = histogram(
            "jeroboam_phase_duration_seconds",
            "One phase's driver call in a reconcile pass, by phase, driver and result (ok, retry, failed).",
            ("phase", "driver", "result"), WORK_BUCKETS,
        )  # fmt: skip
        self.retries = counter(
            "jeroboam_operation_retries", "Reconcile passes that ended waiting to retry a phase.", ("phase", "driver")
        )
        self.driver_errors = counter(
            "jeroboam_driver_errors",
            "Driver calls that raised, by driver, phase and kind (retryable, permanent, unexpected).",
            ("driver", "phase", "kind"),
        )  # fmt: skip
        self.lease_takeovers = counter(
            "jeroboam_lease_takeovers", "Claims of clusters whose previous lease lapsed unreleased (a conductor "
            "crashed or hung).", (),
        )  # fmt: skip
        self.autoheal_replacements = counter(
            "jeroboam_autoheal_replacements",
            "Failed nodes autoheal started replacing (one update operation per unhealthy cluster).", (),
        )  # fmt: skip


_lock = threading.Lock()
_metrics: Metrics | None = None
_registry = CollectorRegistry()
_multiprocess_dir: Path | None = None


def use_multiprocess(directory: Path, *, clear: bool) -> None:
    """Share samples with the other processes of this server through ``directory`` (call before
    the first ``metrics()``; spawned processes inherit it through the environment). ``clear``:
    the supervisor starts from an empty directory (stale files would count twice)."""
    global _multiprocess_dir
    directory.mkdir(parents=True, exist_ok=True)
    if clear:
        for stale in directory.glob("*.db"):
            stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    # prometheus_client chose its value class when it was imported; samples made from now on use files.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _multiprocess_dir = directory


def multiprocess_dir() -> Path | None:
    """The shared directory of this process (set here or inherited from a supervisor)."""
    if _multiprocess_dir is not None:
        return _multiprocess_dir
    inherited = os.environ.get(MULTIPROC_ENV)
    return Path(inherited) if inherited else None


def metrics() -> Metrics:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                # In multiprocess mode the samples live in files: the collector reads them, not a registry.
                _metrics = Metrics(None if multiprocess_dir() else _registry)
    return _metrics


@dataclass(frozen=True)
class Snapshot:
    """The scrape-time figures read from the database."""

    queue_depth: int  # in-progress clusters due now whose lease is free: work no conductor has claimed
    clusters: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, health) → count
    database_up: bool = True  # False: the database did not answer; the figures above are not known


class _SnapshotCollector:
    def __init__(self, source: Callable[[], Snapshot]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snapshot = self.source()
        up = GaugeMetricFamily("jeroboam_database_up", "1 when the database answered this scrape, 0 when not.")
        up.add_metric([], 1 if snapshot.database_up else 0)
        yield up
        if not snapshot.database_up:  # a scrape during an outage still reports this process's samples
            return
        depth = GaugeMetricFamily(
            "jeroboam_queue_depth", "In-progress clusters due for work that no conductor has claimed yet."
        )
        depth.add_metric([], snapshot.queue_depth)
        yield depth
        clusters = GaugeMetricFamily(
            "jeroboam_clusters", "Clusters by status and health status.", labels=["status", "health"]
        )
        for (status, health), count in sorted(snapshot.clusters.items()):
            clusters.add_metric([status, health], count)
        yield clusters


class _Exposition:
    """The collectors one scrape reads, in order."""

    def __init__(self, collectors: list[Collector]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def collector(snapshot: Callable[[], Snapshot] | None) -> _Exposition:
    """What a scrape of this process reports: its samples (all processes' in multiprocess mode)
    and, with a ``snapshot`` source, the database figures."""
    metrics()  # the families appear (empty) before the first sample
    collectors: list[Collector] = []
    directory = multiprocess_dir()
    if directory is not None:
        aggregated = CollectorRegistry()
        MultiProcessCollector(aggregated, path=str(directory))  # type: ignore[no-untyped-call]
        collectors.append(aggregated)
    else:
        collectors.append(_registry)
    if snapshot is not None:
        collectors.append(_SnapshotCollector(snapshot))
    return _Exposition(collectors)


def exposition(snapshot: Callable[[], Snapshot] | None) -> bytes:
    """The Prometheus text format of one scrape."""
    return prometheus_client.generate_latest(collector(snapshot))


def serve(address: str, port: int, snapshot: Callable[[], Snapshot] | None) -> None:
    """A small HTTP listener for /metrics in a process without an API (the conductor)."""
    prometheus_client.start_http_server(port, addr=address, registry=collector(snapshot))
