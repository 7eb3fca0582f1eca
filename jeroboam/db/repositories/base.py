"""Pagination, sorting and name-or-uuid lookup shared by every repository."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import JSON, ColumnElement, Select, and_, bindparam, inspect, or_, select
from sqlalchemy.orm import Session

from jeroboam.domain.identifiers import canonical_uuid, is_uuid_like
from jeroboam.domain.paging import PageRequest
from jeroboam.errors import AmbiguousNameError, InvalidFieldError, InvalidInputError, NotFoundError

T = TypeVar("T")
# A named tuple of the columns a read selected (``PageStatements``); fields are read by name.
Record: TypeAlias = Any


_SORTABLE: dict[type[Any], frozenset[str]] = {}


def sortable_columns(model: type[Any]) -> frozenset[str]:
    """Column names a list may sort by. JSON columns have no order on every backend (PostgreSQL
    refuses ``ORDER BY`` on ``json``), so sorting by ``labels`` and the like is a 400, not a 500."""
    found = _SORTABLE.get(model)
    if found is None:
        found = _SORTABLE[model] = frozenset(
            column.key for column in inspect(model).columns if not isinstance(column.type, JSON)
        )
    return found


def check_sort_key(model: type[Any], sort_key: str) -> None:
    if sort_key not in sortable_columns(model):
        raise InvalidInputError(f'The sort_key value "{sort_key}" is an invalid field for sorting')


def _keyset(
    column: Any, ident: Any, *, nullable: bool, asc: bool, marker: tuple[Any, Any, bool] | None
) -> tuple[list[Any], ColumnElement[bool] | None]:
    """ORDER BY and the keyset condition 'after the marker' (``marker`` is the marker's sort
    value, its id, and whether that value is NULL; literals or bound parameters). NULLs sort
    last ascending and first descending on every backend, with ``id`` as the tie-breaker."""
    order: list[Any] = []
    if nullable:
        order.append(column.is_(None).asc() if asc else column.is_(None).desc())
    order += [column.asc(), ident.asc()] if asc else [column.desc(), ident.desc()]
    if marker is None:
        return order, None
    value, mid, value_is_null = marker
    if column is ident:
        return order, (ident > mid) if asc else (ident < mid)
    if value_is_null:
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


def _order_and_after(
    model: type[Any], page: PageRequest, marker_row: Any | None
) -> tuple[list[Any], ColumnElement[bool] | None]:
    """``_keyset`` for an ORM select of ``model`` and a marker row read beforehand."""
    column = getattr(model, page.sort_key)
    nullable = inspect(model).columns[page.sort_key].nullable and page.sort_key != "id"
    marker = None
    if marker_row is not None:
        value = getattr(marker_row, page.sort_key)
        marker = (value, marker_row.id, value is None)
    return _keyset(
        model.id if page.sort_key == "id" else column,
        model.id,
        nullable=nullable,
        asc=page.sort_dir == "asc",
        marker=marker,
    )


class PageStatements:
    """Pages of one table's rows through prebuilt Core statements, for the hottest reads.

    Building a SQLAlchemy statement and its cache key costs more than running it on SQLite, so
    each statement *shape* — who may see (``scope``), which columns, sort key and direction,
    and the kind of marker — is built once, with every value a bound parameter: ``:scope`` (the
    project or user the scope filters on), ``:limit``, ``:marker_id`` and ``:marker_value``.

    Rows come back as named tuples of the selected columns: reading a field of one costs a tenth
    of reading it from a SQLAlchemy ``Row``, and a page's rendering reads every field.
    """

    def __init__(self, table: Any, model: type[Any], scopes: dict[str, Callable[[Any], ColumnElement[bool]]]) -> None:
        self.table = table
        self.model = model
        self.scopes = scopes  # scope name -> the WHERE clause, using bindparam("scope")
        self._built: dict[tuple[Any, ...], Select[Any]] = {}  # shape -> statement
        self._records: dict[tuple[str, ...], type[tuple[Any, ...]]] = {}  # column keys -> named tuple

    def _as_records(self, keys: tuple[str, ...], rows: Any) -> list[Record]:
        record = self._records.get(keys)
        if record is None:
            record = self._records[keys] = namedtuple(f"{self.model.__name__}Record", keys)
        make = tuple.__new__
        return [make(record, row) for row in rows]

    def _where(self, stmt: Select[Any], scope: str | None) -> Select[Any]:
        return stmt if scope is None else stmt.where(self.scopes[scope](self.table))

    def page(
        self, session: Session, columns: Sequence[Any], scope: str | None, owner: Any, page: PageRequest,
        *, resource: str,
    ) -> Sequence[Record]:  # fmt: skip
        """One page of rows of ``columns`` in ``scope`` (None: every row)."""
        check_sort_key(self.model, page.sort_key)
        connection = session.connection()
        params: dict[str, Any] = {"scope": owner, "limit": page.limit}
        marker_kind = None
        if page.marker is not None:
            if not is_uuid_like(page.marker):
                raise InvalidFieldError(
                    "marker",
                    page.marker,
                    f"unable to convert to uuid. Error: Expected a uuid but received {page.marker}.",
                )
            marker_key: tuple[Any, ...] = ("marker", scope, page.sort_key)
            stmt = self._built.get(marker_key)
            if stmt is None:
                t = self.table
                stmt = self._built[marker_key] = self._where(
                    select(t.c.id, t.c[page.sort_key]).where(t.c.uuid == bindparam("marker")), scope
                ).limit(1)
            found = connection.execute(stmt, {**params, "marker": canonical_uuid(page.marker)}).first()
            if found is None:
                raise NotFoundError(f"{resource} {page.marker} could not be found.")
            params["marker_id"], params["marker_value"] = found[0], found[1]
            marker_kind = "null" if found[1] is None else "value"
        keys = tuple(c.key for c in columns)
        key = (keys, scope, page.sort_key, page.sort_dir, marker_kind)
        stmt = self._built.get(key)
        if stmt is None:
            t = self.table
            column = t.c[page.sort_key]
            nullable = bool(column.nullable) and page.sort_key != "id"
            marker: tuple[Any, Any, bool] | None = None
            if marker_kind is not None:
                marker = (bindparam("marker_value", type_=column.type), bindparam("marker_id"), marker_kind == "null")
            order, after = _keyset(column, t.c.id, nullable=nullable, asc=page.sort_dir == "asc", marker=marker)
            stmt = self._where(select(*columns), scope)
            if after is not None:
                stmt = stmt.where(after)
            stmt = self._built[key] = stmt.order_by(*order).limit(bindparam("limit"))
        return self._as_records(keys, connection.execute(stmt, params))

    def one(
        self, session: Session, columns: Sequence[Any], scope: str | None, owner: Any, ident: str,
        *, resource: str, ambiguous: str,
    ) -> Record:  # fmt: skip
        """The row ``ident`` names (uuid, else exact name) in ``scope``, as ``find_one`` finds it."""
        by_uuid = is_uuid_like(ident)
        keys = tuple(c.key for c in columns)
        key = ("one", keys, scope, by_uuid)
        stmt = self._built.get(key)
        if stmt is None:
            t = self.table
            stmt = self._where(select(*columns), scope)
            stmt = (
                stmt.where(t.c.uuid == bindparam("ident")).limit(1)
                if by_uuid
                else stmt.where(t.c.name == bindparam("ident")).limit(2)
            )
            self._built[key] = stmt
        value = canonical_uuid(ident) if by_uuid else ident
        rows = self._as_records(keys, session.connection().execute(stmt, {"scope": owner, "ident": value}))
        found: Record = _only(rows, ident, resource=resource, ambiguous=ambiguous)
        return found


def _marker_row(session: Session, stmt: Select[Any], model: type[Any], page: PageRequest, resource: str) -> Any:
    """The marker's ``id`` and sort value, looked up among the rows ``stmt`` can see."""
    if page.marker is None:
        return None
    if not is_uuid_like(page.marker):
        raise InvalidFieldError(
            "marker",
            page.marker,
            f"unable to convert to uuid. Error: Expected a uuid but received {page.marker}.",
        )
    columns = [model.id] if page.sort_key == "id" else [model.id, getattr(model, page.sort_key)]
    found = session.execute(
        stmt.with_only_columns(*columns).where(model.uuid == canonical_uuid(page.marker)).limit(1)
    ).first()
    if found is None:
        raise NotFoundError(f"{resource} {page.marker} could not be found.")
    return found


def _page(session: Session, stmt: Select[Any], model: type[Any], page: PageRequest, resource: str) -> Select[Any]:
    check_sort_key(model, page.sort_key)
    order, after = _order_and_after(model, page, _marker_row(session, stmt, model, page, resource))
    if after is not None:
        stmt = stmt.where(after)
    return stmt.order_by(*order).limit(page.limit)


def paginate(
    session: Session,
    stmt: Select[Any],
    model: type[T],
    page: PageRequest,
    *,
    resource: str,
) -> Sequence[T]:
    """One page of ``stmt`` (a select of ``model``); the marker must be a uuid of a row ``stmt``
    can see."""
    return session.scalars(_page(session, stmt, model, page, resource)).all()


def _by_ident(stmt: Select[Any], model: type[Any], ident: str) -> Select[Any]:
    """A uuid-like ``ident`` is looked up by uuid, anything else by exact name (two rows at most:
    enough to tell an ambiguous name)."""
    if is_uuid_like(ident):
        return stmt.where(model.uuid == canonical_uuid(ident)).limit(1)
    return stmt.where(model.name == ident).limit(2)


def _only(rows: Sequence[Any], ident: str, *, resource: str, ambiguous: str) -> Any:
    if len(rows) > 1:
        raise AmbiguousNameError(ambiguous)
    if not rows:
        raise NotFoundError(f"{resource} {ident} could not be found.")
    return rows[0]


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
    found: T = _only(
        session.scalars(_by_ident(stmt, model, ident)).all(), ident, resource=resource, ambiguous=ambiguous
    )
    return found
