"""Builds every service once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from jeroboam.config import Settings
from jeroboam.db.session import Database
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.policy import Policy
from jeroboam.services.cluster_templates import ClusterTemplateService


@dataclass
class Services:
    settings: Settings
    db: Database
    policy: Policy
    drivers: DriverRegistry
    cluster_templates: ClusterTemplateService

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        db: Database | None = None,
        drivers: DriverRegistry | None = None,
    ) -> Services:
        db = db or Database.from_url(settings.database_url, pool_size=settings.database.pool_size)
        policy = Policy(settings.oslo_policy)
        drivers = drivers or DriverRegistry.from_entry_points(settings)
        return cls(
            settings=settings,
            db=db,
            policy=policy,
            drivers=drivers,
            cluster_templates=ClusterTemplateService(db, policy, drivers, settings),
        )
