"""The conductor's queries: claiming due clusters with leases, fenced writes, the work snapshot.

A claim is a compare-and-set on ``lease_token``: the token grows by one with
every claim, so exactly one conductor wins a cluster, and every later write of
that conductor names the token — a conductor whose lease expired and was taken
over finds its token stale and writes nothing (``LeaseLostError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, or_, select, tuple_, update
from sqlalchemy.orm import Session

from jeroboam.db.models import Cluster, ClusterTemplate, NodeGroup, Operation
from jeroboam.db.repositories import certificates, nodegroups
from jeroboam.db.repositories.operations import OPEN
from jeroboam.domain import states
from jeroboam.domain.states import Status


class LeaseLostError(Exception):
    """Another conductor holds the cluster now (or it is gone); stop without writing."""


@dataclass(frozen=True)
class Claim:
    cluster_id: str
    token: int
    generation: int = 0  # the cluster's generation when claimed
    took_over: bool = False  # the previous holder's lease lapsed unreleased (it crashed or hung)


IN_PROGRESS = sorted(status.value for status in states.IN_PROGRESS)


def _in_progress() -> ColumnElement[bool]:
    """Clusters with work to converge (a cluster without a status is being created)."""
    return or_(Cluster.status.in_(IN_PROGRESS), Cluster.status.is_(None))


def claim_due(
    session: Session, owner: str, now: datetime, lease_until: datetime, limit: int, *, skip_locked: bool
) -> list[Claim]:
    """Claim up to ``limit`` in-progress clusters whose ``next_check_at`` has come and whose lease
    is free (settled clusters that are due get their health checked in batches: ``claim_settled``)."""
    stmt = (
        select(Cluster.id, Cluster.uuid, Cluster.lease_token, Cluster.generation, Cluster.lease_expires_at)
        .where(Cluster.next_check_at <= now)
        .where(or_(Cluster.lease_expires_at.is_(None), Cluster.lease_expires_at < now))
        .where(_in_progress())
        .order_by(Cluster.next_check_at)
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    claims: list[Claim] = []
    for row_id, uuid, token, generation, lapsed in session.execute(stmt).all():
        result = session.execute(
            update(Cluster)
            .where(Cluster.id == row_id, Cluster.lease_token == token)
            .values(lease_owner=owner, lease_expires_at=lease_until, lease_token=token + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claims.append(Claim(uuid, token + 1, generation, took_over=lapsed is not None))
    return claims


def claim_settled(
    session: Session, owner: str, now: datetime, lease_until: datetime, limit: int, *, skip_locked: bool
) -> list[Claim]:
    """Claim up to ``limit`` settled clusters due for a health check (see ``claim_batch``)."""
    return claim_batch(
        session, owner, now, lease_until, limit, Cluster.next_check_at, Cluster.status.not_in(IN_PROGRESS),
        skip_locked=skip_locked,
    )  # fmt: skip


def claim_batch(
    session: Session,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    due_at: Any,
    condition: ColumnElement[bool],
    *,
    skip_locked: bool,
) -> list[Claim]:
    """Claim, in two statements, up to ``limit`` clusters whose ``due_at`` has come, whose lease is
    free and that meet ``condition``, earliest first.

    The rows are locked while claimed (``SKIP LOCKED`` on PostgreSQL/MariaDB; SQLite's write
    lock), so every selected row is claimed, each with its token bumped: the same fencing as
    ``claim_due``, for the whole batch instead of one per cluster."""
    stmt = (
        select(Cluster.id, Cluster.uuid, Cluster.lease_token, Cluster.generation)
        .where(due_at <= now)
        .where(or_(Cluster.lease_expires_at.is_(None), Cluster.lease_expires_at < now))
        .where(condition)
        .order_by(due_at)
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    result = session.execute(
        update(Cluster)
        .where(
            Cluster.id.in_([row.id for row in rows]),
            tuple_(Cluster.id, Cluster.lease_token).in_([(row.id, row.lease_token) for row in rows]),
        )
        .values(lease_owner=owner, lease_expires_at=lease_until, lease_token=Cluster.lease_token + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == len(rows):  # type: ignore[attr-defined]
        return [Claim(row.uuid, row.lease_token + 1, row.generation) for row in rows]
    # Not every row was claimed (a backend that did not lock them): keep the ones that were.
    claimed = session.execute(
        select(Cluster.uuid, Cluster.lease_token, Cluster.generation).where(
            Cluster.id.in_([row.id for row in rows]),
            Cluster.lease_owner == owner,
            Cluster.lease_expires_at == lease_until,
        )
    ).all()
    return [Claim(row.uuid, row.lease_token, row.generation) for row in claimed]


# What a health check reads, as plain rows (what ``build_spec`` and the comparison need).
_C, _TPL, _NG = (cast(Table, model.__table__) for model in (Cluster, ClusterTemplate, NodeGroup))
_SNAPSHOT_CLUSTERS = select(
    *(_C.c[name] for name in (
        "uuid", "name", "project_id", "cluster_template_id", "labels", "generation", "master_lb_enabled",
        "floating_ip_enabled", "fixed_network", "fixed_subnet", "keypair", "docker_volume_size", "health_status",
        "health_status_reason", "api_address", "lease_token",
    ))
).where(_C.c.uuid.in_(bindparam("clusters", expanding=True)))  # fmt: skip
_SNAPSHOT_TEMPLATES = select(
    *(
        _TPL.c[name]
        for name in (
            "uuid",
            "coe",
            "image_id",
            "flavor_id",
            "master_flavor_id",
            "tls_disabled",
            "driver",
            "registry_enabled",
        )
    )
).where(_TPL.c.uuid.in_(bindparam("templates", expanding=True)))
_SNAPSHOT_NODEGROUPS = (
    select(
        *(_NG.c[name] for name in (
            "cluster_id", "uuid", "name", "role", "node_count", "image_id", "flavor_id", "labels", "node_labels",
            "node_taints", "docker_volume_size", "is_default", "status",
        ))
    )
    .where(_NG.c.cluster_id.in_(bindparam("clusters", expanding=True)))
    .order_by(_NG.c.id)
)  # fmt: skip


def settled_snapshot(
    session: Session, claims: Sequence[Claim]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[Any]]]:
    """What a health check reads, for a batch of claims in three queries, as plain rows: the
    clusters whose claim still holds, their templates, their nodegroups (oldest first)."""
    connection = session.connection()
    tokens = {claim.cluster_id: claim.token for claim in claims}
    clusters = {
        row.uuid: row
        for row in connection.execute(_SNAPSHOT_CLUSTERS, {"clusters": list(tokens)}).all()
        if row.lease_token == tokens[row.uuid]
    }
    if not clusters:
        return {}, {}, {}
    wanted = sorted({row.cluster_template_id for row in clusters.values()})
    templates = {row.uuid: row for row in connection.execute(_SNAPSHOT_TEMPLATES, {"templates": wanted}).all()}
    nodegroups: dict[str, list[Any]] = {uuid: [] for uuid in clusters}
    for row in connection.execute(_SNAPSHOT_NODEGROUPS, {"clusters": list(clusters)}).all():
        nodegroups[row.cluster_id].append(row)
    return clusters, templates, nodegroups


def release_unchanged(
    session: Session, owner: str, claims: Sequence[Claim], next_check_at: datetime | None, now: datetime
) -> None:
    """Health checks that changed nothing: release the batch's leases in two statements, fenced by
    each claim's token. Due again at ``next_check_at``; a cluster that took a request meanwhile
    (its generation moved on) is due at once."""
    if not claims:
        return
    ids = [claim.cluster_id for claim in claims]
    session.execute(
        update(Cluster)
        .where(
            Cluster.uuid.in_(ids),
            tuple_(Cluster.uuid, Cluster.lease_token, Cluster.generation).in_(
                [(claim.cluster_id, claim.token, claim.generation) for claim in claims]
            ),
        )
        .values(lease_owner=None, lease_expires_at=None, next_check_at=next_check_at)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Cluster)
        .where(
            Cluster.uuid.in_(ids),
            Cluster.lease_owner == owner,
            tuple_(Cluster.uuid, Cluster.lease_token).in_([(claim.cluster_id, claim.token) for claim in claims]),
        )
        .values(lease_owner=None, lease_expires_at=None, next_check_at=now)
        .execution_options(synchronize_session=False)
    )


def renew(session: Session, claim: Claim, lease_until: datetime) -> bool:
    # A released lease (owner cleared by the finished pass) is not revived by a late renewal.
    result = session.execute(
        update(Cluster)
        .where(Cluster.uuid == claim.cluster_id, Cluster.lease_token == claim.token, Cluster.lease_owner.is_not(None))
        .values(lease_expires_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def superseded_by_delete(session: Session, claim: Claim) -> bool:
    """A delete was accepted after ``claim`` was made (the claimed work is not that delete)."""
    row = session.execute(select(Cluster.status, Cluster.generation).where(Cluster.uuid == claim.cluster_id)).first()
    return row is None or (row.status == Status.DELETE_IN_PROGRESS and row.generation > claim.generation)


def deleted_or_deleting(session: Session, cluster_id: str) -> bool:
    status = session.scalar(select(Cluster.status).where(Cluster.uuid == cluster_id))
    return status is None or status == Status.DELETE_IN_PROGRESS


def fenced_cluster(session: Session, claim: Claim) -> Cluster:
    """The cluster row, locked for this transaction, if the claim still holds it."""
    cluster = session.scalars(select(Cluster).where(Cluster.uuid == claim.cluster_id).with_for_update()).first()
    if cluster is None or cluster.lease_token != claim.token:
        raise LeaseLostError(claim.cluster_id)
    return cluster


_OP = cast(Table, Operation.__table__)
_FENCE = select(_C.c.status, _C.c.lease_token).where(_C.c.uuid == bindparam("cluster")).with_for_update()
_EXTEND = (
    update(_C)
    .where(_C.c.uuid == bindparam("cluster"), _C.c.lease_token == bindparam("token"))
    .values(lease_expires_at=bindparam("until"))
)
_OPEN_PHASES = select(_OP.c.id, _OP.c.phase, _OP.c.phase_times).where(
    _OP.c.cluster_id == bindparam("cluster"), _OP.c.state.in_(OPEN)
)
_PHASE = (
    update(_OP)
    .where(_OP.c.id == bindparam("op"))
    .values(phase=bindparam("new_phase"), phase_times=bindparam("times", type_=_OP.c.phase_times.type))
)


def fenced_status(session: Session, claim: Claim) -> str | None:
    """The cluster's status, its row locked for this transaction, if the claim still holds it (a
    light ``fenced_cluster``: two columns, no ORM object)."""
    row = session.connection().execute(_FENCE, {"cluster": claim.cluster_id}).first()
    if row is None or row.lease_token != claim.token:
        raise LeaseLostError(claim.cluster_id)
    status: str | None = row.status
    return status


def record_phase(
    session: Session, claim: Claim, phase: str, lease_until: datetime, now: datetime | None = None
) -> None:
    """After ``fenced_status``: extend the lease and record ``phase`` on the open operations, with
    the time each phase was first entered (``phase_times``, what progress and history show).
    Only an operation whose phase changes is written."""
    connection = session.connection()
    connection.execute(_EXTEND, {"cluster": claim.cluster_id, "token": claim.token, "until": lease_until})
    entered = (now or datetime.now(UTC)).isoformat()
    for row in connection.execute(_OPEN_PHASES, {"cluster": claim.cluster_id}).all():
        if row.phase == phase:
            continue
        times = dict(row.phase_times or {})
        times.setdefault(phase, entered)
        connection.execute(_PHASE, {"op": row.id, "new_phase": phase, "times": times})


def release(cluster: Cluster) -> None:
    cluster.lease_owner = None
    cluster.lease_expires_at = None


def delete_cluster_rows(session: Session, cluster: Cluster) -> None:
    certificates.delete_for_cluster(session, cluster.uuid)  # its CAs and (encrypted) keys
    for nodegroup in nodegroups.for_cluster(session, cluster.uuid):
        session.delete(nodegroup)
    # Nodegroups first: the unit of work does not order these deletes (no relationship), and the
    # cluster's ON DELETE CASCADE would remove the nodegroups under it (SAWarning: 0 rows matched).
    session.flush()
    session.delete(cluster)
    session.flush()


def in_progress_without_schedule(session: Session, statuses: Sequence[str], now: datetime) -> int:
    """Repair: an in-progress cluster must always be due at some point."""
    result = session.execute(
        update(Cluster)
        .where(Cluster.status.in_(statuses), Cluster.next_check_at.is_(None))
        .values(next_check_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def deadline_of(session: Session, cluster_id: str) -> datetime | None:
    """The earliest deadline among the cluster's open operations."""
    return session.scalar(
        select(Operation.deadline)
        .where(Operation.cluster_id == cluster_id, Operation.state.in_(OPEN))
        .order_by(Operation.deadline)
        .limit(1)
    )
