"""Concurrent, conflicting requests to one cluster through two ``jeroboam-api`` processes on one
database: the transition table holds under concurrency (no double accept, no lost update) and the
cluster quota is never exceeded.

No conductor runs: a cluster is put into a settled status directly in the database (as a conductor
would leave it), then requests race from both processes, released together by a barrier.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, update

from jeroboam.db.models import Cluster, NodeGroup, Operation
from tests.support.databases import BackendUnavailableError, fresh_database
from tests.support.server import free_port, wait_until_up

BIN = Path(sys.executable).parent
ROUNDS = 8  # races per scenario: each round is a fresh chance to interleave
ADMIN = {"X-Project-Id": "admin", "X-User-Id": "root", "X-Roles": "admin,member,reader"}
VERSION = {"OpenStack-API-Version": "container-infra latest"}


def member(project: str) -> dict[str, str]:
    return {"X-Project-Id": project, "X-User-Id": f"{project}-user", "X-Roles": "member,reader"}


@dataclass
class Pair:
    """Two API processes on one database, and a connection for arranging and inspecting it."""

    urls: list[str]
    db: Engine

    def client(self, index: int, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=self.urls[index % len(self.urls)], headers={**headers, **VERSION}, timeout=30)

    def template(self, project: str, image: str = "fedora-coreos") -> str:
        with self.client(0, member(project)) as client:
            body = {
                "name": f"race-{image}",
                "coe": "kubernetes",
                "image_id": image,
                "external_network_id": "public",
                "flavor_id": "m1.tiny",
                "master_flavor_id": "m1.small",
                "driver": "sim",
            }
            response = client.post("/v1/clustertemplates", json=body)
        assert response.status_code == 201, response.text
        uuid: str = response.json()["uuid"]
        return uuid

    def settled_cluster(self, project: str, template: str, status: str = "CREATE_COMPLETE") -> str:
        with self.client(1, member(project)) as client:
            response = client.post("/v1/clusters", json={"cluster_template_id": template, "node_count": 1})
        assert response.status_code == 202, response.text
        uuid: str = response.json()["uuid"]
        self.settle(uuid, status)
        return uuid

    def settle(self, uuid: str, status: str) -> None:
        """Finish whatever was accepted, as a conductor would."""
        with self.db.begin() as connection:
            connection.execute(update(Cluster).where(Cluster.uuid == uuid).values(status=status))
            connection.execute(update(NodeGroup).where(NodeGroup.cluster_id == uuid).values(status=status))
            connection.execute(
                update(Operation)
                .where(Operation.cluster_id == uuid, Operation.state.in_(("pending", "running")))
                .values(state="succeeded")
            )

    def operations(self, uuid: str) -> list[Any]:
        with self.db.connect() as connection:
            return list(
                connection.execute(select(Operation).where(Operation.cluster_id == uuid).order_by(Operation.id)).all()
            )

    def cluster(self, uuid: str) -> Any:
        with self.db.connect() as connection:
            return connection.execute(select(Cluster).where(Cluster.uuid == uuid)).one()

    def nodegroups(self, uuid: str) -> list[Any]:
        with self.db.connect() as connection:
            return list(connection.execute(select(NodeGroup).where(NodeGroup.cluster_id == uuid)).all())


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> Callable[[], httpx.Response]:
    return partial(client.post, path, json=body)


def race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls at the same instant, one thread each; their responses in call order."""
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except BaseException as exc:  # reported below, in the test's thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    responses = []
    for result in results:
        if not isinstance(result, httpx.Response):
            raise AssertionError(f"a racing request did not complete: {result!r}")
        responses.append(result)
    return responses


def warm(clients: list[httpx.Client]) -> None:
    """Open each client's connection first, so the race is not decided by connecting."""
    for client in clients:
        assert client.get("/v1").status_code == 200


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def pair(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp(f"races-{backend}")
    database = fresh_database(backend, workdir)
    try:
        url = database.__enter__()
    except BackendUnavailableError as exc:
        pytest.skip(f"{backend} backend skipped: {exc}")
    processes: list[subprocess.Popen[bytes]] = []
    db = create_engine(url)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JEROBOAM_")}
        env.update(
            {
                "JEROBOAM_DATABASE__CONNECTION": url,
                "JEROBOAM_DATA_DIR": str(workdir / "data"),
                "JEROBOAM_SIM__STATE_DIR": str(workdir / "sim"),
            }
        )
        subprocess.run([str(BIN / "jeroboam-manage"), "db", "upgrade"], env=env, check=True, capture_output=True)
        urls = []
        for index in range(2):
            port = free_port()
            log = (workdir / f"api{index}.log").open("ab")
            processes.append(
                subprocess.Popen(
                    [str(BIN / "jeroboam-api"), "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
            urls.append(f"http://127.0.0.1:{port}")
        for url_ in urls:
            wait_until_up(url_, deadline=60)
        yield Pair(urls, db)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        db.dispose()
        database.__exit__(None, None, None)


# -- two upgrades at once ---------------------------------------------------------------------------------
def test_two_simultaneous_upgrades_one_is_accepted_the_other_refused(pair: Pair) -> None:
    project = "upgrades"
    old, new = pair.template(project), pair.template(project, "jeroboam-node")
    uuid = pair.settled_cluster(project, old)
    clients = [pair.client(i, member(project)) for i in range(2)]
    warm(clients)
    for round_ in range(ROUNDS):
        target = new if round_ % 2 == 0 else old
        body = {"cluster_template": target, "max_batch_size": 1}
        before = len(pair.operations(uuid))
        responses = race([post(c, f"/v1/clusters/{uuid}/actions/upgrade", body) for c in clients])
        codes = sorted(r.status_code for r in responses)
        assert codes == [202, 409], [r.text for r in responses]
        refused = next(r for r in responses if r.status_code == 409)
        assert "UPDATE_IN_PROGRESS" in refused.text
        added = pair.operations(uuid)[before:]
        assert [(op.action, op.state) for op in added] == [("upgrade", "pending")]
        assert pair.cluster(uuid).cluster_template_id == target
        pair.settle(uuid, "UPDATE_COMPLETE")
    for client in clients:
        client.close()


# -- resize against delete --------------------------------------------------------------------------------
def test_resize_racing_delete_never_leaves_both_in_effect(pair: Pair) -> None:
    project = "resize-delete"
    template = pair.template(project)
    clients = [pair.client(i, member(project)) for i in range(2)]
    warm(clients)
    outcomes = []
    for round_ in range(ROUNDS):
        uuid = pair.settled_cluster(project, template)
        resize, delete = race(
            [
                post(clients[round_ % 2], f"/v1/clusters/{uuid}/actions/resize", {"node_count": 3}),
                partial(clients[(round_ + 1) % 2].delete, f"/v1/clusters/{uuid}"),
            ]
        )
        assert delete.status_code == 204, delete.text
        assert resize.status_code in (202, 409), resize.text
        outcomes.append(resize.status_code)

        cluster = pair.cluster(uuid)
        assert cluster.status == "DELETE_IN_PROGRESS"
        assert {ng.status for ng in pair.nodegroups(uuid)} == {"DELETE_IN_PROGRESS"}
        operations = pair.operations(uuid)[1:]  # after the create
        open_ = [op for op in operations if op.state in ("pending", "running")]
        assert [op.action for op in open_] == ["delete"], "only the delete may remain in effect"
        if resize.status_code == 202:
            # Accepted first, then superseded by the delete: never both in effect.
            assert [(op.action, op.state) for op in operations] == [("resize", "superseded"), ("delete", "pending")]
            assert operations[0].generation < operations[1].generation
        else:
            assert [op.action for op in operations] == ["delete"]
            assert "DELETE_IN_PROGRESS" in resize.text
    for client in clients:
        client.close()
    print(f"resize outcomes against a simultaneous delete: {sorted(outcomes)}")


# -- many resizes at once -------------------------------------------------------------------------------------
def test_many_simultaneous_resizes_end_at_the_last_accepted_one(pair: Pair) -> None:
    project = "resizes"
    template = pair.template(project)
    uuid = pair.settled_cluster(project, template)
    clients = [pair.client(i, member(project)) for i in range(12)]
    warm(clients)
    for _ in range(ROUNDS // 2):
        start = pair.cluster(uuid).generation
        before = len(pair.operations(uuid))
        counts = list(range(1, len(clients) + 1))
        responses = race(
            [
                post(c, f"/v1/clusters/{uuid}/actions/resize", {"node_count": n})
                for c, n in zip(clients, counts, strict=True)
            ]
        )
        # A resize is accepted while an update runs (autoscalers retry): every one is accepted...
        assert [r.status_code for r in responses] == [202] * len(clients), [r.text for r in responses]
        added = pair.operations(uuid)[before:]
        assert len(added) == len(clients)
        # ...one after the other: distinct consecutive generations, each seeing its predecessor's count.
        ordered = sorted(added, key=lambda op: op.generation)
        assert [op.generation for op in ordered] == list(range(start + 1, start + len(clients) + 1))
        for previous, following in itertools.pairwise(ordered):
            assert following.request["previous_node_count"] == previous.request["node_count"]
        last = ordered[-1].request["node_count"]
        worker = next(ng for ng in pair.nodegroups(uuid) if ng.role != "master")
        assert worker.node_count == last
        assert pair.cluster(uuid).generation == start + len(clients)
        with pair.client(0, member(project)) as client:
            assert client.get(f"/v1/clusters/{uuid}").json()["node_count"] == last
        pair.settle(uuid, "UPDATE_COMPLETE")
    for client in clients:
        client.close()


# -- creates against the quota -----------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 3])
def test_simultaneous_creates_never_exceed_the_quota(pair: Pair, limit: int) -> None:
    with pair.client(0, ADMIN) as admin:
        for round_ in range(ROUNDS // 2):
            project = f"quota-{limit}-{round_}"
            response = admin.post(
                "/v1/quotas", json={"project_id": project, "resource": "Cluster", "hard_limit": limit}
            )
            assert response.status_code == 201, response.text
            template = pair.template(project)
            clients = [pair.client(i, member(project)) for i in range(10)]
            warm(clients)
            body = {"cluster_template_id": template, "node_count": 1}
            responses = race([post(c, "/v1/clusters", body) for c in clients])
            codes = sorted(r.status_code for r in responses)
            assert set(codes) <= {202, 403}, [r.text for r in responses]
            assert codes.count(202) == limit, codes
            with pair.db.connect() as connection:
                owned = connection.scalar(select(func.count(Cluster.id)).where(Cluster.project_id == project))
            assert owned == limit
            for client in clients:
                client.close()
