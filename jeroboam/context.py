"""Who is asking: built at the edge from noauth headers or a Keystone token, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CatalogEndpoint:
    """One endpoint of the caller's Keystone service catalog."""

    service_type: str
    interface: str
    region: str | None
    url: str


@dataclass(frozen=True)
class RequestContext:
    project_id: str | None
    user_id: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    request_id: str = ""
    user_name: str | None = None
    project_name: str | None = None
    user_domain_id: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    is_admin: bool = False
    # Endpoints of the services Jeroboam may ask on the caller's behalf (Keystone tokens only).
    service_catalog: tuple[CatalogEndpoint, ...] = field(default=(), repr=False)

    @classmethod
    def admin(cls, request_id: str = "") -> RequestContext:
        """A context for internal work (conductor, manage commands) that sees every project."""
        return cls(
            project_id=None,
            user_id=None,
            roles=frozenset({"admin"}),
            request_id=request_id,
            is_admin=True,
        )
