"""Crash run: conductors are ``kill -9``ed under a stream of cluster requests; nothing is lost.

On a fresh PostgreSQL (or MariaDB) database it starts ``--apis`` ``jeroboam-api`` processes (each
with ``--api-workers`` worker processes) and ``--conductors`` ``jeroboam-conductor`` processes,
with RabbitMQ wake-ups on a vhost of the run's own when the broker answers. A *rig* says what the
clusters are built on: here the ``sim`` driver, slowed by ``--latency`` so that kills land in the
middle of phases; ``crash_docker.py`` runs the same plan on real Docker-in-Docker swarm clusters.

Client threads send requests over ``--clusters`` cluster slots, each slot owned by one of the
run's projects (noauth identities), each request to a random API process, one at a time per
cluster: create (1..``max_masters`` managers, odd, and workers), resize of the workers, of the
managers or of an extra nodegroup, PATCH node_count, upgrade to the other template, nodegroup
create / delete, CA rotation and delete, drawn with ``Config.weights``. Meanwhile a conductor
holding work (an in-progress cluster's lease) is killed now and then and restarted a little later.
Everything is seeded: the same seed draws the same plan (the timing of a real run still varies).

At the end every conductor runs again, and once the system is quiet each cluster must be in the
terminal state its last ACCEPTED request (202/204) asks for: deleted → 404 and nothing of it left
in the driver; otherwise ``*_COMPLETE`` with the accepted managers, workers, nodegroups and
template, which the driver's reality must match. With ``final_deletes`` every live cluster is then
deleted (under kills too) and must leave nothing behind. Figures (one JSON object):

* ``lost``: accepted requests without an operation row (matched by request id) plus operations
  still open at the end; ``duplicated``: request ids with more than one operation row, plus
  clusters whose real nodes differ from the accepted spec (an operation applied twice or not at
  all, two node sets for one cluster); ``stuck``: open operations past their deadline;
  ``mismatched``: clusters not in the terminal state of their last accepted request;
  ``leftover``: deleted clusters of which the driver still has something; ``phantom``:
  409-refused requests that left an operation row anyway.
* ``resume_median_s`` / ``resume_max_s``: from the ``kill -9`` of a conductor that held
  in-progress clusters to each of those clusters being claimed again (its ``lease_token`` grew)
  or gone.

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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, func, select

from jeroboam.db.models import Cluster, Operation, Service
from tests.support.databases import BackendUnavailableError, fresh_database
from tests.support.identities import Identity
from tests.support.rabbitmq import broker_up, scratch_vhost
from tests.support.server import free_port, wait_until_up

BIN = Path(sys.executable).parent
VERSION = {"OpenStack-API-Version": "container-infra latest"}
CRASHER = Identity("crasher", "crash", "crasher", ("member", "reader"))
COMPLETE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
OPEN = ("pending", "running")
MASTER_GROUP, WORKER_GROUP = "default-master", "default-worker"
# What the sim run has always sent; the docker run adds managers, nodegroups and CA rotations.
SIM_WEIGHTS = {"resize": 40, "patch": 20, "upgrade": 32, "delete": 8}
SIM_WAIT = {"resize": 0.5, "patch": 0.75, "upgrade": 0.75}


@dataclass
class Config:
    duration: float = 60.0  # seconds of traffic and kills at most
    clusters: int = 8  # cluster slots; a deleted cluster's slot gets a new cluster
    conductors: int = 2
    apis: int = 2  # jeroboam-api processes
    api_workers: int = 1  # worker processes of each
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
    kill_idle: bool = True  # when no conductor holds in-progress work, kill one anyway
    max_kills: int | None = None  # kills in the whole run (None: as often as kill_every says)
    max_requests: int = 100_000  # requests sent
    max_accepted: int | None = None  # requests accepted (202/204): the run's budget of work
    identities: tuple[Identity, ...] = (CRASHER,)  # the projects' users; slot i belongs to i % len
    weights: dict[str, int] = field(default_factory=lambda: dict(SIM_WEIGHTS))
    deck: bool = False  # draw the kinds from a shuffled deck of all of them, not by weight
    wait_chance: dict[str, float] = field(default_factory=lambda: dict(SIM_WAIT))  # ...for a running operation
    workers_range: tuple[int, int] = (1, 3)  # workers of a new cluster
    resize_range: tuple[int, int] = (0, 4)  # worker counts a resize picks from
    max_masters: int = 1  # managers: an odd count up to this (more than one: master_lb_enabled)
    max_nodegroups: int = 2  # extra nodegroups a cluster may have at once
    final_deletes: bool = False  # at the end, delete every live cluster and check nothing is left
    settle_timeout: float = 180.0
    resume_timeout: float = 60.0
    workdir: Path | None = None
    broker: bool = True  # RabbitMQ wake-ups when the broker answers
    progress: Callable[[dict[str, Any]], None] | None = None  # gets each kill and phase as it happens


# -- what the clusters are built on -------------------------------------------------------------------
class Rig(Protocol):
    """The driver side of a crash run: settings, templates, and what really exists."""

    name: str

    def env(self, config: Config, workdir: Path) -> dict[str, str]: ...

    def template(self, index: int) -> dict[str, Any]:
        """The body of template ``index`` (0 or 1; an upgrade moves a cluster to the other)."""
        ...

    def reality(self, tracked: Tracked, cluster: dict[str, Any], client: httpx.Client) -> str | None:
        """Why what the driver built differs from ``tracked``'s accepted spec (None: it matches)."""
        ...

    def leftovers(self, uuid: str) -> list[str]:
        """What the driver still has of a cluster (after its delete: nothing)."""
        ...

    def clean(self, uuids: Iterable[str]) -> None:
        """Remove whatever is left of these clusters (after the figures are taken)."""
        ...


class SimRig:
    name = "sim"
    IMAGES = ("fedora-coreos", "jeroboam-node")

    def __init__(self) -> None:
        self.workdir = Path()

    def env(self, config: Config, workdir: Path) -> dict[str, str]:
        self.workdir = workdir
        return {"JEROBOAM_SIM__STATE_DIR": str(workdir / "sim"), "JEROBOAM_SIM__LATENCY_SECONDS": str(config.latency)}

    def template(self, index: int) -> dict[str, Any]:
        return {
            "coe": "kubernetes",
            "image_id": self.IMAGES[index],
            "external_network_id": "public",
            "flavor_id": "m1.tiny",
            "master_flavor_id": "m1.small",
            "driver": "sim",
        }

    def reality(self, tracked: Tracked, cluster: dict[str, Any], client: httpx.Client) -> str | None:
        path = self.workdir / "sim" / f"{tracked.uuid}.json"
        try:
            groups = {name: g["nodes"] for name, g in json.loads(path.read_text())["groups"].items()}
        except FileNotFoundError:
            return "complete, but the sim has no state"
        counts = {name: len(nodes) for name, nodes in groups.items()}
        if counts != tracked.nodegroups():
            return f"sim has nodegroups {counts}, wanted {tracked.nodegroups()}"
        image = self.IMAGES[tracked.template_index]
        default = groups[MASTER_GROUP] + groups[WORKER_GROUP]
        stale = [n["name"] for n in default if n["image"] != image] + [
            n["name"] for nodes in groups.values() for n in nodes if not n["alive"]
        ]
        return f"sim nodes {stale} are not live nodes of image {image}" if stale else None

    def leftovers(self, uuid: str) -> list[str]:
        return sorted(p.name for p in (self.workdir / "sim").glob(f"*{uuid}*"))

    def clean(self, uuids: Iterable[str]) -> None:
        """The sim's files live in the run's work directory."""


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
    kind: str  # create, resize, patch, masters, upgrade, nodegroup_create, nodegroup_delete, rotate_ca, delete
    cluster: str | None
    status: int  # HTTP status; 0 when no answer came
    request_id: str
    params: dict[str, Any]


@dataclass
class Tracked:
    """One cluster as its client knows it: the accepted requests, in order, and what they ask."""

    uuid: str
    identity: Identity
    accepted: list[Sent] = field(default_factory=list)
    node_count: int = 1
    template: str = ""
    template_index: int = 0
    masters: int = 1
    master_lb: bool = False  # created with master_lb_enabled: the docker driver gives it an API front
    groups: dict[str, int] = field(default_factory=dict)  # extra nodegroups: name → node_count
    made_groups: int = 0
    rotations: int = 0
    deleted: bool = False

    def nodegroups(self) -> dict[str, int]:
        return {MASTER_GROUP: self.masters, WORKER_GROUP: self.node_count, **self.groups}


@dataclass
class Slot:
    index: int
    identity: Identity
    cluster: Tracked | None = None
    created: int = 0  # clusters this slot has had


class Traffic:
    def __init__(self, config: Config, urls: list[str], templates: dict[str, list[str]]) -> None:
        self.config = config
        self.urls = urls
        self.templates = templates  # project → its two templates
        ids = config.identities
        self.slots = [Slot(i, ids[i % len(ids)]) for i in range(config.clusters)]
        self.tracked: dict[str, Tracked] = {}
        self.sent: list[Sent] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.deck: list[str] = []

    def spent(self) -> bool:
        with self.lock:
            accepted = sum(len(t.accepted) for t in self.tracked.values())
            return len(self.sent) >= self.config.max_requests or (
                self.config.max_accepted is not None and accepted >= self.config.max_accepted
            )

    def run_client(self, index: int) -> None:
        rng = random.Random(self.config.seed * 1000 + index)
        mine = [slot for slot in self.slots if slot.index % self.config.clients == index]
        clients = [httpx.Client(base_url=url, headers=VERSION, timeout=60) for url in self.urls]
        try:
            while not self.stop.is_set() and mine:
                if self.spent():
                    return
                self.act(rng, rng.choice(mine), rng.choice(clients))
                self.stop.wait(rng.uniform(*self.config.pause))
        finally:
            for client in clients:
                client.close()

    def act(self, rng: random.Random, slot: Slot, client: httpx.Client) -> None:
        tracked = slot.cluster
        if tracked is None:
            self.create(rng, slot, client)
            return
        drawn = self.draw(rng)
        kind = drawn
        if kind == "nodegroup_delete" and not tracked.groups:
            kind = "nodegroup_create"
        if kind == "nodegroup_create" and len(tracked.groups) >= self.config.max_nodegroups:
            kind = "nodegroup_delete"
        # Like most clients, usually wait for a running operation before asking for more; a
        # resize (accepted while an update runs) or a change sent anyway (409) now and then.
        if rng.random() < self.config.wait_chance.get(kind, 0.0) and self.busy(client, tracked):
            if self.config.deck:
                with self.lock:
                    self.deck.append(drawn)  # drawn again later
            return
        getattr(self, kind)(rng, tracked, client, slot)

    def draw(self, rng: random.Random) -> str:
        """The next kind of change: by weight, or with ``deck`` from a shuffled deck of every
        weighted kind (so that a short run sends each kind)."""
        kinds = [k for k, weight in self.config.weights.items() if weight > 0]
        if not self.config.deck:
            return rng.choices(kinds, weights=[self.config.weights[k] for k in kinds])[0]
        with self.lock:
            if not self.deck:
                self.deck = rng.sample(kinds, len(kinds))
            return self.deck.pop()

    def create(self, rng: random.Random, slot: Slot, client: httpx.Client) -> None:
        slot.created += 1
        project = slot.identity.project_id
        node_count = rng.randint(*self.config.workers_range)
        masters = rng.choice(range(1, self.config.max_masters + 1, 2))
        body: dict[str, Any] = {
            "name": f"crash-{slot.index}-{slot.created}",
            "cluster_template_id": self.templates[project][0],
            "node_count": node_count,
        }
        if self.config.max_masters > 1:  # so that the managers can be resized later
            body.update(master_count=masters, master_lb_enabled=True)
        sent = self.send(client, slot.identity, "create", None, "POST", "/v1/clusters", body)
        if sent.status == 202 and sent.cluster:
            tracked = Tracked(sent.cluster, slot.identity, [sent], node_count, self.templates[project][0])
            tracked.masters = masters
            tracked.master_lb = self.config.max_masters > 1
            with self.lock:
                self.tracked[sent.cluster] = tracked
            slot.cluster = tracked

    def resize(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot) -> None:
        group = rng.choice([WORKER_GROUP, *tracked.groups]) if rng.random() < 0.5 else WORKER_GROUP
        current = tracked.nodegroups()[group]
        low, high = self.config.resize_range
        low = low if group == WORKER_GROUP else max(low, 1)  # an extra nodegroup keeps a node
        node_count = rng.choice([n for n in range(low, high + 1) if n != current] or [current])
        body: dict[str, Any] = {"node_count": node_count}
        if group != WORKER_GROUP or rng.random() < 0.3:
            body["nodegroup"] = group
        sent = self.send(client, tracked.identity, "resize", tracked.uuid, "POST", self._path(tracked, "resize"), body)
        if self.accepted(sent, tracked):
            if group == WORKER_GROUP:
                tracked.node_count = node_count
            else:
                tracked.groups[group] = node_count

    def patch(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot) -> None:
        low, high = self.config.resize_range
        node_count = rng.choice([n for n in range(low, high + 1) if n != tracked.node_count])
        body = [{"op": "replace", "path": "/node_count", "value": node_count}]
        sent = self.send(client, tracked.identity, "patch", tracked.uuid, "PATCH", f"/v1/clusters/{tracked.uuid}", body)
        if self.accepted(sent, tracked):
            tracked.node_count = node_count

    def masters(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot) -> None:
        choices = [n for n in range(1, self.config.max_masters + 1, 2) if n != tracked.masters]
        if not choices:
            return
        masters = rng.choice(choices)
        body = {"node_count": masters, "nodegroup": MASTER_GROUP}
        sent = self.send(client, tracked.identity, "masters", tracked.uuid, "POST", self._path(tracked, "resize"), body)
        if self.accepted(sent, tracked):
            tracked.masters = masters

    def upgrade(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot) -> None:
        index = 1 - tracked.template_index
        target = self.templates[tracked.identity.project_id][index]
        body = {"cluster_template": target, "max_batch_size": rng.randint(1, 2)}
        sent = self.send(
            client, tracked.identity, "upgrade", tracked.uuid, "POST", self._path(tracked, "upgrade"), body
        )
        if self.accepted(sent, tracked):
            tracked.template, tracked.template_index = target, index

    def nodegroup_create(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot) -> None:
        name = f"ng{tracked.made_groups + 1}"
        node_count = rng.randint(1, 2)
        path = f"/v1/clusters/{tracked.uuid}/nodegroups"
        body = {"name": name, "node_count": node_count}
        sent = self.send(client, tracked.identity, "nodegroup_create", tracked.uuid, "POST", path, body)
        if self.accepted(sent, tracked):
            tracked.made_groups += 1
            tracked.groups[name] = node_count

    def nodegroup_delete(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot) -> None:
        name = rng.choice(sorted(tracked.groups))
        path = f"/v1/clusters/{tracked.uuid}/nodegroups/{name}"
        sent = self.send(client, tracked.identity, "nodegroup_delete", tracked.uuid, "DELETE", path, None)
        if self.accepted(sent, tracked):
            del tracked.groups[name]

    def rotate_ca(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot) -> None:
        path = f"/v1/certificates/{tracked.uuid}"
        sent = self.send(client, tracked.identity, "rotate_ca", tracked.uuid, "PATCH", path, None)
        if self.accepted(sent, tracked):
            tracked.rotations += 1

    def delete(self, rng: random.Random, tracked: Tracked, client: httpx.Client, slot: Slot | None) -> None:
        sent = self.send(
            client, tracked.identity, "delete", tracked.uuid, "DELETE", f"/v1/clusters/{tracked.uuid}", None
        )
        if self.accepted(sent, tracked):
            tracked.deleted = True
            if slot is not None:
                slot.cluster = None

    @staticmethod
    def _path(tracked: Tracked, action: str) -> str:
        return f"/v1/clusters/{tracked.uuid}/actions/{action}"

    @staticmethod
    def busy(client: httpx.Client, tracked: Tracked) -> bool:
        try:
            response = client.get(f"/v1/clusters/{tracked.uuid}", headers=tracked.identity.headers)
        except httpx.HTTPError:
            return True
        return response.status_code != 200 or str(response.json().get("status", "")).endswith("_IN_PROGRESS")

    def accepted(self, sent: Sent, tracked: Tracked) -> bool:
        if sent.status in (202, 204):
            with self.lock:
                tracked.accepted.append(sent)
            return True
        return False

    def send(
        self, client: httpx.Client, who: Identity, kind: str, cluster: str | None, method: str, path: str, body: Any
    ) -> Sent:
        params = body if isinstance(body, dict) else {"patch": body}
        try:
            response = client.request(method, path, json=body, headers=who.headers)
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

    def delete_all(self) -> int:
        """The final deletes: every live cluster, each by its owner. Returns how many were accepted."""
        live = [t for t in self.tracked.values() if not t.deleted]
        slots = {id(s.cluster): s for s in self.slots if s.cluster is not None}
        with httpx.Client(base_url=self.urls[0], headers=VERSION, timeout=60) as client:
            for tracked in live:
                self.delete(random.Random(), tracked, client, slots.get(id(tracked)))
        return sum(1 for t in live if t.deleted)


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
    """Kills a conductor holding work now and then, restarts it later, and times the takeovers."""

    def __init__(self, config: Config, conductors: list[Conductor], db: Engine) -> None:
        self.config = config
        self.conductors = conductors
        self.db = db
        self.rng = random.Random(config.seed * 7919)
        self.kills = 0
        self.kills_holding_work = 0
        self.allowed = config.max_kills  # kills allowed so far (the run lets more through later)
        self.held: list[Held] = []
        self.down_since: float | None = None
        self.all_down_seconds = 0.0
        self.stop = threading.Event()

    def leases_of(self, host: str) -> list[tuple[str, int, float]]:
        """The in-progress clusters whose lease ``host`` holds (a health check's is no work)."""
        with self.db.connect() as connection:
            rows = connection.execute(
                select(Cluster.uuid, Cluster.lease_token, Cluster.lease_expires_at).where(
                    Cluster.lease_owner.like(f"{host}:%"), Cluster.status.like("%_IN_PROGRESS")
                )
            ).all()
        now = datetime.now(UTC)
        return [
            (uuid, int(token), (_aware(expires) - now).total_seconds() if expires else 0.0)
            for uuid, token, expires in rows
        ]

    def run(self, first: tuple[float, float] | None = None) -> None:
        """Until stopped: restart the killed conductors when due, kill one now and then (the
        first after ``first`` seconds, default ``kill_every``), time the takeovers."""
        next_kill = time.monotonic() + self.rng.uniform(*(first or self.config.kill_every))
        while not self.stop.wait(0.05):
            now = time.monotonic()
            for conductor in self.conductors:
                if not conductor.alive and conductor.restart_at is not None and now >= conductor.restart_at:
                    conductor.start()
            self._note_ready()
            self._account_all_down(now)
            if now >= next_kill and (self.allowed is None or self.kills < self.allowed) and self.kill_one():
                next_kill = now + self.rng.uniform(*self.config.kill_every)
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

    def kill_one(self) -> bool:
        """Kill a conductor (preferably one holding work); False when none was killed now."""
        alive = [c for c in self.conductors if c.alive]
        ready = [c for c in alive if c.ready]
        if not alive or (len(ready) <= 1 < len(self.conductors) and self.rng.random() >= self.config.all_down_chance):
            return not self.config.kill_idle and not alive  # keep one conductor up most of the time
        holding = [c for c in alive if self.leases_of(c.host)]
        if not holding and not self.config.kill_idle:
            return False  # wait for a conductor to hold work
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
        if self.config.progress:
            self.config.progress({"event": "kill", "conductor": host, "held": [uuid for uuid, _, _ in held]})
        return True

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
                if self.config.progress:
                    self.config.progress(
                        {
                            "event": "resume",
                            "cluster": held.cluster,
                            "after_s": round(held.resumed_after, 2),
                            "by": held.resumed_by,
                        }
                    )

    def restart_all(self) -> None:
        for conductor in self.conductors:
            if not conductor.alive:
                conductor.start()
        self._account_all_down(time.monotonic())


# -- the run --------------------------------------------------------------------------------------------
def child_env(config: Config, url: str, workdir: Path, transport_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEROBOAM_")}
    env.update(
        {
            "JEROBOAM_DATABASE__CONNECTION": url,
            "JEROBOAM_DATA_DIR": str(workdir / "data"),
            "JEROBOAM_CONDUCTOR__LEASE_SECONDS": str(config.lease_seconds),
            "JEROBOAM_CONDUCTOR__POLL_INTERVAL": str(config.poll_interval),
            "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": str(config.health_interval),
            "JEROBOAM_CONDUCTOR__WORKERS": str(config.workers),
            "JEROBOAM_QUOTAS__MAX_CLUSTERS_PER_PROJECT": "100000",
            "JEROBOAM_API__WORKERS": str(config.api_workers),
            # One key for every process (each would otherwise race to create the key file).
            "JEROBOAM_SECRETS__ENCRYPTION_KEYS": json.dumps([Fernet.generate_key().decode()]),
        }
    )
    if transport_url:
        env["JEROBOAM_TRANSPORT_URL"] = transport_url
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


def make_templates(url: str, rig: Rig, identities: Iterable[Identity]) -> dict[str, list[str]]:
    """Each project's two templates (an upgrade moves a cluster from one to the other)."""
    templates: dict[str, list[str]] = {}
    with httpx.Client(base_url=url, headers=VERSION, timeout=30) as client:
        for who in identities:
            if who.project_id in templates:
                continue
            templates[who.project_id] = []
            for index in (0, 1):
                body = {"name": f"crash-{rig.name}-{index}", **rig.template(index)}
                response = client.post("/v1/clustertemplates", json=body, headers=who.headers)
                if response.status_code != 201:
                    raise RuntimeError(f"template create: {response.status_code} {response.text}")
                templates[who.project_id].append(response.json()["uuid"])
    return templates


def run(config: Config, rig: Rig | None = None) -> dict[str, Any]:
    """One crash run; returns the summary (raises BackendUnavailableError without a database)."""
    rig = rig or SimRig()
    with contextlib.ExitStack() as stack:
        if config.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"jeroboam-crash-{rig.name}-")))
        else:
            workdir = config.workdir
            workdir.mkdir(parents=True, exist_ok=True)
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        url = stack.enter_context(fresh_database(config.backend, workdir))
        transport = stack.enter_context(scratch_vhost("jeroboam-crash")) if config.broker and broker_up() else None
        env = {**child_env(config, url, workdir, transport), **rig.env(config, workdir)}
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
        seen: set[str] = set()  # every cluster of the run, for the rig's last clean-up
        stack.callback(lambda: rig.clean(seen | _clusters_of(db)))  # after the processes stop
        stack.enter_context(processes([p for _, p in apis], conductors))
        for _, process in apis:
            process.start()
        for conductor in conductors:
            conductor.start()
        urls = [u for u, _ in apis]
        for api_url in urls:
            wait_until_up(api_url, deadline=90)
        templates = make_templates(urls[0], rig, config.identities)
        summary = exercise(config, rig, urls, templates, conductors, db, seen)
        summary.update({"backend": config.backend, "wakeups": "rabbitmq" if transport else "polling"})
        summary["logs"] = str(logs) if config.workdir is not None else None
        return summary
    raise AssertionError("unreachable")  # pragma: no cover


def _clusters_of(db: Engine) -> set[str]:
    """Every cluster an operation was accepted for (the rows outlive the clusters)."""
    with db.connect() as connection:
        return {uuid for uuid in connection.scalars(select(Operation.cluster_id).distinct()) if uuid}


def exercise(
    config: Config,
    rig: Rig,
    urls: list[str],
    templates: dict[str, list[str]],
    conductors: list[Conductor],
    db: Engine,
    seen: set[str],
) -> dict[str, Any]:
    traffic = Traffic(config, urls, templates)
    killer = Killer(config, conductors, db)
    if config.final_deletes and config.max_kills and config.max_kills > 1:
        killer.allowed = config.max_kills - 1  # the last kill is kept for the final deletes
    clients = [
        threading.Thread(target=traffic.run_client, args=(i,), name=f"client-{i}", daemon=True)
        for i in range(config.clients)
    ]
    killer_thread = threading.Thread(target=killer.run, name="killer", daemon=True)
    started = time.monotonic()
    for thread in [*clients, killer_thread]:
        thread.start()
    try:
        end = started + config.duration
        while time.monotonic() < end and any(t.is_alive() for t in clients):
            traffic.stop.wait(0.2)
        traffic.stop.set()
        for thread in clients:
            thread.join(120)
        traffic_seconds = time.monotonic() - started
        _say(config, "traffic done", traffic, killer)
        settle_started = time.monotonic()
        if config.final_deletes:
            # The live clusters settle (the killer still at work), are checked, then deleted.
            quiet = wait_quiet(db, config.settle_timeout, killer)
            killer.stop.set()
            killer_thread.join(30)
            killer.restart_all()
            quiet = wait_quiet(db, config.settle_timeout, killer) and quiet
            seen.update(traffic.tracked)
            live_checks = check_all(traffic, rig, urls, live_only=True)
            _say(config, "live clusters checked", traffic, killer)
            killer.allowed = config.max_kills
            killer.stop = threading.Event()
            # The kept kill lands while the deletes run (a docker delete takes seconds).
            killer_thread = threading.Thread(target=killer.run, args=((0.5, 2.0),), name="killer", daemon=True)
            killer_thread.start()
            final_deletes = traffic.delete_all()
            _say(config, "final deletes sent", traffic, killer)
            quiet = wait_quiet(db, config.settle_timeout, killer) and quiet
        else:
            live_checks, final_deletes, quiet = [], 0, True
    finally:
        traffic.stop.set()
        killer.stop.set()
        killer_thread.join(30)

    killer.restart_all()
    quiet = wait_quiet(db, config.settle_timeout, killer) and quiet
    settle_seconds = time.monotonic() - settle_started
    end = time.monotonic() + config.resume_timeout
    while any(h.resumed_after is None for h in killer.held) and time.monotonic() < end:
        killer.poll_resumes()
        time.sleep(0.1)
    seen.update(traffic.tracked)
    return verify(config, traffic, killer, db, rig, urls, live_checks) | {
        "traffic_s": round(traffic_seconds, 1),
        "settle_s": round(settle_seconds, 1),
        "final_deletes": final_deletes,
        "quiet": quiet,
    }


def _say(config: Config, phase: str, traffic: Traffic, killer: Killer) -> None:
    if config.progress:
        accepted = sum(len(t.accepted) for t in traffic.tracked.values())
        config.progress({"event": phase, "sent": len(traffic.sent), "accepted": accepted, "kills": killer.kills})


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


@dataclass
class Check:
    uuid: str
    problem: str | None  # not in the state its last accepted request asks for
    reality: str | None  # the driver's nodes (or leftovers) differ from the accepted spec
    deleted: bool = False  # checked as a deleted cluster: ``reality`` is what is left of it


def check_all(traffic: Traffic, rig: Rig, urls: list[str], *, live_only: bool = False) -> list[Check]:
    clusters = [t for t in list(traffic.tracked.values()) if not (live_only and t.deleted)]
    with httpx.Client(base_url=urls[-1], headers=VERSION, timeout=60) as client:
        return [check_cluster(client, rig, tracked) for tracked in clusters]


def verify(
    config: Config,
    traffic: Traffic,
    killer: Killer,
    db: Engine,
    rig: Rig,
    urls: list[str],
    live_checks: list[Check],
) -> dict[str, Any]:
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

    checks = [*live_checks, *check_all(traffic, rig, urls)]
    mismatched = [f"{c.uuid}: {c.problem}" for c in checks if c.problem]
    leftover = [f"{c.uuid}: {c.reality}" for c in checks if c.reality and c.deleted]
    inconsistent = [f"{c.uuid}: {c.reality}" for c in checks if c.reality and not c.deleted]

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
        "driver": rig.name,
        "seed": config.seed,
        "conductors": config.conductors,
        "api_processes": config.apis,
        "api_workers": config.api_workers,
        "projects": len({i.project_id for i in config.identities}),
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
        "leftover": len(leftover),
        "phantom": len(phantom),
        "failed_operations": len(failed_ops),
    }
    details = {
        "error_samples": traffic.errors[:5],
        "mismatch_samples": mismatched[:5],
        "inconsistent_samples": inconsistent[:5],
        "leftover_samples": leftover[:5],
        "failed_samples": [f"{op.cluster_id}: {op.reason}" for op in failed_ops[:5]],
        "lost_samples": [f"{s.kind} {s.cluster} {s.request_id}" for s in lost_without_row[:5]],
    }
    summary["ok"] = not any(
        summary[key]
        for key in ("lost", "duplicated", "stuck", "mismatched", "leftover", "phantom", "errors", "not_resumed")
    )
    if not summary["ok"]:
        summary["details"] = details
    return summary


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def wanted_status(tracked: Tracked) -> tuple[str, ...]:
    """What the last accepted request ends in: a create's CREATE_COMPLETE, or a change's
    UPDATE_COMPLETE; a resize accepted while the create ran finishes that create."""
    kinds = {s.kind for s in tracked.accepted}
    if tracked.accepted[-1].kind == "create":
        return ("CREATE_COMPLETE",)
    if tracked.accepted[-1].kind == "resize" and kinds <= {"create", "resize"}:
        return COMPLETE
    return ("UPDATE_COMPLETE",)


def check_cluster(client: httpx.Client, rig: Rig, tracked: Tracked) -> Check:
    headers = tracked.identity.headers
    response = client.get(f"/v1/clusters/{tracked.uuid}", headers=headers)
    if tracked.deleted:
        problem = None if response.status_code == 404 else f"deleted, but GET answers {response.status_code}"
        left = rig.leftovers(tracked.uuid)
        return Check(
            tracked.uuid, problem, f"deleted, but the {rig.name} driver keeps {left}" if left else None, deleted=True
        )
    if response.status_code != 200:
        return Check(tracked.uuid, f"GET answers {response.status_code}", None)
    body = response.json()
    wanted = wanted_status(tracked)
    if body["status"] not in wanted:
        last = tracked.accepted[-1].kind
        return Check(
            tracked.uuid, f"{body['status']} ({body.get('status_reason')}), last accepted {last} wants {wanted}", None
        )
    groups = client.get(f"/v1/clusters/{tracked.uuid}/nodegroups", headers=headers).json()["nodegroups"]
    counts = {g["name"]: g["node_count"] for g in groups}
    workers = sum(count for name, count in tracked.nodegroups().items() if name != MASTER_GROUP)
    if (
        counts != tracked.nodegroups()
        or body["node_count"] != workers  # Magnum's node_count: the nodes of every worker nodegroup
        or body["master_count"] != tracked.masters
        or body["cluster_template_id"] != tracked.template
    ):
        return Check(
            tracked.uuid,
            f"nodegroups {counts}, node_count {body['node_count']}, master_count {body['master_count']}, template "
            f"{body['cluster_template_id']}; accepted {tracked.nodegroups()}, {tracked.template}",
            None,
        )
    return Check(tracked.uuid, None, rig.reality(tracked, body, client))


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic and kills")
    parser.add_argument("--clusters", type=int, default=8, help="cluster slots")
    parser.add_argument("--conductors", type=int, default=2)
    parser.add_argument("--apis", type=int, default=2, help="jeroboam-api processes")
    parser.add_argument("--api-workers", type=int, default=1, help="worker processes of each jeroboam-api")
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
    parser.add_argument("--final-deletes", action="store_true", help="delete every cluster at the end")
    parser.add_argument("--no-broker", action="store_true", help="no RabbitMQ wake-ups: conductors poll")
    parser.add_argument("--workdir", type=Path, help="keep logs and sim state here (default: a temporary dir)")
    args = parser.parse_args(argv)
    return Config(
        duration=args.duration,
        clusters=args.clusters,
        conductors=args.conductors,
        apis=args.apis,
        api_workers=args.api_workers,
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
        final_deletes=args.final_deletes,
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
