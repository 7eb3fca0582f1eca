"""The docker provider without a Docker engine: settings, names, and what it says when the engine is missing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jeroboam.cmd.jeroboam import share_single_engine
from jeroboam.config import DockerDriverSettings, DockerEngineSettings, Settings
from jeroboam.domain.resources import resource_id
from jeroboam.domain.specs import ClusterSpec, NodeGroupSpec
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.driver import DockerDriver
from jeroboam.errors import InvalidInputError, PermanentError, RetryableError


def test_the_all_in_one_shares_its_single_engine_and_says_so() -> None:
    loaded = Settings()
    settings, message = share_single_engine(loaded)
    assert settings.docker.allow_project_mixing is True
    assert loaded.docker.allow_project_mixing is False  # the loaded settings are not changed in place
    assert message is not None
    assert "one kernel" in message


def test_an_explicit_setting_wins_over_the_all_in_one_default() -> None:
    settings = Settings(docker=DockerDriverSettings(allow_project_mixing=False))
    assert share_single_engine(settings) == (settings, None)
    assert settings.docker.allow_project_mixing is False


def test_several_engines_keep_one_project_per_engine() -> None:
    settings = Settings(docker=DockerDriverSettings(engines=[DockerEngineSettings(), DockerEngineSettings(name="b")]))
    assert share_single_engine(settings) == (settings, None)
    assert settings.docker.allow_project_mixing is False


def test_node_names_are_dns_labels_unique_per_cluster() -> None:
    name = labels.node_name("My Cluster_01" + "x" * 80, "default-worker", 12)
    assert len(name) <= 63
    assert name.endswith("-default-worker-12")
    assert name == name.lower()
    assert all(c.isalnum() or c == "-" for c in name)
    assert labels.container_name("0123456789abcdef", "n-1") == "jb-01234567-n-1"


def _spec() -> ClusterSpec:
    group = NodeGroupSpec("ng", "default-master", "master", 1, "jeroboam-node", "m1.small", {}, {})
    return ClusterSpec("c0ffee00-0000-4000-8000-000000000000", "c", "p", "swarm-mode", "t", {}, (group,), 1)


def test_a_missing_engine_is_a_clear_retryable_reason_and_deletes_still_succeed(tmp_path: Path) -> None:
    engine = DockerEngineSettings(url=f"unix://{tmp_path}/no-such-docker.sock")
    driver = DockerDriver(Settings(data_dir=tmp_path, docker=DockerDriverSettings(engines=[engine])))
    with pytest.raises(RetryableError) as caught:
        driver.ensure_infrastructure(_spec())
    assert "No Docker engine answers" in str(caught.value)
    assert "scripts/ensure-docker" in str(caught.value)
    driver.delete_cluster(_spec())  # nothing can exist on an engine that is not there
    assert driver.observe(_spec()).api_ok is False


def test_a_template_without_tls_builds_no_docker_cluster(tmp_path: Path) -> None:
    driver = DockerDriver(Settings(data_dir=tmp_path))
    with pytest.raises(PermanentError, match="only behind TLS"):
        driver.ensure_infrastructure(replace(_spec(), tls_disabled=True))


def test_a_flavor_named_by_its_stable_id_gets_its_limits(tmp_path: Path) -> None:
    driver = DockerDriver(Settings(data_dir=tmp_path))
    small = driver.nodes.flavors["m1.small"]
    assert driver.nodes.flavors[resource_id("flavor", "m1.small")] is small
    assert driver.find_resource("flavor", resource_id("flavor", "m1.small")) == "m1.small"


def test_the_control_plane_resizes_up_to_seven_managers_and_says_why_not_beyond(tmp_path: Path) -> None:
    driver = DockerDriver(Settings(data_dir=tmp_path))
    for current, desired in ((1, 3), (3, 5), (5, 3), (3, 1), (1, 7)):
        driver.check_master_resize(current, desired)
    with pytest.raises(InvalidInputError) as refused:
        driver.check_master_resize(7, 9)
    assert refused.value.message == "the docker driver runs at most 7 swarm managers (asked: 9)."
