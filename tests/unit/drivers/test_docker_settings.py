"""How the docker provider's tenancy setting is chosen (no Docker engine needed)."""

from __future__ import annotations

from jeroboam.cmd.jeroboam import share_single_engine
from jeroboam.config import DockerDriverSettings, DockerEngineSettings, Settings
from jeroboam.drivers.dind import labels


def test_the_all_in_one_shares_its_single_engine_and_says_so() -> None:
    settings = Settings()
    message = share_single_engine(settings)
    assert settings.docker.allow_project_mixing is True
    assert message is not None
    assert "one kernel" in message


def test_an_explicit_setting_wins_over_the_all_in_one_default() -> None:
    settings = Settings(docker=DockerDriverSettings(allow_project_mixing=False))
    assert share_single_engine(settings) is None
    assert settings.docker.allow_project_mixing is False


def test_several_engines_keep_one_project_per_engine() -> None:
    settings = Settings(docker=DockerDriverSettings(engines=[DockerEngineSettings(), DockerEngineSettings(name="b")]))
    assert share_single_engine(settings) is None
    assert settings.docker.allow_project_mixing is False


def test_node_names_are_dns_labels_unique_per_cluster() -> None:
    name = labels.node_name("My Cluster_01" + "x" * 80, "default-worker", 12)
    assert len(name) <= 63
    assert name.endswith("-default-worker-12")
    assert name == name.lower()
    assert all(c.isalnum() or c == "-" for c in name)
    assert labels.container_name("0123456789abcdef", "n-1") == "jb-01234567-n-1"
