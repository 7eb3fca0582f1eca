"""Quota rows: one hard limit per (project, resource); pages are keyed by the integer ``id``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jeroboam.db.models import Quota, utcnow
from jeroboam.db.repositories.base import _order_and_after, check_sort_key
from jeroboam.domain.identifiers import SQL_INT_MAX
from jeroboam.domain.paging import PageRequest
from jeroboam.errors import ConflictError, InvalidFieldError, NotFoundError


def not_found(project_id: str, resource: str) -> NotFoundError:
    return NotFoundError(f"Quota could not be found: project_id {project_id} resource {resource}.")


def already_exists(project_id: str, resource: str) -> ConflictError:
    return ConflictError(f"Quota for project {project_id} already exists for resource {resource}.")


def visible(project_id: str | None, *, all_projects: bool) -> Select[Quota]:
    stmt = select(Quota)
    if all_projects:
        return stmt
    return stmt.where(Quota.project_id == project_id)


def list_page(session: Session, page: PageRequest, project_id: str | None, *, all_projects: bool) -> Sequence[Quota]:
    """One page of quotas; the marker is the integer ``id`` of a row the caller can list."""
    check_sort_key(Quota, page.sort_key)
    stmt = visible(project_id, all_projects=all_projects)
    marker_row = None
    if page.marker is not None:
        try:
            marker_id = int(page.marker)
        except ValueError:
            raise InvalidFieldError("marker", page.marker, "unable to convert to int") from None
        # An id no INTEGER column can hold names no row (and must not reach the database).
        in_range = 0 < marker_id <= SQL_INT_MAX
        marker_row = session.scalars(stmt.where(Quota.id == marker_id)).first() if in_range else None
        if marker_row is None:
            raise NotFoundError(f"Quota could not be found: quota id {marker_id}.")
    order, after = _order_and_after(Quota, page, marker_row)
    if after is not None:
        stmt = stmt.where(after)
    return session.scalars(stmt.order_by(*order).limit(page.limit)).all()


def find(session: Session, project_id: str, resource: str) -> Quota | None:
    return session.scalars(select(Quota).where(Quota.project_id == project_id, Quota.resource == resource)).first()


def get(session: Session, project_id: str, resource: str) -> Quota:
    quota = find(session, project_id, resource)
    if quota is None:
        raise not_found(project_id, resource)
    return quota


def get_for_update(session: Session, project_id: str, resource: str) -> Quota:
    """The row, locked until the transaction ends (a no-op on SQLite, which locks the database)."""
    stmt = select(Quota).where(Quota.project_id == project_id, Quota.resource == resource).with_for_update()
    quota = session.scalars(stmt).first()
    if quota is None:
        raise not_found(project_id, resource)
    return quota


def add(session: Session, project_id: str, resource: str, hard_limit: int) -> Quota:
    """A new row; a row for the same (project, resource) is a conflict, even one added concurrently."""
    if find(session, project_id, resource) is not None:
        raise already_exists(project_id, resource)
    quota = Quota(project_id=project_id, resource=resource, hard_limit=hard_limit)
    session.add(quota)
    try:
        session.flush()
    except IntegrityError:  # the transaction is lost anyway: the error ends the unit of work
        raise already_exists(project_id, resource) from None
    return quota


def set_hard_limit(session: Session, quota: Quota, hard_limit: int) -> Quota:
    quota.hard_limit = hard_limit
    quota.updated_at = utcnow()
    session.flush()
    return quota


def delete(session: Session, quota: Quota) -> None:
    session.delete(quota)
    session.flush()


_HARD_LIMIT = select(Quota.__table__.c.hard_limit).where(
    Quota.__table__.c.project_id == bindparam("project"), Quota.__table__.c.resource == bindparam("resource")
)


def hard_limit(session: Session, project_id: str, resource: str) -> int | None:
    """The project's explicit limit for ``resource``, or None when it has no quota row."""
    value = session.connection().execute(_HARD_LIMIT, {"project": project_id, "resource": resource}).scalar()
    return None if value is None else int(value)
