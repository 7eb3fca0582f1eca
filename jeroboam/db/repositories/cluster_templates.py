"""Cluster template queries: a project's own templates plus public, non-hidden ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, ClusterTemplate
from jeroboam.db.repositories.base import PageRequest, find_one, paginate
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
