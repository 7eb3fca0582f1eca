"""Authorization with oslo.policy under Magnum's rule names and defaults.

Rules are defaults in code; an operator's ``oslo_policy.policy_file`` overrides
any of them. Callers pass the target resource's ``project_id``/``user_id``;
without a target the caller's own are used, so only the role part counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from oslo_config import cfg
from oslo_policy import policy as oslo

from jeroboam.config import PolicySettings
from jeroboam.context import RequestContext
from jeroboam.errors import PolicyDeniedError

ADMIN = "rule:context_is_admin"
READER = "rule:admin_or_reader"
MEMBER = "rule:admin_or_member"
MEMBER_USER = "rule:admin_or_member_user"
READER_USER = "rule:admin_or_reader_user"
MEMBER_ONLY = "rule:member_only"

BASE_RULES: tuple[tuple[str, str, str], ...] = (
    ("context_is_admin", "role:admin", "Holders of the admin role act on every project."),
    (
        "admin_or_reader",
        "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
        "An admin, or a reader of the target's project.",
    ),
    (
        "admin_or_member",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
        "An admin, or a member of the target's project.",
    ),
    (
        "admin_or_member_user",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s and user_id:%(user_id)s)",
        "An admin, or the member of the target's project who created it.",
    ),
    (
        "admin_or_reader_user",
        "rule:context_is_admin or (role:reader and project_id:%(project_id)s and user_id:%(user_id)s)",
        "An admin, or the reader of the target's project who created it.",
    ),
    (
        "member_only",
        "role:member and project_id:%(project_id)s",
        "A member of the target's project (no admin shortcut).",
    ),
)

# (rule, default, description)
RULES: tuple[tuple[str, str, str], ...] = (
    ("cluster:create", MEMBER, "Create a cluster."),
    ("cluster:delete", MEMBER, "Delete a cluster."),
    ("cluster:update", MEMBER, "Update a cluster."),
    ("cluster:resize", MEMBER, "Resize a cluster."),
    ("cluster:upgrade", MEMBER, "Upgrade a cluster."),
    ("cluster:get", READER, "Show a cluster."),
    ("cluster:get_all", READER, "List clusters."),
    ("cluster:detail", READER, "List clusters with details."),
    ("cluster:update_health_status", MEMBER_USER, "Set a cluster's health fields."),
    ("cluster:get_one_all_projects", ADMIN, "Show a cluster of any project."),
    ("cluster:get_all_all_projects", ADMIN, "List clusters of every project."),
    ("cluster:detail_all_projects", ADMIN, "List clusters of every project with details."),
    ("cluster:update_all_projects", ADMIN, "Update a cluster of any project."),
    ("cluster:delete_all_projects", ADMIN, "Delete a cluster of any project."),
    (
        "cluster:delete_force",
        MEMBER,
        "Forget a cluster whose infrastructure cannot be deleted (DELETE ...?force=true, a Jeroboam extension).",
    ),
    ("cluster:upgrade_all_projects", ADMIN, "Upgrade a cluster of any project."),
    ("clustertemplate:create", MEMBER, "Create a cluster template."),
    ("clustertemplate:update", MEMBER, "Update a cluster template."),
    ("clustertemplate:delete", MEMBER, "Delete a cluster template."),
    ("clustertemplate:get", READER, "Show a cluster template."),
    ("clustertemplate:get_all", READER, "List cluster templates."),
    ("clustertemplate:detail", READER, "List cluster templates with details."),
    ("clustertemplate:publish", ADMIN, "Make a cluster template public or hidden."),
    ("clustertemplate:get_one_all_projects", ADMIN, "Show a cluster template of any project."),
    ("clustertemplate:get_all_all_projects", ADMIN, "List cluster templates of every project."),
    ("clustertemplate:detail_all_projects", ADMIN, "List cluster templates of every project."),
    ("clustertemplate:update_all_projects", ADMIN, "Update a cluster template of any project."),
    ("clustertemplate:delete_all_projects", ADMIN, "Delete a cluster template of any project."),
    ("nodegroup:get", READER, "Show a nodegroup."),
    ("nodegroup:get_all", READER, "List nodegroups."),
    ("nodegroup:create", MEMBER, "Create a nodegroup."),
    ("nodegroup:update", MEMBER, "Update a nodegroup."),
    ("nodegroup:delete", MEMBER, "Delete a nodegroup."),
    ("nodegroup:get_all_all_projects", ADMIN, "List nodegroups of clusters of every project."),
    ("nodegroup:get_one_all_projects", ADMIN, "Show a nodegroup of a cluster of any project."),
    ("certificate:get", READER_USER, "Show a cluster's CA certificate (creator only)."),
    ("certificate:create", MEMBER_USER, "Sign a certificate for a cluster (creator only)."),
    ("certificate:rotate_ca", MEMBER, "Rotate a cluster's CA."),
    ("credential:rotate", MEMBER_ONLY, "Rotate a cluster's credentials."),
    ("quota:create", ADMIN, "Create a quota."),
    ("quota:update", ADMIN, "Update a quota."),
    ("quota:delete", ADMIN, "Delete a quota."),
    ("quota:get_all", ADMIN, "List quotas."),
    ("quota:get", READER, "Show a quota."),
    ("stats:get_all", READER, "Show statistics."),
    ("magnum-service:get_all", ADMIN, "List conductor services."),
    ("federation:create", MEMBER, "Create a federation."),
    ("federation:update", MEMBER, "Update a federation."),
    ("federation:delete", MEMBER, "Delete a federation."),
    ("federation:get", READER, "Show a federation."),
    ("federation:get_all", READER, "List federations."),
    ("federation:detail", READER, "List federations with details."),
    ("container:create", MEMBER, "Create a container on a bay (the 2015 /v1/containers)."),
    ("container:delete", MEMBER, "Delete a container."),
    ("container:update", MEMBER, "Update a container's stored fields."),
    ("container:get", READER, "Show a container."),
    ("container:get_all", READER, "List containers."),
    ("container:detail", READER, "List containers with details."),
    ("container:start", MEMBER, "Start a container."),
    ("container:stop", MEMBER, "Stop a container."),
    ("container:reboot", MEMBER, "Restart a container."),
    ("container:pause", MEMBER, "Pause a container."),
    ("container:unpause", MEMBER, "Unpause a container."),
    ("container:logs", READER, "Read a container's logs."),
    ("container:execute", MEMBER, "Run a command in a container."),
)


def rule_defaults() -> list[oslo.RuleDefault]:
    defaults = [oslo.RuleDefault(name, check, description=doc) for name, check, doc in BASE_RULES]
    defaults += [oslo.RuleDefault(name, check, description=doc) for name, check, doc in RULES]
    return defaults


class Policy:
    def __init__(self, settings: PolicySettings) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="jeroboam", default_config_files=[], default_config_dirs=[])
        policy_file = str(settings.policy_file.resolve()) if settings.policy_file else "policy.yaml"
        self._enforcer = oslo.Enforcer(conf, policy_file=policy_file, use_conf=True)
        conf.set_override("enforce_new_defaults", settings.enforce_new_defaults, group="oslo_policy")
        self._enforcer.register_defaults(rule_defaults())
        # Load (and validate) the operator's file now, so a broken file fails at start; then stop
        # oslo.policy from re-reading the file system on every check (it costs ~0.4 ms a call).
        self._enforcer.load_rules()
        self._enforcer.use_conf = False
        self._known = {name for name, _, _ in BASE_RULES} | {name for name, _, _ in RULES}

    def check(self, rule: str, context: RequestContext, target: Mapping[str, object] | None = None) -> bool:
        if rule not in self._known:
            raise KeyError(f"unknown policy rule {rule}")
        if target is None:
            target = {"project_id": context.project_id, "user_id": context.user_id}
        return self._decide(
            rule,
            tuple(sorted(target.items())),
            context.project_id,
            context.user_id,
            tuple(sorted(context.roles)),
            context.is_admin,
        )

    @lru_cache(maxsize=65536)  # noqa: B019 - one Policy per process; every input is in the key
    def _decide(
        self,
        rule: str,
        target: tuple[tuple[str, object], ...],
        project_id: str | None,
        user_id: str | None,
        roles: tuple[str, ...],
        is_admin: bool,
    ) -> bool:
        # oslo.policy inspects call signatures on every check (~0.2 ms); a decision depends
        # only on these arguments, so it is computed once per distinct combination.
        credentials = {"project_id": project_id, "user_id": user_id, "roles": list(roles), "is_admin": is_admin}
        return bool(self._enforcer.enforce(rule, dict(target), credentials))

    def authorize(self, rule: str, context: RequestContext, target: Mapping[str, object] | None = None) -> None:
        if not self.check(rule, context, target):
            raise PolicyDeniedError(rule)

    def sees_all(self, context: RequestContext, rule: str) -> bool:
        """Whether a lookup or list crosses projects: an admin whom ``rule`` (an
        ``*_all_projects`` rule) allows."""
        return context.is_admin and self.check(rule, context)

    def is_admin(self, context: RequestContext) -> bool:
        return self.check("context_is_admin", context)


def sample() -> str:
    """Every rule with its default and description, commented out, as an operator file starts."""
    lines = [
        "# Jeroboam policy. Uncomment a rule and change it to override the default.",
        "# Rule names and defaults follow OpenStack Magnum's.",
        "",
    ]
    for name, check, doc in (*BASE_RULES, *RULES):
        lines += [f"# {doc}", f'#"{name}": "{check}"', ""]
    return "\n".join(lines)
