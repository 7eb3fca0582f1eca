"""Builds every service once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from jeroboam.config import Settings
from jeroboam.db.session import Database
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.observability.metrics import Snapshot
from jeroboam.pki.secrets import Keyring, load_keyring
from jeroboam.policy import Policy
from jeroboam.rpc.notifications import Notifier, NullNotifier
from jeroboam.rpc.wakeup import InProcessWaker, Waker
from jeroboam.services.catalog import CatalogService
from jeroboam.services.catalog_lookup import CatalogLookup
from jeroboam.services.certificates import CertificateService
from jeroboam.services.cluster_templates import ClusterTemplateService
from jeroboam.services.clusters import ClusterService
from jeroboam.services.containers import ContainerService
from jeroboam.services.federations import FederationService
from jeroboam.services.history import OperationHistoryService
from jeroboam.services.metrics import database_snapshot
from jeroboam.services.mservices import MServiceService
from jeroboam.services.nodegroups import NodeGroupService
from jeroboam.services.quotas import QuotaService
from jeroboam.services.resource_lookup import NullLookup, ResourceLookup
from jeroboam.services.stats import StatsService
from jeroboam.services.template_resources import TemplateResourceChecker


@dataclass
class Services:
    settings: Settings
    db: Database
    policy: Policy
    drivers: DriverRegistry
    cluster_templates: ClusterTemplateService
    quotas: QuotaService
    stats: StatsService
    mservices: MServiceService
    federations: FederationService
    waker: Waker
    notifier: Notifier
    clusters: ClusterService
    nodegroups: NodeGroupService
    keyring: Keyring
    certificates: CertificateService
    containers: ContainerService
    history: OperationHistoryService
    catalog: CatalogService
    lookup: ResourceLookup

    def close(self) -> None:
        """Release what the services hold open: the resource lookup's connections, the database pool."""
        self.lookup.close()
        self.db.dispose()

    def database_reachable(self) -> bool:
        return self.db.reachable()

    def metrics_snapshot(self) -> Snapshot:
        return database_snapshot(self.db)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        db: Database | None = None,
        drivers: DriverRegistry | None = None,
        waker: Waker | None = None,
        notifier: Notifier | None = None,
        keyring: Keyring | None = None,
        lookup: ResourceLookup | None = None,
    ) -> Services:
        db = db or Database.from_url(
            settings.database_url, pool_size=settings.database.pool_size, limits=settings.database
        )
        policy = Policy(settings.oslo_policy)
        drivers = drivers or DriverRegistry.from_entry_points(settings)
        waker = waker if waker is not None else InProcessWaker()
        notifier = notifier if notifier is not None else NullNotifier()
        keyring = keyring or load_keyring(settings)
        lookup = lookup or resource_lookup(settings)
        resources = TemplateResourceChecker(lookup)
        # Each service once; those that need another get it passed in.
        templates = ClusterTemplateService(db, policy, drivers, settings, resources)
        quotas = QuotaService(db, policy, settings)
        clusters = ClusterService(
            db, policy, drivers, settings, waker, notifier, templates=templates, quotas=quotas, resources=resources
        )
        return cls(
            settings=settings,
            db=db,
            policy=policy,
            drivers=drivers,
            cluster_templates=templates,
            quotas=quotas,
            stats=StatsService(db, policy),
            mservices=MServiceService(db, policy, settings),
            federations=FederationService(db, policy),
            waker=waker,
            notifier=notifier,
            clusters=clusters,
            nodegroups=NodeGroupService(db, policy, settings, waker, notifier, clusters=clusters),
            keyring=keyring,
            certificates=CertificateService(db, policy, settings, keyring, waker, notifier),
            containers=ContainerService(db, policy, drivers, settings),
            history=OperationHistoryService(db, clusters),
            catalog=CatalogService(policy, drivers),
            lookup=lookup,
        )


def resource_lookup(settings: Settings) -> ResourceLookup:
    """Glance, Nova and Neutron of the caller's catalog with Keystone tokens, else nothing to ask."""
    if settings.auth_strategy == "keystone" and settings.openstack_services.lookup:
        return CatalogLookup(settings.openstack_services)
    return NullLookup()
