"""Federation use cases (reference §3.9).

Upstream Magnum answers 202 and stores nothing; Jeroboam stores federations as records of a
host cluster, member clusters and properties, with no backend action, so each accepted change
is complete at once (see docs/compatibility.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from jeroboam.context import RequestContext
from jeroboam.db.models import Federation
from jeroboam.db.repositories import federations as repo
from jeroboam.db.session import Database
from jeroboam.domain.identifiers import canonical_uuid, is_uuid_like, new_uuid
from jeroboam.domain.paging import PageRequest
from jeroboam.domain.templates import generate_name
from jeroboam.errors import ConflictError, InvalidInputError, NotFoundError
from jeroboam.policy import Policy

CREATE_COMPLETE = "CREATE_COMPLETE"
UPDATE_COMPLETE = "UPDATE_COMPLETE"
STATUSES = tuple(
    f"{action}_{state}" for action in ("CREATE", "UPDATE", "DELETE") for state in ("IN_PROGRESS", "FAILED", "COMPLETE")
)
CREATED_REASON = "CREATE completed successfully"
UPDATED_REASON = "UPDATE completed successfully"
MEMBERS_PATH = "/member_ids"

Operations = list[dict[str, Any]]
Members = list[str]
# Turns the stored federation and the (membership-resolved) JSON-patch into validated changes.
ComputeChanges = Callable[[Federation, Operations], dict[str, Any]]


def target(federation: Federation) -> dict[str, object]:
    return {"project_id": federation.project_id}


def check_properties(properties: dict[str, Any] | None) -> None:
    if properties is None:
        raise InvalidInputError("Please specify a `properties` dict for the federation.")
    if properties.get("dns-zone") is None:
        raise InvalidInputError("No DNS zone specified. Please specify a `dns-zone`.")


def already_member(ident: str, federation_name: str | None) -> ConflictError:
    return ConflictError(f"A cluster with UUID {ident} is already a member of the federation {federation_name}.")


class FederationService:
    def __init__(self, db: Database, policy: Policy) -> None:
        self.db = db
        self.policy = policy

    # -- reads -----------------------------------------------------------------------------
    def list(self, context: RequestContext, page: PageRequest, *, detail: bool = False) -> Sequence[Federation]:
        self.policy.authorize("federation:detail" if detail else "federation:get_all", context)
        with self.db.transaction() as session:
            return repo.list_visible(session, context, page)

    def get(self, context: RequestContext, ident: str) -> Federation:
        with self.db.transaction() as session:
            federation = repo.get_visible(session, context, ident)
        self.policy.authorize("federation:get", context, target(federation))
        return federation

    # -- writes ----------------------------------------------------------------------------
    def create(self, context: RequestContext, values: dict[str, Any]) -> Federation:
        """``values`` are the validated body; uuid, status and status_reason are the server's."""
        self.policy.authorize("federation:create", context)
        with self.db.transaction() as session:
            host = self._host_cluster(session, context, values.get("hostcluster_id"))
            properties = values.get("properties")
            check_properties(properties)
            name = values.get("name") or generate_name("federation")
            members = self._resolve_members(session, context, name, [], values.get("member_ids") or [])
            return repo.add(
                session,
                {
                    "uuid": new_uuid(),
                    "name": name,
                    "project_id": context.project_id or "",
                    "hostcluster_id": host,
                    "member_ids": members,
                    "properties": properties,
                    "status": CREATE_COMPLETE,
                    "status_reason": CREATED_REASON,
                },
            )

    def update(
        self,
        context: RequestContext,
        ident: str,
        operations: Operations,
        compute_changes: ComputeChanges,
    ) -> Federation:
        """Apply a JSON-patch. ``add``/``remove`` on ``/member_ids`` with one cluster as the value
        join or unjoin that cluster, as Magnum's federation PATCH does."""
        with self.db.transaction() as session:
            federation = repo.get_visible(session, context, ident)
            self.policy.authorize("federation:update", context, target(federation))
            operations = self._membership(session, context, federation, operations)
            changes = compute_changes(federation, operations)
            if "hostcluster_id" in changes:
                changes["hostcluster_id"] = self._host_cluster(session, context, changes["hostcluster_id"])
            if "properties" in changes:
                check_properties(changes["properties"])
            if "member_ids" in changes:
                changes["member_ids"] = self._resolve_members(
                    session, context, federation.name, federation.member_ids or [], changes["member_ids"] or []
                )
            for name, value in changes.items():
                setattr(federation, name, value)
            federation.status = UPDATE_COMPLETE
            federation.status_reason = UPDATED_REASON
            session.flush()
            return federation

    def delete(self, context: RequestContext, ident: str) -> None:
        with self.db.transaction() as session:
            federation = repo.get_visible(session, context, ident)
            self.policy.authorize("federation:delete", context, target(federation))
            repo.delete(session, federation)

    # -- helpers ---------------------------------------------------------------------------
    def _host_cluster(self, session: Session, context: RequestContext, ident: Any) -> str:
        if not ident:
            raise InvalidInputError("No hostcluster specified. Please specify a hostcluster_id.")
        return repo.get_cluster(session, context, str(ident)).uuid

    def _resolve_members(
        self,
        session: Session,
        context: RequestContext,
        federation_name: str | None,
        current: Members,
        wanted: Members,
    ) -> Members:
        """Canonical uuids of ``wanted``: clusters that are already members are kept as they are
        (even if deleted since); new ones must be clusters of the caller's project."""
        members: Members = []
        for ident in wanted:
            uuid = ident if ident in current else repo.get_cluster(session, context, str(ident)).uuid
            if uuid in members:
                raise already_member(uuid, federation_name)
            members.append(uuid)
        return members

    def _membership(
        self, session: Session, context: RequestContext, federation: Federation, operations: Operations
    ) -> Operations:
        """Rewrite join (``add``) and unjoin (``remove`` with a value) of ``/member_ids`` into
        ``replace`` operations carrying the whole new member list."""
        members = [*(federation.member_ids or [])]
        rewritten: Operations = []
        for operation in operations:
            op, value = operation["op"], operation.get("value")
            if operation["path"] != MEMBERS_PATH or op not in ("add", "remove") or value is None:
                rewritten.append(operation)
                continue
            ident = str(value)
            if op == "add":
                uuid = repo.get_cluster(session, context, ident).uuid
                if uuid in members:
                    raise already_member(ident, federation.name)
                members.append(uuid)
            else:
                members.remove(self._member_of(session, context, federation, members, ident))
            rewritten.append({"op": "replace", "path": MEMBERS_PATH, "value": [*members]})
        return rewritten

    def _member_of(
        self, session: Session, context: RequestContext, federation: Federation, members: Members, ident: str
    ) -> str:
        """The member ``ident`` names (a uuid, or the name of a cluster of the project)."""
        candidate = canonical_uuid(ident) if is_uuid_like(ident) else ident
        if candidate in members:
            return candidate
        if not is_uuid_like(ident):
            try:
                uuid = repo.get_cluster(session, context, ident).uuid
            except NotFoundError:
                uuid = None
            if uuid in members and uuid is not None:
                return uuid
        raise NotFoundError(f"Cluster {ident} is not a member of the federation {federation.name}.")
