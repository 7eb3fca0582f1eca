"""Crash run: conductors are ``kill -9``ed under a stream of cluster requests; nothing is lost.

On a fresh PostgreSQL (or MariaDB) database it starts ``--apis`` ``jeroboam-api`` processes and
``--conductors`` ``jeroboam-conductor`` processes (RabbitMQ wake-ups when the broker answers), with
the ``sim`` driver slowed by ``--latency`` so that kills land in the middle of phases. Client
threads send create / resize / PATCH node_count / upgrade / delete requests over ``--clusters``
cluster slots, each to a random API process, one request at a time per cluster, while a random
conductor (preferably one holding work) is killed now and then and restarted a little later.

At the end every conductor runs again, and once the system is quiet each cluster must be in the
terminal state its last ACCEPTED request (202/204) asks for: deleted → 404 and no simulated state
file; otherwise ``*_COMPLETE`` with the requested node_count and template, which the simulated
nodes must match. Figures (one JSON line on stdout):

* ``lost``: accepted requests without an operation row (matched by request id) plus operations
  still open at the end; ``duplicated``: request ids with more than one operation row, plus
  clusters whose simulated nodes differ from the accepted spec (an operation applied twice or not
  at all); ``stuck``: open operations past their deadline; ``mismatched``: clusters not in the
  terminal state of their last accepted request; ``phantom``: 409-refused requests that left an
  operation row anyway.
* ``resume_median_s`` / ``resume_max_s``: from the ``kill -9`` of a conductor that held leases to
  each of those clusters being claimed again (its ``lease_token`` grew) or gone.

Run it alone from the repository root, e.g.::

    .venv/bin/python -m tests.reliability.crash --duration 300 --clusters 12 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import Engine, create_engine, func, select

from jeroboam.db.models import Cluster, Operation, Service
from tests.support.databases import BackendUnavailableError, fresh_database
from tests.support.server import free_port, wait_until_up

BIN = Path(sys.executable).parent
TRANSPORT_URL = "rabbit://guest:guest@127.0.0.1:5672/"
HEADERS = {
    "X-Project-Id": "crash",
    "X-User-Id": "crasher",
    "X-Roles": "member,reader",
    "OpenStack-API-Version": "container-infra latest",
}
# Two templates differing only in image: an upgrade moves a cluster from one to the other.
IMAGES = ("fedora-coreos", "jeroboam-node")
COMPLETE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
OPEN = ("pending", "running")


@dataclass
class Config:
    duration: float = 60.0  # seconds of traffic and kills
    clusters: int = 8  # cluster slots; a deleted cluster's slot gets a new cluster
    conductors: int = 2
    apis: int = 2
    seed: int = 1
    backend: str = "postgresql"
    latency: float = 0.3  # seconds each simulated lifecycle call takes
    lease_seconds: float = 3.0
    poll_interval: float = 0.5
    health_interval: int = 5
    clients: int = 4  # threads sending requests
    workers: int = 8  # clusters one conductor reconciles at once
    pause: tuple[float, float] = (0.2, 0.8)  # a client's pause between requests, seconds
    kill_every: tuple[float, float] = (3.0, 8.0)  # seconds between kills
    restart_after: tuple[float, float] = (0.5, 3.0)  # seconds a killed conductor stays down
    all_down_chance: float = 0.2  # chance to kill the last live conductor when a kill is due
    max_requests: int = 100_000
    settle_timeout: float = 180.0
    resume_timeout: float = 60.0
    workdir: Path | None = None
    broker: bool = True  # RabbitMQ wake-ups when the broker answers


# -- processes ---------------------------------------------------------------------------------------
class Process:
    """One jeroboam-* process with its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill9(self) -> None:
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Conductor:
    """A conductor slot: each (re)start is a new process with a new ``--host`` (its lease owner
    strings start with ``<host>:``), so the leases of a killed incarnation are unambiguous."""

    def __init__(self, index: int, env: dict[str, str], logs: Path) -> None:
        self.index = index
        self.env = env
        self.logs = logs
        self.incarnation = 0
        self.process: Process | None = None
        self.restart_at: float | None = None
        self.ready = False  # its first heartbeat is in the database: it claims work

    @property
    def host(self) -> str:
        return f"crash-c{self.index}-i{self.incarnation}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def start(self) -> None:
        self.incarnation += 1
        self.process = Process(self.host, [str(BIN / "jeroboam-conductor"), "--host", self.host], self.env, self.logs)
        self.process.start()
        self.restart_at = None
        self.ready = False


# -- what the clients did -----------------------------------------------------------------------------
@dataclass
class Sent:
    kind: str  # create, resize, patch, upgrade, delete
    cluster: str | None
    status: int  # HTTP status; 0 when no answer came
    request_id: str
    params: dict[str, Any]


@dataclass
class Tracked:
    """One cluster as its client knows it: the accepted requests, in order."""

    uuid: str
    accepted: list[Sent] = field(default_factory=list)
    node_count: int = 1
    template: str = ""
    deleted: bool = False


@dataclass
class Slot:
    index: int
    cluster: Tracked | None = None
    created: int = 0  # clusters this slot has had


class Traffic:
    def __init__(self, config: Config, urls: list[str], templates: list[str]) -> None:
        self.config = config
        self.urls = urls
        self.templates = templates
        self.slots = [Slot(i) for i in range(config.clusters)]
        self.tracked: dict[str, Tracked] = {}
        self.sent: list[Sent] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run_client(self, index: int) -> None:
        rng = random.Random(self.config.seed * 1000 + index)
        mine = [slot for slot in self.slots if slot.index % self.config.clients == index]
        clients = [httpx.Client(base_url=url, headers=HEADERS, timeout=30) for url in self.urls]
        try:
            while not self.stop.is_set() and mine:
                with self.lock:
                    if len(self.sent) >= self.config.max_requests:
                        return
                self.act(rng, rng.choice(mine), rng.choice(clients))
                self.stop.wait(rng.uniform(*self.config.pause))
        finally:
            for client in clients:
                client.close()

    def act(self, rng: random.Random, slot: Slot, client: httpx.Client) -> None:
        tracked = slot.cluster
        if tracked is None:
            slot.created += 1
            node_count = rng.randint(1, 3)
            body = {
                "name": f"crash-{slot.index}-{slot.created}",
                "cluster_template_id": self.templates[0],
                "node_count": node_count,
            }
            sent = self.send(client, "create", None, "POST", "/v1/clusters", body)
            if sent.status == 202 and sent.cluster:
                uuid = sent.cluster
                tracked = Tracked(uuid, [sent], node_count, self.templates[0])
                with self.lock:
                    self.tracked[uuid] = tracked
                slot.cluster = tracked
            return
        kind = rng.choices(("resize", "patch", "upgrade", "delete"), weights=(40, 20, 32, 8))[0]
        uuid = tracked.uuid
        # Like most clients, usually wait for a running operation before asking for more; a
        # resize (accepted while an update runs) or a change sent anyway (409) now and then.
        wait_chance = {"resize": 0.5, "patch": 0.75, "upgrade": 0.75}.get(kind, 0.0)
        if rng.random() < wait_chance and self.busy(client, uuid):
            return
        if kind in ("resize", "patch"):
            node_count = rng.choice([n for n in range(0, 5) if n != tracked.node_count])
            if kind == "resize":
                sent = self.send(
                    client, kind, uuid, "POST", f"/v1/clusters/{uuid}/actions/resize", {"node_count": node_count}
                )
            else:
                patch = [{"op": "replace", "path": "/node_count", "value": node_count}]
                sent = self.send(client, kind, uuid, "PATCH", f"/v1/clusters/{uuid}", patch)
            if self.accepted(sent, tracked):
                tracked.node_count = node_count
        elif kind == "upgrade":
            target = self.templates[1] if tracked.template == self.templates[0] else self.templates[0]
            body = {"cluster_template": target, "max_batch_size": rng.randint(1, 2)}
            sent = self.send(client, kind, uuid, "POST", f"/v1/clusters/{uuid}/actions/upgrade", body)
            if self.accepted(sent, tracked):
                tracked.template = target
        else:
            sent = self.send(client, kind, uuid, "DELETE", f"/v1/clusters/{uuid}", None)
            if self.accepted(sent, tracked):
                tracked.deleted = True
                slot.cluster = None

    @staticmethod
    def busy(client: httpx.Client, uuid: str) -> bool:
        try:
            response = client.get(f"/v1/clusters/{uuid}")
        except httpx.HTTPError:
            return True
        return response.status_code != 200 or str(response.json().get("status", "")).endswith("_IN_PROGRESS")

    def accepted(self, sent: Sent, tracked: Tracked) -> bool:
        if sent.status in (202, 204):
            tracked.accepted.append(sent)
            return True
        return False

    def send(self, client: httpx.Client, kind: str, cluster: str | None, method: str, path: str, body: Any) -> Sent:
        params = body if isinstance(body, dict) else {"patch": body}
        try:
            response = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            sent = Sent(kind, cluster, 0, "", params)
            with self.lock:
                self.sent.append(sent)
                self.errors.append(f"{kind} {path}: {type(exc).__name__}: {exc}")
            return sent
        sent = Sent(kind, cluster, response.status_code, response.headers.get("x-openstack-request-id", ""), params)
        if response.status_code == 202 and kind == "create":
            sent.cluster = response.json()["uuid"]
        with self.lock:
            self.sent.append(sent)
            if response.status_code not in (202, 204, 409):
                self.errors.append(f"{kind} {path}: {response.status_code} {response.text[:300]}")
        return sent


# -- kills and resumes --------------------------------------------------------------------------------
@dataclass
class Held:
    cluster: str
    token: int
    killed_at: float
    killed: str
    lease_left: float  # seconds the dead conductor's lease still ran at the kill
    survivor_ready: bool  # another conductor was up (heartbeating) at the kill
    resumed_after: float | None = None
    resumed_by: str | None = None


class Killer:
    """Kills a random conductor now and then, restarts it later, and times the takeovers."""

    def __init__(self, config: Config, conductors: list[Conductor], db: Engine) -> None:
        self.config = config
        self.conductors = conductors
        self.db = db
        self.rng = random.Random(config.seed * 7919)
        self.kills = 0
        self.kills_holding_work = 0
        self.held: list[Held] = []
        self.down_since: float | None = None
        self.all_down_seconds = 0.0
        self.stop = threading.Event()

    def leases_of(self, host: str) -> list[tuple[str, int, float]]:
        with self.db.connect() as connection:
            rows = connection.execute(
                select(Cluster.uuid, Cluster.lease_token, Cluster.lease_expires_at).where(
                    Cluster.lease_owner.like(f"{host}:%")
                )
            ).all()
        now = datetime.now(UTC)
        return [
            (uuid, int(token), (_aware(expires) - now).total_seconds() if expires else 0.0)
            for uuid, token, expires in rows
        ]

    def run(self) -> None:
        next_kill = time.monotonic() + self.rng.uniform(*self.config.kill_every)
        while not self.stop.wait(0.05):
            now = time.monotonic()
            for conductor in self.conductors:
                if not conductor.alive and conductor.restart_at is not None and now >= conductor.restart_at:
                    conductor.start()
            self._note_ready()
            self._account_all_down(now)
            if now >= next_kill:
                next_kill = now + self.rng.uniform(*self.config.kill_every)
                self.kill_one()
            self.poll_resumes()

    def _note_ready(self) -> None:
        starting = {c.host: c for c in self.conductors if c.alive and not c.ready}
        if not starting:
            return
        with self.db.connect() as connection:
            beating = connection.scalars(select(Service.host).where(Service.host.in_(starting))).all()
        for host in beating:
            starting[host].ready = True

    def _account_all_down(self, now: float) -> None:
        if any(c.alive and c.ready for c in self.conductors):
            if self.down_since is not None:
                self.all_down_seconds += now - self.down_since
                self.down_since = None
        elif self.down_since is None:
            self.down_since = now

    def kill_one(self) -> None:
        alive = [c for c in self.conductors if c.alive]
        ready = [c for c in alive if c.ready]
        if not alive or (len(ready) <= 1 < len(self.conductors) and self.rng.random() >= self.config.all_down_chance):
            return  # keep one conductor up most of the time
        holding = [c for c in alive if self.leases_of(c.host)]
        victim = self.rng.choice(holding or alive)
        host = victim.host
        assert victim.process is not None
        victim.process.kill9()
        killed_at = time.monotonic()
        survivor = any(c.alive and c.ready for c in self.conductors)
        victim.restart_at = killed_at + self.rng.uniform(*self.config.restart_after)
        self.kills += 1
        # Read after the kill: what the dead process held is final now.
        held = self.leases_of(host)
        if held:
            self.kills_holding_work += 1
        self.held.extend(Held(uuid, token, killed_at, host, left, survivor) for uuid, token, left in held)

    def poll_resumes(self) -> None:
        waiting = [h for h in self.held if h.resumed_after is None]
        if not waiting:
            return
        with self.db.connect() as connection:
            rows = connection.execute(
                select(Cluster.uuid, Cluster.lease_token, Cluster.lease_owner).where(
                    Cluster.uuid.in_({h.cluster for h in waiting})
                )
            ).all()
        now = time.monotonic()
        seen = {uuid: (int(token), owner) for uuid, token, owner in rows}
        for held in waiting:
            token, owner = seen.get(held.cluster, (None, None))
            if token is None or token > held.token:
                held.resumed_after = now - held.killed_at
                held.resumed_by = (owner or "finished").split(":")[0]

    def restart_all(self) -> None:
        for conductor in self.conductors:
            if not conductor.alive:
                conductor.start()
        self._account_all_down(time.monotonic())


# -- the run --------------------------------------------------------------------------------------------
def broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def child_env(config: Config, url: str, workdir: Path, wakeups: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEROBOAM_")}
    env.update(
        {
            "JEROBOAM_DATABASE__CONNECTION": url,
            "JEROBOAM_DATA_DIR": str(workdir / "data"),
            "JEROBOAM_SIM__STATE_DIR": str(workdir / "sim"),
            "JEROBOAM_SIM__LATENCY_SECONDS": str(config.latency),
            "JEROBOAM_CONDUCTOR__LEASE_SECONDS": str(config.lease_seconds),
            "JEROBOAM_CONDUCTOR__POLL_INTERVAL": str(config.poll_interval),
            "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": str(config.health_interval),
            "JEROBOAM_CONDUCTOR__WORKERS": str(config.workers),
            "JEROBOAM_QUOTAS__MAX_CLUSTERS_PER_PROJECT": "100000",
        }
    )
    if wakeups:
        env["JEROBOAM_TRANSPORT_URL"] = TRANSPORT_URL
    return env


@contextlib.contextmanager
def processes(items: list[Process], conductors: list[Conductor]) -> Iterator[None]:
    try:
        yield
    finally:
        for conductor in conductors:
            if conductor.process is not None:
                conductor.process.stop()
        for process in items:
            process.stop()


def make_templates(url: str) -> list[str]:
    uuids = []
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        for image in IMAGES:
            body = {
                "name": f"crash-{image}",
                "coe": "kubernetes",
                "image_id": image,
                "external_network_id": "public",
                "flavor_id": "m1.tiny",
                "master_flavor_id": "m1.small",
                "driver": "sim",
            }
            response = client.post("/v1/clustertemplates", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"template create: {response.status_code} {response.text}")
            uuids.append(response.json()["uuid"])
    return uuids


def run(config: Config) -> dict[str, Any]:
    """One crash run; returns the summary (raises BackendUnavailableError without a database)."""
    with contextlib.ExitStack() as stack:
        if config.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jeroboam-crash-")))
        else:
            workdir = config.workdir
            workdir.mkdir(parents=True, exist_ok=True)
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        url = stack.enter_context(fresh_database(config.backend, workdir))
        wakeups = config.broker and broker_up()
        env = child_env(config, url, workdir, wakeups)
        migrated = subprocess.run(
            [str(BIN / "jeroboam-manage"), "db", "upgrade"], env=env, capture_output=True, timeout=120, check=False
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"db upgrade failed: {migrated.stderr.decode()[-2000:]}")
        apis = []
        for index in range(config.apis):
            port = free_port()
            argv = [str(BIN / "jeroboam-api"), "--host", "127.0.0.1", "--port", str(port)]
            apis.append((f"http://127.0.0.1:{port}", Process(f"api{index}", argv, env, logs)))
        conductors = [Conductor(index, env, logs) for index in range(config.conductors)]
        db = create_engine(url, pool_size=2)
        stack.callback(db.dispose)
        stack.enter_context(processes([p for _, p in apis], conductors))
        for _, process in apis:
            process.start()
        for conductor in conductors:
            conductor.start()
        urls = [u for u, _ in apis]
        for api_url in urls:
            wait_until_up(api_url, deadline=60)
        templates = make_templates(urls[0])
        summary = exercise(config, urls, templates, conductors, db, workdir)
        summary.update({"backend": config.backend, "wakeups": "rabbitmq" if wakeups else "polling"})
        summary["logs"] = str(logs) if config.workdir is not None else None
        return summary
    raise AssertionError("unreachable")  # pragma: no cover


def exercise(
    config: Config, urls: list[str], templates: list[str], conductors: list[Conductor], db: Engine, workdir: Path
) -> dict[str, Any]:
    traffic = Traffic(config, urls, templates)
    killer = Killer(config, conductors, db)
    clients = [
        threading.Thread(target=traffic.run_client, args=(i,), name=f"client-{i}", daemon=True)
        for i in range(config.clients)
    ]
    killer_thread = threading.Thread(target=killer.run, name="killer", daemon=True)
    started = time.monotonic()
    for thread in [*clients, killer_thread]:
        thread.start()
    try:
        traffic.stop.wait(config.duration)
    finally:
        traffic.stop.set()
        for thread in clients:
            thread.join(60)
        killer.stop.set()
        killer_thread.join(30)
    traffic_seconds = time.monotonic() - started

    killer.restart_all()
    settle_started = time.monotonic()
    quiet = wait_quiet(db, config.settle_timeout, killer)
    settle_seconds = time.monotonic() - settle_started
    end = time.monotonic() + config.resume_timeout
    while any(h.resumed_after is None for h in killer.held) and time.monotonic() < end:
        killer.poll_resumes()
        time.sleep(0.1)
    return verify(config, traffic, killer, db, workdir, urls, templates) | {
        "traffic_s": round(traffic_seconds, 1),
        "settle_s": round(settle_seconds, 1),
        "quiet": quiet,
    }


def wait_quiet(db: Engine, timeout: float, killer: Killer) -> bool:
    """Until no operation is open and no cluster is in progress (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        killer.poll_resumes()
        with db.connect() as connection:
            open_ops = connection.scalar(select(func.count(Operation.id)).where(Operation.state.in_(OPEN)))
            busy = connection.scalar(select(func.count(Cluster.id)).where(Cluster.status.like("%_IN_PROGRESS")))
        if not open_ops and not busy:
            return True
        time.sleep(0.25)
    return False


def sim_nodes(workdir: Path, uuid: str) -> dict[str, list[dict[str, Any]]] | None:
    path = workdir / "sim" / f"{uuid}.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return {name: group["nodes"] for name, group in state["groups"].items()}


def verify(
    config: Config,
    traffic: Traffic,
    killer: Killer,
    db: Engine,
    workdir: Path,
    urls: list[str],
    templates: list[str],
) -> dict[str, Any]:
    image_of = dict(zip(templates, IMAGES, strict=True))
    with db.connect() as connection:
        operations = connection.execute(
            select(Operation.request_id, Operation.cluster_id, Operation.state, Operation.deadline, Operation.reason)
        ).all()
    rows_by_request = Counter(op.request_id for op in operations if op.request_id)
    accepted = [s for t in traffic.tracked.values() for s in t.accepted]
    conflicts = [s for s in traffic.sent if s.status == 409]
    now = datetime.now(UTC)
    open_ops = [op for op in operations if op.state in OPEN]
    stuck = [op for op in open_ops if _aware(op.deadline) < now]
    lost_without_row = [s for s in accepted if rows_by_request[s.request_id] == 0]
    duplicate_ids = [rid for s in accepted if rows_by_request[(rid := s.request_id)] > 1]
    phantom = [s for s in conflicts if rows_by_request[s.request_id] > 0]
    failed_ops = [op for op in operations if op.state == "failed"]

    mismatched: list[str] = []
    inconsistent: list[str] = []
    with httpx.Client(base_url=urls[-1], headers=HEADERS, timeout=30) as client:
        for tracked in traffic.tracked.values():
            problem, applied = check_cluster(client, workdir, tracked, image_of)
            if problem:
                mismatched.append(f"{tracked.uuid}: {problem}")
            if applied:
                inconsistent.append(f"{tracked.uuid}: {applied}")

    resumes = sorted(h.resumed_after for h in killer.held if h.resumed_after is not None)
    # With another conductor up at the kill: the takeover itself, without waiting for a restart.
    survived = sorted(h.resumed_after for h in killer.held if h.resumed_after is not None and h.survivor_ready)
    # How long after the dead conductor's lease ran out the work was claimed again.
    after_lease = sorted(h.resumed_after - max(h.lease_left, 0) for h in killer.held if h.resumed_after is not None)
    by_restarted = sum(
        1 for h in killer.held if h.resumed_by and h.resumed_by.rsplit("-", 1)[0] == h.killed.rsplit("-", 1)[0]
    )
    by_kind = Counter(s.kind for s in accepted)
    summary: dict[str, Any] = {
        "test": "crash",
        "seed": config.seed,
        "conductors": config.conductors,
        "api_processes": config.apis,
        "clusters": len(traffic.tracked),
        "requests": len(traffic.sent),
        "accepted": len(accepted),
        "accepted_by_kind": dict(sorted(by_kind.items())),
        "conflicts_409": len(conflicts),
        "errors": len(traffic.errors),
        "kills": killer.kills,
        "kills_holding_work": killer.kills_holding_work,
        "all_conductors_down_s": round(killer.all_down_seconds, 1),
        "held_at_kill": len(killer.held),
        "resumed": len(resumes),
        "not_resumed": len(killer.held) - len(resumes),
        "resume_median_s": round(statistics.median(resumes), 2) if resumes else None,
        "resume_max_s": round(max(resumes), 2) if resumes else None,
        "resume_with_survivor_median_s": round(statistics.median(survived), 2) if survived else None,
        "resume_with_survivor_max_s": round(max(survived), 2) if survived else None,
        "resume_after_lease_expiry_median_s": round(statistics.median(after_lease), 2) if after_lease else None,
        "resume_after_lease_expiry_max_s": round(max(after_lease), 2) if after_lease else None,
        "resumed_by_restarted_conductor": by_restarted,
        "lost": len(lost_without_row) + len(open_ops),
        "lost_without_row": len(lost_without_row),
        "open_left": len(open_ops),
        "duplicated": len(duplicate_ids) + len(inconsistent),
        "duplicate_request_ids": len(duplicate_ids),
        "inconsistent": len(inconsistent),
        "stuck": len(stuck),
        "mismatched": len(mismatched),
        "phantom": len(phantom),
        "failed_operations": len(failed_ops),
    }
    details = {
        "error_samples": traffic.errors[:5],
        "mismatch_samples": mismatched[:5],
        "inconsistent_samples": inconsistent[:5],
        "failed_samples": [f"{op.cluster_id}: {op.reason}" for op in failed_ops[:5]],
        "lost_samples": [f"{s.kind} {s.cluster} {s.request_id}" for s in lost_without_row[:5]],
    }
    summary["ok"] = not any(
        summary[key] for key in ("lost", "duplicated", "stuck", "mismatched", "phantom", "errors", "not_resumed")
    )
    if not summary["ok"]:
        summary["details"] = details
    return summary


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_cluster(
    client: httpx.Client, workdir: Path, tracked: Tracked, image_of: dict[str, str]
) -> tuple[str | None, str | None]:
    """(why the cluster is not what its last accepted request asks, why the sim disagrees)."""
    response = client.get(f"/v1/clusters/{tracked.uuid}")
    nodes = sim_nodes(workdir, tracked.uuid)
    if tracked.deleted:
        if response.status_code != 404:
            return f"deleted, but GET answers {response.status_code}", None
        leftovers = sorted(p.name for p in (workdir / "sim").glob(f"*{tracked.uuid}*"))
        return None, (f"deleted, but the sim keeps {leftovers}" if leftovers else None)
    if response.status_code != 200:
        return f"GET answers {response.status_code}", None
    body = response.json()
    last = tracked.accepted[-1].kind
    wanted: tuple[str, ...] = ("UPDATE_COMPLETE",)
    if last == "create":
        wanted = ("CREATE_COMPLETE",)
    elif last == "resize" and not {s.kind for s in tracked.accepted} & {"patch", "upgrade"}:
        wanted = COMPLETE  # a resize accepted while the create ran finishes the create
    if body["status"] not in wanted:
        return f"{body['status']} ({body.get('status_reason')}), last accepted {last} wants {wanted}", None
    if body["node_count"] != tracked.node_count or body["cluster_template_id"] != tracked.template:
        return (
            f"node_count {body['node_count']} / template {body['cluster_template_id']}, "
            f"accepted {tracked.node_count} / {tracked.template}"
        ), None
    if nodes is None:
        return None, "complete, but the sim has no state"
    workers = nodes.get("default-worker", [])
    masters = nodes.get("default-master", [])
    image = image_of[tracked.template]
    if len(workers) != tracked.node_count or len(masters) != 1:
        return None, f"sim has {len(workers)} workers / {len(masters)} masters, wanted {tracked.node_count} / 1"
    stale = [n["name"] for n in workers + masters if n["image"] != image or not n["alive"]]
    if stale:
        return None, f"sim nodes {stale} are not live nodes of image {image}"
    return None, None


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic and kills")
    parser.add_argument("--clusters", type=int, default=8, help="cluster slots")
    parser.add_argument("--conductors", type=int, default=2)
    parser.add_argument("--apis", type=int, default=2, help="jeroboam-api processes")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=8, help="clusters one conductor reconciles at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=("postgresql", "mariadb"), default="postgresql")
    parser.add_argument("--latency", type=float, default=0.3, help="sim latency of each lifecycle call, s")
    parser.add_argument("--lease-seconds", type=float, default=3.0)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--health-interval", type=int, default=5)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument("--no-broker", action="store_true", help="no RabbitMQ wake-ups: conductors poll")
    parser.add_argument("--workdir", type=Path, help="keep logs and sim state here (default: a temporary dir)")
    args = parser.parse_args(argv)
    return Config(
        duration=args.duration,
        clusters=args.clusters,
        conductors=args.conductors,
        apis=args.apis,
        clients=args.clients,
        workers=args.workers,
        seed=args.seed,
        backend=args.backend,
        latency=args.latency,
        lease_seconds=args.lease_seconds,
        poll_interval=args.poll_interval,
        health_interval=args.health_interval,
        max_requests=args.max_requests,
        settle_timeout=args.settle_timeout,
        broker=not args.no_broker,
        workdir=args.workdir,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        summary = run(config)
    except BackendUnavailableError as exc:
        print(json.dumps({"test": "crash", "skipped": str(exc)}))
        return 2
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
