"""Pure rules of clusters and nodegroups: master sizes, labels, bounds, node labels and taints."""

from __future__ import annotations

import pytest

from jeroboam.api.schemas.clusters import as_bay, from_bay, label_differences
from jeroboam.errors import ConflictError, InvalidInputError
from jeroboam.services.cluster_rules import check_master_size, cluster_labels, label_count
from jeroboam.services.nodegroups import check_counts, check_node_labels, check_node_settings, check_node_taints


@pytest.mark.parametrize("size", [1, 3, 5])
def test_odd_master_sizes_pass(size: int) -> None:
    check_master_size(size)


@pytest.mark.parametrize("size", [0, 2, 4])
def test_even_master_sizes_are_refused(size: int) -> None:
    with pytest.raises(InvalidInputError, match=f"master nodegroup size of {size} is invalid"):
        check_master_size(size)


def test_cluster_labels_copy_merge_or_replace() -> None:
    template = {"a": "1", "b": "2"}
    assert cluster_labels(template, None, merge=False) == template
    assert cluster_labels(template, {}, merge=True) == template
    assert cluster_labels(template, {"a": "9", "c": "3"}, merge=True) == {"a": "9", "b": "2", "c": "3"}
    assert cluster_labels(template, {"a": "9"}, merge=False) == {"a": "9"}


def test_label_differences_show_the_parents_values_for_overrides() -> None:
    assert label_differences({"a": "2", "x": "y"}, {"a": "1", "boot_volume_size": "10"}) == {
        "labels_overridden": {"a": "1"},
        "labels_added": {"x": "y"},
        "labels_skipped": {"boot_volume_size": "10"},
    }


def test_label_count() -> None:
    assert label_count({}, "min_node_count") is None
    assert label_count({"min_node_count": " 2 "}, "min_node_count") == 2
    for bad in ("-1", "two"):
        with pytest.raises(InvalidInputError, match="must be a non-negative integer"):
            label_count({"min_node_count": bad}, "min_node_count")


def test_bay_spelling_round_trip() -> None:
    cluster = {"uuid": "u", "cluster_template_id": "t", "create_timeout": 60, "cluster_id": "s", "health_status": None}
    assert as_bay(cluster) == {"uuid": "u", "baymodel_id": "t", "bay_create_timeout": 60, "stack_id": "s"}
    assert from_bay({"baymodel_id": "t", "bay_create_timeout": 5}) == {"cluster_template_id": "t", "create_timeout": 5}


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (
            (2, 3, None),
            "min_node_count for ng is invalid (min_node_count (3) should be less or equal to node_count (2)).",
        ),
        ((4, 0, 3), "max_node_count for ng is invalid (node_count (4) should be less or equal to max_node_count (3))."),
        (
            (1, 2, 1),
            "max_node_count for ng is invalid (min_node_count (2) should be less or equal to max_node_count (1)).",
        ),
    ],
)
def test_bounds(counts: tuple[int, int, int | None], message: str) -> None:
    with pytest.raises(ConflictError) as caught:
        check_counts("ng", *counts)
    assert caught.value.message == message


def test_bounds_that_fit() -> None:
    check_counts("ng", 0, 0, None)
    check_counts("ng", 3, 1, 3)


@pytest.mark.parametrize(
    "key",
    [
        "plain",
        "example.com/x",
        "node.kubernetes.io/pool",
        "a.node.kubernetes.io/x",
        "kubelet.kubernetes.io/x",
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    ],
)
def test_allowed_node_labels(key: str) -> None:
    assert check_node_labels("ng", {key: "v"}) == {key: "v"}


@pytest.mark.parametrize("key", ["kubernetes.io/x", "k8s.io/x", "foo.kubernetes.io/x", "bar.k8s.io/y"])
def test_restricted_node_labels(key: str) -> None:
    with pytest.raises(ConflictError, match="restricted Kubernetes namespace"):
        check_node_labels("ng", {key: "v"})


def test_node_labels_must_map_strings() -> None:
    with pytest.raises(ConflictError):
        check_node_labels("ng", {"a": 1})
    with pytest.raises(ConflictError):
        check_node_labels("ng", ["a"])


def test_taints() -> None:
    assert check_node_taints("ng", [{"key": "k", "value": None, "effect": "NoSchedule"}]) == [
        {"key": "k", "effect": "NoSchedule"}
    ]
    for bad, why in (
        ("x", "must be a list"),
        (["x"], r"node_taints\[0\] must be an object"),
        ([{"key": "", "effect": "NoSchedule"}], r"node_taints\[0\].key must be a non-empty string"),
        ([{"key": "k", "value": 1, "effect": "NoSchedule"}], r"node_taints\[0\].value must be a string"),
        ([{"key": "k"}], r"node_taints\[0\].effect must be one of"),
    ):
        with pytest.raises(ConflictError, match=why):
            check_node_taints("ng", bad)


def test_masters_take_no_node_labels_or_taints() -> None:
    check_node_settings("m", "master", {}, [])
    with pytest.raises(ConflictError, match="not supported on master nodegroups"):
        check_node_settings("m", "master", {}, [{"key": "k", "effect": "NoSchedule"}])
