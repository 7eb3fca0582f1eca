"""Cluster queries, scoped to the caller's project unless the caller may see every project."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, ClusterTemplate
from jeroboam.db.repositories.base import PageRequest, find_one, paginate
from jeroboam.db.session import hold_named_lock
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


def exists(session: Session, uuid: str) -> bool:
    return session.scalar(select(Cluster.id).where(Cluster.uuid == uuid)) is not None


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


def count_in_project(session: Session, project_id: str) -> int:
    """Clusters a project owns, whatever their status (what the cluster quota counts)."""
    return int(session.scalar(select(func.count(Cluster.id)).where(Cluster.project_id == project_id)) or 0)


def template(session: Session, uuid: str) -> ClusterTemplate | None:
    """A cluster's template, whoever owns it (the cluster already proves the right to use it)."""
    return session.scalars(select(ClusterTemplate).where(ClusterTemplate.uuid == uuid)).first()


def template_labels(session: Session, uuids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Labels of the templates ``uuids``, by template uuid, in one query."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    rows = session.execute(
        select(ClusterTemplate.uuid, ClusterTemplate.labels).where(ClusterTemplate.uuid.in_(wanted))
    ).all()
    return {uuid: dict(labels or {}) for uuid, labels in rows}
