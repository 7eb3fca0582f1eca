"""noauth identities used across the suite (project, user and roles as headers)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    name: str
    project_id: str
    user_id: str
    roles: tuple[str, ...]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Project-Id": self.project_id, "X-User-Id": self.user_id, "X-Roles": ",".join(self.roles)}


ALPHA_MEMBER = Identity("alpha-member", "alpha", "alice", ("member", "reader"))
ALPHA_MEMBER2 = Identity("alpha-member2", "alpha", "amos", ("member", "reader"))
ALPHA_READER = Identity("alpha-reader", "alpha", "arthur", ("reader",))
BETA_MEMBER = Identity("beta-member", "beta", "bob", ("member", "reader"))
ADMIN = Identity("admin", "admin-project", "root", ("admin", "member", "reader"))
