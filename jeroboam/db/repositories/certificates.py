"""Certificate rows of clusters. Private keys arrive here already encrypted and leave encrypted;
callers (``services.certificates``) hold the keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from jeroboam.db.models import ClusterCertificate


def for_cluster(session: Session, cluster_id: str) -> dict[str, ClusterCertificate]:
    """The cluster's certificates by kind."""
    rows = session.scalars(select(ClusterCertificate).where(ClusterCertificate.cluster_id == cluster_id)).all()
    return {row.kind: row for row in rows}


_T = ClusterCertificate.__table__
_STORED = ("cluster_id", "kind", "certificate", "encrypted_private_key", "key_id", "fingerprint", "not_after")
_OF_CLUSTERS = select(*(_T.c[name] for name in (*_STORED, "operation_id"))).where(
    _T.c.cluster_id.in_(bindparam("clusters", expanding=True)), _T.c.kind.in_(bindparam("kinds", expanding=True))
)


def rows_for_clusters(session: Session, cluster_ids: Sequence[str], kinds: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The certificates of ``kinds`` of many clusters in one query, as plain rows: by cluster, then
    by kind."""
    found: dict[str, dict[str, Any]] = {uuid: {} for uuid in cluster_ids}
    if cluster_ids:
        rows = session.connection().execute(_OF_CLUSTERS, {"clusters": list(cluster_ids), "kinds": list(kinds)})
        for row in rows.all():
            found[row.cluster_id][row.kind] = row
    return found


def get(session: Session, cluster_id: str, kind: str) -> ClusterCertificate | None:
    return session.scalars(
        select(ClusterCertificate).where(ClusterCertificate.cluster_id == cluster_id, ClusterCertificate.kind == kind)
    ).first()


def put(
    session: Session,
    cluster_id: str,
    kind: str,
    *,
    certificate: str,
    encrypted_private_key: str,
    key_id: str,
    fingerprint: str,
    not_after: datetime,
    operation_id: str | None,
) -> ClusterCertificate:
    """Insert or replace the cluster's certificate of ``kind``."""
    row = get(session, cluster_id, kind)
    if row is None:
        row = ClusterCertificate(cluster_id=cluster_id, kind=kind)
        session.add(row)
    row.certificate = certificate
    row.encrypted_private_key = encrypted_private_key
    row.key_id = key_id
    row.fingerprint = fingerprint
    row.not_after = not_after
    row.operation_id = operation_id
    session.flush()
    return row


def remove(session: Session, cluster_id: str, kinds: Sequence[str]) -> None:
    if kinds:
        session.execute(
            delete(ClusterCertificate)
            .where(ClusterCertificate.cluster_id == cluster_id, ClusterCertificate.kind.in_(list(kinds)))
            .execution_options(synchronize_session=False)
        )


def delete_for_cluster(session: Session, cluster_id: str) -> None:
    """Every certificate and key of the cluster (its rows are deleted; the FK cascades too)."""
    session.execute(
        delete(ClusterCertificate)
        .where(ClusterCertificate.cluster_id == cluster_id)
        .execution_options(synchronize_session=False)
    )


def key_ids(session: Session) -> list[str]:
    """The ids of every encryption key some stored secret needs."""
    return list(session.scalars(select(ClusterCertificate.key_id).distinct()).all())


def one_with_key(session: Session, key_id: str) -> ClusterCertificate | None:
    return session.scalars(
        select(ClusterCertificate).where(ClusterCertificate.key_id == key_id).order_by(ClusterCertificate.id).limit(1)
    ).first()


def count_not_under(session: Session, key_id: str) -> int:
    return int(
        session.scalar(select(func.count(ClusterCertificate.id)).where(ClusterCertificate.key_id != key_id)) or 0
    )


def batch_not_under(session: Session, key_id: str, after_id: int, limit: int) -> Sequence[ClusterCertificate]:
    """Up to ``limit`` rows encrypted with another key than ``key_id``, by id after ``after_id``,
    locked until the transaction ends (a conductor writing one of them waits, and vice versa)."""
    return session.scalars(
        select(ClusterCertificate)
        .where(ClusterCertificate.key_id != key_id, ClusterCertificate.id > after_id)
        .order_by(ClusterCertificate.id)
        .limit(limit)
        .with_for_update()
    ).all()
