"""Nodegroup queries. Every query names its cluster, whose visibility the caller already checked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jeroboam.db.models import NodeGroup
from jeroboam.db.repositories.base import _order_and_after, check_sort_key
from jeroboam.domain.identifiers import canonical_uuid, is_uuid_like, parse_row_id
from jeroboam.domain.paging import PageRequest
from jeroboam.errors import ConflictError, NotFoundError

RESOURCE = "Nodegroup"


def not_found(ident: str) -> NotFoundError:
    return NotFoundError(f"{RESOURCE} {ident} could not be found.")


def in_cluster(cluster_uuid: str, *, role: str | None = None) -> Select[NodeGroup]:
    stmt = select(NodeGroup).where(NodeGroup.cluster_id == cluster_uuid)
    if role is not None:
        stmt = stmt.where(NodeGroup.role == role)
    return stmt


def _by_ident(stmt: Select[NodeGroup], ident: str) -> Select[NodeGroup]:
    """Magnum's nodegroup identifiers: an integer id, a uuid, else a name (unique per cluster)."""
    row_id = parse_row_id(ident)
    if row_id is not None:
        return stmt.where(NodeGroup.id == row_id)
    if is_uuid_like(ident):
        return stmt.where(NodeGroup.uuid == canonical_uuid(ident))
    return stmt.where(NodeGroup.name == ident)


def get_in_cluster(session: Session, cluster_uuid: str, ident: str, *, for_update: bool = False) -> NodeGroup:
    stmt = _by_ident(in_cluster(cluster_uuid), ident)
    if for_update:
        stmt = stmt.with_for_update()
    nodegroup = session.scalars(stmt.limit(1)).first()
    if nodegroup is None:
        raise not_found(ident)
    return nodegroup


def list_page(
    session: Session, cluster_uuid: str, page: PageRequest, *, role: str | None = None
) -> Sequence[NodeGroup]:
    """One page of a cluster's nodegroups; the marker may be an id, a uuid or a name."""
    check_sort_key(NodeGroup, page.sort_key)
    stmt = in_cluster(cluster_uuid, role=role)
    marker_row = None
    if page.marker is not None:
        marker_row = session.scalars(_by_ident(stmt, page.marker).limit(1)).first()
        if marker_row is None:
            raise not_found(page.marker)
    order, after = _order_and_after(NodeGroup, page, marker_row)
    if after is not None:
        stmt = stmt.where(after)
    return session.scalars(stmt.order_by(*order).limit(page.limit)).all()


def for_cluster(session: Session, cluster_uuid: str) -> Sequence[NodeGroup]:
    return session.scalars(in_cluster(cluster_uuid).order_by(NodeGroup.id)).all()


_T = NodeGroup.__table__
SHOWN_COLUMNS = (
    _T.c.cluster_id,
    _T.c.role,
    _T.c.node_count,
    _T.c.uuid,
    _T.c.name,
    _T.c.node_addresses,
    _T.c.is_default,
    _T.c.status,
    _T.c.status_reason,
)
_OF_CLUSTERS = (
    select(*SHOWN_COLUMNS).where(_T.c.cluster_id.in_(bindparam("clusters", expanding=True))).order_by(_T.c.id)
)


def rows_for_clusters(session: Session, cluster_uuids: Iterable[str]) -> dict[str, list[Any]]:
    """What a cluster's detailed representation needs of its nodegroups (roles, sizes, names,
    addresses, statuses), for many clusters in one query, as plain rows by cluster uuid, oldest
    first."""
    wanted = sorted(set(cluster_uuids))
    grouped: dict[str, list[Any]] = defaultdict(list)
    if not wanted:
        return grouped
    for row in session.connection().execute(_OF_CLUSTERS, {"clusters": wanted}).all():
        grouped[row.cluster_id].append(row)
    return grouped


def name_taken(session: Session, cluster_uuid: str, name: str) -> bool:
    stmt = select(exists().where(NodeGroup.cluster_id == cluster_uuid, NodeGroup.name == name))
    return bool(session.scalar(stmt))


def add(session: Session, nodegroup: NodeGroup, *, duplicate: str) -> NodeGroup:
    """Insert; ``duplicate`` is the conflict message when the name was taken concurrently."""
    session.add(nodegroup)
    try:
        session.flush()
    except IntegrityError:  # the unit of work is lost anyway: the error ends it
        raise ConflictError(duplicate) from None
    return nodegroup


def nodes_in_project(session: Session, project_id: str) -> int:
    """Nodes a project's nodegroups ask for, in every cluster and status (what the node quota counts)."""
    total = session.scalar(select(func.sum(NodeGroup.node_count)).where(NodeGroup.project_id == project_id))
    return int(total or 0)
