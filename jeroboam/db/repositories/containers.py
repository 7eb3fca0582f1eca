"""Container queries, scoped to the caller's project (its user when the token has no project),
and the bays they live on (a cluster joined with its template's coe and driver)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, ClusterTemplate, Container
from jeroboam.db.repositories.base import find_one, paginate
from jeroboam.domain.paging import PageRequest

RESOURCE = "Container"
AMBIGUOUS = "Multiple containers exist with same name. Please use the container uuid instead."
BAY_AMBIGUOUS = "Multiple bays exist with same name. Please use the bay uuid instead."


@dataclass(frozen=True)
class BayRecord:
    """A cluster as the container service needs it."""

    uuid: str
    name: str | None
    project_id: str
    status: str | None
    status_reason: str | None
    labels: dict[str, str]
    coe: str
    server_type: str
    driver: str | None


def visible(context: RequestContext) -> Select[Container]:
    if context.project_id is None:
        return select(Container).where(Container.user_id == context.user_id)
    return select(Container).where(Container.project_id == context.project_id)


def list_visible(
    session: Session, context: RequestContext, page: PageRequest, *, bay_uuid: str | None = None
) -> Sequence[Container]:
    stmt = visible(context)
    if bay_uuid is not None:
        stmt = stmt.where(Container.bay_uuid == bay_uuid)
    return paginate(session, stmt, Container, page, resource=RESOURCE)


def get_visible(session: Session, context: RequestContext, ident: str) -> Container:
    return find_one(session, visible(context), Container, ident, resource=RESOURCE, ambiguous=AMBIGUOUS)


_BAY_COLUMNS = (
    Cluster.uuid, Cluster.name, Cluster.project_id, Cluster.status, Cluster.status_reason, Cluster.labels,
    ClusterTemplate.coe, ClusterTemplate.server_type, ClusterTemplate.driver,
)  # fmt: skip


def _bay(row: Any) -> BayRecord:
    return BayRecord(
        uuid=row[0],
        name=row[1],
        project_id=row[2],
        status=row[3],
        status_reason=row[4],
        labels=dict(row[5] or {}),
        coe=row[6] or "",
        server_type=row[7] or "vm",
        driver=row[8],
    )


def _bays() -> Select[Any]:
    template = ClusterTemplate.uuid == Cluster.cluster_template_id
    return select(*_BAY_COLUMNS).outerjoin(ClusterTemplate, template)  # type: ignore[return-value]


def get_bay(session: Session, context: RequestContext, ident: str) -> BayRecord:
    """A bay of the caller's project by uuid or exact name."""
    stmt = select(Cluster)
    if context.project_id is None:
        stmt = stmt.where(Cluster.user_id == context.user_id)
    else:
        stmt = stmt.where(Cluster.project_id == context.project_id)
    cluster = find_one(session, stmt, Cluster, ident, resource="Bay", ambiguous=BAY_AMBIGUOUS)
    return bays(session, [cluster.uuid])[cluster.uuid]


def bays(session: Session, uuids: Iterable[str]) -> dict[str, BayRecord]:
    """The bays ``uuids`` (already proven visible through their containers), by uuid."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    rows = session.execute(_bays().where(Cluster.uuid.in_(wanted))).all()
    return {row[0]: _bay(row) for row in rows}


def add(session: Session, values: dict[str, Any]) -> Container:
    container = Container(**values)
    session.add(container)
    session.flush()
    return container


def delete(session: Session, container: Container) -> None:
    session.delete(container)
    session.flush()
