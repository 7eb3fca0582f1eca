"""Federation queries, always scoped to the caller's project (Magnum has no all-projects rule for them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, Federation
from jeroboam.db.repositories.base import find_one, paginate
from jeroboam.domain.paging import PageRequest

RESOURCE = "Federation"
AMBIGUOUS = "Multiple federations exist with same name. Please use the federation uuid instead."
CLUSTER_AMBIGUOUS = "Multiple clusters exist with same name. Please use the cluster uuid instead."


def visible(context: RequestContext) -> Select[Federation]:
    return select(Federation).where(Federation.project_id == context.project_id)


def list_visible(session: Session, context: RequestContext, page: PageRequest) -> Sequence[Federation]:
    return paginate(session, visible(context), Federation, page, resource=RESOURCE)


def get_visible(session: Session, context: RequestContext, ident: str) -> Federation:
    return find_one(session, visible(context), Federation, ident, resource=RESOURCE, ambiguous=AMBIGUOUS)


def get_cluster(session: Session, context: RequestContext, ident: str) -> Cluster:
    """A cluster of the caller's project by uuid or name (host or member of a federation)."""
    stmt = select(Cluster).where(Cluster.project_id == context.project_id)
    return find_one(session, stmt, Cluster, ident, resource="Cluster", ambiguous=CLUSTER_AMBIGUOUS)


def add(session: Session, values: dict[str, Any]) -> Federation:
    federation = Federation(**values)
    session.add(federation)
    session.flush()
    return federation


def delete(session: Session, federation: Federation) -> None:
    session.delete(federation)
    session.flush()
