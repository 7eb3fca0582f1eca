"""Cluster template queries: a project's own templates plus public, non-hidden ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias, cast

from sqlalchemy import Row, Select, Table, and_, bindparam, exists, insert, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, ClusterTemplate
from jeroboam.db.repositories.base import PageStatements, Record, find_one, paginate
from jeroboam.domain.paging import PageRequest
from jeroboam.errors import ConflictError

RESOURCE = "ClusterTemplate"
AMBIGUOUS = "Multiple ClusterTemplates exist with same name. Please use the ClusterTemplate uuid instead."


def visible(context: RequestContext, *, all_projects: bool) -> Select[ClusterTemplate]:
    stmt = select(ClusterTemplate)
    if all_projects:
        return stmt
    return stmt.where(
        or_(
            ClusterTemplate.project_id == context.project_id,
            and_(ClusterTemplate.public.is_(True), ClusterTemplate.hidden.is_(False)),
        )
    )


# A template as reads return it: the ORM object, or a plain row of every column (the same attribute
# names). Rows cost a third of ORM objects to load; writes load ORM objects.
TemplateRecord: TypeAlias = ClusterTemplate | Row[Any] | Record
_T = cast(Table, ClusterTemplate.__table__)
_PAGES = PageStatements(
    _T,
    ClusterTemplate,
    {"visible": lambda t: or_(t.c.project_id == bindparam("scope"), and_(t.c.public.is_(True), t.c.hidden.is_(False)))},
)


def list_rows(session: Session, context: RequestContext, page: PageRequest, *, all_projects: bool) -> Sequence[Record]:
    """``list_visible`` as plain rows of every column."""
    scope = None if all_projects else "visible"
    return _PAGES.page(session, tuple(_T.c), scope, context.project_id, page, resource=RESOURCE)


def get_row(session: Session, context: RequestContext, ident: str, *, all_projects: bool) -> Record:
    """``get_visible`` as a plain row of every column."""
    scope = None if all_projects else "visible"
    return _PAGES.one(session, tuple(_T.c), scope, context.project_id, ident, resource=RESOURCE, ambiguous=AMBIGUOUS)


def list_visible(
    session: Session, context: RequestContext, page: PageRequest, *, all_projects: bool
) -> Sequence[ClusterTemplate]:
    return paginate(session, visible(context, all_projects=all_projects), ClusterTemplate, page, resource=RESOURCE)


def get_visible(session: Session, context: RequestContext, ident: str, *, all_projects: bool) -> ClusterTemplate:
    return find_one(
        session,
        visible(context, all_projects=all_projects),
        ClusterTemplate,
        ident,
        resource=RESOURCE,
        ambiguous=AMBIGUOUS,
    )


_BY_UUID = select(*_T.c).where(_T.c.uuid == bindparam("uuid"))
_DELETE = sql_delete(_T).where(_T.c.id == bindparam("row_id"))
_REFERENCED = select(exists().where(Cluster.__table__.c.cluster_template_id == bindparam("uuid")))


def insert_row(session: Session, values: dict[str, Any]) -> Row[Any]:
    """Insert a template (column defaults apply) and return it as a row of every column; a core
    INSERT, without the ORM's unit of work."""
    connection = session.connection()
    try:
        connection.execute(insert(_T), values)
    except IntegrityError:  # uuid is the only unique column; the unit of work ends with the error
        raise ConflictError(f"A ClusterTemplate with UUID {values['uuid']} already exists.") from None
    row: Row[Any] = connection.execute(_BY_UUID, {"uuid": values["uuid"]}).one()
    return row


def delete_row(session: Session, row_id: int) -> None:
    session.connection().execute(_DELETE, {"row_id": row_id})


def is_referenced_by_uuid(session: Session, template_uuid: str) -> bool:
    """``is_referenced`` through a prebuilt statement."""
    return bool(session.connection().execute(_REFERENCED, {"uuid": template_uuid}).scalar())


def add(session: Session, values: dict[str, Any]) -> ClusterTemplate:
    template = ClusterTemplate(**values)
    session.add(template)
    try:
        session.flush()
    except IntegrityError:  # uuid is the only unique column; the unit of work ends with the error
        raise ConflictError(f"A ClusterTemplate with UUID {template.uuid} already exists.") from None
    return template


def is_referenced(session: Session, template_uuid: str) -> bool:
    return bool(session.scalar(select(exists().where(Cluster.cluster_template_id == template_uuid))))


def delete(session: Session, template: ClusterTemplate) -> None:
    session.delete(template)
    session.flush()
