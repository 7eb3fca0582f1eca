"""The autoscaler's pure rules: switches, bounds, durations, constraints, and its decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jeroboam.domain.autoscaling import (
    Bounds,
    Group,
    History,
    NodeLoad,
    PendingTask,
    Resources,
    Timings,
    Workload,
    bounds_of,
    check_bounds,
    check_labels,
    could_take,
    describe,
    enabled,
    nodes_needed,
    parse_duration,
    plan,
    satisfies,
    timings_of,
)
from jeroboam.errors import InvalidInputError

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TINY = Resources(0.5, 512)
SMALL = Resources(1.0, 1024)
TIMINGS = Timings(unneeded=timedelta(minutes=10), delay_after_add=timedelta(minutes=10), pending_grace=timedelta(0))
LONG_AGO = NOW - timedelta(hours=1)


def group(name: str = "default-worker", count: int = 1, low: int = 1, high: int = 5, **kw: object) -> Group:
    return Group(name, count, Bounds(low, high), kw.pop("capacity", TINY), kw.pop("labels", {}))  # type: ignore[arg-type]


def task(service: str = "web", cpu: float = 0.25, memory: int = 256, *constraints: str, **kw: object) -> PendingTask:
    return PendingTask(service, Resources(cpu, memory), constraints, str(kw.get("reason", "insufficient memory")))


# -- switches, bounds, durations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cluster", "template", "expected"),
    [
        ({"auto_scaling_enabled": "true"}, {}, True),
        ({"auto_scaling_enabled": True}, {}, True),  # Horizon sends JSON booleans
        ({"auto_scaling_enabled": "False"}, {"auto_scaling_enabled": "true"}, False),  # the cluster's wins
        ({}, {"auto_scaling_enabled": "true"}, True),
        ({}, {}, False),
        ({"auto_scaling_enabled": "yes please"}, {}, False),
    ],
)
def test_the_switch_is_the_clusters_label_over_the_templates(
    cluster: dict[str, object], template: dict[str, object], expected: bool
) -> None:
    assert enabled(cluster, template) is expected


def test_bounds_come_from_the_nodegroup_then_the_labels_then_the_size() -> None:
    assert bounds_of(2, 1, 4, {"max_node_count": "9"}) == Bounds(1, 4)
    assert bounds_of(2, 0, None, {"min_node_count": "0", "max_node_count": "9"}) == Bounds(0, 9)
    assert bounds_of(2, 0, None, {}) == Bounds(1, 2)  # no max: never grows; min 1
    assert bounds_of(0, 0, None, {}) == Bounds(0, 0)  # a nodegroup sized to zero may stay there
    assert bounds_of(3, 2, None, {"min_node_count": "0"}) == Bounds(2, 3)  # the nodegroup's min wins


def test_unreadable_count_labels_are_a_400_naming_the_label() -> None:
    with pytest.raises(InvalidInputError, match="Label max_node_count must be a non-negative integer"):
        bounds_of(1, 0, None, {"max_node_count": "many"})
    with pytest.raises(InvalidInputError, match="min_node_count"):
        check_labels({"min_node_count": "-1"})


@pytest.mark.parametrize(
    ("node_count", "low", "high", "message"),
    [
        (2, 3, 1, r"max_node_count \(1\) of ng should be greater or equal to min_node_count \(3\)"),
        (0, 1, 3, r"node_count \(0\) of ng should be at least min_node_count \(1\)"),
        (4, 1, 3, r"node_count \(4\) of ng should be at most max_node_count \(3\)"),
    ],
)
def test_check_bounds_refuses_what_cannot_hold(node_count: int, low: int, high: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_bounds("ng", node_count, low, high)


def test_check_bounds_accepts_a_size_within_bounds_and_absent_bounds() -> None:
    check_bounds("ng", 2, 1, 3)
    check_bounds("ng", 7, None, None)
    check_bounds("ng", 0, 0, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10m", timedelta(minutes=10)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2m30s", timedelta(minutes=2, seconds=30)),
        ("5", timedelta(minutes=5)),  # a bare number is minutes
        ("0.5", timedelta(seconds=30)),
        (3, timedelta(minutes=3)),
    ],
)
def test_durations(raw: object, expected: timedelta) -> None:
    assert parse_duration("scale_down_unneeded_time", raw) == expected


@pytest.mark.parametrize("raw", ["", "soon", "10x", "-1", "m", "inf", "nan"])
def test_unreadable_durations_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInputError, match="scale_down_unneeded_time"):
        check_labels({"scale_down_unneeded_time": raw})


def test_timing_labels_override_the_defaults_and_bad_ones_keep_them() -> None:
    timings = timings_of({"scale_down_unneeded_time": "30s", "scale_down_delay_after_add": "bad"}, TIMINGS)
    assert timings.unneeded == timedelta(seconds=30)
    assert timings.delay_after_add == TIMINGS.delay_after_add


# -- constraints and fit ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("node.labels.disk==ssd", True),
        ("node.labels.disk == ssd", True),
        ("node.labels.disk==hdd", False),
        ("node.labels.disk!=hdd", True),
        ("node.labels.gpu==yes", False),
        ("node.labels.gpu!=yes", True),
        ("node.role==worker", True),
        ("node.role==manager", False),
        ("node.role!=manager", True),
        ("node.platform.os==linux", True),
        ("node.platform.os==windows", False),
        ("node.platform.arch==x86_64", True),
        ("node.hostname==node-3", False),
        ("node.hostname!=node-3", True),
        ("node.id==abc", False),
        ("engine.labels.zone==a", False),
        ("engine.labels.zone!=a", True),
        ("node.unknown==x", False),
        ("gibberish", False),
    ],
)
def test_a_new_node_satisfies_what_its_labels_and_role_say(constraint: str, expected: bool) -> None:
    assert satisfies(constraint, group(labels={"disk": "ssd"})) is expected


def test_a_task_fits_a_new_node_by_cpu_memory_and_constraints() -> None:
    assert could_take(group(), task(cpu=0.5, memory=512))
    assert not could_take(group(), task(cpu=0.6, memory=100))
    assert not could_take(group(), task(cpu=0.1, memory=513))
    assert not could_take(group(), task("web", 0.1, 10, "node.labels.gpu==yes"))
    assert not could_take(group(capacity=None), task(cpu=0, memory=0))


def test_nodes_needed_packs_first_fit_largest_first() -> None:
    assert nodes_needed([task(memory=256)] * 3, TINY) == 2
    assert nodes_needed([task(cpu=0.25, memory=300), task(cpu=0.25, memory=200)] * 2, TINY) == 2
    assert nodes_needed([task(cpu=0, memory=0)] * 50, TINY) == 1  # nothing reserved: one node takes them
    assert nodes_needed([task(cpu=0.5, memory=10)] * 3, TINY) == 3  # CPU-bound
    assert nodes_needed([], TINY) == 0


def test_describe_counts_tasks_per_service() -> None:
    assert describe([task()] * 3) == "3 tasks of service web pending (insufficient memory)"
    assert describe([task()]) == "1 task of service web pending (insufficient memory)"
    mixed = [task()] * 2 + [task("db", reason="insufficient resources")]
    assert describe(mixed) == (
        "2 tasks of service web pending (insufficient memory), 1 of service db pending (insufficient resources)"
    )


# -- scale up ---------------------------------------------------------------------------------------


def test_pending_work_grows_the_nodegroup_by_what_it_needs() -> None:
    result = plan([group(count=1, high=5)], Workload(pending=(task(),) * 3), History(), TIMINGS, NOW)
    assert result.decision is not None
    assert (result.decision.nodegroup, result.decision.from_count, result.decision.to_count) == ("default-worker", 1, 3)
    assert result.decision.grows
    assert result.decision.reason == (
        "autoscaler: 3 tasks of service web pending (insufficient memory); default-worker 1 → 3"
    )
    assert result.note is None


def test_growth_stops_at_max_and_says_so() -> None:
    result = plan([group(count=1, high=2)], Workload(pending=(task(memory=400),) * 3), History(), TIMINGS, NOW)
    assert result.decision is not None
    assert result.decision.to_count == 2
    assert "needs 3 more nodes; limited by max_node_count 2" in result.decision.reason


def test_a_nodegroup_at_max_does_not_grow_and_the_note_says_why() -> None:
    result = plan([group(count=2, high=2)], Workload(pending=(task(),)), History(), TIMINGS, NOW)
    assert result.decision is None
    assert (
        result.note
        == "1 task of service web pending (insufficient memory): nodegroup default-worker at its max_node_count"
    )


def test_growth_never_passes_the_project_quota() -> None:
    result = plan([group(count=1, high=9)], Workload(pending=(task(memory=400),) * 4), History(), TIMINGS, NOW, room=2)
    assert result.decision is not None
    assert result.decision.to_count == 3
    assert "limited by the project's node quota leaves room for 2 more nodes" in result.decision.reason
    none_left = plan([group(count=1, high=9)], Workload(pending=(task(),)), History(), TIMINGS, NOW, room=0)
    assert none_left.decision is None
    assert none_left.note is not None
    assert "quota leaves room for 0 more nodes" in none_left.note


def test_work_no_node_could_ever_take_is_no_reason_to_grow() -> None:
    huge = task("big", cpu=4, memory=100, reason="insufficient resources")
    result = plan([group(count=1, high=5)], Workload(pending=(huge,)), History(), TIMINGS, NOW)
    assert result.decision is None
    assert result.note == (
        "1 task of service big pending (insufficient resources): "
        "no node of any autoscaled nodegroup could ever take them"
    )
    pinned = task("pinned", 0.1, 10, "node.hostname==gone")
    assert plan([group()], Workload(pending=(pinned,)), History(), TIMINGS, NOW).decision is None


def test_the_nodegroup_that_takes_the_most_work_grows() -> None:
    groups = [group("small-ssd", labels={"disk": "hdd"}), group("gpu", labels={"gpu": "yes"})]
    pending = (task("train", 0.1, 10, "node.labels.gpu==yes"),) * 2 + (task("web", 0.1, 10),)
    result = plan(groups, Workload(pending=pending), History(), TIMINGS, NOW)
    assert result.decision is not None
    assert result.decision.nodegroup == "gpu"


def test_a_bigger_flavor_takes_what_a_smaller_cannot() -> None:
    groups = [group("tiny", capacity=TINY), group("small", capacity=SMALL)]
    result = plan(groups, Workload(pending=(task(cpu=1, memory=800),)), History(), TIMINGS, NOW)
    assert result.decision is not None
    assert result.decision.nodegroup == "small"


def test_work_pending_for_less_than_the_grace_or_right_after_a_change_waits() -> None:
    timings = Timings(timedelta(minutes=10), timedelta(minutes=10), pending_grace=timedelta(seconds=30))
    fresh = PendingTask("web", Resources(0.1, 10), since=NOW - timedelta(seconds=5))
    old = PendingTask("web", Resources(0.1, 10), since=NOW - timedelta(seconds=60))
    assert plan([group()], Workload(pending=(fresh,)), History(), timings, NOW).decision is None
    assert plan([group()], Workload(pending=(old,)), History(), timings, NOW).decision is not None
    just_changed = History(last_change=NOW - timedelta(seconds=10))
    assert plan([group()], Workload(pending=(old,)), just_changed, timings, NOW).decision is None


# -- scale down -------------------------------------------------------------------------------------


def idle_nodes(*names: str, group_name: str = "default-worker", **kw: object) -> tuple[NodeLoad, ...]:
    return tuple(NodeLoad(n, group_name, 0, protected=bool(kw.get("protected"))) for n in names)


def test_a_node_idle_for_the_unneeded_time_is_removed() -> None:
    nodes = (*idle_nodes("w-0", "w-1"), NodeLoad("w-2", "default-worker", 2))
    history = History(idle_since={"w-1": NOW - timedelta(minutes=11), "w-0": NOW - timedelta(minutes=3)})
    result = plan([group(count=3, low=1)], Workload(nodes=nodes), history, TIMINGS, NOW)
    assert result.decision is not None
    assert result.decision.nodes_to_remove == ("w-1",)
    assert result.decision.to_count == 2
    assert result.decision.reason == "autoscaler: node w-1 idle for 11 min (no task running); default-worker 3 → 2"
    assert result.idle_since == {"w-0": NOW - timedelta(minutes=3), "w-1": NOW - timedelta(minutes=11)}


def test_idle_time_starts_when_first_seen_idle_and_ends_when_busy() -> None:
    nodes = (*idle_nodes("w-0"), NodeLoad("w-1", "default-worker", 1))
    result = plan([group(count=2)], Workload(nodes=nodes), History(idle_since={"w-1": LONG_AGO}), TIMINGS, NOW)
    assert result.idle_since == {"w-0": NOW}
    assert result.decision is None


def test_never_below_min_and_the_longest_idle_go_first() -> None:
    nodes = idle_nodes("a", "b", "c")
    history = History(idle_since={"a": LONG_AGO, "b": NOW - timedelta(minutes=30), "c": NOW - timedelta(minutes=20)})
    result = plan([group(count=3, low=1)], Workload(nodes=nodes), history, TIMINGS, NOW)
    assert result.decision is not None
    assert result.decision.nodes_to_remove == ("a", "b")
    assert result.decision.to_count == 1
    at_min = plan([group(count=1, low=1)], Workload(nodes=idle_nodes("a")), history, TIMINGS, NOW)
    assert at_min.decision is None


def test_scale_to_zero_when_min_is_zero() -> None:
    history = History(idle_since={"a": LONG_AGO})
    result = plan([group(count=1, low=0)], Workload(nodes=idle_nodes("a")), history, TIMINGS, NOW)
    assert result.decision is not None
    assert result.decision.to_count == 0


def test_a_protected_node_is_never_removed() -> None:
    nodes = idle_nodes("keep", protected=True) + idle_nodes("go")
    history = History(idle_since={"keep": LONG_AGO, "go": LONG_AGO - timedelta(minutes=1)})
    result = plan([group(count=3, low=0)], Workload(nodes=nodes), history, TIMINGS, NOW)
    assert result.decision is not None
    assert result.decision.nodes_to_remove == ("go",)
    only_protected = plan([group(count=2, low=0)], Workload(nodes=idle_nodes("keep", protected=True)), history,
                          TIMINGS, NOW)  # fmt: skip
    assert only_protected.decision is None


def test_no_scale_down_soon_after_a_change() -> None:
    history = History(idle_since={"a": LONG_AGO}, last_change=NOW - timedelta(minutes=5))
    assert plan([group(count=2)], Workload(nodes=idle_nodes("a")), history, TIMINGS, NOW).decision is None


def test_unready_nodes_and_nodes_of_other_nodegroups_are_not_idle() -> None:
    nodes = (NodeLoad("sick", "default-worker", 0, ready=False), *idle_nodes("m", group_name="default-master"))
    result = plan([group(count=2)], Workload(nodes=nodes), History(idle_since={"sick": LONG_AGO}), TIMINGS, NOW)
    assert result.idle_since == {}
    assert result.decision is None


def test_pending_work_that_could_be_placed_keeps_idle_nodes() -> None:
    history = History(idle_since={"a": LONG_AGO})
    result = plan([group(count=2, high=2)], Workload(pending=(task(),), nodes=idle_nodes("a")), history, TIMINGS, NOW)
    assert result.decision is None
    hopeless = task("big", cpu=8, memory=1)
    shrinks = plan([group(count=2, high=2)], Workload(pending=(hopeless,), nodes=idle_nodes("a")), history,
                   TIMINGS, NOW)  # fmt: skip
    assert shrinks.decision is not None
    assert shrinks.decision.nodes_to_remove == ("a",)
    assert shrinks.note is not None
    assert "could ever take them" in shrinks.note


def test_nothing_to_do() -> None:
    result = plan([group()], Workload(nodes=(NodeLoad("a", "default-worker", 3),)), History(), TIMINGS, NOW)
    assert result == type(result)(None, None, {})
