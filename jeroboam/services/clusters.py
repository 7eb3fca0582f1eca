"""Cluster use cases (reference §3.2): validate → authorize → quota → write the desired spec and
an operation row in ONE transaction → wake a conductor → notify.

Every accepted action goes through ``operations.accept`` (the transition table), in the same
transaction as the rows it changes, and is committed before the caller answers 202.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, NodeGroup
from jeroboam.db.repositories import clusters as repo
from jeroboam.db.repositories import nodegroups as nodegroups_repo
from jeroboam.db.repositories.cluster_templates import TemplateRecord
from jeroboam.db.session import Database
from jeroboam.domain import autoscaling, states
from jeroboam.domain.identifiers import canonical_uuid, new_uuid
from jeroboam.domain.operations import NodeCountUpdate, Resize, Upgrade
from jeroboam.domain.paging import PageRequest
from jeroboam.domain.specs import MASTER, WORKER, NodeDemand, TemplateResources, canonical_coe
from jeroboam.domain.states import Action, Status
from jeroboam.domain.templates import check_docker_volume, generate_name
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from jeroboam.observability import logs
from jeroboam.policy import Policy
from jeroboam.rpc.notifications import Notifier
from jeroboam.rpc.wakeup import Waker
from jeroboam.services import capacity, node_removal
from jeroboam.services.announcer import Announcer
from jeroboam.services.cluster_rules import (
    DEFAULT_MASTER,
    DEFAULT_WORKER,
    HEALTH_FIELDS,
    UPDATABLE,
    Room,
    autoscaler_labels_only,
    check_master_size,
    check_not_deleting,
    cluster_labels,
    default_nodegroup,
    default_nodegroup_of,
    label_count,
    mark,
    target,
)
from jeroboam.services.cluster_templates import ClusterTemplateService
from jeroboam.services.cluster_views import ClusterPatch, ClusterView, read_views
from jeroboam.services.operations import accept, force_running_delete
from jeroboam.services.quotas import QuotaService
from jeroboam.services.resource_lookup import NullLookup
from jeroboam.services.template_resources import TemplateResourceChecker

log = logging.getLogger(__name__)


class ClusterService:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        drivers: DriverRegistry,
        settings: Settings,
        waker: Waker,
        notifier: Notifier,
        *,
        templates: ClusterTemplateService,
        quotas: QuotaService,
        resources: TemplateResourceChecker | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.drivers = drivers
        self.settings = settings
        self.templates = templates
        self.quotas = quotas
        self.resources = resources or TemplateResourceChecker(NullLookup())
        self.announcer = Announcer(waker, notifier)

    # -- reads -----------------------------------------------------------------------------
    def list(self, context: RequestContext, page: PageRequest, *, detail: bool = False) -> list[ClusterView]:
        self.policy.authorize("cluster:detail" if detail else "cluster:get_all", context)
        rule = "cluster:detail_all_projects" if detail else "cluster:get_all_all_projects"
        all_projects = self.policy.sees_all(context, rule)
        with self.db.read() as session:
            rows = repo.list_rows(session, context, page, all_projects=all_projects, detail=detail)
            return read_views(session, rows, detail=detail)

    def get(self, context: RequestContext, ident: str) -> ClusterView:
        all_projects = self.policy.sees_all(context, "cluster:get_one_all_projects")
        with self.db.read() as session:
            row = repo.get_row(session, context, ident, all_projects=all_projects)
            self.policy.authorize("cluster:get", context, target(row))
            return read_views(session, [row], detail=True)[0]

    # -- create ----------------------------------------------------------------------------
    def create(
        self, context: RequestContext, values: Mapping[str, Any], *, template_missing_is_invalid: bool
    ) -> Cluster:
        """``values`` are the validated body (absent and null fields left out).

        Checks run in Magnum's order, so a request with several faults gets Magnum's answer.
        """
        project_id = context.project_id or ""
        with self.db.read() as session:  # one snapshot: the template and the room under the quota
            template = self._template(
                context, values["cluster_template_id"], missing_is_invalid=template_missing_is_invalid, session=session
            )
            room = self._room(session, project_id)  # checked again, under the project's lock, before the insert
        driver = self.drivers.serving(template.driver, template.coe, template.server_type)
        docker_volume_size = values.get("docker_volume_size") or template.docker_volume_size
        check_docker_volume(docker_volume_size, template.docker_storage_driver)
        master_count = int(values.get("master_count", 1))
        check_master_size(master_count)
        self.policy.authorize("cluster:create", context)
        room.check()
        if template.hidden and not context.is_admin:
            raise PermissionDeniedError("Not authorized.")

        flavor_id = values.get("flavor_id") or template.flavor_id
        master_flavor_id = values.get("master_flavor_id") or template.master_flavor_id
        keypair = values.get("keypair") or template.keypair_id
        fixed_network = values.get("fixed_network") or template.fixed_network
        fixed_subnet = values.get("fixed_subnet") or template.fixed_subnet
        floating_ip_enabled = values.get("floating_ip_enabled", template.floating_ip_enabled)
        master_lb_enabled = values.get("master_lb_enabled", template.master_lb_enabled)
        _, checked = self.resources.check(
            context,
            driver,
            TemplateResources(
                coe=canonical_coe(template.coe),
                server_type=template.server_type,
                image_id=template.image_id,
                flavor_id=flavor_id,
                master_flavor_id=master_flavor_id,
                external_network_id=template.external_network_id,
                fixed_network=fixed_network,
                fixed_subnet=fixed_subnet,
                keypair_id=keypair,
                volume_driver=template.volume_driver,
                docker_volume_size=docker_volume_size,
                docker_storage_driver=template.docker_storage_driver,
            ),
            check_keypair=True,
        )
        flavor_id, master_flavor_id = checked.flavor_id, checked.master_flavor_id
        if master_count > 1 and not master_lb_enabled:
            raise InvalidInputError("master_count must be 1 when master_lb_enabled is False")
        labels = cluster_labels(template.labels or {}, values.get("labels"), merge=bool(values.get("merge_labels")))
        min_node_count = label_count(labels, "min_node_count") or 0
        max_node_count = label_count(labels, "max_node_count")
        node_count = int(values.get("node_count", 1))
        autoscaled = autoscaling.enabled(labels, template.labels or {})
        autoscaling.check_labels(labels)
        autoscaling.check_bounds(DEFAULT_WORKER, node_count, label_count(labels, "min_node_count"), max_node_count)
        uuid = canonical_uuid(values["uuid"]) if values.get("uuid") else new_uuid()
        logs.concerns_cluster(uuid)
        demand = ((master_flavor_id, master_count), (flavor_id, node_count))
        capacity.check_driver_capacity(driver, NodeDemand(project_id, None, demand, node_count))

        with self.db.transaction() as session:
            # First, before any read (MySQL's snapshot starts at the first read): concurrent
            # creates in a project must not both count the clusters and both fit the quota.
            repo.lock_project(session, project_id)
            if not repo.template_exists(session, template.uuid):  # deleted since it was looked up
                raise NotFoundError(f"ClusterTemplate {values['cluster_template_id']} could not be found.")
            self._room(session, project_id).check()
            capacity.check_node_quota(session, self.settings, project_id, master_count + node_count)
            # A uuid we made cannot be taken (and the insert's unique index would say so).
            if values.get("uuid") and repo.exists(session, uuid):
                raise ConflictError(f"A cluster with UUID {uuid} already exists.")
            cluster = Cluster(
                uuid=uuid,
                name=values.get("name") or generate_name("cluster"),
                project_id=project_id,
                user_id=context.user_id or "",
                cluster_template_id=template.uuid,
                keypair=keypair,
                docker_volume_size=docker_volume_size,
                labels=labels,
                master_flavor_id=master_flavor_id,
                flavor_id=flavor_id,
                discovery_url=values.get("discovery_url"),
                create_timeout=values.get("create_timeout", self.settings.cluster.create_timeout),
                fixed_network=fixed_network,
                fixed_subnet=fixed_subnet,
                floating_ip_enabled=bool(floating_ip_enabled),
                master_lb_enabled=bool(master_lb_enabled),
                health_status_reason={},
                node_addresses=[],
                master_addresses=[],
                conditions=[],
            )
            if autoscaled:  # the autoscaler looks at it once it is built (its pass reads only these)
                cluster.autoscale_at = datetime.now(UTC)
            request = {**values, "cluster_template_id": template.uuid, "uuid": uuid}
            operation = accept(session, self.settings, context, cluster, Action.CREATE, request, new=True)
            repo.add(session, cluster)  # with the operation: two inserts in one flush
            for name, role, count, flavor, minimum, maximum in (
                (DEFAULT_MASTER, MASTER, master_count, master_flavor_id, 1, None),
                (DEFAULT_WORKER, WORKER, node_count, flavor_id, min_node_count, max_node_count),
            ):
                # A new cluster's two default nodegroups cannot clash: both go in one flush.
                session.add(
                    default_nodegroup_of(cluster, name, role, count, flavor, minimum, template.image_id, maximum)
                )
            session.flush()
        self.announcer.accepted(cluster, Action.CREATE, operation)
        return cluster

    # -- update (PATCH) --------------------------------------------------------------------
    def update(
        self,
        context: RequestContext,
        ident: str,
        compute: Callable[[ClusterView], ClusterPatch],
        *,
        rollback: bool = False,
    ) -> Cluster:
        """Only ``node_count`` (the default worker's size) and the health fields may change.

        Health changes are saved at once (no operation); a node count goes through the
        transition table. Addressing ``/node_count`` with its current value retries a failed
        cluster and is a no-op otherwise.
        """
        operation = None
        with self.db.transaction() as session:
            cluster = repo.get_visible(
                session,
                context,
                ident,
                all_projects=self.policy.sees_all(context, "cluster:update_all_projects"),
                for_update=True,
            )
            self.policy.authorize("cluster:update", context, target(cluster))
            nodegroups = nodegroups_repo.for_cluster(session, cluster.uuid)
            labels = repo.template_labels(session, [cluster.cluster_template_id])
            patch = compute(ClusterView(cluster, nodegroups, labels.get(cluster.cluster_template_id, {})))
            refused = [
                name
                for name in patch.changes
                if name not in UPDATABLE and not (name == "labels" and autoscaler_labels_only(cluster, patch))
            ]
            if refused:
                raise InvalidInputError(f"cannot change cluster property(ies) {', '.join(refused)}.")
            if any(name in patch.changes for name in HEALTH_FIELDS):
                self.policy.authorize("cluster:update_health_status", context)
                if "health_status" in patch.changes:
                    cluster.health_status = patch.changes["health_status"]
                if "health_status_reason" in patch.changes:
                    cluster.health_status_reason = dict(patch.changes["health_status_reason"] or {})
            if "labels" in patch.changes:
                self._set_autoscaler_labels(session, cluster, dict(patch.changes["labels"] or {}), labels)
            retry = "node_count" in patch.addressed and cluster.status in states.FAILED
            if "node_count" in patch.changes or retry:
                worker = default_nodegroup(nodegroups, WORKER)
                if worker is None:
                    raise InvalidInputError(f"Cluster {cluster.uuid} has no default worker nodegroup to resize.")
                desired = patch.changes.get("node_count", worker.node_count)
                desired = 1 if desired is None else int(desired)
                self._check_growth(session, cluster, worker, desired)
                request = NodeCountUpdate(desired, worker.node_count, worker.uuid, rollback=rollback)
                operation = accept(
                    session, self.settings, context, cluster, Action.UPDATE, request, nodegroup_id=worker.uuid
                )
                worker.node_count = desired
                mark(worker, cluster.status)
            session.flush()
        if operation is not None:
            self.announcer.accepted(cluster, Action.UPDATE, operation)
        return cluster

    # -- delete ----------------------------------------------------------------------------
    def delete(self, context: RequestContext, ident: str, *, force: bool = False) -> Cluster:
        """From any state. A cluster already being deleted is left as it is (same answer), unless
        ``force`` asks to forget it even if its driver cannot delete it (operations record what
        may be left behind)."""
        operation = None
        with self.db.transaction() as session:
            cluster = repo.get_visible(
                session,
                context,
                ident,
                all_projects=self.policy.sees_all(context, "cluster:delete_all_projects"),
                for_update=True,
            )
            self.policy.authorize("cluster:delete", context, target(cluster))
            if force:
                self.policy.authorize("cluster:delete_force", context, target(cluster))
            if cluster.status == Status.DELETE_IN_PROGRESS and force:
                force_running_delete(session, cluster)
            elif cluster.status != Status.DELETE_IN_PROGRESS:
                request = {"uuid": cluster.uuid, **({"force": True} if force else {})}
                operation = accept(session, self.settings, context, cluster, Action.DELETE, request)
                for nodegroup in nodegroups_repo.for_cluster(session, cluster.uuid):
                    mark(nodegroup, Status.DELETE_IN_PROGRESS)
                session.flush()
        self.announcer.accepted(cluster, Action.DELETE, operation)
        return cluster

    # -- resize ----------------------------------------------------------------------------
    def resize(
        self,
        context: RequestContext,
        ident: str,
        node_count: int,
        nodes_to_remove: Sequence[str] = (),
        nodegroup_ident: str | None = None,
    ) -> Cluster:
        """Set one nodegroup's size (default: the default worker). Admins get no cross-project
        access here, as in Magnum."""
        with self.db.transaction() as session:
            cluster = repo.get_visible(session, context, ident, all_projects=False, for_update=True)
            self.policy.authorize("cluster:resize", context, target(cluster))
            nodegroup = self._nodegroup(session, cluster, nodegroup_ident)
            if nodegroup.role == MASTER:
                self._check_master_resize(session, cluster, nodegroup.node_count, node_count)
            elif node_count < nodegroup.min_node_count or (
                nodegroup.max_node_count is not None and node_count > nodegroup.max_node_count
            ):
                raise InvalidInputError(
                    f"Resizing {nodegroup.name} outside the allowed range: "
                    f"min_node_count = {nodegroup.min_node_count}, max_node_count = {nodegroup.max_node_count}"
                )
            self._check_growth(session, cluster, nodegroup, node_count)
            removal = node_removal.resolve(nodegroup.name, nodegroup.nodes or [], nodes_to_remove)
            request = Resize(node_count, nodegroup.node_count, nodegroup.uuid, tuple(removal))
            operation = accept(
                session, self.settings, context, cluster, Action.RESIZE, request, nodegroup_id=nodegroup.uuid
            )
            check_not_deleting(nodegroup)  # after the cluster's own refusal, which says more
            nodegroup.node_count = node_count
            mark(nodegroup, cluster.status)
            session.flush()
        self.announcer.accepted(cluster, Action.RESIZE, operation, nodegroup)
        return cluster

    # -- upgrade ---------------------------------------------------------------------------
    def upgrade(
        self,
        context: RequestContext,
        ident: str,
        template_ident: str,
        max_batch_size: int = 1,
        nodegroup_ident: str | None = None,
    ) -> Cluster:
        """Move the cluster (or one nodegroup) to a template's image, ``max_batch_size`` nodes
        at a time. A default nodegroup upgrades the whole cluster: its template changes and
        both default nodegroups take the new image; another nodegroup may only catch up with
        the cluster's current template."""
        all_projects = self.policy.sees_all(context, "cluster:upgrade_all_projects")
        with self.db.transaction() as session:
            found = repo.get_visible(session, context, ident, all_projects=all_projects)
            self.policy.authorize("cluster:upgrade", context, target(found))
        template = self.templates.get(context, template_ident)
        with self.db.transaction() as session:
            cluster = repo.lock(session, found.uuid)
            nodegroup = self._nodegroup(session, cluster, nodegroup_ident)
            invalid = "Cluster Template is not valid for upgrade: "
            if not nodegroup.is_default and template.uuid != cluster.cluster_template_id:
                raise ConflictError(
                    f"{invalid}Nodegroup {nodegroup.name} can be upgraded only to match cluster's template "
                    f"({cluster.cluster_template_id})."
                )
            current = repo.template(session, cluster.cluster_template_id)
            if current is not None:
                if canonical_coe(current.coe) != canonical_coe(template.coe):
                    raise ConflictError(f"{invalid}its coe {template.coe} differs from the cluster's ({current.coe}).")
                if current.driver and template.driver and current.driver != template.driver:
                    raise ConflictError(
                        f"{invalid}its driver {template.driver} differs from the cluster's ({current.driver})."
                    )
            request = Upgrade(
                cluster_template_id=template.uuid,
                previous_cluster_template_id=cluster.cluster_template_id,
                image_id=template.image_id,
                max_batch_size=max_batch_size,
                nodegroup=nodegroup.uuid,
            )
            operation = accept(
                session, self.settings, context, cluster, Action.UPGRADE, request, nodegroup_id=nodegroup.uuid
            )
            check_not_deleting(nodegroup)
            if nodegroup.is_default:
                cluster.cluster_template_id = template.uuid
                targets = [ng for ng in nodegroups_repo.for_cluster(session, cluster.uuid) if ng.is_default]
            else:
                targets = [nodegroup]
            for ng in targets:
                ng.image_id = template.image_id
                mark(ng, cluster.status)
            session.flush()
        self.announcer.accepted(cluster, Action.UPGRADE, operation, nodegroup)
        return cluster

    # -- helpers ---------------------------------------------------------------------------
    def _set_autoscaler_labels(
        self, session: Session, cluster: Cluster, labels: dict[str, Any], template_labels: Mapping[str, Any]
    ) -> None:
        """Autoscaler labels change at once, without an operation: the switch starts or stops the
        autoscaler's passes, and the bounds become the default worker's (checked against its size)."""
        autoscaling.check_labels(labels)
        worker = default_nodegroup(nodegroups_repo.for_cluster(session, cluster.uuid), WORKER)
        if worker is not None:
            minimum = label_count(labels, "min_node_count")
            maximum = label_count(labels, "max_node_count")
            autoscaling.check_bounds(worker.name, worker.node_count, minimum, maximum)
            worker.min_node_count = minimum or 0
            worker.max_node_count = maximum
        cluster.labels = labels
        if not autoscaling.enabled(labels, template_labels.get(cluster.cluster_template_id, {})):
            cluster.autoscale_at = None
        elif cluster.autoscale_at is None:
            cluster.autoscale_at = datetime.now(UTC)

    def _template(
        self, context: RequestContext, ident: str, *, missing_is_invalid: bool, session: Session | None = None
    ) -> TemplateRecord:
        try:
            return self.templates.get(context, ident, cross_project=False, session=session)
        except NotFoundError as exc:
            if missing_is_invalid:  # Magnum re-codes it to 400 up to microversion 1.9
                raise InvalidInputError(exc.message) from None
            raise

    def _room(self, session: Session, project_id: str) -> Room:
        """The project's clusters and its limit, read in one statement."""
        count, hard_limit = repo.count_and_limit(session, project_id)
        return Room(count, self.quotas.default_limit if hard_limit is None else hard_limit)

    def _nodegroup(self, session: Session, cluster: Cluster, ident: str | None) -> NodeGroup:
        if ident is not None:
            return nodegroups_repo.get_in_cluster(session, cluster.uuid, ident, for_update=True)
        found = default_nodegroup(nodegroups_repo.for_cluster(session, cluster.uuid), WORKER)
        if found is None:
            raise nodegroups_repo.not_found(DEFAULT_WORKER)
        return found

    def _check_growth(self, session: Session, cluster: Cluster, nodegroup: NodeGroup, node_count: int) -> None:
        template = repo.template(session, cluster.cluster_template_id)
        driver = self.drivers.serving(template.driver, template.coe, template.server_type) if template else None
        capacity.check_growth(session, self.settings, driver, cluster, nodegroup, node_count, template)

    def _check_master_resize(self, session: Session, cluster: Cluster, current: int, node_count: int) -> None:
        """The create rules (an odd number; more than one needs ``master_lb_enabled``), then the
        driver's answer, which says why when it cannot."""
        check_master_size(node_count)
        if node_count > 1 and not cluster.master_lb_enabled:
            raise InvalidInputError("master_count must be 1 when master_lb_enabled is False")
        template = repo.template(session, cluster.cluster_template_id)
        if template is None:
            raise InvalidInputError(f"The cluster template {cluster.cluster_template_id} no longer exists.")
        driver = self.drivers.serving(template.driver, template.coe, template.server_type)
        driver.check_master_resize(current, node_count)
