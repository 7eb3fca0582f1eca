"""Pagination, sorting and name-or-uuid lookup shared by every repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import JSON, ColumnElement, Select, and_, inspect, or_
from sqlalchemy.orm import Session

from jeroboam.domain.identifiers import canonical_uuid, is_uuid_like
from jeroboam.errors import AmbiguousNameError, InvalidFieldError, InvalidInputError, NotFoundError

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    marker: str | None = None
    sort_key: str = "id"
    sort_dir: Literal["asc", "desc"] = "asc"


def sortable_columns(model: type[Any]) -> frozenset[str]:
    """Column names a list may sort by. JSON columns have no order on every backend (PostgreSQL
    refuses ``ORDER BY`` on ``json``), so sorting by ``labels`` and the like is a 400, not a 500."""
    return frozenset(column.key for column in inspect(model).columns if not isinstance(column.type, JSON))


def check_sort_key(model: type[Any], sort_key: str) -> None:
    if sort_key not in sortable_columns(model):
        raise InvalidInputError(f'The sort_key value "{sort_key}" is an invalid field for sorting')


def _order_and_after(
    model: type[Any], page: PageRequest, marker_row: Any | None
) -> tuple[list[Any], ColumnElement[bool] | None]:
    """ORDER BY and the keyset condition 'after the marker'. NULLs sort last ascending and
    first descending on every backend, with ``id`` as the tie-breaker."""
    column = getattr(model, page.sort_key)
    ident = model.id
    nullable = inspect(model).columns[page.sort_key].nullable and page.sort_key != "id"
    asc = page.sort_dir == "asc"
    order: list[Any] = []
    if nullable:
        order.append(column.is_(None).asc() if asc else column.is_(None).desc())
    order += [column.asc(), ident.asc()] if asc else [column.desc(), ident.desc()]
    if marker_row is None:
        return order, None
    value = getattr(marker_row, page.sort_key)
    mid = marker_row.id
    if page.sort_key == "id":
        return order, (ident > mid) if asc else (ident < mid)
    if value is None:
        after = (
            and_(column.is_(None), ident > mid)
            if asc
            else or_(and_(column.is_(None), ident < mid), column.is_not(None))
        )
    elif asc:
        after = or_(column > value, and_(column == value, ident > mid), column.is_(None))
    else:
        after = or_(and_(column.is_not(None), column < value), and_(column == value, ident < mid))
    return order, after


def paginate(
    session: Session,
    stmt: Select[Any],
    model: type[T],
    page: PageRequest,
    *,
    resource: str,
) -> Sequence[T]:
    """One page of ``stmt``; the marker must be a uuid of a row ``stmt`` can see."""
    check_sort_key(model, page.sort_key)
    marker_row = None
    if page.marker is not None:
        if not is_uuid_like(page.marker):
            raise InvalidFieldError(
                "marker",
                page.marker,
                f"unable to convert to uuid. Error: Expected a uuid but received {page.marker}.",
            )
        marker_row = session.scalars(
            stmt.where(model.uuid == canonical_uuid(page.marker))  # type: ignore[attr-defined]
        ).first()
        if marker_row is None:
            raise NotFoundError(f"{resource} {page.marker} could not be found.")
    order, after = _order_and_after(model, page, marker_row)
    if after is not None:
        stmt = stmt.where(after)
    return session.scalars(stmt.order_by(*order).limit(page.limit)).all()


def find_one(
    session: Session,
    stmt: Select[Any],
    model: type[T],
    ident: str,
    *,
    resource: str,
    ambiguous: str,
) -> T:
    """Look ``ident`` up as a uuid when it looks like one, else as an exact name."""
    if is_uuid_like(ident):
        rows = session.scalars(stmt.where(model.uuid == canonical_uuid(ident)).limit(1)).all()  # type: ignore[attr-defined]
    else:
        rows = session.scalars(stmt.where(model.name == ident).limit(2)).all()  # type: ignore[attr-defined]
        if len(rows) > 1:
            raise AmbiguousNameError(ambiguous)
    if not rows:
        raise NotFoundError(f"{resource} {ident} could not be found.")
    found: T = rows[0]
    return found
