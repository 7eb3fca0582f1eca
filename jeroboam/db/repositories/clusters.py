"""Cluster queries, scoped to the caller's project unless the caller may see every project."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Integer, Select, bindparam, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, ClusterTemplate, NodeGroup, Quota
from jeroboam.db.repositories.base import PageStatements, Record, find_one, paginate
from jeroboam.db.session import hold_named_lock
from jeroboam.domain.paging import PageRequest
from jeroboam.domain.specs import MASTER
from jeroboam.errors import ConflictError, NotFoundError

RESOURCE = "Cluster"
AMBIGUOUS = "Multiple clusters exist with same name. Please use the cluster uuid instead."


def not_found(ident: str) -> NotFoundError:
    return NotFoundError(f"{RESOURCE} {ident} could not be found.")


def visible(context: RequestContext, *, all_projects: bool) -> Select[Cluster]:
    """The caller's project's clusters (its own when the token has no project), or all."""
    stmt = select(Cluster)
    if all_projects:
        return stmt
    if context.project_id is None:
        return stmt.where(Cluster.user_id == context.user_id)
    return stmt.where(Cluster.project_id == context.project_id)


# What lists and reads render, as plain rows: no ORM objects, and no JSON column decoded that the
# answer does not show (the engine's bookkeeping: leases, schedule, conditions, generations).
_T = Cluster.__table__
_NG = NodeGroup.__table__
BASE_COLUMNS: tuple[Any, ...] = tuple(
    _T.c[name]
    for name in (
        "id", "uuid", "name", "project_id", "user_id", "cluster_template_id", "keypair", "docker_volume_size",
        "labels", "master_flavor_id", "flavor_id", "stack_id", "create_timeout", "status", "health_status",
    )
)  # fmt: skip


def _size(name: str, *, masters: bool) -> Any:
    """The cluster's node count of one kind, summed over its nodegroups (indexed by cluster)."""
    role = _NG.c.role == MASTER if masters else _NG.c.role != MASTER
    # The cast: MariaDB sums integers into decimals.
    total = select(cast(func.coalesce(func.sum(_NG.c.node_count), 0), Integer)).where(
        _NG.c.cluster_id == _T.c.uuid, role
    )
    return total.scalar_subquery().label(name)


# A summary shows only the sizes of the nodegroups: summed in the page's own query, not fetched.
SUMMARY_COLUMNS: tuple[Any, ...] = (
    *BASE_COLUMNS, _size("master_count", masters=True), _size("node_count", masters=False),
)  # fmt: skip
DETAIL_COLUMNS: tuple[Any, ...] = BASE_COLUMNS + tuple(
    _T.c[name]
    for name in (
        "status_reason", "health_status_reason", "discovery_url", "api_address", "coe_version",
        "container_version", "node_addresses", "master_addresses", "fixed_network", "fixed_subnet",
        "floating_ip_enabled", "master_lb_enabled", "created_at", "updated_at", "registry_address",
        "registry_push_address",
    )
)  # fmt: skip
_PAGES = PageStatements(
    _T,
    Cluster,
    {
        "project": lambda t: t.c.project_id == bindparam("scope"),
        "user": lambda t: t.c.user_id == bindparam("scope"),
    },
)


def _scope(context: RequestContext, all_projects: bool) -> tuple[str | None, str | None]:
    """As ``visible``: every project, the caller's project, or (no project) the caller's own."""
    if all_projects:
        return None, None
    if context.project_id is None:
        return "user", context.user_id
    return "project", context.project_id


def list_rows(
    session: Session, context: RequestContext, page: PageRequest, *, all_projects: bool, detail: bool
) -> Sequence[Record]:
    """A page of the clusters the caller sees (as ``list_visible``), as rows of SUMMARY_COLUMNS
    (with ``master_count`` and ``node_count``) or DETAIL_COLUMNS."""
    scope, owner = _scope(context, all_projects)
    columns = DETAIL_COLUMNS if detail else SUMMARY_COLUMNS
    return _PAGES.page(session, columns, scope, owner, page, resource=RESOURCE)


def get_row(session: Session, context: RequestContext, ident: str, *, all_projects: bool) -> Record:
    """One visible cluster by uuid or exact name (as ``get_visible``), as a row of DETAIL_COLUMNS."""
    scope, owner = _scope(context, all_projects)
    return _PAGES.one(session, DETAIL_COLUMNS, scope, owner, ident, resource=RESOURCE, ambiguous=AMBIGUOUS)


def list_visible(
    session: Session, context: RequestContext, page: PageRequest, *, all_projects: bool
) -> Sequence[Cluster]:
    return paginate(session, visible(context, all_projects=all_projects), Cluster, page, resource=RESOURCE)


def get_visible(
    session: Session, context: RequestContext, ident: str, *, all_projects: bool, for_update: bool = False
) -> Cluster:
    """By uuid or exact name; ``for_update`` locks the row until the transaction ends (so two
    requests accepting an action on one cluster are serialised; SQLite locks the database)."""
    stmt = visible(context, all_projects=all_projects)
    if for_update:
        stmt = stmt.with_for_update()
    return find_one(session, stmt, Cluster, ident, resource=RESOURCE, ambiguous=AMBIGUOUS)


def lock(session: Session, uuid: str) -> Cluster:
    """The cluster ``uuid`` (already authorised), locked for the rest of the transaction."""
    cluster = session.scalars(select(Cluster).where(Cluster.uuid == uuid).with_for_update()).first()
    if cluster is None:
        raise not_found(uuid)
    return cluster


_EXISTS = select(_T.c.id).where(_T.c.uuid == bindparam("uuid"))
_TEMPLATE_EXISTS = select(ClusterTemplate.__table__.c.id).where(ClusterTemplate.__table__.c.uuid == bindparam("uuid"))


def exists(session: Session, uuid: str) -> bool:
    return session.connection().execute(_EXISTS, {"uuid": uuid}).first() is not None


def template_exists(session: Session, uuid: str) -> bool:
    return session.connection().execute(_TEMPLATE_EXISTS, {"uuid": uuid}).first() is not None


def add(session: Session, cluster: Cluster) -> Cluster:
    session.add(cluster)
    try:
        session.flush()
    except IntegrityError:  # the unit of work is lost anyway: the error ends it
        raise ConflictError(f"A cluster with UUID {cluster.uuid} already exists.") from None
    return cluster


def lock_project(session: Session, project_id: str) -> None:
    """Serialise cluster creation in ``project_id`` until the transaction ends, so that two
    creates cannot both count the clusters, see room under the quota, and both insert."""
    hold_named_lock(session, f"clusters-of-project:{project_id}")


_Q = Quota.__table__
_COUNT_AND_LIMIT = select(
    select(func.count(_T.c.id)).where(_T.c.project_id == bindparam("project")).scalar_subquery(),
    select(_Q.c.hard_limit)
    .where(_Q.c.project_id == bindparam("project"), _Q.c.resource == "Cluster")
    .scalar_subquery(),
)


def count_and_limit(session: Session, project_id: str) -> tuple[int, int | None]:
    """The clusters a project owns, and its explicit cluster quota (None: the default), in one
    statement."""
    count, limit = session.connection().execute(_COUNT_AND_LIMIT, {"project": project_id}).one()
    return int(count or 0), None if limit is None else int(limit)


def template(session: Session, uuid: str) -> ClusterTemplate | None:
    """A cluster's template, whoever owns it (the cluster already proves the right to use it)."""
    return session.scalars(select(ClusterTemplate).where(ClusterTemplate.uuid == uuid)).first()


def template_driver(session: Session, uuid: str) -> str | None:
    """The driver a cluster's template names (None: the default driver)."""
    return session.scalar(select(ClusterTemplate.driver).where(ClusterTemplate.uuid == uuid))


_TEMPLATE_LABELS = (
    select(ClusterTemplate.__table__.c.uuid, ClusterTemplate.__table__.c.labels)
    .where(ClusterTemplate.__table__.c.uuid.in_(bindparam("uuids", expanding=True)))
)  # fmt: skip


def template_labels(session: Session, uuids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Labels of the templates ``uuids``, by template uuid, in one query."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    rows = session.connection().execute(_TEMPLATE_LABELS, {"uuids": wanted}).all()
    return {uuid: dict(labels or {}) for uuid, labels in rows}
