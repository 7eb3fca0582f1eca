"""What every benchmark shares: the target and its credentials, a cheap HTTP/1.1 client, a
multi-process load generator, percentiles, and the JSON line each figure is printed as.

The load generator is deliberately plain: each concurrent client is its own process (forked, so
no GIL is shared with the others) running a blocking loop over pre-built request bytes on a raw
socket. On a 2-core machine that shares its cores with the server, a client that costs ~20 µs of
CPU per request leaves the server almost all of the machine; an ``httpx`` client costs ~10x that
and measured itself more than the server.

``fresh`` mode really opens a new TCP connection for every request (and sends
``Connection: close``); ``keep-alive`` mode keeps one connection per client process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import statistics
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

VERSION_HEADER = ("OpenStack-API-Version", "container-infra latest")
TEMPLATE = {
    "coe": "kubernetes",
    "image_id": "fedora-coreos",
    "driver": "sim",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "master_flavor_id": "m1.small",
}


# -- the target ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """noauth identity headers, or a Keystone token."""

    token: str | None = None
    project: str = "bench"
    user: str = "bench"
    roles: str = "member,reader"

    def headers(self) -> list[tuple[str, str]]:
        if self.token:
            return [("X-Auth-Token", self.token)]
        return [("X-Project-Id", self.project), ("X-User-Id", self.user), ("X-Roles", self.roles)]

    def for_project(self, project: str, roles: str | None = None) -> Credentials:
        return Credentials(self.token, project, self.user, roles or self.roles)

    @property
    def mode(self) -> str:
        return "keystone" if self.token else "noauth"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    prefix: str  # path prefix of the API root ('' for http://host:port)

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise SystemExit("only http:// URLs are supported by the raw-socket client")
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, parts.path.rstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        credentials: Credentials,
        *,
        body: Any = None,
        keep_alive: bool = True,
    ) -> bytes:
        """The bytes of one request, built once and sent many times."""
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: application/json"]
        lines.append(f"{VERSION_HEADER[0]}: {VERSION_HEADER[1]}")
        lines += [f"{name}: {value}" for name, value in credentials.headers()]
        if payload or method in ("POST", "PUT", "PATCH"):
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="API base URL, e.g. http://127.0.0.1:9511")
    parser.add_argument("--token", help="Keystone token (X-Auth-Token); default: noauth headers")
    parser.add_argument("--admin-token", help="Keystone token with the admin role (setup: quotas, all projects)")
    parser.add_argument("--project", default="bench", help="noauth project id")
    parser.add_argument("--user", default="bench", help="noauth user id")
    parser.add_argument("--label", default="", help="free text naming the deployment, copied into every line")
    parser.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="pid of a server process (its descendants are included); adds server CPU per request",
    )


def credentials_of(args: argparse.Namespace) -> tuple[Credentials, Credentials]:
    """(user credentials, admin credentials)."""
    user = Credentials(args.token, args.project, args.user)
    if args.token:
        admin = Credentials(args.admin_token or args.token)
    else:
        admin = Credentials(None, args.project, "bench-admin", "admin,member,reader")
    return user, admin


# -- one connection ----------------------------------------------------------------------------------
class HttpError(Exception):
    pass


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One client's connection; with ``fresh`` every ``call`` connects anew."""

    def __init__(self, target: Target, *, fresh: bool, timeout: float = 30.0) -> None:
        self.target = target
        self.fresh = fresh
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.target.host, self.target.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def call(self, request: bytes) -> Response:
        reused = not self.fresh and self._sock is not None
        if self.fresh or self._sock is None:
            self.close()
            self._sock = self._connect()
        try:
            self._sock.sendall(request)
            response, closing = self._read(self._sock)
        except (OSError, HttpError) as exc:
            self.close()
            if reused:  # the server closed an idle keep-alive connection: connect again, once
                return self.call(request)
            raise HttpError(f"{type(exc).__name__}: {exc}") from None
        if closing or self.fresh:
            self.close()
        return response

    def _read(self, sock: socket.socket) -> tuple[Response, bool]:
        buffer = self._buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed before a response")
            buffer += chunk
        head = buffer[:end].decode("latin-1").split("\r\n")
        rest = buffer[end + 4 :]
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        closing = headers.get("connection", "").lower() == "close"
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise HttpError("connection closed in a body")
                rest += chunk
            body, self._buffer = rest[:length], rest[length:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body, self._buffer = self._dechunk(sock, rest)
        elif status in (204, 304) or status < 200:
            body, self._buffer = b"", rest
        else:  # delimited by the end of the connection
            parts = [rest]
            while chunk := sock.recv(65536):
                parts.append(chunk)
            body, self._buffer, closing = b"".join(parts), b"", True
        return Response(status, body), closing

    @staticmethod
    def _dechunk(sock: socket.socket, data: bytes) -> tuple[bytes, bytes]:
        body = b""
        while True:
            while (eol := data.find(b"\r\n")) < 0:
                data += sock.recv(65536)
            size = int(data[:eol].split(b";")[0], 16)
            data = data[eol + 2 :]
            while len(data) < size + 2:
                data += sock.recv(65536)
            if size == 0:
                return body, data[2:]
            body, data = body + data[:size], data[size + 2 :]


# -- setup calls ---------------------------------------------------------------------------------------
class Api:
    """Plain calls for setup and cleanup (not timed)."""

    def __init__(self, target: Target, credentials: Credentials) -> None:
        self.target = target
        self.credentials = credentials
        self.client = Client(target, fresh=False)

    def call(self, method: str, path: str, body: Any = None, *, expect: Iterable[int] = ()) -> Response:
        response = self.client.call(self.target.request(method, path, self.credentials, body=body))
        if expect and response.status not in tuple(expect):
            raise HttpError(f"{method} {path}: HTTP {response.status}: {response.body[:300]!r}")
        return response

    def as_project(self, project: str, roles: str | None = None) -> Api:
        return Api(self.target, self.credentials.for_project(project, roles))


def ensure_template(api: Api, name: str) -> str:
    """The uuid of the caller's template ``name``, created when missing."""
    found = api.call("GET", "/v1/clustertemplates?limit=1000", expect=(200,)).json()["clustertemplates"]
    for item in found:
        if item["name"] == name:
            return str(item["uuid"])
    made = api.call("POST", "/v1/clustertemplates", {**TEMPLATE, "name": name}, expect=(201,)).json()
    return str(made["uuid"])


def set_cluster_quota(admin: Api, project: str, limit: int) -> bool:
    """Raise ``project``'s cluster quota (admin); False when the caller may not."""
    body = {"project_id": project, "resource": "Cluster", "hard_limit": limit}
    made = admin.call("POST", "/v1/quotas", body)
    if made.status == 201:
        return True
    if made.status == 409:
        return admin.call("PATCH", f"/v1/quotas/{project}/Cluster", body).status == 202
    return False


def all_clusters(api: Api, *, detail: bool = False) -> list[dict[str, Any]]:
    """Every cluster the caller sees (an admin: every project's), page by page."""
    found: list[dict[str, Any]] = []
    marker = ""
    path = "/v1/clusters/detail" if detail else "/v1/clusters"
    while True:
        page = api.call("GET", f"{path}?limit=1000{marker}", expect=(200,)).json()
        found += page["clusters"]
        if "next" not in page:
            return found
        marker = f"&marker={page['clusters'][-1]['uuid']}"


def wait_settled(api: Api, *, timeout: float = 600.0) -> dict[str, int]:
    """Wait until no cluster the caller sees is *_IN_PROGRESS; the count of each status."""
    deadline = time.monotonic() + timeout
    while True:
        counts: dict[str, int] = {}
        for item in all_clusters(api):
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        if not any(status.endswith("_IN_PROGRESS") for status in counts) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def delete_all_clusters(api: Api) -> int:
    """Delete every cluster the caller sees and wait until they are gone; how many were deleted."""
    deleted = 0
    while True:
        found = all_clusters(api)
        if not found:
            return deleted
        for item in found:
            if item["status"] != "DELETE_IN_PROGRESS":
                api.call("DELETE", f"/v1/clusters/{item['uuid']}", expect=(204, 404))
                deleted += 1
        time.sleep(1.0)


# -- measuring -------------------------------------------------------------------------------------------
Operation = Callable[[Client], bool]


@dataclass
class Sample:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    errors: int = 0
    first_error: str = ""
    cpu_seconds: float = 0.0


def _client_loop(
    target: Target, operation: Operation, fresh: bool, start: float, warm_until: float, end: float, pipe: Any
) -> None:
    client = Client(target, fresh=fresh)
    sample = Sample()
    latencies = sample.latencies
    clock = time.perf_counter
    while time.monotonic() < start:
        time.sleep(0.001)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        began = clock()
        try:
            ok = operation(client)
        except HttpError as exc:
            ok = False
            sample.first_error = sample.first_error or str(exc)
        elapsed = clock() - began
        if now >= warm_until:
            latencies.append(elapsed)
            if not ok:
                sample.errors += 1
    client.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sample.cpu_seconds = usage.ru_utime + usage.ru_stime
    pipe.send((sample.latencies.tobytes(), sample.errors, sample.first_error, sample.cpu_seconds))
    pipe.close()


def percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _descendants(pids: Iterable[int]) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except OSError:
                continue
    found = set(pids)
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def process_cpu_seconds(pids: Iterable[int]) -> float:
    """User+system CPU of ``pids`` and their descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _descendants(pids):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / ticks


@dataclass
class Run:
    target: Target
    label: str = ""
    auth: str = "noauth"
    server_pids: list[int] = field(default_factory=list)


def measure(
    run: Run,
    benchmark: str,
    name: str,
    operation: Operation,
    *,
    concurrency: int,
    seconds: float,
    fresh: bool,
    warmup: float = 1.0,
    unit: str = "requests",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``operation`` in ``concurrency`` client processes for ``seconds`` (after ``warmup``)."""
    context = multiprocessing.get_context("fork")
    start = time.monotonic() + 0.3
    warm_until = start + warmup
    end = warm_until + seconds
    pipes, processes = [], []
    load_before = load_average()
    for _ in range(concurrency):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_client_loop, args=(run.target, operation, fresh, start, warm_until, end, sender)
        )
        process.start()
        sender.close()
        pipes.append(receiver)
        processes.append(process)
    while time.monotonic() < warm_until:
        time.sleep(0.005)
    server_cpu_before = process_cpu_seconds(run.server_pids) if run.server_pids else 0.0
    collected = _collect(pipes)
    server_cpu = process_cpu_seconds(run.server_pids) - server_cpu_before if run.server_pids else None
    for process in processes:
        process.join()
    # The load generator's CPU covers the warm-up too: count only the measured share.
    client_cpu = collected.cpu_seconds * seconds / (seconds + warmup)
    return _figure(
        run, benchmark, name, collected, concurrency=concurrency, fresh=fresh, seconds=seconds, unit=unit,
        client_cpu=client_cpu, server_cpu=server_cpu, load_before=load_before, extra=extra,
    )  # fmt: skip


def _batch_loop(target: Target, requests: list[bytes], expected: tuple[int, ...], fresh: bool, pipe: Any) -> None:
    client = Client(target, fresh=fresh)
    sample = Sample()
    clock = time.perf_counter
    for request in requests:
        began = clock()
        try:
            ok = client.call(request).status in expected
        except HttpError as exc:
            ok = False
            sample.first_error = sample.first_error or str(exc)
        sample.latencies.append(clock() - began)
        sample.errors += not ok
    client.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    pipe.send((sample.latencies.tobytes(), sample.errors, sample.first_error, usage.ru_utime + usage.ru_stime))
    pipe.close()


def measure_batch(
    run: Run,
    benchmark: str,
    name: str,
    requests: list[bytes],
    expected: tuple[int, ...],
    *,
    concurrency: int,
    fresh: bool,
    unit: str = "requests",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send every one of ``requests`` once, spread over ``concurrency`` client processes."""
    context = multiprocessing.get_context("fork")
    load_before = load_average()
    server_cpu_before = process_cpu_seconds(run.server_pids) if run.server_pids else 0.0
    started = time.monotonic()
    pipes, processes = [], []
    for index in range(concurrency):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_batch_loop, args=(run.target, requests[index::concurrency], expected, fresh, sender)
        )
        process.start()
        sender.close()
        pipes.append(receiver)
        processes.append(process)
    collected = _collect(pipes)
    duration = time.monotonic() - started
    server_cpu = process_cpu_seconds(run.server_pids) - server_cpu_before if run.server_pids else None
    for process in processes:
        process.join()
    return _figure(
        run, benchmark, name, collected, concurrency=concurrency, fresh=fresh, seconds=round(duration, 2), unit=unit,
        client_cpu=collected.cpu_seconds, server_cpu=server_cpu, load_before=load_before, extra=extra,
    )  # fmt: skip


def _collect(pipes: list[Any]) -> Sample:
    """Every client process's sample, merged; latencies sorted."""
    merged = Sample()
    for receiver in pipes:
        raw, failed, message, cpu = receiver.recv()
        merged.latencies.frombytes(raw)
        merged.errors += failed
        merged.first_error = merged.first_error or message
        merged.cpu_seconds += cpu
    merged.latencies = array("d", sorted(merged.latencies))
    return merged


def _figure(
    run: Run, benchmark: str, name: str, sample: Sample, *, concurrency: int, fresh: bool, seconds: float,
    unit: str, client_cpu: float, server_cpu: float | None, load_before: float, extra: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """The JSON line of one figure."""
    latencies = sample.latencies
    count = len(latencies)
    figure: dict[str, Any] = {
        "benchmark": benchmark,
        "figure": name,
        "deployment": run.label,
        "auth": run.auth,
        "concurrency": concurrency,
        "connection": "fresh" if fresh else "keep-alive",
        "seconds": seconds,
        unit: count,
        f"{unit}_per_s": round(count / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
        "errors": sample.errors,
        "client_cpu_us_per_op": round(client_cpu / max(count, 1) * 1e6, 1),
        "load_1min": [load_before, load_average()],
    }
    if server_cpu is not None:
        figure["server_cpu_us_per_op"] = round(server_cpu / max(count, 1) * 1e6, 1)
    if sample.first_error:
        figure["first_error"] = sample.first_error[:200]
    if extra:
        figure.update(extra)
    return figure


def rss_mib(pids: Iterable[int]) -> float:
    """Resident memory of ``pids`` and their descendants, MiB."""
    total = 0
    for pid in _descendants(pids):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def emit(figure: dict[str, Any]) -> None:
    print(json.dumps(figure), flush=True)


def status_is(request: bytes, *expected: int) -> Operation:
    """An operation sending ``request`` once; success when the status is one of ``expected``."""

    def operation(client: Client) -> bool:
        return client.call(request).status in expected

    return operation
