"""Container use cases: the bay-era ``/v1/containers`` (Magnum 1.x), run synchronously on the
bay's nodes through its driver (``drivers.base.ContainerDriver``), as upstream ran each call
against the bay's Docker API.

The row records what the container was created from, the node it was put on (``host``) and the
status the last action left; every answer shows the status the driver reads live (bounded in
time: a node or engine that is gone gives ``Error``/``Unknown`` with a reason, never a failure).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Container
from jeroboam.db.repositories import containers as repo
from jeroboam.db.repositories.containers import BayRecord
from jeroboam.db.session import Database
from jeroboam.domain.containers import (
    ACTIONS,
    CONTAINER_COES,
    EXPECTED_COE,
    STOPPED,
    UNKNOWN,
    Bay,
    ContainerRef,
    ContainerSpec,
    ContainerState,
    ExecResult,
)
from jeroboam.domain.identifiers import new_uuid
from jeroboam.domain.paging import PageRequest
from jeroboam.domain.specs import canonical_coe
from jeroboam.drivers.registry import ContainerDriver, DriverRegistry
from jeroboam.errors import ConflictError, DriverError, InvalidInputError, NotFoundError, ServiceUnavailableError
from jeroboam.policy import Policy

log = logging.getLogger(__name__)
PARALLEL_BAYS = 4
KUBERNETES = "kubernetes"
T = TypeVar("T")

Operations = list[dict[str, Any]]
# Turns the stored container and a JSON-patch into validated changes of stored fields.
ComputeChanges = Callable[["ContainerView", Operations], dict[str, Any]]


@dataclass(frozen=True)
class ContainerView:
    """A container as answered: its record and the live state."""

    uuid: str
    name: str | None
    project_id: str
    user_id: str
    bay_uuid: str
    image: str
    command: str | None
    memory: str | None
    environment: dict[str, str]
    host: str | None
    status: str
    status_reason: str
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def of(cls, row: Container, state: ContainerState) -> ContainerView:
        return cls(
            uuid=row.uuid,
            name=row.name,
            project_id=row.project_id,
            user_id=row.user_id,
            bay_uuid=row.bay_uuid,
            image=row.image,
            command=row.command,
            memory=row.memory,
            environment=dict(row.environment or {}),
            host=state.host or row.host,
            status=state.status,
            status_reason=state.reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def target(container: Container | ContainerView) -> dict[str, object]:
    return {"project_id": container.project_id, "user_id": container.user_id}


def ref(row: Container) -> ContainerRef:
    return ContainerRef(uuid=row.uuid, host=row.host, status=row.status or UNKNOWN)


def bay_of(record: BayRecord) -> Bay:
    return Bay(
        uuid=record.uuid,
        name=record.name or record.uuid,
        project_id=record.project_id,
        coe=canonical_coe(record.coe),
        labels=dict(record.labels),
    )


def check_coe(record: BayRecord) -> None:
    if record.coe not in CONTAINER_COES:
        raise InvalidInputError(f"Cannot fulfill request with a {record.coe} bay, expecting a {EXPECTED_COE} bay.")


def check_ready(record: BayRecord) -> None:
    """Containers need a bay whose last operation completed (``*_COMPLETE``)."""
    status = record.status or "UNKNOWN"
    if status.endswith("_COMPLETE") and status != "DELETE_COMPLETE":
        return
    reason = f" ({record.status_reason})" if record.status_reason else ""
    raise ConflictError(
        f"Bay {record.name or record.uuid} is {status}{reason}; containers need a bay whose status is "
        "CREATE_COMPLETE or UPDATE_COMPLETE."
    )


class ContainerService:
    def __init__(self, db: Database, policy: Policy, drivers: DriverRegistry, settings: Settings) -> None:
        self.db = db
        self.policy = policy
        self.drivers = drivers
        self.settings = settings

    # -- reads -----------------------------------------------------------------------------
    def list(
        self, context: RequestContext, page: PageRequest, *, bay_ident: str | None = None, detail: bool = False
    ) -> list[ContainerView]:
        self.policy.authorize("container:detail" if detail else "container:get_all", context)
        with self.db.read() as session:
            bay_uuid = repo.get_bay(session, context, bay_ident).uuid if bay_ident is not None else None
            rows = list(repo.list_visible(session, context, page, bay_uuid=bay_uuid))
            bays = repo.bays(session, {row.bay_uuid for row in rows})
        return self._views(rows, bays)

    def get(self, context: RequestContext, ident: str) -> ContainerView:
        with self.db.read() as session:
            row = repo.get_visible(session, context, ident)
            self.policy.authorize("container:get", context, target(row))
            bays = repo.bays(session, [row.bay_uuid])
        return self._views([row], bays)[0]

    def logs(self, context: RequestContext, ident: str) -> str:
        row, record, driver = self._usable(context, ident, "container:logs")
        return self._call(lambda: driver.container_logs(bay_of(record), ref(row)))

    # -- writes ----------------------------------------------------------------------------
    def create(self, context: RequestContext, values: dict[str, Any]) -> ContainerView:
        """``values`` is the validated body (image and bay_uuid present)."""
        self.policy.authorize("container:create", context)
        with self.db.read() as session:
            try:
                record = repo.get_bay(session, context, str(values["bay_uuid"]))
            except NotFoundError as exc:  # a field of the body: 400, as upstream
                raise InvalidInputError(exc.message) from None
        check_coe(record)
        check_ready(record)
        driver = self._driver(record)
        spec = ContainerSpec(
            uuid=new_uuid(),
            name=values.get("name") or "",
            image=values["image"],
            command=values.get("command"),
            memory=values.get("memory"),
            environment=dict(values.get("environment") or {}),
        )
        bay = bay_of(record)
        state = self._call(lambda: driver.create_container(bay, spec))
        try:
            with self.db.transaction() as session:
                row = repo.add(
                    session,
                    {
                        "uuid": spec.uuid,
                        "name": values.get("name"),
                        "project_id": context.project_id or record.project_id,
                        "user_id": context.user_id or "",
                        "bay_uuid": record.uuid,
                        "image": spec.image,
                        "command": spec.command,
                        "memory": spec.memory,
                        "environment": spec.environment,
                        "status": state.status or STOPPED,
                        "host": state.host,
                    },
                )
        except Exception:  # the bay went away meanwhile, or the database failed: leave nothing behind
            self._forget(driver, bay, ContainerRef(spec.uuid, state.host, state.status))
            raise
        return ContainerView.of(row, state)

    def update(
        self, context: RequestContext, ident: str, operations: Operations, compute_changes: ComputeChanges
    ) -> ContainerView:
        with self.db.transaction() as session:
            row = repo.get_visible(session, context, ident)
            self.policy.authorize("container:update", context, target(row))
            stored = ContainerState(row.status or UNKNOWN, host=row.host)
            changes = compute_changes(ContainerView.of(row, stored), operations)
            for name, value in changes.items():
                setattr(row, name, value)
            session.flush()
            bays = repo.bays(session, [row.bay_uuid])
        return self._views([row], bays)[0]

    def delete(self, context: RequestContext, ident: str) -> None:
        with self.db.read() as session:
            row = repo.get_visible(session, context, ident)
            self.policy.authorize("container:delete", context, target(row))
            record = repo.bays(session, [row.bay_uuid]).get(row.bay_uuid)
        if record is not None:
            driver = self._driver(record)
            self._call(lambda: driver.delete_container(bay_of(record), ref(row)))
        with self.db.transaction() as session:
            found = session.get(Container, row.id)
            if found is not None:
                repo.delete(session, found)

    def act(self, context: RequestContext, ident: str, action: str) -> ContainerView:
        if action not in ACTIONS:  # the router only routes known actions
            raise InvalidInputError(f"Unknown container action {action}.")
        row, record, driver = self._usable(context, ident, f"container:{action}")
        state = self._call(lambda: driver.container_action(bay_of(record), ref(row), action))
        with self.db.transaction() as session:
            found = session.get(Container, row.id)
            if found is None:
                raise NotFoundError(f"Container {ident} could not be found.")
            found.status = state.status
            if state.host:
                found.host = state.host
            session.flush()
            return ContainerView.of(found, state)

    def execute(self, context: RequestContext, ident: str, command: str) -> ExecResult:
        row, record, driver = self._usable(context, ident, "container:execute")
        return self._call(lambda: driver.execute_in_container(bay_of(record), ref(row), command))

    def refuse_kubernetes_objects(self, context: RequestContext, kind: str, bay_ident: str | None) -> None:
        """Pods, services and replication controllers (Magnum 1.x) need a Kubernetes bay; always raises."""
        record = None
        if bay_ident is not None:
            with self.db.read() as session:
                record = repo.get_bay(session, context, bay_ident)
        raise _refusal_for_kubernetes(kind, record)

    # -- helpers ---------------------------------------------------------------------------
    def _usable(self, context: RequestContext, ident: str, rule: str) -> tuple[Container, BayRecord, ContainerDriver]:
        """The container, its bay (a swarm bay that is ready) and the bay's driver."""
        with self.db.read() as session:
            row = repo.get_visible(session, context, ident)
            self.policy.authorize(rule, context, target(row))
            record = repo.bays(session, [row.bay_uuid]).get(row.bay_uuid)
        if record is None:
            raise NotFoundError(f"Bay {row.bay_uuid} could not be found.")
        check_coe(record)
        check_ready(record)
        return row, record, self._driver(record)

    def _driver(self, record: BayRecord) -> ContainerDriver:
        return self.drivers.containers(record.driver, record.coe, record.server_type)

    @staticmethod
    def _call(call: Callable[[], T]) -> T:
        """A driver call; a driver failure is the bay being unavailable (503) with the driver's words."""
        try:
            return call()
        except DriverError as exc:
            raise ServiceUnavailableError(str(exc)) from exc

    @staticmethod
    def _forget(driver: ContainerDriver, bay: Bay, container: ContainerRef) -> None:
        try:
            driver.delete_container(bay, container)
        except Exception:  # best effort: the original failure is what the user must see
            log.exception("could not remove container %s after a failed create", container.uuid)

    def _views(self, rows: Sequence[Container], bays: dict[str, BayRecord]) -> builtins.list[ContainerView]:
        """Each row with its live state: one driver round per bay, bays in parallel."""
        by_bay: dict[str, builtins.list[Container]] = {}
        for row in rows:
            by_bay.setdefault(row.bay_uuid, []).append(row)

        def observe(bay_uuid: str) -> dict[str, ContainerState]:
            members = by_bay[bay_uuid]
            record = bays.get(bay_uuid)
            if record is None:
                return {r.uuid: ContainerState(UNKNOWN, "its bay no longer exists", r.host) for r in members}
            try:
                driver = self._driver(record)
                return driver.observe_containers(bay_of(record), [ref(r) for r in members])
            except Exception as exc:  # an answer with a reason, never a failed list
                log.warning("could not observe containers of bay %s: %s", bay_uuid, exc)
                reason = f"the status could not be read: {getattr(exc, 'message', None) or exc}"
                return {r.uuid: ContainerState(UNKNOWN, reason, r.host) for r in members}

        keys = builtins.list(by_bay)
        if len(keys) <= 1:
            states = [observe(key) for key in keys]
        else:
            with ThreadPoolExecutor(max_workers=min(PARALLEL_BAYS, len(keys))) as pool:
                states = builtins.list(pool.map(observe, keys))
        seen: dict[str, ContainerState] = {}
        for found in states:
            seen.update(found)
        missing = ContainerState(UNKNOWN, "the driver did not report this container")
        return [ContainerView.of(row, seen.get(row.uuid, missing)) for row in rows]


def _refusal_for_kubernetes(kind: str, record: BayRecord | None) -> InvalidInputError:
    if record is not None and record.coe != KUBERNETES:
        return InvalidInputError(f"Cannot fulfill request with a {record.coe} bay, expecting a {KUBERNETES} bay.")
    return InvalidInputError(
        f"{kind} of a bay need the bay's Kubernetes API, which Jeroboam does not proxy (Magnum removed "
        "this API in Newton); use kubectl with the configuration from 'openstack coe cluster config'."
    )
