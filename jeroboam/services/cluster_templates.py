"""Cluster template use cases: validate → authorize → check with the driver → write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import ClusterTemplate
from jeroboam.db.repositories import cluster_templates as repo
from jeroboam.db.repositories.cluster_templates import TemplateRecord
from jeroboam.db.session import Database
from jeroboam.domain import templates as rules
from jeroboam.domain.identifiers import canonical_uuid, new_uuid
from jeroboam.domain.paging import PageRequest
from jeroboam.domain.specs import KNOWN_COES, TemplateResources, canonical_coe
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import InUseError, InvalidFieldError, InvalidInputError, PermissionDeniedError
from jeroboam.policy import Policy
from jeroboam.services.resource_lookup import NullLookup
from jeroboam.services.template_resources import TemplateResourceChecker

ACCEPTED_COES = ("kubernetes", "swarm", "swarm-mode")
RESOURCE_FIELDS = frozenset(
    {
        "coe",
        "server_type",
        "image_id",
        "flavor_id",
        "master_flavor_id",
        "external_network_id",
        "fixed_network",
        "fixed_subnet",
        "keypair_id",
        "volume_driver",
        "docker_volume_size",
        "docker_storage_driver",
        "network_driver",
        "driver",
        "dns_nameserver",
    }
)

# Fields whose value may come back from the resource check as the driver's name for it.
RESOLVED_FIELDS = ("image_id", "flavor_id", "master_flavor_id", "external_network_id")

PUBLISH_DENIED = "Not authorized to set public or hidden flag for cluster template."


def target(template: TemplateRecord) -> dict[str, object]:
    return {"project_id": template.project_id, "user_id": template.user_id}


class ClusterTemplateService:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        drivers: DriverRegistry,
        settings: Settings,
        resources: TemplateResourceChecker | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.drivers = drivers
        self.settings = settings
        self.resources = resources or TemplateResourceChecker(NullLookup())

    # -- reads -----------------------------------------------------------------------------
    def list(self, context: RequestContext, page: PageRequest, *, detail: bool = False) -> Sequence[TemplateRecord]:
        self.policy.authorize("clustertemplate:detail" if detail else "clustertemplate:get_all", context)
        rule = "clustertemplate:detail_all_projects" if detail else "clustertemplate:get_all_all_projects"
        all_projects = self.policy.sees_all(context, rule)
        with self.db.read() as session:
            return repo.list_rows(session, context, page, all_projects=all_projects)

    def get(
        self, context: RequestContext, ident: str, *, cross_project: bool = True, session: Session | None = None
    ) -> TemplateRecord:
        """``cross_project=False`` looks only at the caller's project and public templates, even
        for admins (Magnum builds clusters only from those). ``session``: read in the caller's
        unit of work rather than one of its own."""
        all_projects = cross_project and self.policy.sees_all(context, "clustertemplate:get_one_all_projects")
        if session is None:
            with self.db.read() as own:
                template = repo.get_row(own, context, ident, all_projects=all_projects)
        else:
            template = repo.get_row(session, context, ident, all_projects=all_projects)
        if not template.public:
            self.policy.authorize("clustertemplate:get", context, target(template))
        return template

    # -- writes ----------------------------------------------------------------------------
    def create(self, context: RequestContext, values: dict[str, Any]) -> TemplateRecord:
        self.policy.authorize("clustertemplate:create", context)
        if values.get("public") or values.get("hidden"):
            self._authorize_publish(context)
        checked = self._check(context, values)
        checked.setdefault("name", None)
        if not checked["name"]:
            checked["name"] = rules.generate_name()
        checked["uuid"] = canonical_uuid(checked["uuid"]) if checked.get("uuid") else new_uuid()
        checked["project_id"] = context.project_id or ""
        checked["user_id"] = context.user_id or ""
        with self.db.transaction() as session:
            return repo.insert_row(session, checked)

    def update(
        self,
        context: RequestContext,
        ident: str,
        compute_changes: Callable[[ClusterTemplate], dict[str, Any]],
    ) -> ClusterTemplate:
        """``compute_changes`` turns the current template into the changed, validated fields."""
        with self.db.transaction() as session:
            template = repo.get_visible(
                session,
                context,
                ident,
                all_projects=self.policy.sees_all(context, "clustertemplate:update_all_projects"),
            )
            self.policy.authorize("clustertemplate:update", context, target(template))
            changes = compute_changes(template)
            if "public" in changes or "hidden" in changes:
                self._authorize_publish(context)
            if changes and repo.is_referenced(session, template.uuid) and not rules.allowed_while_in_use(changes):
                raise InUseError(f"ClusterTemplate {template.uuid} is referenced by one or multiple clusters.")
            if RESOURCE_FIELDS & changes.keys():
                current = {name: getattr(template, name) for name in RESOURCE_FIELDS}
                checked = self._check(context, {**current, **changes})
                derived = {"driver", "cluster_distro", "network_driver", *(RESOURCE_FIELDS & changes.keys())}
                changes = {**changes, **{k: checked[k] for k in derived}}
            for name, value in changes.items():
                setattr(template, name, value)
            session.flush()
            return template

    def delete(self, context: RequestContext, ident: str) -> None:
        all_projects = self.policy.sees_all(context, "clustertemplate:delete_all_projects")
        with self.db.transaction() as session:
            template = repo.get_row(session, context, ident, all_projects=all_projects)
            self.policy.authorize("clustertemplate:delete", context, target(template))
            if repo.is_referenced_by_uuid(session, template.uuid):
                raise InUseError(f"ClusterTemplate {template.uuid} is referenced by one or multiple clusters.")
            repo.delete_row(session, template.id)

    # -- helpers ---------------------------------------------------------------------------
    def _authorize_publish(self, context: RequestContext) -> None:
        if not self.policy.check("clustertemplate:publish", context):
            raise PermissionDeniedError(PUBLISH_DENIED)

    def _check(self, context: RequestContext, values: dict[str, Any]) -> dict[str, Any]:
        """Values after the template rules and the chosen driver's resource checks."""
        coe = values["coe"]
        if coe not in ACCEPTED_COES:
            if coe in KNOWN_COES:
                raise InvalidInputError(
                    f"No installed driver supports coe {coe}. Installed drivers support: {', '.join(ACCEPTED_COES)}."
                )
            raise InvalidFieldError("coe", coe, f"Value should be one of: {', '.join(ACCEPTED_COES)}")
        server_type = values.get("server_type") or "vm"
        driver = self.drivers.select(canonical_coe(coe), server_type, values.get("driver"))
        settings = self.settings.cluster_template
        kubernetes = canonical_coe(coe) == "kubernetes"
        network_driver = rules.check_network_driver(
            coe,
            values.get("network_driver"),
            allowed=settings.kubernetes_allowed_network_drivers
            if kubernetes
            else settings.swarm_allowed_network_drivers,
            default=settings.kubernetes_default_network_driver if kubernetes else settings.swarm_default_network_driver,
        )
        rules.check_dns_nameserver(values.get("dns_nameserver"))
        rules.check_docker_volume(values.get("docker_volume_size"), values.get("docker_storage_driver"))
        image, resources = self.resources.check(
            context,
            driver,
            TemplateResources(
                coe=canonical_coe(coe),
                server_type=server_type,
                image_id=values["image_id"],
                flavor_id=values.get("flavor_id"),
                master_flavor_id=values.get("master_flavor_id"),
                external_network_id=values.get("external_network_id"),
                fixed_network=values.get("fixed_network"),
                fixed_subnet=values.get("fixed_subnet"),
                keypair_id=values.get("keypair_id"),
                volume_driver=values.get("volume_driver"),
                docker_volume_size=values.get("docker_volume_size"),
                docker_storage_driver=values.get("docker_storage_driver"),
            ),
        )
        return {
            **values,
            **{name: getattr(resources, name) for name in RESOLVED_FIELDS if values.get(name) is not None},
            "server_type": server_type,
            "driver": driver.name,
            "cluster_distro": image.os_distro,
            "network_driver": network_driver,
        }
