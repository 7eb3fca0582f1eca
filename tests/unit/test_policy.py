"""Magnum's default policies (reference §6) under oslo.policy, and operator overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from jeroboam.config import PolicySettings
from jeroboam.context import RequestContext
from jeroboam.errors import PolicyDeniedError
from jeroboam.policy import BASE_RULES, RULES, Policy, sample


def ctx(project: str | None, user: str | None, *roles: str, is_admin: bool = False) -> RequestContext:
    return RequestContext(project_id=project, user_id=user, roles=frozenset(roles), is_admin=is_admin)


ADMIN = ctx("admin-project", "root", "admin", "member", "reader")
ADMIN_ONLY = ctx("admin-project", "root", "admin")
MEMBER = ctx("alpha", "alice", "member", "reader")
MEMBER_NO_READER = ctx("alpha", "alice", "member")
READER = ctx("alpha", "arthur", "reader")
OTHER_MEMBER = ctx("beta", "bob", "member", "reader")
NO_ROLES = ctx("alpha", "alice")

OWN = {"project_id": "alpha", "user_id": "alice"}
OWN_OTHER_USER = {"project_id": "alpha", "user_id": "amos"}
OTHERS = {"project_id": "beta", "user_id": "bob"}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy(PolicySettings())


# -- the table -------------------------------------------------------------------------------

EXPECTED_DEFAULTS = {
    "context_is_admin": "role:admin",
    "admin_or_reader": "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
    "admin_or_member": "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    "admin_or_member_user": (
        "rule:context_is_admin or (role:member and project_id:%(project_id)s and user_id:%(user_id)s)"
    ),
    "admin_or_reader_user": (
        "rule:context_is_admin or (role:reader and project_id:%(project_id)s and user_id:%(user_id)s)"
    ),
    "member_only": "role:member and project_id:%(project_id)s",
    **{f"cluster:{a}": "rule:admin_or_member" for a in ("create", "delete", "update", "resize", "upgrade")},
    **{f"cluster:{a}": "rule:admin_or_reader" for a in ("get", "get_all", "detail")},
    "cluster:update_health_status": "rule:admin_or_member_user",
    **{
        f"cluster:{a}_all_projects": "rule:context_is_admin"
        for a in ("get_one", "get_all", "detail", "update", "delete", "upgrade")
    },
    **{f"clustertemplate:{a}": "rule:admin_or_member" for a in ("create", "update", "delete")},
    **{f"clustertemplate:{a}": "rule:admin_or_reader" for a in ("get", "get_all", "detail")},
    "clustertemplate:publish": "rule:context_is_admin",
    **{
        f"clustertemplate:{a}_all_projects": "rule:context_is_admin"
        for a in ("get_one", "get_all", "detail", "update", "delete")
    },
    **{f"nodegroup:{a}": "rule:admin_or_reader" for a in ("get", "get_all")},
    **{f"nodegroup:{a}": "rule:admin_or_member" for a in ("create", "update", "delete")},
    "nodegroup:get_all_all_projects": "rule:context_is_admin",
    "nodegroup:get_one_all_projects": "rule:context_is_admin",
    "certificate:get": "rule:admin_or_reader_user",
    "certificate:create": "rule:admin_or_member_user",
    "certificate:rotate_ca": "rule:admin_or_member",
    "credential:rotate": "rule:member_only",
    **{f"quota:{a}": "rule:context_is_admin" for a in ("create", "update", "delete", "get_all")},
    "quota:get": "rule:admin_or_reader",
    "stats:get_all": "rule:admin_or_reader",
    "magnum-service:get_all": "rule:context_is_admin",
    **{f"federation:{a}": "rule:admin_or_member" for a in ("create", "update", "delete")},
    **{f"federation:{a}": "rule:admin_or_reader" for a in ("get", "get_all", "detail")},
    **{
        f"container:{a}": "rule:admin_or_member"
        for a in ("create", "delete", "update", "start", "stop", "reboot", "pause", "unpause", "execute")
    },
    **{f"container:{a}": "rule:admin_or_reader" for a in ("get", "get_all", "detail", "logs")},
    # Jeroboam's own (no Magnum counterpart): DELETE /v1/clusters/{id}?force=true, the owner's by default.
    "cluster:delete_force": "rule:admin_or_member",
}


def test_defaults_are_magnums() -> None:
    table = {name: check for name, check, _ in (*BASE_RULES, *RULES)}
    assert table == EXPECTED_DEFAULTS


def test_every_rule_has_a_description() -> None:
    assert all(doc for _, _, doc in (*BASE_RULES, *RULES))


# -- what the defaults decide --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "expected"),
    [(ADMIN, True), (ADMIN_ONLY, True), (MEMBER, False), (READER, False), (NO_ROLES, False)],
)
def test_is_admin_is_the_admin_role(policy: Policy, context: RequestContext, expected: bool) -> None:
    assert policy.is_admin(context) is expected


@pytest.mark.parametrize(
    ("context", "target", "expected"),
    [
        (READER, None, True),
        (MEMBER, None, True),
        (MEMBER_NO_READER, None, False),  # reads need the reader role itself
        (NO_ROLES, None, False),
        (ADMIN_ONLY, None, True),
        (READER, OWN, True),
        (READER, OTHERS, False),
        (ADMIN, OTHERS, True),
    ],
)
def test_reads(policy: Policy, context: RequestContext, target: dict[str, str] | None, expected: bool) -> None:
    assert policy.check("clustertemplate:get", context, target) is expected
    assert policy.check("cluster:get_all", context, target) is expected


@pytest.mark.parametrize(
    ("context", "target", "expected"),
    [
        (MEMBER, None, True),
        (MEMBER, OWN, True),
        (MEMBER, OWN_OTHER_USER, True),
        (MEMBER, OTHERS, False),
        (READER, None, False),
        (ADMIN, OTHERS, True),
    ],
)
def test_writes(policy: Policy, context: RequestContext, target: dict[str, str] | None, expected: bool) -> None:
    for rule in ("clustertemplate:create", "clustertemplate:update", "clustertemplate:delete", "cluster:resize"):
        assert policy.check(rule, context, target) is expected


@pytest.mark.parametrize(
    ("context", "expected"),
    [(ADMIN, True), (ADMIN_ONLY, True), (MEMBER, False), (READER, False), (OTHER_MEMBER, False)],
)
def test_admin_only_rules(policy: Policy, context: RequestContext, expected: bool) -> None:
    for rule in (
        "clustertemplate:publish",
        "clustertemplate:get_all_all_projects",
        "cluster:get_one_all_projects",
        "quota:create",
        "magnum-service:get_all",
    ):
        assert policy.check(rule, context) is expected


def test_certificates_are_for_the_creator(policy: Policy) -> None:
    assert policy.check("certificate:get", MEMBER, OWN)
    assert policy.check("certificate:create", MEMBER, OWN)
    assert not policy.check("certificate:get", MEMBER, OWN_OTHER_USER)
    assert not policy.check("certificate:create", MEMBER, OWN_OTHER_USER)
    assert policy.check("certificate:get", ADMIN, OTHERS)
    assert policy.check("certificate:rotate_ca", MEMBER, OWN_OTHER_USER)


def test_credential_rotation_has_no_admin_shortcut(policy: Policy) -> None:
    assert policy.check("credential:rotate", MEMBER, OWN)
    assert not policy.check("credential:rotate", ADMIN_ONLY, OWN)
    assert not policy.check("credential:rotate", ADMIN, OWN)  # admin of another project
    assert policy.check("credential:rotate", ADMIN)  # member of its own project


def test_authorize_raises_magnums_message(policy: Policy) -> None:
    policy.authorize("clustertemplate:create", MEMBER)
    with pytest.raises(PolicyDeniedError) as caught:
        policy.authorize("clustertemplate:update", OTHER_MEMBER, OWN)
    assert caught.value.message == "Policy doesn't allow clustertemplate:update to be performed."
    assert caught.value.rule == "clustertemplate:update"


def test_unknown_rules_are_a_programming_error(policy: Policy) -> None:
    with pytest.raises(KeyError):
        policy.check("clustertemplate:frobnicate", ADMIN)


def test_a_context_without_project_still_gets_a_decision(policy: Policy) -> None:
    assert not policy.check("clustertemplate:get", ctx(None, None, "reader"), OWN)
    assert policy.check("clustertemplate:get", ctx(None, None, "admin"), OWN)


def test_decisions_do_not_leak_between_callers(policy: Policy) -> None:
    # The decision cache is keyed on every input: the same rule for different callers differs.
    assert policy.check("clustertemplate:update", MEMBER, OWN)
    assert not policy.check("clustertemplate:update", OTHER_MEMBER, OWN)
    assert not policy.check("clustertemplate:update", READER, OWN)


# -- operator overrides -------------------------------------------------------------------------


def test_a_policy_file_overrides_defaults(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"clustertemplate:publish": "role:member"\n"clustertemplate:get_all": "!"\n')
    policy = Policy(PolicySettings(policy_file=policy_file))
    assert policy.check("clustertemplate:publish", MEMBER)
    assert not policy.check("clustertemplate:get_all", ADMIN)
    assert policy.check("clustertemplate:create", MEMBER)  # untouched rules keep their default
    assert not policy.check("clustertemplate:create", READER)


def test_a_policy_file_can_redefine_a_base_rule(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.json"
    policy_file.write_text('{"context_is_admin": "role:cloud-admin"}')
    policy = Policy(PolicySettings(policy_file=policy_file))
    assert policy.is_admin(ctx("p", "u", "cloud-admin"))
    assert not policy.is_admin(ADMIN_ONLY)
    assert policy.check("clustertemplate:publish", ctx("p", "u", "cloud-admin"))


def test_a_broken_policy_file_fails_at_start(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"clustertemplate:publish": [unclosed\n')
    with pytest.raises(ValueError):  # oslo.policy cannot parse the file
        Policy(PolicySettings(policy_file=policy_file))


def test_sample_lists_every_rule_commented_out() -> None:
    text = sample()
    for name, check, _ in (*BASE_RULES, *RULES):
        assert f'#"{name}": "{check}"' in text
    assert all(not line or line.startswith("#") for line in text.splitlines())
