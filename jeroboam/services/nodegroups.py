"""Nodegroup use cases (reference §3.3): sets of nodes of one cluster, changed through the
cluster's transition table like every other action."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, NodeGroup
from jeroboam.db.repositories import clusters as clusters_repo
from jeroboam.db.repositories import nodegroups as repo
from jeroboam.db.session import Database
from jeroboam.domain.identifiers import new_uuid
from jeroboam.domain.paging import PageRequest
from jeroboam.domain.specs import MASTER, TemplateResources, canonical_coe
from jeroboam.domain.states import Action, Status
from jeroboam.errors import ConflictError, InvalidInputError, NotFoundError
from jeroboam.policy import Policy
from jeroboam.rpc.notifications import Notifier
from jeroboam.rpc.wakeup import Waker
from jeroboam.services.announcer import Announcer
from jeroboam.services.cluster_rules import check_not_deleting, cluster_labels, mark
from jeroboam.services.clusters import ClusterService
from jeroboam.services.operations import accept

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TAINT_KEYS = frozenset({"key", "value", "effect"})
# Kubelet rules for node labels a node may set on itself (NodeRestriction admission).
RESTRICTED_NAMESPACES = ("kubernetes.io", "k8s.io")
ALLOWED_PREFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")
ALLOWED_LABELS = (
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "kubernetes.io/arch",
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "node.kubernetes.io/windows-build",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
)
PATCHABLE = ("min_node_count", "max_node_count", "node_labels", "node_taints")


# -- pure rules ------------------------------------------------------------------------------------
def invalid(attribute: str, nodegroup: str, explanation: str) -> ConflictError:
    """Magnum answers invalid nodegroup input with 409 in this shape."""
    return ConflictError(f"{attribute} for {nodegroup} is invalid ({explanation}).")


def check_counts(name: str, node_count: int, min_node_count: int, max_node_count: int | None) -> None:
    if max_node_count is not None:
        if min_node_count > max_node_count:
            raise invalid(
                "max_node_count",
                name,
                f"min_node_count ({min_node_count}) should be less or equal to max_node_count ({max_node_count})",
            )
        if node_count > max_node_count:
            raise invalid(
                "max_node_count",
                name,
                f"node_count ({node_count}) should be less or equal to max_node_count ({max_node_count})",
            )
    if min_node_count > node_count:
        raise invalid(
            "min_node_count",
            name,
            f"min_node_count ({min_node_count}) should be less or equal to node_count ({node_count})",
        )


def _restricted(key: str) -> bool:
    prefix, slash, _ = key.partition("/")
    if not slash:
        return False
    in_namespace = any(prefix == ns or prefix.endswith("." + ns) for ns in RESTRICTED_NAMESPACES)
    if not in_namespace or key in ALLOWED_LABELS:
        return False
    return not any(prefix == allowed or prefix.endswith("." + allowed) for allowed in ALLOWED_PREFIXES)


def check_node_labels(name: str, labels: object) -> dict[str, str]:
    if not isinstance(labels, Mapping):
        raise invalid("node_labels", name, "node_labels must be a map of strings to strings")
    for key, value in labels.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise invalid("node_labels", name, f"node label {key!r} must map a non-empty string to a string")
        if _restricted(key):
            raise invalid(
                "node_labels",
                name,
                f"node label '{key}' is in a restricted Kubernetes namespace; the kubelet will refuse to start. "
                "Labels in the kubernetes.io/ and k8s.io/ namespaces must use one of the allowed prefixes "
                f"({', '.join(ALLOWED_PREFIXES)}) or be one of the allowed labels ({', '.join(ALLOWED_LABELS)}).",
            )
    return dict(labels)


def check_node_taints(name: str, taints: object) -> list[dict[str, str]]:
    if not isinstance(taints, list):
        raise invalid("node_taints", name, "node_taints must be a list of objects")
    checked: list[dict[str, str]] = []
    for index, taint in enumerate(taints):
        where = f"node_taints[{index}]"
        if not isinstance(taint, Mapping):
            raise invalid("node_taints", name, f"{where} must be an object with key, value and effect")
        unknown = sorted(str(k) for k in taint if k not in TAINT_KEYS)
        if unknown:
            raise invalid("node_taints", name, f"{where} has unknown attributes: {', '.join(unknown)}")
        key = taint.get("key")
        if not isinstance(key, str) or not key:
            raise invalid("node_taints", name, f"{where}.key must be a non-empty string")
        if "value" in taint and taint["value"] is not None and not isinstance(taint["value"], str):
            raise invalid("node_taints", name, f"{where}.value must be a string")
        if taint.get("effect") not in TAINT_EFFECTS:
            raise invalid("node_taints", name, f"{where}.effect must be one of {', '.join(TAINT_EFFECTS)}")
        checked.append({k: v for k, v in taint.items() if v is not None})
    return checked


def check_node_settings(name: str, role: str, node_labels: object, node_taints: object) -> None:
    """Node labels and taints: valid, and only on worker nodegroups."""
    check_node_labels(name, node_labels)
    check_node_taints(name, node_taints)
    if role == MASTER and (node_labels or node_taints):
        raise invalid("node_labels" if node_labels else "node_taints", name, "not supported on master nodegroups")


@dataclass(frozen=True)
class NodeGroupView:
    nodegroup: NodeGroup
    cluster_uuid: str
    cluster_labels: Mapping[str, str] = field(default_factory=dict)


class NodeGroupService:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        settings: Settings,
        waker: Waker,
        notifier: Notifier,
        *,
        clusters: ClusterService,
    ) -> None:
        self.db = db
        self.policy = policy
        self.settings = settings
        self.clusters = clusters
        self.announcer = Announcer(waker, notifier)

    def _cluster(
        self, session: Session, context: RequestContext, ident: str, *, all_projects: bool, for_update: bool = False
    ) -> Cluster:
        return clusters_repo.get_visible(session, context, ident, all_projects=all_projects, for_update=for_update)

    # -- reads -----------------------------------------------------------------------------
    def list(
        self, context: RequestContext, cluster_ident: str, page: PageRequest, *, role: str | None = None
    ) -> tuple[Cluster, Sequence[NodeGroup]]:
        self.policy.authorize("nodegroup:get_all", context)
        all_projects = self.policy.sees_all(context, "nodegroup:get_all_all_projects")
        with self.db.transaction() as session:
            cluster = self._cluster(session, context, cluster_ident, all_projects=all_projects)
            return cluster, repo.list_page(session, cluster.uuid, page, role=role)

    def get(self, context: RequestContext, cluster_ident: str, ident: str) -> NodeGroupView:
        self.policy.authorize("nodegroup:get", context)
        all_projects = self.policy.sees_all(context, "nodegroup:get_one_all_projects")
        with self.db.transaction() as session:
            cluster = self._cluster(session, context, cluster_ident, all_projects=all_projects)
            return NodeGroupView(repo.get_in_cluster(session, cluster.uuid, ident), cluster.uuid, cluster.labels)

    # -- writes (no cross-project access for admins, as in Magnum) -----------------------------
    def create(self, context: RequestContext, cluster_ident: str, values: Mapping[str, Any]) -> NodeGroupView:
        """``values`` are the validated body (absent and null fields left out)."""
        self.policy.authorize("nodegroup:create", context)
        name: str = values["name"]
        role: str = values.get("role") or "worker"
        if role == MASTER:
            raise InvalidInputError("Creating master nodegroups is currently not supported.")
        with self.db.transaction() as session:
            cluster = self._cluster(session, context, cluster_ident, all_projects=False, for_update=True)
            if not cluster.api_address:
                raise ConflictError("Cluster API address is not available yet")
            duplicate = f"A node group with name {name} already exists in the cluster {cluster.name}."
            if repo.name_taken(session, cluster.uuid, name):
                raise ConflictError(duplicate)
            node_count = int(values.get("node_count", 1))
            min_node_count = int(values.get("min_node_count", 0))
            max_node_count = values.get("max_node_count")
            check_counts(name, node_count, min_node_count, max_node_count)
            node_labels = values.get("node_labels", {})
            node_taints = values.get("node_taints", [])
            check_node_settings(name, role, node_labels, node_taints)
            template = clusters_repo.template(session, cluster.cluster_template_id)
            if template is None:
                raise NotFoundError(f"ClusterTemplate {cluster.cluster_template_id} could not be found.")
            flavor_id = values.get("flavor_id") or cluster.flavor_id
            image_id = values.get("image_id") or template.image_id
            _, checked = self.clusters.resources.check(
                context,
                self.clusters.drivers.serving(template.driver, template.coe, template.server_type),
                TemplateResources(
                    coe=canonical_coe(template.coe),
                    server_type=template.server_type,
                    image_id=image_id,
                    flavor_id=flavor_id,
                    docker_volume_size=values.get("docker_volume_size"),
                    docker_storage_driver=template.docker_storage_driver,
                ),
            )
            flavor_id, image_id = checked.flavor_id, checked.image_id
            labels = cluster_labels(cluster.labels or {}, values.get("labels"), merge=bool(values.get("merge_labels")))
            nodegroup = NodeGroup(
                uuid=new_uuid(),
                name=name,
                cluster_id=cluster.uuid,
                project_id=cluster.project_id,
                docker_volume_size=values.get("docker_volume_size"),
                labels=labels,
                flavor_id=flavor_id,
                image_id=image_id,
                node_addresses=[],
                node_count=node_count,
                role=role,
                min_node_count=min_node_count,
                max_node_count=max_node_count,
                is_default=False,
                status=Status.CREATE_IN_PROGRESS,
                node_labels=check_node_labels(name, node_labels),
                node_taints=check_node_taints(name, node_taints),
                generation=1,
            )
            operation = accept(
                session,
                self.settings,
                context,
                cluster,
                Action.NODEGROUP_CREATE,
                {**values, "nodegroup": nodegroup.uuid},
                nodegroup_id=nodegroup.uuid,
            )
            repo.add(session, nodegroup, duplicate=duplicate)
        self.announcer.accepted(cluster, Action.NODEGROUP_CREATE, operation, nodegroup)
        return NodeGroupView(nodegroup, cluster.uuid, cluster.labels)

    def update(
        self,
        context: RequestContext,
        cluster_ident: str,
        ident: str,
        compute: Callable[[NodeGroupView], Mapping[str, Any]],
    ) -> NodeGroupView:
        """``compute`` turns the current nodegroup into the patched values of ``PATCHABLE``."""
        self.policy.authorize("nodegroup:update", context)
        with self.db.transaction() as session:
            cluster = self._cluster(session, context, cluster_ident, all_projects=False, for_update=True)
            nodegroup = repo.get_in_cluster(session, cluster.uuid, ident, for_update=True)
            view = NodeGroupView(nodegroup, cluster.uuid, cluster.labels)
            patched = dict(compute(view))
            min_node_count = patched.get("min_node_count", nodegroup.min_node_count)
            max_node_count = patched.get("max_node_count", nodegroup.max_node_count)
            node_labels = patched.get("node_labels", nodegroup.node_labels)
            node_taints = patched.get("node_taints", nodegroup.node_taints)
            min_node_count = 0 if min_node_count is None else min_node_count
            node_labels = {} if node_labels is None else node_labels
            node_taints = [] if node_taints is None else node_taints
            check_counts(nodegroup.name, nodegroup.node_count, min_node_count, max_node_count)
            check_node_settings(nodegroup.name, nodegroup.role, node_labels, node_taints)
            request = {
                "nodegroup": nodegroup.uuid,
                "min_node_count": min_node_count,
                "max_node_count": max_node_count,
                "node_labels": node_labels,
                "node_taints": node_taints,
            }
            operation = accept(
                session,
                self.settings,
                context,
                cluster,
                Action.NODEGROUP_UPDATE,
                request,
                nodegroup_id=nodegroup.uuid,
            )
            check_not_deleting(nodegroup)
            nodegroup.min_node_count = min_node_count
            nodegroup.max_node_count = max_node_count
            nodegroup.node_labels = check_node_labels(nodegroup.name, node_labels)
            nodegroup.node_taints = check_node_taints(nodegroup.name, node_taints)
            mark(nodegroup, Status.UPDATE_IN_PROGRESS)
            session.flush()
        self.announcer.accepted(cluster, Action.NODEGROUP_UPDATE, operation, nodegroup)
        return NodeGroupView(nodegroup, cluster.uuid, cluster.labels)

    def delete(self, context: RequestContext, cluster_ident: str, ident: str) -> None:
        self.policy.authorize("nodegroup:delete", context)
        with self.db.transaction() as session:
            cluster = self._cluster(session, context, cluster_ident, all_projects=False, for_update=True)
            nodegroup = repo.get_in_cluster(session, cluster.uuid, ident, for_update=True)
            if nodegroup.is_default:
                raise InvalidInputError("Deleting a default nodegroup is not supported.")
            operation = accept(
                session,
                self.settings,
                context,
                cluster,
                Action.NODEGROUP_DELETE,
                {"nodegroup": nodegroup.uuid, "name": nodegroup.name},
                nodegroup_id=nodegroup.uuid,
            )
            mark(nodegroup, Status.DELETE_IN_PROGRESS)
            session.flush()
        self.announcer.accepted(cluster, Action.NODEGROUP_DELETE, operation, nodegroup)
