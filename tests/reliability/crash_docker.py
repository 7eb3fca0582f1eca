"""The crash run of ``crash.py`` on real swarm clusters: the ``docker`` driver on the host's engine.

Two ``jeroboam-conductor`` processes and one ``jeroboam-api`` with two worker processes, on a
scratch PostgreSQL database and a RabbitMQ vhost of the run's own, build Docker-in-Docker swarm
clusters for two projects (the suite's noauth identities ``alpha`` and ``beta``; the engine is
shared, so ``[docker] allow_project_mixing`` is on) while a conductor holding work is killed
with ``kill -9`` now and then: creates with 1 or 3 managers (``master_lb_enabled``) and 1-3
workers, resizes of workers, managers and nodegroups up and down, nodegroup create / delete,
upgrades to the project's second template, CA rotations, deletes, and at the end a delete of
every live cluster (with a kill kept for it).

What really exists is asked of the engine and of each swarm (``DockerRig.reality``): the
cluster's containers (one per accepted node, all running, no node name twice, the default
nodegroups on the accepted template), exactly one network, one node volume per container, and
the swarm over the cluster's TLS endpoint with a client certificate the API signs after the last
CA rotation: exactly the accepted nodes, each ready, in its nodegroup, the accepted number of
managers. After the final deletes nothing labelled with one of the run's clusters may be left on
the engine (only this run's clusters are looked at: other runs share the engine).

The long form, from the repository root (``scripts/crash-docker`` runs it)::

    .venv/bin/python -m tests.reliability.crash_docker --clusters 8 --requests 30 --kills 8 --seed 7

prints one JSON line per kill, resume and phase as they happen, then the summary line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import CertificateSigningRequestBuilder

from jeroboam.domain.autoscaling import NODEGROUP_NODE_LABEL as NODEGROUP_LABEL
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.client import manager_client
from jeroboam.pki.x509 import ADMIN_SUBJECT
from tests.reliability.crash import MASTER_GROUP, WORKER_GROUP, Config, Tracked, run
from tests.support.databases import BackendUnavailableError
from tests.support.identities import ALPHA_MEMBER, BETA_MEMBER

ENGINE = "unix:///var/run/docker.sock"
API_VERSION = "1.41"
WEIGHTS = {
    "resize": 24, "patch": 4, "masters": 8, "upgrade": 12, "nodegroup_create": 14, "nodegroup_delete": 10,
    "rotate_ca": 14, "delete": 14,
}  # fmt: skip
WAIT = {kind: 1.0 for kind in WEIGHTS} | {"resize": 0.8}  # now and then a resize while an update runs


def engine_client() -> docker.DockerClient:
    client = docker.DockerClient(base_url=ENGINE, version=API_VERSION, timeout=120)
    client.api.trust_env = False  # the machine's proxies are not for the engine
    return client


def docker_config(
    *,
    clusters: int,
    requests: int,
    kills: int,
    seed: int,
    deck: bool = True,
    workdir: Path | None = None,
    progress: Any = None,
) -> Config:
    """A docker crash run: ``requests`` accepted requests over ``clusters`` slots, ``kills`` kills
    (``deck``: every kind of change before any twice, else by ``WEIGHTS``: clients wait for running
    operations, except for a resize now and then, so by weight resizes crowd the others out)."""
    return Config(
        duration=60.0 * 60,  # bounded by the requests and the settle timeout, not by time
        clusters=clusters,
        conductors=2,
        apis=1,
        api_workers=2,
        seed=seed,
        lease_seconds=10.0,  # the default: a renewer starved by a loaded machine must not lose the lease
        poll_interval=0.5,
        health_interval=10,
        clients=min(clusters, 4),
        workers=4,
        pause=(1.0, 4.0),
        kill_every=(6.0, 15.0),
        restart_after=(1.0, 5.0),
        all_down_chance=0.25,
        kill_idle=False,
        max_kills=kills,
        max_accepted=requests,
        identities=(ALPHA_MEMBER, BETA_MEMBER),
        weights=dict(WEIGHTS),
        deck=deck,
        wait_chance=dict(WAIT),
        workers_range=(1, 3),
        resize_range=(1, 3),
        max_masters=3,
        max_nodegroups=1,
        final_deletes=True,
        settle_timeout=600.0,
        resume_timeout=120.0,
        workdir=workdir,
        progress=progress,
    )


class DockerRig:
    name = "docker"

    def __init__(self, engine: docker.DockerClient) -> None:
        self.engine = engine

    def env(self, config: Config, workdir: Path) -> dict[str, str]:
        return {
            # Two projects' clusters, and other runs', share the host's one engine.
            "JEROBOAM_DOCKER__ALLOW_PROJECT_MIXING": "true",
            # Idle nodes take a fraction of their flavor; other runs' nodes count against the room too.
            "JEROBOAM_DOCKER__RAM_ALLOCATION_RATIO": "8",
            "JEROBOAM_DOCKER__DRAIN_TIMEOUT": "5",
            "JEROBOAM_X509__KEY_ALGORITHM": "ec",
        }

    def template(self, index: int) -> dict[str, Any]:
        return {
            "coe": "swarm-mode",
            "image_id": "jeroboam-node",
            "external_network_id": "public",
            "flavor_id": "m1.tiny",
            "master_flavor_id": "m1.tiny",
            "driver": "docker",
        }

    # -- what exists --------------------------------------------------------------------------------
    def reality(self, tracked: Tracked, cluster: dict[str, Any], client: httpx.Client) -> str | None:
        only = labels.of_cluster(tracked.uuid)
        every = self.engine.containers.list(all=True, filters=only)
        networks = self.engine.networks.list(filters=only)
        volumes = self.engine.volumes.list(filters=only)
        wanted = tracked.nodegroups()
        # The API front (master_lb_enabled) is a container of the cluster that is no swarm node.
        containers = [c for c in every if c.labels.get(labels.ROLE) != labels.FRONT]
        fronts = [c for c in every if c.labels.get(labels.ROLE) == labels.FRONT]
        tags = [c.labels for c in containers]
        groups = dict(Counter(t.get(labels.NODEGROUP, "") for t in tags))
        names = Counter(t.get(labels.NODE, "") for t in tags)
        problems = []
        if groups != wanted:
            problems.append(f"containers per nodegroup {groups}, accepted {wanted}")
        if twice := sorted(name for name, seen in names.items() if seen > 1):
            problems.append(f"node names twice: {twice}")
        if len(fronts) != int(tracked.master_lb):
            problems.append(f"{len(fronts)} API front containers, master_lb_enabled {tracked.master_lb}")
        if stopped := sorted(f"{c.name} ({c.status})" for c in every if c.status != "running"):
            problems.append(f"containers not running: {stopped}")
        managers = sum(1 for t in tags if t.get(labels.ROLE) == labels.MANAGER)
        if managers != tracked.masters:
            problems.append(f"{managers} manager containers, accepted {tracked.masters}")
        old = [
            t.get(labels.NODE)
            for t in tags
            if t.get(labels.NODEGROUP) in (MASTER_GROUP, WORKER_GROUP) and t.get(labels.TEMPLATE) != tracked.template
        ]
        if old:
            problems.append(f"nodes {old} not of template {tracked.template}")
        if len(networks) != 1:
            problems.append(f"{len(networks)} networks: {[n.name for n in networks]}")
        if len(volumes) != len(containers):
            problems.append(f"{len(volumes)} volumes for {len(containers)} nodes: {[v.name for v in volumes]}")
        swarm = self.swarm_nodes(tracked, cluster, client)
        if isinstance(swarm, str):
            problems.append(swarm)
        else:
            expected = {name for name in names if name}
            seen = Counter(str(n["Description"]["Hostname"]) for n in swarm)
            not_ready = sorted(
                f"{n['Description']['Hostname']} {n['Status']['State']}"
                for n in swarm
                if n["Status"]["State"] != "ready"
            )
            in_groups = dict(Counter(str(n["Spec"].get("Labels", {}).get(NODEGROUP_LABEL, "")) for n in swarm))
            swarm_managers = sum(1 for n in swarm if n["Spec"]["Role"] == "manager")
            if set(seen) != expected or any(count > 1 for count in seen.values()):
                problems.append(f"swarm nodes {sorted(seen.elements())}, containers {sorted(expected)}")
            if not_ready:
                problems.append(f"swarm nodes not ready: {not_ready}")
            if in_groups != wanted:
                problems.append(f"swarm nodes per nodegroup {in_groups}, accepted {wanted}")
            if swarm_managers != tracked.masters:
                problems.append(f"{swarm_managers} swarm managers, accepted {tracked.masters}")
        return "; ".join(problems) or None

    def swarm_nodes(self, tracked: Tracked, cluster: dict[str, Any], client: httpx.Client) -> list[Any] | str:
        """The swarm's nodes, asked over the cluster's TLS endpoint as a user would: the cluster CA
        and a client certificate the API signs now (after any CA rotation). A reason on failure."""
        headers = tracked.identity.headers
        key = ec.generate_private_key(ec.SECP256R1())
        csr = CertificateSigningRequestBuilder().subject_name(ADMIN_SUBJECT).sign(key, hashes.SHA256())
        body = {"cluster_uuid": tracked.uuid, "csr": csr.public_bytes(serialization.Encoding.PEM).decode()}
        signed = client.post("/v1/certificates", json=body, headers=headers)
        ca = client.get(f"/v1/certificates/{tracked.uuid}", headers=headers)
        if signed.status_code != 201 or ca.status_code != 200:
            return f"certificates: sign {signed.status_code}, CA {ca.status_code}"
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        address = str(cluster.get("api_address") or "")
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        if not host or not port.isdigit():
            return f"api_address {address!r} is no tcp://host:port"
        swarm = manager_client(host, int(port), ca.json()["pem"], signed.json()["pem"], key_pem, timeout=30)
        try:
            return list(swarm.api.nodes())
        except (docker.errors.DockerException, requests.RequestException) as exc:
            return f"the swarm at {address} does not answer with the cluster's credentials: {exc}"
        finally:
            swarm.close()

    def leftovers(self, uuid: str) -> list[str]:
        only = labels.of_cluster(uuid)
        return [
            *(f"container {c.name}" for c in self.engine.containers.list(all=True, filters=only)),
            *(f"network {n.name}" for n in self.engine.networks.list(filters=only)),
            *(f"volume {v.name}" for v in self.engine.volumes.list(filters=only)),
        ]

    def clean(self, uuids: Iterable[str]) -> None:
        """What a failed run left of its own clusters (never anything of another run's)."""
        for uuid in uuids:
            only = labels.of_cluster(uuid)
            for container in self.engine.containers.list(all=True, filters=only):
                container.remove(force=True, v=True)
            for volume in self.engine.volumes.list(filters=only):
                volume.remove(force=True)
            for network in self.engine.networks.list(filters=only):
                network.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=8, help="cluster slots")
    parser.add_argument("--requests", type=int, default=30, help="accepted requests (beside the final deletes)")
    parser.add_argument("--kills", type=int, default=8, help="kill -9 of a conductor holding work")
    parser.add_argument("--seed", type=int, help="default: a random one (printed)")
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument("--workdir", type=Path, help="keep the processes' logs here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)

    def progress(event: dict[str, Any]) -> None:
        print(json.dumps({"test": "crash", "driver": "docker", "seed": seed, **event}), flush=True)

    config = docker_config(
        clusters=args.clusters, requests=args.requests, kills=args.kills, seed=seed, workdir=args.workdir,
        progress=progress,
    )  # fmt: skip
    config.settle_timeout = args.settle_timeout
    progress({"event": "start", "clusters": args.clusters, "requests": args.requests, "kills": args.kills})
    engine = engine_client()
    try:
        summary = run(config, DockerRig(engine))
    except BackendUnavailableError as exc:
        print(json.dumps({"test": "crash", "driver": "docker", "skipped": str(exc)}))
        return 2
    finally:
        engine.close()
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
